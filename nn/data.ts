// Multi-domain corpora and language-model batches for kiln/nn. Web-standard only: documents, seeded
// generators (arithmetic, Dyck), document-level splits, per-domain byte budgets, and a Batcher that
// packs token streams into (B, T+1) Int32Array batches. Tensors are the caller's (see batchToTensors).
import type { Engine, Tensor } from '../engine/index.js';

/** One document of a corpus; splits and budgets never cut across documents except to fit a budget. */
export interface Document {
  text: string;
  /** Domain label, e.g. 'en', 'code', 'de', 'arith', 'dyck', 'en/news'. */
  domain: string;
  /** Where it came from (file name, generator), for reports. */
  source?: string;
}

const utf8 = new TextEncoder();

/** UTF-8 size of a string, without allocating for ASCII-heavy text more than once. */
export function byteLength(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3; // BMP, or a lone surrogate (TextEncoder writes U+FFFD: 3 bytes)
  }
  return n;
}

// ========================================================================================== RNG

/**
 * A small seeded generator (mulberry32 over a splitmix-style seed hash): deterministic across runtimes,
 * independent of Math.random, good enough for sampling data (not for cryptography).
 */
export class SeededRng {
  private state: number;
  constructor(seed: number | string = 0) {
    let h = 0x9e3779b9;
    const s = String(seed);
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x85ebca6b) ^ (h >>> 13);
    this.state = (h ^ (h >>> 16)) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Integer in [lo, hi] inclusive. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  /** Fisher–Yates in place; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
  /** Gamma(a, 1) by Marsaglia–Tsang (with the a < 1 boost), as numpy's Generator.gamma. */
  gamma(a: number): number {
    if (!(a > 0)) throw new RangeError(`SeededRng.gamma: the shape must be > 0, got ${a}`);
    if (a < 1) return this.gamma(a + 1) * Math.pow(this.next() || 1e-12, 1 / a);
    const d = a - 1 / 3, c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number, v: number;
      do {
        // Box–Muller normal
        x = Math.sqrt(-2 * Math.log(this.next() || 1e-12)) * Math.cos(2 * Math.PI * this.next());
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.next();
      if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }
  /** A symmetric Dirichlet(alpha) draw of n probabilities (normalised gamma draws). */
  dirichlet(n: number, alpha: number): number[] {
    const g = Array.from({ length: n }, () => this.gamma(alpha));
    const s = g.reduce((a, b) => a + b, 0);
    return g.map((v) => v / s);
  }
  /** A derived generator, so sub-tasks draw independent streams whatever order they run in. */
  fork(label: string | number): SeededRng {
    return new SeededRng(`${this.state}:${label}`);
  }
}

// =================================================================================== generators

export interface GeneratorOptions {
  seed?: number | string;
  /** Stop after this many documents … */
  documents?: number;
  /** … or once this many UTF-8 bytes are written (whichever is given; default 64 documents). */
  bytes?: number;
  /** Lines per document (default 32). */
  linesPerDocument?: number;
  /** Domain label (default 'arith' / 'dyck'). */
  domain?: string;
}

export type ArithmeticOp = '+' | '-' | '*';

export interface ArithmeticOptions extends GeneratorOptions {
  /** Operands are uniform in [0, maxOperand] (default 999). */
  maxOperand?: number;
  ops?: readonly ArithmeticOp[];
}

/** One equation 'a+b=c', 'a-b=c' (c may be negative) or 'a*b=c'. */
export function arithmeticLine(rng: SeededRng, maxOperand = 999, ops: readonly ArithmeticOp[] = ['+', '-', '*']): string {
  const a = rng.int(maxOperand + 1), b = rng.int(maxOperand + 1);
  const op = rng.pick(ops);
  const c = op === '+' ? a + b : op === '-' ? a - b : a * b;
  return `${a}${op}${b}=${c}`;
}

function generate(options: GeneratorOptions, domain: string, line: (rng: SeededRng) => string): Document[] {
  const rng = new SeededRng(options.seed ?? 0);
  const perDoc = options.linesPerDocument ?? 32;
  const maxDocs = options.documents ?? (options.bytes === undefined ? 64 : Infinity);
  const maxBytes = options.bytes ?? Infinity;
  const docs: Document[] = [];
  let bytes = 0;
  while (docs.length < maxDocs && bytes < maxBytes) {
    const lines: string[] = [];
    for (let i = 0; i < perDoc; i++) lines.push(line(rng));
    const text = lines.join('\n') + '\n';
    docs.push({ text, domain: options.domain ?? domain, source: `generated:${domain}` });
    bytes += text.length; // generators write ASCII only
  }
  return docs;
}

/** Seeded documents of arithmetic equations, one per line. */
export function arithmeticDocuments(options: ArithmeticOptions = {}): Document[] {
  return generate(options, 'arith', (rng) => arithmeticLine(rng, options.maxOperand ?? 999, options.ops));
}

export interface DyckOptions extends GeneratorOptions {
  /** Bracket pairs as two-character strings (default ['()', '[]']: Dyck-2). */
  pairs?: readonly string[];
  /** Length range (characters, rounded down to even) of each string (default 2..64). */
  minLength?: number;
  maxLength?: number;
  /** Maximum nesting depth (default unlimited). */
  maxDepth?: number;
}

/**
 * A uniformly-stepped random balanced string of exactly `length` characters (even): open while depth
 * and the remaining length allow, close the innermost bracket otherwise, each choice a fair coin.
 */
export function dyckString(rng: SeededRng, length: number, pairs: readonly string[] = ['()', '[]'], maxDepth = Infinity): string {
  if (length % 2) length--;
  const stack: number[] = [];
  let out = '';
  for (let i = 0; i < length; i++) {
    const remaining = length - i;
    const canOpen = stack.length < maxDepth && stack.length + 1 <= remaining - 1;
    const mustOpen = stack.length === 0;
    if (mustOpen || (canOpen && rng.next() < 0.5)) {
      const p = rng.int(pairs.length);
      stack.push(p);
      out += pairs[p][0];
    } else out += pairs[stack.pop()!][1];
  }
  return out;
}

/** Whether s is balanced over the given bracket pairs (other characters are not allowed). */
export function isBalanced(s: string, pairs: readonly string[] = ['()', '[]']): boolean {
  const open = new Map(pairs.map((p, i) => [p[0], i]));
  const close = new Map(pairs.map((p, i) => [p[1], i]));
  const stack: number[] = [];
  for (const ch of s) {
    const o = open.get(ch);
    if (o !== undefined) stack.push(o);
    else {
      const c = close.get(ch);
      if (c === undefined || stack.pop() !== c) return false;
    }
  }
  return stack.length === 0;
}

/** Seeded documents of Dyck strings, one per line. */
export function dyckDocuments(options: DyckOptions = {}): Document[] {
  const pairs = options.pairs ?? ['()', '[]'];
  for (const p of pairs) if (p.length !== 2 || p[0] === p[1]) throw new Error(`dyckDocuments: bracket pair ${JSON.stringify(p)} must be two different characters`);
  if (new Set(pairs.join('')).size !== pairs.length * 2) throw new Error(`dyckDocuments: bracket pairs ${JSON.stringify(pairs)} share characters`);
  const lo = Math.max(2, options.minLength ?? 2), hi = Math.max(lo, options.maxLength ?? 64);
  return generate(options, 'dyck', (rng) => dyckString(rng, rng.range(lo, hi), pairs, options.maxDepth ?? Infinity));
}

// ============================================================================= corpus utilities

/** Documents and UTF-8 bytes per domain, in first-seen order. */
export function corpusStats(docs: readonly Document[]): Map<string, { documents: number; bytes: number }> {
  const out = new Map<string, { documents: number; bytes: number }>();
  for (const d of docs) {
    let s = out.get(d.domain);
    if (!s) out.set(d.domain, (s = { documents: 0, bytes: 0 }));
    s.documents++;
    s.bytes += byteLength(d.text);
  }
  return out;
}

/** Group documents by domain, keeping their order; domains in first-seen order. */
export function groupByDomain(docs: readonly Document[]): Map<string, Document[]> {
  const out = new Map<string, Document[]>();
  for (const d of docs) {
    let g = out.get(d.domain);
    if (!g) out.set(d.domain, (g = []));
    g.push(d);
  }
  return out;
}

/** Cut a string to at most maxBytes of UTF-8 without splitting a character (or a surrogate pair). */
export function truncateToBytes(text: string, maxBytes: number): string {
  if (byteLength(text) <= maxBytes) return text;
  let n = 0;
  let i = 0;
  for (const ch of text) {
    const b = byteLength(ch);
    if (n + b > maxBytes) break;
    n += b;
    i += ch.length;
  }
  return text.slice(0, i);
}

export interface CapOptions {
  /** Shuffle each domain's documents with this seed before taking them (default: keep order). */
  seed?: number | string;
  /** Cut the last document to fill the budget exactly (default true); otherwise stop before it. */
  truncate?: boolean;
}

/**
 * At most `bytesPerDomain` UTF-8 bytes of each domain: whole documents in order (or seeded-shuffled
 * order), the last one cut at a line end when possible so domains end up the same size.
 */
export function capDomainBytes(docs: readonly Document[], bytesPerDomain: number, options: CapOptions = {}): Document[] {
  const out: Document[] = [];
  for (const [domain, group] of groupByDomain(docs)) {
    const list = [...group];
    if (options.seed !== undefined) new SeededRng(`${options.seed}:cap:${domain}`).shuffle(list);
    let used = 0;
    for (const d of list) {
      if (used >= bytesPerDomain) break;
      const n = byteLength(d.text);
      if (used + n <= bytesPerDomain) {
        out.push(d);
        used += n;
        continue;
      }
      if (options.truncate === false) break;
      let text = truncateToBytes(d.text, bytesPerDomain - used);
      const nl = text.lastIndexOf('\n');
      if (nl > 0) text = text.slice(0, nl + 1);
      if (text.length) out.push({ ...d, text });
      break;
    }
  }
  return out;
}

export interface SplitOptions {
  /** Fractions (normalised to sum 1), e.g. { train: 0.9, valid: 0.05, test: 0.05 }. */
  train: number;
  valid: number;
  test: number;
  seed?: number | string;
  /** Split each domain on its own so every domain keeps the fractions (default true). */
  stratify?: boolean;
}

export interface Splits {
  train: Document[];
  valid: Document[];
  test: Document[];
}

/**
 * Deterministic split by document (never by line): shuffle document indices with the seed and cut at
 * the fractions, per domain by default. A domain with at least 3 documents and non-zero fractions gets
 * at least one document in each of valid and test.
 */
export function splitByDocument(docs: readonly Document[], options: SplitOptions): Splits {
  const total = options.train + options.valid + options.test;
  if (!(total > 0) || options.train < 0 || options.valid < 0 || options.test < 0) throw new RangeError(`splitByDocument: fractions must be >= 0 with a positive sum`);
  const out: Splits = { train: [], valid: [], test: [] };
  const groups = options.stratify === false ? new Map([['*', [...docs]]]) : groupByDomain(docs);
  for (const [domain, group] of groups) {
    const order = new SeededRng(`${options.seed ?? 0}:split:${domain}`).shuffle(group.map((_, i) => i));
    const n = order.length;
    let nValid = Math.round((n * options.valid) / total);
    let nTest = Math.round((n * options.test) / total);
    if (n >= 3) {
      if (options.valid > 0) nValid = Math.max(1, nValid);
      if (options.test > 0) nTest = Math.max(1, nTest);
    }
    if (nValid + nTest > n) nTest = Math.max(0, n - nValid);
    const nTrain = n - nValid - nTest;
    // Keep each split in corpus order, so the output does not depend on the shuffle beyond membership.
    const pick = (from: number, to: number) => order.slice(from, to).sort((a, b) => a - b).map((i) => group[i]);
    out.train.push(...pick(0, nTrain));
    out.valid.push(...pick(nTrain, nTrain + nValid));
    out.test.push(...pick(nTrain + nValid, n));
  }
  return out;
}

// ====================================================================================== batches

/** A tokenized document: token ids and its domain. */
export interface TokenizedDocument {
  ids: ArrayLike<number>;
  domain: string;
}

/** Anything with encode(text) → ids, e.g. ByteTokenizer or BPETokenizer. */
export interface TextEncoderLike {
  encode(text: string): number[];
}

/**
 * Tokenize documents; `separator` (e.g. the <eos> id) is appended to each so packed streams mark
 * document boundaries.
 */
export function tokenizeDocuments(tokenizer: TextEncoderLike, docs: readonly Document[], separator?: number): TokenizedDocument[] {
  return docs.map((d) => {
    const ids = tokenizer.encode(d.text);
    if (separator !== undefined) ids.push(separator);
    return { ids, domain: d.domain };
  });
}

export interface BatcherOptions {
  batchSize: number;
  /** Sequence length T: rows hold T+1 tokens (inputs are the first T, targets the last T). */
  seqLen: number;
  /**
   * 'per-domain': every row of a batch comes from one domain (domains take turns, round-robin);
   * 'mixed': rows are drawn from all domains' windows together (in proportion to their sizes).
   */
  mode: 'per-domain' | 'mixed';
  seed?: number | string;
  /** Shuffle windows each epoch (default true); false gives a fixed sequential order, for evaluation. */
  shuffle?: boolean;
  /** Appended after each document when the stream is built (e.g. <eos>); none by default. */
  separator?: number;
  /** Domain order (also the index used by Batch.domainIds); default first-seen order. */
  domains?: readonly string[];
}

export interface Batch {
  batchSize: number;
  seqLen: number;
  /** (B, T+1) row-major: each row is T+1 consecutive tokens of one domain's stream. */
  tokens: Int32Array;
  /** (B, T): tokens[:, :T]. */
  inputs: Int32Array;
  /** (B, T): tokens[:, 1:], the next token for each input position. */
  targets: Int32Array;
  /** Domain label per row. */
  domains: string[];
  /** Index of each row's domain in Batcher.domains. */
  domainIds: Int32Array;
  /** The single domain of a per-domain batch (undefined for mixed batches). */
  domain?: string;
  /** Epoch this batch belongs to (0-based; an epoch is one pass over the windows). */
  epoch: number;
}

/**
 * Packs each domain's documents into one token stream (documents concatenated in a seeded order, with
 * an optional separator) and cuts it into windows of T+1 tokens with stride T, so every token after
 * the first is a target exactly once per epoch. Batches are drawn from those windows; all randomness
 * comes from the seed.
 */
export class Batcher {
  readonly domains: readonly string[];
  readonly batchSize: number;
  readonly seqLen: number;
  readonly mode: 'per-domain' | 'mixed';
  private readonly streams: Int32Array[];
  private readonly windowCounts: number[];
  private readonly shuffle: boolean;
  private readonly rng: SeededRng;
  /** Per domain (per-domain mode) or one global list (mixed): [domain index, window index] order. */
  private pools: Float64Array[];
  private cursors: number[];
  private epochs: number[];
  private turn = 0;

