// The tiny reward model of the spec (§3d): r(x) = w₂ᵀ ReLU(W₁ (Σ_t E[x_t] / poolScale) + b₁) + b₂.
// Sum pooling (not mean) lets the model represent length, which is what a length-biased annotator
// teaches it to reward.
import { binaryCrossEntropyWithLogits, type Engine, type Tensor } from '../../engine/index.js';
import { Embedding, Linear, Module } from '../../nn/index.js';

export interface RewardModelOptions {
  vocabSize: number;
  dModel: number;
  hidden: number;
  /** The pooled sum is divided by this (the spec's 10), keeping the MLP's input O(1). */
  poolScale: number;
}

export class RewardModel extends Module {
  readonly embed: Embedding;
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(engine: Engine, readonly options: RewardModelOptions) {
    super(engine);
    this.embed = this.registerModule('embed', new Embedding(engine, options.vocabSize, options.dModel));
    this.fc1 = this.registerModule('fc1', new Linear(engine, options.dModel, options.hidden));
    this.fc2 = this.registerModule('fc2', new Linear(engine, options.hidden, 1));
  }

  /** ids (N, T) i32, mask (N, T) f32 1 for tokens / 0 for padding -> rewards (N). */
  forward(ids: Tensor, mask: Tensor): Tensor {
    const [N, T] = ids.shape;
    const e = this.embed.forward(ids).mul(mask.reshape([N, T, 1])); // (N, T, d), padding zeroed
    const pooled = this.site('pooled', e.sum(1).div(this.options.poolScale)); // (N, d)
    return this.fc2.forward(this.fc1.forward(pooled).relu()).reshape([N]); // (N, 1) -> (N)
  }
}

/**
 * Bradley–Terry loss −log σ(r_a − r_b) for label 1 (a ≻ b), −log σ(r_b − r_a) for 0, mean over pairs.
 * `rewards` (2B): the B first responses then the B second ones; labels (B).
 */
export function bradleyTerryLoss(rewards: Tensor, labels: Tensor): Tensor {
  const [ra, rb] = rewards.chunk(2, 0); // (B), (B)
  return binaryCrossEntropyWithLogits(ra.sub(rb), labels);
}
