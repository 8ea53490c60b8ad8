// Statistical tests of the seeded counter-based generators (rand, randn, dropout's bernoulli mask),
// and argument errors / edge cases of the nn functionals that a float64 reference table cannot show.
// Statistical bounds are K standard errors of the estimate (they shrink as 1/sqrt(n)), never values
// copied from a run: with K = 6 a correct generator fails about once in 10^8 checks.
import { expect } from 'chai';
import { DTypeError, RangeArgumentError, ShapeError, crossEntropy, dropout, layerNorm, rmsNorm, type Engine, type Tensor } from '../engine/index.js';
import { assertClose, assertEqualArrays } from './helpers/compare.js';
import { gpuEngine } from './helpers/gpu.js';
import { expectReported } from './helpers/reported.js';
import { Ref } from './reference/core.js';
import * as refNN from './reference/nn.js';

const N = 100_000;
const K = 6;

function moments(v: ArrayLike<number>): { mean: number; variance: number } {
  let mean = 0;
  for (let i = 0; i < v.length; i++) mean += v[i];
  mean /= v.length;
  let variance = 0;
  for (let i = 0; i < v.length; i++) variance += (v[i] - mean) ** 2;
  return { mean, variance: variance / (v.length - 1) };
}

/** |actual - expected| <= K standard errors. */
function within(actual: number, expected: number, standardError: number, what: string): void {
  expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected} (± ${K} x ${standardError.toExponential(2)})`).to.be.at.most(K * standardError);
}

/** Lag-1 sample correlation: near 0 (standard error 1/sqrt(n)) for independent draws. */
function lagCorrelation(v: ArrayLike<number>): number {
  const { mean, variance } = moments(v);
  let c = 0;
  for (let i = 0; i + 1 < v.length; i++) c += (v[i] - mean) * (v[i + 1] - mean);
  return c / (v.length - 1) / variance;
}

async function take(t: Tensor): Promise<Float32Array> {
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}

describe('random generators', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
    engine.manualSeed(20261126);
  });

  function itNoLeak(title: string, fn: () => Promise<void>): void {
    it(title, async function () {
      const live0 = engine.memory().liveBuffers;
      const errors0 = engine.deviceErrors.length;
      await fn();
      expect(engine.deviceErrors.slice(errors0), 'WebGPU errors').to.deep.equal([]);
      expect(engine.memory().liveBuffers, 'GPU buffers left alive by the test').to.equal(live0);
    });
  }

  itNoLeak('rand: uniform on [0, 1) with mean 1/2, variance 1/12, independent neighbours', async () => {
    const v = await take(engine.rand([N]));
    expect(v.every((x) => x >= 0 && x < 1), 'all draws in [0, 1)').to.equal(true);
    const { mean, variance } = moments(v);
    within(mean, 0.5, Math.sqrt(1 / 12 / N), 'mean');
    // Var of (x - 1/2)^2 for U(0, 1) is 1/80 - 1/144 = 1/180.
    within(variance, 1 / 12, Math.sqrt(1 / 180 / N), 'variance');
    within(lagCorrelation(v), 0, 1 / Math.sqrt(N), 'lag-1 correlation');
    // Each tenth of [0, 1) holds a tenth of the draws (binomial standard error).
    for (let b = 0; b < 10; b++) {
      const frac = v.filter((x) => x >= b / 10 && x < (b + 1) / 10).length / N;
      within(frac, 0.1, Math.sqrt(0.1 * 0.9 / N), `fraction in [${b / 10}, ${(b + 1) / 10})`);
    }
  });

  itNoLeak('rand: low and high give a uniform on [low, high)', async () => {
    const [lo, hi] = [-2, 3];
    const v = await take(engine.rand([250, 400], { low: lo, high: hi }));
    expect(v.every((x) => x >= lo && x < hi), 'all draws in [low, high)').to.equal(true);
    const { mean, variance } = moments(v);
    const w = hi - lo;
    within(mean, (lo + hi) / 2, Math.sqrt((w * w) / 12 / N), 'mean');
    within(variance, (w * w) / 12, w * w * Math.sqrt(1 / 180 / N), 'variance');
  });

  itNoLeak('randn: standard normal moments, one-sigma mass and independence', async () => {
    const v = await take(engine.randn([N]));
    expect(v.every(Number.isFinite), 'all draws finite').to.equal(true);
    const { mean, variance } = moments(v);
    within(mean, 0, 1 / Math.sqrt(N), 'mean');
    within(variance, 1, Math.sqrt(2 / N), 'variance');
    const p1 = 0.6826894921370859; // P(|Z| < 1)
    within(v.filter((x) => Math.abs(x) < 1).length / N, p1, Math.sqrt((p1 * (1 - p1)) / N), 'mass within one sigma');
    const p2 = 0.9544997361036416; // P(|Z| < 2)
    within(v.filter((x) => Math.abs(x) < 2).length / N, p2, Math.sqrt((p2 * (1 - p2)) / N), 'mass within two sigma');
    within(v.filter((x) => x > 0).length / N, 0.5, Math.sqrt(0.25 / N), 'fraction positive');
    within(lagCorrelation(v), 0, 1 / Math.sqrt(N), 'lag-1 correlation');
  });

  itNoLeak('randn: mean and std options', async () => {
    const [mu, sigma] = [3, 2];
    const v = await take(engine.randn([N], { mean: mu, std: sigma }));
    const { mean, variance } = moments(v);
    within(mean, mu, sigma / Math.sqrt(N), 'mean');
    within(variance, sigma * sigma, sigma * sigma * Math.sqrt(2 / N), 'variance');
  });

  itNoLeak('the same seed gives identical draws; consecutive draws and other seeds differ', async () => {
    const n = 4096;
    const draw = async (f: () => Tensor) => take(engine.tidy(f));
    // Values match by chance with probability about 2^-24 (rand, randn) or p^2 + (1-p)^2 (a dropout mask).
    const generators: [() => Tensor, number][] = [
      [() => engine.rand([n]), 0],
      [() => engine.randn([n]), 0],
      [() => dropout(engine.ones([n]), 0.3), 0.3 * 0.3 + 0.7 * 0.7],
    ];
    for (const [f, chance] of generators) {
      engine.manualSeed(7);
      const a = await draw(f);
      const b = await draw(f);
      engine.manualSeed(7);
      const a2 = await draw(f);
      engine.manualSeed(8);
      const c = await draw(f);
      assertEqualArrays(a2, a, 'same seed');
      const same = (x: Float32Array, y: Float32Array) => x.filter((v, i) => v === y[i]).length / n;
      const bound = chance + K * Math.sqrt(Math.max(chance * (1 - chance), 1e-6) / n);
      expect(same(a, b), 'consecutive draws agree').to.be.at.most(bound);
      expect(same(a, c), 'draws of another seed agree').to.be.at.most(bound);
    }
    engine.manualSeed(20261126);
  });

  itNoLeak('rng state: setRngState replays the draws after getRngState', async () => {
    const state = engine.getRngState();
    const a = await take(engine.rand([1000]));
    engine.setRngState(state);
    const b = await take(engine.rand([1000]));
    assertEqualArrays(b, a, 'replayed draws');
  });

  for (const p of [0.1, 0.5, 0.9]) {
    itNoLeak(`dropout p=${p}: keeps a fraction 1 - p, scales kept values by 1 / (1 - p), gradient mask / (1 - p)`, async () => {
      const x = engine.ones([N], { requiresGrad: true });
      const y = dropout(x, p);
      const seed = engine.onesLike(y);
      y.backward(seed);
      seed.dispose();
      const yv = (await y.data()) as Float32Array;
      const gv = (await x.grad!.data()) as Float32Array;
      const scale = Math.fround(1 / (1 - p));
      expect(yv.every((v) => v === 0 || v === scale), `every value is 0 or ${scale}`).to.equal(true);
      const kept = yv.filter((v) => v !== 0).length / N;
      within(kept, 1 - p, Math.sqrt((p * (1 - p)) / N), 'kept fraction');
      within(lagCorrelation(yv), 0, 1 / Math.sqrt(N), 'mask lag-1 correlation');
      // With x = 1, y is the scaled mask itself, so the gradient must equal it exactly.
      assertEqualArrays(gv, yv, 'gradient');
      y.dispose();
      x.dispose();
    });
  }

  itNoLeak('dropout multiplies the input: y = x * mask / (1 - p), gradient = g * mask / (1 - p)', async () => {
    const n = 2000;
    const xs = Array.from({ length: n }, (_, i) => Math.sin(i) + 2);
    const gs = Array.from({ length: n }, (_, i) => Math.cos(i));
    const x = engine.tensor(xs, [40, 50], { requiresGrad: true });
    const y = dropout(x, 0.25);
    const g = engine.tensor(gs, [40, 50]);
    y.backward(g);
    const yv = await y.data();
    const gv = await x.grad!.data();
    const s = Math.fround(1 / 0.75);
    const mask = Array.from(yv, (v) => (v === 0 ? 0 : 1));
    assertClose(yv, xs.map((v, i) => Math.fround(v) * s * mask[i]), { rtol: 1e-6, atol: 0 }, 'y');
    assertClose(gv, gs.map((v, i) => Math.fround(v) * s * mask[i]), { rtol: 1e-6, atol: 0 }, 'gradient');
    for (const t of [x, y, g]) t.dispose();
  });

  itNoLeak('dropout: eval mode and p = 0 are the identity (gradient g); p = 1 gives zeros; p outside [0, 1] throws', async () => {
    const xs = [1.5, -2, 0.25, 3, -0.5, 7];
    const x = engine.tensor(xs, [2, 3], { requiresGrad: true });
    for (const [p, training] of [[0.5, false], [0, true]] as const) {
      const state = engine.getRngState();
      const y = dropout(x, p, training);
      expect(engine.getRngState(), 'no random numbers drawn').to.deep.equal(state);
      assertEqualArrays(await y.data(), xs.map(Math.fround), `p=${p} training=${training}`);
      const seed = engine.fullLike(y, 2);
      y.backward(seed);
      seed.dispose();
      y.dispose();
    }
    assertEqualArrays(await x.grad!.data(), xs.map(() => 4), 'identity gradients (2 + 2)');
    const z = dropout(x, 1);
    assertEqualArrays(await z.data(), xs.map(() => 0), 'p = 1');
    z.dispose();
    for (const bad of [-0.1, 1.5, Number.NaN]) {
      expect(() => dropout(x, bad)).to.throw(RangeArgumentError, /dropout.*outside \[0, 1\]/);
    }
    const i = engine.tensor(new Int32Array([1, 2]));
    expect(() => dropout(i, 0.5)).to.throw(DTypeError, /dropout/);
    i.dispose();
    x.dispose();
  });
});

describe('crossEntropy, layerNorm, rmsNorm, softmax: argument errors and edge cases', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('crossEntropy names the op and the shapes for a target of the wrong shape or dtype', function () {
    engine.tidy(() => {
      const logits = engine.zeros([4, 5]);
      expect(() => crossEntropy(logits, engine.zeros([4], { dtype: 'i32' }).reshape([2, 2]))).to.throw(ShapeError, /crossEntropy.*\[2, 2\].*\[4, 5\]/);
      expect(() => crossEntropy(logits, engine.zeros([5], { dtype: 'i32' }))).to.throw(ShapeError, /crossEntropy.*\[5\].*\[4, 5\]/);
      expect(() => crossEntropy(logits, engine.zeros([4]))).to.throw(DTypeError, /crossEntropy.*integer.*f32/);
      expect(() => crossEntropy(logits, engine.zeros([4], { dtype: 'i32' }), { labelSmoothing: 1.5 })).to.throw(RangeArgumentError, /crossEntropy/);
      expect(() => crossEntropy(logits.to('i32'), engine.zeros([4], { dtype: 'i32' }))).to.throw(DTypeError, /crossEntropy/);
    });
  });

  it('crossEntropy: an out-of-range target makes its row NaN (no out-of-bounds access) and is reported at the next readback; all ignored gives NaN mean', async function () {
    const errors0 = engine.deviceErrors.length;
    const [none, mean, grad, allIgnored] = engine.tidy(() => {
      const logits = engine.tensor([[1, 2, 3], [0, 0, 5], [2, 1, 0]], [3, 3], { requiresGrad: true });
      const target = engine.tensor(new Int32Array([0, 7, -3]));
      const none = crossEntropy(logits, target, { reduction: 'none' });
      const mean = crossEntropy(logits, engine.tensor(new Int32Array([0, 2, -100])));
      const [grad] = engine.grad((l) => crossEntropy(l, target, { reduction: 'sum' }))(logits);
      const allIgnored = crossEntropy(logits, engine.tensor(new Int32Array([-100, -100, -100])));
      return [none, mean, grad, allIgnored];
    });
    // The first readback reports a bad target (7 or -3: which row wins may vary), then it is cleared.
    await expectReported(none.data(), 'crossEntropy', undefined, 3);
    const nv = await none.data();
    expect(nv[0]).to.be.closeTo(Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 1, 1e-5);
    expect(Number.isNaN(nv[1]) && Number.isNaN(nv[2]), 'rows with out-of-range targets are NaN').to.equal(true);
    const lse2 = 5 + Math.log(2 * Math.exp(-5) + 1);
    expect(await mean.item()).to.be.closeTo((Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 1 + lse2 - 5) / 2, 1e-5);
    const gv = await grad.data();
    expect(Array.from(gv.slice(3)).every(Number.isNaN), 'gradient rows of bad targets are NaN').to.equal(true);
    expect(Array.from(gv.slice(0, 3)).every(Number.isFinite)).to.equal(true);
    expect(Number.isNaN(await allIgnored.item()), 'mean over no targets').to.equal(true);
    expect(engine.deviceErrors.slice(errors0)).to.deep.equal([]);
    for (const t of [none, mean, grad, allIgnored]) t.dispose();
  });

  // Issue 22 item 1: the smoothing term eps * (lse - mean(x)) is +Inf for a -Inf logit (0 * Inf was
  // NaN with eps 0), and the plain row sum of [1e38, 3e38, 0, 0] overflows f32 (NaN again).
  it('crossEntropy: a -Inf non-target logit (masking) and logits whose sum overflows f32 give the float64 reference, with and without label smoothing', async function () {
    const rows = [
      [1, -Infinity, 2, 3], // PyTorch: 2.4076 (log(e + e^2 + e^3) - 1); inf with label smoothing
      [1e38, 3e38, 0, 0], // 2e38, the sum of x overflows f32
      [0.5, -1, 2, -Infinity],
      [0.25, -0.5, 1, 2],
    ];
    const targets = [0, 0, 2, 3];
    const x = Ref.of([4, 4], rows.flat());
    const t = Ref.of([4], targets);
    expect(refNN.crossEntropy(Ref.of([1, 4], rows[0]), Ref.of([1], [0])).data[0]).to.be.closeTo(2.4076, 1e-4);
    for (const labelSmoothing of [0, 0.1]) {
      const options = { labelSmoothing };
      const [loss, mean, grad] = engine.tidy(() => {
        const logits = engine.tensor(rows, [4, 4], { requiresGrad: true });
        const target = engine.tensor(Int32Array.from(targets), [4], { dtype: 'i32' });
        const [g] = engine.grad((l) => crossEntropy(l, target, options))(logits);
        return [crossEntropy(logits, target, { ...options, reduction: 'none' }), crossEntropy(logits, target, options), g];
      });
      const expected = refNN.crossEntropy(x, t, { ...options, reduction: 'none' }).data;
      if (labelSmoothing > 0) expect(expected[0], 'eps * (lse - mean) with a -Inf logit').to.equal(Infinity);
      else expect(Array.from(expected).every(Number.isFinite)).to.equal(true);
      assertClose(await loss.data(), expected, undefined, `per-row losses, labelSmoothing ${labelSmoothing}`);
      assertClose([await mean.item()], refNN.crossEntropy(x, t, options).data, undefined, `mean loss, labelSmoothing ${labelSmoothing}`);
      // The gradient stays finite either way (as PyTorch's): softmax gives a -Inf logit probability 0.
      const g = await grad.data();
      expect(Array.from(g).every(Number.isFinite), 'finite gradient').to.equal(true);
      assertClose(g, refNN.crossEntropyGrad(x, t, options).data, undefined, `gradient, labelSmoothing ${labelSmoothing}`);
      for (const v of [loss, mean, grad]) v.dispose();
    }
  });

  it('layerNorm and rmsNorm name the op and the shapes when normalizedShape or weight do not fit', function () {
    engine.tidy(() => {
      const x = engine.zeros([4, 5]);
      expect(() => layerNorm(x, [4])).to.throw(ShapeError, /layerNorm.*\[4\].*\[4, 5\]/);
      expect(() => layerNorm(x, [3, 4, 5])).to.throw(ShapeError, /layerNorm/);
      expect(() => layerNorm(x, 5, engine.ones([4]))).to.throw(ShapeError, /layerNorm.*weight.*\[4\].*\[5\]/);
      expect(() => layerNorm(x, 5, null, engine.ones([1, 5]))).to.throw(ShapeError, /layerNorm.*bias/);
      expect(() => rmsNorm(x, [5, 1])).to.throw(ShapeError, /rmsNorm/);
      expect(() => rmsNorm(x.to('i32'), 5)).to.throw(DTypeError, /rmsNorm/);
    });
  });

  it('softmax: -inf entries (masks) get probability 0; a dim out of range throws', async function () {
    const [p, lp] = engine.tidy(() => {
      const x = engine.tensor([0, Number.NEGATIVE_INFINITY, 0, Math.log(2)], [1, 4]);
      return [x.softmax(-1), x.logSoftmax(-1)];
    });
    assertClose(await p.data(), [0.25, 0, 0.25, 0.5], { rtol: 1e-6, atol: 1e-7 }, 'softmax');
    const lv = await lp.data();
    expect(lv[1]).to.equal(Number.NEGATIVE_INFINITY);
    expect(lv[3]).to.be.closeTo(Math.log(0.5), 1e-6);
    p.dispose();
    lp.dispose();
    engine.tidy(() => {
      expect(() => engine.zeros([2, 3]).softmax(2)).to.throw(ShapeError, /softmax.*axis 2.*\[2, 3\]/);
    });
  });

  it('forward and backward of every nn functional leave no GPU buffers behind', async function () {
    const live0 = engine.memory().liveBuffers;
    const grads = engine.tidy(() => {
      const x = engine.randn([3, 6], { requiresGrad: true });
      const w = engine.randn([6], { requiresGrad: true });
      const b = engine.randn([6], { requiresGrad: true });
      const t = engine.tensor(new Int32Array([1, -100, 5]));
      const h = layerNorm(x, [6], w, b).add(rmsNorm(x, 6, w)).softmax(0).logSoftmax(1);
      const loss = crossEntropy(dropout(h, 0.2), t, { labelSmoothing: 0.1 });
      loss.backward();
      return [x, w, b].map((v) => engine.keep(v.grad!.detach()));
    });
    for (const g of grads) expect(Array.from(await g.data()).every(Number.isFinite)).to.equal(true);
    for (const g of grads) g.dispose();
    expect(engine.memory().liveBuffers).to.equal(live0);
  });
});
