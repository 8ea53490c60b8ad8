// Language agents with a causal world model (Gkountouras et al., ICLR 2025), small-scale: a causal
// representation model (BISCUIT-VAE-lite, cwm.ts) learns latent dynamics from unlabelled GridWorld-lite
// frames and action texts; a mapper trained on 5% labelled frames reads the causal variables (and so
// the state text) out of its latents. Against it, an LM-only text world model learns the same
// transitions as text from the labelled 5% (and, as an upper bound, from all labels). Both are
// scored on N-step causal inference (predict the state after N action texts) and on planning with
// UCT-MCTS, whose plans are executed in the true simulator.
import type { Engine, Tensor } from '../../engine/index.js';
import { AdamW, LRScheduler, SeededRng, cosineSchedule, mctsBatched, train, type MCTSChild } from '../../nn/index.js';
import { mergeSeedReports } from '../merge.js';
import { makeConfig, type CausalWorldModelConfig } from './config.js';
import { CausalWorldModel, cwmLoss, priorLoss, priorParameters } from './cwm.js';
import { CausalMapper, assignLatents, r2Diagonal, r2Matrix } from './mapper.js';
import { CANONICAL_ACTIONS, encodeAction, paraphrase, type Paraphrases } from './text.js';
import { predictNextTokens, statesToTokens, tokensToStates, trainTextWM, type LabelledTransition, type TextWMLog } from './textwm.js';
import { ACTIONS, IMAGE_SIZE, VARIABLES, episode, goalFraction, meetsGoal, randomState, render, step, type State } from './world.js';
import type { TransformerLM } from '../../nn/index.js';

/** Labelled dev transitions for the text world models' early stopping. */
const DEV_TRANSITIONS = 256;

export interface Stat {
  mean: number;
  perSeed: number[];
}

/** The world models compared: the CWM, the text WM on the labelled share, the text WM on all labels. */
export type ModelName = 'causal' | 'textOnly' | 'textOnlyAllLabels';

export interface Report {
  method: 'causal-world-model';
  config: CausalWorldModelConfig;
  /** Mean over variables of the R² on the one-to-one latent ↔ variable matching (cubic fit of the variable on one latent). */
  r2Diagonal: Stat;
  r2DiagonalPerVariable: { variables: string[]; mean: number[]; perSeed: number[][] };
  /** Latent × variable R² matrices, per seed, rows ordered by the matching (matched latents first). */
  r2Matrix: { variables: string[]; perSeed: { latents: number[]; values: number[][] }[] };
  /** Mapper accuracy on encoded test frames (mean over variables, the lights, per variable), on the assigned latents and on all. */
  mapperAccuracy: Record<'assigned' | 'all', { meanPerVariable: Stat; lights: Stat; perVariable: { mean: number[] } }>;
  /** Exact match of all 8 variables after N steps, keyed by horizon N. */
  nextStateAccuracy: Record<ModelName | 'copy', Record<string, Stat>>;
  /** Per-variable accuracy after N steps (mean over variables). */
  perVariableAccuracy: Record<ModelName | 'copy', Record<string, Stat>>;
  /** 1-step exact match with held-out adverbs/adjectives vs fresh training-word paraphrases. */
  heldoutParaphrases: Record<ModelName, { seen: Stat; heldout: Stat }>;
  /** Plans executed in the true simulator reach the goal, keyed by plan length N. */
  planSuccess: Record<ModelName | 'oracle' | 'random', Record<string, Stat>>;
  /**
   * One step on every test transition, after the joint training and after the prior's refit on frozen latents:
   * latent MSE of the prior mean vs copying z^t, and the mapper's per-variable accuracy (mean over variables)
   * reading the prior mean vs the encoded next frame (the ceiling for any prior on this encoder).
   */
  oneStep: Partial<Record<'joint' | 'refit', { latentMSE: { prior: Stat; copy: Stat }; mapperPrior: Stat; mapperPriorPerVariable: { variables: string[]; mean: number[] }; mapperNextFrame: Stat }>>;
  /** Gap causal − textOnly in exact match at the longest horizon minus the gap at N = 1 (> 0: widens with horizon). */
  gapWidening: Stat;
  /** The raw per-seed measurements every field above is computed from (mergeReports combines runs of single seeds). */
  seedResults: SeedResult[];
  training: {
    cwm: { parameters: number; curve: { step: number; total: number; recon: number; transitionKL: number }[]; perSeedFinal: number[] };
    textWM: Partial<Record<'textOnly' | 'textOnlyAllLabels', TextWMLog[]>>;
    labelledTransitions: number;
    trainTransitions: number;
  };
  wallSec: number;
}

export interface RunIO {
  log?: (line: string) => void;
  /** A fresh engine (own device) per seed, destroyed after it (Dawn on lavapipe has crashed on long single-device runs). */
  newEngine?: () => Promise<Engine>;
}

