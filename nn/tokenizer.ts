// Tokenizers for kiln/nn: a byte tokenizer and a byte-level BPE (trainer, encoder, decoder) whose JSON
// form is Hugging Face's tokenizer.json layout. Web-standard only (TextEncoder/TextDecoder, no node:*).
//
// Both work on UTF-8 bytes, so encode/decode round-trips every string that UTF-8 can represent, i.e.
// every string without lone (unpaired) surrogates; TextEncoder turns a lone surrogate into U+FFFD.

const utf8 = new TextEncoder();
// fatal: false, so decoding an arbitrary id list (e.g. a model's sample cut mid-character) yields U+FFFD
// instead of throwing; ignoreBOM so a leading U+FEFF in the text survives a round trip.
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** Options shared by the tokenizers' encode. */
export interface EncodeOptions {
  /** Recognise special tokens written literally in the text (default true), as Hugging Face does. */
  allowSpecial?: boolean;
  /** Prepend this special token (its content, e.g. '<bos>'). */
  bos?: string;
  /** Append this special token (its content, e.g. '<eos>'). */
  eos?: string;
}

export interface DecodeOptions {
  /** Drop special tokens from the output (default false). */
  skipSpecial?: boolean;
}

/** The interface the data pipeline and demos use, so either tokenizer can be passed. */
export interface Tokenizer {
  readonly vocabSize: number;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  /** Id of a special token by its content; throws if absent. */
  specialId(content: string): number;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Splits text around special tokens. Longest first so that '<eos>' is not taken by a shorter special
 * token that is its prefix. Returns alternating plain-text strings and special-token ids.
 */
class SpecialSplitter {
  private readonly re: RegExp | null;
  constructor(private readonly ids: Map<string, number>) {
    const names = [...ids.keys()].filter((s) => s.length > 0).sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
    this.re = names.length ? new RegExp(names.map(escapeRegExp).join('|'), 'g') : null;
  }
  split(text: string, allowSpecial: boolean): (string | number)[] {
    if (!this.re || !allowSpecial) return [text];
    const out: (string | number)[] = [];
    let last = 0;
    for (const m of text.matchAll(this.re)) {
      if (m.index > last) out.push(text.slice(last, m.index));
      out.push(this.ids.get(m[0])!);
      last = m.index + m[0].length;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }
}

function checkSpecialTokens(tokens: readonly string[]): void {
  const seen = new Set<string>();
  for (const t of tokens) {
    if (typeof t !== 'string' || t.length === 0) throw new Error(`tokenizer: special tokens must be non-empty strings, got ${JSON.stringify(t)}`);
    if (seen.has(t)) throw new Error(`tokenizer: duplicate special token ${JSON.stringify(t)}`);
    seen.add(t);
  }
}

// ==================================================================================== ByteTokenizer

/** Ids 0..255 are the UTF-8 bytes; special tokens (if any) follow from 256 in the order given. */
export class ByteTokenizer implements Tokenizer {
  readonly specialTokens: readonly string[];
  private readonly specials: Map<string, number>;
  private readonly splitter: SpecialSplitter;

  constructor(options: { specialTokens?: readonly string[] } = {}) {
    this.specialTokens = [...(options.specialTokens ?? [])];
    checkSpecialTokens(this.specialTokens);
    this.specials = new Map(this.specialTokens.map((t, i) => [t, 256 + i]));
    this.splitter = new SpecialSplitter(this.specials);
  }

  get vocabSize(): number {
    return 256 + this.specialTokens.length;
  }

  specialId(content: string): number {
    const id = this.specials.get(content);
    if (id === undefined) throw new Error(`ByteTokenizer: no special token ${JSON.stringify(content)} (have ${JSON.stringify(this.specialTokens)})`);
    return id;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (options.bos !== undefined) out.push(this.specialId(options.bos));
    for (const part of this.splitter.split(text, options.allowSpecial ?? true)) {
      if (typeof part === 'number') out.push(part);
      else for (const b of utf8.encode(part)) out.push(b);
    }
    if (options.eos !== undefined) out.push(this.specialId(options.eos));
    return out;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    let text = '';
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length) text += utf8Decoder.decode(new Uint8Array(bytes));
      bytes = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= 0 && id < 256 && Number.isInteger(id)) bytes.push(id);
      else if (id >= 256 && id < this.vocabSize && Number.isInteger(id)) {
        flush();
        if (!options.skipSpecial) text += this.specialTokens[id - 256];
      } else throw new RangeError(`ByteTokenizer.decode: id ${id} out of range [0, ${this.vocabSize})`);
    }
    flush();
    return text;
  }

  encodeBatch(texts: readonly string[], options?: EncodeOptions): number[][] {
    return texts.map((t) => this.encode(t, options));
  }

  decodeBatch(batch: readonly ArrayLike<number>[], options?: DecodeOptions): string[] {
    return batch.map((ids) => this.decode(ids, options));
  }
}

