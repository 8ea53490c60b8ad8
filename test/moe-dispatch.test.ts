// expertFFN (on-device expert dispatch with grouped GEMMs): forward and backward against the
// dense-masked reference for every activation over E = 1, 4, 8, 33 and k = 1, 2, 4, with odd N
// (including 1), empty experts, all tokens on one expert, repeated experts in a token's slots and
// clamped (and reported) out-of-range indices; a float64 host reference on a tiny case; the per-expert loop
// reference; bit-identical reruns; no host readback; no leaks; readable errors.
import { expect } from 'chai';
import {
  DTypeError, expertFFN, expertFFNDense, expertFFNLoop, RangeArgumentError, ShapeError,
  type Engine, type ExpertActivation, type Tensor,
} from '../engine/index.js';
import { gpuEngine, itNoLeak } from './helpers/gpu.js';
import { assertClose } from './helpers/compare.js';
import { expectReported } from './helpers/reported.js';
import { seededRandom } from './op-table/harness.js';

interface Case {
  N: number;
  D: number;
  F: number;
  E: number;
  k: number;
  act: ExpertActivation;
  /** How indices are drawn: distinct per token (as the router gives), or a fixed pattern. */
  route?: 'distinct' | 'one' | 'repeat' | 'sparse' | 'outOfRange';
}

function uniform(n: number, rand: () => number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => (2 * rand() - 1) * scale);
}

