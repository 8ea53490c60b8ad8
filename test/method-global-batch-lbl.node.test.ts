// The global-batch LBL method (methods/global-batch-lbl) end to end on the synthetic Markov-domain
// corpus, quick preset. The LBL identities themselves are tested in moe.test.ts; here the claims:
// global-batch balancing specialises experts by domain far more than micro-batch balancing, keeps the
// global load balanced, the shuffle ablation behaves like global, and held-out loss is not worse.
// Thresholds are about half the gaps observed in one run (see methods/global-batch-lbl/README.md).
import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../engine/index.js';
import { QUICK } from '../methods/global-batch-lbl/config.js';
import { MarkovDomains } from '../methods/global-batch-lbl/markov.js';
import { writeArtifacts } from '../methods/global-batch-lbl/plots.js';
import { mutualInformation, run, type Report } from '../methods/global-batch-lbl/run.js';
import { SeededRng } from '../nn/index.js';
import { gpuEngine } from './helpers/gpu.js';

describe('method global-batch-lbl', function () {
  this.timeout(180_000);
  let engine: Engine;
  let report: Report;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('generates domain-pure Markov sequences deterministically, with ~30% shared tokens', function () {
    const a = new MarkovDomains({ seed: 3 }), b = new MarkovDomains({ seed: 3 });
    const sa = a.batch(1, 4, 64, new SeededRng(7)), sb = b.batch(1, 4, 64, new SeededRng(7));
    expect(Array.from(sa.inputs)).to.deep.equal(Array.from(sb.inputs));
    let shared = 0;
    for (const id of sa.inputs) {
      if (a.isShared(id)) shared++;
      else expect(Math.floor(id / 24)).to.equal(1); // core tokens of domain 1 only
    }
    expect(shared / sa.inputs.length).to.be.within(0.1, 0.6);
  });

  it('mutual information: 0 for identical rows, ln D for disjoint experts', function () {
    expect(mutualInformation([[1, 1], [1, 1]], [2, 2])).to.be.closeTo(0, 1e-12);
    expect(mutualInformation([[2, 0], [0, 2]], [1, 1])).to.be.closeTo(Math.log(2), 1e-12);
  });

  it('quick run: global specialises experts by domain, stays balanced; shuffle ≈ global; loss not worse', async function () {
    report = await run(engine, { ...QUICK, arms: ['micro', 'global', 'shuffle'] }, { log: process.env.LBL_LOG ? (s) => console.log(s) : undefined });
    const { micro, global, shuffle } = report.arms as Required<Report['arms']>;
    const line = (k: 'mi' | 'imbalance' | 'heldoutLoss') => `${k}: micro ${micro[k].perSeed.map((v) => v.toFixed(3))}, global ${global[k].perSeed.map((v) => v.toFixed(3))}, shuffle ${shuffle[k].perSeed.map((v) => v.toFixed(3))}`;
    const msg = [line('mi'), line('imbalance'), line('heldoutLoss')].join('; ');
    global.mi.perSeed.forEach((g, s) => expect(g - micro.mi.perSeed[s], msg).to.be.greaterThan(MI_MARGIN));
    expect(global.imbalance.mean, msg).to.be.at.most(1.5);
    expect(shuffle.mi.mean, msg).to.be.at.least(0.6 * global.mi.mean);
    expect(global.heldoutLoss.mean, msg).to.be.at.most(micro.heldoutLoss.mean + LOSS_TOLERANCE);
    // Routing matrices: per layer, domain rows that sum to K.
    for (const arm of [micro, global, shuffle]) for (const m of arm.routing.mean) for (const row of m) expect(row.reduce((a, v) => a + v, 0)).to.be.closeTo(2, 1e-4);
  });

  it('balance sweep: a group of one micro-batch is exactly the micro arm, a larger group specialises more', async function () {
    const r = await run(engine, { ...QUICK, seeds: [0], steps: 8, heldoutSeqsPerDomain: 8, arms: ['micro'], balanceSweep: [1, 4] });
    const [one, all] = r.balanceSweep!;
    expect(one.heldoutLoss.mean, 'group 1 = micro (same losses, same f per micro-batch)').to.equal(r.arms.micro!.heldoutLoss.mean);
    expect(one.mi.mean).to.equal(r.arms.micro!.mi.mean);
    expect(all.sequences).to.equal(4 * QUICK.microBatchesPerDomain! * 2);
    expect(all.mi.mean, 'pooling f over the whole step specialises more than one micro-batch').to.be.greaterThan(one.mi.mean);
  });

  it('writes report.json and the plots', async function () {
    if (!report) this.skip();
    const dir = await mkdtemp(join(tmpdir(), 'kiln-lbl-'));
    try {
      await writeArtifacts(report, dir);
      const files = (await readdir(dir)).sort();
      for (const f of ['report.json', 'routing-layer1.svg', 'routing-layer1.png', 'heldout-loss.png', 'mi.svg']) expect(files).to.include(f);
      expect(files.some((f) => f.startsWith('.tmp-'))).to.equal(false);
      const back = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as Report;
      expect(Object.keys(back.arms)).to.deep.equal(['micro', 'global', 'shuffle']);
      expect(back.arms.global!.mi.perSeed).to.have.length(QUICK.seeds!.length);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// Set from the observed quick-run gaps (README): about half of the smallest per-seed gap.
const MI_MARGIN = 0.4;
const LOSS_TOLERANCE = 0.005;
