// The synthetic multi-task sequences of the spec (methods/jola.md §2(d)):
//   [BOS][TAG] x1 … xn [SEP] y1 … yn [EOS]
// over an alphabet of 16 symbols, n in 3..6, with five tagged tasks (COPY, REVERSE, SORT, INC = +1 mod
// 16, ROTL = rotate left by one) and untagged sequences whose task is random (so "no tag" is ambiguous
// to the base model). The tag slot of an untagged sequence holds a NOTASK placeholder token, which keeps
// every sequence's positions aligned. The downstream task maps untagged inputs to REVERSE.
// Loss and accuracy cover the response only (y1 … yn and EOS); greedy exact match equals "every
// teacher-forced argmax on the response is right" (by induction over the response positions), so one
// forward per batch gives the greedy-decoding exact-match accuracy.
import type { SeededRng } from '../../nn/index.js';

export const TASKS = ['copy', 'reverse', 'sort', 'inc', 'rotl'] as const;
export type TaskName = (typeof TASKS)[number];

export const NUM_SYMBOLS = 16;
export const BOS = 16;
export const SEP = 17;
export const EOS = 18;
export const PAD = 19;
/** Tag token of task i is TAG0 + i. */
export const TAG0 = 20;
export const NOTASK = TAG0 + TASKS.length;
export const VOCAB_SIZE = NOTASK + 1;
/** Targets that carry no loss (prompt and padding), as crossEntropy's default ignoreIndex. */
export const IGNORE = -100;

/** The answer y of task `task` on input x. */
export function solve(task: TaskName, x: readonly number[]): number[] {
  switch (task) {
    case 'copy':
      return [...x];
    case 'reverse':
      return [...x].reverse();
    case 'sort':
      return [...x].sort((a, b) => a - b);
    case 'inc':
      return x.map((v) => (v + 1) % NUM_SYMBOLS);
    case 'rotl':
      return [...x.slice(1), x[0]];
  }
}

/** One example: its input symbols, the tag shown (null = untagged) and the task that produced y. */
export interface Example {
  x: number[];
  tag: TaskName | null;
  task: TaskName;
}

/** Token ids of the full sequence [BOS][TAG] x [SEP] y [EOS] (length 2n + 4). */
export function encode(e: Example): number[] {
  const tag = e.tag === null ? NOTASK : TAG0 + TASKS.indexOf(e.tag);
  return [BOS, tag, ...e.x, SEP, ...solve(e.task, e.x), EOS];
}

/** Longest input the generators produce, and the model positions it needs (inputs are the sequence minus its last token). */
export const MAX_LEN = 6;
export const SEQ_LEN = 2 * MAX_LEN + 3;

export interface InputDistribution {
  /** Symbols x may use. */
  symbols: readonly number[];
  minLen: number;
  maxLen: number;
  /** Draw the symbols of one input without replacement (no repeats within a sequence). */
  distinct: boolean;
}

export const ALL_SYMBOLS: readonly number[] = Array.from({ length: NUM_SYMBOLS }, (_, i) => i);

export function sampleInput(rng: SeededRng, d: InputDistribution, n = rng.range(d.minLen, d.maxLen)): number[] {
  if (d.distinct) {
    if (n > d.symbols.length) throw new RangeError(`jola: ${n} distinct symbols out of ${d.symbols.length}`);
    return rng.shuffle([...d.symbols]).slice(0, n);
  }
  return Array.from({ length: n }, () => rng.pick(d.symbols));
}

/**
 * A pretraining example of length n (all 16 symbols): a tagged task, or (with probability `untagged`)
 * an untagged one with a random task.
 */
export function pretrainExample(rng: SeededRng, untagged: number, distinct: boolean, n = rng.range(3, MAX_LEN)): Example {
  const task = rng.pick(TASKS);
  const x = sampleInput(rng, { symbols: ALL_SYMBOLS, minLen: 3, maxLen: MAX_LEN, distinct }, n);
  return { x, task, tag: rng.next() < untagged ? null : task };
}

/** The downstream task: untagged inputs mean REVERSE. */
export function downstreamExample(rng: SeededRng, d: InputDistribution): Example {
  return { x: sampleInput(rng, d), task: 'reverse', tag: null };
}

/** Host arrays of a batch: inputs (B, T), targets (B, T) with IGNORE outside the response. */
export interface HostBatch {
  rows: number;
  inputs: Int32Array;
  targets: Int32Array;
}

/** Pack examples into next-token (inputs, targets) rows of length SEQ_LEN, right-padded. */
export function packBatch(examples: readonly Example[], T = SEQ_LEN): HostBatch {
  const B = examples.length;
  const inputs = new Int32Array(B * T).fill(PAD);
  const targets = new Int32Array(B * T).fill(IGNORE);
  examples.forEach((e, r) => {
    const s = encode(e);
    if (s.length - 1 > T) throw new RangeError(`jola: a sequence of ${s.length} tokens does not fit T = ${T}`);
    const sep = s.indexOf(SEP);
    for (let t = 0; t < s.length - 1; t++) {
      inputs[r * T + t] = s[t];
      // Position t predicts s[t + 1]; the response starts after SEP.
      if (t >= sep) targets[r * T + t] = s[t + 1];
    }
  });
  return { rows: B, inputs, targets };
}

/** Rows whose every response target equals the argmax prediction (B·T predictions, row-major). */
export function exactMatches(pred: ArrayLike<number>, targets: ArrayLike<number>, rows: number, T = SEQ_LEN): { exact: number; tokens: number; correctTokens: number } {
  let exact = 0, tokens = 0, correctTokens = 0;
  for (let r = 0; r < rows; r++) {
    let ok = true;
    for (let t = 0; t < T; t++) {
      const y = targets[r * T + t];
      if (y === IGNORE) continue;
      tokens++;
      if (pred[r * T + t] === y) correctTokens++;
      else ok = false;
    }
    if (ok) exact++;
  }
  return { exact, tokens, correctTokens };
}
