// The spec's synthetic classification task (§4(d)): "d1 d2 … dn =" → (d1 + … + dn) mod 10, n ~ U{1..6}.
// One answer token, a label set of ten digit tokens; difficulty rises with n. Sequences are
// [BOS, d1, …, dn, EQ]: the answer is read at EQ, the last position. Batches of mixed n are padded on
// the right: causal attention means EQ never sees the padding, so no mask is needed.
import type { SeededRng } from '../../nn/index.js';

/** Token ids: the ten digits are 0..9 (so label token = digit), then '=', BOS and PAD. */
export const NUM_CLASSES = 10;
export const EQ = 10;
export const BOS = 11;
export const PAD = 12;
export const VOCAB_SIZE = 13;
export const MAX_DIGITS = 6;
/** BOS + up to six digits + EQ. */
export const SEQ_LEN = MAX_DIGITS + 2;
/** Targets crossEntropy ignores (its default ignoreIndex). */
export const IGNORE = -100;

export interface Query {
  digits: number[];
  /** (Σ digits) mod 10. */
  answer: number;
}

export function makeQuery(rng: SeededRng, minDigits = 1, maxDigits = MAX_DIGITS): Query {
  const n = rng.range(minDigits, maxDigits);
  const digits = Array.from({ length: n }, () => rng.int(10));
  return { digits, answer: digits.reduce((a, d) => a + d, 0) % 10 };
}

/** The token sequence of a query (without the answer): BOS, digits, EQ. */
export const tokensOf = (q: Query): number[] => [BOS, ...q.digits, EQ];

/**
 * Inputs (B, T) and targets (B, T) of a training batch: the target at EQ is the answer, every other
 * position is ignored; rows shorter than T are padded on the right (after EQ).
 */
export function packBatch(queries: readonly Query[], T = SEQ_LEN, runningSums = false): { inputs: Int32Array; targets: Int32Array } {
  const inputs = new Int32Array(queries.length * T).fill(PAD);
  const targets = new Int32Array(queries.length * T).fill(IGNORE);
  queries.forEach((q, r) => {
    const t = tokensOf(q);
    if (t.length > T) throw new RangeError(`packBatch: a query of ${q.digits.length} digits needs ${t.length} positions, T is ${T}`);
    inputs.set(t, r * T);
    targets[r * T + t.length - 1] = q.answer;
    if (runningSums) {
      // Denser supervision: after each digit, the running sum mod 10 (the answer of that prefix as a query).
      let sum = 0;
      q.digits.forEach((d, i) => (targets[r * T + 1 + i] = sum = (sum + d) % 10));
    }
  });
  return { inputs, targets };
}

/** Features of the learned baselines (spec §4(d) 4–5): one-hot n (6) and the digit histogram (10); with the small model's prediction one-hot (10) for the cascade scorer. */
export function queryFeatures(q: Query, smallPrediction?: number): number[] {
  const f = new Array<number>(MAX_DIGITS + NUM_CLASSES + (smallPrediction === undefined ? 0 : NUM_CLASSES)).fill(0);
  f[q.digits.length - 1] = 1;
  for (const d of q.digits) f[MAX_DIGITS + d] += 1;
  if (smallPrediction !== undefined) f[MAX_DIGITS + NUM_CLASSES + smallPrediction] = 1;
  return f;
}