const stat = (xs: number[]): Stat => ({ mean: xs.reduce((a, b) => a + b, 0) / xs.length, perSeed: xs });
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

// ------------------------------------------------------------------ data

interface Dataset {
  /** Frames per episode (T + 1 each), rendered with pixel noise: (E, T + 1, IMAGE_SIZE) flat. */
  frames: Float32Array;
  episodes: { states: State[]; actions: number[]; texts: string[]; heldoutTexts: string[] }[];
}

function makeDataset(c: CausalWorldModelConfig, count: number, rng: SeededRng): Dataset {
  const T = c.episodeSteps;
  const frames = new Float32Array(count * (T + 1) * IMAGE_SIZE);
  const episodes = Array.from({ length: count }, (_, e) => {
    const ep = episode(rng, T);
    ep.states.forEach((s, t) => render(s, frames, (e * (T + 1) + t) * IMAGE_SIZE, c.pixelNoise, rng));
    const words = (w: Paraphrases) => ep.actions.map((a) => paraphrase(ACTIONS[a], rng, w));
    return { ...ep, texts: words('train'), heldoutTexts: words('heldout') };
  });
  return { frames, episodes };
}

const frameIndex = (c: CausalWorldModelConfig, e: number, t: number) => e * (c.episodeSteps + 1) + t;

function gatherFrames(c: CausalWorldModelConfig, d: Dataset, idx: readonly number[]): Float32Array {
  const out = new Float32Array(idx.length * IMAGE_SIZE);
  idx.forEach((f, i) => out.set(d.frames.subarray(f * IMAGE_SIZE, (f + 1) * IMAGE_SIZE), i * IMAGE_SIZE));
  return out;
}

// ------------------------------------------------------------------ one seed

/** Everything one seed measured (plain data: kept in report.json so runs of single seeds can be merged). */
export interface SeedResult {
  seed: number;
  wallSec: number;
  r2: number[][];
  diag: { latentOf: number[]; diagonal: number[] };
  mapperPerVariable: Record<'assigned' | 'all', number[]>;
  exact: Record<string, Record<number, number>>;
  perVar: Record<string, Record<number, number>>;
  heldout: Record<string, { seen: number; heldout: number }>;
  plans: Record<string, Record<number, number>>;
  cwmCurve: { step: number; total: number; recon: number; transitionKL: number }[];
  /** The one-step check after the joint training and after the prior's refit (null when priorSteps is 0). */
  oneStep: { joint: OneStep; refit: OneStep | null };
  cwmParameters: number;
  textLogs: Partial<Record<'textOnly' | 'textOnlyAllLabels', TextWMLog>>;
  labelled: number;
  transitions: number;
}

async function trainCWM(engine: Engine, c: CausalWorldModelConfig, data: Dataset, seed: number, log: (s: string) => void) {
  const model = new CausalWorldModel(engine, IMAGE_SIZE, { latents: c.cwm.latents, hidden: [c.cwm.hidden1, c.cwm.hidden2], priorHidden: c.cwm.priorHidden, wordDim: c.cwm.wordDim, textDim: c.cwm.textDim });
  const rng = new SeededRng(`cwm-train:${seed}`);
  const opt = new AdamW(model.parameters(), { lr: c.cwm.lr, weightDecay: 0 });
  const S = c.cwm.steps, B = c.cwm.batchSize, T = c.episodeSteps, E = data.episodes.length;
  const sched = new LRScheduler(opt, cosineSchedule({ warmupSteps: Math.min(100, S), totalSteps: S, minLr: 0.1 }));
  const curve: SeedResult['cwmCurve'] = [];
  const w = { recon: c.cwm.reconWeight, priorKL: c.cwm.priorKL, logitReg: c.cwm.logitReg, inputNoise: c.cwm.inputNoise };
  const t0 = performance.now();
  let pending: Tensor[] | null = null;
  try {
    for (let s = 1; s <= S; s++) {
      const picks = Array.from({ length: B }, () => [rng.int(E), rng.int(T)] as const);
      const x0 = gatherFrames(c, data, picks.map(([e, t]) => frameIndex(c, e, t)));
      const x1 = gatherFrames(c, data, picks.map(([e, t]) => frameIndex(c, e, t + 1)));
      const tok = Int32Array.from(picks.flatMap(([e, t]) => encodeAction(data.episodes[e].texts[t], rng, c.cwm.wordDropout)));
      const tau = c.cwm.tauStart + ((c.cwm.tauEnd - c.cwm.tauStart) * (s - 1)) / Math.max(1, S - 1);
      const logNow = s % c.logEvery === 0 || s === S;
      const out = engine.tidy(() => {
        opt.zeroGrad();
        const L = cwmLoss(model, engine.tensor(x0, [B, IMAGE_SIZE]), engine.tensor(x1, [B, IMAGE_SIZE]), engine.tensor(tok, [B, tok.length / B], { dtype: 'i32' }), tau, w);
        L.total.backward();
        opt.step();
        return logNow ? [L.total.detach(), L.recon.detach(), L.transitionKL.detach()] : [];
      });
      sched.step();
      if (logNow) {
        pending = out;
        const [total, recon, kl] = await Promise.all(out.map((t) => t.item()));
        out.forEach((t) => t.dispose());
        pending = null;
        curve.push({ step: s, total, recon, transitionKL: kl });
        log(`    CWM step ${s}: loss ${total.toFixed(2)} (recon ${recon.toFixed(2)}, transition KL ${kl.toFixed(2)}; τ ${tau.toFixed(2)}; ${((performance.now() - t0) / 1000).toFixed(0)}s)`);
      }
    }
  } finally {
    pending?.forEach((t) => t.dispose());
    opt.dispose();
  }
  return { model, curve };
}

