// Basic layers. Each is a Module whose forward is a composition of engine ops.
import { embedding, type Engine, type Tensor } from '../engine/index.js';
import { Module } from './module.js';

export interface LinearOptions {
  bias?: boolean;
}

/** y = x W^T + b with W of shape (out, in), initialised as PyTorch's nn.Linear (uniform ±1/sqrt(in)). */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    engine: Engine,
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super(engine);
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.registerParameter('weight', engine.rand([outFeatures, inFeatures], { low: -bound, high: bound }));
    this.bias = options.bias === false ? null : this.registerParameter('bias', engine.rand([outFeatures], { low: -bound, high: bound }));
  }

  /** (..., in) -> (..., out) */
  forward(x: Tensor): Tensor {
    const y = x.matmul(this.weight.mT);
    return this.bias ? y.add(this.bias) : y;
  }
}

/** A lookup table of `num` vectors of size `dim`, initialised N(0, 1) as PyTorch's nn.Embedding. */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(
    engine: Engine,
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
  ) {
    super(engine);
    this.weight = this.registerParameter('weight', engine.randn([numEmbeddings, embeddingDim]));
  }

  /** integer indices (...) -> (..., dim) */
  forward(indices: Tensor): Tensor {
    return embedding(indices, this.weight);
  }
}
