// Transformer models: a configurable pre-norm decoder-only language model (GPT-2 / LLaMA style) and an
// encoder-decoder Transformer. Blocks live in a ModuleList called `layers`, so hook sites read
// `layers.3.attn.heads`, `layers.3.mlp.act`, `layers.3.resid`, and `logits` at the root.
// With `ffn: 'moe'` (TransformerLM only) every block's FFN is a top-k mixture of experts (nn/moe.ts):
// its sites are `layers.3.mlp.router` (router logits (B·T, E)) and, with the composed implementation
// only, `layers.3.mlp.act` (every expert's activation on every token, (E, B·T, dFF)); the fused
// kernels have no `act` site. `model.auxLoss()` gives the load-balancing + z-loss of the training
// forwards since the last call.
import { crossEntropy, fmtShape, KilnError, RangeArgumentError, ShapeError, type CrossEntropyOptions, type Engine, type Tensor } from '../engine/index.js';
import { AttentionCache, MultiheadAttention, RotaryEmbedding } from './attention.js';
import { Dropout, Embedding, LayerNorm, Linear, MLP, RMSNorm, SwiGLU } from './layers.js';
import { Module, ModuleList } from './module.js';
import { MoE, moeConfig, type MoESubConfig } from './moe.js';
import { LoadBalancer, type RoutingMonitor } from './moe-balance.js';

/** 'moe' (TransformerLM only): a mixture-of-experts FFN configured by `moe`. */
export type FFNKind = 'gelu' | 'swiglu' | 'moe';
export type NormKind = 'layernorm' | 'rmsnorm';
export type PositionKind = 'learned' | 'rotary';

/** Options shared by both models. Plain data: round-trips through JSON (checkpoints store it). */
interface CommonConfig {
  dModel: number;
  nHeads: number;
  dFF: number;
  ffn: FFNKind;
  norm: NormKind;
  positions: PositionKind;
  dropout: number;
  maxSeqLen: number;
  /** Biases in the attention and FFN projections. */
  bias: boolean;
  normEps: number;
  ropeBase: number;
  /** Output head shares the (target) token embedding matrix. */
  tiedEmbeddings: boolean;
  /** Standard deviation of the embedding initialisation. */
  initStd: number;
  /** With ffn 'moe': experts, top-k, router, shared experts, loss weights (dModel and dFF are the model's). */
  moe?: MoESubConfig;
}

export interface TransformerLMConfig extends CommonConfig {
  vocabSize: number;
  nLayers: number;
}

export interface TransformerConfig extends CommonConfig {
  srcVocabSize: number;
  tgtVocabSize: number;
  nEncoderLayers: number;
  nDecoderLayers: number;
  /** One token embedding for the encoder input and the decoder input (T5, Vaswani et al.): needs srcVocabSize = tgtVocabSize. */
  sharedEmbeddings: boolean;
}

const COMMON_DEFAULTS = {
  ffn: 'gelu',
  norm: 'layernorm',
  positions: 'learned',
  dropout: 0,
  maxSeqLen: 512,
  bias: true,
  normEps: 1e-5,
  ropeBase: 10000,
  tiedEmbeddings: true,
  initStd: 0.02,
} as const satisfies Partial<CommonConfig>;

type Required<C, K extends keyof C> = Pick<C, K> & Partial<C>;
export type TransformerLMConfigInput = Required<TransformerLMConfig, 'vocabSize' | 'dModel' | 'nLayers' | 'nHeads'>;
export type TransformerConfigInput = Required<TransformerConfig, 'srcVocabSize' | 'tgtVocabSize' | 'dModel' | 'nHeads'>;

