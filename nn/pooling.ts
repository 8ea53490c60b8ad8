// Pooling over time with a frame mask (1 = frame, 0 = padding), as speech probes use: a masked mean,
// and attention pooling with one learned query (Mohebbi et al.'s SelfAttention pooler: unscaled dot
// product scores, no key/value projections, padded frames at exactly zero weight).
import { ShapeError, fmtShape, type Engine, type Tensor } from '../engine/index.js';
import { Module } from './module.js';

/** Added to the scores of padded frames: exp(NEG − max) is exactly 0 in f32, yet the sum stays finite. */
const NEG = -1e30;

function requireMask(what: string, x: Tensor, mask: Tensor): void {
  if (mask.ndim !== 2 || mask.shape[0] !== x.shape[0] || mask.shape[1] !== x.shape[1]) {
    throw new ShapeError(`${what}: mask ${fmtShape(mask.shape)} must be (B, T) = (${x.shape[0]}, ${x.shape[1]}) for input ${fmtShape(x.shape)}`);
  }
}

/** Σ values·mask / Σ mask over every element: the mean over valid frames. values and mask (B, T), float. */
export function maskedMean(values: Tensor, mask: Tensor): Tensor {
  requireMask('maskedMean', values, mask);
  return values.engine.tidy(() => values.mul(mask).sum().div(mask.sum()));
}

export interface AttentionPoolOutput {
  /** (B, D) */
  pooled: Tensor;
  /** (B, T) softmax over frames; 0 on padding. */
  weights: Tensor;
}

/** α = softmax_t(q · x_t) over valid frames, pooled = Σ_t α_t x_t. The query starts at all ones (as the paper's code). */
export class AttentionPool extends Module {
  readonly query: Tensor;

  constructor(engine: Engine, readonly dim: number, options: { init?: 'ones' | 'zeros' } = {}) {
    super(engine);
    this.query = this.registerParameter('query', options.init === 'zeros' ? engine.zeros([dim]) : engine.ones([dim]));
  }

  /** x (B, T, D), mask (B, T) float 1/0 -> pooled (B, D), weights (B, T). */
  forwardWithWeights(x: Tensor, mask: Tensor): AttentionPoolOutput {
    if (x.ndim !== 3 || x.shape[2] !== this.dim) throw new ShapeError(`AttentionPool: expected x (B, T, ${this.dim}), got ${fmtShape(x.shape)}`);
    requireMask('AttentionPool', x, mask);
    const [B, T, D] = x.shape;
    const e = this.engine;
    const weights = e.tidy(() => {
      const scores = x.matmul(this.query.reshape([D, 1])).reshape([B, T]); // (B, T)
      return scores.add(mask.sub(1).mul(-NEG)).softmax(-1);
    });
    const pooled = e.tidy(() => weights.reshape([B, 1, T]).matmul(x).reshape([B, D])); // (B, 1, T) @ (B, T, D)
    return { pooled, weights };
  }

  forward(x: Tensor, mask: Tensor): Tensor {
    const { pooled, weights } = this.forwardWithWeights(x, mask);
    weights.dispose();
    return pooled;
  }
}
