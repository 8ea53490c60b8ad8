// The ICL model: a tiny TransformerLM pretrained on kiln on the episode mixture (tasks.ts), cached as a
// kiln checkpoint per seed, and the one read-out every evaluation uses: the ten label logits at each
// row's query "→" (a right-padded batch, so per-row positions).
import type { Engine, Tensor } from '../../engine/index.js';
import {
  AdamW, LRScheduler, ReduceLROnPlateau, SeededRng, TransformerLM, clipGradNorm, constantSchedule, cosineSchedule, crc32, train, latestCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointIO,
} from '../../nn/index.js';
import { selectPositions } from '../../nn/index.js';
import type { CopyBiasConfig } from './config.js';
import {
  FAMILIES, NUM_LABELS, SEQ_LEN, VOCAB_SIZE, encode, episode, lossWeights, packRows, pickFamily, trainBatch, type Episode, type Family, type FamilyMix, type HostBatch,
} from './tasks.js';

export function newModel(engine: Engine, c: CopyBiasConfig): TransformerLM {
  return new TransformerLM(engine, { vocabSize: VOCAB_SIZE, ...c.model, maxSeqLen: SEQ_LEN, dropout: 0 });
}

/** Token ids (rows, T) of a host batch on the device. */
export const inputsOf = (engine: Engine, b: HostBatch): Tensor => engine.tensor(b.inputs, [b.rows, b.T], { dtype: 'i32' });

/** logits (B, T, V) -> the label logits (B, 10) at each row's last token. */
export function labelLogitsAt(logits: Tensor, last: readonly number[]): Tensor {
  return selectPositions(logits, last).narrow(1, 0, NUM_LABELS);
}

/** Greedy label prediction at each prompt's query → (one forward; read back once). */
export async function predictLabels(engine: Engine, model: TransformerLM, prompts: readonly { tokens: number[] }[]): Promise<Int32Array> {
  const b = packRows(prompts);
  const pred = engine.noGrad(() => engine.tidy(() => labelLogitsAt(model.forward(inputsOf(engine, b)), b.last).argmax(-1))); // (B)
  const p = await pred.data();
  pred.dispose();
  return Int32Array.from(p);
}

export interface TrainLog {
  params: number;
  /** Steps run (the cap, or fewer after an early stop), and the cap. */
  steps: number;
  stepCap: number;
  stoppedEarly: boolean;
  /** Held-out query-label cross-entropy (nats; ln 10 = 2.303 is the uniform label baseline, `unigram` the label prior's) and accuracy per check. */
  curve: { step: number; trainLoss: number; loss: number; accuracy: number; lrScale: number }[]; // lrScale: the plateau scale the steps before the check ran at
  /** Check with the lowest held-out loss: its step, loss and accuracy (the model keeps that check's weights). */
  bestStep: number;
  bestLoss: number;
  bestAccuracy: number;
  /** Held-out accuracy and query loss per family at the best check. */
  accuracyByFamily: Record<Family, number>;
  lossByFamily: Record<Family, number>;
  /**
   * The label-prior (unigram) baseline a model reaches without reading the prompt: held-out query
   * cross-entropy under the answer distribution of fresh training-mix episodes, the accuracy of always
   * answering its most frequent label, overall and per family.
   */
  unigram: { loss: number; accuracy: number; accuracyByFamily: Record<Family, number> };
  wallSec: number;
}

/** Held-out query loss and accuracy (mixed families), and both per family (where a loss plateau comes from). */
export async function heldoutCheck(engine: Engine, model: TransformerLM, eps: readonly Episode[]): Promise<{ loss: number; accuracy: number; byFamily: Record<Family, number>; lossByFamily: Record<Family, number> }> {
  const b = packRows(eps.map((e) => encode(e)));
  const [nllT, predT] = engine.noGrad(() =>
    engine.tidy(() => {
      const labels = labelLogitsAt(model.forward(inputsOf(engine, b)), b.last); // (B, 10)
      const gold = engine.tensor(Int32Array.from(eps.map((e) => e.answer)), [eps.length, 1], { dtype: 'i32' });
      return [labels.logSoftmax(-1).gather(1, gold).neg(), labels.argmax(-1)]; // (B, 1) per-episode NLL
    }),
  );
  const [nll, pred] = await Promise.all([nllT.data(), predT.data()]);
  nllT.dispose();
  predT.dispose();
  const meanOver = (idx: number[], f: (i: number) => number) => idx.reduce((a, i) => a + f(i), 0) / Math.max(1, idx.length);
  const all = eps.map((_, i) => i);
  const idxOf = (f: Family) => eps.flatMap((e, i) => (e.family === f ? [i] : []));
  const byFamily = Object.fromEntries(FAMILIES.map((f) => [f, meanOver(idxOf(f), (i) => (pred[i] === eps[i].answer ? 1 : 0))])) as Record<Family, number>;
  const lossByFamily = Object.fromEntries(FAMILIES.map((f) => [f, meanOver(idxOf(f), (i) => nll[i])])) as Record<Family, number>;
  return { loss: meanOver(all, (i) => nll[i]), accuracy: meanOver(all, (i) => (pred[i] === eps[i].answer ? 1 : 0)), byFamily, lossByFamily };
}

