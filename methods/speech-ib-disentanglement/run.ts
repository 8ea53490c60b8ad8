// Mohebbi et al. (2024), "Disentangling textual and acoustic features of neural speech representations",
// at toy scale on kiln. Steps: synthesise the speech set (injected SpeechSynthesizer: espeak-ng + sox in
// Node), train a small speech encoder (CTC + masked log-mel reconstruction) and freeze it; then per
// seed and per analysed layer l:
//   stage 1  content VIB on H^l with a CTC frame decoder (β ramp 0.1 → 1)            → contentCER, KL
//   stage 2  acoustic VIB on H^l, decoder pools [z_textual (stage 1, eval mode μ); z_acoustic] → taskAccAcoustic
//   probes   attention pooler + linear on H^l (taskAccRaw), z_textual (taskAccContent), z_acoustic alone;
//            a CTC probe on z_acoustic (how much text leaked into it)
//   attribution  the stage-2 attention weights per frame (speech vs the padded silence)
// and one ablation: stage 1 on the last layer with a small fixed β (is the IB doing work?).
// Web-standard: synthesis is reached through RunIO.synthesize (the CLI passes nn/node's espeakSynthesizer).
import type { Engine, Tensor } from '../../engine/index.js';
import { crossEntropy, ctcLoss } from '../../engine/index.js';
import {
  AdamW, LRScheduler, Linear, Module, SeededRng, clipGradNorm, cosineSchedule, crc32, ctcGreedyDecode, errorRate, latestCheckpoint, loadCheckpoint, maskedMean, saveCheckpoint,
  type CheckpointIO, type SpeechSynthesizer,
} from '../../nn/index.js';
import { makeConfig, type SpeechIBConfig, type TrainConfig } from './config.js';
import { BLANK, N_MELS, TASK_CLASSES, VOCAB_SIZE, buildUtterances, decodeText, normalizeGlobally, planUtterances, type TaskName, type Utterance } from './data.js';
import { AcousticVIB, ContentVIB, STRIDE, SpeechEncoder, UtteranceProbe } from './model.js';

export interface Stat {
  mean: number;
  perSeed: number[];
}

/** The per-layer fields (for the first task), plus the other measures of that layer. */
export interface LayerReport {
  /** Stage-1 greedy CER on the test set (content bottleneck of this layer). */
  contentCER: Stat;
  /** Probe accuracy of the task from z_textual (should be near chance: words are independent of the labels). */
  taskAccContent: Stat;
  /** Stage-2 accuracy (decoder over z_textual and z_acoustic). */
  taskAccAcoustic: Stat;
  /** Probe accuracy of the task from the raw layer H^l (the baseline). */
  taskAccRaw: Stat;
}

export interface TaskLayerReport extends LayerReport {
  /** Probe accuracy from z_acoustic alone. */
  taskAccAcousticOnly: Stat;
  /** CER of a CTC probe on z_acoustic (text left in the acoustic code). */
  acousticCER: Stat;
  /** Mean KL per valid frame of z_acoustic (nats), test set. */
  klAcoustic: Stat;
  /** Share of the true-class logit carried by the text side, E|W_c·pooled_c| / (E|W_c·pooled_c| + E|W_a·pooled_a|). */
  textContribution: Stat;
  /** Stage-2 attention mass on speech frames (inside a word) of the acoustic and textual poolers; the share of speech frames for scale. */
  acousticSpeechMass: Stat;
  textSpeechMass: Stat;
  speechFrameShare: number;
}

export interface Report {
  method: 'speech-ib-disentanglement';
  config: SpeechIBConfig;
  /** perLayer[l] for the first task of config.tasks. */
  perLayer: Record<string, LayerReport>;
  /** perTask[task][l]: everything measured for that task and layer. */
  perTask: Partial<Record<TaskName, Record<string, TaskLayerReport>>>;
  /** Task-independent stage-1 measures per layer: mean KL per frame at the end (β = betaEnd). */
  content: Record<string, { kl: Stat }>;
  /** Stage 1 on the last analysed layer with β = betaEnd (the run above) vs a fixed small β. */
  ibAblation: { layer: number; beta: number; lowBeta: number; kl: Stat; klLowBeta: Stat; cer: Stat; cerLowBeta: Stat };
  /** Chance accuracy per task (majority class of the test set) and the all-blank CER (1). */
  chance: Record<string, number>;
  encoder: { testCER: number; params: number; wallSec: number; finalLoss: number; cached: boolean };
  data: { nTrain: number; nTest: number; meanSeconds: number; meanFrames: number; wallSec: number };
  /** Stage-2 attention of one test utterance (first task, last layer, first seed) for the attribution plot. */
  attribution: { task: TaskName; layer: number; text: string; label: number; predicted: number; frames: number; wordFrames: [number, number][]; acoustic: number[]; textual: number[] };
  wallSec: number;
}

