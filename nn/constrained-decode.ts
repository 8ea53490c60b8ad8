// Greedy decoding where step k may only choose a token in [lo_k, hi_k): for fixed-format outputs
// (one slot per field, each field with its own token range), e.g. a text world model writing a state.
// Everything stays on the GPU; the caller reads the tokens back once.
import { RangeArgumentError, ShapeError, cat, fmtShape, type Tensor } from '../engine/index.js';

/** What the decoder needs from a model: ids (B, T) i32 → logits (B, T, V). TransformerLM fits. */
export interface LogitModel {
  forward(ids: Tensor): Tensor;
}

/**
 * Greedy continuation of `prompt` (B, T0) i32 by ranges.length tokens; token k is the argmax of the
 * logits restricted to [ranges[k][0], ranges[k][1]) (ties to the lower id). Each step re-runs the
 * whole sequence (no cache: meant for short sequences). Returns the new tokens (B, K) i32.
 */
export function greedyDecodeInRanges(model: LogitModel, prompt: Tensor, ranges: readonly (readonly [number, number])[]): Tensor {
  if (prompt.shape.length !== 2 || prompt.dtype !== 'i32') throw new ShapeError(`greedyDecodeInRanges: prompt must be (B, T) i32, got ${fmtShape(prompt.shape)} ${prompt.dtype}`);
  const e = prompt.engine;
  return e.noGrad(() =>
    e.tidy(() => {
      let ids = prompt;
      const out: Tensor[] = [];
      for (const [lo, hi] of ranges) {
        const logits = model.forward(ids); // (B, T, V)
        const V = logits.shape[2];
        if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && hi > lo && hi <= V)) {
          throw new RangeArgumentError(`greedyDecodeInRanges: range [${lo}, ${hi}) is not inside the vocabulary of ${V} tokens`);
        }
        const next = logits.select(1, logits.shape[1] - 1).narrow(1, lo, hi - lo).argmax(1, true).add(lo); // (B, 1)
        out.push(next);
        ids = cat([ids, next], 1);
      }
      return cat(out, 1);
    }),
  );
}
