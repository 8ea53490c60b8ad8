// STEP (Lindemann, Koller, Titov, EMNLP 2024) at small scale: an encoder-decoder is pre-trained to apply
// synthetic transformations of dependency trees that are described only by a prefix of rule vectors
// (E_label + E_fn) in front of the sentence — the tree is never shown — then fine-tuned few-shot on
// syntactic tasks with a tunable prefix initialised from the mean rule vectors. Baselines: no
// intermediate pre-training, and the same pre-training budget on the same sentences spent on plain
// reconstruction (or Simple STEP: one random function on every edge, named by a sentinel). The
// analysis reads the encoder's attention through the `weights` hooks (the fused kernel trains) and
// masks the prefix attention of single heads (headKeyMask) to find the heads that look up rules.
import { crossEntropy, type Engine, type Tensor } from '../../engine/index.js';
import {
  AdamW, Embedding, Module, ModuleSnapshot, ReduceLROnPlateau, SeededRng, Transformer, constantSchedule, cosineSchedule, generateSeq2Seq, headKeyMask, spanF1, train,
  type Schedule,
} from '../../nn/index.js';
import { mergeSeedReports } from '../merge.js';
import { makeConfig, type StepConfig } from './config.js';
import {
  BOS, EOS, PAD, VOCAB, chunksOf, decodeTokens, exactMatch, pretrainSet, sampleSentences, taskSplits, untilEos,
  type Example, type PretrainArm, type TaskName,
} from './tasks.js';
import { EDGE_FUNCTIONS, LABELS, forms, labelId } from './trees.js';

export interface Stat {
  mean: number;
  perSeed: number[];
}
/** A pre-trained arm, or 'baseline' (fine-tuned from the random initialisation). */
export type ModelName = PretrainArm | 'baseline';

export interface PretrainResult {
  /** Mean training loss over the last logEvery steps (nats/token). */
  trainLoss: Stat;
  /** Teacher-forced loss on unseen dev sentences of the model kept (the best dev step's), and the unigram loss of the dev targets under the training targets' unigram distribution. */
  devLoss: Stat;
  unigramLoss: Stat;
  /** Greedy exact match (EOS included) on the dev set. */
  devExactMatch: Stat;
  /** Training loss at each logged step, mean over the seeds that ran that step (early stopping ends seeds at different steps). */
  curve: { step: number; loss: number }[];
  /** Teacher-forced dev loss every evalEvery steps, mean over the seeds that ran that step. */
  devCurve: { step: number; loss: number }[];
  /** Step of the lowest dev loss (the model kept: nn train()'s restoreBest); the cap is config.pretrain.steps. */
  bestStep: Stat;
  /** Steps run before early stopping (patience evaluations without improvement) or the cap ended training. */
  stepsRun: Stat;
}

export interface FewShotResult {
  accuracy: Stat;
  /** Chunk F1 (chunking only). */
  chunkF1?: Stat;
  /** Fine-tuning loss over the last steps. */
  trainLoss: Stat;
  /** Teacher-forced loss on the test set (nats/token): a graded signal where exact match is 0 for every model. */
  testLoss: Stat;
}

export interface HeadAblation {
  /** [layer][head], seed mean: share of tokens with label D whose argmax attention (mass >= 0.5) is D's rule slot, mean over labels. */
  lookupScore: number[][];
  /** [layer][head], seed mean: attention mass from sentence tokens to the rule prefix. */
  prefixMass: number[][];
  /** label → [layer][head] hit rate (seed mean). */
  hitRate: Record<string, number[][]>;
  /** Per seed, the ablated look-up heads [layer, head]. */
  lookupHeads: [number, number][][];
  /** Per seed: the most labels any single head looks up with hit rate >= 0.5. */
  maxLabelsPerHead: Stat;
  /** STEP dev exact match with nothing masked, with the look-up heads' prefix attention masked, with as many random heads masked (mean over draws). */
  accuracy: { none: Stat; lookup: Stat; random: Stat };
}

export interface Report {
  method: 'step';
  config: StepConfig;
  parameters: number;
  pretrain: Partial<Record<PretrainArm, PretrainResult>>;
  /** model → task → N → result. */
  fewShot: Partial<Record<ModelName, Partial<Record<TaskName, Record<string, FewShotResult>>>>>;
  /** model → task → result on the deeper-nesting split, after fine-tuning on the largest N. */
  generalisation: Partial<Record<ModelName, Partial<Record<TaskName, { accuracy: Stat; chunkF1?: Stat }>>>>;
  headAblation: HeadAblation | null;
  /** Sample outputs of seed 0 (task, model, input, gold, prediction) for the README. */
  samples: { task: TaskName | 'pre-training'; model: ModelName; input: string; gold: string; prediction: string }[];
  /** The raw per-seed measurements every field above is computed from (mergeReports combines runs of other seeds). */
  seedResults: SeedOut[];
  wallSec: number;
}

