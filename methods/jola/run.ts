// JoLA (Lai, Fraser, Titov, ICML 2025) on a tiny pretrained LM: pretrain a base model on the synthetic
// multi-task sequences (tasks.ts), then adapt it to "untagged means REVERSE" from N examples drawn from
// a restricted input distribution, and test on the full one. Methods: zero-shot, full fine-tuning,
// LoRA, a LoFIT-style two-stage baseline, JoLA and three JoLA ablations, each with early stopping on a
// dev set and the best dev state restored. Every head edit goes through nn's hooks (jola.ts).
// Web-standard: the base-model cache is reached through an injected CheckpointIO (the CLI passes nodeIO).
import type { Engine, Tensor } from '../../engine/index.js';
import {
  AdamW, LRScheduler, SeededRng, TransformerLM, applyLoRA, clipGradNorm, cosineSchedule, crc32, latestCheckpoint, loadCheckpoint, saveCheckpoint, train,
  type CheckpointIO,
} from '../../nn/index.js';
import { METHODS, makeConfig, type JolaConfig, type MethodName } from './config.js';
import { JoLA, type JoLAOptions } from './jola.js';
import {
  ALL_SYMBOLS, MAX_LEN, SEQ_LEN, TASKS, VOCAB_SIZE, downstreamExample, exactMatches, packBatch, pretrainExample, type Example, type HostBatch, type InputDistribution, type TaskName,
} from './tasks.js';

export interface Stat {
  mean: number;
  perSeed: number[];
}

/** Gate maps of one N: seed-mean (L, H) values of each gate kind. */
export interface GateMap {
  /** P(g ≠ 0) = σ(log α + 0.79) per layer and head. */
  openProb: { additive: number[][]; multiplicative: number[][] };
  /** The deterministic (eval-mode) gate value per layer and head: the share of the edit applied at inference. */
  evalGate: { additive: number[][]; multiplicative: number[][] };
}

export interface Report {
  method: 'jola';
  config: JolaConfig;
  /** accuracy[method][N]: greedy exact match on the shifted test set, seed mean and per seed. */
  accuracy: Partial<Record<MethodName, Record<string, Stat>>>;
  /** Teacher-forced per-token accuracy on the response (the spec's cheaper proxy), same layout. */
  tokenAccuracy: Partial<Record<MethodName, Record<string, Stat>>>;
  /** Dev loss (response cross-entropy, nats/token) of the state each method ends with, same layout. */
  devLoss: Partial<Record<MethodName, Record<string, Stat>>>;
  /** accuracyByLength[method][N][n]: seed-mean exact match on test inputs of length n (train/dev lengths are shorter). */
  accuracyByLength: Partial<Record<MethodName, Record<string, Record<string, number>>>>;
  /** Trainable parameters of each method (LoFIT: its second stage, the edit it keeps). */
  trainableParams: Partial<Record<MethodName, number>>;
  /** Parameters of the base model. */
  baseParams: number;
  /** openGates[N]: JoLA's shares of additive and multiplicative gates with P(open) > 0.5 at the end (and of gates active at inference, eval gate > 0). */
  openGates: Record<string, { additive: Stat; multiplicative: Stat; activeAdditive: Stat; activeMultiplicative: Stat }>;
  /** JoLA's gate maps per N (seed means). */
  gateMaps: Record<string, GateMap>;
  /** The base model: pretraining steps, held-out exact match per tagged task, whether it came from the cache. */
  base: { steps: number; accuracy: Record<string, number>; untaggedAccuracy: number; cached: boolean; wallSec: number };
  /** Optimizer steps until the best dev state, and steps run, per method and N (seed means). */
  steps: Partial<Record<MethodName, Record<string, { best: number; run: number }>>>;
  /** Test-split symbols seen in training (the shift). */
  trainSymbols: number[];
  wallSec: number;
}

export interface RunIO {
  /** Progress lines. */
  log?: (line: string) => void;
  /** Cache of the pretrained base model (a kiln checkpoint folder per base configuration). Without it the base is pretrained every run. */
  checkpointIO?: CheckpointIO;
}

// ------------------------------------------------------------------ data on the device