/** One-step prediction on every test transition, read in latent space and through the mapper. */
interface OneStep {
  /** Mean squared error against the encoded next frame z^{t+1}: of the prior mean, and of copying z^t. */
  latentMSE: { prior: number; copy: number };
  /** Per-variable accuracy of the mapper's reading of the prior mean (what the rollouts use). */
  mapperPrior: number[];
  /** Per-variable accuracy of the mapper's reading of the encoded next frame: the ceiling for any prior. */
  mapperNextFrame: number[];
}

async function oneStepCheck(engine: Engine, c: CausalWorldModelConfig, model: CausalWorldModel, mapper: CausalMapper, test: Dataset): Promise<OneStep> {
  const T = c.episodeSteps;
  const pairs = test.episodes.flatMap((_, e) => Array.from({ length: T }, (_, t) => [e, t] as const));
  const n = pairs.length;
  const x0 = gatherFrames(c, test, pairs.map(([e, t]) => frameIndex(c, e, t)));
  const x1 = gatherFrames(c, test, pairs.map(([e, t]) => frameIndex(c, e, t + 1)));
  const tok = Int32Array.from(pairs.flatMap(([e, t]) => encodeAction(test.episodes[e].texts[t])));
  const outs = engine.noGrad(() =>
    engine.tidy(() => {
      const z0 = model.encode(engine.tensor(x0, [n, IMAGE_SIZE])).mu; // (n, d)
      const z1 = model.encode(engine.tensor(x1, [n, IMAGE_SIZE])).mu;
      const zp = model.stepMean(z0, engine.tensor(tok, [n, CANONICAL_ACTIONS[0].length], { dtype: 'i32' }), c.cwm.tauEnd);
      const mse = (a: Tensor) => a.sub(z1).square().mean();
      return [mse(zp), mse(z0), mapper.predict(zp), mapper.predict(z1.contiguous())];
    }),
  );
  const [priorMSE, copyMSE, readPrior, readNext] = await Promise.all(outs.map((t) => t.data()));
  outs.forEach((t) => t.dispose());
  const truth = pairs.map(([e, t]) => test.episodes[e].states[t + 1]);
  const accuracy = (r: ArrayLike<number>) => VARIABLES.map((_, i) => mean(truth.map((s, b) => (r[b * VARIABLES.length + i] === s[i] ? 1 : 0))));
  return { latentMSE: { prior: priorMSE[0], copy: copyMSE[0] }, mapperPrior: accuracy(readPrior), mapperNextFrame: accuracy(readNext) };
}

/** Stage 2: refit the transition prior on the frozen encoder's latents of every training transition. */
async function refitPrior(engine: Engine, c: CausalWorldModelConfig, model: CausalWorldModel, data: Dataset, seed: number, steps: number, log: (s: string) => void): Promise<void> {
  const T = c.episodeSteps, E = data.episodes.length, d = c.cwm.latents, B = c.cwm.batchSize;
  const zAll = encodeFrames(engine, model, data.frames); // (E·(T+1), d)
  const Z = await zAll.data();
  zAll.dispose();
  const rng = new SeededRng(`cwm-prior:${seed}`);
  const opt = new AdamW(priorParameters(model), { lr: c.cwm.lr, weightDecay: 0 });
  const sched = new LRScheduler(opt, cosineSchedule({ warmupSteps: Math.min(50, steps), totalSteps: steps, minLr: 0.1 }));
  const rows = (idx: readonly number[]) => {
    const out = new Float32Array(idx.length * d);
    idx.forEach((f, i) => out.set(Z.subarray(f * d, (f + 1) * d), i * d));
    return out;
  };
  try {
    await train({
      steps,
      logEvery: c.logEvery,
      log: (r) => {
        if (r.kind === 'train') log(`    prior step ${r.step}: transition NLL ${r.loss.toFixed(3)} (mean of the last ${r.losses.length} steps)`);
      },
      step: () => {
        const picks = Array.from({ length: B }, () => [rng.int(E), rng.int(T)] as const);
        const z0 = rows(picks.map(([e, t]) => frameIndex(c, e, t))), z1 = rows(picks.map(([e, t]) => frameIndex(c, e, t + 1)));
        const tok = Int32Array.from(picks.flatMap(([e, t]) => encodeAction(data.episodes[e].texts[t], rng, c.cwm.wordDropout)));
        const L = engine.tidy(() => {
          opt.zeroGrad();
          const L = priorLoss(model, engine.tensor(z0, [B, d]), engine.tensor(z1, [B, d]), engine.tensor(tok, [B, tok.length / B], { dtype: 'i32' }), c.cwm.tauEnd, { logitReg: c.cwm.logitReg, inputNoise: c.cwm.inputNoise });
          L.backward();
          opt.step();
          return L.detach();
        });
        sched.step();
        return L;
      },
    });
  } finally {
    opt.dispose();
  }
}

