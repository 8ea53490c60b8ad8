// Copy-bias mitigation by neuron pruning (Ali, Wolf, Titov, 2024/2026) on a tiny ICL model trained on
// kiln. Per seed: pretrain (or load) the model on the episode mixture; build the copy-biased proxy set
// (4-shot vowel counting, gold ∉ demonstration labels); integrated gradients of the copy preference
// F = log Σ_{demo labels} p − log p(gold) over each layer's FFN activations at the query's "→"
// (nn/attribution.ts); copying scores; candidate prunes chosen on proxy dev (the meta-optimisation);
// then ICL accuracy and copy errors on the proxy test and the transfer tasks at 1/2/4 shots, against
// random prunes of the same per-layer size, and task-vector accuracy (nn/patching.ts) before and after.
// Web-standard: the model cache is reached through an injected CheckpointIO (the CLI passes nodeIO).
import type { Engine, Tensor } from '../../engine/index.js';
import { SeededRng, captureActivation, integratedGradients, withPatchedActivation, type CheckpointIO, type TransformerLM } from '../../nn/index.js';
import { makeConfig, type CopyBiasConfig, type PruneScope } from './config.js';
import { cachedModel, inputsOf, labelLogitsAt, type TrainLog } from './models.js';
import { copyPreference, copyingScores, prune, randomNeuronsLike, topNeurons, type Neuron } from './neurons.js';
import {
  FUNCTIONS, NUM_LABELS, copyBiasedEpisode, encode, episode, packRows, randomInput, zeroShotTokens, type Episode, type FunctionName,
} from './tasks.js';

export interface Stat {
  mean: number;
  perSeed: number[];
}

/** The evaluated ICL tasks: the proxy (vowel count, its held-out test prompts) and the transfer tasks. */
export const TASKS = ['vowels', 'consonants', 'length', 'firstVowel', 'mixed', 'lookup'] as const;
export type TaskName = (typeof TASKS)[number];
/** The transfer tasks whose gains the spec's medium claim averages (F2–F4). */
export const TRANSFER: readonly TaskName[] = ['consonants', 'length', 'firstVowel'];
export const VARIANTS = ['base', 'pruned', 'randomPruned'] as const;
export type Variant = (typeof VARIANTS)[number];

type ByVariant = Record<Variant, Stat>;

export interface Report {
  method: 'copy-bias-pruning';
  config: CopyBiasConfig;
  /**
   * iclAccuracy[task]: 4-shot accuracy of the base, IG-pruned and random-pruned (mean over draws) models.
   * vowels is the proxy test; vowels/consonants/length/firstVowel prompts have gold ∉ demo labels (a copy
   * is always wrong); mixed is F1–F4 unrestricted; lookup is F5 (copying is right).
   */
  iclAccuracy: Record<TaskName, ByVariant>;
  /** The same per shot count: iclAccuracyByShots[task][shots]. */
  iclAccuracyByShots: Record<TaskName, Record<string, ByVariant>>;
  /** Copy errors on the proxy test (4-shot): the share of prompts answered with a demonstration label. */
  copyRate: ByVariant;
  /** Copy errors per task (4-shot; lookup excluded: there a copy is the answer). */
  copyRateByTask: Partial<Record<TaskName, ByVariant>>;
  /** Of the base model's proxy-test errors, the share that are copies, and the share a uniformly wrong label would give. */
  copyShareOfErrors: { observed: Stat; chance: Stat };
  /** Mean 4-shot accuracy gain over F2–F4 (pruned − base, randomPruned − base). */
  transferGain: { pruned: Stat; randomPruned: Stat };
  /** Task-vector accuracy (F1–F4 mean) at the layer chosen on dev, and the zero-shot accuracy with no patch. */
  taskVectorAccuracy: { base: Stat; pruned: Stat; zeroShotBase: Stat; zeroShotPruned: Stat };
  /** Per seed: task-vector test accuracy per layer and the chosen layer. */
  taskVectorByLayer: { base: number[]; pruned: number[]; layerBase: number; layerPruned: number }[];
  /** The selected prune: its size, and per seed the scope, k and the neurons. */
  prunedNeurons: { count: Stat; perSeed: { scope: PruneScope; layer: number | null; k: number; devAccuracy: number; neurons: Neuron[] }[] };
  /** Proxy-dev accuracy of every candidate (seed means), and of the unpruned model. */
  candidates: { scope: PruneScope; layer: number | null; k: number; devAccuracy: Stat }[];
  devAccuracyBase: Stat;
  /** Proxy-test accuracy vs number of pruned neurons (global top-k and random-k; k = 0 is the unpruned model). */
  curve: { k: number; igProxy: Stat; randomProxy: Stat }[];
  /** Per seed, the copying score of every FFN neuron (layer-major). */
  scores: number[][];
  /**
   * The pretrained models side by side with their baselines: the step cap, steps run and best step (the
   * weights kept), held-out query loss and accuracy at the best check beside the label prior's (unigram)
   * and the uniform label loss ln 10.
   */
  pretraining: {
    stepCap: number;
    stepsRun: Stat;
    bestStep: Stat;
    stoppedEarly: boolean[];
    heldoutLoss: Stat;
    /** The LOOKUP episodes' part of it (uniform: ln 10): whether genuine copying was learnt. */
    heldoutLookupLoss: Stat;
    labelPriorLoss: Stat;
    uniformLoss: number;
    heldoutAccuracy: Stat;
    labelPriorAccuracy: Stat;
  };
  /** Per seed: pretraining log (held-out curve, best step, accuracy per family) and whether it came from the cache. */
  models: (TrainLog & { cached: boolean })[];
  wallSec: number;
}