/** A fixed evaluation set: examples grouped by length (shorter rows, fewer positions), uploaded once. */
interface EvalSet {
  n: number;
  groups: { host: HostBatch; T: number; inputs: Tensor; targets: Tensor }[];
}

function evalSet(engine: Engine, examples: readonly Example[]): EvalSet {
  const byLen = new Map<number, Example[]>();
  for (const e of examples) byLen.set(e.x.length, [...(byLen.get(e.x.length) ?? []), e]);
  const groups = [...byLen.keys()].sort((a, b) => a - b).map((n) => {
    const T = 2 * n + 3;
    const host = packBatch(byLen.get(n)!, T);
    return {
      host, T,
      inputs: engine.keep(engine.tensor(host.inputs, [host.rows, T], { dtype: 'i32' })),
      targets: engine.keep(engine.tensor(host.targets, [host.rows, T], { dtype: 'i32' })),
    };
  });
  return { n: examples.length, groups };
}

const disposeSet = (s: EvalSet) => s.groups.forEach((g) => (g.inputs.dispose(), g.targets.dispose()));

/** Greedy exact match and per-token accuracy on the response (one forward per length group, reads in flight together). */
async function accuracyOn(engine: Engine, model: TransformerLM, set: EvalSet): Promise<{ exact: number; token: number; byLength: Record<string, number> }> {
  const preds = engine.noGrad(() => set.groups.map((g) => engine.tidy(() => model.forward(g.inputs).argmax(-1)))); // (B, T) each
  const datas = await Promise.all(preds.map((p) => p.data()));
  preds.forEach((p) => p.dispose());
  let exact = 0, tokens = 0, correct = 0;
  const byLength: Record<string, number> = {};
  set.groups.forEach((g, i) => {
    const r = exactMatches(datas[i], g.host.targets, g.host.rows, g.T);
    exact += r.exact;
    tokens += r.tokens;
    correct += r.correctTokens;
    byLength[(g.T - 3) / 2] = r.exact / g.host.rows;
  });
  return { exact: exact / set.n, token: correct / tokens, byLength };
}

/** Mean response cross-entropy over a set (weighted by response tokens). */
async function lossOn(engine: Engine, model: TransformerLM, set: EvalSet): Promise<number> {
  const ls = engine.noGrad(() => set.groups.map((g) => engine.tidy(() => model.loss(g.inputs, g.targets))));
  const vs = await Promise.all(ls.map((l) => l.item()));
  ls.forEach((l) => l.dispose());
  const w = set.groups.map((g) => g.host.targets.reduce((a, t) => a + (t >= 0 ? 1 : 0), 0));
  return vs.reduce((a, v, i) => a + v * w[i], 0) / w.reduce((a, b) => a + b, 0);
}

function newModel(engine: Engine, c: JolaConfig): TransformerLM {
  return new TransformerLM(engine, { vocabSize: VOCAB_SIZE, ...c.model, maxSeqLen: SEQ_LEN, dropout: 0 });
}

// ------------------------------------------------------------------ step 1: the base model

interface Base {
  state: Record<string, Tensor>;
  params: number;
  info: Report['base'];
}

/** Everything the base model depends on: a different key retrains it. */
function baseKey(c: JolaConfig): Record<string, unknown> {
  return { data: 'jola-tasks-v1', distinct: c.distinctSymbols, model: c.model, pretrain: c.pretrain, vocab: VOCAB_SIZE, seqLen: SEQ_LEN };
}

/** The checkpoint folder of the base model of configuration `c`: `<cacheDir>/base-<CRC-32 of its key>`. */
export function baseCacheDir(config: Partial<JolaConfig> = {}): string {
  const c = makeConfig(config);
  return `${c.cacheDir}/base-${crc32(new TextEncoder().encode(JSON.stringify(baseKey(c)))).toString(16).padStart(8, '0')}`;
}

