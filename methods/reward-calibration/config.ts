// Typed configuration of the reward-calibration reproduction (spec §3d). The defaults are the spec's
// small-scale experiment (trained 1500 steps instead of 600, so the validation loss's best step falls
// below the cap) with the official RewardBench calibration settings (frac 1.0, it 3, λ 1, RC-Mean ratio
// 4 and minimum 20); QUICK is the test preset.

/** The characteristic c(x): the paper's character count, or the spec prototype's token count. */
export type LengthUnit = 'chars' | 'tokens';

export interface RewardCalibrationConfig {
  seeds: number[];
  /** Both the annotator's length term and the calibration's feature use this unit. */
  lengthUnit: LengthUnit;
  /** Output folder of report.json and the plots (CLI). */
  out: string;
  data: {
    /** Annotated pairs for reward-model training. */
    trainPairs: number;
    /** Annotated held-out pairs: the Bradley–Terry validation loss (and its best step). */
    valPairs: number;
    /** Pairs drawn for evaluation, before the |Δq| and equal-length filter. */
    evalPairs: number;
    minLen: number;
    maxLen: number;
    /** Annotator: P(a ≻ b) = σ(qualityWeight Δq + lengthWeight Δ ln c). */
    qualityWeight: number;
    /** The biased annotator's length weight (the unbiased one uses 0). */
    lengthWeight: number;
    /** Evaluation pairs need |Δq| >= this. */
    minQualityGap: number;
  };
  model: { dModel: number; hidden: number; poolScale: number };
  train: {
    steps: number;
    /** Pairs per step. */
    batchSize: number;
    /** Adam (AdamW with weight decay 0). */
    lr: number;
    /** Validation loss every this many steps (a readback each time). */
    evalEvery: number;
  };
  calibration: {
    /** LOWESS frac (official RewardBench script: 1.0; AlpacaEval 0.3; spec prototype 0.6). */
    frac: number;
    /** LOWESS robustifying iterations (statsmodels' it; official 3). */
    it: number;
    /** Calibration constant λ (official `--alphas 1.0`). */
    lambda: number;
    /** RC-Mean: half-width d = mean |Δc| / ratio. */
    meanRatio: number;
    /** RC-Mean: minimum responses per window. */
    meanMinCount: number;
    /** Length-penalty baseline: r − this × characters. */
    penaltyPerChar: number;
    /** Extra RC-LWR runs at these λ (report only; empty: none). */
    lambdaSweep: number[];
    /** Extra RC-LWR runs at these fracs (report only; empty: none). */
    fracSweep: number[];
  };
}

export const DEFAULTS: RewardCalibrationConfig = {
  seeds: [0, 1, 2],
  lengthUnit: 'chars',
  out: 'runs/reward-calibration',
  data: { trainPairs: 4000, valPairs: 500, evalPairs: 1000, minLen: 4, maxLen: 40, qualityWeight: 8, lengthWeight: 2, minQualityGap: 0.1 },
  model: { dModel: 32, hidden: 64, poolScale: 10 },
  train: { steps: 1500, batchSize: 64, lr: 3e-3, evalEvery: 100 },
  calibration: { frac: 1.0, it: 3, lambda: 1, meanRatio: 4, meanMinCount: 20, penaltyPerChar: 0.001, lambdaSweep: [0, 0.5, 1, 1.4, 2], fracSweep: [0.3, 0.6, 1] },
};

/** The test preset: two seeds and the spec prototype's 400 of its 600 steps (the same data and model). */
export const QUICK: DeepPartial<RewardCalibrationConfig> = {
  seeds: [0, 1],
  train: { steps: 400 },
};

type DeepPartial<T> = { [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? Partial<T[K]> : T[K] };
export type RewardCalibrationOverrides = DeepPartial<RewardCalibrationConfig>;

const positiveInts = {
  data: ['trainPairs', 'valPairs', 'evalPairs', 'minLen', 'maxLen'],
  model: ['dModel', 'hidden'],
  train: ['steps', 'batchSize', 'evalEvery'],
  calibration: ['meanMinCount'],
} as const;

export function makeConfig(...overrides: RewardCalibrationOverrides[]): RewardCalibrationConfig {
  const c: RewardCalibrationConfig = structuredClone(DEFAULTS);
  for (const o of overrides) {
    const { data, model, train, calibration, ...top } = o;
    Object.assign(c, top);
    Object.assign(c.data, data);
    Object.assign(c.model, model);
    Object.assign(c.train, train);
    Object.assign(c.calibration, calibration);
  }
  const bad = (what: string) => new RangeError(`reward-calibration: ${what}`);
  if (!c.seeds.length) throw bad('at least one seed');
  if (c.lengthUnit !== 'chars' && c.lengthUnit !== 'tokens') throw bad(`lengthUnit must be chars or tokens, got ${c.lengthUnit}`);
  for (const [section, keys] of Object.entries(positiveInts)) {
    for (const k of keys) {
      const v = (c as unknown as Record<string, Record<string, number>>)[section][k];
      if (!Number.isInteger(v) || v < 1) throw bad(`${section}.${k} must be a positive integer, got ${v}`);
    }
  }
  if (c.data.minLen > c.data.maxLen) throw bad(`data.minLen ${c.data.minLen} exceeds data.maxLen ${c.data.maxLen}`);
  const { frac, it, fracSweep } = c.calibration;
  for (const f of [frac, ...fracSweep]) if (!(f > 0 && f <= 1)) throw bad(`LOWESS frac must be in (0, 1], got ${f}`);
  if (!Number.isInteger(it) || it < 0) throw bad(`calibration.it must be an integer >= 0, got ${it}`);
  if (!(c.train.lr > 0)) throw bad(`train.lr must be > 0, got ${c.train.lr}`);
  if (!(c.model.poolScale > 0)) throw bad(`model.poolScale must be > 0, got ${c.model.poolScale}`);
  if (!(c.calibration.meanRatio > 0)) throw bad(`calibration.meanRatio must be > 0, got ${c.calibration.meanRatio}`);
  return c;
}
