// The synthetic world of the spec (methods/untrac.md §2d): training "corpora" that are mixtures of
// Markov "topics" (base chains), and test sets that are pure topics. Base 0 is deterministic (a
// permutation successor map), so only corpora rich in it teach it, and leaving one of them out of
// training visibly raises that test set's loss: the ground truth has a clear structure to recover.
import { SeededRng } from '../../nn/index.js';

export interface TopicWorldOptions {
  /** Ordinary tokens (the BOS token gets id `vocab`). */
  vocab: number;
  /** Tokens after BOS in a sequence. */
  seqLen: number;
  /** Base chains ("topics"); base 0 is deterministic. */
  bases: number;
  /** Successors of each token in a stochastic base. */
  successors: number;
  /** Dirichlet concentration of a stochastic base's successor weights. */
  successorAlpha: number;
  /** Dirichlet concentration of a stochastic base's start distribution. */
  startAlpha: number;
  /** Size shares of the training corpora (their count is K); normalised. */
  corpusShares: number[];
  /** Training sequences over all corpora. */
  trainSequences: number;
  /** Mixture weights of corpus 0 over the bases (the base-0-rich corpus). */
  corpus0Weights: number[];
  /** Dirichlet concentration of the other corpora's mixture weights. */
  mixtureAlpha: number;
  /** Factor on the other corpora's base-0 weight before renormalising. */
  base0Scale: number;
  /** Sequences per test set (one test set per base). */
  testSequences: number;
  /** Seeds the chains, the corpora and the test sets. */
  seed: number;
}

export const WORLD_DEFAULTS: TopicWorldOptions = {
  vocab: 24,
  seqLen: 16,
  bases: 4,
  successors: 3,
  successorAlpha: 0.7,
  startAlpha: 0.3,
  corpusShares: [0.35, 0.25, 0.15, 0.1, 0.1, 0.05],
  trainSequences: 4000,
  corpus0Weights: [0.8, 0.1, 0.05, 0.05],
  mixtureAlpha: 0.5,
  base0Scale: 0.15,
  testSequences: 64,
  seed: 0,
};

/** Index drawn from unnormalised weights w with u in [0, 1). */
function draw(w: readonly number[], u: number): number {
  const s = w.reduce((a, b) => a + b, 0);
  let acc = 0;
  for (let i = 0; i < w.length; i++) if (u * s < (acc += w[i])) return i;
  return w.length - 1;
}

/** One Markov chain over the ordinary tokens: start weights and, per token, successors with weights. */
interface Chain {
  start: number[];
  next: { ids: number[]; w: number[] }[];
}

/** Sequences as (N, seqLen + 1) rows: BOS then seqLen tokens. Inputs are columns 0..L-1, targets 1..L. */
export interface SequenceSet {
  rows: number;
  tokens: Int32Array;
}

export class TopicWorld {
  readonly options: TopicWorldOptions;
  readonly bos: number;
  readonly vocabSize: number;
  readonly chains: Chain[];
  /** Per corpus, its mixture weights over the bases. */
  readonly mixtures: number[][];
  /** Per corpus, its sequences and the base each came from. */
  readonly corpora: (SequenceSet & { base: Int32Array })[];
  /** Per base, a test set of pure sequences of that base. */
  readonly tests: SequenceSet[];

  constructor(options: Partial<TopicWorldOptions> = {}) {
    const o = (this.options = { ...WORLD_DEFAULTS, ...options });
    if (o.corpus0Weights.length !== o.bases) throw new RangeError(`TopicWorld: corpus0Weights has ${o.corpus0Weights.length} weights for ${o.bases} bases`);
    if (o.corpusShares.length < 2) throw new RangeError('TopicWorld: needs at least two corpora');
    if (o.successors > o.vocab) throw new RangeError(`TopicWorld: ${o.successors} successors exceed the ${o.vocab} tokens`);
    this.bos = o.vocab;
    this.vocabSize = o.vocab + 1;
    const rng = new SeededRng(`untrac-world:${o.seed}`);
    this.chains = Array.from({ length: o.bases }, (_, b) => (b === 0 ? this.permutationChain(rng.fork('base0')) : this.sparseChain(rng.fork(`base${b}`))));
    const K = o.corpusShares.length;
    const mixRng = rng.fork('mixtures');
    this.mixtures = Array.from({ length: K }, (_, k) => {
      if (k === 0) return normalise(o.corpus0Weights);
      const w = mixRng.dirichlet(o.bases, o.mixtureAlpha);
      w[0] *= o.base0Scale;
      return normalise(w);
    });
    const shares = normalise(o.corpusShares);
    const sizes = shares.map((s) => Math.max(1, Math.round(s * o.trainSequences)));
    this.corpora = sizes.map((n, k) => {
      const r = rng.fork(`corpus${k}`);
      const base = Int32Array.from({ length: n }, () => draw(this.mixtures[k], r.next()));
      return { rows: n, base, tokens: this.sampleRows(Array.from(base), r) };
    });
    this.tests = Array.from({ length: o.bases }, (_, b) => ({ rows: o.testSequences, tokens: this.sampleRows(Array(o.testSequences).fill(b), rng.fork(`test${b}`)) }));
  }