async function pretrainedBase(engine: Engine, c: JolaConfig, io: RunIO, log: (s: string) => void): Promise<Base> {
  const t0 = performance.now();
  const key = baseKey(c);
  const keyText = JSON.stringify(key);
  const dir = baseCacheDir(c);
  engine.manualSeed(c.pretrain.seed);
  const model = newModel(engine, c);
  const rng = new SeededRng(`pretrain:${c.pretrain.seed}`);
  // Held-out check: each tagged task, plus untagged (ambiguous: should stay near chance).
  const heldRng = new SeededRng(`pretrain-heldout:${c.pretrain.seed}`);
  const d = c.distinctSymbols;
  const held = TASKS.map((task) => evalSet(engine, Array.from({ length: c.pretrain.evalPerTask }, () => ({ ...pretrainExample(heldRng, 0, d), task, tag: task }))));
  const untaggedSet = evalSet(engine, Array.from({ length: c.pretrain.evalPerTask }, () => ({ ...pretrainExample(heldRng, 1, d), task: 'reverse' as TaskName })));
  const check = async () => {
    const accs = await Promise.all(held.map((s) => accuracyOn(engine, model, s)));
    return Object.fromEntries(TASKS.map((t, i) => [t, accs[i].exact]));
  };
  try {
    let cached = false;
    let steps = 0;
    let accuracy: Record<string, number> | null = null;
    if (io.checkpointIO && (await latestCheckpoint(io.checkpointIO, dir))) {
      try {
        const st = await loadCheckpoint(io.checkpointIO, dir, { model, engine });
        if (JSON.stringify(st.config) === keyText) {
          cached = true;
          steps = st.step;
          log(`jola: base model loaded from ${dir} (${steps} pretraining steps)`);
        } else log(`jola: cached base model at ${dir} has another configuration; pretraining again`);
      } catch (e) {
        log(`jola: cached base model at ${dir} is unreadable (${(e as Error).message}); pretraining again`);
      }
    }
    if (!cached) {
      const p = c.pretrain;
      log(`jola: pretraining the base model (${model.numParameters()} parameters) until every tagged task reaches ${p.targetAccuracy * 100}% exact match (≤ ${p.maxSteps} steps × batch ${p.batchSize})`);
      const opt = new AdamW(model.parameters(), { lr: p.lr, weightDecay: p.weightDecay, betas: [0.9, 0.98] });
      const sched = new LRScheduler(opt, cosineSchedule({ warmupSteps: p.warmupSteps, totalSteps: p.maxSteps, minLr: 0.1 }));
      let lossAcc: Tensor | null = null;
      for (steps = 0; steps < p.maxSteps; ) {
        // One input length per batch: rows of 2n + 3 positions instead of padding every batch to the longest.
        const n = rng.range(3, MAX_LEN);
        const T = 2 * n + 3;
        const b = packBatch(Array.from({ length: p.batchSize }, () => pretrainExample(rng, p.untagged, d, n)), T);
        const l = engine.tidy(() => {
          const x = engine.tensor(b.inputs, [b.rows, T], { dtype: 'i32' });
          const y = engine.tensor(b.targets, [b.rows, T], { dtype: 'i32' });
          opt.zeroGrad();
          const loss = model.loss(x, y);
          loss.backward();
          clipGradNorm(model.parameters(), 1).dispose();
          opt.step();
          return lossAcc ? lossAcc.add(loss.detach()) : loss.detach();
        });
        lossAcc?.dispose();
        lossAcc = engine.keep(l);
        sched.step();
        steps++;
        if (steps % p.evalEvery === 0 || steps === p.maxSteps) {
          accuracy = await check();
          const trainLoss = (await lossAcc.item()) / p.evalEvery;
          lossAcc.dispose();
          lossAcc = null;
          const worst = Math.min(...Object.values(accuracy));
          log(`  pretrain step ${String(steps).padStart(5)}  train loss ${trainLoss.toFixed(4)}  exact match ${TASKS.map((t) => `${t} ${(accuracy![t] * 100).toFixed(0)}%`).join(' ')}  (${((performance.now() - t0) / 1000).toFixed(0)}s)`);
          if (worst >= p.targetAccuracy) break;
        }
      }
      lossAcc?.dispose();
      opt.dispose();
      if (io.checkpointIO) {
        await saveCheckpoint(io.checkpointIO, dir, { model, engine, step: steps, config: key, keep: 1 });
        log(`jola: base model cached at ${dir}`);
      }
    }
    accuracy ??= await check();
    const untaggedAccuracy = (await accuracyOn(engine, model, untaggedSet)).exact;
    const worst = Math.min(...Object.values(accuracy));
    if (worst < c.pretrain.targetAccuracy) log(`jola: WARNING the base model reached only ${(worst * 100).toFixed(1)}% on its worst tagged task (target ${c.pretrain.targetAccuracy * 100}%)`);
    const state = Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, engine.keep(engine.noGrad(() => t.clone()))]));
    return { state, params: model.numParameters(), info: { steps, accuracy, untaggedAccuracy, cached, wallSec: (performance.now() - t0) / 1000 } };
  } finally {
    held.forEach(disposeSet);
    disposeSet(untaggedSet);
    model.dispose();
  }
}