export interface RunIO {
  log?: (line: string) => void;
  /** Cache of the pretrained models (kiln checkpoints under config.cacheDir). Without it every run pretrains. */
  checkpointIO?: CheckpointIO;
}

const stat = (xs: number[]): Stat => ({ mean: xs.reduce((a, b) => a + b, 0) / xs.length, perSeed: xs });
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

// ------------------------------------------------------------------ batched prediction

/** Rows per forward: bounds the FFN activation (rows × T × dFF floats) well under a storage binding. */
const CHUNK = 256;

/** Chunks of row indices ordered by length (less padding); every chunk's forward queued before any read. */
function chunksByLength(lengths: readonly number[]): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const out: number[][] = [];
  for (let i = 0; i < order.length; i += CHUNK) out.push(order.slice(i, i + CHUNK));
  return out;
}

/** Greedy label at each prompt's last token (under whatever hooks are registered). */
async function predict(engine: Engine, model: TransformerLM, prompts: readonly number[][]): Promise<Int32Array> {
  const chunks = chunksByLength(prompts.map((p) => p.length));
  const preds = chunks.map((idx) => {
    const b = packRows(idx.map((i) => ({ tokens: prompts[i] })));
    return engine.noGrad(() => engine.tidy(() => labelLogitsAt(model.forward(inputsOf(engine, b)), b.last).argmax(-1)));
  });
  const datas = await Promise.all(preds.map((p) => p.data()));
  preds.forEach((p) => p.dispose());
  const out = new Int32Array(prompts.length);
  chunks.forEach((idx, c) => idx.forEach((i, j) => (out[i] = datas[c][j])));
  return out;
}

interface EvalSet {
  task: TaskName;
  shots: number;
  episodes: Episode[];
}

interface SetScore {
  accuracy: number;
  copyRate: number;
  /** Of the errors: copies, and the chance share |distinct demo labels \ {gold}| / 9 averaged over the errors. */
  copyShareOfErrors: number;
  chanceCopyShare: number;
}

function scoreSet(s: EvalSet, pred: ArrayLike<number>): SetScore {
  let right = 0, copies = 0, errors = 0, chance = 0;
  s.episodes.forEach((e, i) => {
    const labels = new Set(e.demos.map((d) => d.y));
    if (pred[i] === e.answer) return void right++;
    errors++;
    if (labels.has(pred[i])) copies++;
    labels.delete(e.answer);
    chance += labels.size / (NUM_LABELS - 1);
  });
  const n = s.episodes.length;
  return { accuracy: right / n, copyRate: copies / n, copyShareOfErrors: errors ? copies / errors : 0, chanceCopyShare: errors ? chance / errors : 0 };
}

