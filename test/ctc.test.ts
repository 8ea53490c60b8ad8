// The CTC loss op (engine/ops/ctc.ts) against float64 references (test/reference/ctc.ts): brute-force
// path enumeration, the alpha recursion over odd batches (repeated labels that need a blank between
// them, empty targets, a non-zero blank, per-element lengths), the three reductions, infeasible targets
// (+Inf, or 0 with zeroInfinity) and central finite differences of the reference for the gradient.
import { expect } from 'chai';
import { RangeArgumentError, ShapeError, ctcLoss, type Engine } from '../engine/index.js';
import { SeededRng } from '../nn/index.js';
import { assertClose } from './helpers/compare.js';
import { gpuEngine } from './helpers/gpu.js';
import { ctcLogLikelihood, ctcLogLikelihoodBruteForce, ctcLossRef } from './reference/ctc.js';

const gauss = (rng: SeededRng) => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());

/** Random (T, B, C) log-probs: log_softmax of N(0, scale) logits, as nested arrays and flat. */
function randomLogProbs(rng: SeededRng, T: number, B: number, C: number, scale = 1.5, normalise = true): { nested: number[][][]; flat: Float32Array } {
  const nested = Array.from({ length: T }, () => Array.from({ length: B }, () => {
    const z = Array.from({ length: C }, () => scale * gauss(rng));
    if (!normalise) return z;
    const m = Math.max(...z);
    const l = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
    return z.map((v) => v - l);
  }));
  // Round to f32 first so the reference sees the GPU's inputs.
  const flat = Float32Array.from(nested.flat(2));
  let i = 0;
  for (const r of nested) for (const c of r) for (let k = 0; k < C; k++) c[k] = flat[i++];
  return { nested, flat };
}

function padTargets(targets: number[][], S: number): Int32Array {
  const out = new Int32Array(targets.length * S);
  targets.forEach((y, b) => y.forEach((k, i) => (out[b * S + i] = k)));
  return out;
}