/** Encoder means μ (N, d) of frames, on the GPU. */
function encodeFrames(engine: Engine, model: CausalWorldModel, frames: Float32Array): Tensor {
  return engine.noGrad(() => engine.tidy(() => model.encode(engine.tensor(frames, [frames.length / IMAGE_SIZE, IMAGE_SIZE])).mu.contiguous()));
}

interface Window {
  ep: number;
  t0: number;
}

function windows(c: CausalWorldModelConfig, test: Dataset, N: number, rng: SeededRng): Window[] {
  return Array.from({ length: c.inferenceWindows }, () => ({ ep: rng.int(test.episodes.length), t0: rng.int(c.episodeSteps - N + 1) }));
}

/** CWM rollout in latent space (prior mean) from the frame at t0 through N action texts; predicted states. */
async function cwmRollout(engine: Engine, c: CausalWorldModelConfig, model: CausalWorldModel, mapper: CausalMapper, test: Dataset, ws: readonly Window[], N: number, texts: 'texts' | 'heldoutTexts'): Promise<State[]> {
  const x0 = gatherFrames(c, test, ws.map((w) => frameIndex(c, w.ep, w.t0)));
  const pred = engine.noGrad(() =>
    engine.tidy(() => {
      let z = model.encode(engine.tensor(x0, [ws.length, IMAGE_SIZE])).mu; // (W, d)
      for (let k = 0; k < N; k++) {
        const tok = engine.tensor(Int32Array.from(ws.flatMap((w) => encodeAction(test.episodes[w.ep][texts][w.t0 + k]))), [ws.length, CANONICAL_ACTIONS[0].length], { dtype: 'i32' });
        z = model.stepMean(z, tok, c.cwm.tauEnd);
      }
      return mapper.predict(z); // (W, 8)
    }),
  );
  const data = await pred.data();
  pred.dispose();
  return ws.map((_, b) => VARIABLES.map((_, i) => data[b * VARIABLES.length + i]));
}

/** Text WM rollout: the true start state as text, then its own predictions through N action texts. */
async function textRollout(engine: Engine, lm: TransformerLM, test: Dataset, ws: readonly Window[], N: number, texts: 'texts' | 'heldoutTexts'): Promise<State[]> {
  const out = engine.tidy(() => {
    let s = statesToTokens(engine, ws.map((w) => test.episodes[w.ep].states[w.t0]));
    for (let k = 0; k < N; k++) {
      const tok = engine.tensor(Int32Array.from(ws.flatMap((w) => encodeAction(test.episodes[w.ep][texts][w.t0 + k]))), [ws.length, CANONICAL_ACTIONS[0].length], { dtype: 'i32' });
      s = predictNextTokens(lm, s, tok);
    }
    return s;
  });
  const data = await out.data();
  out.dispose();
  return tokensToStates(data, ws.length);
}

function score(pred: readonly State[], truth: readonly State[]): { exact: number; perVariable: number } {
  const exact = mean(pred.map((p, b) => (p.every((v, i) => v === truth[b][i]) ? 1 : 0)));
  const perVariable = mean(pred.map((p, b) => mean(p.map((v, i) => (v === truth[b][i] ? 1 : 0)))));
  return { exact, perVariable };
}

// ------------------------------------------------------------------ planning

interface PlanProblem {
  start: State;
  goal: State;
}

function planProblems(c: CausalWorldModelConfig, N: number, rng: SeededRng): PlanProblem[] {
  return Array.from({ length: c.planProblems }, () => {
    for (;;) {
      const start = randomState(rng);
      let s = start;
      for (let k = 0; k < N; k++) s = step(s, ACTIONS[rng.int(ACTIONS.length)]);
      if (!meetsGoal(start, s)) return { start, goal: s };
    }
  });
}

const reward = (pred: State, goal: State) => goalFraction(pred, goal) + (meetsGoal(pred, goal) ? 1 : 0);

function execute(p: PlanProblem, plan: readonly number[]): boolean {
  let s = p.start;
  for (const a of plan) s = step(s, ACTIONS[a]);
  return meetsGoal(s, p.goal);
}

