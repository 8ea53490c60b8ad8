// `npm run method -- two-tier-selection` flags: one row per key of TwoTierConfig (config.ts), defaults read from makeConfig.
import { bool, int, list, nonNegativeInt as nonNeg, num, positiveInt as pos, positiveNum as rate, seedCount, text, type FlagTable, type MethodFlags } from '../flags.js';
import { QUICK, makeConfig, type TwoTierConfig } from './config.js';

export const summary = 'Margin sampling (Ramírez et al. 2024): escalate the small model\'s lowest-margin queries vs random mixing, a learned scorer and routing';

export const TABLE: FlagTable<TwoTierConfig> = {
  seeds: { type: seedCount, help: 'seeds 0..N-1: each draws its own queries (and trains its own model pair unless --share-models)' },
  out: { type: text('DIR'), help: 'output folder of report.json and the plots' },
  cacheDir: { flag: 'cache', type: text('DIR'), help: 'folder of the cached trained tiers (<name>-<hash of their configuration> inside)' },
  runningSums: { type: bool, help: 'also train each digit position on its running sum mod 10 (the answer is read at "=")' },
  shareModels: { type: bool, help: "one model pair (seed 0's) for every seed's queries" },
  evalEvery: { type: pos, help: 'held-out answer loss and accuracy every this many training steps' },
  heldout: { type: pos, help: 'held-out queries of that check' },
  nQueries: { type: pos, help: 'fresh queries per seed (the first --n-train fit the learned baselines)' },
  nTrain: { type: pos, help: 'queries that train the learned scorer and router (not evaluated)' },
  largeCosts: { type: list(num({ above: 1 }), { min: 0 }), help: 'c_l values of the "fix" cost mode (c_s = 1)' },
  flopCosts: { type: bool, help: 'also the FLOP-proportional mode (c_l / c_s = parameter ratio)' },
  budgetPoints: { type: int({ min: 2 }), help: 'budgets on the grid [c_s, c_l] (AUC)' },
  warmup: { type: nonNeg, help: 'observations before the online threshold is used' },
  marginBins: { type: pos, help: 'equal-count margin bins of the calibration plot' },
  'small.dModel': { type: pos, help: 'small model width' },
  'small.nLayers': { type: pos, help: 'small model blocks' },
  'small.nHeads': { type: pos, help: 'small model attention heads' },
  'small.dFF': { type: pos, help: 'small model MLP width' },
  'small.steps': { type: pos, help: 'small model training steps' },
  'small.batchSize': { type: pos, help: 'small model batch size' },
  'small.lr': { type: rate, help: 'small model AdamW learning rate' },
  'small.warmupSteps': { type: nonNeg, help: 'small model linear warmup steps (then cosine decay)' },
  'large.dModel': { type: pos, help: 'large model width' },
  'large.nLayers': { type: pos, help: 'large model blocks' },
  'large.nHeads': { type: pos, help: 'large model attention heads' },
  'large.dFF': { type: pos, help: 'large model MLP width' },
  'large.steps': { type: pos, help: 'large model training steps' },
  'large.batchSize': { type: pos, help: 'large model batch size' },
  'large.lr': { type: rate, help: 'large model AdamW learning rate' },
  'large.warmupSteps': { type: nonNeg, help: 'large model linear warmup steps (then cosine decay)' },
  'scorer.steps': { type: pos, help: 'logistic-regression steps (full batch) of the scorer and router' },
  'scorer.lr': { type: rate, help: 'their AdamW learning rate' },
  'scorer.weightDecay': { type: num({ min: 0 }), help: 'their AdamW weight decay' },
};

export const FLAGS: MethodFlags<TwoTierConfig> = {
  name: 'two-tier-selection',
  summary,
  table: TABLE,
  defaults: (quick) => makeConfig(quick ? QUICK : {}),
  validate: (c) => makeConfig(c),
  quickHelp: "the test preset: the default configuration's cached seed-0 model pair shared by query seeds 0 and 1",
};