export interface RunIO {
  log?: (line: string) => void;
  /** Renders text segments to audio (nn/node's espeakSynthesizer in the CLI). Required. */
  synthesize?: SpeechSynthesizer;
  /** Cache of the trained encoder (a kiln checkpoint folder per configuration): written after training, read with config.reuseEncoder. Without it the encoder is trained every run. */
  checkpointIO?: CheckpointIO;
}

/** Everything the encoder depends on: a different key retrains it. */
function encoderKey(c: SpeechIBConfig): Record<string, unknown> {
  return { data: 'speech-ib-v2-global-norm', plans: c.data, encoder: c.encoder, batchSize: c.batchSize };
}

/** The checkpoint folder of the encoder of configuration `c`: `<encoderCacheDir>/encoder-<CRC-32 of its key>`. */
export function encoderCacheDir(config: Partial<SpeechIBConfig> = {}): string {
  const c = makeConfig(config);
  return `${c.encoderCacheDir}/encoder-${crc32(new TextEncoder().encode(JSON.stringify(encoderKey(c)))).toString(16).padStart(8, '0')}`;
}

// ------------------------------------------------------------------ batches

/** A fixed batch of utterances padded to its longest: host copies and the device tensors every model reads. */
interface Batch {
  utts: Utterance[];
  B: number;
  Tm: number;
  /** Encoder frames (padded) and per utterance. */
  T: number;
  lengths: number[];
  mel: Tensor; // (B, Tm, N_MELS)
  /** (B, T, STRIDE·N_MELS): the mel frames under each encoder frame (reconstruction target). */
  melPairs: Tensor;
  mask: Tensor; // (B, T) 1 = frame
  padMask: Tensor; // (B, T) 1 = padding
  /** (B, T) 1 = inside a word. */
  speech: Tensor;
  targets: Tensor; // (B, S) i32
  targetLengths: number[];
  labels: Record<TaskName, Tensor>; // (B) i32
  /** Layer l's normalised hidden states (B, T, D), filled after the encoder is trained. */
  hidden: Map<number, Tensor>;
}

function makeBatches(engine: Engine, utts: Utterance[], batchSize: number): Batch[] {
  const order = utts.map((_, i) => i).sort((a, b) => utts[a].frames - utts[b].frames);
  const batches: Batch[] = [];
  for (let i = 0; i < order.length; i += batchSize) {
    const us = order.slice(i, i + batchSize).map((k) => utts[k]);
    const B = us.length;
    const Tm = Math.max(...us.map((u) => u.frames));
    const T = SpeechEncoder.outFrames(Tm);
    const mel = new Float32Array(B * Tm * N_MELS);
    const pairs = new Float32Array(B * T * STRIDE * N_MELS);
    const mask = new Float32Array(B * T), speech = new Float32Array(B * T);
    const S = Math.max(1, ...us.map((u) => u.labels.length));
    const targets = new Int32Array(B * S);
    const lengths = us.map((u) => SpeechEncoder.outFrames(u.frames));
    us.forEach((u, b) => {
      mel.set(u.mel, b * Tm * N_MELS);
      for (let t = 0; t < lengths[b]; t++) {
        mask[b * T + t] = 1;
        for (let j = 0; j < STRIDE && STRIDE * t + j < u.frames; j++) pairs.set(u.mel.subarray((STRIDE * t + j) * N_MELS, (STRIDE * t + j + 1) * N_MELS), (b * T + t) * STRIDE * N_MELS + j * N_MELS);
      }
      for (const [a, e] of u.wordFrames) for (let t = Math.floor(a / STRIDE); t < Math.min(lengths[b], Math.ceil(e / STRIDE)); t++) speech[b * T + t] = 1;
      targets.set(u.labels, b * S);
    });
    const keep = (t: Tensor) => engine.keep(t);
    batches.push({
      utts: us, B, Tm, T, lengths,
      mel: keep(engine.tensor(mel, [B, Tm, N_MELS])),
      melPairs: keep(engine.tensor(pairs, [B, T, STRIDE * N_MELS])),
      mask: keep(engine.tensor(mask, [B, T])),
      padMask: keep(engine.tensor(mask.map((m) => 1 - m), [B, T])),
      speech: keep(engine.tensor(speech, [B, T])),
      targets: keep(engine.tensor(targets, [B, S], { dtype: 'i32' })),
      targetLengths: us.map((u) => u.labels.length),
      labels: {
        emotion: keep(engine.tensor(Int32Array.from(us, (u) => u.emotion), [B], { dtype: 'i32' })),
        speaker: keep(engine.tensor(Int32Array.from(us, (u) => u.speaker), [B], { dtype: 'i32' })),
      },
      hidden: new Map(),
    });
  }
  return batches;
}