function makeIndices(c: Case, rand: () => number): Int32Array {
  const out = new Int32Array(c.N * c.k);
  for (let n = 0; n < c.N; n++) {
    const perm = Array.from({ length: c.E }, (_, i) => i);
    for (let i = c.E - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    for (let s = 0; s < c.k; s++) {
      let e: number;
      switch (c.route ?? 'distinct') {
        case 'distinct': e = perm[s]; break;
        case 'one': e = Math.min(2, c.E - 1); break;
        case 'repeat': e = perm[0]; break; // every slot of a token on the same expert
        case 'sparse': e = [0, c.E - 2][(n + s) % 2]; break; // experts other than 0 and E-2 get nothing
        case 'outOfRange': e = [-3, c.E + 4, perm[s]][(n + s) % 3]; break;
      }
      out[n * c.k + s] = e;
    }
  }
  return out;
}

interface Inputs {
  x: Tensor;
  idx: Tensor;
  w: Tensor;
  w1: Tensor;
  w2: Tensor;
  w3?: Tensor;
  gy: Tensor;
  host: { x: Float32Array; idx: Int32Array; w: Float32Array; w1: Float32Array; w2: Float32Array; w3?: Float32Array };
}

function makeInputs(engine: Engine, c: Case, seed: number): Inputs {
  const rand = seededRandom(seed);
  const host = {
    x: uniform(c.N * c.D, rand, 1),
    idx: makeIndices(c, rand),
    w: Float32Array.from({ length: c.N * c.k }, () => 0.2 + rand()),
    w1: uniform(c.E * c.D * c.F, rand, 1 / Math.sqrt(c.D)),
    w2: uniform(c.E * c.F * c.D, rand, 1 / Math.sqrt(c.F)),
    w3: c.act === 'swiglu' ? uniform(c.E * c.D * c.F, rand, 1 / Math.sqrt(c.D)) : undefined,
  };
  return {
    x: engine.tensor(host.x, [c.N, c.D]),
    idx: engine.tensor(host.idx, [c.N, c.k], { dtype: 'i32' }),
    w: engine.tensor(host.w, [c.N, c.k]),
    w1: engine.tensor(host.w1, [c.E, c.D, c.F]),
    w2: engine.tensor(host.w2, [c.E, c.F, c.D]),
    w3: host.w3 ? engine.tensor(host.w3, [c.E, c.D, c.F]) : undefined,
    gy: engine.tensor(uniform(c.N * c.D, rand, 1), [c.N, c.D]),
    host,
  };
}

function disposeInputs(inp: Inputs): void {
  for (const t of [inp.x, inp.idx, inp.w, inp.w1, inp.w2, inp.w3, inp.gy]) t?.dispose();
}

type Fn = typeof expertFFN;

/**
 * Forward output and gradients for (x, weights, w1, w2[, w3]) with seed gradient gy, read back. With
 * out-of-range indices, `reportedAs` is the op the first readback must name (then it is cleared).
 */
async function forwardBackward(engine: Engine, fn: Fn, c: Case, inp: Inputs, reportedAs?: string): Promise<Float32Array[]> {
  const leaves = [inp.x, inp.w, inp.w1, inp.w2, ...(inp.w3 ? [inp.w3] : [])].map((t) => t.detach().requiresGrad_());
  const [x, w, w1, w2, w3] = leaves;
  const y = fn(x, inp.idx, w, w1, w2, { activation: c.act, w3 });
  const grads = engine.autogradGrad(y, leaves, { gradOutput: inp.gy });
  const out = [y, ...grads.map((g) => g!)];
  if (reportedAs) await expectReported(engine.checkErrors(), reportedAs, undefined, c.E);
  const data = await Promise.all(out.map(async (t) => (await t.data()) as Float32Array));
  for (const t of [...out, ...leaves]) t.dispose();
  return data;
}

const NAMES = ['y', 'dx', 'dweights', 'dW1', 'dW2', 'dW3'];

describe('moe dispatch: expertFFN argument errors (no GPU work)', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('names the op and the shapes', function () {
    engine.tidy(() => {
      const x = engine.zeros([5, 4]);
      const idx = engine.zeros([5, 2], { dtype: 'i32' });
      const w = engine.zeros([5, 2]);
      const w1 = engine.zeros([3, 4, 6]);
      const w2 = engine.zeros([3, 6, 4]);
      expect(() => expertFFN(x, idx, w, w1, engine.zeros([3, 4, 6]))).to.throw(ShapeError, /expertFFN: w2 must be \(E, F, D\) = \[3, 6, 4\].*w2 \[3, 4, 6\]/);
      expect(() => expertFFN(x, idx, engine.zeros([5, 3]), w1, w2)).to.throw(ShapeError, /expertFFN: weights must be \(N, k\) = \[5, 2\]/);
      expect(() => expertFFN(x, engine.zeros([4, 2], { dtype: 'i32' }), w, w1, w2)).to.throw(ShapeError, /expertFFN: indices must be \(N, k\) with N = 5/);
      expect(() => expertFFN(x, engine.zeros([5, 2]), w, w1, w2)).to.throw(DTypeError, /expertFFN: indices must be i32 or u32, got f32/);
      expect(() => expertFFN(x, idx, w, engine.zeros([3, 5, 6]), w2)).to.throw(ShapeError, /expertFFN: w1 must be \(E, D, F\) with D = 4/);
      expect(() => expertFFN(engine.zeros([5]), idx, w, w1, w2)).to.throw(ShapeError, /expertFFN: x must be \(N, D\)/);
      expect(() => expertFFN(x, idx, w, w1, w2, { activation: 'swiglu' })).to.throw(ShapeError, /swiglu' needs options.w3/);
      expect(() => expertFFN(x, idx, w, w1, w2, { activation: 'relu', w3: w1 })).to.throw(ShapeError, /w3 is used only with activation 'swiglu'/);
      expect(() => expertFFN(x, idx, w, w1, w2, { activation: 'swiglu', w3: w2 })).to.throw(ShapeError, /w3 must be \(E, D, F\)/);
      expect(() => expertFFN(x, idx, w, w1, w2, { activation: 'tanh' as ExpertActivation })).to.throw(RangeArgumentError, /unknown activation 'tanh'/);
      expect(() => expertFFN(x, idx, w.to('i32'), w1, w2)).to.throw(DTypeError, /expertFFN: weights has dtype i32/);
    });
    expect(engine.deviceErrors).to.deep.equal([]);
  });
});

describe('moe dispatch: expertFFN', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });
  const eng = () => engine;

  itNoLeak(eng, 'matches a float64 host reference on a tiny case (gelu and swiglu)', async function () {
    for (const act of ['gelu', 'swiglu'] as const) {
      const c: Case = { N: 3, D: 4, F: 5, E: 3, k: 2, act };
      const inp = makeInputs(engine, c, 7);
      const y = expertFFN(inp.x, inp.idx, inp.w, inp.w1, inp.w2, { activation: act, w3: inp.w3 });
      const got = await y.data();
      y.dispose();
      const { x, idx, w, w1, w2, w3 } = inp.host;
      const erf = (v: number) => {
        // Abramowitz & Stegun 7.1.26 is enough at this tolerance; a series keeps it float64-exact.
        let sum = 0;
        let term = v;
        for (let n = 0; n < 60; n++) {
          sum += term / (2 * n + 1);
          term *= (-v * v) / (n + 1);
        }
        return (2 / Math.sqrt(Math.PI)) * sum;
      };
      const expected = new Float64Array(c.N * c.D);
      for (let n = 0; n < c.N; n++) {
        for (let s = 0; s < c.k; s++) {
          const e = idx[n * c.k + s];
          const h = new Float64Array(c.F);
          for (let f = 0; f < c.F; f++) {
            let a = 0;
            let b = 0;
            for (let d = 0; d < c.D; d++) {
              a += x[n * c.D + d] * w1[(e * c.D + d) * c.F + f];
              if (w3) b += x[n * c.D + d] * w3[(e * c.D + d) * c.F + f];
            }
            h[f] = act === 'gelu' ? 0.5 * a * (1 + erf(a / Math.SQRT2)) : (a / (1 + Math.exp(-a))) * b;
          }
          for (let d = 0; d < c.D; d++) {
            let o = 0;
            for (let f = 0; f < c.F; f++) o += h[f] * w2[(e * c.F + f) * c.D + d];
            expected[n * c.D + d] += w[n * c.k + s] * o;
          }
        }
      }
      assertClose(got, expected, { rtol: 1e-5, atol: 1e-6 }, `expertFFN ${act} vs float64`);
      disposeInputs(inp);
    }
  });

  const cases: Case[] = [
    { N: 1, D: 4, F: 6, E: 1, k: 1, act: 'gelu' },
    { N: 7, D: 5, F: 9, E: 4, k: 2, act: 'relu' },
    { N: 13, D: 6, F: 7, E: 8, k: 4, act: 'silu' },
    { N: 45, D: 7, F: 11, E: 33, k: 2, act: 'swiglu' },
    { N: 1, D: 3, F: 4, E: 4, k: 2, act: 'swiglu' },
    { N: 150, D: 9, F: 150, E: 8, k: 2, act: 'gelu' }, // > 256 pairs (several sort blocks), 32-row tiles, 2 column tiles
    { N: 37, D: 8, F: 10, E: 1, k: 4, act: 'silu', route: 'repeat' }, // E = 1 with k = 4: every slot repeats
    { N: 29, D: 6, F: 8, E: 8, k: 2, act: 'relu', route: 'sparse' }, // six empty experts
    { N: 33, D: 5, F: 7, E: 4, k: 1, act: 'swiglu', route: 'one' }, // all tokens on one expert
    { N: 11, D: 4, F: 6, E: 4, k: 4, act: 'gelu', route: 'repeat' }, // repeated experts across a token's slots
    { N: 17, D: 5, F: 6, E: 8, k: 2, act: 'silu', route: 'outOfRange' }, // clamped to [0, E-1], reported
  ];
  for (const c of cases) {
    const title = `forward and backward match the dense-masked reference: N=${c.N} D=${c.D} F=${c.F} E=${c.E} k=${c.k} ${c.act}${c.route ? ` (${c.route})` : ''}`;
    itNoLeak(eng, title, async function () {
      const inp = makeInputs(engine, c, 1000 + c.N * 31 + c.E);
      // With bad indices the dense reference's scatterAdd (of the gate matrix) reports them.
      const bad = c.route === 'outOfRange';
      const got = await forwardBackward(engine, expertFFN, c, inp, bad ? 'expertFFN' : undefined);
      const ref = await forwardBackward(engine, expertFFNDense, c, inp, bad ? 'scatterAdd' : undefined);
      got.forEach((g, i) => assertClose(g, ref[i], { rtol: 2e-4, atol: 2e-5 }, `${NAMES[i]} ${title}`));
      disposeInputs(inp);
      expect(engine.deviceErrors).to.deep.equal([]);
    });
  }

  itNoLeak(eng, 'two identical runs are bit-identical (forward and gradients)', async function () {
    const c: Case = { N: 150, D: 9, F: 20, E: 8, k: 2, act: 'swiglu' };
    const inp = makeInputs(engine, c, 5);
    const a = await forwardBackward(engine, expertFFN, c, inp);
    const b = await forwardBackward(engine, expertFFN, c, inp);
    a.forEach((v, i) => expect(Array.from(b[i]), NAMES[i]).to.deep.equal(Array.from(v)));
    disposeInputs(inp);
  });

  itNoLeak(eng, 'reads nothing back to the host in forward or backward', async function () {
    const c: Case = { N: 20, D: 6, F: 8, E: 4, k: 2, act: 'gelu' };
    const inp = makeInputs(engine, c, 9);
    const read = engine.read;
    engine.read = () => {
      throw new Error('host readback inside expertFFN');
    };
    let y: Tensor, grads: (Tensor | null)[];
    const leaves = [inp.x, inp.w, inp.w1, inp.w2].map((t) => t.detach().requiresGrad_());
    try {
      y = expertFFN(leaves[0], inp.idx, leaves[1], leaves[2], leaves[3], { activation: 'gelu' });
      grads = engine.autogradGrad(y, leaves, { gradOutput: inp.gy });
    } finally {
      engine.read = read;
    }
    expect(grads.every((g) => g !== null)).to.equal(true);
    expect((await y.data()).length).to.equal(c.N * c.D);
    for (const t of [y, ...grads, ...leaves]) t?.dispose();
    disposeInputs(inp);
  });

  itNoLeak(eng, 'without grad it keeps nothing, and the per-expert loop reference agrees', async function () {
    const c: Case = { N: 21, D: 6, F: 10, E: 8, k: 2, act: 'swiglu' };
    const inp = makeInputs(engine, c, 11);
    const opts = { activation: c.act, w3: inp.w3 };
    const live = engine.memory().liveBuffers;
    const y = engine.noGrad(() => expertFFN(inp.x, inp.idx, inp.w, inp.w1, inp.w2, opts));
    expect(engine.memory().liveBuffers).to.equal(live + 1);
    const loop = await expertFFNLoop(inp.x, inp.idx, inp.w, inp.w1, inp.w2, opts);
    assertClose(await y.data(), await loop.data(), { rtol: 2e-4, atol: 2e-5 }, 'dispatch vs loop');
    for (const t of [y, loop]) t.dispose();
    disposeInputs(inp);
  });

  itNoLeak(eng, 'accepts strided views (x with a row stride and an offset, transposed x, weights stored transposed)', async function () {
    const c: Case = { N: 9, D: 5, F: 6, E: 4, k: 2, act: 'relu' };
    const inp = makeInputs(engine, c, 13);
    const [wide, xT, w1T] = engine.tidy(() => [
      engine.cat([engine.ones([c.N, 1]), inp.x, engine.ones([c.N, 2])], 1), // (N, D + 3)
      inp.x.mT.contiguous(), // (D, N)
      inp.w1.transpose(1, 2).contiguous(), // (E, F, D)
    ]);
    const opts = { activation: 'relu' as const };
    const [y1, y2, ref] = engine.tidy(() => [
      expertFFN(wide.narrow(1, 1, c.D), inp.idx, inp.w, w1T.transpose(1, 2), inp.w2, opts),
      expertFFN(xT.mT, inp.idx, inp.w, inp.w1, inp.w2, opts),
      expertFFNDense(inp.x, inp.idx, inp.w, inp.w1, inp.w2, opts),
    ]);
    const expected = await ref.data();
    assertClose(await y1.data(), expected, { rtol: 2e-4, atol: 2e-5 }, 'row-strided x, transposed w1');
    assertClose(await y2.data(), expected, { rtol: 2e-4, atol: 2e-5 }, 'transposed x');
    for (const t of [y1, y2, ref, wide, xT, w1T]) t.dispose();
    disposeInputs(inp);
  });
});