/** Seed `seed`'s held-out episodes of the pretraining mixture (the checks early stopping watches). */
export function heldoutEpisodes(c: CopyBiasConfig, seed: number): Episode[] {
  const rng = new SeededRng(`copy-bias-heldout:${seed}`);
  const mix = { lookup: c.pretrain.lookupShare, constant: c.pretrain.constantShare };
  return Array.from({ length: c.pretrain.heldout }, () => episode(rng, pickFamily(rng, mix)));
}

/** Episodes the unigram baseline's answer distribution is counted on. */
const UNIGRAM_EPISODES = 20_000;

/** The label-prior baseline of `held` (TrainLog.unigram): answer frequencies of fresh episodes of the mixture, add-one smoothed. */
export function unigramBaseline(rng: SeededRng, mix: FamilyMix, held: readonly Episode[]): TrainLog['unigram'] {
  const counts = new Float64Array(NUM_LABELS).fill(1);
  for (let i = 0; i < UNIGRAM_EPISODES; i++) counts[episode(rng, pickFamily(rng, mix)).answer]++;
  const total = counts.reduce((a, b) => a + b, 0);
  const mode = counts.indexOf(Math.max(...counts));
  const loss = -held.reduce((a, e) => a + Math.log(counts[e.answer] / total), 0) / held.length;
  const accuracyByFamily = Object.fromEntries(FAMILIES.map((f) => {
    const fam = held.filter((e) => e.family === f);
    return [f, fam.filter((e) => e.answer === mode).length / Math.max(1, fam.length)];
  })) as Record<Family, number>;
  return { loss, accuracy: held.filter((e) => e.answer === mode).length / held.length, accuracyByFamily };
}

/**
 * Pretrain on fresh episodes with nn's train(): AdamW, warmup then the configured schedule, clip 1, CE on
 * the label tokens only. The held-out query loss is checked every evalEvery steps; with patience > 0
 * training stops after that many checks without improvement, and the model ends with the weights of
 * the best check (Hugging Face's load_best_model_at_end), so bestStep < the cap shows a plateau.
 */
export async function pretrain(engine: Engine, c: CopyBiasConfig, seed: number, log: (s: string) => void): Promise<{ model: TransformerLM; info: TrainLog }> {
  const t0 = performance.now();
  const p = c.pretrain;
  engine.manualSeed(seed);
  const model = newModel(engine, c);
  const rng = new SeededRng(`copy-bias-pretrain:${seed}`);
  const mix = { lookup: p.lookupShare, constant: p.constantShare };
  const held = heldoutEpisodes(c, seed);
  const unigram = unigramBaseline(new SeededRng(`copy-bias-unigram:${seed}`), mix, held);
  log(`  seed ${seed}: unigram (label-prior) baseline: held-out query loss ${unigram.loss.toFixed(3)}, accuracy ${(unigram.accuracy * 100).toFixed(1)}%`);
  const params = model.parameters();
  const opt = new AdamW(params, { lr: p.lr, weightDecay: p.weightDecay, betas: [0.9, 0.98] });
  // 'plateau': cuts by plateauFactor after plateauPatience + 1 checks without a minDelta improvement.
  const plateau = p.schedule === 'plateau' ? new ReduceLROnPlateau({ factor: p.plateauFactor, patience: p.plateauPatience, threshold: p.minDelta, thresholdMode: 'abs' }) : null;
  const sched = new LRScheduler(opt, plateau ? plateau.schedule(lrSchedule(p)) : lrSchedule(p));
  const curve: TrainLog['curve'] = [];
  const checks = new Map<number, Awaited<ReturnType<typeof heldoutCheck>>>();
  let trainLoss = NaN;
  try {
    const r = await train({
      steps: p.steps,
      logEvery: p.evalEvery,
      evalEvery: p.evalEvery,
      step: () => {
        const b = trainBatch(rng, p.batchSize, mix);
        const loss = engine.tidy(() => {
          const y = engine.tensor(b.targets, [b.rows, b.T], { dtype: 'i32' });
          opt.zeroGrad();
          const l = p.lookupLossWeight === 1 ? model.loss(inputsOf(engine, b), y) : weightedLoss(engine, model, b, y, p.lookupLossWeight);
          l.backward();
          clipGradNorm(params, 1).dispose();
          opt.step();
          return l.detach();
        });
        sched.step();
        return loss;
      },
      // The train record of a window is logged before its check (train() flushes the losses first).
      log: (rec) => {
        if (rec.kind === 'train') trainLoss = rec.loss;
      },
      evaluate: async (step) => {
        const h = await heldoutCheck(engine, model, held);
        checks.set(step, h);
        curve.push({ step, trainLoss, loss: h.loss, accuracy: h.accuracy, lrScale: plateau?.scale ?? 1 });
        log(`  seed ${seed} step ${String(step).padStart(5)}  train label loss ${trainLoss.toFixed(3)}  held-out query loss ${h.loss.toFixed(3)} (unigram ${unigram.loss.toFixed(3)})  accuracy ${(h.accuracy * 100).toFixed(1)}%  ` +
          `${FAMILIES.map((f) => `${f} ${(h.byFamily[f] * 100).toFixed(0)}% ${h.lossByFamily[f].toFixed(2)}`).join(' ')}  (${((performance.now() - t0) / 1000).toFixed(0)}s)`);
        return { heldout_loss: h.loss };
      },
      onEval: (step, metrics) => {
        if (plateau?.step(metrics.heldout_loss)) log(`  seed ${seed} step ${step}: held-out plateau, lr cut to ${plateau.scale.toPrecision(3)}x`);
      },
      // Without patience the run goes to the cap; the best check's weights are kept either way.
      earlyStopping: { metric: 'heldout_loss', patience: p.patience > 0 ? p.patience : Infinity, minDelta: p.minDelta, mode: 'min', restoreBest: params },
    });
    const bestStep = r.best!.step;
    const at = checks.get(bestStep)!;
    if (r.stoppedEarly) log(`  seed ${seed}: early stop at step ${r.steps}: no held-out improvement for ${p.patience} checks; weights of step ${bestStep} kept`);
    return {
      model,
      info: {
        params: model.numParameters(), steps: r.steps, stepCap: p.steps, stoppedEarly: r.stoppedEarly, curve, bestStep,
        bestLoss: at.loss, bestAccuracy: at.accuracy, accuracyByFamily: at.byFamily, lossByFamily: at.lossByFamily, unigram, wallSec: (performance.now() - t0) / 1000,
      },
    };
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    opt.dispose();
  }
}