// ============================================================================ byte-level unicode

/**
 * GPT-2's bytes_to_unicode: every byte maps to one printable code point, so byte-level tokens are
 * readable strings without whitespace or control characters (a space becomes 'Ġ', a newline 'Ċ').
 * The printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves; the other 68 bytes map,
 * in increasing order, to U+0100, U+0101, ….
 */
function buildByteTables(): { byteToChar: string[]; charToByte: Map<string, number> } {
  const keep = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const byteToChar: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) byteToChar[b] = String.fromCharCode(keep(b) ? b : 256 + n++);
  const charToByte = new Map(byteToChar.map((c, b) => [c, b]));
  return { byteToChar, charToByte };
}

const { byteToChar: BYTE_TO_CHAR, charToByte: CHAR_TO_BYTE } = buildByteTables();

/** GPT-2's byte -> unicode table (index = byte), exported for tests and tools. */
export const BYTE_TO_UNICODE: readonly string[] = BYTE_TO_CHAR;

/** Bytes -> the byte-level unicode string Hugging Face stores in vocab and merges. */
export function bytesToUnicode(bytes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}

/** The inverse of bytesToUnicode; throws on a character outside the table. */
export function unicodeToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const b = CHAR_TO_BYTE.get(s[i]);
    if (b === undefined) throw new Error(`byte-level token ${JSON.stringify(s)} has a character outside GPT-2's byte table`);
    out[i] = b;
  }
  return out;
}

// ============================================================================== pre-tokenization

/**
 * GPT-2's pre-tokenizer regex (Hugging Face ByteLevel use_regex): English contractions, letter runs,
 * digit runs and punctuation runs, each with at most one leading space attached, and whitespace runs
 * (a run followed by a word leaves its last space to that word).
 */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** Pre-tokenize text into pieces whose concatenation is the text (gaps the regex skips are kept). */
