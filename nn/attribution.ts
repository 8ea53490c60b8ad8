// Integrated gradients (Sundararajan et al. 2017) over a hooked activation, with a zero baseline:
//   IG_u = a_u ∫₀¹ ∂F(α·a)/∂a_u dα.
// Implemented as in neuron-attribution work (knowledge neurons; Ali et al.'s copying neurons): a
// multiplicative mask σ on the activation's last axis, so a' = σ ⊙ a and ∂F/∂σ_u = a_u ∂F/∂a'_u; at
// σ = α·1 that is exactly the integrand. The m path points go on the batch axis (row s·B + b is example
// b at α_s), so one forward and one backward give every unit's attribution for every example.
import { fmtShape, KilnError, RangeArgumentError, ShapeError, type Tensor } from '../engine/index.js';
import type { Module } from './module.js';

export interface IntegratedGradientsOptions {
  /** Hook site of the activation, e.g. `layers.1.mlp.act`; its last axis holds the attributed units. */
  site: string;
  /** Riemann steps m. */
  steps: number;
  /** Examples B; the forward runs on steps·B rows, row s·B + b being example b at α_s. */
  batch: number;
  /**
   * 'right' (default): α_s = s/m, s = 1..m (the knowledge-neurons and copy-bias papers' sum);
   * 'midpoint': α_s = (s − ½)/m, second-order accurate.
   */
  rule?: 'right' | 'midpoint';
  /** Per example, the only position along axis 1 the mask scales (the activation must be (N, T, D)); default every position. */
  positions?: readonly number[];
  /**
   * Runs the model on the B examples repeated `steps` times along the batch axis (row s·B + b = example
   * b) and returns the target F per row, (steps·B) or (steps·B, 1). Called once, under grad mode.
   */
  forward: () => Tensor;
}

/** The α of each of the m path points. */
export function integrationPoints(steps: number, rule: 'right' | 'midpoint' = 'right'): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeArgumentError(`integratedGradients: steps must be a positive integer, got ${steps}`);
  return Array.from({ length: steps }, (_, s) => (rule === 'midpoint' ? (s + 0.5) / steps : (s + 1) / steps));
}

/**
 * Integrated gradients of F with respect to the units of the activation at `site`, zero baseline:
 * returns (B, D), one attribution per example and unit, with Σ_u IG_u ≈ F(a) − F(0) (completeness, up
 * to the Riemann error). The model's parameters do not receive gradients (they are excluded from the
 * backward pass and restored afterwards).
 */
export function integratedGradients(model: Module, options: IntegratedGradientsOptions): Tensor {
  const { site, steps, batch, positions } = options;
  const engine = model.engine;
  if (!Number.isInteger(batch) || batch < 1) throw new RangeArgumentError(`integratedGradients: batch must be a positive integer, got ${batch}`);
  if (positions && positions.length !== batch) throw new ShapeError(`integratedGradients: ${positions.length} positions for a batch of ${batch}`);
  const alphas = integrationPoints(steps, options.rule);
  const rows = steps * batch;
  let sigma: Tensor | null = null;
  const remove = model.registerHook(site, (a) => {
    if (sigma) throw new KilnError(`integratedGradients: the forward reached ${site} twice; it must run the model once`);
    if (a.shape[0] !== rows) throw new ShapeError(`integratedGradients: the activation at ${site} is ${fmtShape(a.shape)}; expected steps·batch = ${steps}·${batch} = ${rows} rows`);
    const D = a.shape[a.ndim - 1];
    const init = new Float32Array(rows * D);
    for (let s = 0; s < steps; s++) init.fill(alphas[s], s * batch * D, (s + 1) * batch * D);
    sigma = engine.keep(engine.tensor(init, [rows, D]).requiresGrad_()); // (m·B, D), a leaf
    if (!positions) return a.mul(sigma.reshape([rows, ...a.shape.slice(1, -1).map(() => 1), D]));
    if (a.ndim !== 3) throw new ShapeError(`integratedGradients: positions need a (N, T, D) activation, got ${fmtShape(a.shape)} at ${site}`);
    const T = a.shape[1];
    const hot = new Float32Array(rows * T);
    for (let r = 0; r < rows; r++) {
      const p = positions[r % batch];
      if (!Number.isInteger(p) || p < 0 || p >= T) throw new RangeArgumentError(`integratedGradients: position ${p} of example ${r % batch} is outside 0..${T - 1}`);
      hot[r * T + p] = 1;
    }
    const mask = engine.tensor(hot, [rows, T, 1]);
    const scale = engine.where(mask, sigma.unsqueeze(1), 1); // (m·B, T, D): σ at the chosen position, 1 elsewhere
    return a.mul(scale);
  });
  // Parameters need no gradient here: leaving them out skips the weight-gradient products.
  const params = model.parameters().filter((p) => p.requiresGrad);
  for (const p of params) p.requiresGrad = false;
  try {
    return engine.tidy(() => {
      const f = options.forward();
      if (!sigma) throw new KilnError(`integratedGradients: the forward never reached the hook site ${site}`);
      if (f.size !== rows || f.shape[0] !== rows) throw new ShapeError(`integratedGradients: the forward returned ${fmtShape(f.shape)}; expected one target per row, (${rows})`);
      const [g] = engine.autogradGrad(f.sum(), [sigma]);
      if (!g) throw new KilnError(`integratedGradients: the target does not depend on the activation at ${site}`);
      const D = g.shape[1];
      const ig = g.reshape([steps, batch, D]).mean(0); // (B, D): the Riemann mean over the path
      g.dispose(); // autograd's results are not tidy-tracked
      return ig;
    });
  } finally {
    remove();
    for (const p of params) p.requiresGrad = true;
    (sigma as Tensor | null)?.dispose();
  }
}