/** Label cross-entropy with a LOOKUP query token weighted by lookupWeight: Σ w·nll / Σ w. */
export function weightedLoss(engine: Engine, model: TransformerLM, b: ReturnType<typeof trainBatch>, y: Tensor, lookupWeight: number): Tensor {
  const w = lossWeights(b, lookupWeight);
  const total = w.reduce((a, v) => a + v, 0);
  return model.loss(inputsOf(engine, b), y, { reduction: 'none' }).mul(engine.tensor(w, [b.rows, b.T])).sum().div(total);
}

/** The pretraining learning-rate multiplier before plateau cuts: linear warmup, then cosine to 0.1x at the step cap, or constant. */
function lrSchedule(p: CopyBiasConfig['pretrain']) {
  return p.schedule !== 'cosine'
    ? constantSchedule({ warmupSteps: p.warmupSteps })
    : cosineSchedule({ warmupSteps: p.warmupSteps, totalSteps: p.steps, minLr: 0.1 });
}

/** Everything a pretrained model depends on: a different key trains it again. */
function modelKey(c: CopyBiasConfig, seed: number): Record<string, unknown> {
  // trainLog: the layout of the TrainLog stored beside the weights (5: the lr scale per check added).
  return { data: 'copy-bias-episodes-v1', trainLog: 5, seed, model: c.model, pretrain: c.pretrain, vocab: VOCAB_SIZE, seqLen: SEQ_LEN };
}

/** The checkpoint folder of seed `seed`'s model: `<cacheDir>/seed<S>-<CRC-32 of its key>`. */
export function modelCacheDir(c: CopyBiasConfig, seed: number): string {
  return `${c.cacheDir}/seed${seed}-${crc32(new TextEncoder().encode(JSON.stringify(modelKey(c, seed)))).toString(16).padStart(8, '0')}`;
}

/**
 * pretrain() through the checkpoint cache (the training log travels in the checkpoint's `extra`): a
 * cached model is used only when its stored key equals this configuration's; without io, or with
 * c.retrain, every call trains (and with io overwrites the cache).
 */
export async function cachedModel(engine: Engine, c: CopyBiasConfig, seed: number, log: (s: string) => void, io?: CheckpointIO): Promise<{ model: TransformerLM; info: TrainLog; cached: boolean }> {
  const keyText = JSON.stringify(modelKey(c, seed));
  const dir = modelCacheDir(c, seed);
  if (io && !c.retrain && (await latestCheckpoint(io, dir))) {
    const model = newModel(engine, c);
    try {
      const st = await loadCheckpoint(io, dir, { model, engine });
      if (JSON.stringify(st.config) === keyText) {
        log(`copy-bias-pruning: seed ${seed} model loaded from ${dir}`);
        return { model, info: st.extra as TrainLog, cached: true };
      }
      log(`copy-bias-pruning: cached model at ${dir} has another configuration; training again`);
    } catch (e) {
      log(`copy-bias-pruning: cached model at ${dir} is unreadable (${(e as Error).message}); training again`);
    }
    model.dispose();
  }
  log(`copy-bias-pruning: pretraining seed ${seed} (${c.pretrain.steps} steps × batch ${c.pretrain.batchSize})`);
  const r = await pretrain(engine, c, seed, log);
  if (io) {
    await saveCheckpoint(io, dir, { model: r.model, engine, step: r.info.steps, config: modelKey(c, seed), extra: r.info, keep: 1 });
    log(`copy-bias-pruning: seed ${seed} model cached at ${dir}`);
  }
  return { ...r, cached: false };
}