function disposeBatches(bs: Batch[]): void {
  for (const b of bs) {
    for (const t of [b.mel, b.melPairs, b.mask, b.padMask, b.speech, b.targets, b.labels.emotion, b.labels.speaker, ...b.hidden.values()]) t.dispose();
  }
}

// ------------------------------------------------------------------ training and evaluation

/** AdamW (decoupled decay), linear warmup then cosine decay, grad-norm clipping; batches reshuffled per epoch. Returns the last epoch's mean loss. */
async function fit(
  engine: Engine, model: Module, batches: Batch[], c: TrainConfig, rng: SeededRng,
  loss: (b: Batch, step: number, totalSteps: number) => Tensor, params: Tensor[] = model.trainableParameters(),
  onEpoch?: (epoch: number, meanLoss: number) => void,
): Promise<number> {
  const totalSteps = c.epochs * batches.length;
  const opt = new AdamW(params, { lr: c.lr, weightDecay: c.weightDecay });
  const sched = new LRScheduler(opt, cosineSchedule({ warmupSteps: Math.round(c.warmupFraction * totalSteps), totalSteps }));
  model.train();
  let step = 0;
  let last: Tensor[] = [];
  for (let epoch = 0; epoch < c.epochs; epoch++) {
    last.forEach((t) => t.dispose());
    last = [];
    for (const b of rng.shuffle([...batches])) {
      const l = engine.tidy(() => {
        opt.zeroGrad();
        const v = loss(b, step, totalSteps);
        v.backward();
        clipGradNorm(params, c.clipGradNorm).dispose();
        opt.step();
        return v.detach();
      });
      if (epoch === c.epochs - 1 || onEpoch) last.push(l);
      else l.dispose();
      sched.step();
      step++;
    }
    if (onEpoch && epoch < c.epochs - 1) {
      const vals = await Promise.all(last.map((t) => t.item()));
      onEpoch(epoch, vals.reduce((a, v) => a + v, 0) / vals.length);
    }
  }
  const vals = await Promise.all(last.map((t) => t.item()));
  last.forEach((t) => t.dispose());
  onEpoch?.(c.epochs - 1, vals.reduce((a, v) => a + v, 0) / Math.max(1, vals.length));
  opt.zeroGrad();
  opt.dispose();
  model.eval();
  return vals.reduce((a, v) => a + v, 0) / Math.max(1, vals.length);
}

/** Greedy CTC decoding of every utterance in `batches`; the corpus CER against their texts. */
async function ctcCER(engine: Engine, batches: Batch[], logProbs: (b: Batch) => Tensor): Promise<number> {
  const preds = engine.noGrad(() => batches.map((b) => engine.tidy(() => logProbs(b).argmax(-1)))); // (T, B) each
  const datas = await Promise.all(preds.map((p) => p.data()));
  preds.forEach((p) => p.dispose());
  const refs: string[] = [], hyps: string[] = [];
  batches.forEach((b, i) => {
    for (let k = 0; k < b.B; k++) {
      const path = Array.from({ length: b.lengths[k] }, (_, t) => datas[i][t * b.B + k]);
      refs.push(b.utts[k].text);
      hyps.push(decodeText(ctcGreedyDecode(path, path.length, BLANK)));
    }
  });
  return errorRate(refs, hyps);
}

