// The ICL model: a tiny TransformerLM pretrained on kiln on the episode mixture (tasks.ts), cached as a
// kiln checkpoint per seed, and the one read-out every evaluation uses: the ten label logits at each
// row's query "→" (a right-padded batch, so per-row positions).
import type { Engine, Tensor } from '../../engine/index.js';
import {
  AdamW, LRScheduler, SeededRng, TransformerLM, clipGradNorm, cosineSchedule, crc32, latestCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointIO,
} from '../../nn/index.js';
import { selectPositions } from '../../nn/index.js';
import type { CopyBiasConfig } from './config.js';
import {
  FAMILIES, NUM_LABELS, SEQ_LEN, VOCAB_SIZE, encode, episode, packRows, pickFamily, trainBatch, type Episode, type Family, type FamilyMix, type HostBatch,
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
  steps: number;
  /** Held-out query-label cross-entropy (nats; ln 10 = 2.303 is the uniform label baseline, `unigram` the label prior's) and accuracy per check. */
  curve: { step: number; trainLoss: number; loss: number; accuracy: number }[];
  /** Step of the lowest held-out loss (training keeps the final state). */
  bestStep: number;
  /** Final held-out accuracy per family. */
  accuracyByFamily: Record<Family, number>;
  /**
   * The label-prior (unigram) baseline a model reaches without reading the prompt: held-out query
   * cross-entropy under the answer distribution of fresh training-mix episodes, the accuracy of always
   * answering its most frequent label, overall and per family.
   */
  unigram: { loss: number; accuracy: number; accuracyByFamily: Record<Family, number> };
  wallSec: number;
}

/** Held-out query loss and accuracy (mixed families) and accuracy per family. */
async function heldoutCheck(engine: Engine, model: TransformerLM, eps: readonly Episode[]): Promise<{ loss: number; accuracy: number; byFamily: Record<Family, number> }> {
  const b = packRows(eps.map((e) => encode(e)));
  const [lossT, predT] = engine.noGrad(() =>
    engine.tidy(() => {
      const labels = labelLogitsAt(model.forward(inputsOf(engine, b)), b.last); // (B, 10)
      const gold = engine.tensor(Int32Array.from(eps.map((e) => e.answer)), [eps.length, 1], { dtype: 'i32' });
      return [labels.logSoftmax(-1).gather(1, gold).mean().neg(), labels.argmax(-1)];
    }),
  );
  const [loss, pred] = await Promise.all([lossT.item(), predT.data()]);
  lossT.dispose();
  predT.dispose();
  const byFamily = Object.fromEntries(FAMILIES.map((f) => {
    const idx = eps.flatMap((e, i) => (e.family === f ? [i] : []));
    return [f, idx.filter((i) => pred[i] === eps[i].answer).length / Math.max(1, idx.length)];
  })) as Record<Family, number>;
  return { loss, accuracy: eps.filter((e, i) => pred[i] === e.answer).length / eps.length, byFamily };
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

/** Pretrain on fresh episodes: AdamW, warmup then cosine decay, clip 1, CE on the label tokens only. */
export async function pretrain(engine: Engine, c: CopyBiasConfig, seed: number, log: (s: string) => void): Promise<{ model: TransformerLM; info: TrainLog }> {
  const t0 = performance.now();
  const p = c.pretrain;
  engine.manualSeed(seed);
  const model = newModel(engine, c);
  const rng = new SeededRng(`copy-bias-pretrain:${seed}`);
  const heldRng = new SeededRng(`copy-bias-heldout:${seed}`);
  const mix = { lookup: p.lookupShare, constant: p.constantShare };
  const held = Array.from({ length: p.heldout }, () => episode(heldRng, pickFamily(heldRng, mix)));
  const unigram = unigramBaseline(new SeededRng(`copy-bias-unigram:${seed}`), mix, held);
  log(`  seed ${seed}: unigram (label-prior) baseline: held-out query loss ${unigram.loss.toFixed(3)}, accuracy ${(unigram.accuracy * 100).toFixed(1)}%`);
  const opt = new AdamW(model.parameters(), { lr: p.lr, weightDecay: p.weightDecay, betas: [0.9, 0.98] });
  const sched = new LRScheduler(opt, cosineSchedule({ warmupSteps: p.warmupSteps, totalSteps: p.steps, minLr: 0.1 }));
  const curve: TrainLog['curve'] = [];
  let lossSum: Tensor | null = null;
  let last: Awaited<ReturnType<typeof heldoutCheck>> | null = null;
  let since = 0;
  try {
    for (let step = 1; step <= p.steps; step++) {
      const b = trainBatch(rng, p.batchSize, mix);
      const l = engine.tidy(() => {
        const y = engine.tensor(b.targets, [b.rows, b.T], { dtype: 'i32' });
        opt.zeroGrad();
        const loss = model.loss(inputsOf(engine, b), y);
        loss.backward();
        clipGradNorm(model.parameters(), 1).dispose();
        opt.step();
        return lossSum ? lossSum.add(loss.detach()) : loss.detach();
      });
      lossSum?.dispose();
      lossSum = engine.keep(l);
      since++;
      sched.step();
      if (step % p.evalEvery === 0 || step === p.steps) {
        const trainLoss = (await lossSum.item()) / since;
        lossSum.dispose();
        lossSum = null;
        since = 0;
        last = await heldoutCheck(engine, model, held);
        curve.push({ step, trainLoss, loss: last.loss, accuracy: last.accuracy });
        log(`  seed ${seed} step ${String(step).padStart(5)}  train label loss ${trainLoss.toFixed(3)}  held-out query loss ${last.loss.toFixed(3)} (unigram ${unigram.loss.toFixed(3)})  accuracy ${(last.accuracy * 100).toFixed(1)}%  ` +
          `${FAMILIES.map((f) => `${f} ${(last!.byFamily[f] * 100).toFixed(0)}`).join(' ')}  (${((performance.now() - t0) / 1000).toFixed(0)}s)`);
      }
    }
  } finally {
    lossSum?.dispose();
    opt.dispose();
  }
  const bestStep = curve.reduce((b, x) => (x.loss < b.loss ? x : b), curve[0]).step;
  return { model, info: { params: model.numParameters(), steps: p.steps, curve, bestStep, accuracyByFamily: last!.byFamily, unigram, wallSec: (performance.now() - t0) / 1000 } };
}

/** Everything a pretrained model depends on: a different key trains it again. */
function modelKey(c: CopyBiasConfig, seed: number): Record<string, unknown> {
  // trainLog: the layout of the TrainLog stored beside the weights (2: with the unigram baseline).
  return { data: 'copy-bias-episodes-v1', trainLog: 2, seed, model: c.model, pretrain: c.pretrain, vocab: VOCAB_SIZE, seqLen: SEQ_LEN };
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
    await saveCheckpoint(io, dir, { model: r.model, engine, step: c.pretrain.steps, config: modelKey(c, seed), extra: r.info, keep: 1 });
    log(`copy-bias-pruning: seed ${seed} model cached at ${dir}`);
  }
  return { ...r, cached: false };
}
