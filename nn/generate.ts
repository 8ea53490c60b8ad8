// Autoregressive generation with a KV cache: greedy (temperature 0) or sampled with temperature,
// top-k and top-p (nucleus) filtering. Everything per step stays on the GPU: the chosen token ids
// feed the next step directly, and tokens, log-probs and margins are read back once at the end.
import { RangeArgumentError, ShapeError, fmtShape, type Engine, type Tensor } from '../engine/index.js';

/** What generate needs from a model: TransformerLM fits. */
export interface CausalLM<C extends { dispose(): void } = { dispose(): void }> {
  readonly engine: Engine;
  /** The longest sequence the model takes; generate checks prompt + new tokens against it at the call. */
  readonly config?: { readonly maxSeqLen?: number };
  training: boolean;
  train(mode?: boolean): unknown;
  /** ids (B, T) i32 -> logits (B, T, V); with a cache, ids continue the cached prefix. */
  forward(ids: Tensor, options?: { cache?: C | null }): Tensor;
  newCache(batch: number, maxLen?: number): C;
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** Softmax temperature; 0 = greedy argmax (default 1). */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or absent = all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or absent = all). */
  topP?: number;
  /** Seed for this call (the engine's generator state is restored afterwards); absent = the engine's stream. */
  seed?: number;
}

/** How each token is chosen (generate's options less length and seed). */
export type DecodingOptions = Omit<GenerateOptions, 'maxNewTokens' | 'seed'>;

export interface GenerateResult {
  /** The generated tokens, (B, maxNewTokens). */
  tokens: number[][];
  /** Prompt followed by the generated tokens, (B, T0 + maxNewTokens). */
  sequences: number[][];
  /** log p(token) under the untempered, unfiltered model distribution at each step. */
  logProbs: number[][];
  /** Top-1 minus top-2 logit at each step (how decided the model was). */
  margins: number[][];
}

/** Finite stand-in for -inf: a filtered token can never win the Gumbel argmax. */
const FILTERED = -1e30;

