// The synthetic preference data of the spec's small-scale experiment (§3d), rendered as text so the
// length feature can be the paper's character count.
//
// A response is ℓ ~ U{minLen..maxLen} words; with a quality rate p ~ U(0, 1) each word is "good" with
// probability p, otherwise "neutral". True quality q = the share of good words: independent of the
// length by construction. The good and the neutral words have the same character lengths (3..10
// letters, one word of each length), so the character count is independent of q too.
//
// The annotator prefers a over b with P = σ(qualityWeight (q_a − q_b) + lengthWeight (ln c_a − ln c_b)),
// c the length in the configured unit: a logarithmic length bias (lengthWeight 2), or none
// (lengthWeight 0, the unbiased annotator). The evaluation pairs are labelled by q alone.
import { SeededRng } from '../../nn/index.js';
import type { LengthUnit } from './config.js';

/** Token ids 0..7: good words; 8..15: neutral words. Same length multiset in both halves. */
export const GOOD_WORDS = ['apt', 'kind', 'clear', 'honest', 'correct', 'accurate', 'wonderful', 'insightful'] as const;
export const NEUTRAL_WORDS = ['the', 'also', 'which', 'really', 'perhaps', 'actually', 'generally', 'additional'] as const;
export const VOCAB: readonly string[] = [...GOOD_WORDS, ...NEUTRAL_WORDS];
export const isGood = (id: number) => id < GOOD_WORDS.length;

export interface Response {
  ids: number[];
  /** The words joined by single spaces. */
  text: string;
  /** Share of good words. */
  quality: number;
  tokens: number;
  chars: number;
}

export interface ResponseOptions {
  minLen: number;
  maxLen: number;
}

export function sampleResponse(rng: SeededRng, o: ResponseOptions): Response {
  const tokens = rng.range(o.minLen, o.maxLen);
  const p = rng.next();
  const ids = Array.from({ length: tokens }, () => (rng.next() < p ? rng.int(GOOD_WORDS.length) : GOOD_WORDS.length + rng.int(NEUTRAL_WORDS.length)));
  const text = ids.map((i) => VOCAB[i]).join(' ');
  return { ids, text, quality: ids.filter(isGood).length / tokens, tokens, chars: text.length };
}

export const lengthOf = (r: Response, unit: LengthUnit) => (unit === 'chars' ? r.chars : r.tokens);

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export interface AnnotatorOptions {
  qualityWeight: number;
  /** 0: unbiased. */
  lengthWeight: number;
  unit: LengthUnit;
}

/** The annotator's P(a ≻ b). */
export function preferenceProbability(a: Response, b: Response, o: AnnotatorOptions): number {
  return sigmoid(o.qualityWeight * (a.quality - b.quality) + o.lengthWeight * (Math.log(lengthOf(a, o.unit)) - Math.log(lengthOf(b, o.unit))));
}

/** Pairs for reward-model training: responses a, b and the annotator's sampled label (1: a ≻ b) and probability. */
export interface TrainPairs {
  a: Response[];
  b: Response[];
  label: Float32Array;
  probability: Float64Array;
}

/** `n` fresh pairs; labels drawn from `labelRng` so two annotators can label the same responses. */
export function samplePairs(rng: SeededRng, n: number, o: ResponseOptions): { a: Response[]; b: Response[] } {
  const a: Response[] = [], b: Response[] = [];
  for (let i = 0; i < n; i++) (a.push(sampleResponse(rng, o)), b.push(sampleResponse(rng, o)));
  return { a, b };
}

export function annotate(pairs: { a: Response[]; b: Response[] }, labelRng: SeededRng, o: AnnotatorOptions): TrainPairs {
  const probability = Float64Array.from(pairs.a, (a, i) => preferenceProbability(a, pairs.b[i], o));
  const label = Float32Array.from(probability, (p) => (labelRng.next() < p ? 1 : 0));
  return { ...pairs, label, probability };
}

/** Evaluation pairs ("RewardBench-like"): gold = higher q; kept when |Δq| >= minQualityGap and the lengths differ. */
export interface EvalPairs {
  chosen: Response[];
  rejected: Response[];
  /** Sampled before the filter. */
  drawn: number;
}

export function sampleEvalPairs(rng: SeededRng, n: number, o: ResponseOptions & { minQualityGap: number; unit: LengthUnit }): EvalPairs {
  const chosen: Response[] = [], rejected: Response[] = [];
  for (let i = 0; i < n; i++) {
    const x = sampleResponse(rng, o), y = sampleResponse(rng, o);
    if (Math.abs(x.quality - y.quality) < o.minQualityGap || lengthOf(x, o.unit) === lengthOf(y, o.unit)) continue;
    const [c, r] = x.quality > y.quality ? [x, y] : [y, x];
    chosen.push(c);
    rejected.push(r);
  }
  return { chosen, rejected, drawn: n };
}

/** Mean binary entropy of the labels' probabilities: the Bradley–Terry loss of the annotator's own model (the floor). */
export function labelEntropy(probability: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < probability.length; i++) {
    const p = probability[i];
    if (p > 0 && p < 1) s -= p * Math.log(p) + (1 - p) * Math.log(1 - p);
  }
  return s / probability.length;
}

/** Token ids padded to `maxLen` with 0 and a 1/0 mask, row-major (responses, maxLen). */
export function padBatch(responses: readonly Response[], maxLen: number): { ids: Int32Array; mask: Float32Array } {
  const ids = new Int32Array(responses.length * maxLen);
  const mask = new Float32Array(responses.length * maxLen);
  responses.forEach((r, i) => {
    if (r.tokens > maxLen) throw new RangeError(`reward-calibration: a response of ${r.tokens} tokens exceeds maxLen ${maxLen}`);
    r.ids.forEach((id, t) => ((ids[i * maxLen + t] = id), (mask[i * maxLen + t] = 1)));
  });
  return { ids, mask };
}
