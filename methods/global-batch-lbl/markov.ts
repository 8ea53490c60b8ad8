// Synthetic multi-domain corpus of the spec (methods/global-batch-lbl.md §1(d)): each domain is a sparse
// order-2 Markov chain over its own "core" tokens plus a pool of shared tokens. Domains differ only in
// their transition structure, so routing by domain is learnable exactly and cheaply; shared tokens occur
// in every domain, so routing them by domain needs context, not token identity.
import { SeededRng } from '../../nn/index.js';

export interface MarkovDomainsOptions {
  domains: number;
  /** Core tokens per domain (disjoint between domains). */
  coreTokens: number;
  /** Tokens shared by every domain (ids after all core tokens). */
  sharedTokens: number;
  /**
   * Order of the chains: 2 (the spec: the context is (t-2, t-1)) or 1 (the context is t-1 only). The
   * order-2 chains have 4 × 56² = 12.5k contexts to memorise, which a 0.2M-parameter model does not
   * begin to learn within this budget (README); order 1 keeps the domain-specific sparse transitions.
   */
  order: number;
  /** Allowed next tokens per context. */
  branching: number;
  /** Probability that an allowed next token is drawn from the shared pool (≈ share of shared tokens). */
  sharedShare: number;
  /** Dirichlet concentration of each context's next-token probabilities. */
  alpha: number;
  /** Seeds the chains (the structure), not the sampling. */
  seed: number;
}

export const MARKOV_DEFAULTS: MarkovDomainsOptions = { domains: 4, coreTokens: 24, sharedTokens: 32, order: 2, branching: 4, sharedShare: 0.3, alpha: 0.5, seed: 0 };

/** The chains of every domain, and samplers of domain-pure sequences. */
export class MarkovDomains {
  readonly options: MarkovDomainsOptions;
  readonly vocabSize: number;
  /** Per domain, its alphabet (core ids then shared ids). */
  private readonly alphabets: Int32Array[];
  /** Per domain: for context (a, b) (indices into the alphabet), `branching` next-token alphabet indices and cumulative probabilities. */
  private readonly next: Int32Array[];
  private readonly cum: Float64Array[];

  constructor(options: Partial<MarkovDomainsOptions> = {}) {
    const o = (this.options = { ...MARKOV_DEFAULTS, ...options });
    if (o.order !== 1 && o.order !== 2) throw new RangeError(`MarkovDomains: order must be 1 or 2, got ${o.order}`);
    this.vocabSize = o.domains * o.coreTokens + o.sharedTokens;
    const shared = Array.from({ length: o.sharedTokens }, (_, i) => o.domains * o.coreTokens + i);
    this.alphabets = [];
    this.next = [];
    this.cum = [];
    for (let d = 0; d < o.domains; d++) {
      const rng = new SeededRng(`markov:${o.seed}:${d}`);
      const alphabet = Int32Array.from([...Array.from({ length: o.coreTokens }, (_, i) => d * o.coreTokens + i), ...shared]);
      const A = alphabet.length, K = o.branching, C = o.order === 2 ? A * A : A;
      const next = new Int32Array(C * K);
      const cum = new Float64Array(C * K);
      for (let c = 0; c < C; c++) {
        const used = new Set<number>();
        const w: number[] = [];
        for (let k = 0; k < K; k++) {
          let j: number;
          do j = rng.next() < o.sharedShare ? o.coreTokens + rng.int(o.sharedTokens) : rng.int(o.coreTokens);
          while (used.has(j));
          used.add(j);
          next[c * K + k] = j;
          w.push(rng.gamma(o.alpha));
        }
        const s = w.reduce((a, b) => a + b, 0);
        let acc = 0;
        for (let k = 0; k < K; k++) cum[c * K + k] = acc += w[k] / s;
        cum[c * K + K - 1] = 1;
      }
      this.alphabets.push(alphabet);
      this.next.push(next);
      this.cum.push(cum);
    }
  }

  get numDomains(): number {
    return this.options.domains;
  }

  /** Is token id shared by all domains? */
  isShared(id: number): boolean {
    return id >= this.options.domains * this.options.coreTokens;
  }

  /** One sequence of `length` token ids from domain d, starting at a random context. */
  sample(d: number, length: number, rng: SeededRng, out = new Int32Array(length)): Int32Array {
    const alphabet = this.alphabets[d], next = this.next[d], cum = this.cum[d];
    const A = alphabet.length, K = this.options.branching;
    let a = rng.int(A), b = rng.int(A);
    // Burn in a few steps so the start is on the chain, not on a uniform pair.
    const order2 = this.options.order === 2;
    for (let t = -4; t < length; t++) {
      const c = order2 ? a * A + b : b;
      const u = rng.next();
      let k = 0;
      while (k < K - 1 && u > cum[c * K + k]) k++;
      const n = next[c * K + k];
      if (t >= 0) out[t] = alphabet[n];
      a = b;
      b = n;
    }
    return out;
  }