// ------------------------------------------------------------------ step 2: adaptation

interface RunResult {
  exact: number;
  token: number;
  /** Exact match per input length. */
  byLength: Record<string, number>;
  /** Dev loss of the restored (best) state. */
  devLoss: number;
  trainable: number;
  bestStep: number;
  steps: number;
  gates?: Awaited<ReturnType<JoLA['gateStats']>>;
}

interface FitOptions {
  /** AdamW parameter groups (each with its lr). */
  groups: { params: Tensor[]; lr: number }[];
  weightDecay: number;
  /** The training loss on a batch (CE on the response plus any penalty). */
  loss: (inputs: Tensor, targets: Tensor) => Tensor;
  /** Switch stochastic parts (JoLA's gates) between training and evaluation. */
  mode: (training: boolean) => void;
}

/**
 * AdamW with cosine decay after a linear warmup, batches cycled over the N examples, a dev evaluation
 * each epoch (nn/trainer's loop with early stopping), and the best dev state restored at the end.
 */
async function fit(engine: Engine, c: JolaConfig, model: TransformerLM, trainEx: readonly Example[], dev: EvalSet, o: FitOptions, orderSeed: string): Promise<{ bestStep: number; steps: number }> {
  const a = c.adapt;
  const stepsPerEpoch = Math.max(Math.ceil(trainEx.length / a.batchSize), a.minStepsPerEpoch);
  const epochs = Math.max(1, Math.min(a.epochs, Math.floor(a.maxSteps / stepsPerEpoch)));
  const total = stepsPerEpoch * epochs;
  const params = o.groups.flatMap((g) => g.params);
  const opt = new AdamW(o.groups, { lr: o.groups[0].lr, weightDecay: o.weightDecay });
  const sched = new LRScheduler(opt, cosineSchedule({ warmupSteps: Math.round(a.warmupFraction * total), totalSteps: total }));
  // The same batch order for every method at a given (N, seed).
  const rng = new SeededRng(orderSeed);
  let order: number[] = [];
  const nextBatch = (): Example[] => {
    const out: Example[] = [];
    while (out.length < Math.min(a.batchSize, trainEx.length)) {
      if (!order.length) order = rng.shuffle(trainEx.map((_, i) => i));
      out.push(trainEx[order.pop()!]);
    }
    return out;
  };
  o.mode(true);
  try {
    const r = await train({
      steps: total,
      logEvery: stepsPerEpoch,
      evalEvery: stepsPerEpoch,
      step: () => {
        const b = nextBatch();
        const T = Math.max(...b.map((e) => 2 * e.x.length + 3));
        const host = packBatch(b, T);
        const loss = engine.tidy(() => {
          const x = engine.tensor(host.inputs, [host.rows, T], { dtype: 'i32' });
          const y = engine.tensor(host.targets, [host.rows, T], { dtype: 'i32' });
          opt.zeroGrad();
          const l = o.loss(x, y);
          l.backward();
          clipGradNorm(params, a.clipGradNorm).dispose();
          opt.step();
          return l.detach();
        });
        sched.step();
        return loss;
      },
      evaluate: async () => {
        o.mode(false);
        const v = await lossOn(engine, model, dev);
        o.mode(true);
        return { dev_loss: v };
      },
      // The best evaluation's values come back at the end (HF: load_best_model_at_end).
      earlyStopping: { metric: 'dev_loss', patience: a.patience, mode: 'min', restoreBest: params },
    });
    return { bestStep: r.best?.step ?? 0, steps: r.steps };
  } finally {
    o.mode(false);
    opt.dispose();
  }
}

