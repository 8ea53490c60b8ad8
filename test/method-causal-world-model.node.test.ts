// The causal-world-model method (methods/causal-world-model). Unit checks of the spec: the GridWorld
// step on hand-written cases (a red light stops its car, the obstacle blocks, cars wrap around, blocked
// obstacle moves are no-ops), describe/parse round trips, the renderer, the paraphrase grammar and its
// held-out words, the R² assignment on synthetic latents, and the logit regulariser adding gradient
// but no value; then the quick run (one seed) asserting the claims that held in a first run, with
// margins at about half the gaps observed (methods/causal-world-model/README.md).
import { expect } from 'chai';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../engine/index.js';
import { QUICK } from '../methods/causal-world-model/config.js';
import { CausalWorldModel, cwmLoss } from '../methods/causal-world-model/cwm.js';
import { assignLatents, r2Diagonal, r2Matrix } from '../methods/causal-world-model/mapper.js';
import { writeArtifacts } from '../methods/causal-world-model/plots.js';
import { run, type Report } from '../methods/causal-world-model/run.js';
import { ACTION_LEN, HELDOUT_ADJECTIVES, HELDOUT_ADVERBS, UNK, encodeAction, paraphrase } from '../methods/causal-world-model/text.js';
import {
  ACTIONS, CELL, IMAGE_SIZE, IMAGE_W, describe as describeState, goalFraction, meetsGoal, parse, randomState, render, step, type State,
} from '../methods/causal-world-model/world.js';
import { SeededRng } from '../nn/index.js';
import { gpuEngine } from './helpers/gpu.js';

const toggle = (light: number) => ACTIONS[light];
const move = (dir: 'left' | 'right' | 'up' | 'down') => ACTIONS[3 + ['left', 'right', 'up', 'down'].indexOf(dir)];
const NONE = ACTIONS[7];

