// DP-SGD gradients (Abadi et al. 2016; Opacus' per-sample clipping): every example's gradient is
// clipped to L2 norm ≤ C on its own, the clipped gradients are summed, Gaussian noise N(0, σ²C²) is
// added, and the result is divided by the batch size. Per-example gradients are true ones: one
// backward pass per example (the engine has no vectorised per-sample gradients), so the cost is B
// forward/backward passes of batch 1 per step. Everything stays on the GPU (no readback).
import { KilnError, RangeArgumentError, type Tensor } from '../engine/index.js';

export interface DPGradOptions {
  /** Per-example clipping bound C on the L2 norm of all parameters' gradients together. */
  maxGradNorm: number;
  /** σ: the noise standard deviation is σ·C (0 = clipping only). */
  noiseMultiplier: number;
}

/**
 * Set each parameter's `.grad` to the DP-SGD gradient (1/B)[Σ_i clip_C(g_i) + N(0, σ²C² I)], where
 * g_i is the gradient of `lossOf(i)` (a 0-d loss of example i) and clip_C(g) = g · min(1, C/(‖g‖+1e-6)).
 * Earlier gradients of `params` are dropped. Noise comes from the engine's seeded generator.
 * Returns the per-example norms ‖g_i‖ before clipping, (B) (the caller disposes it).
 */
export function dpGradients(params: Tensor[], batchSize: number, lossOf: (i: number) => Tensor, options: DPGradOptions): Tensor {
  const { maxGradNorm: C, noiseMultiplier: sigma } = options;
  if (!params.length) throw new KilnError('dpGradients: got no parameters');
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeArgumentError(`dpGradients: batchSize must be a positive integer, got ${batchSize}`);
  if (!(C > 0) || !Number.isFinite(C)) throw new RangeArgumentError(`dpGradients: maxGradNorm must be a positive number, got ${C}`);
  if (!(sigma >= 0) || !Number.isFinite(sigma)) throw new RangeArgumentError(`dpGradients: noiseMultiplier must be >= 0, got ${sigma}`);
  const engine = params[0].engine;
  const acc: Tensor[] = params.map((p) => engine.keep(engine.zeros(p.shape)));
  const norms: Tensor[] = [];
  try {
    for (const p of params) (p.grad?.dispose(), (p.grad = null));
    for (let i = 0; i < batchSize; i++) {
      engine.tidy(() => {
        lossOf(i).backward();
        engine.noGrad(() => {
          // A parameter the loss does not reach has a zero gradient.
          const sq = params.map((p) => (p.grad ? p.grad.to('f32').square().sum() : engine.zeros([])));
          const norm = engine.stack(sq).sum().sqrt(); // ‖g_i‖ over all parameters
          const coef = engine.full([], C).div(norm.add(1e-6)).clamp(null, 1);
          params.forEach((p, k) => {
            if (!p.grad) return;
            const next = engine.keep(acc[k].add(p.grad.to('f32').mul(coef)));
            acc[k].dispose();
            acc[k] = next;
            p.grad.dispose();
            p.grad = null;
          });
          norms.push(engine.keep(norm));
        });
      });
    }
    return engine.noGrad(() =>
      engine.tidy(() => {
        params.forEach((p, k) => {
          const noisy = sigma > 0 ? acc[k].add(engine.randn(p.shape, { std: sigma * C })) : acc[k];
          p.grad = engine.keep(noisy.div(batchSize).to(p.dtype));
        });
        return engine.stack(norms);
      }),
    );
  } finally {
    acc.forEach((a) => a.dispose());
    norms.forEach((n) => n.dispose());
  }
}