  get numCorpora(): number {
    return this.corpora.length;
  }

  private permutationChain(rng: SeededRng): Chain {
    const V = this.options.vocab;
    const perm = rng.shuffle(Array.from({ length: V }, (_, i) => i));
    return { start: Array(V).fill(1), next: perm.map((j) => ({ ids: [j], w: [1] })) };
  }

  private sparseChain(rng: SeededRng): Chain {
    const { vocab: V, successors: S, successorAlpha, startAlpha } = this.options;
    const next = Array.from({ length: V }, () => {
      const ids = rng.shuffle(Array.from({ length: V }, (_, i) => i)).slice(0, S);
      return { ids, w: rng.dirichlet(S, successorAlpha) };
    });
    return { start: rng.dirichlet(V, startAlpha), next };
  }

  /** One row per entry of `bases`: BOS then seqLen tokens of that base's chain. */
  private sampleRows(bases: number[], rng: SeededRng): Int32Array {
    const L = this.options.seqLen + 1;
    const out = new Int32Array(bases.length * L);
    bases.forEach((b, r) => {
      const c = this.chains[b];
      out[r * L] = this.bos;
      let t = draw(c.start, rng.next());
      for (let i = 1; i < L; i++) {
        out[r * L + i] = t;
        const n = c.next[t];
        t = n.ids[draw(n.w, rng.next())];
      }
    });
    return out;
  }

  /** Entropy (nats) of the unigram distribution of a set's target tokens: the loss of a context-free model fit to it. */
  unigramEntropy(set: SequenceSet): number {
    const L = this.options.seqLen + 1;
    const counts = new Float64Array(this.vocabSize);
    for (let r = 0; r < set.rows; r++) for (let i = 1; i < L; i++) counts[set.tokens[r * L + i]]++;
    const n = set.rows * (L - 1);
    return -Array.from(counts).reduce((a, c) => a + (c > 0 ? (c / n) * Math.log(c / n) : 0), 0);
  }
}

/**
 * Draws training batches from the corpora with probability ∝ size, some corpora left out. A left-out
 * run is coupled to the full run on the same seed: every slot draws the same three uniforms (corpus
 * over all corpora, row, and a second corpus draw), and only where the first draw hits a left-out
 * corpus is the second draw used, over the remaining corpora ∝ size. That is exactly sampling ∝ size
 * from the rest, and every other slot holds the same sequence as in the full run.
 */
export class CorpusSampler {
  private readonly rng: SeededRng;
  private readonly all: number[];
  private readonly kept: number[];
  constructor(private readonly world: TopicWorld, seed: number, private readonly exclude: readonly number[] = []) {
    this.rng = new SeededRng(`untrac-batches:${seed}`);
    this.all = world.corpora.map((c) => c.rows);
    this.kept = world.corpora.map((c, k) => (exclude.includes(k) ? 0 : c.rows));
    if (this.kept.every((w) => w === 0)) throw new RangeError('CorpusSampler: every corpus is excluded');
  }

  /** `rows` sequences as (rows, seqLen + 1) tokens. */
  batch(rows: number): SequenceSet {
    const L = this.world.options.seqLen + 1;
    const out = new Int32Array(rows * L);
    for (let r = 0; r < rows; r++) {
      const u1 = this.rng.next(), u2 = this.rng.next(), u3 = this.rng.next();
      let k = draw(this.all, u1);
      if (this.exclude.includes(k)) k = draw(this.kept, u3);
      const c = this.world.corpora[k];
      const i = Math.min(c.rows - 1, Math.floor(u2 * c.rows));
      out.set(c.tokens.subarray(i * L, (i + 1) * L), r * L);
    }
    return { rows, tokens: out };
  }
}

/** The first `n` rows of each corpus after a seeded shuffle: the influence sample of that corpus. */
export function influenceSample(world: TopicWorld, k: number, n: number, seed: number): SequenceSet {
  const c = world.corpora[k];
  const L = world.options.seqLen + 1;
  const idx = new SeededRng(`untrac-sample:${seed}:${k}`).shuffle(Array.from({ length: c.rows }, (_, i) => i)).slice(0, Math.min(n, c.rows));
  const out = new Int32Array(idx.length * L);
  idx.forEach((i, r) => out.set(c.tokens.subarray(i * L, (i + 1) * L), r * L));
  return { rows: idx.length, tokens: out };
}

/** Rows [start, start + count) of a set. */
export function sliceRows(set: SequenceSet, start: number, count: number, seqLen: number): SequenceSet {
  const L = seqLen + 1;
  const n = Math.max(0, Math.min(count, set.rows - start));
  return { rows: n, tokens: set.tokens.subarray(start * L, (start + n) * L) };
}

function normalise(w: readonly number[]): number[] {
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
}
