// Post-hoc reward calibration (Huang et al., ICLR 2025) on tiny reward models: per seed, one reward
// model trained with Bradley–Terry on labels of a length-biased annotator and one on labels of an
// unbiased annotator (same responses, same initialisation). Each scores a fresh evaluation set whose
// gold preference is the true quality; the calibrators (calibrate.ts) then remove the length bias
// estimated from the scores alone, and we measure the accuracy of the calibrated margins against the
// gold preference, overall and on the "hard" pairs where the better response is the shorter one.
//
// Training and scoring run on the GPU (embedding, masked sum-pool, MLP, BT loss, Adam); the CPU
// generates the data and computes the final statistics (calibration, accuracy, Spearman).
import type { Engine, Tensor } from '../../engine/index.js';
import { AdamW, SeededRng, spearman } from '../../nn/index.js';
import { calibrateLWR, calibrateMean, lengthPenalty, pairAccuracy } from './calibrate.js';
import { makeConfig, type RewardCalibrationConfig, type RewardCalibrationOverrides } from './config.js';
import { VOCAB, annotate, labelEntropy, lengthOf, padBatch, sampleEvalPairs, samplePairs, type AnnotatorOptions, type EvalPairs, type Response, type TrainPairs } from './data.js';
import { RewardModel, bradleyTerryLoss } from './model.js';

export interface Stat {
  mean: number;
  perSeed: number[];
}

export type Arm = 'biased' | 'unbiased';
export const ARMS: readonly Arm[] = ['biased', 'unbiased'];

/** Calibrators compared, in the order the report and plots list them. */
export const CALIBRATORS = ['Raw', 'Penalty', 'Mean', 'LWR', 'LWRPenalty'] as const;
export type Calibrator = (typeof CALIBRATORS)[number];

/** acc<Calibrator>, acc<Calibrator>Hard, acc<Calibrator>Easy: pairwise accuracy against the true preference;
 * spearmanLen<Calibrator>: Spearman(length, score) over the pooled evaluation responses. */
export type CalibratorMetrics = { [K in `acc${Calibrator}${'' | 'Hard' | 'Easy'}` | `spearmanLen${Calibrator}`]: number };

/** One reward model's evaluation (one seed). */
export interface SeedMetrics extends CalibratorMetrics {
  /** RC-Mean: share of pairs with both windows full enough to be calibrated. */
  meanCoverage: number;
  /** RMS of the LOWESS bias estimate's error against the annotator's own bias β ln c (both centred; reward units). */
  biasError: number;
  /** Standard deviation of β ln c over the pooled responses (the size of the bias to remove; 0 when unbiased). */
  biasSpread: number;
  /** Share of evaluation pairs whose better response is the shorter one. */
  hardShare: number;
  evalPairs: number;
  /** Bradley–Terry loss on the last evalEvery training batches. */
  trainLoss: number;
  /** Validation BT loss (annotator labels) at the last step, its best value and step. */
  valLoss: number;
  bestValLoss: number;
  bestStep: number;
  /** The annotator's own BT loss on the validation pairs (the floor; chance is ln 2). */
  valLossFloor: number;
}

export type ArmReport = { [K in keyof SeedMetrics]: Stat };

export interface SweepPoint {
  value: number;
  biased: { accLWR: Stat; accLWRHard: Stat };
  unbiased: { accLWR: Stat };
}

export interface ScatterPoint {
  length: number;
  quality: number;
  raw: number;
  calibrated: number;
  bias: number;
}

export interface Report {
  method: 'reward-calibration';
  config: RewardCalibrationConfig;
  parameters: number;
  biased: ArmReport;
  unbiased: ArmReport;
  /** RC-LWR at other calibration constants λ and LOWESS fracs (the rest of the config as given). */
  sweeps: { lambda: SweepPoint[]; frac: SweepPoint[] };
  /** Validation BT loss per evaluation step, per seed. */
  curves: Record<Arm, { step: number; valLoss: number[] }[]>;
  /** Seed 0's pooled evaluation responses: length, quality, raw and RC-LWR scores, the LOWESS bias estimate. */
  scatter: Record<Arm, ScatterPoint[]>;
  /** ln 2: the BT loss of a constant reward. */
  chanceLoss: number;
  wallSec: number;
}

export interface RunIO {
  log?: (line: string) => void;
  /** A fresh engine (own device) per trained model, destroyed after it; without it every run uses `engine`. */
  newEngine?: () => Promise<Engine>;
}

const stat = (xs: number[]): Stat => ({ mean: xs.reduce((a, b) => a + b, 0) / xs.length, perSeed: xs });

// ------------------------------------------------------------------ training

interface Uploaded {
  ids: Tensor;
  mask: Tensor;
}

