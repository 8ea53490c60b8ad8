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

/**
 * One decoding step on last-position logits (B, V): the chosen ids (B, 1) i32, their log-probs and
 * the top-1 minus top-2 margins (B, 1). Sampling is the Gumbel-max trick, argmax(logits / T + G)
 * with G = -log(-log U), U uniform from the engine's seeded generator: an exact draw from
 * softmax(logits / T) restricted to the kept tokens, in one argmax with no host round trip.
 */
export function sampleStep(logits: Tensor, options: Omit<GenerateOptions, 'maxNewTokens' | 'seed'>): { tokens: Tensor; logProbs: Tensor; margins: Tensor } {
  const engine = logits.engine;
  if (logits.ndim !== 2) throw new ShapeError(`sampleStep: expected logits (B, V), got ${fmtShape(logits.shape)}`);
  const [b, vocab] = logits.shape;
  const temperature = options.temperature ?? 1;
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  if (!(temperature >= 0)) throw new RangeArgumentError(`generate: temperature must be >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new RangeArgumentError(`generate: topK must be a non-negative integer, got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeArgumentError(`generate: topP must be in (0, 1], got ${topP}`);
  return engine.noGrad(() =>
    engine.tidy(() => {
      const logp = logits.logSoftmax(-1); // (B, V), untempered
      let margins: Tensor;
      if (vocab >= 2) {
        const top2 = logits.topk(2, -1).values; // (B, 2)
        margins = top2.narrow(1, 0, 1).sub(top2.narrow(1, 1, 1)); // (B, 1)
      } else margins = engine.zeros([b, 1]);
      let tokens: Tensor;
      if (temperature === 0) {
        tokens = logits.argmax(-1, true); // (B, 1) i32, ties to the lower id
      } else {
        let s = logits.div(temperature); // (B, V)
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
        tokens = s.add(gumbel).argmax(-1, true); // (B, 1) i32
      }
      const logProbs = logp.gather(1, tokens); // (B, 1)
      return { tokens, logProbs, margins };
    }),
  );
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
    const read = async (pick: (s: (typeof steps)[number]) => Tensor): Promise<number[][]> => {
      if (n === 0) return Array.from({ length: b }, () => []);
      const all = engine.noGrad(() => engine.cat(steps.map(pick), 1)); // (B, n)
      const d = Array.from(await all.data());
      all.dispose();
      return Array.from({ length: b }, (_, r) => d.slice(r * n, (r + 1) * n));
    };
    const tokens = await read((s) => s.tokens);
    const logProbs = await read((s) => s.logProbs);
    const margins = await read((s) => s.margins);
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
