// G independent linear layers applied side by side as one batched matmul: BISCUIT's "MultivarLinear",
// used for per-latent transition models and per-variable heads (d small MLPs without d launches).
import { ShapeError, fmtShape, type Engine, type Tensor } from '../engine/index.js';
import { Module } from './module.js';

export interface GroupedLinearOptions {
  bias?: boolean;
  /** Initialise the weights (and bias) to zero, e.g. for a branch that should start switched off. */
  zeroInit?: boolean;
}

/**
 * y[g] = x[g] W[g] + b[g] for g = 0..G-1, with W of shape (G, in, out) and b of shape (G, 1, out),
 * each group initialised as an nn.Linear(in, out) (uniform ±1/sqrt(in)).
 */
export class GroupedLinear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    engine: Engine,
    readonly groups: number,
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: GroupedLinearOptions = {},
  ) {
    super(engine);
    const bound = options.zeroInit ? 0 : 1 / Math.sqrt(inFeatures);
    const init = (shape: number[]) => (bound ? engine.rand(shape, { low: -bound, high: bound }) : engine.zeros(shape));
    this.weight = this.registerParameter('weight', init([groups, inFeatures, outFeatures]));
    this.bias = options.bias === false ? null : this.registerParameter('bias', init([groups, 1, outFeatures]));
  }

  /** (G, B, in) -> (G, B, out); a (B, in) input is shared by every group. */
  forward(x: Tensor): Tensor {
    const G = this.groups, I = this.inFeatures;
    const ok = (x.shape.length === 3 && x.shape[0] === G && x.shape[2] === I) || (x.shape.length === 2 && x.shape[1] === I);
    if (!ok) throw new ShapeError(`GroupedLinear.forward: input ${fmtShape(x.shape)} must be (${G}, B, ${I}) or (B, ${I})`);
    const y = (x.shape.length === 2 ? x.unsqueeze(0) : x).matmul(this.weight); // (G, B, out)
    return this.bias ? y.add(this.bias) : y;
  }
}