export interface RunIO {
  log?: (line: string) => void;
  /** Called after every seed but the last with the report of the seeds so far (the CLI writes it, so a stopped run keeps them). */
  partial?: (report: Report) => Promise<void>;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stat = (xs: number[]): Stat => ({ mean: mean(xs), perSeed: xs });
const text = (ids: readonly number[]) => decodeTokens(untilEos(ids)).join(' ');

// ------------------------------------------------------------------ model

/** The seq2seq Transformer plus STEP's two rule tables (label 0 = a padded slot). */
export class StepModel extends Module {
  readonly transformer: Transformer;
  readonly labelEmb: Embedding;
  readonly fnEmb: Embedding;

  constructor(engine: Engine, c: StepConfig) {
    super(engine);
    this.transformer = this.registerModule('transformer', new Transformer(engine, { srcVocabSize: VOCAB.length, tgtVocabSize: VOCAB.length, ...c.model, maxSeqLen: 64, dropout: 0 }));
    this.labelEmb = this.registerModule('labelEmb', new Embedding(engine, LABELS.length + 1, c.model.dModel, { std: 0.02 }));
    this.fnEmb = this.registerModule('fnEmb', new Embedding(engine, EDGE_FUNCTIONS.length, c.model.dModel, { std: 0.02 }));
  }