const JOLA_VARIANTS: Partial<Record<MethodName, Partial<JoLAOptions>>> = {
  jola: {},
  jolaNoGates: { gates: 'none' },
  jolaAdditive: { multiplicative: false },
  jolaMultiplicative: { additive: false },
};

/** One adaptation run of `method` from the base state; the model and every adapter are freed after it. */
async function adaptOne(
  engine: Engine, c: JolaConfig, base: Base, method: MethodName, trainEx: readonly Example[], dev: EvalSet, test: EvalSet, orderSeed: string,
): Promise<RunResult> {
  const model = newModel(engine, c);
  model.loadStateDict(base.state);
  model.eval();
  const ce = (x: Tensor, y: Tensor) => model.loss(x, y);
  const shape = { nLayers: c.model.nLayers, nHeads: c.model.nHeads, headDim: c.model.dModel / c.model.nHeads };
  const editors: { jola: JoLA; detach: () => void }[] = [];
  const edit = (o: Partial<JoLAOptions>) => {
    const jola = new JoLA(engine, shape, { initStd: c.jola.initStd, ...o });
    editors.push({ jola, detach: jola.attachTo(model) });
    return jola;
  };
  try {
    let fitted = { bestStep: 0, steps: 0 };
    let trainable = 0;
    let gates: RunResult['gates'];
    if (method === 'fullFinetune') {
      model.unfreeze();
      trainable = model.numParameters(true);
      fitted = await fit(engine, c, model, trainEx, dev, {
        groups: [{ params: model.trainableParameters(), lr: c.fullFinetune.lr }], weightDecay: c.fullFinetune.weightDecay, loss: ce, mode: (t) => model.train(t),
      }, orderSeed);
    } else if (method === 'lora') {
      const r = applyLoRA(model, { r: c.lora.rank, alpha: c.lora.alpha, targets: c.lora.targets });
      trainable = r.trainableParameters;
      fitted = await fit(engine, c, model, trainEx, dev, {
        groups: [{ params: model.trainableParameters(), lr: c.lora.lr }], weightDecay: 0, loss: ce, mode: (t) => model.train(t),
      }, orderSeed);
    } else if (method === 'lofit') {
      model.freeze();
      // Stage 1: scalings on every head with an L1 penalty; rank heads by ‖m‖.
      const s1 = edit({ gates: 'none', additive: false, multiplicative: true });
      const ms = s1.layers.items.map((e) => e.m!);
      const f1 = await fit(engine, c, model, trainEx, dev, {
        groups: [{ params: ms, lr: c.lofit.lr }], weightDecay: 0,
        loss: (x, y) => ce(x, y).add(engine.stack(ms.map((m) => m.abs().sum())).sum().mul(c.lofit.l1)),
        mode: (t) => s1.train(t),
      }, orderSeed);
      const norms = await Promise.all(ms.map(async (m) => {
        const n = engine.noGrad(() => engine.tidy(() => m.square().sum(-1).sqrt())); // (H)
        const v = Array.from(await n.data());
        n.dispose();
        return v;
      }));
      editors.pop()!.detach();
      s1.dispose();
      const flat = norms.flatMap((row, l) => row.map((v, h) => ({ v, l, h }))).sort((p, q) => q.v - p.v);
      const k = Math.max(1, Math.round(c.lofit.topFraction * flat.length));
      const mask = norms.map((row) => row.map(() => 0));
      for (const { l, h } of flat.slice(0, k)) mask[l][h] = 1;
      // Stage 2: offsets on the selected heads only.
      const s2 = edit({ gates: 'none', additive: true, multiplicative: false, headMask: mask });
      trainable = s2.numTrainable();
      const f2 = await fit(engine, c, model, trainEx, dev, {
        groups: [{ params: s2.trainableParameters(), lr: c.lofit.lr }], weightDecay: 0, loss: ce, mode: (t) => s2.train(t),
      }, orderSeed);
      fitted = { bestStep: f1.steps + f2.bestStep, steps: f1.steps + f2.steps };
    } else if (method !== 'zeroShot') {
      model.freeze();
      const j = edit(JOLA_VARIANTS[method]!);
      trainable = j.numTrainable();
      const gateParams = j.logAlphas();
      const vectors = j.trainableParameters().filter((p) => !gateParams.includes(p));
      const groups = [{ params: vectors, lr: c.jola.lr }];
      if (gateParams.length) groups.push({ params: gateParams, lr: c.jola.lr * c.jola.gateLrMultiplier });
      const lambda = gateParams.length ? c.jola.lambda : 0;
      fitted = await fit(engine, c, model, trainEx, dev, {
        groups, weightDecay: 0,
        loss: (x, y) => (lambda > 0 ? ce(x, y).add(j.penalty().mul(lambda)) : ce(x, y)),
        mode: (t) => j.train(t),
      }, orderSeed);
      if (gateParams.length) gates = await j.gateStats();
    }
    const acc = await accuracyOn(engine, model, test);
    const devLoss = await lossOn(engine, model, dev);
    return { exact: acc.exact, token: acc.token, byLength: acc.byLength, devLoss, trainable, bestStep: fitted.bestStep, steps: fitted.steps, gates };
  } finally {
    for (const e of editors) (e.detach(), e.jola.dispose());
    model.dispose();
  }
}

