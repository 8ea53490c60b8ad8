// Matmul beyond the op table: readable errors, no copies for transposed operands, a larger product
// against the float64 reference in both kernel variants, empty dims, leaks and pipeline reuse.
import { expect } from 'chai';
import { DTypeError, ShapeError, type Engine, type KernelCall, type Tensor } from '../engine/index.js';
import { matmul, mergeBatchDims, type MatmulVariant } from '../engine/ops/matmul.js';
import { gpuEngine } from './helpers/gpu.js';
import { assertClose } from './helpers/compare.js';
import { makeValues, seededRandom } from './op-table/harness.js';
import { Ref } from './reference/core.js';
import { matmul as refMatmul } from './reference/linalg.js';

describe('matmul batch-dim merging (no GPU)', function () {
  it('drops unit dims and merges dims whose strides line up in both operands', function () {
    // (2, 3) batch, both contiguous over it: one dim of 6
    expect(mergeBatchDims([2, 3], [3 * 20, 20], [3 * 12, 12])).to.deep.equal({ shape: [6], a: [20], b: [12] });
    // B broadcast along dim 0 only: cannot merge
    expect(mergeBatchDims([2, 3], [60, 20], [0, 12])).to.deep.equal({ shape: [2, 3], a: [60, 20], b: [0, 12] });
    // broadcast along both dims for B (stride 0 everywhere) still merges
    expect(mergeBatchDims([4, 1, 3], [60, 0, 20], [0, 0, 0])).to.deep.equal({ shape: [12], a: [20], b: [0] });
  });
});

