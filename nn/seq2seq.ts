// Autoregressive decoding for encoder-decoder models: the source is encoded once, the decoder runs one
// token per step with its self-attention KV cache, and each cross-attention projects the encoder
// output to keys/values on the first step only (AttentionCache.setStatic). Greedy by default; the
// token choice is generate's (sampleStep), so temperature / top-k / top-p work too. Finished rows
// (past EOS) emit `pad`; the loop stops early once every row has finished (checked every few steps,
// each check is one small readback).
import { RangeArgumentError, ShapeError, fmtShape, type Engine, type Tensor } from '../engine/index.js';
import { readSteps, sampleStep, type DecodingOptions } from './generate.js';

/** What generateSeq2Seq needs from a model: nn's Transformer fits. */
export interface Seq2SeqModel<C extends { dispose(): void } = { dispose(): void }> {
  readonly engine: Engine;
  readonly config?: { readonly maxSeqLen?: number };
  training: boolean;
  train(mode?: boolean): unknown;
  /** src (B, S) -> memory (B, P + S, dModel) (P = prefix length, 0 without one). */
  encode(src: Tensor, options?: { srcPaddingMask?: Tensor | null; prefix?: Tensor | null; attnMask?: Tensor | null | ((layer: number) => Tensor | null) }): Tensor;
  /** tgt (B, T), memory -> logits (B, T, V); with a cache, tgt continues the cached prefix. */
  decode(tgt: Tensor, memory: Tensor, options?: { srcPaddingMask?: Tensor | null; cache?: C | null }): Tensor;
  newCache(batch: number, maxLen?: number): C;
}

export interface Seq2SeqGenerateOptions extends DecodingOptions {
  maxNewTokens: number;
  /** The decoder's start token. */
  bos: number;
  /** End token: a row is finished after emitting it (absent: every row runs maxNewTokens steps). */
  eos?: number;
  /** Emitted by finished rows (default 0). */
  pad?: number;
  /** (B, S) non-zero = padded source position (B, P + S with a prefix). */
  srcPaddingMask?: Tensor | null;
  /** Vectors (B or 1, P, dModel) in front of the source tokens (Transformer.encode's prefix). */
  prefix?: Tensor | null;
  /** Extra encoder self-attention mask, one for all layers or per layer (Transformer.encode's attnMask, e.g. headKeyMask). */
  encoderAttnMask?: Tensor | null | ((layer: number) => Tensor | null);
  /** Read the finished flags every this many steps to stop early (default 8; 0 = never). */
  checkEvery?: number;
  /** Seed for sampled decoding (the engine's generator state is restored afterwards). */
  seed?: number;
}

export interface Seq2SeqGenerateResult {
  /** Per row: the generated tokens up to and including the first EOS (all of them without one). */
  tokens: number[][];
  /** Per row: every step's token, pads after EOS, (B, steps run). */
  raw: number[][];
  /** log p(token) of every step (untempered), (B, steps run). */
  logProbs: number[][];
  /** Decoder steps run (maxNewTokens unless every row finished earlier). */
  steps: number;
}

/** Cut each row after its first `eos` (kept). */
export function cutAtEos(rows: readonly number[][], eos: number | undefined): number[][] {
  if (eos === undefined) return rows.map((r) => [...r]);
  return rows.map((r) => {
    const i = r.indexOf(eos);
    return i < 0 ? [...r] : r.slice(0, i + 1);
  });
}

/**
 * Decode `maxNewTokens` tokens per source row (B, S) i32 after `bos`. The model is in eval mode for
 * the call and restored afterwards. Everything per step stays on the GPU; tokens and log-probs are
 * read back once at the end.
 */
