// The two tiers: tiny decoder-only LMs trained on kiln on the digit-sum task, and their first-token
// outputs restricted to the ten label tokens (prediction, logit margin, probability margin, answer
// log-probability), computed on the GPU and read back once per input length.
import type { Engine, Tensor } from '../../engine/index.js';
import {
  AdamW, LRScheduler, SeededRng, TransformerLM, clipGradNorm, cosineSchedule, crc32, latestCheckpoint, loadCheckpoint, sampleStep, saveCheckpoint, type CheckpointIO,
} from '../../nn/index.js';
import type { ModelSpec } from './config.js';
import { MAX_DIGITS, NUM_CLASSES, SEQ_LEN, VOCAB_SIZE, makeQuery, packBatch, tokensOf, type Query } from './task.js';

export interface LabelOutputs {
  /** argmax over the ten label logits at '='. */
  prediction: number[];
  /** top-1 minus top-2 label logit (the official code's margin). */
  margin: number[];
  /** top-1 minus top-2 label probability (softmax over the ten labels). */
  probMargin: number[];
  /** log p(answer) under the label softmax. */
  logProbAnswer: number[];
}

/** One forward per input length (rows of n + 2 positions, no padding); every read in flight together. */
export async function labelOutputs(engine: Engine, model: TransformerLM, queries: readonly Query[]): Promise<LabelOutputs> {
  const groups: { idx: number[]; out: Tensor[] }[] = [];
  for (let n = 1; n <= MAX_DIGITS; n++) {
    const idx = queries.flatMap((q, i) => (q.digits.length === n ? [i] : []));
    if (!idx.length) continue;
    const T = n + 2;
    const out = engine.noGrad(() =>
      engine.tidy(() => {
        const x = engine.tensor(Int32Array.from(idx.flatMap((i) => tokensOf(queries[i]))), [idx.length, T], { dtype: 'i32' });
        const labels = model.forward(x).select(1, T - 1).narrow(1, 0, NUM_CLASSES); // (B, 10): logits of the label tokens at '='
        const step = sampleStep(labels, { temperature: 0 }); // greedy: tokens (B, 1), margins (B, 1)
        const top2 = labels.softmax(-1).topk(2, -1).values; // (B, 2)
        const probMargin = top2.narrow(1, 0, 1).sub(top2.narrow(1, 1, 1)); // (B, 1)
        const answers = engine.tensor(Int32Array.from(idx.map((i) => queries[i].answer)), [idx.length, 1], { dtype: 'i32' });
        const logp = labels.logSoftmax(-1).gather(1, answers); // (B, 1)
        return [step.tokens, step.margins, probMargin, logp];
      }),
    );
    groups.push({ idx, out });
  }
  const reads = await Promise.all(groups.map((g) => Promise.all(g.out.map((t) => t.data()))));
  groups.forEach((g) => g.out.forEach((t) => t.dispose()));
  const r: LabelOutputs = { prediction: [], margin: [], probMargin: [], logProbAnswer: [] };
  const keys = ['prediction', 'margin', 'probMargin', 'logProbAnswer'] as const;
  groups.forEach((g, gi) => g.idx.forEach((q, j) => keys.forEach((k, ki) => (r[k][q] = reads[gi][ki][j]))));
  return r;
}

export interface TrainLog {
  params: number;
  steps: number;
  /** Held-out answer cross-entropy (nats) and accuracy at each check; ln 10 = 2.303 is the uniform baseline. */
  curve: { step: number; loss: number; accuracy: number }[];
  /** Step of the lowest held-out loss (training keeps the final state). */
  bestStep: number;
  final: { loss: number; accuracy: number; byDigits: number[] };
  wallSec: number;
}