function checkCommon(c: CommonConfig, what: string): void {
  for (const k of ['dModel', 'nHeads', 'dFF', 'maxSeqLen'] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new RangeArgumentError(`${what}: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.dModel % c.nHeads !== 0) throw new RangeArgumentError(`${what}: dModel ${c.dModel} is not divisible by nHeads ${c.nHeads}`);
  if (c.positions === 'rotary' && (c.dModel / c.nHeads) % 2 !== 0) throw new RangeArgumentError(`${what}: rotary positions need an even head dim, got ${c.dModel / c.nHeads}`);
  if (!['gelu', 'swiglu', 'moe'].includes(c.ffn)) throw new RangeArgumentError(`${what}: ffn must be 'gelu', 'swiglu' or 'moe', got ${c.ffn}`);
  if (!['layernorm', 'rmsnorm'].includes(c.norm)) throw new RangeArgumentError(`${what}: norm must be 'layernorm' or 'rmsnorm', got ${c.norm}`);
  if (!['learned', 'rotary'].includes(c.positions)) throw new RangeArgumentError(`${what}: positions must be 'learned' or 'rotary', got ${c.positions}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new RangeArgumentError(`${what}: dropout must be in [0, 1), got ${c.dropout}`);
}

/** A complete LM config: defaults filled in (dFF defaults to 4 dModel), validated. */
export function transformerLMConfig(input: TransformerLMConfigInput): TransformerLMConfig {
  const c: TransformerLMConfig = { ...COMMON_DEFAULTS, dFF: 4 * input.dModel, ...input };
  checkCommon(c, 'TransformerLM');
  if (c.ffn === 'moe') {
    // Fill the sub-config's defaults so a saved config states every choice; validate through moeConfig.
    const { dModel: _d, ...sub } = moeConfig({ numExperts: 8, ...c.moe, dModel: c.dModel, dFF: c.moe?.dFF ?? c.dFF });
    void _d;
    c.moe = sub;
  }
  for (const k of ['vocabSize', 'nLayers'] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new RangeArgumentError(`TransformerLM: ${k} must be a positive integer, got ${c[k]}`);
  }
  return c;
}

/** A complete encoder-decoder config (2 + 2 layers unless given). */
export function transformerConfig(input: TransformerConfigInput): TransformerConfig {
  const c: TransformerConfig = { ...COMMON_DEFAULTS, dFF: 4 * input.dModel, nEncoderLayers: 2, nDecoderLayers: 2, sharedEmbeddings: false, ...input };
  checkCommon(c, 'Transformer');
  if (c.sharedEmbeddings && c.srcVocabSize !== c.tgtVocabSize) throw new RangeArgumentError(`Transformer: sharedEmbeddings needs srcVocabSize = tgtVocabSize, got ${c.srcVocabSize} and ${c.tgtVocabSize}`);
  if (c.ffn === 'moe') throw new RangeArgumentError("Transformer: ffn 'moe' is supported by TransformerLM only");
  return c;
}

// ------------------------------------------------------------------ blocks

function makeNorm(engine: Engine, c: CommonConfig): LayerNorm | RMSNorm {
  return c.norm === 'rmsnorm' ? new RMSNorm(engine, c.dModel, { eps: c.normEps }) : new LayerNorm(engine, c.dModel, { eps: c.normEps });
}

function makeFFN(engine: Engine, c: CommonConfig): MLP | SwiGLU | MoE {
  if (c.ffn === 'moe') return new MoE(engine, { ...c.moe, dModel: c.dModel, dFF: c.moe?.dFF ?? c.dFF, numExperts: c.moe?.numExperts ?? 8 });
  return c.ffn === 'swiglu'
    ? new SwiGLU(engine, c.dModel, c.dFF, { bias: c.bias, dropout: c.dropout })
    : new MLP(engine, c.dModel, c.dFF, { bias: c.bias, dropout: c.dropout });
}

/** Per-layer decoding state: self-attention keys/values, and the projected context for cross-attention. */
export interface BlockCache {
  self: AttentionCache;
  cross?: AttentionCache;
}

export interface BlockForwardOptions {
  causal?: boolean;
  /** (B, Tk) non-zero = padded key, for self-attention. */
  keyPaddingMask?: Tensor | null;
  /** Encoder output (B, S, dModel); makes a cross-attention block attend to it. */
  memory?: Tensor | null;
  /** (B, S) non-zero = padded source position, for cross-attention. */
  memoryPaddingMask?: Tensor | null;
  cache?: BlockCache | null;
  /** Extra mask of the self-attention, broadcastable to (B, H, T, Tk) (e.g. headKeyMask for per-head ablations). */
  attnMask?: Tensor | null;
}

/**
 * Pre-norm block: x + attn(norm(x)) [+ crossAttn(norm(x), memory)] + mlp(norm(x)). Hook site
 * `resid`: the residual stream after the block (B, T, dModel).
 */
export class TransformerBlock extends Module {
  readonly ln1: LayerNorm | RMSNorm;
  readonly attn: MultiheadAttention;
  readonly lnCross: LayerNorm | RMSNorm | null = null;
  readonly crossAttn: MultiheadAttention | null = null;
  readonly ln2: LayerNorm | RMSNorm;
  readonly mlp: MLP | SwiGLU | MoE;
  readonly drop: Dropout;

  constructor(engine: Engine, c: CommonConfig, options: { rope?: RotaryEmbedding | null; cross?: boolean } = {}) {
    super(engine);
    this.ln1 = this.registerModule('ln1', makeNorm(engine, c));
    this.attn = this.registerModule('attn', new MultiheadAttention(engine, c.dModel, c.nHeads, { bias: c.bias, dropout: c.dropout, rotary: options.rope ?? false }));
    if (options.cross) {
      this.lnCross = this.registerModule('lnCross', makeNorm(engine, c));
      this.crossAttn = this.registerModule('crossAttn', new MultiheadAttention(engine, c.dModel, c.nHeads, { bias: c.bias, dropout: c.dropout }));
    }
    this.ln2 = this.registerModule('ln2', makeNorm(engine, c));
    this.mlp = this.registerModule('mlp', makeFFN(engine, c));
    this.drop = this.registerModule('drop', new Dropout(engine, c.dropout));
  }

  /** (B, T, dModel) -> (B, T, dModel) */
  forward(x: Tensor, options: BlockForwardOptions = {}): Tensor {
    const residual = (h: Tensor, f: (n: Tensor) => Tensor, norm: LayerNorm | RMSNorm): Tensor => {
      const n = norm.forward(h);
      const a = f(n);
      const d = this.drop.forward(a);
      const out = h.add(d);
      for (const u of [n, a, d]) u.dispose();
      return out;
    };
    let h = residual(x, (n) => this.attn.forward(n, { causal: options.causal, keyPaddingMask: options.keyPaddingMask, attnMask: options.attnMask, cache: options.cache?.self }), this.ln1);
    if (this.crossAttn && this.lnCross) {
      if (!options.memory) throw new KilnError(`${this.name || 'TransformerBlock'}: a cross-attention block needs memory`);
      const h2 = residual(h, (n) => this.crossAttn!.forward(n, { context: options.memory, keyPaddingMask: options.memoryPaddingMask, cache: options.cache?.cross }), this.lnCross);
      h.dispose();
      h = h2;
    }
    const h3 = residual(h, (n) => this.mlp.forward(n), this.ln2);
    h.dispose();
    return this.site('resid', h3);
  }
}

/** Decoding state of a whole model: one BlockCache per decoder layer. */
export class TransformerCache {
  constructor(readonly layers: BlockCache[]) {}
  /** Positions already decoded. */
  get length(): number {
    return this.layers[0]?.self.length ?? 0;
  }
  dispose(): void {
    for (const l of this.layers) {
      l.self.dispose();
      l.cross?.dispose();
    }
  }
}

/** Token embedding plus learned positions (if any), scaled by nothing, then dropout: (B, T) -> (B, T, dModel). */
function embed(tok: Embedding, pos: Embedding | null, drop: Dropout, ids: Tensor, offset: number, maxSeqLen: number): Tensor {
  if (ids.ndim !== 2) throw new ShapeError(`embedding: expected token ids (B, T), got ${fmtShape(ids.shape)}`);
  const t = ids.shape[1];
  if (offset + t > maxSeqLen) throw new RangeArgumentError(`positions up to ${offset + t} exceed maxSeqLen ${maxSeqLen}`);
  let x = tok.forward(ids); // (B, T, dModel)
  if (pos) {
    const p = ids.engine.arange(offset, offset + t);
    const pe = pos.forward(p); // (T, dModel), broadcast over B
    const s = x.add(pe);
    for (const u of [p, pe, x]) u.dispose();
    x = s;
  }
  const d = drop.forward(x);
  x.dispose();
  return d;
}

// ------------------------------------------------------------------ decoder-only LM

export interface LMForwardOptions {
  cache?: TransformerCache | null;
  /** (B, T_total) non-zero = padded key (T_total includes cached positions). */
  keyPaddingMask?: Tensor | null;
}

/** Decoder-only pre-norm Transformer language model. */
export class TransformerLM extends Module {
  readonly config: TransformerLMConfig;
  readonly tokEmb: Embedding;
  readonly posEmb: Embedding | null = null;
  readonly drop: Dropout;
  readonly layers: ModuleList<TransformerBlock>;
  readonly lnF: LayerNorm | RMSNorm;
  readonly head: Linear | null = null;
  readonly rope: RotaryEmbedding | null = null;
  /** With ffn 'moe': collects the MoE layers' routing for auxLoss() (micro scope unless replaced). */
  private balancer: LoadBalancer | null = null;

  constructor(engine: Engine, config: TransformerLMConfigInput) {
    super(engine);
    const c = (this.config = transformerLMConfig(config));
    this.tokEmb = this.registerModule('tokEmb', new Embedding(engine, c.vocabSize, c.dModel, { std: c.initStd }));
    if (c.positions === 'learned') this.posEmb = this.registerModule('posEmb', new Embedding(engine, c.maxSeqLen, c.dModel, { std: c.initStd }));
    else this.rope = new RotaryEmbedding(engine, c.dModel / c.nHeads, c.maxSeqLen, c.ropeBase);
    this.drop = this.registerModule('drop', new Dropout(engine, c.dropout));
    const blocks = Array.from({ length: c.nLayers }, () => new TransformerBlock(engine, c, { rope: this.rope }));
    this.layers = this.registerModule('layers', new ModuleList(engine, blocks));
    this.lnF = this.registerModule('lnF', makeNorm(engine, c));
    if (!c.tiedEmbeddings) this.head = this.registerModule('head', new Linear(engine, c.dModel, c.vocabSize, { bias: false }));
    if (c.ffn === 'moe') this.setLoadBalancer(new LoadBalancer(engine));
  }

  /** The MoE layers (empty unless ffn is 'moe'). */
  get moeLayers(): MoE[] {
    return this.layers.items.map((b) => b.mlp).filter((m): m is MoE => m instanceof MoE);
  }

  /**
   * Use `b` for every MoE layer (scope micro, global or buffer; see LoadBalancer for the loops).
   * The model disposes the balancer it replaces and, on dispose, the current one.
   */
  setLoadBalancer(b: LoadBalancer): void {
    if (!this.moeLayers.length) throw new KilnError('TransformerLM.setLoadBalancer: the model has no MoE layers (ffn is not "moe")');
    if (this.balancer && this.balancer !== b) this.balancer.dispose();
    this.balancer = b;
    for (const m of this.moeLayers) m.setLoadBalancer(b);
  }

  get loadBalancer(): LoadBalancer | null {
    return this.balancer;
  }

  /** Accumulate every MoE layer's routing counts into `m` (null to detach). */
  setRoutingMonitor(m: RoutingMonitor | null): void {
    for (const l of this.moeLayers) l.setRoutingMonitor(m);
  }

  /**
   * Auxiliary loss of the training forwards since the last call: mean over MoE layers of
   * lblWeight·LBL + zLossWeight·z-loss, to add to the LM loss. A 0-d zero for a dense model or when
   * no training forward is pending (evaluation and noGrad forwards record nothing).
   */
  auxLoss(): Tensor {
    return this.balancer ? this.balancer.loss() : this.engine.zeros([]);
  }

  /** A fresh decoding cache for `batch` sequences of up to `maxLen` positions. */
  newCache(batch: number, maxLen = this.config.maxSeqLen): TransformerCache {
    void batch; // buffers are sized on the first append
    return new TransformerCache(this.layers.items.map(() => ({ self: new AttentionCache(Math.min(maxLen, this.config.maxSeqLen)) })));
  }

  /** ids (B, T) i32 -> logits (B, T, vocabSize). With a cache, ids are the next T tokens after the cached ones. */
  forward(ids: Tensor, options: LMForwardOptions = {}): Tensor {
    const c = this.config;
    const cache = options.cache ?? null;
    const offset = cache?.length ?? 0;
    const x0 = embed(this.tokEmb, this.posEmb, this.drop, ids, offset, c.maxSeqLen); // (B, T, dModel)
    // Block outputs went through the `resid` site and may be held by a hook: left to the caller's tidy.
    let x = x0;
    this.layers.items.forEach((block, i) => {
      x = block.forward(x, { causal: true, keyPaddingMask: options.keyPaddingMask, cache: cache?.layers[i] });
    });
    if (x !== x0) x0.dispose();
    const h = this.lnF.forward(x); // (B, T, dModel)
    const logits = this.head ? this.head.forward(h) : h.matmul(this.tokEmb.weight.mT); // (B, T, V)
    h.dispose();
    return this.site('logits', logits);
  }

  /** Mean next-token cross-entropy of logits(ids) against targets (B, T). */
  loss(ids: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
    const logits = this.forward(ids);
    const l = crossEntropy(logits, targets, options);
    logits.dispose();
    return l;
  }

  override dispose(): void {
    super.dispose();
    this.rope?.dispose();
    this.balancer?.dispose();
  }
}

// ------------------------------------------------------------------ encoder-decoder

/** A stack of blocks with a final norm. */
export class TransformerStack extends Module {
  readonly layers: ModuleList<TransformerBlock>;
  readonly norm: LayerNorm | RMSNorm;

  constructor(engine: Engine, c: CommonConfig, n: number, options: { rope: RotaryEmbedding | null; cross: boolean }) {
    super(engine);
    this.layers = this.registerModule('layers', new ModuleList(engine, Array.from({ length: n }, () => new TransformerBlock(engine, c, options))));
    this.norm = this.registerModule('norm', makeNorm(engine, c));
  }

  forward(x: Tensor, options: (i: number) => BlockForwardOptions): Tensor {
    // Block outputs went through the `resid` site and may be held by a hook: left to the caller's tidy.
    let h = x;
    this.layers.items.forEach((block, i) => {
      h = block.forward(h, options(i));
    });
    return this.norm.forward(h);
  }
}

export interface Seq2SeqForwardOptions {
  /** (B, S) non-zero = padded source token. */
  srcPaddingMask?: Tensor | null;
  /** (B, T) non-zero = padded target token. */
  tgtPaddingMask?: Tensor | null;
  cache?: TransformerCache | null;
  /** Vectors (B or 1, P, dModel) in front of the source tokens (see Seq2SeqEncodeOptions.prefix); srcPaddingMask then covers P + S. */
  prefix?: Tensor | null;
}

export interface Seq2SeqEncodeOptions {
  /** (B, S) non-zero = padded source position (B, P + S with a prefix). */
  srcPaddingMask?: Tensor | null;
  /** Vectors (B or 1, P, dModel) in front of the embedded source tokens, without positions (soft prompts, rule descriptions). */
  prefix?: Tensor | null;
  /** Extra self-attention mask of the encoder, broadcastable to (B, H, S, S): one for all layers, or per layer. */
  attnMask?: Tensor | null | ((layer: number) => Tensor | null);
}

/**
 * Encoder-decoder Transformer (Vaswani et al. 2017, pre-norm): the encoder's blocks use bidirectional
 * self-attention, the decoder's causal self-attention then cross-attention to the encoder output.
 * Hook sites: `encoder.layers.i.*`, `decoder.layers.i.{attn,crossAttn}.heads`, …, `logits`.
 */
export class Transformer extends Module {
  readonly config: TransformerConfig;
  readonly srcEmb: Embedding;
  readonly tgtEmb: Embedding;
  readonly srcPos: Embedding | null = null;
  readonly tgtPos: Embedding | null = null;
  readonly drop: Dropout;
  readonly encoder: TransformerStack;
  readonly decoder: TransformerStack;
  readonly head: Linear | null = null;
  readonly rope: RotaryEmbedding | null = null;

  constructor(engine: Engine, config: TransformerConfigInput) {
    super(engine);
    const c = (this.config = transformerConfig(config));
    // Shared: the encoder reads the decoder's table (registered once, as tgtEmb, so it is one parameter).
    const srcEmb = c.sharedEmbeddings ? null : this.registerModule('srcEmb', new Embedding(engine, c.srcVocabSize, c.dModel, { std: c.initStd }));
    this.tgtEmb = this.registerModule('tgtEmb', new Embedding(engine, c.tgtVocabSize, c.dModel, { std: c.initStd }));
    this.srcEmb = srcEmb ?? this.tgtEmb;
    if (c.positions === 'learned') {
      this.srcPos = this.registerModule('srcPos', new Embedding(engine, c.maxSeqLen, c.dModel, { std: c.initStd }));
      this.tgtPos = this.registerModule('tgtPos', new Embedding(engine, c.maxSeqLen, c.dModel, { std: c.initStd }));
    } else this.rope = new RotaryEmbedding(engine, c.dModel / c.nHeads, c.maxSeqLen, c.ropeBase);
    this.drop = this.registerModule('drop', new Dropout(engine, c.dropout));
    this.encoder = this.registerModule('encoder', new TransformerStack(engine, c, c.nEncoderLayers, { rope: this.rope, cross: false }));
    this.decoder = this.registerModule('decoder', new TransformerStack(engine, c, c.nDecoderLayers, { rope: this.rope, cross: true }));
    if (!c.tiedEmbeddings) this.head = this.registerModule('head', new Linear(engine, c.dModel, c.tgtVocabSize, { bias: false }));
  }

  /**
   * src (B, S) -> memory (B, S, dModel); with a prefix (B or 1, P, dModel) of vectors put in front of
   * the embedded tokens (no positions: they sit outside the sentence), memory (B, P + S, dModel) and
   * srcPaddingMask covers (B, P + S).
   */
  encode(src: Tensor, options: Seq2SeqEncodeOptions = {}): Tensor {
    let x = embed(this.srcEmb, this.srcPos, this.drop, src, 0, this.config.maxSeqLen);
    const prefix = options.prefix;
    if (prefix) {
      const b = src.shape[0];
      if (prefix.ndim !== 3 || prefix.shape[2] !== this.config.dModel || (prefix.shape[0] !== b && prefix.shape[0] !== 1)) {
        x.dispose();
        throw new ShapeError(`Transformer.encode: prefix ${fmtShape(prefix.shape)} must be (B or 1, P, ${this.config.dModel}) for src ${fmtShape(src.shape)}`);
      }
      const p = prefix.shape[0] === b ? prefix : prefix.expand([b, prefix.shape[1], prefix.shape[2]]);
      const joined = this.engine.cat([p, x], 1); // (B, P + S, dModel)
      if (p !== prefix) p.dispose();
      x.dispose();
      x = joined;
    }
    const mask = options.attnMask;
    const m = this.encoder.forward(x, (i) => ({ causal: false, keyPaddingMask: options.srcPaddingMask, attnMask: typeof mask === 'function' ? mask(i) : mask }));
    x.dispose();
    return m;
  }

  /** tgt (B, T), memory (B, S, dModel) -> logits (B, T, tgtVocabSize). With a cache, tgt continues the cached prefix. */
  decode(tgt: Tensor, memory: Tensor, options: Seq2SeqForwardOptions = {}): Tensor {
    const cache = options.cache ?? null;
    const x = embed(this.tgtEmb, this.tgtPos, this.drop, tgt, cache?.length ?? 0, this.config.maxSeqLen);
    const h = this.decoder.forward(x, (i) => ({
      causal: true,
      keyPaddingMask: options.tgtPaddingMask,
      memory,
      memoryPaddingMask: options.srcPaddingMask,
      cache: cache?.layers[i],
    }));
    x.dispose();
    const logits = this.head ? this.head.forward(h) : h.matmul(this.tgtEmb.weight.mT); // (B, T, V)
    h.dispose();
    return this.site('logits', logits);
  }

  /** src (B, S), tgt (B, T) -> logits (B, T, tgtVocabSize) */
  forward(src: Tensor, tgt: Tensor, options: Seq2SeqForwardOptions = {}): Tensor {
    const memory = this.encode(src, options);
    const logits = this.decode(tgt, memory, options);
    memory.dispose();
    return logits;
  }

  /** A fresh decoding cache (self-attention and cross-attention per decoder layer). */
  newCache(batch: number, maxLen = this.config.maxSeqLen): TransformerCache {
    void batch;
    const len = Math.min(maxLen, this.config.maxSeqLen);
    return new TransformerCache(this.decoder.layers.items.map(() => ({ self: new AttentionCache(len), cross: new AttentionCache(len) })));
  }

  override dispose(): void {
    super.dispose();
    this.rope?.dispose();
  }
}