  /** labels, fns (B, R) i32 -> rule vectors E_label[l] + E_fn[f] (B, R, dModel). */
  ruleVectors(labels: Tensor, fns: Tensor): Tensor {
    const a = this.labelEmb.forward(labels);
    const b = this.fnEmb.forward(fns);
    const v = a.add(b);
    a.dispose();
    b.dispose();
    return v;
  }
}

/** How the encoder input starts: the example's rule description, a tuned prefix of P vectors, or nothing. */
type PrefixMode = { kind: 'rules' } | { kind: 'learned'; prefix: Tensor } | { kind: 'none' };

interface DeviceBatch {
  src: Tensor;
  srcPad: Tensor;
  tgtIn: Tensor;
  tgtOut: Tensor;
  tgtPad: Tensor;
  labels: Tensor | null;
  fns: Tensor | null;
  /** Rule slots in front of the tokens (0 without a prefix). */
  prefixLen: number;
}

/** Pad a batch of examples onto the device: source (B, S), padding (B, P + S), decoder input/targets (B, T). */
function toBatch(engine: Engine, exs: readonly Example[], mode: PrefixMode): DeviceBatch {
  const B = exs.length;
  const S = Math.max(...exs.map((e) => e.src.length));
  const T = Math.max(...exs.map((e) => e.tgt.length));
  const R = mode.kind === 'rules' ? Math.max(1, ...exs.map((e) => e.rules.length)) : mode.kind === 'learned' ? mode.prefix.shape[1] : 0;
  const src = new Int32Array(B * S), srcPad = new Int32Array(B * (R + S));
  const tgtIn = new Int32Array(B * T), tgtOut = new Int32Array(B * T).fill(-100), tgtPad = new Int32Array(B * T);
  const labels = new Int32Array(B * R), fns = new Int32Array(B * R);
  exs.forEach((e, b) => {
    for (let j = 0; j < S; j++) {
      src[b * S + j] = j < e.src.length ? e.src[j] : PAD;
      srcPad[b * (R + S) + R + j] = j < e.src.length ? 0 : 1;
    }
    if (mode.kind === 'rules') {
      for (let r = 0; r < R; r++) {
        const rule = e.rules[r];
        labels[b * R + r] = rule ? rule.label : 0;
        fns[b * R + r] = rule ? rule.fn : 0;
        srcPad[b * (R + S) + r] = rule ? 0 : 1; // padded rule slots are masked
      }
    }
    for (let t = 0; t < T; t++) {
      tgtIn[b * T + t] = t === 0 ? BOS : t < e.tgt.length ? e.tgt[t - 1] : PAD;
      if (t < e.tgt.length) tgtOut[b * T + t] = e.tgt[t];
      tgtPad[b * T + t] = t < e.tgt.length ? 0 : 1;
    }
  });
  const i32 = (a: Int32Array, shape: number[]) => engine.tensor(a, shape, { dtype: 'i32' });
  return {
    src: i32(src, [B, S]),
    srcPad: i32(srcPad, [B, R + S]),
    tgtIn: i32(tgtIn, [B, T]),
    tgtOut: i32(tgtOut, [B, T]),
    tgtPad: i32(tgtPad, [B, T]),
    labels: mode.kind === 'rules' ? i32(labels, [B, R]) : null,
    fns: mode.kind === 'rules' ? i32(fns, [B, R]) : null,
    prefixLen: R,
  };
}

function disposeBatch(b: DeviceBatch): void {
  for (const t of [b.src, b.srcPad, b.tgtIn, b.tgtOut, b.tgtPad, b.labels, b.fns]) t?.dispose();
}

/** The encoder prefix of a batch (B or 1, P, dModel), or null. Call inside a tidy. */
function prefixOf(m: StepModel, b: DeviceBatch, mode: PrefixMode): Tensor | null {
  if (mode.kind === 'rules') return m.ruleVectors(b.labels!, b.fns!);
  if (mode.kind === 'learned') return mode.prefix;
  return null;
}

/** Mean teacher-forced token cross-entropy of a batch (0-d). Call inside a tidy. */
function batchLoss(m: StepModel, b: DeviceBatch, mode: PrefixMode): Tensor {
  const logits = m.transformer.forward(b.src, b.tgtIn, { srcPaddingMask: b.srcPad, tgtPaddingMask: b.tgtPad, prefix: prefixOf(m, b, mode) }); // (B, T, V)
  const [B, T, V] = logits.shape;
  return crossEntropy(logits.reshape([B * T, V]), b.tgtOut.reshape([B * T]));
}

/**
 * Batches of `size` indices into `set`, epoch by epoch in shuffled order. With bucketing, the shuffled
 * order is cut into pools of `bucket` batches, each pool sorted by target length and served as batches
 * in random order: less padding per batch, every example still once per epoch.
 */
function batchSampler(set: readonly Example[], size: number, rng: SeededRng, bucket: number): () => number[] {
  let order: number[] = [];
  let ready: number[][] = [];
  size = Math.min(size, set.length);
  return () => {
    if (bucket < 2) {
      const idx: number[] = [];
      while (idx.length < size) {
        if (!order.length) order = rng.shuffle(set.map((_, i) => i));
        idx.push(order.pop()!);
      }
      return idx;
    }
    if (!ready.length) {
      if (order.length < size) order = [...order, ...rng.shuffle(set.map((_, i) => i))];
      const pool = order.splice(0, Math.min(order.length - (order.length % size), size * bucket));
      pool.sort((a, b) => set[a].tgt.length - set[b].tgt.length || set[a].src.length - set[b].src.length);
      for (let k = 0; k < pool.length; k += size) ready.push(pool.slice(k, k + size));
      ready = rng.shuffle(ready);
    }
    return ready.pop()!;
  };
}

interface FitResult {
  /** Mean training loss per logged window. */
  curve: { step: number; loss: number }[];
  /** Dev loss at each evaluation (with `dev`). */
  devCurve: { step: number; loss: number }[];
  /** The lowest dev loss and its step (with `dev`); the model is left at that step's weights. */
  best: { step: number; loss: number } | null;
  stepsRun: number;
}

/**
 * Train `m` with `opt` through nn's train() on batches from `set`, the lr following `schedule` (a
 * multiplier of each group's lr). With `dev`: teacher-forced dev loss every `evalEvery` steps, passed
 * to `onEval` (the lr plateau), early stopping after `patience` evaluations without an improvement of
 * more than `minDelta`, and the best step's weights restored at the end.
 */
async function fit(engine: Engine, m: StepModel, opt: AdamW, set: readonly Example[], mode: PrefixMode, o: {
  steps: number; batch: number; schedule: Schedule; logEvery: number; rng: SeededRng; bucket?: number;
  dev?: { examples: readonly Example[]; evalEvery: number; patience: number; minDelta: number; restore: readonly Tensor[]; onEval?: (loss: number) => void };
  log?: (line: string) => void;
}): Promise<FitResult> {
  const next = batchSampler(set, o.batch, o.rng, o.bucket ?? 0);
  const curve: FitResult['curve'] = [];
  const devCurve: FitResult['devCurve'] = [];
  m.train(true);
  const r = await train({
    steps: o.steps,
    logEvery: o.logEvery,
    step: (step) => {
      // Read at every step (not after it) so a plateau cut made at an evaluation applies from the next step.
      for (const g of opt.paramGroups) g.lr = g.initialLr * o.schedule(step);
      const b = toBatch(engine, next().map((i) => set[i]), mode);
      const loss = engine.tidy(() => {
        opt.zeroGrad();
        const l = batchLoss(m, b, mode);
        l.backward();
        opt.step();
        return l.detach();
      });
      disposeBatch(b);
      return loss;
    },
    log: (rec) => {
      if (rec.kind !== 'train') return;
      curve.push({ step: rec.step, loss: rec.loss });
      o.log?.(`step ${rec.step}/${o.steps}  loss ${rec.loss.toFixed(3)}`);
    },
    ...(o.dev ? {
      evalEvery: o.dev.evalEvery,
      evaluate: async (step: number) => {
        const loss = await meanLoss(engine, m, o.dev!.examples, mode);
        devCurve.push({ step, loss });
        o.log?.(`step ${step}/${o.steps}  dev loss ${loss.toFixed(3)}`);
        return { devLoss: loss };
      },
      onEval: (_step: number, metrics: Record<string, number>) => o.dev!.onEval?.(metrics.devLoss),
      earlyStopping: { metric: 'devLoss', patience: o.dev.patience, minDelta: o.dev.minDelta, restoreBest: o.dev.restore },
    } : {}),
  });
  opt.zeroGrad();
  return { curve, devCurve, best: r.best && { step: r.best.step, loss: r.best.value }, stepsRun: r.steps };
}

/** Greedy predictions (token ids, cut after EOS) for `exs`, in chunks; `encoderMask` masks encoder attention per layer. */
async function predict(engine: Engine, m: StepModel, exs: readonly Example[], mode: PrefixMode, maxNew: number, encoderMask?: (prefixLen: number, tk: number) => (Tensor | null)[]): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < exs.length; i += 100) {
    const b = toBatch(engine, exs.slice(i, i + 100), mode);
    const prefix = engine.noGrad(() => engine.tidy(() => prefixOf(m, b, mode)?.clone() ?? null));
    const masks = encoderMask?.(b.prefixLen, b.srcPad.shape[1]);
    // Exact match needs EOS at the gold length, so decoding past the longest gold (plus a little room for chunk F1) changes no score.
    const steps = Math.min(maxNew, Math.max(...exs.slice(i, i + 100).map((e) => e.tgt.length)) + 4);
    const r = await generateSeq2Seq(m.transformer, b.src, { maxNewTokens: steps, bos: BOS, eos: EOS, pad: PAD, srcPaddingMask: b.srcPad, prefix, encoderAttnMask: masks ? (layer) => masks[layer] : null });
    prefix?.dispose();
    masks?.forEach((t) => t?.dispose());
    disposeBatch(b);
    out.push(...r.tokens);
  }
  return out;
}