/** Train a TransformerLM on fresh queries (AdamW, warmup then cosine decay, clip 1); the caller owns the model. */
export async function trainTier(engine: Engine, spec: ModelSpec, o: TierOptions): Promise<{ model: TransformerLM; info: TrainLog }> {
  const t0 = performance.now();
  const model = new TransformerLM(engine, { vocabSize: VOCAB_SIZE, dModel: spec.dModel, nLayers: spec.nLayers, nHeads: spec.nHeads, dFF: spec.dFF, maxSeqLen: SEQ_LEN, dropout: 0 });
  const rng = new SeededRng(`two-tier-train:${o.seed}:${o.name}`);
  const opt = new AdamW(model.parameters(), { lr: spec.lr, weightDecay: 0.01, betas: [0.9, 0.98] });
  const sched = new LRScheduler(opt, cosineSchedule({ warmupSteps: spec.warmupSteps, totalSteps: spec.steps, minLr: 0.05 }));
  const curve: TrainLog['curve'] = [];
  const check = async () => {
    const out = await labelOutputs(engine, model, o.heldout);
    const loss = -out.logProbAnswer.reduce((a, v) => a + v, 0) / o.heldout.length;
    const right = o.heldout.map((q, i) => (out.prediction[i] === q.answer ? 1 : 0));
    const byDigits = Array.from({ length: MAX_DIGITS }, (_, n) => {
      const r = right.filter((_, i) => o.heldout[i].digits.length === n + 1);
      return r.reduce((a: number, v) => a + v, 0) / Math.max(1, r.length);
    });
    return { loss, accuracy: right.reduce((a: number, v) => a + v, 0) / right.length, byDigits };
  };
  let last = { loss: NaN, accuracy: NaN, byDigits: [] as number[] };
  try {
    for (let step = 1; step <= spec.steps; step++) {
      const b = packBatch(Array.from({ length: spec.batchSize }, () => makeQuery(rng)), SEQ_LEN, o.runningSums);
      engine.tidy(() => {
        const x = engine.tensor(b.inputs, [spec.batchSize, SEQ_LEN], { dtype: 'i32' });
        const y = engine.tensor(b.targets, [spec.batchSize, SEQ_LEN], { dtype: 'i32' });
        opt.zeroGrad();
        const loss = model.loss(x, y);
        loss.backward();
        clipGradNorm(model.parameters(), 1).dispose();
        opt.step();
      });
      sched.step();
      if (step % o.evalEvery === 0 || step === spec.steps) {
        last = await check();
        curve.push({ step, loss: last.loss, accuracy: last.accuracy });
        o.log(`  ${o.name.padEnd(5)} step ${String(step).padStart(4)}  held-out answer loss ${last.loss.toFixed(3)} (uniform 2.303)  accuracy ${(last.accuracy * 100).toFixed(1)}%  by n ${last.byDigits.map((v) => (v * 100).toFixed(0)).join('/')}  (${((performance.now() - t0) / 1000).toFixed(0)}s)`);
      }
    }
  } finally {
    opt.dispose();
  }
  const bestStep = curve.reduce((b, c) => (c.loss < b.loss ? c : b), curve[0]).step;
  return { model, info: { params: model.numParameters(), steps: spec.steps, curve, bestStep, final: last, wallSec: (performance.now() - t0) / 1000 } };
}

export interface TierOptions {
  seed: string;
  runningSums: boolean;
  heldout: readonly Query[];
  evalEvery: number;
  log: (s: string) => void;
  name: string;
}

/** Everything a trained tier depends on: a different key trains it again. */
function tierKey(spec: ModelSpec, o: TierOptions): Record<string, unknown> {
  return { task: 'digit-sum-mod-10-v1', name: o.name, seed: o.seed, runningSums: o.runningSums, spec, evalEvery: o.evalEvery, heldout: o.heldout.length };
}

/**
 * trainTier through a cache of kiln checkpoints `<cacheDir>/<name>-<CRC-32 of its key>` (the training
 * log travels in the checkpoint's `extra`). Without io every call trains.
 */
export async function cachedTier(engine: Engine, spec: ModelSpec, o: TierOptions, cache?: { io: CheckpointIO; dir: string }): Promise<{ model: TransformerLM; info: TrainLog; cached: boolean }> {
  const key = tierKey(spec, o);
  const keyText = JSON.stringify(key);
  const dir = cache && `${cache.dir}/${o.name}-${crc32(new TextEncoder().encode(keyText)).toString(16).padStart(8, '0')}`;
  if (cache && dir && (await latestCheckpoint(cache.io, dir))) {
    const model = new TransformerLM(engine, { vocabSize: VOCAB_SIZE, dModel: spec.dModel, nLayers: spec.nLayers, nHeads: spec.nHeads, dFF: spec.dFF, maxSeqLen: SEQ_LEN, dropout: 0 });
    try {
      const st = await loadCheckpoint(cache.io, dir, { model, engine });
      if (JSON.stringify(st.config) === keyText) {
        o.log(`  ${o.name} model loaded from ${dir}`);
        return { model, info: st.extra as TrainLog, cached: true };
      }
      o.log(`  cached ${o.name} model at ${dir} has another configuration; training again`);
    } catch (e) {
      o.log(`  cached ${o.name} model at ${dir} is unreadable (${(e as Error).message}); training again`);
    }
    model.dispose();
  }
  const r = await trainTier(engine, spec, o);
  if (cache && dir) await saveCheckpoint(cache.io, dir, { model: r.model, engine, step: spec.steps, config: key, extra: r.info, keep: 1 });
  return { ...r, cached: false };
}