/**
 * Plan success: MCTS from every problem's start at once, one batched world-model query per round
 * (`mctsBatched`); the plans then run in the true simulator.
 */
async function planWith<S>(c: CausalWorldModelConfig, problems: readonly PlanProblem[], N: number, root: (p: PlanProblem) => Promise<S> | S, expandBatch: (states: S[], goals: State[]) => Promise<MCTSChild<S>[][]> | MCTSChild<S>[][]): Promise<number> {
  const roots: S[] = [];
  for (const p of problems) roots.push(await root(p)); // in problem order: the CWM's roots draw render noise
  const results = await mctsBatched(roots, { numActions: ACTIONS.length, expandBatch: (reqs) => expandBatch(reqs.map((r) => r.state), reqs.map((r) => problems[r.search].goal)) }, {
    iterations: c.mcts.iterations,
    maxDepth: N + c.mcts.extraDepth,
    explorationWeight: c.mcts.explorationWeight,
  });
  return results.filter((r, i) => execute(problems[i], r.plan)).length / problems.length;
}

async function runSeed(engine: Engine, c: CausalWorldModelConfig, seed: number, logLine: (s: string) => void): Promise<SeedResult> {
  const tStart = performance.now();
  const log = (s: string) => logLine(s.startsWith('  seed') ? `${s} [${((performance.now() - tStart) / 1000).toFixed(0)}s]` : s);
  const rng = new SeededRng(`cwm-data:${seed}`);
  engine.manualSeed(seed);
  const train = makeDataset(c, c.trainEpisodes, rng.fork('train'));
  const test = makeDataset(c, c.testEpisodes, rng.fork('test'));
  const T = c.episodeSteps;

  // Labelled share: both frames of these transitions carry the causal variables.
  const all: [number, number][] = train.episodes.flatMap((_, e) => Array.from({ length: T }, (_, t) => [e, t] as [number, number]));
  const lrng = rng.fork('labels');
  const labelled = lrng.shuffle(all.slice()).slice(0, Math.max(8, Math.round(c.labelledShare * all.length)));
  const toLT = ([e, t]: [number, number]): LabelledTransition => ({ state: train.episodes[e].states[t], text: train.episodes[e].texts[t], next: train.episodes[e].states[t + 1] });

  log(`  seed ${seed}: training the CWM (${c.cwm.steps} steps on ${all.length} unlabelled transitions)`);
  const { model, curve } = await trainCWM(engine, c, train, seed, log);
  const mappers: CausalMapper[] = [];
  const lms: TransformerLM[] = [];
  try {
    // Mapper on the labelled frames.
    const frames = [...new Set(labelled.flatMap(([e, t]) => [frameIndex(c, e, t), frameIndex(c, e, t + 1)]))];
    const stateOf = (f: number) => train.episodes[Math.floor(f / (T + 1))].states[f % (T + 1)];
    const zL = encodeFrames(engine, model, gatherFrames(c, train, frames));
    const zRows = await zL.data();
    const d = c.cwm.latents;
    const zArr = frames.map((_, i) => Array.from(zRows.subarray(i * d, (i + 1) * d)));
    const labels = frames.map(stateOf);
    const R = r2Matrix(zArr, labels);
    const diag = r2Diagonal(R);
    const { masks } = assignLatents(R);
    log(`  seed ${seed}: R² diagonal ${diag.diagonal.map((v, i) => `${VARIABLES[i]} ${v.toFixed(2)}`).join(', ')}`);
    const testFrames = test.episodes.flatMap((_, e) => Array.from({ length: T + 1 }, (_, t) => frameIndex(c, e, t)));
    const truthT = testFrames.map((f) => test.episodes[Math.floor(f / (T + 1))].states[f % (T + 1)]);
    const zT = encodeFrames(engine, model, gatherFrames(c, test, testFrames));
    // Both mappers: on the R²-assigned latents and on all latents; c.mapper.inputs drives the rollouts.
    const mapperAccuracy: Record<'assigned' | 'all', number[]> = { assigned: [], all: [] };
    let mapper: CausalMapper | null = null;
    for (const inputs of ['assigned', 'all'] as const) {
      const m = new CausalMapper(engine, d, inputs === 'assigned' ? masks : masks.map((row) => row.map(() => 1)), c.mapper.hidden);
      mappers.push(m);
      const mapLoss = await m.fit(zL, labels, { steps: c.mapper.steps, lr: c.mapper.lr });
      const predT = engine.noGrad(() => m.predict(zT));
      const pd = await predT.data();
      predT.dispose();
      mapperAccuracy[inputs] = VARIABLES.map((_, i) => mean(truthT.map((s, b) => (pd[b * VARIABLES.length + i] === s[i] ? 1 : 0))));
      log(`  seed ${seed}: mapper on ${inputs} latents (train CE ${mapLoss.toFixed(3)}) test accuracy ${mapperAccuracy[inputs].map((v, i) => `${VARIABLES[i]} ${(100 * v).toFixed(0)}%`).join(', ')}`);
      if (inputs === c.mapper.inputs) mapper = m;
    }
    if (!mapper) throw new Error('causal-world-model: no mapper was fitted');
    // One-step check after the joint training and again after the prior's refit on frozen latents.
    const oneStep: SeedResult['oneStep'] = { joint: await oneStepCheck(engine, c, model, mapper, test), refit: null };
    if (c.cwm.priorSteps > 0) {
      log(`  seed ${seed}: refitting the transition prior on the frozen encoder's latents (${c.cwm.priorSteps} steps)`);
      await refitPrior(engine, c, model, train, seed, c.cwm.priorSteps, log);
      oneStep.refit = await oneStepCheck(engine, c, model, mapper, test);
    }
    for (const [stage, r] of Object.entries(oneStep)) {
      if (r) log(`  seed ${seed}: one step after ${stage}: latent MSE prior ${r.latentMSE.prior.toFixed(3)} vs copy ${r.latentMSE.copy.toFixed(3)}; mapper on the prior mean ${r.mapperPrior.map((v, i) => `${VARIABLES[i]} ${(100 * v).toFixed(0)}%`).join(', ')} (on the encoded next frame ${(100 * mean(r.mapperNextFrame)).toFixed(1)}%)`);
    }
    zL.dispose();
    zT.dispose();

    // Text world models.
    // Their early stopping reads labelled transitions of separate dev episodes (not the test episodes).
    const devSet = makeDataset(c, Math.ceil(DEV_TRANSITIONS / T), rng.fork('dev'));
    const devLT = devSet.episodes.flatMap((ep) => ep.actions.map((_, t) => ({ state: ep.states[t], text: ep.texts[t], next: ep.states[t + 1] }))).slice(0, DEV_TRANSITIONS);
    const textModels: Partial<Record<'textOnly' | 'textOnlyAllLabels', TransformerLM>> = {};
    const textLogs: SeedResult['textLogs'] = {};
    const variants: ['textOnly' | 'textOnlyAllLabels', [number, number][]][] = [['textOnly', labelled]];
    if (c.allLabelsTextWM) variants.push(['textOnlyAllLabels', all]);
    for (const [name, rows] of variants) {
      log(`  seed ${seed}: training the text WM "${name}" on ${rows.length} labelled transitions`);
      const r = await trainTextWM(engine, c.textWM, rows.map(toLT), devLT, seed, log);
      lms.push(r.model);
      textModels[name] = r.model;
      textLogs[name] = r.info;
    }

    // Causal inference: exact state after N action texts.
    const names = ['causal', ...Object.keys(textModels), 'copy'];
    const exact: SeedResult['exact'] = Object.fromEntries(names.map((n) => [n, {}]));
    const perVar: SeedResult['perVar'] = Object.fromEntries(names.map((n) => [n, {}]));
    const heldout: SeedResult['heldout'] = {};
    const wrng = rng.fork('windows');
    for (const N of c.horizons) {
      const ws = windows(c, test, N, wrng);
      const truth = ws.map((w) => test.episodes[w.ep].states[w.t0 + N]);
      const preds: Record<string, State[]> = {
        causal: await cwmRollout(engine, c, model, mapper, test, ws, N, 'texts'),
        copy: ws.map((w) => test.episodes[w.ep].states[w.t0]),
      };
      for (const [n, lm] of Object.entries(textModels)) preds[n] = await textRollout(engine, lm!, test, ws, N, 'texts');
      for (const n of names) {
        const s = score(preds[n], truth);
        exact[n][N] = s.exact;
        perVar[n][N] = s.perVariable;
      }
      if (N === 1) {
        heldout.causal = { seen: exact.causal[1], heldout: score(await cwmRollout(engine, c, model, mapper, test, ws, 1, 'heldoutTexts'), truth).exact };
        for (const [n, lm] of Object.entries(textModels)) heldout[n] = { seen: exact[n][1], heldout: score(await textRollout(engine, lm!, test, ws, 1, 'heldoutTexts'), truth).exact };
      }
      log(`  seed ${seed}: N=${N} exact match ${names.map((n) => `${n} ${(100 * exact[n][N]).toFixed(1)}%`).join(', ')}`);
    }

    // Planning: UCT-MCTS with each world model; plans run in the true simulator.
    const plans: SeedResult['plans'] = Object.fromEntries([...names.filter((n) => n !== 'copy'), 'oracle', 'random'].map((n) => [n, {}]));
    const prng = rng.fork('plans');
    const A = ACTIONS.length;
    // Every action for each of B nodes: (B·A, tokens) i32, node-major.
    const actionTokens = (B: number) => engine.tensor(Int32Array.from(Array.from({ length: B }, () => CANONICAL_ACTIONS.flat()).flat()), [B * A, CANONICAL_ACTIONS[0].length], { dtype: 'i32' });
    for (const N of c.planHorizons) {
      const problems = planProblems(c, N, prng);
      const planCost: Record<string, string> = {}; // each model's searches: wall seconds, dispatches, readbacks (the log line)
      const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
        const t0 = performance.now(), k0 = engine.counters();
        const r = await f();
        const k1 = engine.counters();
        planCost[name] = `${name} ${((performance.now() - t0) / 1000).toFixed(1)}s ${k1.dispatches - k0.dispatches}d ${k1.readbacks - k0.readbacks}r`;
        return r;
      };
      // CWM: the node state is the latent; its text is the mapper's reading of it.
      const cwmExpand = async (zs: Float32Array[], goals: State[]): Promise<MCTSChild<Float32Array>[][]> => {
        const B = zs.length;
        const [next, read] = engine.noGrad(() =>
          engine.tidy(() => {
            const z = engine.tensor(Float32Array.from(zs.flatMap((z) => Array.from({ length: A }, () => Array.from(z)).flat())), [B * A, d]); // (B·A, d)
            const n = model.stepMean(z, actionTokens(B), c.cwm.tauEnd).contiguous(); // (B·A, d)
            return [n, mapper.predict(n)]; // (B·A, d), (B·A, variables)
          }),
        );
        const [zd, pdd] = await Promise.all([next.data(), read.data()]);
        next.dispose();
        read.dispose();
        const V = VARIABLES.length;
        return goals.map((goal, b) =>
          ACTIONS.map((_, a) => {
            const row = b * A + a;
            const pred = Array.from(pdd.subarray(row * V, (row + 1) * V));
            return { state: Float32Array.from(zd.subarray(row * d, (row + 1) * d)), reward: reward(pred, goal), terminal: meetsGoal(pred, goal) };
          }),
        );
      };
      const cwmRoot = async (p: PlanProblem) => {
        const x = new Float32Array(IMAGE_SIZE);
        render(p.start, x, 0, c.pixelNoise, prng);
        const z = encodeFrames(engine, model, x);
        const zd = (await z.data()) as Float32Array;
        z.dispose();
        return Float32Array.from(zd);
      };
      plans.causal[N] = await timed('causal', () => planWith(c, problems, N, cwmRoot, cwmExpand));
      for (const [n, lm] of Object.entries(textModels)) {
        const cache = new Map<string, State[]>(); // state → its predicted successor under each action
        const textExpand = async (states: State[], goals: State[]): Promise<MCTSChild<State>[][]> => {
          const missing = [...new Set(states.map((s) => s.join(',')).filter((k) => !cache.has(k)))].map((k) => k.split(',').map(Number));
          if (missing.length) {
            const out = engine.tidy(() => predictNextTokens(lm!, statesToTokens(engine, missing.flatMap((s) => ACTIONS.map(() => s))), actionTokens(missing.length)));
            const data = await out.data();
            out.dispose();
            const next = tokensToStates(data, missing.length * A);
            missing.forEach((s, m) => cache.set(s.join(','), next.slice(m * A, (m + 1) * A)));
          }
          return states.map((s, b) => cache.get(s.join(','))!.map((pred) => ({ state: pred, reward: reward(pred, goals[b]), terminal: meetsGoal(pred, goals[b]) })));
        };
        plans[n][N] = await timed(n, () => planWith(c, problems, N, (p) => p.start, textExpand));
      }
      plans.oracle[N] = await planWith(c, problems, N, (p) => p.start, (states: State[], goals) =>
        states.map((s, b) =>
          ACTIONS.map((a) => {
            const n = step(s, a);
            return { state: n, reward: reward(n, goals[b]), terminal: meetsGoal(n, goals[b]) };
          }),
        ),
      );
      plans.random[N] = mean(problems.map((p) => (execute(p, Array.from({ length: N }, () => prng.int(ACTIONS.length))) ? 1 : 0)));
      log(`  seed ${seed}: plan N=${N} success ${Object.keys(plans).map((n) => `${n} ${(100 * plans[n][N]).toFixed(0)}%`).join(', ')} (search ${Object.values(planCost).join(', ')})`);
    }
    return { seed, wallSec: (performance.now() - tStart) / 1000, r2: R, diag, mapperPerVariable: mapperAccuracy, exact, perVar, heldout, plans, oneStep, cwmCurve: curve, cwmParameters: model.numParameters(), textLogs, labelled: labelled.length, transitions: all.length };
  } finally {
    model.dispose();
    mappers.forEach((m) => m.dispose());
    lms.forEach((m) => m.dispose());
  }
}