/** Every set in one batched pass (sets concatenated, chunked by length). */
async function evaluate(engine: Engine, model: TransformerLM, sets: readonly EvalSet[]): Promise<SetScore[]> {
  const prompts = sets.flatMap((s) => s.episodes.map((e) => encode(e).tokens));
  const pred = await predict(engine, model, prompts);
  let o = 0;
  return sets.map((s) => {
    const r = scoreSet(s, pred.subarray(o, o + s.episodes.length));
    o += s.episodes.length;
    return r;
  });
}

/** Evaluate with `neurons` pruned (the hooks removed afterwards). */
async function evaluatePruned(engine: Engine, model: TransformerLM, neurons: readonly Neuron[], sets: readonly EvalSet[]): Promise<SetScore[]> {
  const remove = prune(model, neurons);
  try {
    return await evaluate(engine, model, sets);
  } finally {
    remove();
  }
}

// ------------------------------------------------------------------ integrated gradients

/** IG of the copy preference over every layer's FFN units at the query's →: one (L·dFF) attribution vector per prompt. */
async function copyAttributions(engine: Engine, model: TransformerLM, c: CopyBiasConfig, probe: readonly Episode[]): Promise<Float64Array[]> {
  const m = c.ig.steps;
  const L = model.config.nLayers, dFF = model.config.dFF;
  const pending: { layer: number; first: number; ig: Tensor }[] = [];
  for (let layer = 0; layer < L; layer++) {
    for (let first = 0; first < probe.length; first += c.ig.promptsPerBatch) {
      const eps = probe.slice(first, first + c.ig.promptsPerBatch);
      const one = packRows(eps.map((e) => encode(e)));
      // The chunk repeated m times along the batch axis: row s·B + b is prompt b at α_s.
      const rep = packRows(Array.from({ length: m }, () => eps.map((e) => encode(e))).flat(), one.T);
      const ig = integratedGradients(model, {
        site: `layers.${layer}.mlp.act`, steps: m, batch: eps.length, positions: one.last,
        forward: () => copyPreference(engine, labelLogitsAt(model.forward(inputsOf(engine, rep)), rep.last), eps),
      }); // (B, dFF)
      pending.push({ layer, first, ig });
    }
  }
  const datas = await Promise.all(pending.map((p) => p.ig.data()));
  pending.forEach((p) => p.ig.dispose());
  const out = probe.map(() => new Float64Array(L * dFF));
  pending.forEach((p, j) => {
    const d = datas[j];
    for (let b = 0; b * dFF < d.length; b++) for (let u = 0; u < dFF; u++) out[p.first + b][p.layer * dFF + u] = d[b * dFF + u];
  });
  return out;
}

// ------------------------------------------------------------------ task vectors

interface TaskVectorItem {
  f: FunctionName;
  demos: { x: number[]; y: number }[];
  dummies: number[][];
  query: number[];
  answer: number;
}

function taskVectorItem(rng: SeededRng, f: FunctionName, dummies: number): TaskVectorItem {
  const e = episode(rng, f, 4);
  return { f, demos: e.demos, dummies: Array.from({ length: dummies }, () => randomInput(rng)), query: e.query, answer: e.answer };
}

/**
 * Hendel et al.'s task vectors: θ_ℓ = the residual after block ℓ at the "→" of "demos, x′ →", averaged
 * over the dummy queries x′; patched into the zero-shot prompt "BOS x_q →" at its "→", layer ℓ.
 * Returns per item the prediction at each layer, and the unpatched zero-shot prediction.
 */