function upload(engine: Engine, responses: readonly Response[], maxLen: number): Uploaded {
  const { ids, mask } = padBatch(responses, maxLen);
  return {
    ids: engine.keep(engine.tensor(ids, [responses.length, maxLen], { dtype: 'i32' })),
    mask: engine.keep(engine.tensor(mask, [responses.length, maxLen])),
  };
}

interface Trained {
  model: RewardModel;
  trainLoss: number;
  curve: { step: number; valLoss: number }[];
}

/** Adam on the BT loss over random batches of `train` (reshuffled each epoch); validation loss every evalEvery steps. */
async function trainRewardModel(engine: Engine, c: RewardCalibrationConfig, train: TrainPairs, val: TrainPairs, seed: number, tag: string, log: (s: string) => void): Promise<Trained> {
  const T = c.data.maxLen;
  const P = train.a.length, B = Math.min(c.train.batchSize, P);
  engine.manualSeed(seed);
  const model = new RewardModel(engine, { vocabSize: VOCAB.length, ...c.model });
  const opt = new AdamW(model.parameters(), { lr: c.train.lr, weightDecay: 0 }); // weight decay 0: Adam
  // Every response on the GPU once: rows 0..P-1 the first responses, P..2P-1 the second ones.
  const tr = upload(engine, [...train.a, ...train.b], T);
  const trLabels = engine.keep(engine.tensor(train.label, [P]));
  const va = upload(engine, [...val.a, ...val.b], T);
  const vaLabels = engine.keep(engine.tensor(val.label, [val.a.length]));
  const valLoss = async () => {
    const l = engine.noGrad(() => engine.tidy(() => bradleyTerryLoss(model.forward(va.ids, va.mask), vaLabels)));
    const v = await l.item();
    l.dispose();
    return v;
  };
  const rng = new SeededRng(`order:${seed}`);
  let perm: number[] = [], cursor = P;
  const curve = [{ step: 0, valLoss: await valLoss() }];
  let lossSum: Tensor | null = null, inWindow = 0, trainLoss = NaN;
  const t0 = performance.now();
  for (let step = 1; step <= c.train.steps; step++) {
    if (cursor + B > P) (perm = rng.shuffle(Array.from({ length: P }, (_, i) => i))), (cursor = 0);
    const idx = perm.slice(cursor, (cursor += B));
    const pairIdx = engine.tensor(Int32Array.from(idx), [B], { dtype: 'i32' });
    const rowIdx = engine.tensor(Int32Array.from([...idx, ...idx.map((i) => i + P)]), [2 * B], { dtype: 'i32' });
    const loss = engine.tidy(() => {
      opt.zeroGrad();
      const rewards = model.forward(tr.ids.indexSelect(0, rowIdx), tr.mask.indexSelect(0, rowIdx)); // (2B)
      const l = bradleyTerryLoss(rewards, trLabels.indexSelect(0, pairIdx));
      l.backward();
      opt.step();
      return l.detach();
    });
    pairIdx.dispose();
    rowIdx.dispose();
    const acc: Tensor = lossSum ? engine.keep(lossSum.add(loss)) : loss;
    if (lossSum) (lossSum.dispose(), loss.dispose());
    lossSum = acc;
    inWindow++;
    if (step % c.train.evalEvery === 0 || step === c.train.steps) {
      trainLoss = (await lossSum.item()) / inWindow;
      lossSum.dispose();
      lossSum = null;
      inWindow = 0;
      curve.push({ step, valLoss: await valLoss() });
      log(`  ${tag} seed ${seed}  step ${String(step).padStart(4)}/${c.train.steps}  train BT loss ${trainLoss.toFixed(4)}  val ${curve[curve.length - 1].valLoss.toFixed(4)}  (${((performance.now() - t0) / 1000).toFixed(1)}s)`);
    }
  }
  opt.dispose();
  for (const t of [tr.ids, tr.mask, trLabels, va.ids, va.mask, vaLabels]) t.dispose();
  return { model, trainLoss, curve };
}

/** Rewards of the pooled evaluation responses (chosen at 0..n-1, rejected at n..2n-1), read back once. */
async function score(engine: Engine, model: RewardModel, responses: readonly Response[], maxLen: number): Promise<Float64Array> {
  const ev = upload(engine, responses, maxLen);
  const r = engine.noGrad(() => engine.tidy(() => model.forward(ev.ids, ev.mask)));
  const out = Float64Array.from(await r.data());
  for (const t of [r, ev.ids, ev.mask]) t.dispose();
  return out;
}

// ------------------------------------------------------------------ evaluation (host, float64)

interface Calibrated {
  scores: Record<Calibrator, Float64Array>;
  bias: Float64Array;
  meanCoverage: number;
}