/** The decoding options with their defaults, checked at the call. */
function decodingOptions(options: DecodingOptions): { temperature: number; topK: number; topP: number } {
  const temperature = options.temperature ?? 1;
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  if (!(temperature >= 0)) throw new RangeArgumentError(`generate: temperature must be >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new RangeArgumentError(`generate: topK must be a non-negative integer, got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeArgumentError(`generate: topP must be in (0, 1], got ${topP}`);
  return { temperature, topK, topP };
}

/**
 * Token choice on scores (B, V) (logits, or any scores whose softmax is the wanted distribution):
 * argmax at temperature 0 (ties to the lower id), else a Gumbel-max draw from softmax(scores / T)
 * restricted by top-k and top-p. Returns ids (B, 1) i32. Call inside noGrad + tidy.
 */
function chooseTokens(scores: Tensor, o: { temperature: number; topK: number; topP: number }): Tensor {
  const engine = scores.engine;
  const [b, vocab] = scores.shape;
  const { temperature, topK, topP } = o;
  if (temperature === 0) return scores.argmax(-1, true); // (B, 1) i32, ties to the lower id
  let s = scores.div(temperature); // (B, V)
  if (topK > 0 && topK < vocab) {
    const kth = s.topk(topK, -1).values.narrow(1, topK - 1, 1); // (B, 1)
    s = s.where(s.ge(kth), FILTERED);
  }
  if (topP < 1) {
    const sorted = s.topk(vocab, -1).values; // (B, V) descending
    const p = sorted.softmax(-1);
    // Keep a token when the mass strictly before it is below topP (the top token always).
    const before = p.cumsum(-1).sub(p);
    const kept = before.lt(topP).to('f32').sum(-1, true); // (B, 1) count >= 1
    const last = kept.sub(1).clamp(0, vocab - 1).to('i32');
    const threshold = sorted.gather(1, last); // (B, 1) smallest kept logit
    s = s.where(s.ge(threshold), FILTERED);
  }
  const u = engine.rand([b, vocab]);
  const gumbel = u.log().neg().log().neg(); // (B, V)
  return s.add(gumbel).argmax(-1, true); // (B, 1) i32
}

/**
 * One decoding step on last-position logits (B, V): the chosen ids (B, 1) i32, their log-probs and
 * the top-1 minus top-2 margins (B, 1). Sampling is the Gumbel-max trick, argmax(logits / T + G)
 * with G = -log(-log U), U uniform from the engine's seeded generator: an exact draw from
 * softmax(logits / T) restricted to the kept tokens, in one argmax with no host round trip.
 */
export function sampleStep(logits: Tensor, options: DecodingOptions): { tokens: Tensor; logProbs: Tensor; margins: Tensor } {
  const engine = logits.engine;
  if (logits.ndim !== 2) throw new ShapeError(`sampleStep: expected logits (B, V), got ${fmtShape(logits.shape)}`);
  const [b, vocab] = logits.shape;
  const { temperature, topK, topP } = decodingOptions(options);
  return engine.noGrad(() =>
    engine.tidy(() => {
      const logp = logits.logSoftmax(-1); // (B, V), untempered
      let margins: Tensor;
      if (vocab >= 2) {
        const top2 = logits.topk(2, -1).values; // (B, 2)
        margins = top2.narrow(1, 0, 1).sub(top2.narrow(1, 1, 1)); // (B, 1)
      } else margins = engine.zeros([b, 1]);
      const tokens = chooseTokens(logits, { temperature, topK, topP });
      const logProbs = logp.gather(1, tokens); // (B, 1)
      return { tokens, logProbs, margins };
    }),
  );
}

/**
 * @internal One (B, 1) tensor per decoding step, picked from each step's record, read back as rows
 * (B, steps): the end-of-decode readback of generate, contrastiveGenerate and generateSeq2Seq.
 */
export async function readSteps<S>(engine: Engine, steps: readonly S[], pick: (s: S) => Tensor, b: number): Promise<number[][]> {
  const n = steps.length;
  if (n === 0) return Array.from({ length: b }, () => []);
  const all = engine.noGrad(() => engine.cat(steps.map(pick), 1)); // (B, n)
  try {
    const d = Array.from(await all.data());
    return Array.from({ length: b }, (_, r) => d.slice(r * n, (r + 1) * n));
  } finally {
    all.dispose();
  }
}

/**
 * Continue each prompt row (B, T0) by `maxNewTokens` tokens with the model's KV cache. The model is
 * put in eval mode for the call (dropout off) and restored afterwards. All rows have the same
 * prompt length (no padding).
 */
export async function generate<C extends { dispose(): void }>(model: CausalLM<C>, prompt: Tensor | number[][], options: GenerateOptions): Promise<GenerateResult> {
  const engine = model.engine;
  const n = options.maxNewTokens;
  if (!Number.isInteger(n) || n < 0) throw new RangeArgumentError(`generate: maxNewTokens must be a non-negative integer, got ${n}`);
  const ids = Array.isArray(prompt) ? engine.tensor(prompt, undefined, { dtype: 'i32' }) : prompt;
  if (ids.ndim !== 2 || ids.shape[1] === 0) throw new ShapeError(`generate: expected prompt ids (B, T0) with T0 >= 1, got ${fmtShape(ids.shape)}`);
  const [b, t0] = ids.shape;
  const maxSeqLen = model.config?.maxSeqLen;
  if (maxSeqLen !== undefined && t0 + n > maxSeqLen) {
    if (ids !== prompt) ids.dispose();
    throw new RangeArgumentError(`generate: prompt length ${t0} + maxNewTokens ${n} = ${t0 + n} exceeds the model's maxSeqLen ${maxSeqLen}`);
  }
  const wasTraining = model.training;
  const savedRng = options.seed !== undefined ? engine.getRngState() : null;
  if (options.seed !== undefined) engine.manualSeed(options.seed);
  model.train(false);
  const cache = model.newCache(b, t0 + n);
  const steps: { tokens: Tensor; logProbs: Tensor; margins: Tensor }[] = [];
  let logits: Tensor | null = null;
  try {
    const lastLogits = (x: Tensor): Tensor =>
      engine.noGrad(() =>
        engine.tidy(() => {
          const l = model.forward(x, { cache }); // (B, T, V)
          return l.select(1, l.shape[1] - 1); // (B, V)
        }),
      );
    logits = n > 0 ? lastLogits(ids) : null;
    for (let i = 0; i < n; i++) {
      const step = sampleStep(logits!, options);
      logits!.dispose();
      logits = null;
      steps.push(step);
      logits = i + 1 < n ? lastLogits(step.tokens) : null;
    }
    const [tokens, logProbs, margins] = await Promise.all([
      readSteps(engine, steps, (s) => s.tokens, b),
      readSteps(engine, steps, (s) => s.logProbs, b),
      readSteps(engine, steps, (s) => s.margins, b),
    ]);
    const promptRows = Array.isArray(prompt) ? prompt : ((await ids.array()) as number[][]);
    return { tokens, sequences: promptRows.map((p, r) => [...p, ...tokens[r]]), logProbs, margins };
  } finally {
    logits?.dispose();
    for (const s of steps) for (const t of Object.values(s)) t.dispose();
    cache.dispose();
    if (ids !== prompt) ids.dispose();
    model.train(wasTraining);
    if (savedRng) engine.setRngState(savedRng);
  }
}

// ------------------------------------------------------------------ contrastive decoding

export interface ContrastiveOptions extends GenerateOptions {
  /** Weight γ of the amateur's log-probs in the score s = ℓ_expert − γ·ℓ_amateur (default 1). */
  gamma?: number;
  /**
   * Plausibility α (Li et al. 2023): only tokens with p_expert ≥ α · max p_expert can be chosen;
   * the others score -inf (default 0.1; 0 keeps every token).
   */
  alpha?: number;
}

export interface ContrastiveResult {
  /** The generated tokens, (B, maxNewTokens). */
  tokens: number[][];
  /** Prompt followed by the generated tokens, (B, T0 + maxNewTokens). */
  sequences: number[][];
  /** The contrastive score s = ℓ_expert − γ·ℓ_amateur of each chosen token. */
  scores: number[][];
  /** log p_expert and log p_amateur of each chosen token. */
  expertLogProbs: number[][];
  amateurLogProbs: number[][];
}

function contrastOptions(options: { gamma?: number; alpha?: number }): { gamma: number; alpha: number } {
  const gamma = options.gamma ?? 1;
  const alpha = options.alpha ?? 0.1;
  if (!Number.isFinite(gamma)) throw new RangeArgumentError(`contrastiveGenerate: gamma must be a finite number, got ${gamma}`);
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeArgumentError(`contrastiveGenerate: alpha must be in [0, 1], got ${alpha}`);
  return { gamma, alpha };
}

/**
 * Contrastive scores of the next token from the two models' logits (B, V): ℓ_e − γ·ℓ_a on
 * log-softmax outputs (not logits), and a large negative constant outside the plausible head
 * {v : ℓ_e(v) ≥ max ℓ_e + log α}. The mask is applied after the subtraction by `where`, so no
 * -inf ever meets an arithmetic op (no NaN). Returns (B, V); a softmax over it is the sampling
 * distribution restricted to the head.
 */
export function contrastiveScores(expertLogits: Tensor, amateurLogits: Tensor, options: { gamma?: number; alpha?: number } = {}): Tensor {
  const { gamma, alpha } = contrastOptions(options);
  if (expertLogits.ndim !== 2 || amateurLogits.ndim !== 2 || expertLogits.shape.some((d, i) => d !== amateurLogits.shape[i])) {
    throw new ShapeError(`contrastiveScores: expected expert and amateur logits of the same shape (B, V), got ${fmtShape(expertLogits.shape)} and ${fmtShape(amateurLogits.shape)}`);
  }
  const engine = expertLogits.engine;
  return engine.noGrad(() =>
    engine.tidy(() => {
      const le = expertLogits.logSoftmax(-1); // (B, V)
      const la = amateurLogits.logSoftmax(-1); // (B, V)
      const s = gamma === 0 ? le : le.sub(la.mul(gamma));
      if (alpha === 0) return s === le ? le.clone() : s;
      const threshold = le.max(-1, true).add(Math.log(alpha)); // (B, 1)
      return s.where(le.ge(threshold), FILTERED);
    }),
  );
}

/**
 * Contrastive decoding over two causal LMs with one KV cache each: at every step both models read
 * the same prefix, the next token is chosen on contrastiveScores (greedy at temperature 0, else
 * sampled from softmax(s / T) with optional top-k / top-p), and both caches advance by it. This is
 * the decoding of contrastive generation (CGE: expert = fine-tuned, amateur = pre-trained model)
 * and of Li et al.'s contrastive decoding. Both models are in eval mode for the call; no EOS (every
 * row gets exactly maxNewTokens tokens). Everything stays on the GPU until the final readback.
 */
export async function contrastiveGenerate<C1 extends { dispose(): void }, C2 extends { dispose(): void }>(
  expert: CausalLM<C1>, amateur: CausalLM<C2>, prompt: Tensor | number[][], options: ContrastiveOptions,
): Promise<ContrastiveResult> {
  const engine = expert.engine;
  if (amateur.engine !== engine) throw new RangeArgumentError('contrastiveGenerate: the expert and amateur models live on different engines');
  const n = options.maxNewTokens;
  if (!Number.isInteger(n) || n < 0) throw new RangeArgumentError(`contrastiveGenerate: maxNewTokens must be a non-negative integer, got ${n}`);
  const choice = decodingOptions(options);
  const contrast = contrastOptions(options);
  const ids = Array.isArray(prompt) ? engine.tensor(prompt, undefined, { dtype: 'i32' }) : prompt;
  if (ids.ndim !== 2 || ids.shape[1] === 0) {
    if (ids !== prompt) ids.dispose();
    throw new ShapeError(`contrastiveGenerate: expected prompt ids (B, T0) with T0 >= 1, got ${fmtShape(ids.shape)}`);
  }
  const [b, t0] = ids.shape;
  for (const [who, m] of [['expert', expert], ['amateur', amateur]] as const) {
    const maxSeqLen = m.config?.maxSeqLen;
    if (maxSeqLen !== undefined && t0 + n > maxSeqLen) {
      if (ids !== prompt) ids.dispose();
      throw new RangeArgumentError(`contrastiveGenerate: prompt length ${t0} + maxNewTokens ${n} = ${t0 + n} exceeds the ${who} model's maxSeqLen ${maxSeqLen}`);
    }
  }
  const was = [expert.training, amateur.training];
  const savedRng = options.seed !== undefined ? engine.getRngState() : null;
  if (options.seed !== undefined) engine.manualSeed(options.seed);
  expert.train(false);
  amateur.train(false);
  const cacheE = expert.newCache(b, t0 + n);
  const cacheA = amateur.newCache(b, t0 + n);
  const steps: { tokens: Tensor; scores: Tensor; expert: Tensor; amateur: Tensor }[] = [];
  let logits: [Tensor, Tensor] | null = null;
  const disposeLogits = () => {
    logits?.forEach((t) => t.dispose());
    logits = null;
  };
  try {
    const last = <C extends { dispose(): void }>(m: CausalLM<C>, cache: C, x: Tensor): Tensor =>
      engine.noGrad(() =>
        engine.tidy(() => {
          const l = m.forward(x, { cache }); // (B, T, V)
          return l.select(1, l.shape[1] - 1); // (B, V)
        }),
      );
    const advance = (x: Tensor): [Tensor, Tensor] => [last(expert, cacheE, x), last(amateur, cacheA, x)];
    if (n > 0) {
      logits = advance(ids);
      if (logits[0].shape[1] !== logits[1].shape[1]) {
        throw new ShapeError(`contrastiveGenerate: the expert has ${logits[0].shape[1]} logits per token but the amateur ${logits[1].shape[1]}; the vocabularies must match`);
      }
    }
    for (let i = 0; i < n; i++) {
      const [le, la] = logits!;
      const step = engine.noGrad(() =>
        engine.tidy(() => {
          const s = contrastiveScores(le, la, contrast); // (B, V)
          const tokens = chooseTokens(s, choice); // (B, 1) i32
          return { tokens, scores: s.gather(1, tokens), expert: le.logSoftmax(-1).gather(1, tokens), amateur: la.logSoftmax(-1).gather(1, tokens) };
        }),
      );
      disposeLogits();
      steps.push(step);
      if (i + 1 < n) logits = advance(step.tokens);
    }
    const [tokens, scores, expertLogProbs, amateurLogProbs] = await Promise.all([
      readSteps(engine, steps, (s) => s.tokens, b),
      readSteps(engine, steps, (s) => s.scores, b),
      readSteps(engine, steps, (s) => s.expert, b),
      readSteps(engine, steps, (s) => s.amateur, b),
    ]);
    const promptRows = Array.isArray(prompt) ? prompt : ((await ids.array()) as number[][]);
    return { tokens, sequences: promptRows.map((p, r) => [...p, ...tokens[r]]), scores, expertLogProbs, amateurLogProbs };
  } finally {
    disposeLogits();
    for (const s of steps) for (const t of Object.values(s)) t.dispose();
    cacheE.dispose();
    cacheA.dispose();
    if (ids !== prompt) ids.dispose();
    expert.train(was[0]);
    amateur.train(was[1]);
    if (savedRng) engine.setRngState(savedRng);
  }
}

/**
 * Per-sequence mean log-likelihood of ids (B, T) under a causal LM: (1/(T−1)) Σ_{t≥1} log p(x_t | x_<t),
 * as a host array of B numbers (one readback). Rows are scored in chunks of `batchSize`.
 */
export async function sequenceLogLikelihood(model: CausalLM, rows: number[][], options: { batchSize?: number } = {}): Promise<number[]> {
  const engine = model.engine;
  const bs = options.batchSize ?? 64;
  if (!rows.length) return [];
  const T = rows[0].length;
  if (T < 2) throw new ShapeError(`sequenceLogLikelihood: sequences need at least 2 tokens, got ${T}`);
  for (const r of rows) if (r.length !== T) throw new ShapeError(`sequenceLogLikelihood: every sequence must have ${T} tokens, got one of ${r.length}`);
  const was = model.training;
  model.train(false);
  const parts: Tensor[] = [];
  try {
    for (let i = 0; i < rows.length; i += bs) {
      const chunk = rows.slice(i, i + bs);
      parts.push(engine.noGrad(() =>
        engine.tidy(() => {
          const inputs = engine.tensor(chunk.map((r) => r.slice(0, -1)), undefined, { dtype: 'i32' }); // (b, T-1)
          const targets = engine.tensor(chunk.map((r) => r.slice(1)), undefined, { dtype: 'i32' }); // (b, T-1)
          const logp = model.forward(inputs).logSoftmax(-1); // (b, T-1, V)
          return logp.gather(2, targets.unsqueeze(2)).squeeze(2).mean(1); // (b)
        }),
      ));
    }
    const all = engine.cat(parts, 0);
    const out = Array.from(await all.data());
    all.dispose();
    return out;
  } finally {
    parts.forEach((p) => p.dispose());
    model.train(was);
  }
}