/** Mean teacher-forced loss over `exs` (one readback). */
async function meanLoss(engine: Engine, m: StepModel, exs: readonly Example[], mode: PrefixMode): Promise<number> {
  m.train(false);
  const parts: { loss: Tensor; n: number }[] = [];
  for (let i = 0; i < exs.length; i += 100) {
    const chunk = exs.slice(i, i + 100);
    const b = toBatch(engine, chunk, mode);
    parts.push({ loss: engine.noGrad(() => engine.tidy(() => batchLoss(m, b, mode))), n: chunk.reduce((a, e) => a + e.tgt.length, 0) });
    disposeBatch(b);
  }
  let sum = 0, n = 0;
  for (const p of parts) {
    sum += (await p.loss.item()) * p.n;
    n += p.n;
    p.loss.dispose();
  }
  m.train(true);
  return sum / n;
}

/** Cross-entropy of the dev targets under the training targets' unigram distribution (add-one smoothed). */
function unigramLoss(trainSet: readonly Example[], dev: readonly Example[]): number {
  const counts = new Float64Array(VOCAB.length).fill(1);
  for (const e of trainSet) for (const t of e.tgt) counts[t]++;
  const total = counts.reduce((a, b) => a + b, 0);
  let nll = 0, n = 0;
  for (const e of dev) for (const t of e.tgt) (nll -= Math.log(counts[t] / total), n++);
  return nll / n;
}

const accuracyOf = (pred: number[][], exs: readonly Example[]) => mean(exs.map((e, i) => (exactMatch(pred[i], e.tgt) ? 1 : 0)));
const chunkF1Of = (pred: number[][], exs: readonly Example[]) =>
  spanF1(pred.map((p) => chunksOf(decodeTokens(untilEos(p)))), exs.map((e) => chunksOf(decodeTokens(untilEos(e.tgt))))).f1;

/** The fine-tuning prefix: per slot, the mean rule vector of the dev examples that have a rule there (1, P, dModel). */
function meanRulePrefix(engine: Engine, m: StepModel, dev: readonly Example[], length: number): Tensor {
  const withRules = dev.filter((e) => e.rules.length > 0);
  const padded = withRules.map((e) => ({ ...e, rules: Array.from({ length }, (_, r) => e.rules[r] ?? { label: 0, fn: 0 }) }));
  const b = toBatch(engine, padded, { kind: 'rules' });
  const prefix = engine.noGrad(() =>
    engine.tidy(() => {
      const v = m.ruleVectors(b.labels!, b.fns!); // (N, P, d)
      const has = b.labels!.ne(0).to('f32').unsqueeze(2); // (N, P, 1)
      const sum = v.mul(has).sum(0, true); // (1, P, d)
      const count = has.sum(0, true).clamp(1, Infinity); // (1, P, 1)
      const slotMean = sum.div(count);
      // Slots no example fills take the mean over all filled slots.
      const overall = v.mul(has).sum([0, 1], true).div(has.sum([0, 1], true)); // (1, 1, d)
      const filled = has.sum(0, true).gt(0); // (1, P, 1)
      return slotMean.where(filled, 0).add(overall.where(filled.eq(0), 0)).contiguous();
    }),
  );
  disposeBatch(b);
  return prefix;
}