/** Accuracy of argmax(logits (B, C)) against the task labels. */
async function accuracy(engine: Engine, batches: Batch[], task: TaskName, logits: (b: Batch) => Tensor): Promise<number> {
  const preds = engine.noGrad(() => batches.map((b) => engine.tidy(() => logits(b).argmax(-1))));
  const datas = await Promise.all(preds.map((p) => p.data()));
  preds.forEach((p) => p.dispose());
  let right = 0, n = 0;
  batches.forEach((b, i) => b.utts.forEach((u, k) => {
    right += datas[i][k] === u[task] ? 1 : 0;
    n++;
  }));
  return right / n;
}

/** Mean over test batches of a per-batch scalar weighted by valid frames (or utterances). */
async function weightedMean(engine: Engine, batches: Batch[], value: (b: Batch) => Tensor, weight: (b: Batch) => number): Promise<number> {
  const vs = engine.noGrad(() => batches.map((b) => engine.tidy(() => value(b))));
  const xs = await Promise.all(vs.map((v) => v.item()));
  vs.forEach((v) => v.dispose());
  const w = batches.map(weight);
  return xs.reduce((a, x, i) => a + x * w[i], 0) / w.reduce((a, x) => a + x, 0);
}

const frames = (b: Batch) => b.lengths.reduce((a, x) => a + x, 0);

/** β of the incremental schedule at `step`. */
function betaAt(c: SpeechIBConfig['vib'], step: number, total: number): number {
  return Math.min(c.betaEnd, c.betaStart + ((c.betaEnd - c.betaStart) * step) / Math.max(1, c.betaRampShare * total));
}

// ------------------------------------------------------------------ the run