describe('ctcLoss', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('the reference recursion equals brute-force path enumeration (T=4, C=3, U=2), and the op matches both', async function () {
    const rng = new SeededRng('ctc-brute');
    for (const y of [[1, 2], [1, 1], [2, 2], [2, 1]]) {
      const { nested, flat } = randomLogProbs(rng, 4, 1, 3);
      const a = nested.map((r) => r[0]);
      const brute = ctcLogLikelihoodBruteForce(a, y);
      expect(Math.abs(ctcLogLikelihood(a, y) - brute)).to.be.below(1e-12);
      const loss = ctcLoss(engine.tensor(flat, [4, 1, 3]), engine.tensor(Int32Array.from(y), [1, 2], { dtype: 'i32' }), [4], [2], { reduction: 'sum' });
      assertClose([await loss.item()], [-brute], { rtol: 1e-5, atol: 1e-5 }, `labels ${y}`);
      loss.dispose();
    }
  });

  it('odd batches: per-element lengths, repeated labels, empty targets, a non-zero blank; reductions none / sum / mean', async function () {
    const rng = new SeededRng('ctc-batch');
    const cases = [
      { T: 1, C: 2, blank: 0, targets: [[1]], inLen: [1] },
      { T: 7, C: 5, blank: 0, targets: [[1, 1, 2], [3], [], [4, 4, 4]], inLen: [7, 5, 3, 7] },
      { T: 13, C: 6, blank: 5, targets: [[0, 1, 0, 0], [2, 3], [4]], inLen: [13, 9, 2] },
      { T: 30, C: 9, blank: 0, targets: [[1, 2, 3, 3, 4, 5, 6, 7, 8, 8, 1], [2, 2, 2, 2], [5, 6]], inLen: [30, 17, 4] },
    ];
    for (const c of cases) {
      const B = c.targets.length;
      const S = Math.max(1, ...c.targets.map((y) => y.length));
      const tl = c.targets.map((y) => y.length);
      const { nested, flat } = randomLogProbs(rng, c.T, B, c.C);
      const lp = engine.tensor(flat, [c.T, B, c.C]);
      const tg = engine.tensor(padTargets(c.targets, S), [B, S], { dtype: 'i32' });
      for (const reduction of ['none', 'sum', 'mean'] as const) {
        const loss = ctcLoss(lp, tg, c.inLen, tl, { blank: c.blank, reduction });
        const want = ctcLossRef(nested, c.targets, c.inLen, tl, { blank: c.blank, reduction });
        assertClose(await loss.data(), typeof want === 'number' ? [want] : want, { rtol: 1e-5, atol: 1e-4 }, `T ${c.T} C ${c.C} ${reduction}`);
        loss.dispose();
      }
      lp.dispose();
      tg.dispose();
    }
  });

  it('a target that needs more frames than given: +Inf, or 0 with zeroInfinity (loss and gradient)', async function () {
    const rng = new SeededRng('ctc-inf');
    // "1 1" needs 3 frames (a blank between the repeats); "1 2" needs 2; 2 frames given.
    const { flat } = randomLogProbs(rng, 2, 2, 3);
    const tg = engine.tensor(Int32Array.from([1, 1, 1, 2]), [2, 2], { dtype: 'i32' });
    const plain = ctcLoss(engine.tensor(flat, [2, 2, 3]), tg, [2, 2], [2, 2], { reduction: 'none' });
    const v = await plain.data();
    expect(v[0]).to.equal(Infinity);
    expect(Number.isFinite(v[1])).to.equal(true);
    const x = engine.tensor(flat, [2, 2, 3], { requiresGrad: true });
    const zeroed = ctcLoss(x, tg, [2, 2], [2, 2], { reduction: 'sum', zeroInfinity: true });
    expect(await zeroed.item()).to.be.closeTo(v[1], 1e-5);
    zeroed.backward();
    const g = await x.grad!.data();
    for (const t of [0, 1]) for (let k = 0; k < 3; k++) expect(g[(t * 2 + 0) * 3 + k], 'the infeasible element has no gradient').to.equal(0);
    expect([0, 1].some((t) => [0, 1, 2].some((k) => g[(t * 2 + 1) * 3 + k] !== 0))).to.equal(true);
    for (const t of [plain, zeroed, x, tg]) t.dispose();
  });

  it('gradient: central finite differences of the float64 reference on unnormalised log-probs (mean reduction), and through logSoftmax', async function () {
    const rng = new SeededRng('ctc-grad');
    const T = 6, B = 3, C = 4;
    const targets = [[1, 1], [2, 3, 1], [3]];
    const inLen = [6, 6, 4], tl = [2, 3, 1], S = 3;
    const { nested, flat } = randomLogProbs(rng, T, B, C, 1, false);
    const x = engine.tensor(flat, [T, B, C], { requiresGrad: true });
    const tg = engine.tensor(padTargets(targets, S), [B, S], { dtype: 'i32' });
    const loss = ctcLoss(x, tg, inLen, tl);
    loss.backward();
    const got = await x.grad!.data();
    const h = 1e-5;
    const fd = new Float64Array(T * B * C);
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let k = 0; k < C; k++) {
      const v = nested[t][b][k];
      nested[t][b][k] = v + h;
      const up = ctcLossRef(nested, targets, inLen, tl) as number;
      nested[t][b][k] = v - h;
      const down = ctcLossRef(nested, targets, inLen, tl) as number;
      nested[t][b][k] = v;
      fd[(t * B + b) * C + k] = (up - down) / (2 * h);
    }
    assertClose(got, fd, { rtol: 1e-3, atol: 2e-5 }, 'd loss / d logProbs');
    // Through logSoftmax: the logits gradient is softmax − γ, so each frame's gradient sums to 0 (frames t < T_b).
    const z = engine.tensor(flat, [T, B, C], { requiresGrad: true });
    const l2 = ctcLoss(z.logSoftmax(-1), tg, inLen, tl, { reduction: 'sum' });
    l2.backward();
    const gz = await z.grad!.data();
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) {
      let s = 0;
      for (let k = 0; k < C; k++) s += gz[(t * B + b) * C + k];
      expect(Math.abs(s), `frame ${t} of element ${b}`).to.be.below(1e-5);
    }
    for (const u of [x, tg, loss, z, l2]) u.dispose();
  });

  it('bad input names the op and the shapes', function () {
    const lp = engine.zeros([4, 2, 3]);
    const tg = engine.tensor(Int32Array.from([1, 2, 1, 0]), [2, 2], { dtype: 'i32' });
    expect(() => ctcLoss(engine.zeros([4, 3]), tg, [4, 4], [2, 1])).to.throw(ShapeError, /ctcLoss: logProbs must be \(T, B, C\)/);
    expect(() => ctcLoss(lp, engine.zeros([3, 2], { dtype: 'i32' }), [4, 4], [2, 1])).to.throw(ShapeError, /ctcLoss: targets must be \(B, S\)/);
    expect(() => ctcLoss(lp, tg, [5, 4], [2, 1])).to.throw(RangeArgumentError, /inputLengths\[0\] = 5 must be an integer in 1..4/);
    expect(() => ctcLoss(lp, tg, [4, 4], [3, 1])).to.throw(RangeArgumentError, /targetLengths\[0\] = 3/);
    expect(() => ctcLoss(lp, tg, [4, 4], [2, 1], { blank: 3 })).to.throw(RangeArgumentError, /blank 3/);
    lp.dispose();
    tg.dispose();
  });
});