// ------------------------------------------------------------------ attention analysis

interface LookupCounts {
  /** [layer][head][label id] hits and totals. */
  hits: number[][][];
  totals: number[][][];
  prefixMass: number[][];
  tokens: number;
}

/** Read the encoder's attention on STEP dev examples through the `weights` hooks and count rule look-ups. */
async function lookupCounts(engine: Engine, m: StepModel, dev: readonly Example[], c: StepConfig): Promise<LookupCounts> {
  const L = c.model.nEncoderLayers, H = c.model.nHeads, NL = LABELS.length + 1;
  const z = () => Array.from({ length: L }, () => Array.from({ length: H }, () => new Array(NL).fill(0)));
  const counts: LookupCounts = { hits: z(), totals: z(), prefixMass: Array.from({ length: L }, () => new Array(H).fill(0)), tokens: 0 };
  m.train(false);
  for (let i = 0; i < dev.length; i += 100) {
    const exs = dev.slice(i, i + 100);
    const b = toBatch(engine, exs, { kind: 'rules' });
    const R = b.prefixLen, S = b.src.shape[1];
    const reads: { arg: Tensor; max: Tensor; mass: Tensor }[] = [];
    const removers = Array.from({ length: L }, (_, l) =>
      m.registerHook(`transformer.encoder.layers.${l}.attn.weights`, (w) => {
        // w (B, H, R + S, R + S): from each sentence token, where does the head look?
        const q = w.narrow(2, R, S); // (B, H, S, R + S)
        reads[l] = engine.noGrad(() => ({ arg: engine.keep(q.argmax(-1)), max: engine.keep(q.max(-1)), mass: engine.keep(q.narrow(3, 0, R).sum(-1)) })); // (B, H, S) each
        q.dispose();
      }),
    );
    engine.noGrad(() => engine.tidy(() => m.transformer.encode(b.src, { srcPaddingMask: b.srcPad, prefix: m.ruleVectors(b.labels!, b.fns!) })));
    removers.forEach((r) => r());
    for (let l = 0; l < L; l++) {
      const [arg, mx, mass] = await Promise.all([reads[l].arg.data(), reads[l].max.data(), reads[l].mass.data()]);
      for (const t of Object.values(reads[l])) t.dispose();
      exs.forEach((e, bi) => {
        const slot = new Map(e.rules.map((r, k) => [r.label, k]));
        e.sentence.words.forEach((w, j) => {
          for (let h = 0; h < H; h++) {
            const at = (bi * H + h) * S + j;
            if (l === 0 && h === 0) counts.tokens++;
            counts.prefixMass[l][h] += mass[at];
            if (w.head < 0) continue;
            const lid = labelId(w.label);
            const k = slot.get(lid);
            if (k === undefined) continue;
            counts.totals[l][h][lid]++;
            if (arg[at] === k && mx[at] >= 0.5) counts.hits[l][h][lid]++;
          }
        });
      });
    }
    disposeBatch(b);
  }
  for (const row of counts.prefixMass) for (let h = 0; h < H; h++) row[h] /= counts.tokens;
  m.train(true);
  return counts;
}

// ------------------------------------------------------------------ one seed

export interface SeedOut {
  seed: number;
  pretrain: Partial<Record<PretrainArm, { trainLoss: number; devLoss: number; unigramLoss: number; devExactMatch: number; curve: { step: number; loss: number }[]; devCurve: { step: number; loss: number }[]; bestStep: number; stepsRun: number }>>;
  fewShot: Partial<Record<ModelName, Partial<Record<TaskName, Record<string, { accuracy: number; chunkF1?: number; trainLoss: number; testLoss: number }>>>>>;
  generalisation: Partial<Record<ModelName, Partial<Record<TaskName, { accuracy: number; chunkF1?: number }>>>>;
  lookup: { score: number[][]; prefixMass: number[][]; hitRate: number[][][]; heads: [number, number][]; maxLabels: number; none: number; masked: number; random: number } | null;
  samples: Report['samples'];
  parameters: number;
}