// ------------------------------------------------------------------ the run

export async function run(engine: Engine, config: Partial<CausalWorldModelConfig> = {}, io: RunIO = {}): Promise<Report> {
  const c = makeConfig(config);
  const log = io.log ?? (() => {});
  const t0 = performance.now();
  const results: SeedResult[] = [];
  for (const seed of c.seeds) {
    const e = io.newEngine ? await io.newEngine() : engine;
    try {
      results.push(await runSeed(e, c, seed, log));
    } finally {
      if (e !== engine) e.destroy();
    }
  }
  return buildReport(c, results, (performance.now() - t0) / 1000);
}

/**
 * One report from reports of the same configuration over different seeds (each seed's result
 * depends only on its seed, so this equals a run over all of them; wallSec is the sum).
 */
export function mergeReports(reports: readonly Report[]): Report {
  return mergeSeedReports('causal-world-model', reports, buildReport);
}

function buildReport(c: CausalWorldModelConfig, results: SeedResult[], wallSec: number): Report {
  const over = (f: (r: SeedResult) => number) => stat(results.map(f));
  const keyed = (pick: (r: SeedResult) => Record<string, Record<number, number>>, names: string[], horizons: number[]) =>
    Object.fromEntries(names.filter((n) => pick(results[0])[n]).map((n) => [n, Object.fromEntries(horizons.map((N) => [String(N), over((r) => pick(r)[n][N])]))]));
  const modelNames = ['causal', 'textOnly', ...(c.allLabelsTextWM ? ['textOnlyAllLabels'] : [])];
  const longest = Math.max(...c.horizons);
  return {
    method: 'causal-world-model',
    config: c,
    r2Diagonal: over((r) => mean(r.diag.diagonal)),
    r2DiagonalPerVariable: { variables: [...VARIABLES], mean: VARIABLES.map((_, i) => mean(results.map((r) => r.diag.diagonal[i]))), perSeed: results.map((r) => r.diag.diagonal) },
    r2Matrix: {
      variables: [...VARIABLES],
      perSeed: results.map((r) => {
        const order = [...r.diag.latentOf.filter((j) => j >= 0), ...r.r2.map((_, j) => j).filter((j) => !r.diag.latentOf.includes(j))];
        return { latents: order, values: order.map((j) => r.r2[j]) };
      }),
    },
    mapperAccuracy: Object.fromEntries((['assigned', 'all'] as const).map((k) => [k, {
      meanPerVariable: over((r) => mean(r.mapperPerVariable[k])),
      lights: over((r) => mean(r.mapperPerVariable[k].slice(0, 3))),
      perVariable: { mean: VARIABLES.map((_, i) => mean(results.map((r) => r.mapperPerVariable[k][i]))) },
    }])) as Report['mapperAccuracy'],
    nextStateAccuracy: keyed((r) => r.exact, [...modelNames, 'copy'], c.horizons) as Report['nextStateAccuracy'],
    perVariableAccuracy: keyed((r) => r.perVar, [...modelNames, 'copy'], c.horizons) as Report['perVariableAccuracy'],
    heldoutParaphrases: Object.fromEntries(modelNames.map((n) => [n, { seen: over((r) => r.heldout[n].seen), heldout: over((r) => r.heldout[n].heldout) }])) as Report['heldoutParaphrases'],
    planSuccess: keyed((r) => r.plans, [...modelNames, 'oracle', 'random'], c.planHorizons) as Report['planSuccess'],
    oneStep: Object.fromEntries((['joint', 'refit'] as const).filter((k) => results[0].oneStep[k]).map((k) => {
      const at = (r: SeedResult) => r.oneStep[k]!;
      return [k, {
        latentMSE: { prior: over((r) => at(r).latentMSE.prior), copy: over((r) => at(r).latentMSE.copy) },
        mapperPrior: over((r) => mean(at(r).mapperPrior)),
        mapperPriorPerVariable: { variables: [...VARIABLES], mean: VARIABLES.map((_, i) => mean(results.map((r) => at(r).mapperPrior[i]))) },
        mapperNextFrame: over((r) => mean(at(r).mapperNextFrame)),
      }];
    })) as Report['oneStep'],
    gapWidening: over((r) => r.exact.causal[longest] - r.exact.textOnly[longest] - (r.exact.causal[1] - r.exact.textOnly[1])),
    training: {
      cwm: {
        parameters: results[0].cwmParameters,
        curve: results[0].cwmCurve.map((p, k) => ({ step: p.step, total: mean(results.map((r) => r.cwmCurve[k].total)), recon: mean(results.map((r) => r.cwmCurve[k].recon)), transitionKL: mean(results.map((r) => r.cwmCurve[k].transitionKL)) })),
        perSeedFinal: results.map((r) => r.cwmCurve[r.cwmCurve.length - 1].total),
      },
      textWM: Object.fromEntries(modelNames.filter((n) => n !== 'causal').map((n) => [n, results.map((r) => r.textLogs[n as 'textOnly'])])),
      labelledTransitions: results[0].labelled,
      trainTransitions: results[0].transitions,
    },
    seedResults: results,
    wallSec,
  };
}