  constructor(docs: readonly TokenizedDocument[], options: BatcherOptions) {
    const { batchSize, seqLen } = options;
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`Batcher: batchSize ${batchSize} must be a positive integer`);
    if (!(Number.isInteger(seqLen) && seqLen > 0)) throw new RangeError(`Batcher: seqLen ${seqLen} must be a positive integer`);
    this.batchSize = batchSize;
    this.seqLen = seqLen;
    this.mode = options.mode;
    if (this.mode !== 'per-domain' && this.mode !== 'mixed') throw new Error(`Batcher: mode must be 'per-domain' or 'mixed', got ${JSON.stringify(options.mode)}`);
    this.shuffle = options.shuffle ?? true;
    this.rng = new SeededRng(`${options.seed ?? 0}:batcher`);

    const byDomain = new Map<string, TokenizedDocument[]>();
    for (const d of options.domains ?? []) byDomain.set(d, []);
    for (const d of docs) {
      const g = byDomain.get(d.domain);
      if (g) g.push(d);
      else if (options.domains) continue; // not asked for
      else byDomain.set(d.domain, [d]);
    }
    this.domains = [...byDomain.keys()];
    if (this.domains.length === 0) throw new Error('Batcher: no documents');
    this.streams = [];
    this.windowCounts = [];
    for (const [domain, group] of byDomain) {
      const order = group.map((_, i) => i);
      if (this.shuffle) this.rng.fork(`docs:${domain}`).shuffle(order);
      let n = 0;
      for (const d of group) n += d.ids.length + (options.separator !== undefined ? 1 : 0);
      const s = new Int32Array(n);
      let o = 0;
      for (const i of order) {
        const ids = group[i].ids;
        for (let k = 0; k < ids.length; k++) s[o++] = ids[k];
        if (options.separator !== undefined) s[o++] = options.separator;
      }
      const windows = Math.floor((n - 1) / seqLen);
      if (windows < 1) throw new Error(`Batcher: domain ${JSON.stringify(domain)} has ${n} tokens, fewer than seqLen + 1 = ${seqLen + 1}`);
      this.streams.push(s);
      this.windowCounts.push(windows);
    }
    this.pools = [];
    this.cursors = [];
    this.epochs = [];
    const nPools = this.mode === 'mixed' ? 1 : this.domains.length;
    for (let p = 0; p < nPools; p++) {
      this.pools.push(this.newPool(p));
      this.cursors.push(0);
      this.epochs.push(0);
    }
  }