async function runSeed(engine: Engine, c: StepConfig, seed: number, log: (s: string) => void): Promise<SeedOut> {
  const t0 = performance.now();
  const since = () => `${((performance.now() - t0) / 1000).toFixed(0)}s`;
  const rng = new SeededRng(`step:${seed}`);
  const grammar = c.grammar;
  // Pre-training sentences of every depth; dev sentences unseen in training.
  const trainSentences = sampleSentences(rng.fork('train'), c.pretrain.sentences, grammar);
  const devSentences = sampleSentences(rng.fork('dev'), c.pretrain.devSentences, grammar, () => true, new Set(trainSentences.map((s) => forms(s).join(' '))));
  const out: SeedOut = { seed, pretrain: {}, fewShot: {}, generalisation: {}, lookup: null, samples: [], parameters: 0 };

  engine.manualSeed(1000 + seed);
  const m = new StepModel(engine, c);
  out.parameters = m.numParameters();
  const init = new ModuleSnapshot(m);
  const snapshots = new Map<ModelName, ModuleSnapshot>([['baseline', init]]);
  let stepDev: Example[] = [];
  try {
    // ---- intermediate pre-training, same steps and sentences for every arm
    for (const arm of c.arms) {
      init.restore();
      const mode: PrefixMode = arm === 'step' ? { kind: 'rules' } : { kind: 'none' };
      const set = pretrainSet(arm, trainSentences, seed, c.maxTgt, c.pretrain.maxDistractors);
      const dev = pretrainSet(arm, devSentences, seed + 7919, c.maxTgt, c.pretrain.maxDistractors);
      if (arm === 'step') stepDev = dev;
      const opt = new AdamW(m.parameters(), { lr: c.pretrain.lr, weightDecay: c.pretrain.weightDecay });
      // Constant lr after warmup, cut by the plateau when the dev loss stalls; early stopping ends the arm.
      const plateau = new ReduceLROnPlateau({ factor: c.pretrain.plateauFactor, patience: c.pretrain.plateauPatience });
      const fitted = await fit(engine, m, opt, set, mode, {
        steps: c.pretrain.steps, batch: c.pretrain.batch, schedule: plateau.schedule(constantSchedule({ warmupSteps: c.pretrain.warmupSteps })), logEvery: c.pretrain.logEvery, rng: rng.fork(`order:${arm}`), bucket: c.pretrain.bucket,
        dev: { examples: dev, evalEvery: c.pretrain.evalEvery, patience: c.pretrain.patience, minDelta: c.pretrain.minDelta, restore: m.parameters(), onEval: (loss) => plateau.step(loss) },
        log: (line) => log(`    seed ${seed} ${arm} ${line}  (${since()})`),
      });
      opt.dispose();
      const { curve, devCurve } = fitted;
      const best = fitted.best!; // the model now holds the weights of this step
      const pred = await predict(engine, m, dev, mode, c.maxTgt);
      const r = { trainLoss: curve[curve.length - 1].loss, devLoss: best.loss, unigramLoss: unigramLoss(set, dev), devExactMatch: accuracyOf(pred, dev), curve, devCurve, bestStep: best.step, stepsRun: fitted.stepsRun };
      out.pretrain[arm] = r;
      snapshots.set(arm, new ModuleSnapshot(m));
      log(`  seed ${seed} pre-train ${arm.padEnd(14)} ${set.length} examples  train loss ${r.trainLoss.toFixed(3)}  best dev loss ${best.loss.toFixed(3)} at step ${best.step} of ${fitted.stepsRun} run (cap ${c.pretrain.steps}; unigram ${r.unigramLoss.toFixed(3)})  dev exact match ${r.devExactMatch.toFixed(3)}  (${since()})`);
      if (seed === 0) out.samples.push({ task: 'pre-training', model: arm, input: text(dev[0].src), gold: text(dev[0].tgt), prediction: text(pred[0]) });
    }

    // ---- attention analysis of the STEP model: look-up heads and their ablation
    if (c.arms.includes('step')) {
      snapshots.get('step')!.restore();
      const dev = stepDev.slice(0, c.ablation.devExamples);
      const counts = await lookupCounts(engine, m, dev, c);
      const L = c.model.nEncoderLayers, H = c.model.nHeads;
      const rate = (l: number, h: number, lid: number) => (counts.totals[l][h][lid] ? counts.hits[l][h][lid] / counts.totals[l][h][lid] : 0);
      const labelIds = LABELS.map((_, i) => i + 1).filter((lid) => counts.totals[0][0][lid] > 0);
      const score = Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => mean(labelIds.map((lid) => rate(l, h, lid)))));
      const hitRate = LABELS.map((_, i) => Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => rate(l, h, i + 1))));
      const all: [number, number][] = [];
      for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) all.push([l, h]);
      const heads = [...all].sort((a, b) => score[b[0]][b[1]] - score[a[0]][a[1]]).slice(0, c.ablation.heads);
      const maxLabels = Math.max(...all.map(([l, h]) => labelIds.filter((lid) => rate(l, h, lid) >= 0.5).length));
      // Per encoder layer, a mask that stops the chosen heads of that layer from attending to the rule prefix.
      const maskFor = (chosen: [number, number][]) => (prefixLen: number, tk: number) =>
        Array.from({ length: L }, (_, l) => {
          const hs = chosen.filter(([cl]) => cl === l).map(([, h]) => h);
          return hs.length ? headKeyMask(engine, { numHeads: H, heads: hs, keyStart: 0, keyCount: prefixLen, tk }) : null;
        });
      const masked = async (chosen: [number, number][] | null) => accuracyOf(await predict(engine, m, dev, { kind: 'rules' }, c.maxTgt, chosen ? maskFor(chosen) : undefined), dev);
      const none = await masked(null);
      const maskedAcc = await masked(heads);
      const drawRng = rng.fork('random-heads');
      const randoms: number[] = [];
      for (let d = 0; d < c.ablation.randomDraws; d++) randoms.push(await masked(drawRng.shuffle([...all]).slice(0, c.ablation.heads)));
      out.lookup = { score, prefixMass: counts.prefixMass, hitRate, heads, maxLabels, none, masked: maskedAcc, random: mean(randoms) };
      log(`  seed ${seed} look-up heads ${heads.map(([l, h]) => `L${l}H${h} (${score[l][h].toFixed(2)})`).join(', ')}; max labels per head ${maxLabels}; dev exact match ${none.toFixed(3)} → masked ${maskedAcc.toFixed(3)} vs random ${mean(randoms).toFixed(3)}  (${since()})`);
    }

    // ---- few-shot fine-tuning
    const maxN = Math.max(...c.nValues);
    for (const task of c.tasks) {
      const splits = taskSplits(task, seed, { maxN, test: c.finetune.testSize, generalisation: c.finetune.generalisationSize, trainMaxDepth: c.finetune.trainMaxDepth, grammar, maxTgt: c.maxTgt });
      for (const name of [...c.arms, 'baseline'] as ModelName[]) {
        for (const n of [...c.nValues].sort((a, b) => a - b)) {
          snapshots.get(name)!.restore();
          const trainSet = splits.train.slice(0, n);
          let prefix: Tensor | null = null;
          let mode: PrefixMode = { kind: 'none' };
          let opt: AdamW;
          if (name === 'step') {
            // A tunable prefix as long as the longest description, from the mean pre-training rule vectors.
            prefix = engine.keep(meanRulePrefix(engine, m, stepDev, LABELS.length).requiresGrad_(true));
            mode = { kind: 'learned', prefix };
            opt = new AdamW([{ params: [prefix], lr: c.finetune.prefixLr }, { params: m.parameters() }], { lr: c.finetune.lr, weightDecay: 0 });
          } else opt = new AdamW(m.parameters(), { lr: c.finetune.lr, weightDecay: 0 });
          const { curve } = await fit(engine, m, opt, trainSet, mode, { steps: c.finetune.steps, batch: c.finetune.batch, schedule: cosineSchedule({ warmupSteps: 0, totalSteps: c.finetune.steps, minLr: 0.1 }), logEvery: Math.max(1, Math.floor(c.finetune.steps / 4)), rng: rng.fork(`ft:${task}:${name}:${n}`) });
          opt.dispose();
          const pred = await predict(engine, m, splits.test, mode, c.maxTgt);
          const r = { accuracy: accuracyOf(pred, splits.test), trainLoss: curve[curve.length - 1].loss, testLoss: await meanLoss(engine, m, splits.test, mode), ...(task === 'chunking' ? { chunkF1: chunkF1Of(pred, splits.test) } : {}) };
          ((out.fewShot[name] ??= {})[task] ??= {})[String(n)] = r;
          let gen = '';
          if (n === maxN) {
            const gp = await predict(engine, m, splits.generalisation, mode, c.maxTgt);
            const g = { accuracy: accuracyOf(gp, splits.generalisation), ...(task === 'chunking' ? { chunkF1: chunkF1Of(gp, splits.generalisation) } : {}) };
            (out.generalisation[name] ??= {})[task] = g;
            gen = `  generalisation ${g.accuracy.toFixed(3)}`;
            if (seed === 0) out.samples.push({ task, model: name, input: text(splits.generalisation[0].src), gold: text(splits.generalisation[0].tgt), prediction: text(gp[0]) });
          }
          prefix?.dispose();
          log(`  seed ${seed} ${task} ${name.padEnd(14)} N=${String(n).padEnd(4)} loss ${r.trainLoss.toFixed(3)}  test loss ${r.testLoss.toFixed(3)}  accuracy ${r.accuracy.toFixed(3)}${r.chunkF1 !== undefined ? `  chunk F1 ${r.chunkF1.toFixed(3)}` : ''}${gen}  (${since()})`);
        }
      }
    }
  } finally {
    for (const s of snapshots.values()) s.dispose();
    m.dispose();
  }
  return out;
}