export async function generateSeq2Seq<C extends { dispose(): void }>(model: Seq2SeqModel<C>, src: Tensor | number[][], options: Seq2SeqGenerateOptions): Promise<Seq2SeqGenerateResult> {
  const engine = model.engine;
  const n = options.maxNewTokens;
  if (!Number.isInteger(n) || n < 1) throw new RangeArgumentError(`generateSeq2Seq: maxNewTokens must be a positive integer, got ${n}`);
  const maxSeqLen = model.config?.maxSeqLen;
  if (maxSeqLen !== undefined && n > maxSeqLen) throw new RangeArgumentError(`generateSeq2Seq: maxNewTokens ${n} exceeds the model's maxSeqLen ${maxSeqLen}`);
  const checkEvery = options.checkEvery ?? 8;
  if (!Number.isInteger(checkEvery) || checkEvery < 0) throw new RangeArgumentError(`generateSeq2Seq: checkEvery must be an integer >= 0, got ${checkEvery}`);
  const pad = options.pad ?? 0;
  const ids = Array.isArray(src) ? engine.tensor(src, undefined, { dtype: 'i32' }) : src;
  if (ids.ndim !== 2 || ids.shape[1] === 0) {
    if (ids !== src) ids.dispose();
    throw new ShapeError(`generateSeq2Seq: expected source ids (B, S) with S >= 1, got ${fmtShape(ids.shape)}`);
  }
  const b = ids.shape[0];
  const decoding: DecodingOptions = { temperature: options.temperature ?? 0, topK: options.topK, topP: options.topP };
  const wasTraining = model.training;
  const savedRng = options.seed !== undefined ? engine.getRngState() : null;
  if (options.seed !== undefined) engine.manualSeed(options.seed);
  model.train(false);
  const cache = model.newCache(b, n);
  const steps: { tokens: Tensor; logProbs: Tensor }[] = [];
  let memory: Tensor | null = null;
  let bosIds: Tensor | null = null;
  let done: Tensor | null = null;
  try {
    memory = engine.noGrad(() => engine.tidy(() => model.encode(ids, { srcPaddingMask: options.srcPaddingMask, prefix: options.prefix, attnMask: options.encoderAttnMask }))); // (B, P + S, dModel)
    bosIds = engine.full([b, 1], options.bos, { dtype: 'i32' });
    let finished: Tensor = (done = engine.zeros([b, 1], { dtype: 'u32' })); // (B, 1) u32, 1 = past EOS
    let input: Tensor = bosIds; // the previous step's tokens (owned by `steps`) after the first step
    for (let i = 0; i < n; i++) {
      const x: Tensor = input, mem: Tensor = memory, fin: Tensor = finished;
      const next: { tokens: Tensor; logProbs: Tensor; done: Tensor } = engine.noGrad(() =>
        engine.tidy(() => {
          const logits = model.decode(x, mem, { srcPaddingMask: options.srcPaddingMask, cache }); // (B, 1, V)
          const step = sampleStep(logits.select(1, 0), decoding); // tokens (B, 1) i32
          const tokens = step.tokens.where(fin.eq(0), pad); // finished rows emit pad
          const nowDone = options.eos === undefined ? fin.clone() : fin.add(tokens.eq(options.eos)).ne(0); // (B, 1) u32
          return { tokens, logProbs: step.logProbs, done: nowDone };
        }),
      );
      finished.dispose();
      input = next.tokens;
      finished = done = next.done;
      steps.push({ tokens: next.tokens, logProbs: next.logProbs });
      if (options.eos !== undefined && checkEvery > 0 && (i + 1) % checkEvery === 0 && i + 1 < n) {
        const f = finished;
        const left = engine.noGrad(() => engine.tidy(() => f.eq(0).to('f32').sum()));
        const remaining = await left.item();
        left.dispose();
        if (remaining === 0) break;
      }
    }
    const [raw, logProbs] = await Promise.all([readSteps(engine, steps, (s) => s.tokens, b), readSteps(engine, steps, (s) => s.logProbs, b)]);
    return { tokens: cutAtEos(raw, options.eos), raw, logProbs, steps: steps.length };
  } finally {
    for (const s of steps) {
      s.tokens.dispose();
      s.logProbs.dispose();
    }
    bosIds?.dispose();
    done?.dispose();
    memory?.dispose();
    cache.dispose();
    if (ids !== src) ids.dispose();
    model.train(wasTraining);
    if (savedRng) engine.setRngState(savedRng);
  }
}