  /** Windows per domain (each is one row of T+1 tokens). */
  get windowsPerDomain(): Map<string, number> {
    return new Map(this.domains.map((d, i) => [d, this.windowCounts[i]]));
  }

  /** Batches in one pass over all windows (rounded up). */
  get batchesPerEpoch(): number {
    if (this.mode === 'mixed') return Math.ceil(this.windowCounts.reduce((a, b) => a + b, 0) / this.batchSize);
    return this.windowCounts.reduce((a, w) => a + Math.ceil(w / this.batchSize), 0);
  }

  /** Entries are domain * 2^24 + window, shuffled (or in order) for one epoch. */
  private newPool(p: number): Float64Array {
    const entries: number[] = [];
    const domainsInPool = this.mode === 'mixed' ? this.domains.map((_, i) => i) : [p];
    for (const d of domainsInPool) for (let w = 0; w < this.windowCounts[d]; w++) entries.push(d * 2 ** 24 + w);
    if (this.shuffle) this.rng.shuffle(entries);
    return Float64Array.from(entries);
  }

  private take(p: number): [number, number] {
    if (this.cursors[p] >= this.pools[p].length) {
      this.pools[p] = this.newPool(p);
      this.cursors[p] = 0;
      this.epochs[p]++;
    }
    const e = this.pools[p][this.cursors[p]++];
    return [Math.floor(e / 2 ** 24), e % 2 ** 24];
  }