// ------------------------------------------------------------------ all seeds

export async function run(engine: Engine, config: Partial<StepConfig> = {}, io: RunIO = {}): Promise<Report> {
  const c = makeConfig(config);
  const log = io.log ?? (() => {});
  const t0 = performance.now();
  const seeds: SeedOut[] = [];
  for (const seed of c.seeds) {
    seeds.push(await runSeed(engine, c, seed, log));
    if (io.partial && seeds.length < c.seeds.length) await io.partial(aggregate({ ...c, seeds: c.seeds.slice(0, seeds.length) }, seeds, (performance.now() - t0) / 1000));
  }
  return aggregate(c, seeds, (performance.now() - t0) / 1000);
}

/** One report over the seeds of `reports` (runs of other seeds with the same configuration), as one run of them all would write it. */
export function mergeReports(reports: readonly Report[]): Report {
  return mergeSeedReports('step', reports, aggregate);
}

/** Per step, the mean loss over the curves that reach it. */
function meanCurve(curves: { step: number; loss: number }[][]): { step: number; loss: number }[] {
  const at = new Map<number, number[]>();
  for (const c of curves) {
    for (const p of c) {
      const losses = at.get(p.step);
      if (losses) losses.push(p.loss);
      else at.set(p.step, [p.loss]);
    }
  }
  return [...at.entries()].sort((a, b) => a[0] - b[0]).map(([step, ls]) => ({ step, loss: mean(ls) }));
}