export async function run(engine: Engine, config: Partial<SpeechIBConfig> = {}, io: RunIO = {}): Promise<Report> {
  const c = makeConfig(config);
  const log = io.log ?? (() => {});
  if (!io.synthesize) throw new Error('speech-ib-disentanglement: run() needs io.synthesize (the CLI passes espeakSynthesizer from nn/node)');
  const t0 = performance.now();

  // ---- data
  const plans = planUtterances({ ...c.data, n: c.data.nTrain + c.data.nTest });
  const utts = await buildUtterances(plans, io.synthesize);
  const dataSec = (performance.now() - t0) / 1000;
  const trainU = utts.slice(0, c.data.nTrain), testU = utts.slice(c.data.nTrain);
  normalizeGlobally(utts, trainU);
  const meanFrames = utts.reduce((a, u) => a + u.frames, 0) / utts.length;
  log(`data: ${utts.length} utterances (${c.data.nTrain} train, ${c.data.nTest} test), mean ${(meanFrames / 100).toFixed(2)} s, ${dataSec.toFixed(1)} s to synthesise/load and featurise`);
  const train = makeBatches(engine, trainU, c.batchSize), test = makeBatches(engine, testU, c.batchSize);
  const encTrain = makeBatches(engine, trainU, c.encoder.batchSize);
  const chance: Record<string, number> = { cerAllBlank: 1 };
  for (const task of c.tasks) {
    const counts = new Array(TASK_CLASSES[task]).fill(0);
    testU.forEach((u) => counts[u[task]]++);
    chance[task] = Math.max(...counts) / testU.length;
  }

  // ---- the frozen speech encoder (cached as a checkpoint per configuration)
  const tEnc = performance.now();
  engine.manualSeed(c.encoder.seed);
  const encoder = new SpeechEncoder(engine, N_MELS, c.encoder, VOCAB_SIZE);
  const key = encoderKey(c);
  const dir = encoderCacheDir(c);
  let cached = false;
  let encLoss = NaN;
  if (!c.reuseEncoder) log(`encoder: training (--reuse-encoder loads ${dir} instead when its configuration matches)`);
  else if (!io.checkpointIO || !(await latestCheckpoint(io.checkpointIO, dir))) log(`encoder: no cached encoder at ${dir}; training`);
  else {
    try {
      const st = await loadCheckpoint(io.checkpointIO, dir, { model: encoder, engine });
      cached = JSON.stringify(st.config) === JSON.stringify(key);
      if (cached) encLoss = (st.extra as { finalLoss: number }).finalLoss;
      log(cached ? `encoder: loaded from ${dir}` : `encoder: the cache at ${dir} has another configuration; training again`);
    } catch (e) {
      log(`encoder: the cache at ${dir} is unreadable (${(e as Error).message}); training again`);
    }
  }
  const maskRng = new SeededRng(`mask:${c.encoder.seed}`);
  if (!cached) engine.manualSeed(c.encoder.seed);
  if (!cached) encLoss = await fit(engine, encoder, encTrain, c.encoder, new SeededRng(`encoder:${c.encoder.seed}`), (b) => {
    // Masked spans of mel frames (zeroed = the utterance mean after normalisation); reconstruct them.
    const keepMel = new Float32Array(b.B * b.Tm).fill(1);
    const recon = new Float32Array(b.B * b.T);
    b.utts.forEach((u, k) => {
      const spans = Math.max(1, Math.round((c.encoder.maskShare * u.frames) / c.encoder.maskSpan));
      for (let s = 0; s < spans; s++) {
        const start = maskRng.int(Math.max(1, u.frames - c.encoder.maskSpan));
        for (let t = start; t < Math.min(u.frames, start + c.encoder.maskSpan); t++) {
          keepMel[k * b.Tm + t] = 0;
          recon[k * b.T + Math.floor(t / STRIDE)] = 1;
        }
      }
    });
    const km = engine.tensor(keepMel, [b.B, b.Tm, 1]);
    const rm = engine.tensor(recon, [b.B, b.T]);
    const hs = encoder.hiddenStates(b.mel.mul(km), b.padMask);
    const { logProbs, recon: r } = encoder.heads(hs[hs.length - 1]);
    const ctc = ctcLoss(logProbs, b.targets, b.lengths, b.targetLengths, { blank: BLANK, zeroInfinity: true });
    const se = r.sub(b.melPairs).square().mean(-1); // (B, T)
    return ctc.add(maskedMean(se, rm).mul(c.encoder.reconWeight));
  }, undefined, (epoch, l) => log(`  encoder epoch ${epoch + 1}/${c.encoder.epochs}: train loss ${l.toFixed(3)} (${((performance.now() - tEnc) / 1000).toFixed(0)} s)`));
  if (!cached && io.checkpointIO) {
    // The new encoder replaces the cached one of this configuration outright, so its folder keeps one name
    // (step-…, not a re-save suffix) and the shipped files change only when the weights do.
    if (io.checkpointIO.remove && (await io.checkpointIO.exists(dir))) await io.checkpointIO.remove(dir);
    await saveCheckpoint(io.checkpointIO, dir, { model: encoder, engine, step: c.encoder.epochs * encTrain.length, config: key, extra: { finalLoss: encLoss }, keep: 1 });
    log(`encoder: cached at ${dir}`);
  }
  const encCER = await ctcCER(engine, test, (b) => encoder.heads(encoder.hiddenStates(b.mel, b.padMask).at(-1)!).logProbs);
  const encSec = (performance.now() - tEnc) / 1000;
  const encParams = encoder.numParameters();
  log(`encoder: ${encoder.numParameters()} parameters, final train loss ${encLoss.toFixed(3)}, test CER ${encCER.toFixed(3)} (${encSec.toFixed(1)} s)`);

  // ---- hidden states of the analysed layers, normalised per dim with train-frame statistics
  const D = c.encoder.dModel;
  engine.noGrad(() => {
    // tidy: the blocks' intermediates go; keep exempts the analysed layers' states.
    for (const b of [...train, ...test]) engine.tidy(() => {
      encoder.hiddenStates(b.mel, b.padMask).forEach((h, i) => c.layers.includes(i + 1) && b.hidden.set(i + 1, engine.keep(h)));
    });
    for (const l of c.layers) {
      const [sum, sq] = [0, 1].map((p) => engine.tidy(() => engine.stack(train.map((b) => {
        const h = b.hidden.get(l)!.mul(b.mask.reshape([b.B, b.T, 1]));
        return (p ? h.square() : h).sum([0, 1]);
      })).sum(0)));
      const n = train.reduce((a, b) => a + frames(b), 0);
      const mean = engine.tidy(() => sum.div(n)); // (D)
      const std = engine.tidy(() => sq.div(n).sub(mean.square()).clamp(1e-8).sqrt()); // (D)
      for (const b of [...train, ...test]) {
        const h = b.hidden.get(l)!;
        b.hidden.set(l, engine.keep(engine.tidy(() => h.sub(mean).div(std).mul(b.mask.reshape([b.B, b.T, 1])))));
        h.dispose();
      }
      for (const t of [sum, sq, mean, std]) t.dispose();
    }
  });
  encoder.dispose();
  disposeBatches(encTrain);

  // ---- per seed and layer: the two VIB stages, the probes, the ablation
  type Acc = Record<string, number[]>;
  const perTaskRaw: Partial<Record<TaskName, Record<string, Acc>>> = {};
  const contentRaw: Record<string, { cer: number[]; kl: number[] }> = {};
  const ablation = { kl: [] as number[], klLowBeta: [] as number[], cer: [] as number[], cerLowBeta: [] as number[] };
  const lastLayer = c.layers[c.layers.length - 1];
  let attribution: Report['attribution'] | null = null;
  const K = c.vib.latent;

  for (const seed of c.seeds) {
    for (const l of c.layers) {
      const tag = `seed ${seed} layer ${l}`;
      const rng = new SeededRng(`vib:${seed}:${l}`);
      engine.manualSeed(1000 * seed + l);
      const H = (b: Batch) => b.hidden.get(l)!;

      // Stage 1: the content bottleneck.
      const stage1 = async (fixedBeta: number | null) => {
        const m = new ContentVIB(engine, D, K, VOCAB_SIZE);
        await fit(engine, m, train, c.vib, rng.fork(`s1:${fixedBeta}`), (b, step, total) => {
          const { z, kl } = m.encoder.forward(H(b), true);
          const lp = m.decoder.forward(z).logSoftmax(-1).transpose(0, 1); // (T, B, V)
          const beta = fixedBeta ?? betaAt(c.vib, step, total);
          return ctcLoss(lp, b.targets, b.lengths, b.targetLengths, { blank: BLANK, zeroInfinity: true }).add(maskedMean(kl, b.mask).mul(beta));
        });
        const cer = await ctcCER(engine, test, (b) => m.decoder.forward(m.encoder.forward(H(b), false).mu).logSoftmax(-1).transpose(0, 1));
        const kl = await weightedMean(engine, test, (b) => maskedMean(m.encoder.forward(H(b), false).kl, b.mask), frames);
        return { m, cer, kl };
      };
      const s1 = await stage1(null);
      (contentRaw[l] ??= { cer: [], kl: [] }).cer.push(s1.cer);
      contentRaw[l].kl.push(s1.kl);
      // z_textual: the frozen stage-1 mean (tidy frees the kl that forward also returns).
      const zText = new Map<Batch, Tensor>();
      engine.noGrad(() => [...train, ...test].forEach((b) => zText.set(b, engine.keep(engine.tidy(() => s1.m.encoder.forward(H(b), false).mu)))));
      s1.m.dispose();
      let line = `${tag}: content CER ${s1.cer.toFixed(3)}, KL ${s1.kl.toFixed(2)}`;
      if (l === lastLayer) {
        const low = await stage1(c.vib.lowBeta);
        low.m.dispose();
        ablation.kl.push(s1.kl);
        ablation.cer.push(s1.cer);
        ablation.klLowBeta.push(low.kl);
        ablation.cerLowBeta.push(low.cer);
        line += `; fixed β ${c.vib.lowBeta}: CER ${low.cer.toFixed(3)}, KL ${low.kl.toFixed(2)}`;
      }
      log(line);

      for (const task of c.tasks) {
        const classes = TASK_CLASSES[task];
        const acc = ((perTaskRaw[task] ??= {})[l] ??= {});
        const push = (k: string, v: number) => (acc[k] ??= []).push(v);
        // Stage 2: the acoustic bottleneck given the text.
        const m2 = new AcousticVIB(engine, D, K, classes);
        const stage2Logits = (b: Batch, noise: boolean) => {
          const { z, kl } = m2.encoder.forward(H(b), noise);
          const pc = m2.poolText.forwardWithWeights(zText.get(b)!, b.mask);
          const pa = m2.poolAcoustic.forwardWithWeights(z, b.mask);
          return { logits: m2.classifier.forward(engine.cat([pc.pooled, pa.pooled], -1)), kl, z, pc, pa };
        };
        await fit(engine, m2, train, c.vib, rng.fork(`s2:${task}`), (b, step, total) => {
          const { logits, kl } = stage2Logits(b, true);
          return crossEntropy(logits, b.labels[task]).add(maskedMean(kl, b.mask).mul(betaAt(c.vib, step, total)));
        });
        push('taskAccAcoustic', await accuracy(engine, test, task, (b) => stage2Logits(b, false).logits));
        push('klAcoustic', await weightedMean(engine, test, (b) => maskedMean(stage2Logits(b, false).kl, b.mask), frames));
        push('acousticSpeechMass', await weightedMean(engine, test, (b) => stage2Logits(b, false).pa.weights.mul(b.speech).sum().div(b.B), (b) => b.B));
        push('textSpeechMass', await weightedMean(engine, test, (b) => stage2Logits(b, false).pc.weights.mul(b.speech).sum().div(b.B), (b) => b.B));
        // Logit decomposition of the true class: text half and acoustic half of W_c.
        const Wt = m2.classifier.weight.narrow(1, 0, K), Wa = m2.classifier.weight.narrow(1, K, K); // (C, K) each
        const parts = engine.noGrad(() => test.map((b) => engine.tidy(() => {
          const s = stage2Logits(b, false);
          const y = b.labels[task].reshape([b.B, 1]);
          const at = s.pc.pooled.matmul(Wt.mT).gather(1, y).abs().sum();
          const aa = s.pa.pooled.matmul(Wa.mT).gather(1, y).abs().sum();
          return engine.stack([at, aa]);
        })));
        const pv = await Promise.all(parts.map((p) => p.data()));
        parts.forEach((p) => p.dispose());
        Wt.dispose();
        Wa.dispose();
        const [st, sa] = pv.reduce(([x, y], v) => [x + v[0], y + v[1]], [0, 0]);
        push('textContribution', st / (st + sa));
        if (!attribution && l === lastLayer && seed === c.seeds[0] && task === c.tasks[0]) {
          const b = test[test.length - 1];
          const k = b.utts.reduce((best, u, i) => (u.wordFrames.length > b.utts[best].wordFrames.length ? i : best), 0);
          const out = engine.noGrad(() => engine.tidy(() => {
            const s = stage2Logits(b, false);
            return [s.pa.weights, s.pc.weights, s.logits.argmax(-1)];
          }));
          const [wa, wt, pr] = await Promise.all(out.map((t) => t.data()));
          out.forEach((t) => t.dispose());
          const u = b.utts[k];
          attribution = {
            task, layer: l, text: u.text, label: u[task], predicted: pr[k], frames: b.lengths[k],
            wordFrames: u.wordFrames.map(([s, e]) => [Math.floor(s / STRIDE), Math.ceil(e / STRIDE)] as [number, number]),
            acoustic: Array.from(wa.subarray(k * b.T, k * b.T + b.lengths[k])), textual: Array.from(wt.subarray(k * b.T, k * b.T + b.lengths[k])),
          };
        }
        const zAc = new Map<Batch, Tensor>();
        engine.noGrad(() => [...train, ...test].forEach((b) => zAc.set(b, engine.keep(engine.tidy(() => m2.encoder.forward(H(b), false).mu)))));
        m2.dispose();

        // Probes on the frozen codes and on the raw layer.
        const probe = async (name: string, x: (b: Batch) => Tensor, dim: number) => {
          const p = new UtteranceProbe(engine, dim, classes);
          await fit(engine, p, train, c.probe, rng.fork(`probe:${task}:${name}`), (b) => crossEntropy(p.classifier.forward(p.pool.forward(x(b), b.mask)), b.labels[task]));
          const a = await accuracy(engine, test, task, (b) => p.classifier.forward(p.pool.forward(x(b), b.mask)));
          p.dispose();
          return a;
        };
        push('taskAccRaw', await probe('raw', H, D));
        push('taskAccContent', await probe('content', (b) => zText.get(b)!, K));
        push('taskAccAcousticOnly', await probe('acoustic', (b) => zAc.get(b)!, K));
        // A CTC probe on z_acoustic: how much text is left in it.
        const ctcProbe = new Linear(engine, K, VOCAB_SIZE);
        await fit(engine, ctcProbe, train, c.probe, rng.fork(`ctcprobe:${task}`), (b) =>
          ctcLoss(ctcProbe.forward(zAc.get(b)!).logSoftmax(-1).transpose(0, 1), b.targets, b.lengths, b.targetLengths, { blank: BLANK, zeroInfinity: true }));
        push('acousticCER', await ctcCER(engine, test, (b) => ctcProbe.forward(zAc.get(b)!).logSoftmax(-1).transpose(0, 1)));
        ctcProbe.dispose();
        zAc.forEach((t) => t.dispose());
        const f = (k: string) => acc[k].at(-1)!.toFixed(3);
        log(`${tag} ${task}: stage-2 acc ${f('taskAccAcoustic')}, probes raw ${f('taskAccRaw')} / z_text ${f('taskAccContent')} / z_ac ${f('taskAccAcousticOnly')}, z_ac CER ${f('acousticCER')}, KL_ac ${f('klAcoustic')}, text share ${f('textContribution')}, speech mass ac ${f('acousticSpeechMass')} text ${f('textSpeechMass')}`);
      }
      zText.forEach((t) => t.dispose());
    }
  }

  const stat = (xs: number[]): Stat => ({ mean: xs.reduce((a, x) => a + x, 0) / xs.length, perSeed: xs });
  const speechShare = test.reduce((a, b) => a + b.utts.reduce((s, u, k) => s + Math.min(b.lengths[k], u.wordFrames.reduce((w, [x, y]) => w + Math.ceil(y / STRIDE) - Math.floor(x / STRIDE), 0)) / b.lengths[k], 0), 0) / testU.length;
  const perTask: Report['perTask'] = {};
  for (const task of c.tasks) {
    perTask[task] = {};
    for (const l of c.layers) {
      const a = perTaskRaw[task]![l];
      perTask[task]![l] = {
        contentCER: stat(contentRaw[l].cer), taskAccContent: stat(a.taskAccContent), taskAccAcoustic: stat(a.taskAccAcoustic), taskAccRaw: stat(a.taskAccRaw),
        taskAccAcousticOnly: stat(a.taskAccAcousticOnly), acousticCER: stat(a.acousticCER), klAcoustic: stat(a.klAcoustic), textContribution: stat(a.textContribution),
        acousticSpeechMass: stat(a.acousticSpeechMass), textSpeechMass: stat(a.textSpeechMass), speechFrameShare: speechShare,
      };
    }
  }
  const first = perTask[c.tasks[0]]!;
  const perLayer: Record<string, LayerReport> = {};
  for (const l of c.layers) {
    const { contentCER, taskAccContent, taskAccAcoustic, taskAccRaw } = first[l];
    perLayer[l] = { contentCER, taskAccContent, taskAccAcoustic, taskAccRaw };
  }
  disposeBatches([...train, ...test]);
  return {
    method: 'speech-ib-disentanglement',
    config: c,
    perLayer,
    perTask,
    content: Object.fromEntries(c.layers.map((l) => [l, { kl: stat(contentRaw[l].kl) }])),
    ibAblation: { layer: lastLayer, beta: c.vib.betaEnd, lowBeta: c.vib.lowBeta, kl: stat(ablation.kl), klLowBeta: stat(ablation.klLowBeta), cer: stat(ablation.cer), cerLowBeta: stat(ablation.cerLowBeta) },
    chance,
    encoder: { testCER: encCER, params: encParams, cached, wallSec: encSec, finalLoss: encLoss },
    data: { nTrain: c.data.nTrain, nTest: c.data.nTest, meanSeconds: meanFrames / 100, meanFrames, wallSec: dataSec },
    attribution: attribution!,
    wallSec: (performance.now() - t0) / 1000,
  };
}