function calibrateAll(rewards: Float64Array, lengths: Float64Array, chars: Float64Array, cal: RewardCalibrationConfig['calibration']): Calibrated {
  const lwrOpts = { frac: cal.frac, it: cal.it, lambda: cal.lambda };
  const penalty = lengthPenalty(rewards, chars, cal.penaltyPerChar);
  const lwr = calibrateLWR(rewards, lengths, lwrOpts);
  const mean = calibrateMean(rewards, lengths, { ratio: cal.meanRatio, minCount: cal.meanMinCount, lambda: lwrOpts.lambda });
  return {
    scores: { Raw: rewards, Penalty: penalty, Mean: mean.calibrated, LWR: lwr.calibrated, LWRPenalty: calibrateLWR(penalty, lengths, lwrOpts).calibrated },
    bias: lwr.bias,
    meanCoverage: mean.coverage,
  };
}

function evaluate(rewards: Float64Array, pairs: EvalPairs, c: RewardCalibrationConfig, lengthWeight: number): { metrics: Omit<SeedMetrics, 'trainLoss' | 'valLoss' | 'bestValLoss' | 'bestStep' | 'valLossFloor'>; calibrated: Calibrated; lengths: Float64Array } {
  const pooled = [...pairs.chosen, ...pairs.rejected];
  const n = pairs.chosen.length;
  const lengths = Float64Array.from(pooled, (r) => lengthOf(r, c.lengthUnit));
  const chars = Float64Array.from(pooled, (r) => r.chars);
  const cal = calibrateAll(rewards, lengths, chars, c.calibration);
  const hard = (i: number) => lengths[i] < lengths[n + i];
  const m: Record<string, number> = {};
  for (const k of CALIBRATORS) {
    const s = cal.scores[k];
    m[`acc${k}`] = pairAccuracy(s);
    m[`acc${k}Hard`] = pairAccuracy(s, hard);
    m[`acc${k}Easy`] = pairAccuracy(s, (i) => !hard(i));
    m[`spearmanLen${k}`] = spearman(lengths, s);
  }
  // The annotator's bias in reward units is β ln c + const: compare the LOWESS estimate with it, both centred.
  const truth = Float64Array.from(lengths, (l) => lengthWeight * Math.log(l));
  const centred = (xs: Float64Array) => {
    const mu = xs.reduce((a, b) => a + b, 0) / xs.length;
    return Float64Array.from(xs, (x) => x - mu);
  };
  const [tb, eb] = [centred(truth), centred(cal.bias)];
  const rms = (xs: ArrayLike<number>) => Math.sqrt(Array.from(xs).reduce((a, x) => a + x * x, 0) / xs.length);
  return {
    metrics: {
      ...(m as CalibratorMetrics),
      meanCoverage: cal.meanCoverage,
      biasError: rms(eb.map((v, i) => v - tb[i])),
      biasSpread: rms(tb),
      hardShare: pairs.chosen.filter((_, i) => hard(i)).length / n,
      evalPairs: n,
    },
    calibrated: cal,
    lengths,
  };
}

// ------------------------------------------------------------------ the method

interface SeedRun {
  metrics: SeedMetrics;
  curve: { step: number; valLoss: number }[];
  /** For the sweeps: rewards and lengths of the pooled evaluation responses. */
  rewards: Float64Array;
  lengths: Float64Array;
  n: number;
  scatter: ScatterPoint[];
}

