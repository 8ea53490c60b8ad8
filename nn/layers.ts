// Basic layers. Each is a Module whose forward is a composition of engine ops.
import {
  dropout, embedding, fmtShape, layerNorm, pad, RangeArgumentError, rmsNorm, ShapeError, stack,
  type Engine, type Tensor,
} from '../engine/index.js';
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

export interface EmbeddingOptions {
  /** Standard deviation of the N(0, std^2) initialisation (default 1, as PyTorch; GPT-2 uses 0.02). */
  std?: number;
}

/** A lookup table of `num` vectors of size `dim`, initialised N(0, 1) as PyTorch's nn.Embedding. */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(
    engine: Engine,
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    options: EmbeddingOptions = {},
  ) {
    super(engine);
    this.weight = this.registerParameter('weight', engine.randn([numEmbeddings, embeddingDim], { std: options.std ?? 1 }));
  }

  /** integer indices (...) -> (..., dim) */
  forward(indices: Tensor): Tensor {
    return embedding(indices, this.weight);
  }
}

export interface NormOptions {
  eps?: number;
  /** Learnable scale (and, for LayerNorm, shift); default true. */
  elementwiseAffine?: boolean;
  /** LayerNorm only: learn a shift (default true when affine). */
  bias?: boolean;
}

/** torch.nn.LayerNorm over the last `dim` features, with the engine's fused kernel (one autograd node). */
export class LayerNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(
    engine: Engine,
    readonly dim: number,
    options: NormOptions = {},
  ) {
    super(engine);
    this.eps = options.eps ?? 1e-5;
    const affine = options.elementwiseAffine ?? true;
    this.weight = affine ? this.registerParameter('weight', engine.ones([dim])) : null;
    this.bias = affine && options.bias !== false ? this.registerParameter('bias', engine.zeros([dim])) : null;
  }

  /** (..., dim) -> (..., dim) */
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.dim, this.weight, this.bias, this.eps);
  }
}

/** RMSNorm (Zhang & Sennrich 2019): x / sqrt(mean(x^2) + eps) * weight, with the engine's fused kernel. */
export class RMSNorm extends Module {
  readonly weight: Tensor | null;
  readonly eps: number;

  constructor(
    engine: Engine,
    readonly dim: number,
    options: Omit<NormOptions, 'bias'> = {},
  ) {
    super(engine);
    this.eps = options.eps ?? 1e-6;
    this.weight = options.elementwiseAffine ?? true ? this.registerParameter('weight', engine.ones([dim])) : null;
  }

  /** (..., dim) -> (..., dim) */
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.dim, this.weight, this.eps);
  }
}

/** Inverted dropout with the engine's seeded generator; the identity in eval mode. */
export class Dropout extends Module {
  constructor(
    engine: Engine,
    readonly p = 0.5,
  ) {
    super(engine);
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
}

export interface MLPOptions {
  bias?: boolean;
  /** Dropout after the activation (default 0). */
  dropout?: number;
  /** GELU flavour: exact erf (default) or the tanh approximation (GPT-2). */
  approximate?: 'none' | 'tanh';
}

/** Transformer feed-forward: Linear -> GELU -> Linear. Hook site `act`: the GELU output (..., hidden). */
export class MLP extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly drop: Dropout;

  constructor(
    engine: Engine,
    readonly dim: number,
    readonly hidden: number,
    readonly options: MLPOptions = {},
  ) {
    super(engine);
    this.fc1 = this.registerModule('fc1', new Linear(engine, dim, hidden, { bias: options.bias }));
    this.fc2 = this.registerModule('fc2', new Linear(engine, hidden, dim, { bias: options.bias }));
    this.drop = this.registerModule('drop', new Dropout(engine, options.dropout ?? 0));
  }

  /** (..., dim) -> (..., dim) */
  forward(x: Tensor): Tensor {
    const h = this.site('act', this.fc1.forward(x).gelu({ approximate: this.options.approximate ?? 'none' })); // (..., hidden)
    return this.fc2.forward(this.drop.forward(h));
  }
}

/**
 * Gated feed-forward (Shazeer 2020, as in LLaMA): w2(silu(w1 x) * w3 x). Hook site `act`: the gated
 * product (..., hidden), the input of w2.
 */
