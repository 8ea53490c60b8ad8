// `npm run method -- reward-calibration` flags: one row per key of RewardCalibrationConfig (config.ts),
// defaults read from makeConfig.
import { int, list, num, oneOf, positiveInt as pos, seedCount, text, type FlagTable, type MethodFlags } from '../flags.js';
import { QUICK, makeConfig, type RewardCalibrationConfig } from './config.js';

const frac = num({ above: 0, max: 1 });

export const summary = 'post-hoc reward calibration of length bias with LOWESS (Huang et al. 2025) on a tiny Bradley-Terry reward model';

export const TABLE: FlagTable<RewardCalibrationConfig> = {
  seeds: { type: seedCount, help: 'seeds 0..N-1 (data, labels and initialisation; one biased and one unbiased reward model each)' },
  lengthUnit: { type: oneOf(['chars', 'tokens'] as const), help: "the length c(x) of the annotator's bias and of the calibration: characters (the paper) or tokens (the spec's prototype)" },
  out: { type: text('DIR'), help: 'output folder of report.json and the plots' },

  'data.trainPairs': { type: pos, help: 'annotated pairs for reward-model training' },
  'data.valPairs': { type: pos, help: 'annotated held-out pairs (validation Bradley-Terry loss)' },
  'data.evalPairs': { type: pos, help: 'evaluation pairs drawn (gold = higher quality), before the filter' },
  'data.minLen': { type: pos, help: 'shortest response (words)' },
  'data.maxLen': { type: pos, help: 'longest response (words)' },
  'data.qualityWeight': { type: num({ min: 0 }), help: 'annotator: weight of the quality difference in the preference logit' },
  'data.lengthWeight': { type: num(), help: 'biased annotator: weight of the log-length difference (the unbiased one uses 0)' },
  'data.minQualityGap': { type: num({ min: 0, max: 1 }), help: 'evaluation pairs need |quality difference| >= this' },

  'model.dModel': { type: pos, help: 'embedding width' },
  'model.hidden': { type: pos, help: 'MLP hidden units' },
  'model.poolScale': { type: num({ above: 0 }), help: 'the summed embeddings are divided by this' },

  'train.steps': { type: pos, help: 'Adam steps' },
  'train.batchSize': { type: pos, help: 'pairs per step' },
  'train.lr': { type: num({ above: 0 }), help: 'Adam learning rate' },
  'train.evalEvery': { type: pos, help: 'validation loss every this many steps' },

  'calibration.frac': { type: frac, help: 'LOWESS frac (official RewardBench 1.0, AlpacaEval 0.3)' },
  'calibration.it': { type: int({ min: 0 }), help: 'LOWESS robustifying iterations' },
  'calibration.lambda': { flag: 'lambda', type: num(), help: 'calibration constant: r - lambda * b(c)' },
  'calibration.meanRatio': { type: num({ above: 0 }), help: 'RC-Mean: window half-width = mean |length difference| / this' },
  'calibration.meanMinCount': { type: pos, help: 'RC-Mean: a pair is calibrated only if both windows hold this many responses' },
  'calibration.penaltyPerChar': { type: num(), help: 'length-penalty baseline: r - this * characters' },
  'calibration.lambdaSweep': { type: list(num(), { min: 0 }), help: 'also report RC-LWR at these lambdas (empty: none)' },
  'calibration.fracSweep': { type: list(frac, { min: 0 }), help: 'also report RC-LWR at these LOWESS fracs (empty: none)' },
};

export const FLAGS: MethodFlags<RewardCalibrationConfig> = {
  name: 'reward-calibration',
  summary,
  table: TABLE,
  defaults: (quick) => makeConfig(quick ? QUICK : {}),
  validate: (c) => makeConfig(c),
  quickHelp: 'the test preset: two seeds, 400 training steps (about a minute)',
};