async function taskVectorPredictions(engine: Engine, model: TransformerLM, items: readonly TaskVectorItem[]): Promise<{ byLayer: Int32Array[]; zeroShot: Int32Array }> {
  const L = model.config.nLayers;
  const D = items[0].dummies.length;
  const per = Math.max(1, Math.floor(CHUNK / D));
  const outs: { first: number; preds: Tensor[] }[] = [];
  for (let first = 0; first < items.length; first += per) {
    const chunk = items.slice(first, first + per);
    // Context rows dummy-major: row d·B + b is item b with dummy query d.
    const ctx = packRows(Array.from({ length: D }, (_, d) => chunk.map((it) => encode({ family: it.f, demos: it.demos, query: it.dummies[d], answer: 0 }))).flat());
    const zero = packRows(chunk.map((it) => ({ tokens: zeroShotTokens(it.query) })));
    const preds = engine.noGrad(() => engine.tidy(() => {
      // Capture every layer's residual at the last token in one forward (hooks nested).
      const captured: Tensor[] = [];
      const run = (l: number): void => {
        if (l === L) return void model.forward(inputsOf(engine, ctx));
        captured[l] = captureActivation(model, `layers.${l}.resid`, () => run(l + 1), ctx.last).activation; // (D·B, dModel)
      };
      run(0);
      const zeroIds = inputsOf(engine, zero);
      const out = [labelLogitsAt(model.forward(zeroIds), zero.last).argmax(-1)];
      for (let l = 0; l < L; l++) {
        const theta = captured[l].reshape([D, chunk.length, model.config.dModel]).mean(0); // (B, dModel)
        out.push(withPatchedActivation(model, `layers.${l}.resid`, theta, zero.last, () => labelLogitsAt(model.forward(zeroIds), zero.last).argmax(-1)));
      }
      captured.forEach((t) => t.dispose()); // kept by captureActivation
      return out;
    }));
    outs.push({ first, preds });
  }
  const datas = await Promise.all(outs.map((o) => Promise.all(o.preds.map((p) => p.data()))));
  outs.forEach((o) => o.preds.forEach((p) => p.dispose()));
  const zeroShot = new Int32Array(items.length);
  const byLayer = Array.from({ length: L }, () => new Int32Array(items.length));
  outs.forEach((o, j) => {
    const [z, ...ls] = datas[j];
    zeroShot.set(z, o.first);
    ls.forEach((d, l) => byLayer[l].set(d, o.first));
  });
  return { byLayer, zeroShot };
}

/** Mean over F1–F4 of the per-function accuracy. */
function functionMeanAccuracy(items: readonly TaskVectorItem[], pred: ArrayLike<number>): number {
  return mean(FUNCTIONS.map((f) => {
    const idx = items.flatMap((it, i) => (it.f === f ? [i] : []));
    return idx.filter((i) => pred[i] === items[i].answer).length / idx.length;
  }));
}

interface TaskVectorResult {
  test: number;
  zeroShot: number;
  layer: number;
  testByLayer: number[];
}

/** The layer is chosen by dev accuracy (ties: the earlier layer); test accuracy is reported there. */
async function taskVectorAccuracy(engine: Engine, model: TransformerLM, dev: readonly TaskVectorItem[], test: readonly TaskVectorItem[]): Promise<TaskVectorResult> {
  const [d, t] = [await taskVectorPredictions(engine, model, dev), await taskVectorPredictions(engine, model, test)];
  const devByLayer = d.byLayer.map((p) => functionMeanAccuracy(dev, p));
  const testByLayer = t.byLayer.map((p) => functionMeanAccuracy(test, p));
  const layer = devByLayer.indexOf(Math.max(...devByLayer));
  return { test: testByLayer[layer], zeroShot: functionMeanAccuracy(test, t.zeroShot), layer, testByLayer };
}

// ------------------------------------------------------------------ one seed

interface SeedResult {
  model: TrainLog & { cached: boolean };
  /** acc[task][shots][variant] */
  acc: Record<TaskName, Record<number, Record<Variant, number>>>;
  copy: Partial<Record<TaskName, Record<Variant, number>>>;
  copyShare: { observed: number; chance: number };
  tv: { base: TaskVectorResult; pruned: TaskVectorResult };
  selection: Report['prunedNeurons']['perSeed'][number];
  candidates: { scope: PruneScope; layer: number | null; k: number; devAccuracy: number }[];
  devBase: number;
  curve: { k: number; igProxy: number; randomProxy: number }[];
  scores: number[];
}

