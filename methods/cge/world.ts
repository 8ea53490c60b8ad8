// The data world of the spec (methods/cge.md §1d): "languages" are sparse first-order Markov chains
// over disjoint alphabets. Token 0 is BOS; domain d owns tokens 1 + d·K … K + d·K. Each token allows
// `successors` next tokens (Dirichlet(1) probabilities), each domain has `starts` start tokens of
// equal probability. Sequences are BOS + seqLen tokens, no EOS (the official code disables EOS too).
// The oracle classifier (majority alphabet) and the validity check replace the paper's language,
// code and toxicity classifiers, and are exact.
import { SeededRng } from '../../nn/index.js';

export interface WorldOptions {
  domains: number;
  tokensPerDomain: number;
  successors: number;
  starts: number;
  /** Tokens after BOS. */
  seqLen: number;
}

export const BOS = 0;

export class MarkovWorld {
  readonly options: WorldOptions;
  readonly vocabSize: number;
  /** Per domain: start token ids. */
  readonly startTokens: number[][];
  /** Per token id (BOS excluded): allowed successor ids and their probabilities. */
  readonly next: { ids: number[]; probs: number[] }[];

  constructor(options: WorldOptions, seed: number | string) {
    const o = (this.options = { ...options });
    const K = o.tokensPerDomain;
    if (o.successors > K || o.starts > K) throw new RangeError(`cge world: successors ${o.successors} and starts ${o.starts} must not exceed tokensPerDomain ${K}`);
    this.vocabSize = 1 + o.domains * K;
    const rng = new SeededRng(`cge-world:${seed}`);
    const pickDistinct = (n: number, k: number) => rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, k);
    this.startTokens = [];
    this.next = [{ ids: [], probs: [] }];
    for (let d = 0; d < o.domains; d++) {
      const base = 1 + d * K;
      this.startTokens.push(pickDistinct(K, o.starts).map((i) => base + i));
      for (let i = 0; i < K; i++) {
        const ids = pickDistinct(K, o.successors).map((j) => base + j);
        // Dirichlet(1) = normalised standard exponentials.
        const w = ids.map(() => -Math.log(1 - rng.next()));
        const s = w.reduce((a, b) => a + b, 0);
        this.next.push({ ids, probs: w.map((x) => x / s) });
      }
    }
  }

  domainOf(token: number): number {
    return token === BOS ? -1 : Math.floor((token - 1) / this.options.tokensPerDomain);
  }

  /** BOS + seqLen tokens of domain d. */
  sample(d: number, rng: SeededRng): number[] {
    const seq = [BOS, rng.pick(this.startTokens[d])];
    while (seq.length < this.options.seqLen + 1) {
      const { ids, probs } = this.next[seq[seq.length - 1]];
      let u = rng.next(), k = 0;
      while (k < ids.length - 1 && (u -= probs[k]) > 0) k++;
      seq.push(ids[k]);
    }
    return seq;
  }

  /** `n` sequences, domain d drawn from `weights` (per domain, summing to 1), with their domains. */
  dataset(n: number, weights: number[], rng: SeededRng): { seqs: number[][]; domains: number[] } {
    const seqs: number[][] = [], domains: number[] = [];
    for (let i = 0; i < n; i++) {
      let u = rng.next(), d = 0;
      while (d < weights.length - 1 && (u -= weights[d]) > 0) d++;
      seqs.push(this.sample(d, rng));
      domains.push(d);
    }
    return { seqs, domains };
  }

  /** Oracle classifier: the majority alphabet of the tokens after BOS (ties: lower domain). */
  classify(seq: readonly number[]): number {
    const counts = Array(this.options.domains).fill(0);
    for (const t of seq) if (t !== BOS) counts[this.domainOf(t)]++;
    return counts.indexOf(Math.max(...counts));
  }

  /** Every token in one domain, the first a start token, every transition allowed. */
  isValid(seq: readonly number[]): boolean {
    const body = seq[0] === BOS ? seq.slice(1) : seq;
    if (!body.length) return false;
    const d = this.domainOf(body[0]);
    if (d < 0 || !this.startTokens[d].includes(body[0])) return false;
    for (let t = 1; t < body.length; t++) if (!this.next[body[t - 1]]?.ids.includes(body[t])) return false;
    return true;
  }

  /**
   * Per-token loss levels of the next-token targets (positions 1..seqLen) under domain weights: the
   * exact entropy rate (the best any model can do; the chain is first order, alphabets are disjoint)
   * and the unigram entropy (the best a model ignoring context can do), in nats.
   */
  lossLevels(weights: number[]): { optimal: number; unigram: number } {
    const V = this.vocabSize, L = this.options.seqLen;
    // p[v]: marginal probability of token v at the current position.
    let p = new Float64Array(V);
    let hStart = 0;
    weights.forEach((w, d) => {
      for (const s of this.startTokens[d]) {
        const q = w / this.startTokens[d].length;
        p[s] += q;
        if (q > 0) hStart -= q * Math.log(q);
      }
    });
    let cond = hStart;
    const uni = new Float64Array(V);
    for (let t = 0; t < L; t++) {
      for (let v = 0; v < V; v++) uni[v] += p[v] / L;
      if (t === L - 1) break;
      const q = new Float64Array(V);
      for (let v = 1; v < V; v++) {
        if (!p[v]) continue;
        const { ids, probs } = this.next[v];
        ids.forEach((id, k) => {
          q[id] += p[v] * probs[k];
          cond -= p[v] * probs[k] * Math.log(probs[k]);
        });
      }
      p = q;
    }
    let unigram = 0;
    for (const u of uni) if (u > 0) unigram -= u * Math.log(u);
    return { optimal: cond / L, unigram };
  }
}
