// The CGE method (methods/cge) end to end on the Markov-language world, quick preset. The decoding
// itself is tested against full-forward references in contrastive.test.ts; here the world, the
// metrics and the claims: static CGE generates novel-domain text far more often than sampling from
// θ_ft, iterative CGE covers more novel domains than static CGE while staying mostly novel, and the
// sequence contrast detects novel held-out examples better than θ_ft's NLL. Margins are about half
// the gaps of a first quick run (methods/cge/README.md).
import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../engine/index.js';
import { QUICK } from '../methods/cge/config.js';
import { writeArtifacts } from '../methods/cge/plots.js';
import { coverageAt, precisionAt, run, type Report } from '../methods/cge/run.js';
import { BOS, MarkovWorld } from '../methods/cge/world.js';
import { SeededRng } from '../nn/index.js';
import { gpuEngine } from './helpers/gpu.js';

const WORLD = { domains: 6, tokensPerDomain: 8, successors: 3, starts: 2, seqLen: 16 };

describe('method cge', function () {
  this.timeout(400_000);
  let engine: Engine;
  let report: Report;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('world: deterministic, domain-pure valid samples; the oracle classifier and validity check', function () {
    const a = new MarkovWorld(WORLD, 3), b = new MarkovWorld(WORLD, 3);
    const sa = a.dataset(50, [0, 0, 0.5, 0, 0, 0.5], new SeededRng(1)), sb = b.dataset(50, [0, 0, 0.5, 0, 0, 0.5], new SeededRng(1));
    expect(sa).to.deep.equal(sb);
    expect(a.vocabSize).to.equal(49);
    sa.seqs.forEach((s, i) => {
      expect(s).to.have.length(17);
      expect(s[0]).to.equal(BOS);
      expect([2, 5]).to.include(sa.domains[i]);
      expect(a.classify(s)).to.equal(sa.domains[i]);
      expect(a.isValid(s), `sample ${i} is valid`).to.equal(true);
      for (const t of s.slice(1)) expect(a.domainOf(t)).to.equal(sa.domains[i]);
    });
    const s = sa.seqs[0];
    // A token from another alphabet breaks validity but a majority still classifies.
    const other = s[1] <= 8 ? 9 : 1;
    expect(a.isValid([...s.slice(0, 5), other, ...s.slice(6)])).to.equal(false);
    expect(a.classify([...s.slice(0, 5), other, ...s.slice(6)])).to.equal(sa.domains[0]);
  });

  it('loss levels: closed form log(D)/L for a deterministic world; optimum below unigram', function () {
    const det = new MarkovWorld({ ...WORLD, successors: 1, starts: 1 }, 0);
    const w = Array(6).fill(1 / 6);
    const l = det.lossLevels(w);
    expect(l.optimal).to.be.closeTo(Math.log(6) / 16, 1e-12);
    const full = new MarkovWorld(WORLD, 0).lossLevels(w);
    expect(full.optimal).to.be.below(full.unigram);
    expect(full.unigram).to.be.at.most(Math.log(48) + 1e-12);
  });

  it('precision@k and coverage@k', function () {
    const novel = new Set([3, 4, 5]);
    expect(precisionAt([3, 0, 4, 4, 1], 4, novel)).to.equal(0.75);
    expect(precisionAt([3, 0], 10, novel), 'fewer than k: share of all').to.equal(0.5);
    expect(coverageAt([3, 0, 4, 4, 5], 4, novel)).to.equal(2);
    expect(coverageAt([0, 1, 2], 3, novel)).to.equal(0);
  });

  it('quick run: CGE generates novel domains; iterative covers more of them; the contrast detects them', async function () {
    report = await run(engine, QUICK, { log: process.env.CGE_LOG ? (s) => console.log(s) : undefined });
    const { precision: p, coverage: c, auroc: a } = report;
    const msg = JSON.stringify({ precision: p, coverage: c, auroc: a, iterative: report.iterativeDomains.map((d) => d.join('')) });
    console.log(`      cge quick run: ${msg}`);
    // The fine-tune learnt its mixture: held-out loss far below the unigram level.
    report.losses.finetune.heldoutMixture.perSeed.forEach((v, s) => expect(v, msg).to.be.below(report.losses.finetune.unigram[s] - 1.5));
    expect(p.cgeStatic10.mean, msg).to.be.at.least(0.9);
    expect(p.cgeStatic10.mean, msg).to.be.at.least(p.ftSample30.mean + STATIC_VS_SAMPLE);
    expect(c.cgeIterative30.mean, msg).to.be.at.least(c.cgeStatic30.mean + COVERAGE_GAIN);
    c.cgeIterative30.perSeed.forEach((v) => expect(v, msg).to.be.at.least(2));
    expect(p.cgeIterative30.mean, msg).to.be.at.least(p.ftSample30.mean + ITERATIVE_VS_SAMPLE);
    expect(a.cge.mean, msg).to.be.at.least(0.95);
    // At quick training θ_ft's NLL is nearly as good (0.997 vs 1.000 in the first run): only "not worse" is asserted here.
    expect(a.cge.mean, msg).to.be.at.least(a.ftNll.mean);
  });

  it('writes report.json with the issue fields and the plots', async function () {
    if (!report) this.skip();
    const dir = await mkdtemp(join(tmpdir(), 'kiln-cge-'));
    try {
      await writeArtifacts(report, dir);
      const files = (await readdir(dir)).sort();
      for (const f of ['report.json', 'precision.png', 'coverage.svg', 'examples-per-domain.png', 'losses.png']) expect(files).to.include(f);
      const back = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as Report;
      for (const k of ['cgeStatic10', 'cgeIterative30', 'ftSample30'] as const) expect(back.precision[k].perSeed).to.have.length(QUICK.seeds!.length);
      for (const k of ['cgeStatic30', 'cgeIterative30'] as const) expect(back.coverage[k].perSeed).to.have.length(QUICK.seeds!.length);
      expect(Object.keys(back.auroc)).to.deep.equal(['cge', 'ftNll']);
      expect(back.examplesPerDomain.cgeIterative.reduce((x, y) => x + y, 0)).to.equal(30 * QUICK.seeds!.length);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// Set from the first quick run's gaps (README): static@10 1.00 vs θ_ft sample@30 0.13, coverage@30 2.5 vs 1,
// iterative precision@30 0.80 vs 0.13: about half of each.
const STATIC_VS_SAMPLE = 0.45;
const COVERAGE_GAIN = 0.75;
const ITERATIVE_VS_SAMPLE = 0.35;