describe('method causal-world-model', function () {
  this.timeout(600_000);
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('GridWorld step: green cars move (up, up, down), a red light stops its car, the obstacle blocks, cars wrap', function () {
    // [l1, l2, l3, ox, oy, c1y, c2y, c3y]; cars in columns 0, 2, 4.
    const s: State = [1, 1, 1, 5, 5, 3, 3, 3];
    expect(step(s, NONE)).to.deep.equal([1, 1, 1, 5, 5, 2, 2, 4]);
    expect(step([0, 1, 1, 5, 5, 3, 3, 3], NONE)).to.deep.equal([0, 1, 1, 5, 5, 3, 2, 4]); // car 1 waits at red
    expect(step([1, 1, 1, 2, 2, 3, 3, 3], NONE)).to.deep.equal([1, 1, 1, 2, 2, 2, 3, 4]); // the obstacle at (2, 2) blocks car 2
    expect(step([1, 1, 1, 5, 5, 0, 1, 5], NONE)).to.deep.equal([1, 1, 1, 5, 5, 5, 0, 0]); // wrap-around at both borders
    // The action comes first: toggling car 3's light to red stops it in the same step.
    expect(step(s, toggle(2))).to.deep.equal([1, 1, 0, 5, 5, 2, 2, 3]);
    // Obstacle moves: into a free cell; blocked by the border or a car (a no-op).
    expect(step([0, 0, 0, 1, 1, 3, 3, 3], move('up'))).to.deep.equal([0, 0, 0, 1, 0, 3, 3, 3]);
    expect(step([0, 0, 0, 5, 0, 3, 3, 3], move('right'))).to.deep.equal([0, 0, 0, 5, 0, 3, 3, 3]);
    expect(step([0, 0, 0, 1, 3, 3, 3, 3], move('left'))).to.deep.equal([0, 0, 0, 1, 3, 3, 3, 3]); // car 1 at (0, 3)
    expect(() => step([1, 2], NONE)).to.throw(RangeError, /GridWorld step: a state has 8 variables, got 2/);
    // Random states never put the obstacle on a car.
    const rng = new SeededRng(0);
    for (let i = 0; i < 200; i++) {
      const r = randomState(rng);
      expect([0, 2, 4].some((x, k) => r[3] === x && r[4] === r[5 + k])).to.equal(false);
    }
  });

  it('describe(parse(s)) === s and parse(describe(x)) = x; goals ignore the obstacle', function () {
    const rng = new SeededRng(1);
    for (let i = 0; i < 100; i++) {
      const x = randomState(rng);
      const s = describeState(x);
      expect(describeState(parse(s))).to.equal(s);
      expect(parse(s)).to.deep.equal(x);
    }
    expect(describeState([1, 0, 1, 3, 4, 2, 5, 0])).to.equal('L1=G L2=R L3=G O=3,4 C1=2 C2=5 C3=0');
    expect(() => parse('L1=G L2=R')).to.throw(RangeError, /GridWorld parse: not a state description/);
    const goal: State = [1, 0, 1, 3, 4, 2, 5, 0];
    expect(meetsGoal([1, 0, 1, 0, 0, 2, 5, 0], goal)).to.equal(true);
    expect(goalFraction([0, 0, 1, 3, 4, 2, 5, 1], goal)).to.be.closeTo(4 / 6, 1e-12);
  });

  it('render: lights red/green in the top strip, car and obstacle colours at their cells, the obstacle ticks, noise only when asked', function () {
    const img = new Float32Array(IMAGE_SIZE);
    render([1, 0, 1, 3, 4, 2, 5, 0], img);
    const px = (x: number, y: number) => Array.from(img.subarray((y * CELL * IMAGE_W + x * CELL) * 3, (y * CELL * IMAGE_W + x * CELL) * 3 + 3));
    expect(px(0, 0)).to.deep.equal([0, Math.fround(0.8), 0]); // light 1 green
    expect(px(2, 0)).to.deep.equal([1, 0, 0]); // light 2 red
    const orange = [1, Math.fround(0.55), 0];
    expect(px(3, 1 + 4)).to.deep.equal(orange); // the obstacle at (3, 4)
    expect(px(3, 7)).to.deep.equal(orange); // its column tick in the bottom row
    expect(px(6, 1 + 4)).to.deep.equal(orange); // its row tick in the right-hand column
    expect(px(6, 1 + 3)).to.deep.equal([0, 0, 0]);
    expect(px(0, 1 + 2)).to.deep.equal([Math.fround(0.2), Math.fround(0.4), 1]); // car 1 at row 2
    expect(px(1, 1)).to.deep.equal([0, 0, 0]);
    const noisy = new Float32Array(IMAGE_SIZE);
    render([1, 0, 1, 3, 4, 2, 5, 0], noisy, 0, 0.02, new SeededRng(2));
    const diff = noisy.map((v, i) => v - img[i]);
    const sd = Math.sqrt(diff.reduce((a, v) => a + v * v, 0) / diff.length);
    expect(sd).to.be.within(0.017, 0.023);
  });

  it('paraphrases: training ones tokenise without <unk>; held-out ones carry the held-out words, which become <unk>', function () {
    const rng = new SeededRng(3);
    for (let i = 0; i < 200; i++) {
      const a = ACTIONS[rng.int(ACTIONS.length)];
      const seen = paraphrase(a, rng, 'train');
      const ids = encodeAction(seen);
      expect(ids.length).to.equal(ACTION_LEN);
      expect(ids.includes(UNK), seen).to.equal(false);
      const held = paraphrase(a, rng, 'heldout');
      expect([...HELDOUT_ADVERBS, ...HELDOUT_ADJECTIVES].some((w) => held.includes(w)), held).to.equal(true);
      expect(encodeAction(held).includes(UNK), held).to.equal(true);
    }
    // Word dropout replaces modifiers only.
    const ids = encodeAction('You carefully switched the sturdy cyan traffic light.', new SeededRng(4), 1);
    expect(ids.filter((t) => t === UNK).length).to.equal(2);
  });

  it('R² assignment recovers a permuted, noisy, monotone encoding of the variables', function () {
    const rng = new SeededRng(5);
    const perm = [3, 0, 7, 1, 5, 2, 6, 4]; // latent j encodes variable perm[j]; latents 8, 9 are noise
    const labels = Array.from({ length: 400 }, () => randomState(rng));
    const z = labels.map((s) => [...perm.map((v) => Math.tanh(0.5 * s[v]) + 0.05 * (rng.next() - 0.5)), rng.next(), rng.next()]);
    const R = r2Matrix(z, labels);
    const { assigned } = assignLatents(R);
    expect(assigned.slice(0, 8)).to.deep.equal(perm);
    const diag = r2Diagonal(R);
    expect(diag.latentOf).to.deep.equal(perm.map((_, v) => perm.indexOf(v)));
    for (const r of diag.diagonal) expect(r).to.be.above(0.95);
    for (const r of R[8]) expect(r).to.be.below(0.1);
  });

  it('the interaction-logit regulariser adds gradient but no value (R − sg(R))', async function () {
    const make = () => {
      engine.manualSeed(7);
      return new CausalWorldModel(engine, IMAGE_SIZE, { latents: 8, hidden: [16, 16], priorHidden: 8, wordDim: 8, textDim: 8 });
    };
    const rng = new SeededRng(8);
    const x0 = Float32Array.from({ length: 4 * IMAGE_SIZE }, () => rng.next()), x1 = Float32Array.from({ length: 4 * IMAGE_SIZE }, () => rng.next());
    const tok = Int32Array.from([0, 1, 2, 3].flatMap((a) => encodeAction(paraphrase(ACTIONS[a], rng))));
    const lossAndGrad = async (logitReg: number) => {
      const m = make();
      engine.manualSeed(9);
      const L = cwmLoss(m, engine.tensor(x0, [4, IMAGE_SIZE]), engine.tensor(x1, [4, IMAGE_SIZE]), engine.tensor(tok, [4, ACTION_LEN], { dtype: 'i32' }), 2, { recon: 1, priorKL: 0.1, logitReg, inputNoise: 0 });
      L.total.backward();
      const out = { value: await L.total.item(), grad: Array.from(await m.interaction[1].weight.grad!.data()) };
      m.dispose();
      return out;
    };
    const a = await lossAndGrad(0), b = await lossAndGrad(0.5);
    expect(b.value).to.be.closeTo(a.value, 1e-3 * Math.abs(a.value));
    const gradDiff = Math.max(...a.grad.map((g, i) => Math.abs(g - b.grad[i])));
    expect(gradDiff).to.be.above(1e-3);
  });

  describe('quick run (one seed)', function () {
    // Minutes alone; the shared 2-core machine has run it at load 40+, hence the long timeout.
    this.timeout(2_400_000);
    let report: Report;
    before(async function () {
      report = await run(engine, QUICK);
    });

    // Margins at about half the gaps of a first quick run (README, "Tests"); the spec's claims that did
    // not hold there (CWM exact match above copy, CWM above the text WM) are reported, not asserted.
    it('the mapper reads lights and obstacle from the CWM latents (all-latent mapper, encoded test frames)', function () {
      const acc = report.mapperAccuracy.all.perVariable.mean;
      // First run (reconstruction weight 25): lights 0.93 (chance 0.5), obstacle x/y 0.92 (chance 1/6); with the
      // weight 5 and c 64 of today's defaults: 0.89 and 0.92.
      expect(report.mapperAccuracy.all.lights.mean).to.be.at.least(0.72);
      expect((acc[3] + acc[4]) / 2).to.be.at.least(0.55);
    });

    it('both world models trained: CWM loss well down, text WM held-out loss well below its unigram level', function () {
      const curve = report.training.cwm.curve;
      // First run: 951 at step 100 → 351 at step 400 (weight 25); 194 → 85 with today's weight 5.
      expect(curve[curve.length - 1].total).to.be.below(0.7 * curve[0].total);
      const t = report.training.textWM.textOnly![0];
      // First run: 0.61 vs unigram 1.3 nats/token; 0.74 in the run with today's CWM defaults.
      expect(t.bestLoss).to.be.below(t.unigramLoss - 0.35);
    });

    it('the transition prior predicts the next latent better than copying it (one step, after the refit on frozen latents)', function () {
      const r = report.oneStep.refit!;
      // First run: latent MSE 0.82 (prior mean) vs 0.90 before the refit and 1.13 for copying z^t; the margin is
      // about half that gap.
      expect(r.latentMSE.prior.mean).to.be.below(0.86 * r.latentMSE.copy.mean);
    });

    it('text interface: held-out adverbs/adjectives cost the text WM at most 10 points of 1-step exact match', function () {
      const h = report.heldoutParaphrases.textOnly;
      expect(h.heldout.mean).to.be.at.least(h.seen.mean - 0.1);
    });

    it('writes report.json and the four plots', async function () {
      const dir = await mkdtemp(join(tmpdir(), 'cwm-'));
      try {
        await writeArtifacts(report, dir);
        const files = await readdir(dir);
        for (const f of ['report.json', 'accuracy-vs-horizon.png', 'per-variable-accuracy-vs-horizon.png', 'plan-success-vs-horizon.png', 'r2-matrix.png']) expect(files).to.include(f);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      for (const N of QUICK.horizons!) for (const m of ['causal', 'textOnly', 'copy'] as const) expect(report.nextStateAccuracy[m][String(N)].perSeed).to.have.length(1);
    });
  });
});