async function runSeed(engine: Engine, c: CopyBiasConfig, seed: number, io: RunIO, log: (s: string) => void): Promise<SeedResult> {
  const t0 = performance.now();
  const { model, info, cached } = await cachedModel(engine, c, seed, log, io.checkpointIO);
  try {
    model.eval();
    const L = model.config.nLayers, dFF = model.config.dFF;
    const rng = new SeededRng(`copy-bias-eval:${seed}`);
    const proxy = (n: number) => Array.from({ length: n }, () => copyBiasedEpisode(rng, 'vowels', 4));
    const [igSet, devSet, testSet] = [proxy(c.probe.nIG), proxy(c.probe.nDev), proxy(c.probe.nTest)];
    // Evaluation sets: the proxy test (4 shots) and fresh proxy prompts at other shot counts; transfer tasks at every shot count.
    const sets: EvalSet[] = [];
    for (const shots of c.evaluation.shots) {
      for (const task of TASKS) {
        const n = c.evaluation.nPerTask;
        let episodes: Episode[];
        if (task === 'vowels') episodes = shots === 4 ? testSet : Array.from({ length: n }, () => copyBiasedEpisode(rng, 'vowels', shots));
        else if (task === 'mixed') episodes = Array.from({ length: n }, () => episode(rng, FUNCTIONS[rng.int(FUNCTIONS.length)], shots));
        else if (task === 'lookup') episodes = Array.from({ length: n }, () => episode(rng, 'lookup', shots));
        else episodes = Array.from({ length: n }, () => copyBiasedEpisode(rng, task as FunctionName, shots));
        sets.push({ task, shots, episodes });
      }
    }
    const tvRng = new SeededRng(`copy-bias-tv:${seed}`);
    const tvItems = (n: number) => FUNCTIONS.flatMap((f) => Array.from({ length: n }, () => taskVectorItem(tvRng, f, c.taskVector.dummyQueries)));
    const [tvDev, tvTest] = [tvItems(c.taskVector.nDev), tvItems(c.taskVector.nTest)];

    // 1. Attribution and copying scores on the IG split.
    const ig = await copyAttributions(engine, model, c, igSet);
    const scores = copyingScores(ig);
    log(`  seed ${seed}: IG over ${L}×${dFF} FFN neurons on ${igSet.length} proxy prompts (m = ${c.ig.steps}); mean score by layer ${Array.from({ length: L }, (_, l) => mean(Array.from(scores.subarray(l * dFF, (l + 1) * dFF))).toFixed(3)).join('/')} (${((performance.now() - t0) / 1000).toFixed(0)}s)`);

    // 2. Candidate prunes on proxy dev (the meta-optimisation).
    const devEval: EvalSet[] = [{ task: 'vowels', shots: 4, episodes: devSet }];
    const devBase = (await evaluate(engine, model, devEval))[0].accuracy;
    const candidates: SeedResult['candidates'] = [];
    const candidateSets: Neuron[][] = [];
    for (const scope of c.prune.scopes) {
      for (const layer of scope === 'global' ? [null] : Array.from({ length: L }, (_, l) => l)) {
        for (const k of c.prune.ks) {
          const neurons = topNeurons(scores, dFF, k, scope, layer ?? 0);
          candidates.push({ scope, layer, k, devAccuracy: (await evaluatePruned(engine, model, neurons, devEval))[0].accuracy });
          candidateSets.push(neurons);
        }
      }
    }
    // Best dev accuracy; ties: fewer neurons, then the earlier candidate.
    let best = 0;
    candidates.forEach((cand, i) => {
      const b = candidates[best];
      if (cand.devAccuracy > b.devAccuracy || (cand.devAccuracy === b.devAccuracy && cand.k < b.k)) best = i;
    });
    const chosen = candidateSets[best];
    const selection = { ...candidates[best], neurons: chosen };
    log(`  seed ${seed}: proxy dev accuracy unpruned ${pct(devBase)}; best candidate ${selection.scope}${selection.layer === null ? '' : ` layer ${selection.layer}`} k ${selection.k}: ${pct(selection.devAccuracy)}`);

    // 3. Evaluation: base, IG-pruned, random prunes of the same per-layer size.
    const base = await evaluate(engine, model, sets);
    const pruned = await evaluatePruned(engine, model, chosen, sets);
    const randRng = new SeededRng(`copy-bias-random:${seed}`);
    const randoms: SetScore[][] = [];
    for (let d = 0; d < c.prune.randomDraws; d++) randoms.push(await evaluatePruned(engine, model, randomNeuronsLike(randRng, chosen, dFF), sets));
    const acc = Object.fromEntries(TASKS.map((t) => [t, {}])) as SeedResult['acc'];
    const copy: SeedResult['copy'] = {};
    sets.forEach((s, i) => {
      acc[s.task][s.shots] = { base: base[i].accuracy, pruned: pruned[i].accuracy, randomPruned: mean(randoms.map((r) => r[i].accuracy)) };
      if (s.shots === 4 && s.task !== 'lookup') copy[s.task] = { base: base[i].copyRate, pruned: pruned[i].copyRate, randomPruned: mean(randoms.map((r) => r[i].copyRate)) };
    });
    const proxyIdx = sets.findIndex((s) => s.task === 'vowels' && s.shots === 4);
    const copyShare = { observed: base[proxyIdx].copyShareOfErrors, chance: base[proxyIdx].chanceCopyShare };
    log(`  seed ${seed}: 4-shot accuracy base/pruned/random ${TASKS.map((t) => `${t} ${pct(acc[t][4].base)}/${pct(acc[t][4].pruned)}/${pct(acc[t][4].randomPruned)}`).join('  ')}`);
    log(`  seed ${seed}: proxy copy rate base ${pct(copy.vowels!.base)} pruned ${pct(copy.vowels!.pruned)} random ${pct(copy.vowels!.randomPruned)}; copies are ${pct(copyShare.observed)} of the base errors (chance ${pct(copyShare.chance)}) (${((performance.now() - t0) / 1000).toFixed(0)}s)`);

    // 4. Task vectors before and after pruning (the prune is active while θ is formed and patched).
    const tvBase = await taskVectorAccuracy(engine, model, tvDev, tvTest);
    const remove = prune(model, chosen);
    let tvPruned: TaskVectorResult;
    try {
      tvPruned = await taskVectorAccuracy(engine, model, tvDev, tvTest);
    } finally {
      remove();
    }
    log(`  seed ${seed}: task-vector accuracy base ${pct(tvBase.test)} (layer ${tvBase.layer}; zero-shot ${pct(tvBase.zeroShot)}) pruned ${pct(tvPruned.test)} (layer ${tvPruned.layer}; zero-shot ${pct(tvPruned.zeroShot)})`);

    // 5. Proxy-test accuracy against the number of pruned neurons (global top-k vs random-k).
    const curve: SeedResult['curve'] = [];
    if (c.prune.curve) {
      const proxySet = [sets[proxyIdx]];
      const curveRng = new SeededRng(`copy-bias-curve:${seed}`);
      curve.push({ k: 0, igProxy: base[proxyIdx].accuracy, randomProxy: base[proxyIdx].accuracy });
      for (const k of c.prune.ks) {
        const top = topNeurons(scores, dFF, k, 'global');
        const igProxy = (await evaluatePruned(engine, model, top, proxySet))[0].accuracy;
        const rs: number[] = [];
        for (let d = 0; d < c.prune.randomDraws; d++) rs.push((await evaluatePruned(engine, model, randomNeuronsLike(curveRng, top, dFF), proxySet))[0].accuracy);
        curve.push({ k, igProxy, randomProxy: mean(rs) });
      }
    }
    log(`  seed ${seed} done (${((performance.now() - t0) / 1000).toFixed(0)}s, ${engine.memory().liveBuffers} buffers)`);
    return {
      model: { ...info, cached }, acc, copy, copyShare, tv: { base: tvBase, pruned: tvPruned }, selection, candidates, devBase, curve, scores: Array.from(scores),
    };
  } finally {
    model.dispose();
  }
}