  /** Index of token `id` in domain d's alphabet (core tokens first, then shared), or -1 when d cannot emit it. */
  private alphabetIndex(d: number, id: number): number {
    const { domains, coreTokens } = this.options;
    if (this.isShared(id)) return coreTokens + (id - domains * coreTokens);
    return Math.floor(id / coreTokens) === d ? id % coreTokens : -1;
  }

  /** The chain's probability of `next` after the context (prev2, prev1) in domain d (token ids; order 1 ignores prev2). */
  prob(d: number, prev2: number, prev1: number, next: number): number {
    const A = this.alphabets[d].length, K = this.options.branching;
    const a = this.alphabetIndex(d, prev2), b = this.alphabetIndex(d, prev1), n = this.alphabetIndex(d, next);
    const order2 = this.options.order === 2;
    if ((order2 && a < 0) || b < 0 || n < 0) return 0;
    const c = order2 ? a * A + b : b;
    for (let k = 0; k < K; k++) if (this.next[d][c * K + k] === n) return this.cum[d][c * K + k] - (k ? this.cum[d][c * K + k - 1] : 0);
    return 0;
  }

  /** `rows` sequences of T+1 tokens of domain d, as inputs/targets (rows, T) row-major. */
  batch(d: number, rows: number, T: number, rng: SeededRng): { inputs: Int32Array; targets: Int32Array } {
    const inputs = new Int32Array(rows * T), targets = new Int32Array(rows * T);
    const seq = new Int32Array(T + 1);
    for (let r = 0; r < rows; r++) {
      this.sample(d, T + 1, rng, seq);
      inputs.set(seq.subarray(0, T), r * T);
      targets.set(seq.subarray(1), r * T);
    }
    return { inputs, targets };
  }
}

/** Reference levels of held-out loss (nats/token) that a trained model's loss is read against. */
export interface LossLevels {
  /**
   * The entropy floor: mean −log p(target | the two previous tokens) under the true chains, over the
   * held-out targets that have both previous tokens in the window (every position but the first).
   */
  entropyFloor: number;
  /**
   * The domain-conditional unigram level: cross-entropy of the held-out targets under each domain's
   * token frequencies (estimated from `unigramSample` fresh tokens per domain, add-½ smoothing); what a
   * model that knows the domain but no sequence structure scores.
   */
  unigram: number;
  /** The same with one token frequency table for all domains (no domain, no structure). */
  globalUnigram: number;
}

/** The loss levels of held-out batches `heldout[d]` (inputs/targets (rows, T) row-major) of the chains `m`. */
export function lossLevels(m: MarkovDomains, heldout: { inputs: Int32Array; targets: Int32Array; rows: number }[][], unigramSample = 200_000): LossLevels {
  const V = m.vocabSize, D = m.numDomains;
  const rng = new SeededRng(`unigram:${m.options.seed}`);
  const counts = Array.from({ length: D }, () => new Float64Array(V).fill(0.5));
  const all = new Float64Array(V).fill(0.5);
  const seq = new Int32Array(1024);
  for (let d = 0; d < D; d++) {
    for (let left = unigramSample; left > 0; left -= seq.length) {
      m.sample(d, seq.length, rng, seq);
      for (const id of seq) (counts[d][id]++, all[id]++);
    }
  }
  const logFreq = (c: Float64Array) => {
    const s = c.reduce((a, v) => a + v, 0);
    return Float64Array.from(c, (v) => Math.log(v / s));
  };
  const perDomain = counts.map(logFreq), pooled = logFreq(all);
  let floor = 0, floorN = 0, uni = 0, glob = 0, n = 0;
  heldout.forEach((batches, d) => {
    for (const b of batches) {
      const T = b.inputs.length / b.rows;
      for (let r = 0; r < b.rows; r++) {
        for (let t = 0; t < T; t++) {
          const y = b.targets[r * T + t];
          uni -= perDomain[d][y];
          glob -= pooled[y];
          n++;
          if (t >= 1) {
            floor -= Math.log(m.prob(d, b.inputs[r * T + t - 1], b.inputs[r * T + t], y));
            floorN++;
          }
        }
      }
    }
  });
  return { entropyFloor: floor / floorN, unigram: uni / n, globalUnigram: glob / n };
}