export class SwiGLU extends Module {
  readonly w1: Linear;
  readonly w3: Linear;
  readonly w2: Linear;
  readonly drop: Dropout;

  constructor(
    engine: Engine,
    readonly dim: number,
    readonly hidden: number,
    options: Omit<MLPOptions, 'approximate'> = {},
  ) {
    super(engine);
    const bias = options.bias ?? false; // LLaMA uses no biases here
    this.w1 = this.registerModule('w1', new Linear(engine, dim, hidden, { bias }));
    this.w3 = this.registerModule('w3', new Linear(engine, dim, hidden, { bias }));
    this.w2 = this.registerModule('w2', new Linear(engine, hidden, dim, { bias }));
    this.drop = this.registerModule('drop', new Dropout(engine, options.dropout ?? 0));
  }

  /** (..., dim) -> (..., dim) */
  forward(x: Tensor): Tensor {
    const h = this.site('act', this.w1.forward(x).silu().mul(this.w3.forward(x))); // (..., hidden)
    return this.w2.forward(this.drop.forward(h));
  }
}

export interface Conv1dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  bias?: boolean;
}

/**
 * torch.nn.Conv1d (groups = 1) on (B, C_in, L), composed from engine ops: zero-pad, one strided
 * slice per kernel tap stacked into columns (im2col), and one matmul. Weight (C_out, C_in, K),
 * initialised uniform ±1/sqrt(C_in*K) as PyTorch.
 */
export class Conv1d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;

  constructor(
    engine: Engine,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    options: Conv1dOptions = {},
  ) {
    super(engine);
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    for (const [n, v, min] of [['kernelSize', kernelSize, 1], ['stride', this.stride, 1], ['dilation', this.dilation, 1], ['padding', this.padding, 0]] as const) {
      if (!Number.isInteger(v) || v < min) throw new RangeArgumentError(`Conv1d: ${n} must be an integer >= ${min}, got ${v}`);
    }
    const bound = 1 / Math.sqrt(inChannels * kernelSize);
    this.weight = this.registerParameter('weight', engine.rand([outChannels, inChannels, kernelSize], { low: -bound, high: bound }));
    this.bias = options.bias === false ? null : this.registerParameter('bias', engine.rand([outChannels], { low: -bound, high: bound }));
  }

  /** Output length for an input of length L. */
  outputLength(L: number): number {
    return Math.floor((L + 2 * this.padding - this.dilation * (this.kernelSize - 1) - 1) / this.stride) + 1;
  }

  /** (B, C_in, L) -> (B, C_out, L_out) */
  forward(x: Tensor): Tensor {
    if (x.ndim !== 3 || x.shape[1] !== this.inChannels) {
      throw new ShapeError(`Conv1d: expected input (B, ${this.inChannels}, L), got ${fmtShape(x.shape)}`);
    }
    const [B, C, L] = x.shape;
    const K = this.kernelSize;
    const Lout = this.outputLength(L);
    if (Lout <= 0) throw new ShapeError(`Conv1d: input ${fmtShape(x.shape)} is shorter than the dilated kernel (${this.dilation * (K - 1) + 1}) after padding ${this.padding}`);
    const xp = this.padding > 0 ? pad(x, [this.padding, this.padding]) : x; // (B, C, L + 2p)
    // Tap j reads positions j*dilation + t*stride, t < Lout: a strided view (B, C, Lout).
    const taps: Tensor[] = [];
    for (let j = 0; j < K; j++) {
      const start = j * this.dilation;
      taps.push(xp.slice(2, start, start + (Lout - 1) * this.stride + 1, this.stride));
    }
    const cols = stack(taps, 2).reshape([B, C * K, Lout]); // (B, C, K, Lout) -> (B, C*K, Lout), index c*K + j as the weight's
    const w = this.weight.reshape([this.outChannels, C * K]); // (C_out, C*K)
    const y = w.matmul(cols); // (C_out, C*K) @ (B, C*K, Lout) -> (B, C_out, Lout)
    return this.bias ? y.add(this.bias.reshape([this.outChannels, 1])) : y;
  }
}
