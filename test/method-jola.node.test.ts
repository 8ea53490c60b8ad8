// The JoLA method (methods/jola) end to end. Pretraining and the base-model cache run on a toy-sized
// configuration (a few steps, a fresh temporary cache); the claims run on the quick preset, which
// adapts the shipped base model (methods/jola/base/, the default configuration's cached checkpoint):
// zero-shot vs JoLA on "untagged means REVERSE" at N = 32 under the train/test input shift. Asserted:
// JoLA beats zero-shot by a wide margin on every seed, at most half of the additive gates stay open
// with λ > 0, and JoLA trains under 1 % of the parameters. Thresholds are about half the gaps observed
// (see methods/jola/README.md).
import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../engine/index.js';
import { QUICK, type JolaConfig } from '../methods/jola/config.js';
import { writeArtifacts } from '../methods/jola/plots.js';
import { baseCacheDir, run, type Report } from '../methods/jola/run.js';
import { nodeIO } from '../nn/node/index.js';
import { packBatch, solve, exactMatches, IGNORE, SEP } from '../methods/jola/tasks.js';
import { gpuEngine } from './helpers/gpu.js';

describe('method jola', function () {
  this.timeout(240_000);
  let engine: Engine;
  let report: Report;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('tasks: the five maps, response-only targets, exact match = every response token right', function () {
    const x = [3, 15, 0, 7];
    expect(solve('copy', x)).to.deep.equal([3, 15, 0, 7]);
    expect(solve('reverse', x)).to.deep.equal([7, 0, 15, 3]);
    expect(solve('sort', x)).to.deep.equal([0, 3, 7, 15]);
    expect(solve('inc', x)).to.deep.equal([4, 0, 1, 8]);
    expect(solve('rotl', x)).to.deep.equal([15, 0, 7, 3]);
    const b = packBatch([{ x, task: 'reverse', tag: null }], 12);
    const sep = Array.from(b.inputs).indexOf(SEP);
    // Targets: nothing before SEP; from SEP on, y then EOS; then padding.
    expect(Array.from(b.targets.slice(0, sep)).every((t) => t === IGNORE)).to.equal(true);
    expect(Array.from(b.targets.slice(sep, sep + 4))).to.deep.equal([7, 0, 15, 3]);
    const pred = Int32Array.from(b.targets, (t) => (t === IGNORE ? 0 : t));
    expect(exactMatches(pred, b.targets, 1, 12).exact).to.equal(1);
    pred[sep + 2] = 1;
    expect(exactMatches(pred, b.targets, 1, 12)).to.deep.equal({ exact: 0, tokens: 5, correctTokens: 4 });
  });

  it('pretrains a base model, caches it as a safetensors checkpoint and loads it back', async function () {
    const cacheDir = await mkdtemp(join(tmpdir(), 'kiln-jola-cache-'));
    try {
      const tiny: Partial<JolaConfig> = {
        cacheDir, methods: ['zeroShot'], seeds: [0], ns: [8],
        model: { dModel: 16, nLayers: 1, nHeads: 2, dFF: 32 },
        pretrain: { batchSize: 8, maxSteps: 6, lr: 3e-3, warmupSteps: 2, weightDecay: 0, untagged: 0.1, targetAccuracy: 0.95, evalEvery: 3, evalPerTask: 4, seed: 0 },
        downstream: { trainSymbols: 8, trainLen: [3, 4], testLen: [3, 6], nDev: 4, nTest: 8 },
      };
      const live0 = engine.memory().liveBuffers;
      const first = await run(engine, tiny, { checkpointIO: nodeIO });
      expect(engine.memory().liveBuffers, 'a run frees every buffer it made').to.equal(live0);
      expect(first.base).to.include({ cached: false, steps: 6 });
      const dir = baseCacheDir(tiny);
      const step = (await readFile(join(dir, 'latest'), 'utf8')).trim();
      expect(await readdir(join(dir, step))).to.include.members(['model.safetensors', 'state.json']);
      const second = await run(engine, tiny, { checkpointIO: nodeIO });
      expect(second.base).to.include({ cached: true, steps: 6 });
      expect(second.accuracy.zeroShot).to.deep.equal(first.accuracy.zeroShot);
      expect(second.base.accuracy).to.deep.equal(first.base.accuracy);
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });

  it('quick run: JoLA ≫ zero-shot at N = 32 on every seed, sparse additive gates with λ > 0, < 1 % trainable', async function () {
    expect(await nodeIO.exists(baseCacheDir(QUICK)), `the shipped base model ${baseCacheDir(QUICK)} (pretraining it again takes ~9 minutes)`).to.equal(true);
    report = await run(engine, { ...QUICK, methods: ['zeroShot', 'jola'] }, { checkpointIO: nodeIO, log: process.env.JOLA_LOG ? (s) => console.log(s) : undefined });
    expect(report.base.cached).to.equal(true);
    const zero = report.accuracy.zeroShot!['32'], jola = report.accuracy.jola!['32'];
    const msg = `exact match: zero-shot ${zero.perSeed.map((v) => v.toFixed(3))}, JoLA ${jola.perSeed.map((v) => v.toFixed(3))}; open additive gates ${report.openGates['32'].additive.perSeed}`;
    jola.perSeed.forEach((a, s) => expect(a - zero.perSeed[s], msg).to.be.at.least(MARGIN));
    expect(report.config.jola.lambda).to.be.greaterThan(0);
    report.openGates['32'].additive.perSeed.forEach((f) => expect(f, msg).to.be.at.most(0.5));
    expect(report.trainableParams.jola! / report.baseParams).to.be.below(0.01);
    // L·H·(2·Dh + 2) of the quick model.
    const { nLayers, nHeads, dModel } = report.config.model;
    expect(report.trainableParams.jola).to.equal(nLayers * nHeads * (2 * (dModel / nHeads) + 2));
    expect(report.trainableParams.zeroShot).to.equal(0);
  });

  it('writes report.json and the plots', async function () {
    if (!report) this.skip();
    const dir = await mkdtemp(join(tmpdir(), 'kiln-jola-'));
    try {
      await writeArtifacts(report, dir);
      const files = (await readdir(dir)).sort();
      for (const f of ['report.json', 'accuracy.svg', 'accuracy.png', 'gates.svg', 'gates.png']) expect(files).to.include(f);
      expect(files.some((f) => f.startsWith('.tmp-'))).to.equal(false);
      const back = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as Report;
      for (const k of ['config', 'accuracy', 'trainableParams', 'openGates']) expect(back).to.have.property(k);
      expect(back.accuracy.jola!['32'].perSeed).to.have.length(QUICK.seeds!.length);
      expect(back.gateMaps['32'].openProb.additive).to.have.length(report.config.model.nLayers);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// About half the smallest per-seed gap observed in the quick run (README: 53.0 and 45.5 points, test
// lengths 3–4 and the raised step caps since issue 21; before, 19.0 and 23.0 at lengths 3–6 with margin 0.1).
const MARGIN = 0.2;