describe('matmul', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  /** Record the shaders `fn` launches. */
  function shadersRun(fn: () => void): string[] {
    const seen: string[] = [];
    const run = engine.run.bind(engine);
    engine.run = (call: KernelCall) => {
      seen.push(call.shader);
      run(call);
    };
    try {
      fn();
    } finally {
      delete (engine as { run?: unknown }).run; // back to the prototype's method
    }
    return seen;
  }

  function upload(shape: number[], seed: number): { t: Tensor; ref: Ref } {
    const v = makeValues({ shape, values: 'unit' }, seededRandom(seed));
    return { t: engine.tensor(Array.from(v), shape), ref: new Ref(shape, v) };
  }

  it('names the op and the shapes in errors, before any GPU work', function () {
    engine.tidy(() => {
      const a = engine.zeros([2, 3]);
      const b = engine.zeros([4, 5]);
      expect(() => a.matmul(b)).to.throw(ShapeError, 'matmul: inner dimensions differ: [2, 3] @ [4, 5] (3 vs 4)');
      expect(() => engine.zeros([3]).matmul(engine.zeros([4]))).to.throw(ShapeError, 'matmul: inner dimensions differ: [3] @ [4]');
      expect(() => engine.zeros([2, 2, 3]).matmul(engine.zeros([3, 3, 4]))).to.throw(ShapeError, /matmul.*\[2\].*\[3\]/);
      expect(() => engine.zeros([]).matmul(engine.zeros([3]))).to.throw(ShapeError, 'matmul: both operands need at least one dim, got [] @ [3]');
      expect(() => a.matmul(engine.zeros([3, 2], { dtype: 'i32' }))).to.throw(DTypeError, /matmul: dtypes differ: f32 of shape \[2, 3\] and i32 of shape \[3, 2\]/);
      const i = engine.zeros([2, 2], { dtype: 'i32' });
      expect(() => i.matmul(i)).to.throw(DTypeError, 'matmul: expected a floating-point tensor, got i32 of shape [2, 2]');
    });
    expect(engine.deviceErrors).to.deep.equal([]);
  });

  for (const variant of ['register', 'tiled'] as MatmulVariant[]) {
    it(`matches the float64 reference on a larger product (${variant})`, async function () {
      const a = upload([3, 150, 200], 1);
      const b = upload([200, 130], 2);
      const bt = upload([130, 200], 3); // used as B^T through a stride view
      const [c1, c2] = engine.tidy(() => [matmul(a.t, b.t, { variant }), matmul(a.t, bt.t.mT, { variant })]);
      const ref1 = refMatmul(a.ref, b.ref);
      // B^T as a Ref: transpose bt's values
      const btT = new Float64Array(200 * 130);
      for (let i = 0; i < 130; i++) for (let j = 0; j < 200; j++) btT[j * 130 + i] = bt.ref.data[i * 200 + j];
      const ref2 = refMatmul(a.ref, new Ref([200, 130], btT));
      // 200 f32 products of values in (-0.9, 0.9) per output: rounding grows like sqrt(K) * 2^-24 * |sum|,
      // about 1e-6 here; a wrong index or a skipped slice errs by O(0.1).
      const tol = { rtol: 1e-5, atol: 1e-5 };
      assertClose(await c1.data(), ref1.data, tol, `${variant} [3,150,200] @ [200,130]`);
      assertClose(await c2.data(), ref2.data, tol, `${variant} [3,150,200] @ ([130,200]).mT`);
      for (const t of [a.t, b.t, bt.t, c1, c2]) t.dispose();
      expect(engine.deviceErrors).to.deep.equal([]);
    });

    it(`reads transposed operands through strides: no copy kernel forward or backward (${variant})`, async function () {
      const x = engine.randn([6, 5]);
      const y = engine.randn([7, 6]);
      const xs = x.detach().requiresGrad_();
      const ys = y.detach().requiresGrad_();
      const seen = shadersRun(() => {
        engine.tidy(() => {
          const out = matmul(xs.mT, ys.mT, { variant }); // (5, 6) @ (6, 7)
          const g = engine.keep(engine.ones([5, 7]));
          const grads = engine.autogradGrad(out, [xs, ys], { gradOutput: g });
          g.dispose();
          for (const t of grads) t?.dispose();
        });
      });
      // ones() runs a fill; everything else must be matmul launches
      const kernels = seen.filter((s) => s !== 'fill');
      const expected = variant === 'register' ? 'matmul' : 'matmulTiled';
      expect(kernels).to.deep.equal([expected, expected, expected]);
      for (const t of [x, y, xs, ys]) t.dispose();
    });
  }

  it("x @ W^T (Linear's product): W.grad arrives contiguous in W's layout and x.grad, W.grad match float64", async function () {
    // 3 x 70 = 210 rows: enough for the software path's row-major copy of W^T (vec4 kernel).
    const [Bn, M, K, N] = [3, 70, 12, 8];
    const xv = makeValues({ shape: [Bn, M, K], values: 'unit' }, seededRandom(11));
    const wv = makeValues({ shape: [N, K], values: 'unit' }, seededRandom(12));
    const gv = makeValues({ shape: [Bn, M, N], values: 'unit' }, seededRandom(13));
    const x = engine.tensor(Array.from(xv), [Bn, M, K]).requiresGrad_();
    const w = engine.tensor(Array.from(wv), [N, K]).requiresGrad_();
    const g = engine.tensor(Array.from(gv), [Bn, M, N]);
    const y = engine.tidy(() => {
      const out = x.matmul(w.mT); // (B, M, N)
      out.backward(g);
      return out.detach();
    });
    expect(w.grad!.isContiguous()).to.equal(true);
    const rows = Bn * M;
    const yRef = new Float64Array(rows * N), dx = new Float64Array(rows * K), dw = new Float64Array(N * K);
    for (let r = 0; r < rows; r++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += xv[r * K + k] * wv[n * K + k];
        yRef[r * N + n] = s;
        for (let k = 0; k < K; k++) {
          dx[r * K + k] += gv[r * N + n] * wv[n * K + k];
          dw[n * K + k] += gv[r * N + n] * xv[r * K + k];
        }
      }
    }
    // Sums of at most 210 products of values in (-0.9, 0.9): f32 rounding stays near 1e-6.
    const tol = { rtol: 1e-5, atol: 1e-5 };
    assertClose(await y.data(), yRef, tol, 'x @ W^T');
    assertClose(await x.grad!.data(), dx, tol, 'x.grad');
    assertClose(await w.grad!.data(), dw, tol, 'W.grad');
    for (const t of [x.grad!, w.grad!, x, w, g, y]) t.dispose();
    expect(engine.deviceErrors).to.deep.equal([]);
  });

  it('gives zeros for K = 0 and empty results for M = 0 or N = 0', async function () {
    const [z, e1, e2] = engine.tidy(() => [
      engine.zeros([3, 0]).matmul(engine.zeros([0, 4])),
      engine.zeros([0, 5]).matmul(engine.zeros([5, 4])),
      engine.zeros([2, 3, 5]).matmul(engine.zeros([5, 0])),
    ]);
    expect(z.shape).to.deep.equal([3, 4]);
    expect(Array.from(await z.data())).to.deep.equal(new Array(12).fill(0));
    expect(e1.shape).to.deep.equal([0, 4]);
    expect(e2.shape).to.deep.equal([2, 3, 0]);
    for (const t of [z, e1, e2]) t.dispose();
  });

  it('leaves no buffer alive after forward and backward with broadcast batch dims', async function () {
    await engine.sync();
    const live0 = engine.memory().liveBuffers;
    engine.tidy(() => {
      const a = engine.randn([3, 1, 5, 7]).requiresGrad_();
      const b = engine.randn([4, 7, 6]).requiresGrad_();
      const w = engine.randn([2, 7]).requiresGrad_(); // shared weight: the folded dB path
      const loss = a.matmul(b).sum().add(a.matmul(w.t()).sum());
      loss.backward();
      expect(a.grad!.shape).to.deep.equal([3, 1, 5, 7]);
      expect(b.grad!.shape).to.deep.equal([4, 7, 6]);
      expect(w.grad!.shape).to.deep.equal([2, 7]);
      for (const t of [a, b, w]) t.grad!.dispose();
    });
    expect(engine.memory().liveBuffers).to.equal(live0);
  });

  it('compiles nothing new for another batch size or matrix size', function () {
    engine.tidy(() => {
      matmul(engine.zeros([2, 9, 10]), engine.zeros([10, 11]), { variant: 'register' });
      matmul(engine.zeros([2, 9, 10]), engine.zeros([10, 11]), { variant: 'tiled' });
    });
    const before = engine.pipelineCount;
    engine.tidy(() => {
      matmul(engine.zeros([5, 3, 13, 10]), engine.zeros([3, 10, 17]), { variant: 'register' });
      matmul(engine.zeros([5, 3, 13, 10]), engine.zeros([3, 10, 17]), { variant: 'tiled' });
    });
    expect(engine.pipelineCount).to.equal(before);
  });
});