// ------------------------------------------------------------------ the method

const stat = (xs: number[]): Stat => ({ mean: xs.reduce((a, b) => a + b, 0) / xs.length, perSeed: xs });
const meanMaps = (maps: number[][][]): number[][] => maps[0].map((row, l) => row.map((_, h) => maps.reduce((a, m) => a + m[l][h], 0) / maps.length));

export async function run(engine: Engine, config: Partial<JolaConfig> = {}, io: RunIO = {}): Promise<Report> {
  const c = makeConfig(config);
  const log = io.log ?? (() => {});
  const t0 = performance.now();
  const base = await pretrainedBase(engine, c, io, log);
  log(`jola: base model ${base.params} parameters, ${base.info.steps} steps, exact match ${Object.entries(base.info.accuracy).map(([t, v]) => `${t} ${(v * 100).toFixed(1)}%`).join(' ')}, untagged-as-reverse ${(base.info.untaggedAccuracy * 100).toFixed(1)}%`);

  // The shift: train/dev inputs use `trainSymbols` of the 16 symbols and short lengths; test uses all.
  const trainSymbols = new SeededRng('jola-symbols').shuffle([...ALL_SYMBOLS]).slice(0, c.downstream.trainSymbols).sort((a, b) => a - b);
  const trainDist: InputDistribution = { symbols: trainSymbols, minLen: c.downstream.trainLen[0], maxLen: c.downstream.trainLen[1], distinct: c.distinctSymbols };
  const testDist: InputDistribution = { symbols: ALL_SYMBOLS, minLen: c.downstream.testLen[0], maxLen: c.downstream.testLen[1], distinct: c.distinctSymbols };
  const testRng = new SeededRng('jola-test');
  const test = evalSet(engine, Array.from({ length: c.downstream.nTest }, () => downstreamExample(testRng, testDist)));

  const methods = METHODS.filter((m) => c.methods.includes(m));
  const accuracy: Report['accuracy'] = {};
  const tokenAccuracy: Report['tokenAccuracy'] = {};
  const devLoss: Report['devLoss'] = {};
  const accuracyByLength: Report['accuracyByLength'] = {};
  const trainableParams: Report['trainableParams'] = {};
  const steps: Report['steps'] = {};
  const results = new Map<string, RunResult[]>(); // `${method}:${N}` -> per seed
  try {
    for (const seed of c.seeds) {
      let zero: RunResult | null = null; // the base model: evaluated once per seed (its dev set), the same for every N
      // Nested training sets (the first N of one pool) and a dev set per seed.
      const poolRng = new SeededRng(`jola-train:${seed}`);
      const pool = Array.from({ length: Math.max(...c.ns) }, () => downstreamExample(poolRng, trainDist));
      const devRng = new SeededRng(`jola-dev:${seed}`);
      const dev = evalSet(engine, Array.from({ length: c.downstream.nDev }, () => downstreamExample(devRng, trainDist)));
      try {
        for (const N of c.ns) {
          for (const method of methods) {
            const t1 = performance.now();
            let r: RunResult;
            if (method === 'zeroShot') r = zero ??= await adaptOne(engine, c, base, method, [], dev, test, '');
            else {
              engine.manualSeed(seed * 1_000_003 + N * 101 + METHODS.indexOf(method));
              r = await adaptOne(engine, c, base, method, pool.slice(0, N), dev, test, `jola-order:${N}:${seed}`);
            }
            const key = `${method}:${N}`;
            results.set(key, [...(results.get(key) ?? []), r]);
            const gates = r.gates?.openProb;
            const openShare = (m: number[][] | null) => (m ? `${m.flat().filter((p) => p > 0.5).length}/${m.flat().length}` : '-');
            log(`  N ${String(N).padStart(3)}  seed ${seed}  ${method.padEnd(18)} exact ${(r.exact * 100).toFixed(1).padStart(5)}%  token ${(r.token * 100).toFixed(1).padStart(5)}%  by length ${Object.values(r.byLength).map((v) => (v * 100).toFixed(0)).join('/')}  dev loss ${r.devLoss.toFixed(3)}  ` +
              `trainable ${String(r.trainable).padStart(6)}  best step ${r.bestStep}/${r.steps}${gates ? `  open gates a ${openShare(gates.additive)} m ${openShare(gates.multiplicative)}` : ''}  ` +
              `(${((performance.now() - t1) / 1000).toFixed(1)}s, ${engine.memory().liveBuffers} buffers)`);
          }
        }
      } finally {
        disposeSet(dev);
      }
    }
    for (const method of methods) {
      accuracy[method] = {};
      tokenAccuracy[method] = {};
      devLoss[method] = {};
      accuracyByLength[method] = {};
      steps[method] = {};
      for (const N of c.ns) {
        const rs = results.get(`${method}:${N}`)!;
        accuracy[method]![N] = stat(rs.map((r) => r.exact));
        tokenAccuracy[method]![N] = stat(rs.map((r) => r.token));
        devLoss[method]![N] = stat(rs.map((r) => r.devLoss));
        accuracyByLength[method]![N] = Object.fromEntries(Object.keys(rs[0].byLength).map((n) => [n, stat(rs.map((r) => r.byLength[n])).mean]));
        steps[method]![N] = { best: stat(rs.map((r) => r.bestStep)).mean, run: stat(rs.map((r) => r.steps)).mean };
        trainableParams[method] = rs[0].trainable;
      }
    }
    const openGates: Report['openGates'] = {};
    const gateMaps: Report['gateMaps'] = {};
    if (methods.includes('jola')) {
      for (const N of c.ns) {
        const gs = results.get(`jola:${N}`)!.map((r) => r.gates!);
        const share = (m: number[][], f: (v: number) => boolean) => m.flat().filter(f).length / m.flat().length;
        openGates[N] = {
          additive: stat(gs.map((g) => share(g.openProb.additive!, (p) => p > 0.5))),
          multiplicative: stat(gs.map((g) => share(g.openProb.multiplicative!, (p) => p > 0.5))),
          activeAdditive: stat(gs.map((g) => share(g.evalGate.additive!, (v) => v > 0))),
          activeMultiplicative: stat(gs.map((g) => share(g.evalGate.multiplicative!, (v) => v > 0))),
        };
        gateMaps[N] = {
          openProb: { additive: meanMaps(gs.map((g) => g.openProb.additive!)), multiplicative: meanMaps(gs.map((g) => g.openProb.multiplicative!)) },
          evalGate: { additive: meanMaps(gs.map((g) => g.evalGate.additive!)), multiplicative: meanMaps(gs.map((g) => g.evalGate.multiplicative!)) },
        };
      }
    }
    return {
      method: 'jola', config: c, accuracy, tokenAccuracy, devLoss, accuracyByLength, trainableParams, baseParams: base.params, openGates, gateMaps, base: base.info, steps, trainSymbols,
      wallSec: (performance.now() - t0) / 1000,
    };
  } finally {
    disposeSet(test);
    Object.values(base.state).forEach((t) => t.dispose());
  }
}