// ------------------------------------------------------------------ the method

export async function run(engine: Engine, config: Partial<CopyBiasConfig> = {}, io: RunIO = {}): Promise<Report> {
  const c = makeConfig(config);
  const log = io.log ?? (() => {});
  const t0 = performance.now();
  const rs: SeedResult[] = [];
  for (const seed of c.seeds) rs.push(await runSeed(engine, c, seed, io, log));
  const byVariant = (f: (r: SeedResult) => Record<Variant, number>): ByVariant =>
    Object.fromEntries(VARIANTS.map((v) => [v, stat(rs.map((r) => f(r)[v]))])) as ByVariant;
  const iclAccuracy = Object.fromEntries(TASKS.map((t) => [t, byVariant((r) => r.acc[t][4])])) as Report['iclAccuracy'];
  const iclAccuracyByShots = Object.fromEntries(TASKS.map((t) => [t, Object.fromEntries(c.evaluation.shots.map((s) => [s, byVariant((r) => r.acc[t][s])]))])) as Report['iclAccuracyByShots'];
  const copyRateByTask: Report['copyRateByTask'] = {};
  for (const t of TASKS) if (t !== 'lookup') copyRateByTask[t] = byVariant((r) => r.copy[t]!);
  const gain = (v: Variant) => stat(rs.map((r) => mean(TRANSFER.map((t) => r.acc[t][4][v] - r.acc[t][4].base))));
  const candidates = rs[0].candidates.map((cand, i) => ({ scope: cand.scope, layer: cand.layer, k: cand.k, devAccuracy: stat(rs.map((r) => r.candidates[i].devAccuracy)) }));
  const curve = (rs[0].curve ?? []).map((p, i) => ({
    k: p.k,
    igProxy: stat(rs.map((r) => r.curve[i].igProxy)), randomProxy: stat(rs.map((r) => r.curve[i].randomProxy)),
  }));
  return {
    method: 'copy-bias-pruning',
    config: c,
    iclAccuracy,
    iclAccuracyByShots,
    copyRate: copyRateByTask.vowels!,
    copyRateByTask,
    copyShareOfErrors: { observed: stat(rs.map((r) => r.copyShare.observed)), chance: stat(rs.map((r) => r.copyShare.chance)) },
    transferGain: { pruned: gain('pruned'), randomPruned: gain('randomPruned') },
    taskVectorAccuracy: {
      base: stat(rs.map((r) => r.tv.base.test)), pruned: stat(rs.map((r) => r.tv.pruned.test)),
      zeroShotBase: stat(rs.map((r) => r.tv.base.zeroShot)), zeroShotPruned: stat(rs.map((r) => r.tv.pruned.zeroShot)),
    },
    taskVectorByLayer: rs.map((r) => ({ base: r.tv.base.testByLayer, pruned: r.tv.pruned.testByLayer, layerBase: r.tv.base.layer, layerPruned: r.tv.pruned.layer })),
    prunedNeurons: { count: stat(rs.map((r) => r.selection.neurons.length)), perSeed: rs.map((r) => r.selection) },
    candidates,
    devAccuracyBase: stat(rs.map((r) => r.devBase)),
    curve,
    scores: rs.map((r) => r.scores),
    pretraining: {
      stepCap: c.pretrain.steps,
      stepsRun: stat(rs.map((r) => r.model.steps)),
      bestStep: stat(rs.map((r) => r.model.bestStep)),
      stoppedEarly: rs.map((r) => r.model.stoppedEarly),
      heldoutLoss: stat(rs.map((r) => r.model.bestLoss)),
      heldoutLookupLoss: stat(rs.map((r) => r.model.lossByFamily.lookup)),
      labelPriorLoss: stat(rs.map((r) => r.model.unigram.loss)),
      uniformLoss: Math.log(NUM_LABELS),
      heldoutAccuracy: stat(rs.map((r) => r.model.bestAccuracy)),
      labelPriorAccuracy: stat(rs.map((r) => r.model.unigram.accuracy)),
    },
    models: rs.map((r) => r.model),
    wallSec: (performance.now() - t0) / 1000,
  };
}