  /** The next batch. Deterministic given the constructor's arguments and the number of calls. */
  next(): Batch {
    const B = this.batchSize, T = this.seqLen;
    let pool = 0;
    if (this.mode === 'per-domain') {
      pool = this.turn;
      this.turn = (this.turn + 1) % this.domains.length;
    }
    const epoch = this.epochs[pool];
    const tokens = new Int32Array(B * (T + 1));
    const domainIds = new Int32Array(B);
    for (let r = 0; r < B; r++) {
      const [d, w] = this.take(pool);
      domainIds[r] = d;
      tokens.set(this.streams[d].subarray(w * T, w * T + T + 1), r * (T + 1));
    }
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    for (let r = 0; r < B; r++) {
      inputs.set(tokens.subarray(r * (T + 1), r * (T + 1) + T), r * T);
      targets.set(tokens.subarray(r * (T + 1) + 1, (r + 1) * (T + 1)), r * T);
    }
    const domains = Array.from(domainIds, (d) => this.domains[d]);
    return { batchSize: B, seqLen: T, tokens, inputs, targets, domains, domainIds, domain: this.mode === 'per-domain' ? domains[0] : undefined, epoch };
  }
}

/** Upload a batch as i32 tensors: inputs and targets (B, T), domainIds (B). The caller disposes them. */
export function batchToTensors(engine: Engine, batch: Batch): { inputs: Tensor; targets: Tensor; domainIds: Tensor } {
  const shape = [batch.batchSize, batch.seqLen];
  return {
    inputs: engine.tensor(batch.inputs, shape, { dtype: 'i32' }),
    targets: engine.tensor(batch.targets, shape, { dtype: 'i32' }),
    domainIds: engine.tensor(batch.domainIds, [batch.batchSize], { dtype: 'i32' }),
  };
}
