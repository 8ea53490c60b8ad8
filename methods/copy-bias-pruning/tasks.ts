// The ICL task family of the spec (§3(d)): episodes "BOS x₁ → y₁ , … , x_k → y_k , x_q → y_q" where each
// x is 2–6 letters from a–p and each y one digit, under a hidden function drawn per episode:
//   F1 count of {a, e, i, o} (the proxy "vowel count"), F2 count of {b, c, d, f}, F3 length of x,
//   F4 index of the first {a, e, i, o} letter (9 if none),
//   F5 LOOKUP: arbitrary labels, and x_q repeats one demonstration, whose label is the answer
//      (genuine copying), F6 CONSTANT: every label the same.
// F5 and F6 reward copying a demonstration's label; a small model over-applies that to novel queries
// (copy bias). Label tokens are the digits 0..9 themselves (token id = digit), so a prediction restricted
// to the first ten logits is a digit. Batches are padded on the right; with causal attention the
// query's "→" never sees the padding.
import type { SeededRng } from '../../nn/index.js';

export const NUM_LABELS = 10;
export const NUM_LETTERS = 16;
/** Letters a..p are tokens 10..25. */
export const LETTER0 = 10;
export const ARROW = 26;
export const COMMA = 27;
export const BOS = 28;
export const PAD = 29;
export const VOCAB_SIZE = 30;
export const MIN_LEN = 2;
export const MAX_LEN = 6;
export const MAX_SHOTS = 4;
/** BOS + 5 × (6 letters, →, label) + 4 commas, less the final label (the input stops at the query's →). */
export const SEQ_LEN = 1 + (MAX_SHOTS + 1) * (MAX_LEN + 2) + MAX_SHOTS - 1;
/** Targets crossEntropy ignores (its default ignoreIndex). */
export const IGNORE = -100;

