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
  /** Allowed next tokens per (t-2, t-1) context. */
  branching: number;
  /** Probability that an allowed next token is drawn from the shared pool (≈ share of shared tokens). */
  sharedShare: number;
  /** Dirichlet concentration of each context's next-token probabilities. */
  alpha: number;
  /** Seeds the chains (the structure), not the sampling. */
  seed: number;
}

export const MARKOV_DEFAULTS: MarkovDomainsOptions = { domains: 4, coreTokens: 24, sharedTokens: 32, branching: 4, sharedShare: 0.3, alpha: 0.5, seed: 0 };

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
    this.vocabSize = o.domains * o.coreTokens + o.sharedTokens;
    const shared = Array.from({ length: o.sharedTokens }, (_, i) => o.domains * o.coreTokens + i);
    this.alphabets = [];
    this.next = [];
    this.cum = [];
    for (let d = 0; d < o.domains; d++) {
      const rng = new SeededRng(`markov:${o.seed}:${d}`);
      const alphabet = Int32Array.from([...Array.from({ length: o.coreTokens }, (_, i) => d * o.coreTokens + i), ...shared]);
      const A = alphabet.length, K = o.branching;
      const next = new Int32Array(A * A * K);
      const cum = new Float64Array(A * A * K);
      for (let c = 0; c < A * A; c++) {
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
    for (let t = -4; t < length; t++) {
      const c = a * A + b;
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