export function pretokenize(text: string, pattern: RegExp): string[] {
  const out: string[] = [];
  let last = 0;
  pattern.lastIndex = 0;
  for (const m of text.matchAll(pattern)) {
    if (m[0].length === 0) continue;
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function compilePattern(source: string): RegExp {
  return new RegExp(source, 'gu');
}

// ================================================================================ BPE tokenizer

export interface BPETrainOptions {
  /** Total vocabulary size: 256 byte tokens + merges + special tokens. */
  vocabSize: number;
  /** Stop merging once the most frequent pair occurs fewer times (default 2). */
  minFrequency?: number;
  /** Special tokens, given ids after the merges, never split and never learned from. */
  specialTokens?: readonly string[];
  /** Pre-tokenizer regex source ('u' flag) or false for none (then each text is one word). Default GPT-2's. */
  pretokenize?: string | false;
  /** Called every `progressEvery` merges (default 500) with (merges done, merges wanted). */
  onProgress?: (done: number, total: number) => void;
  progressEvery?: number;
}

/** Pair key: both ids fit in 21 bits, so the key is an exact double and orders by (left, right). */
const PAIR_SHIFT = 2 ** 21;
const pairKey = (a: number, b: number) => a * PAIR_SHIFT + b;

/**
 * A binary heap of number pairs (a, b) ordered by `first(x, y)`: whether pair x comes out before pair
 * y. Training uses it as a max-heap of (count, pair key) with lazy entries (a stale count is skipped
 * when popped); encoding as a min-heap of (merge rank, position).
 */
class PairHeap {
  private as: number[] = [];
  private bs: number[] = [];
  constructor(private first: (a1: number, b1: number, a2: number, b2: number) => boolean) {}
  get size(): number {
    return this.as.length;
  }
  private before(i: number, j: number): boolean {
    return this.first(this.as[i], this.bs[i], this.as[j], this.bs[j]);
  }
  private swap(i: number, j: number): void {
    const a = this.as, b = this.bs;
    [a[i], a[j]] = [a[j], a[i]];
    [b[i], b[j]] = [b[j], b[i]];
  }
  push(a: number, b: number): void {
    this.as.push(a);
    this.bs.push(b);
    let i = this.as.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): [number, number] | undefined {
    const n = this.as.length;
    if (n === 0) return undefined;
    const top: [number, number] = [this.as[0], this.bs[0]];
    const lastA = this.as.pop()!, lastB = this.bs.pop()!;
    if (n > 1) {
      this.as[0] = lastA;
      this.bs[0] = lastB;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < n - 1 && this.before(l, m)) m = l;
        if (r < n - 1 && this.before(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

/** Highest count first, then the smallest pair key (left id, then right id). */
const byCountThenKey = (c1: number, k1: number, c2: number, k2: number) => c1 > c2 || (c1 === c2 && k1 < k2);
/** Lowest merge rank first, then the leftmost position. */
const byRankThenPosition = (r1: number, p1: number, r2: number, p2: number) => r1 < r2 || (r1 === r2 && p1 < p2);

/** Hugging Face tokenizer.json (the parts this tokenizer writes and reads). */
export interface TokenizerJSON {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: { id: number; content: string; single_word: boolean; lstrip: boolean; rstrip: boolean; normalized: boolean; special: boolean }[];
  normalizer: null;
  pre_tokenizer: Record<string, unknown> | null;
  post_processor: Record<string, unknown> | null;
  decoder: Record<string, unknown> | null;
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: boolean;
    byte_fallback: boolean;
    ignore_merges: boolean;
    vocab: Record<string, number>;
    merges: (string | [string, string])[];
  };
}

/**
 * Byte-level BPE. The vocabulary is the 256 bytes, one token per merge, and the special tokens; ids are
 * whatever the vocab says (a trained tokenizer uses bytes 0..255, merges 256.., then specials).
 */
export class BPETokenizer implements Tokenizer {
  /** id -> bytes of the token (special tokens: their UTF-8 content). */
  private readonly tokenBytes: Uint8Array[];
  /** id -> byte-level unicode string (the vocab key), or a special token's content. */
  private readonly tokenStrings: string[];
  /** The model's vocab without special tokens. */
  private readonly vocab: Map<string, number>;
  private readonly byteIds: Int32Array;
  /** pairKey(left id, right id) -> rank * PAIR_SHIFT + merged id. */
  private readonly mergeTable: Map<number, number>;
  private readonly mergeList: [number, number][];
  private readonly specials: Map<string, number>;
  private readonly specialSet: Set<number>;
  private readonly splitter: SpecialSplitter;
  private readonly pattern: RegExp | null;
  readonly patternSource: string | null;
  private readonly cache = new Map<string, number[]>();

  private constructor(vocab: Map<string, number>, merges: [string, string][], specialTokens: { content: string; id: number }[], pattern: string | null) {
    this.vocab = vocab;
    let size = 0;
    for (const id of vocab.values()) size = Math.max(size, id + 1);
    for (const s of specialTokens) size = Math.max(size, s.id + 1);
    this.tokenBytes = new Array(size);
    this.tokenStrings = new Array(size);
    this.specials = new Map(specialTokens.map((s) => [s.content, s.id]));
    this.specialSet = new Set(specialTokens.map((s) => s.id));
    for (const [tok, id] of vocab) {
      if (!Number.isInteger(id) || id < 0) throw new Error(`BPETokenizer: bad id ${id} for token ${JSON.stringify(tok)}`);
      if (this.tokenStrings[id] !== undefined) throw new Error(`BPETokenizer: id ${id} used twice`);
      this.tokenStrings[id] = tok;
      this.tokenBytes[id] = unicodeToBytes(tok);
    }
    for (const s of specialTokens) {
      if (!Number.isInteger(s.id) || s.id < 0) throw new Error(`BPETokenizer: bad id ${s.id} for special token ${JSON.stringify(s.content)}`);
      if (this.tokenStrings[s.id] !== undefined) throw new Error(`BPETokenizer: special token ${JSON.stringify(s.content)} reuses id ${s.id}`);
      if (vocab.has(s.content)) throw new Error(`BPETokenizer: special token ${JSON.stringify(s.content)} is also a byte-level vocab token`);
      this.tokenStrings[s.id] = s.content;
      this.tokenBytes[s.id] = utf8.encode(s.content);
    }
    for (let id = 0; id < size; id++) if (this.tokenBytes[id] === undefined) throw new Error(`BPETokenizer: id ${id} has no token (ids must be dense)`);
    this.byteIds = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      const id = vocab.get(BYTE_TO_CHAR[b]);
      if (id === undefined) throw new Error(`BPETokenizer: the vocab lacks byte ${b} (${JSON.stringify(BYTE_TO_CHAR[b])}); byte-level BPE needs all 256`);
      this.byteIds[b] = id;
    }
    this.mergeTable = new Map();
    this.mergeList = [];
    merges.forEach(([l, r], rank) => {
      const a = vocab.get(l), b = vocab.get(r), c = vocab.get(l + r);
      if (a === undefined || b === undefined || c === undefined) throw new Error(`BPETokenizer: merge "${l} ${r}" uses a token missing from the vocab`);
      const key = pairKey(a, b);
      if (!this.mergeTable.has(key)) this.mergeTable.set(key, rank * PAIR_SHIFT + c);
      this.mergeList.push([a, b]);
    });
    this.splitter = new SpecialSplitter(this.specials);
    this.patternSource = pattern;
    this.pattern = pattern === null ? null : compilePattern(pattern);
  }

  // ------------------------------------------------------------------------------------ training

  /**
   * Learns merges from texts. Words come from the pre-tokenizer and are counted once per distinct word;
   * each step merges the most frequent adjacent pair (ties: smallest left id, then smallest right id,
   * as Hugging Face's trainer does), replacing occurrences left to right. Pair counts are updated
   * incrementally for the words that contain the merged pair, with a lazy max-heap for the next best.
   */
  static train(texts: Iterable<string>, options: BPETrainOptions): BPETokenizer {
    const specialTokens = [...(options.specialTokens ?? [])];
    checkSpecialTokens(specialTokens);
    // A special token never occurs inside training text (it is split out first), so no learned token can
    // spell it; only a one-character special token could collide with a byte token (the constructor says so).
    const minFrequency = Math.max(1, options.minFrequency ?? 2);
    const wantMerges = options.vocabSize - 256 - specialTokens.length;
    if (!Number.isInteger(options.vocabSize) || wantMerges < 0) {
      throw new RangeError(`BPETokenizer.train: vocabSize ${options.vocabSize} must be an integer >= 256 + ${specialTokens.length} special tokens`);
    }
    if (options.vocabSize > PAIR_SHIFT) throw new RangeError(`BPETokenizer.train: vocabSize ${options.vocabSize} above ${PAIR_SHIFT}`);
    const patternSource = options.pretokenize === false ? null : (options.pretokenize ?? GPT2_PATTERN);
    const pattern = patternSource === null ? null : compilePattern(patternSource);
    const splitter = new SpecialSplitter(new Map(specialTokens.map((t, i) => [t, i])));

    // 1. Distinct words (as UTF-8 byte strings keyed by the original text) and their counts.
    const wordCounts = new Map<string, number>();
    for (const text of texts) {
      for (const part of splitter.split(text, true)) {
        if (typeof part === 'number') continue; // special tokens are not training text
        for (const w of pattern ? pretokenize(part, pattern) : [part]) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
      }
    }
    const words: number[][] = [];
    const freq: number[] = [];
    for (const [w, c] of wordCounts) {
      const bytes = utf8.encode(w);
      if (bytes.length < 2) continue; // a single byte has no pair to merge
      words.push(Array.from(bytes));
      freq.push(c);
    }

    // 2. Pair counts and, per pair, the words that contain it (may hold stale entries).
    const counts = new Map<number, number>();
    const where = new Map<number, Set<number>>();
    for (let w = 0; w < words.length; w++) {
      const s = words[w];
      for (let i = 0; i + 1 < s.length; i++) {
        const k = pairKey(s[i], s[i + 1]);
        counts.set(k, (counts.get(k) ?? 0) + freq[w]);
        let set = where.get(k);
        if (!set) where.set(k, (set = new Set()));
        set.add(w);
      }
    }
    const heap = new PairHeap(byCountThenKey);
    for (const [k, c] of counts) heap.push(c, k);

    // 3. Merge.
    const tokenBytes: number[][] = [];
    for (let b = 0; b < 256; b++) tokenBytes.push([b]);
    const merges: [number, number][] = [];
    const progressEvery = options.progressEvery ?? 500;
    const changed = new Set<number>();
    while (merges.length < wantMerges) {
      const top = heap.pop();
      if (!top) break;
      const [c, key] = top;
      if (counts.get(key) !== c) continue; // stale entry
      if (c < minFrequency) break;
      const a = Math.floor(key / PAIR_SHIFT), b = key % PAIR_SHIFT;
      const id = 256 + merges.length;
      merges.push([a, b]);
      tokenBytes.push([...tokenBytes[a], ...tokenBytes[b]]);
      changed.clear();
      for (const w of where.get(key) ?? []) {
        const s = words[w];
        const f = freq[w];
        let found = false;
        for (let i = 0; i + 1 < s.length; i++) if (s[i] === a && s[i + 1] === b) found = true;
        if (!found) continue;
        // Remove the word's old pairs, rebuild it with the merge, add its new pairs: simple and exact
        // for overlapping runs such as 'aaaa' (pre-tokenized words are short).
        for (let i = 0; i + 1 < s.length; i++) {
          const k = pairKey(s[i], s[i + 1]);
          counts.set(k, counts.get(k)! - f);
          changed.add(k);
        }
        const t: number[] = [];
        for (let i = 0; i < s.length; i++) {
          if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
            t.push(id);
            i++;
          } else t.push(s[i]);
        }
        words[w] = t;
        for (let i = 0; i + 1 < t.length; i++) {
          const k = pairKey(t[i], t[i + 1]);
          counts.set(k, (counts.get(k) ?? 0) + f);
          changed.add(k);
          let set = where.get(k);
          if (!set) where.set(k, (set = new Set()));
          set.add(w);
        }
      }
      counts.delete(key);
      where.delete(key);
      changed.delete(key);
      for (const k of changed) {
        const n = counts.get(k)!;
        if (n > 0) heap.push(n, k);
        else {
          counts.delete(k);
          where.delete(k);
        }
      }
      if (options.onProgress && merges.length % progressEvery === 0) options.onProgress(merges.length, wantMerges);
    }

    const vocab = new Map<string, number>();
    tokenBytes.forEach((bytes, id) => vocab.set(bytesToUnicode(bytes), id));
    const n = tokenBytes.length;
    const mergeStrings = merges.map(([a, b]) => [bytesToUnicode(tokenBytes[a]), bytesToUnicode(tokenBytes[b])] as [string, string]);
    const specials = specialTokens.map((content, i) => ({ content, id: n + i }));
    return new BPETokenizer(vocab, mergeStrings, specials, patternSource);
  }

  // ------------------------------------------------------------------------------------- queries

  get vocabSize(): number {
    return this.tokenBytes.length;
  }

  /** Merges in rank order as byte-level unicode pairs (Hugging Face's form). */
  get merges(): [string, string][] {
    return this.mergeList.map(([a, b]) => [this.tokenStrings[a], this.tokenStrings[b]]);
  }

  get specialTokens(): string[] {
    return [...this.specials.keys()];
  }

  specialId(content: string): number {
    const id = this.specials.get(content);
    if (id === undefined) throw new Error(`BPETokenizer: no special token ${JSON.stringify(content)} (have ${JSON.stringify(this.specialTokens)})`);
    return id;
  }

  isSpecial(id: number): boolean {
    return this.specialSet.has(id);
  }

  /** Vocab key of an id (byte-level unicode, or a special token's content). */
  idToToken(id: number): string {
    const s = this.tokenStrings[id];
    if (s === undefined) throw new RangeError(`BPETokenizer: id ${id} out of range [0, ${this.vocabSize})`);
    return s;
  }

  /** Id of a vocab key (byte-level unicode) or of a special token's content. */
  tokenToId(token: string): number | undefined {
    return this.specials.get(token) ?? this.vocab.get(token);
  }

  /** The UTF-8 bytes a token stands for. */
  tokenToBytes(id: number): Uint8Array {
    const b = this.tokenBytes[id];
    if (b === undefined) throw new RangeError(`BPETokenizer: id ${id} out of range [0, ${this.vocabSize})`);
    return b;
  }

  // ----------------------------------------------------------------------------------- encoding

  encode(text: string, options: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (options.bos !== undefined) out.push(this.specialId(options.bos));
    for (const part of this.splitter.split(text, options.allowSpecial ?? true)) {
      if (typeof part === 'number') out.push(part);
      else for (const w of this.pattern ? pretokenize(part, this.pattern) : [part]) this.encodeWord(w, out);
    }
    if (options.eos !== undefined) out.push(this.specialId(options.eos));
    return out;
  }

  encodeBatch(texts: readonly string[], options?: EncodeOptions): number[][] {
    return texts.map((t) => this.encode(t, options));
  }

  private encodeWord(word: string, out: number[]): void {
    const cached = this.cache.get(word);
    if (cached) {
      for (const id of cached) out.push(id);
      return;
    }
    const ids = this.mergeWord(utf8.encode(word));
    // Bounded cache: common words repeat, rare long ones would only grow it.
    if (word.length <= 64) {
      if (this.cache.size >= 100_000) this.cache.clear();
      this.cache.set(word, ids);
    }
    for (const id of ids) out.push(id);
  }

  /**
   * Applies merges by rank to one word: repeatedly merge the adjacent pair of lowest rank (leftmost
   * first among equal ranks), the order training created them in. A linked list plus a heap keeps this
   * O(n log n), so a word that is one long run (e.g. 100k spaces) stays fast.
   */
  private mergeWord(bytes: Uint8Array): number[] {
    const n = bytes.length;
    const sym = new Int32Array(n);
    for (let i = 0; i < n; i++) sym[i] = this.byteIds[bytes[i]];
    if (n < 2 || this.mergeTable.size === 0) return Array.from(sym);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new PairHeap(byRankThenPosition);
    const tryPush = (i: number) => {
      const j = next[i];
      if (j < 0) return;
      const m = this.mergeTable.get(pairKey(sym[i], sym[j]));
      if (m !== undefined) heap.push(Math.floor(m / PAIR_SHIFT), i);
    };
    for (let i = 0; i + 1 < n; i++) tryPush(i);
    while (heap.size) {
      const [rank, i] = heap.pop()!;
      if (sym[i] < 0) continue; // removed
      const j = next[i];
      if (j < 0) continue;
      const m = this.mergeTable.get(pairKey(sym[i], sym[j]));
      if (m === undefined || Math.floor(m / PAIR_SHIFT) !== rank) continue; // stale
      sym[i] = m % PAIR_SHIFT;
      sym[j] = -1;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      if (prev[i] >= 0) tryPush(prev[i]);
      tryPush(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(sym[i]);
    return out;
  }

  // ----------------------------------------------------------------------------------- decoding

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    let text = '';
    const buf: number[] = [];
    const flush = () => {
      if (buf.length) text += utf8Decoder.decode(new Uint8Array(buf));
      buf.length = 0;
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const bytes = this.tokenBytes[id];
      if (bytes === undefined || !Number.isInteger(id)) throw new RangeError(`BPETokenizer.decode: id ${id} out of range [0, ${this.vocabSize})`);
      if (this.specialSet.has(id)) {
        // Decoded on their own, so a special token between two halves of a character stays intact.
        flush();
        if (!options.skipSpecial) text += this.tokenStrings[id];
      } else for (const b of bytes) buf.push(b);
    }
    flush();
    return text;
  }

  decodeBatch(batch: readonly ArrayLike<number>[], options?: DecodeOptions): string[] {
    return batch.map((ids) => this.decode(ids, options));
  }

  // ------------------------------------------------------------------------------- serialisation

  /** Hugging Face tokenizer.json; merges as "left right" strings (byte-level tokens hold no space). */
  toJSON(): TokenizerJSON {
    const vocab: Record<string, number> = {};
    for (let id = 0; id < this.tokenStrings.length; id++) vocab[this.tokenStrings[id]] = id;
    const byteLevel = (extra: Record<string, unknown>) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, ...extra });
    let preTokenizer: Record<string, unknown>;
    if (this.patternSource === GPT2_PATTERN) preTokenizer = byteLevel({ use_regex: true });
    else if (this.patternSource === null) preTokenizer = byteLevel({ use_regex: false });
    else {
      preTokenizer = {
        type: 'Sequence',
        pretokenizers: [{ type: 'Split', pattern: { Regex: this.patternSource }, behavior: 'Isolated', invert: false }, byteLevel({ use_regex: false })],
      };
    }
    return {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [...this.specials].map(([content, id]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })).sort((x, y) => x.id - y.id),
      normalizer: null,
      pre_tokenizer: preTokenizer,
      post_processor: byteLevel({ trim_offsets: false, use_regex: true }),
      decoder: byteLevel({ use_regex: true }),
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges: this.merges.map(([l, r]) => `${l} ${r}`),
      },
    };
  }

  /**
   * Reads a tokenizer.json (an object or its text) written by toJSON or by Hugging Face for a byte-level
   * BPE (GPT-2 style: ByteLevel pre-tokenizer, optionally after a Split regex). Merges may be "a b"
   * strings or [a, b] pairs. Normalizers, dropout and unk tokens are not supported and are rejected.
   */
  static fromJSON(json: string | TokenizerJSON | Record<string, unknown>): BPETokenizer {
    const j = (typeof json === 'string' ? JSON.parse(json) : json) as TokenizerJSON;
    const model = j?.model;
    if (!model || model.type !== 'BPE') throw new Error(`BPETokenizer.fromJSON: model.type must be "BPE", got ${JSON.stringify(model?.type)}`);
    if (j.normalizer) throw new Error('BPETokenizer.fromJSON: normalizers are not supported');
    if (model.dropout) throw new Error('BPETokenizer.fromJSON: BPE dropout is not supported');
    const vocab = new Map<string, number>(Object.entries(model.vocab));
    const merges = (model.merges ?? []).map((m, i): [string, string] => {
      if (Array.isArray(m) && m.length === 2) return [m[0], m[1]];
      if (typeof m === 'string') {
        const parts = m.split(' ');
        if (parts.length === 2) return [parts[0], parts[1]];
      }
      throw new Error(`BPETokenizer.fromJSON: merge ${i} (${JSON.stringify(m)}) is neither "a b" nor [a, b]`);
    });
    const specials = (j.added_tokens ?? []).map((t) => ({ content: t.content, id: t.id }));
    for (const s of specials) {
      const v = vocab.get(s.content);
      if (v !== undefined && v !== s.id) throw new Error(`BPETokenizer.fromJSON: added token ${JSON.stringify(s.content)} has id ${s.id} but vocab says ${v}`);
      vocab.delete(s.content); // kept apart: it stands for its UTF-8 content, not for byte-level chars
    }
    return new BPETokenizer(vocab, merges, specials, patternFromJSON(j.pre_tokenizer));
  }
}

function patternFromJSON(pre: Record<string, unknown> | null | undefined): string | null {
  const unsupported = () => new Error(`BPETokenizer.fromJSON: unsupported pre_tokenizer ${JSON.stringify(pre)?.slice(0, 200)}`);
  if (!pre) return null;
  if (pre.type === 'ByteLevel') {
    if (pre.add_prefix_space) throw new Error('BPETokenizer.fromJSON: ByteLevel add_prefix_space is not supported');
    return pre.use_regex === false ? null : GPT2_PATTERN;
  }
  if (pre.type === 'Sequence' && Array.isArray(pre.pretokenizers) && pre.pretokenizers.length === 2) {
    const [split, bl] = pre.pretokenizers as Record<string, unknown>[];
    const pattern = split.pattern as { Regex?: string } | undefined;
    if (split.type === 'Split' && typeof pattern?.Regex === 'string' && split.behavior === 'Isolated' && !split.invert && bl.type === 'ByteLevel' && bl.use_regex === false && !bl.add_prefix_space) {
      return pattern.Regex;
    }
  }
  throw unsupported();
}