/** The report over the seeds run (config.seeds lists them). */
function aggregate(c: StepConfig, seeds: SeedOut[], wallSec: number): Report {
  const over = <T>(f: (s: SeedOut) => T) => seeds.map(f);
  const st = (f: (s: SeedOut) => number) => stat(over(f));

  const pretrain: Report['pretrain'] = {};
  for (const arm of c.arms) {
    pretrain[arm] = {
      trainLoss: st((s) => s.pretrain[arm]!.trainLoss),
      devLoss: st((s) => s.pretrain[arm]!.devLoss),
      unigramLoss: st((s) => s.pretrain[arm]!.unigramLoss),
      devExactMatch: st((s) => s.pretrain[arm]!.devExactMatch),
      curve: meanCurve(over((s) => s.pretrain[arm]!.curve)),
      devCurve: meanCurve(over((s) => s.pretrain[arm]!.devCurve)),
      bestStep: st((s) => s.pretrain[arm]!.bestStep),
      stepsRun: st((s) => s.pretrain[arm]!.stepsRun),
    };
  }
  const fewShot: Report['fewShot'] = {};
  const generalisation: Report['generalisation'] = {};
  for (const name of [...c.arms, 'baseline'] as ModelName[]) {
    for (const task of c.tasks) {
      const per: Record<string, FewShotResult> = {};
      for (const n of c.nValues) {
        const k = String(n);
        const get = (s: SeedOut) => s.fewShot[name]![task]![k];
        per[k] = { accuracy: st((s) => get(s).accuracy), trainLoss: st((s) => get(s).trainLoss), testLoss: st((s) => get(s).testLoss), ...(task === 'chunking' ? { chunkF1: st((s) => get(s).chunkF1!) } : {}) };
      }
      (fewShot[name] ??= {})[task] = per;
      const g = (s: SeedOut) => s.generalisation[name]![task]!;
      (generalisation[name] ??= {})[task] = { accuracy: st((s) => g(s).accuracy), ...(task === 'chunking' ? { chunkF1: st((s) => g(s).chunkF1!) } : {}) };
    }
  }
  let headAblation: HeadAblation | null = null;
  if (seeds[0].lookup) {
    const lk = seeds.map((s) => s.lookup!);
    const avg = (f: (x: (typeof lk)[number]) => number[][]) => f(lk[0]).map((row, l) => row.map((_, h) => mean(lk.map((x) => f(x)[l][h]))));
    headAblation = {
      lookupScore: avg((x) => x.score),
      prefixMass: avg((x) => x.prefixMass),
      hitRate: Object.fromEntries(LABELS.map((lab, i) => [lab, avg((x) => x.hitRate[i])])),
      lookupHeads: lk.map((x) => x.heads),
      maxLabelsPerHead: stat(lk.map((x) => x.maxLabels)),
      accuracy: { none: stat(lk.map((x) => x.none)), lookup: stat(lk.map((x) => x.masked)), random: stat(lk.map((x) => x.random)) },
    };
  }
  return {
    method: 'step',
    config: c,
    parameters: seeds[0].parameters,
    pretrain,
    fewShot,
    generalisation,
    headAblation,
    samples: seeds[0].samples,
    seedResults: seeds,
    wallSec,
  };
}
