// Host side of CTC models: greedy (best-path) decoding and edit-distance error rates (CER / WER as
// jiwer and Hugging Face `evaluate` compute them: total edits over total reference length).
import { RangeArgumentError, ShapeError } from '../engine/index.js';

/**
 * Best-path decoding of one sequence: the argmax label per frame (first `length` frames), repeats
 * collapsed, then blanks removed. `a a _ a b b` → `a a b`.
 */
export function ctcGreedyDecode(frameLabels: ArrayLike<number>, length = frameLabels.length, blank = 0): number[] {
  if (length > frameLabels.length) throw new ShapeError(`ctcGreedyDecode: length ${length} exceeds the ${frameLabels.length} frame labels`);
  const out: number[] = [];
  let prev = -1;
  for (let t = 0; t < length; t++) {
    const k = frameLabels[t];
    if (k !== prev && k !== blank) out.push(k);
    prev = k;
  }
  return out;
}

/**
 * Greedy decoding of a batch from the argmax of log-probs laid out (B, T) row-major, sequence b using
 * its first lengths[b] frames.
 */
export function ctcGreedyDecodeBatch(argmax: ArrayLike<number>, batch: number, frames: number, lengths: ArrayLike<number>, blank = 0): number[][] {
  if (argmax.length !== batch * frames) throw new ShapeError(`ctcGreedyDecodeBatch: ${argmax.length} labels for (B ${batch}, T ${frames})`);
  return Array.from({ length: batch }, (_, b) => ctcGreedyDecode(Array.prototype.slice.call(argmax, b * frames, (b + 1) * frames), lengths[b], blank));
}

/** Levenshtein distance (unit substitution, insertion and deletion costs) between two sequences. */
export function editDistance<T>(a: ArrayLike<T>, b: ArrayLike<T>): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** Σ editDistance(ref, hyp) / Σ |ref| over the pairs (corpus-level, as jiwer): CER on characters, WER on words. */
export function errorRate<T>(references: readonly ArrayLike<T>[], hypotheses: readonly ArrayLike<T>[]): number {
  if (references.length !== hypotheses.length) throw new ShapeError(`errorRate: ${references.length} references but ${hypotheses.length} hypotheses`);
  let edits = 0, total = 0;
  references.forEach((r, i) => {
    edits += editDistance(r, hypotheses[i]);
    total += r.length;
  });
  if (total === 0) throw new RangeArgumentError('errorRate: the references are all empty');
  return edits / total;
}

/** Character error rate of strings. */
export const characterErrorRate = (references: readonly string[], hypotheses: readonly string[]) => errorRate(references, hypotheses);

/** Word error rate of strings split on whitespace. */
export const wordErrorRate = (references: readonly string[], hypotheses: readonly string[]) =>
  errorRate(references.map((s) => s.split(/\s+/).filter(Boolean)), hypotheses.map((s) => s.split(/\s+/).filter(Boolean)));
