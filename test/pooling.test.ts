// Masked pooling over time (nn/pooling.ts) against float64 references: attention pooling gives padded
// frames exactly zero weight (and its gradient none), and equals softmax(q·x) pooling over the valid
// frames; maskedMean is the mean over the valid entries.
import { expect } from 'chai';
import { ShapeError, type Engine } from '../engine/index.js';
import { AttentionPool, SeededRng, maskedMean } from '../nn/index.js';
import { assertClose } from './helpers/compare.js';
import { gpuEngine } from './helpers/gpu.js';

describe('pooling: AttentionPool, maskedMean', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('AttentionPool: padded frames get exactly 0 weight and no gradient; pooled = Σ softmax(q·x) x over valid frames', async function () {
    const rng = new SeededRng('pool');
    const B = 3, T = 7, D = 5;
    const lengths = [7, 4, 1];
    const xs = Float32Array.from({ length: B * T * D }, () => 2 * rng.next() - 1);
    // Padded frames hold large values: they must not leak into the result.
    lengths.forEach((n, b) => { for (let t = n; t < T; t++) for (let d = 0; d < D; d++) xs[(b * T + t) * D + d] = 50; });
    const mask = Float32Array.from({ length: B * T }, (_, i) => (i % T < lengths[Math.floor(i / T)] ? 1 : 0));
    const pool = new AttentionPool(engine, D);
    const q = Float32Array.from({ length: D }, () => rng.next() - 0.5);
    pool.query.dispose();
    (pool as { query: unknown }).query = engine.tensor(q, [D], { requiresGrad: true });
    const x = engine.tensor(xs, [B, T, D], { requiresGrad: true });
    const m = engine.tensor(mask, [B, T]);
    const { pooled, weights } = pool.forwardWithWeights(x, m);
    const w = await weights.data();
    const want = new Float64Array(B * D), wantW = new Float64Array(B * T);
    for (let b = 0; b < B; b++) {
      const s = Array.from({ length: lengths[b] }, (_, t) => q.reduce((a, qd, d) => a + qd * xs[(b * T + t) * D + d], 0));
      const mx = Math.max(...s);
      const z = s.reduce((a, v) => a + Math.exp(v - mx), 0);
      s.forEach((v, t) => {
        wantW[b * T + t] = Math.exp(v - mx) / z;
        for (let d = 0; d < D; d++) want[b * D + d] += wantW[b * T + t] * xs[(b * T + t) * D + d];
      });
    }
    for (let i = 0; i < B * T; i++) if (mask[i] === 0) expect(w[i], `weight of padded frame ${i}`).to.equal(0);
    assertClose(w, wantW, { rtol: 1e-5, atol: 1e-6 }, 'weights');
    assertClose(await pooled.data(), want, { rtol: 1e-5, atol: 1e-5 }, 'pooled');
    pooled.sum().backward();
    const gx = await x.grad!.data();
    for (let i = 0; i < B * T; i++) if (mask[i] === 0) for (let d = 0; d < D; d++) expect(gx[i * D + d]).to.equal(0);
    expect(() => pool.forward(x, engine.ones([B, T + 1]))).to.throw(ShapeError, /AttentionPool: mask \[3, 8\] must be \(B, T\)/);
    for (const t of [x, m, pooled, weights]) t.dispose();
    pool.dispose();
  });

  it('AttentionPool starts from a query of ones (the paper\'s initialisation); maskedMean averages valid entries', async function () {
    const pool = new AttentionPool(engine, 4);
    expect(Array.from(await pool.query.data())).to.deep.equal([1, 1, 1, 1]);
    pool.dispose();
    const v = engine.tensor([[1, 2, 3], [4, 5, 6]]);
    const m = engine.tensor([[1, 1, 0], [1, 0, 0]]);
    const r = maskedMean(v, m);
    expect(await r.item()).to.be.closeTo((1 + 2 + 4) / 3, 1e-6);
    for (const t of [v, m, r]) t.dispose();
  });
});
