// dpGradients (DP-SGD): per-example clipping against the closed-form per-example gradients of a
// linear least-squares model (float64 on the host), the norm taken over all parameters together,
// examples under the bound left unscaled, and the noise's standard deviation σ·C/B.
import { expect } from 'chai';
import { RangeArgumentError, type Engine, type Tensor } from '../engine/index.js';
import { SeededRng, dpGradients } from '../nn/index.js';
import { assertClose } from './helpers/compare.js';
import { gpuEngine } from './helpers/gpu.js';
import { values } from './helpers/tensors.js';

describe('DP-SGD gradients', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('clips each example on its own (norm over all parameters) and averages: closed-form least squares', async () => {
    const D = 5, B = 6, C = 1.5;
    const rng = new SeededRng(1);
    const w0 = Array.from({ length: D }, () => rng.next() * 2 - 1), b0 = 0.3;
    // Inputs of very different sizes so some examples are clipped and some are not.
    const xs = Array.from({ length: B }, (_, i) => Array.from({ length: D }, () => (rng.next() * 2 - 1) * (i % 2 ? 0.2 : 3)));
    const ys = Array.from({ length: B }, () => rng.next());
    const w = engine.keep(engine.tensor(w0)).requiresGrad_(true);
    const b = engine.keep(engine.tensor([b0])).requiresGrad_(true);
    const live = engine.memory().liveBuffers;
    const loss = (i: number): Tensor => w.mul(engine.tensor(xs[i])).sum().add(b.sum()).sub(ys[i]).square().mul(0.5);
    const norms = dpGradients([w, b], B, loss, { maxGradNorm: C, noiseMultiplier: 0 });
    // Reference: g_i = r_i (x_i, 1), r_i = w·x_i + b − y_i; clip to C; mean.
    const gw = Array(D).fill(0);
    let gb = 0;
    const refNorms: number[] = [];
    let clipped = 0;
    for (let i = 0; i < B; i++) {
      const r = xs[i].reduce((a, x, k) => a + x * w0[k], b0) - ys[i];
      const n = Math.abs(r) * Math.sqrt(xs[i].reduce((a, x) => a + x * x, 0) + 1);
      refNorms.push(n);
      const f = Math.min(1, C / (n + 1e-6));
      if (f < 1) clipped++;
      xs[i].forEach((x, k) => (gw[k] += (r * x * f) / B));
      gb += (r * f) / B;
    }
    expect(clipped, 'some examples clipped').to.be.within(1, B - 1);
    assertClose(await values(norms), refNorms, { rtol: 1e-4, atol: 1e-5 }, 'per-example norms');
    assertClose(await values(w.grad!), gw, { rtol: 1e-4, atol: 1e-5 }, 'weight gradient');
    assertClose(await values(b.grad!), [gb], { rtol: 1e-4, atol: 1e-5 }, 'bias gradient');
    norms.dispose();
    for (const p of [w, b]) (p.grad!.dispose(), (p.grad = null));
    expect(engine.memory().liveBuffers, 'no buffers left behind').to.equal(live);
    w.dispose();
    b.dispose();
  });

  it('adds N(0, σ²C²) to the clipped sum: the noise of zero gradients has standard deviation σ·C/B', async () => {
    const N = 20_000, B = 4, C = 2, sigma = 0.7;
    const w = engine.keep(engine.zeros([N])).requiresGrad_(true);
    engine.manualSeed(5);
    dpGradients([w], B, () => w.mul(0).sum(), { maxGradNorm: C, noiseMultiplier: sigma }).dispose();
    const g = await values(w.grad!);
    const mean = g.reduce((a, v) => a + v, 0) / N;
    const sd = Math.sqrt(g.reduce((a, v) => a + (v - mean) ** 2, 0) / (N - 1));
    // Standard errors at N = 20000: mean sd/141, sd about sd/200.
    expect(mean).to.be.closeTo(0, (5 * sigma * C) / B / 141);
    expect(sd).to.be.closeTo((sigma * C) / B, (5 * sigma * C) / B / 200);
    w.grad!.dispose();
    w.dispose();
  });

  it('refuses a bad bound, noise or batch size at the call', () => {
    const w = engine.keep(engine.zeros([2])).requiresGrad_(true);
    const f = () => w.sum();
    expect(() => dpGradients([w], 2, f, { maxGradNorm: 0, noiseMultiplier: 1 })).to.throw(RangeArgumentError, /dpGradients: maxGradNorm must be a positive number, got 0/);
    expect(() => dpGradients([w], 2, f, { maxGradNorm: 1, noiseMultiplier: -1 })).to.throw(RangeArgumentError, /noiseMultiplier must be >= 0/);
    expect(() => dpGradients([w], 0, f, { maxGradNorm: 1, noiseMultiplier: 1 })).to.throw(RangeArgumentError, /batchSize must be a positive integer, got 0/);
    w.dispose();
  });
});