export async function run(engine: Engine, config: RewardCalibrationOverrides = {}, io: RunIO = {}): Promise<Report> {
  const c = makeConfig(config);
  const log = io.log ?? (() => {});
  const t0 = performance.now();
  const d = c.data;
  log(`reward-calibration: ${d.trainPairs} training pairs, ${c.train.steps} Adam steps × ${c.train.batchSize} pairs; annotator σ(${d.qualityWeight}Δq + ${d.lengthWeight}Δln c) vs σ(${d.qualityWeight}Δq), c = ${c.lengthUnit}; ` +
    `LOWESS frac ${c.calibration.frac} it ${c.calibration.it}, λ ${c.calibration.lambda}; seeds ${c.seeds.join(', ')}`);
  const runs: Record<Arm, SeedRun[]> = { biased: [], unbiased: [] };
  let parameters = 0;
  for (const seed of c.seeds) {
    const rng = new SeededRng(`data:${seed}`);
    const respOpts = { minLen: d.minLen, maxLen: d.maxLen };
    const trainResp = samplePairs(rng.fork('train'), d.trainPairs, respOpts);
    const valResp = samplePairs(rng.fork('val'), d.valPairs, respOpts);
    const evalPairs = sampleEvalPairs(rng.fork('eval'), d.evalPairs, { ...respOpts, minQualityGap: d.minQualityGap, unit: c.lengthUnit });
    const pooled = [...evalPairs.chosen, ...evalPairs.rejected];
    for (const arm of ARMS) {
      const annotator: AnnotatorOptions = { qualityWeight: d.qualityWeight, lengthWeight: arm === 'biased' ? d.lengthWeight : 0, unit: c.lengthUnit };
      // The same uniform draws label both arms' pairs: the labels differ only where the length term flips them.
      const train = annotate(trainResp, new SeededRng(`labels:${seed}`), annotator);
      const val = annotate(valResp, new SeededRng(`val-labels:${seed}`), annotator);
      const e = io.newEngine ? await io.newEngine() : engine;
      let trained: Trained, rewards: Float64Array;
      try {
        trained = await trainRewardModel(e, c, train, val, seed, arm.padEnd(8), log);
        rewards = await score(e, trained.model, pooled, d.maxLen);
        parameters = trained.model.numParameters();
        trained.model.dispose();
      } finally {
        if (e !== engine) e.destroy();
      }
      const ev = evaluate(rewards, evalPairs, c, annotator.lengthWeight);
      const best = trained.curve.reduce((a, p) => (p.valLoss < a.valLoss ? p : a));
      const metrics: SeedMetrics = {
        ...ev.metrics, trainLoss: trained.trainLoss, valLoss: trained.curve[trained.curve.length - 1].valLoss,
        bestValLoss: best.valLoss, bestStep: best.step, valLossFloor: labelEntropy(val.probability),
      };
      const r4 = (v: number) => Math.round(v * 1e4) / 1e4;
      runs[arm].push({
        metrics, curve: trained.curve, rewards, lengths: ev.lengths, n: evalPairs.chosen.length,
        scatter: pooled.map((r, i) => ({ length: ev.lengths[i], quality: r4(r.quality), raw: r4(rewards[i]), calibrated: r4(ev.calibrated.scores.LWR[i]), bias: r4(ev.calibrated.bias[i]) })),
      });
      log(`  ${arm.padEnd(8)} seed ${seed}  accuracy raw ${metrics.accRaw.toFixed(3)} (hard ${metrics.accRawHard.toFixed(3)})  penalty ${metrics.accPenalty.toFixed(3)}  RC-Mean ${metrics.accMean.toFixed(3)} (coverage ${metrics.meanCoverage.toFixed(2)})  ` +
        `RC-LWR ${metrics.accLWR.toFixed(3)} (hard ${metrics.accLWRHard.toFixed(3)})  Spearman(len, r) ${metrics.spearmanLenRaw.toFixed(3)} -> ${metrics.spearmanLenLWR.toFixed(3)}  ` +
        `val BT loss ${metrics.valLoss.toFixed(4)} (best ${metrics.bestValLoss.toFixed(4)} at step ${metrics.bestStep}; floor ${metrics.valLossFloor.toFixed(4)}, chance ${Math.LN2.toFixed(4)})`);
    }
  }
  const armReport = (rs: SeedRun[]): ArmReport => {
    const keys = Object.keys(rs[0].metrics) as (keyof SeedMetrics)[];
    return Object.fromEntries(keys.map((k) => [k, stat(rs.map((r) => r.metrics[k]))])) as ArmReport;
  };
  // Sweeps re-calibrate the stored scores (no retraining).
  const sweep = (values: number[], key: 'lambda' | 'frac'): SweepPoint[] =>
    values.map((value) => {
      const accs = (arm: Arm, hard: boolean) =>
        stat(runs[arm].map((r) => {
          const s = calibrateLWR(r.rewards, r.lengths, { frac: c.calibration.frac, it: c.calibration.it, lambda: c.calibration.lambda, [key]: value }).calibrated;
          return pairAccuracy(s, hard ? (i) => r.lengths[i] < r.lengths[r.n + i] : undefined);
        }));
      return { value, biased: { accLWR: accs('biased', false), accLWRHard: accs('biased', true) }, unbiased: { accLWR: accs('unbiased', false) } };
    });
  const curves = (arm: Arm) => runs[arm][0].curve.map((p, j) => ({ step: p.step, valLoss: runs[arm].map((r) => r.curve[j].valLoss) }));
  return {
    method: 'reward-calibration', config: c, parameters,
    biased: armReport(runs.biased), unbiased: armReport(runs.unbiased),
    sweeps: { lambda: sweep(c.calibration.lambdaSweep, 'lambda'), frac: sweep(c.calibration.fracSweep, 'frac') },
    curves: { biased: curves('biased'), unbiased: curves('unbiased') },
    scatter: { biased: runs.biased[0].scatter, unbiased: runs.unbiased[0].scatter },
    chanceLoss: Math.LN2,
    wallSec: (performance.now() - t0) / 1000,
  };
}
