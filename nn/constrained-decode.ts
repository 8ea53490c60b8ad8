// Greedy decoding where step k may only choose a token in [lo_k, hi_k): for fixed-format outputs
// (one slot per field, each field with its own token range), e.g. a text world model writing a state.
// Everything stays on the GPU (a KV cache carries the prefix); the caller reads the tokens back once.
import { RangeArgumentError, ShapeError, cat, fmtShape, type Tensor } from '../engine/index.js';
import type { CausalLM } from './generate.js';

/**
 * Greedy continuation of `prompt` (B, T0) i32 by ranges.length tokens; token k is the argmax of the
 * logits restricted to [ranges[k][0], ranges[k][1]) (ties to the lower id). Returns the new tokens
 * (B, K) i32. The model runs in eval mode (restored afterwards).
 */
export function greedyDecodeInRanges<C extends { dispose(): void }>(model: CausalLM<C>, prompt: Tensor, ranges: readonly (readonly [number, number])[]): Tensor {
  if (prompt.shape.length !== 2 || prompt.dtype !== 'i32') throw new ShapeError(`greedyDecodeInRanges: prompt must be (B, T) i32, got ${fmtShape(prompt.shape)} ${prompt.dtype}`);
  const e = prompt.engine;
  const [B, T0] = prompt.shape;
  const maxSeqLen = model.config?.maxSeqLen;
  if (maxSeqLen !== undefined && T0 + ranges.length > maxSeqLen) {
    throw new RangeArgumentError(`greedyDecodeInRanges: prompt length ${T0} + ${ranges.length} tokens exceeds the model's maxSeqLen ${maxSeqLen}`);
  }
  const wasTraining = model.training;
  model.train(false);
  const cache = model.newCache(B, T0 + ranges.length);
  try {
    return e.noGrad(() =>
      e.tidy(() => {
        let ids = prompt;
        const out: Tensor[] = [];
        for (const [lo, hi] of ranges) {
          const logits = model.forward(ids, { cache }); // (B, T, V): T0 positions first, then 1
          const V = logits.shape[2];
          if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && hi > lo && hi <= V)) {
            throw new RangeArgumentError(`greedyDecodeInRanges: range [${lo}, ${hi}) is not inside the vocabulary of ${V} tokens`);
          }
          ids = logits.select(1, logits.shape[1] - 1).narrow(1, lo, hi - lo).argmax(1, true).add(lo); // (B, 1)
          out.push(ids);
        }
        return cat(out, 1);
      }),
    );
  } finally {
    cache.dispose();
    model.train(wasTraining);
  }
}