export const FAMILIES = ['vowels', 'consonants', 'length', 'firstVowel', 'lookup', 'constant'] as const;
export type Family = (typeof FAMILIES)[number];
/** The computable functions F1–F4 (the tasks whose answer a copy gets wrong when gold ∉ demo labels). */
export const FUNCTIONS = ['vowels', 'consonants', 'length', 'firstVowel'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

const V = new Set([0, 4, 8, 14]); // a, e, i, o (letters as 0..15)
const W = new Set([1, 2, 3, 5]); // b, c, d, f

/** The label of input `x` (letters 0..15) under a computable function. */
export function apply(f: FunctionName, x: readonly number[]): number {
  switch (f) {
    case 'vowels': return x.filter((l) => V.has(l)).length;
    case 'consonants': return x.filter((l) => W.has(l)).length;
    case 'length': return x.length;
    case 'firstVowel': {
      const i = x.findIndex((l) => V.has(l));
      return i < 0 ? 9 : i;
    }
  }
}

export interface Episode {
  family: Family;
  /** Demonstrations (k of them), then the query. */
  demos: { x: number[]; y: number }[];
  query: number[];
  answer: number;
}

export function randomInput(rng: SeededRng): number[] {
  return Array.from({ length: rng.range(MIN_LEN, MAX_LEN) }, () => rng.int(NUM_LETTERS));
}

/** Mixture weights of the pretraining families (the spec's: lookup 35%, constant 5%, the rest evenly). */
export interface FamilyMix {
  lookup: number;
  constant: number;
}

export function pickFamily(rng: SeededRng, mix: FamilyMix): Family {
  const u = rng.next();
  if (u < mix.lookup) return 'lookup';
  if (u < mix.lookup + mix.constant) return 'constant';
  return FUNCTIONS[rng.int(FUNCTIONS.length)];
}

/** One episode of `family` with `shots` demonstrations. */
export function episode(rng: SeededRng, family: Family, shots = MAX_SHOTS): Episode {
  if (!(Number.isInteger(shots) && shots >= 1 && shots <= MAX_SHOTS)) throw new RangeError(`episode: shots must be in 1..${MAX_SHOTS}, got ${shots}`);
  const xs = Array.from({ length: shots }, () => randomInput(rng));
  const query = randomInput(rng);
  if (family === 'lookup') {
    const demos = xs.map((x) => ({ x, y: rng.int(NUM_LABELS) }));
    const j = rng.int(shots);
    return { family, demos, query: [...demos[j].x], answer: demos[j].y };
  }
  if (family === 'constant') {
    const c = rng.int(NUM_LABELS);
    return { family, demos: xs.map((x) => ({ x, y: c })), query, answer: c };
  }
  return { family, demos: xs.map((x) => ({ x, y: apply(family, x) })), query, answer: apply(family, query) };
}

/** The episode's gold answer is not among its demonstration labels (a copy is then always wrong). */
export const goldNotInDemos = (e: Episode): boolean => e.demos.every((d) => d.y !== e.answer);

/** An episode of a computable function whose answer is not among the demonstration labels (rejection sampling). */
export function copyBiasedEpisode(rng: SeededRng, f: FunctionName, shots = MAX_SHOTS): Episode {
  for (let tries = 0; tries < 10_000; tries++) {
    const e = episode(rng, f, shots);
    if (goldNotInDemos(e)) return e;
  }
  throw new Error(`copyBiasedEpisode: no ${f} episode with the gold label outside the demonstrations in 10000 draws`);
}

/** The prompt tokens (ending at the query's →) and, per position, the label it must predict (IGNORE elsewhere). */
export function encode(e: Episode, trainDemoLabels = true): { tokens: number[]; targets: number[] } {
  const tokens = [BOS];
  const targets = [IGNORE];
  e.demos.forEach((d, i) => {
    if (i > 0) (tokens.push(COMMA), targets.push(IGNORE));
    for (const l of d.x) (tokens.push(LETTER0 + l), targets.push(IGNORE));
    tokens.push(ARROW);
    targets.push(trainDemoLabels ? d.y : IGNORE); // predicted at →
    tokens.push(d.y);
    targets.push(IGNORE);
  });
  tokens.push(COMMA);
  targets.push(IGNORE);
  for (const l of e.query) (tokens.push(LETTER0 + l), targets.push(IGNORE));
  tokens.push(ARROW);
  targets.push(e.answer);
  return { tokens, targets };
}

/** The zero-shot prompt "BOS x_q →" (the task-vector patching target). */
export function zeroShotTokens(query: readonly number[]): number[] {
  return [BOS, ...query.map((l) => LETTER0 + l), ARROW];
}

export interface HostBatch {
  rows: number;
  T: number;
  inputs: Int32Array;
  targets: Int32Array;
  /** Per row, the position of the last token (the query's →, where the answer is read). */
  last: number[];
}

/** Right-padded (rows, T) token and target arrays; T defaults to the longest row. */
export function packRows(rows: readonly { tokens: number[]; targets?: number[] }[], T = Math.max(...rows.map((r) => r.tokens.length))): HostBatch {
  const inputs = new Int32Array(rows.length * T).fill(PAD);
  const targets = new Int32Array(rows.length * T).fill(IGNORE);
  const last: number[] = [];
  rows.forEach((r, i) => {
    if (r.tokens.length > T) throw new RangeError(`packRows: a row of ${r.tokens.length} tokens does not fit T = ${T}`);
    inputs.set(r.tokens, i * T);
    if (r.targets) targets.set(r.targets, i * T);
    last.push(r.tokens.length - 1);
  });
  return { rows: rows.length, T, inputs, targets, last };
}

/** A pretraining batch: lookup episodes train only the query (their demonstration labels are arbitrary). `families` gives each row's family. */
export function trainBatch(rng: SeededRng, batchSize: number, mix: FamilyMix): HostBatch & { families: Family[] } {
  const eps = Array.from({ length: batchSize }, () => episode(rng, pickFamily(rng, mix)));
  return { ...packRows(eps.map((e) => encode(e, e.family !== 'lookup'))), families: eps.map((e) => e.family) };
}

/**
 * Per-token loss weights (rows, T) of a training batch: `lookupWeight` on a LOOKUP row's label token, 1 on
 * every other label token, 0 where the target is IGNORE.
 */
export function lossWeights(b: HostBatch & { families: Family[] }, lookupWeight: number): Float32Array {
  const w = new Float32Array(b.rows * b.T);
  for (let i = 0; i < w.length; i++) if (b.targets[i] !== IGNORE) w[i] = b.families[Math.floor(i / b.T)] === 'lookup' ? lookupWeight : 1;
  return w;
}
