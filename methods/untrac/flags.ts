// `npm run method -- untrac` flags: one row per key of UntracConfig (config.ts), defaults read from
// makeConfig (the world's from WORLD_DEFAULTS, which apply where unset).
import { bool, list, nonNegativeInt as nonNeg, num, positiveInt as pos, positiveNum as positive, seedCount, text, type FlagTable, type MethodFlags } from '../flags.js';
import { QUICK, makeConfig, type UntracConfig } from './config.js';
import { WORLD_DEFAULTS as W } from './topics.js';

export const summary = 'UnTrac / UnTrac-Inv (Isonuma & Titov 2024): training-corpus influence by unlearning vs leave-one-out retraining, against GradDot/GradCos/TracIn';

export const TABLE: FlagTable<UntracConfig> = {
  seeds: { type: seedCount, help: 'seeds 0..N-1 (each: its own world, initialisation, batch stream and samples)' },
  influenceSamples: { type: pos, help: 'sequences sampled from each training corpus for the estimators' },
  gradCosBatch: { type: pos, help: 'GradCos: sequences per mini-batch gradient (mean cosine over all pairs)' },
  noiseCheck: { type: bool, help: 'also retrain θ0 on another batch stream: the noise floor of the ground truth' },
  logEvery: { type: pos, help: 'read the training loss back every this many steps (each read is a GPU sync)' },
  out: { type: text('DIR'), help: 'output folder of report.json and the plots' },

  'model.dModel': { type: pos, help: 'model width' },
  'model.nLayers': { type: pos, help: 'transformer blocks' },
  'model.nHeads': { type: pos, help: 'attention heads' },
  'model.dFF': { type: pos, help: 'FFN hidden width' },

  'train.steps': { type: pos, help: 'steps of θ0 and of each leave-one-out retraining' },
  'train.batchSize': { type: pos, help: 'sequences per training batch (corpora drawn in proportion to size)' },
  'train.lr': { type: positive, help: 'Adam learning rate (constant, no weight decay)' },
  'train.clipGradNorm': { type: positive, help: 'global gradient-norm clip in training' },
  'train.checkpoints': { type: pos, help: 'TracIn checkpoints, evenly spaced (the last is θ0)' },

  'untrac.adamLr': { type: positive, help: 'UnTrac: Adam gradient-ascent learning rate' },
  'untrac.sgdLr': { type: positive, help: 'UnTrac ablation: SGD gradient-ascent learning rate' },
  'untrac.batchSize': { type: pos, help: 'UnTrac: sequences per ascent step' },
  'untrac.epochs': { type: pos, help: 'UnTrac: passes over the corpus sample' },

  'untracInv.lr': { type: positive, help: 'UnTrac-Inv: Adam gradient-ascent learning rate' },
  'untracInv.steps': { type: pos, help: 'UnTrac-Inv: ascent steps on each whole test set' },

  'world.vocab': { type: pos, help: 'ordinary tokens (plus BOS)', fallback: W.vocab },
  'world.seqLen': { type: pos, help: 'tokens per sequence after BOS', fallback: W.seqLen },
  'world.bases': { type: pos, help: 'base Markov chains (topics); base 0 is deterministic; one pure test set each', fallback: W.bases },
  'world.successors': { type: pos, help: 'successors per token in a stochastic base', fallback: W.successors },
  'world.successorAlpha': { type: positive, help: "Dirichlet concentration of a stochastic base's successor weights", fallback: W.successorAlpha },
  'world.startAlpha': { type: positive, help: "Dirichlet concentration of a stochastic base's start distribution", fallback: W.startAlpha },
  'world.corpusShares': { type: list(positive), help: 'size shares of the training corpora (their count is K)', fallback: W.corpusShares },
  'world.trainSequences': { type: pos, help: 'training sequences over all corpora', fallback: W.trainSequences },
  'world.corpus0Weights': { type: list(num({ min: 0 })), help: 'mixture weights of corpus 0 over the bases', fallback: W.corpus0Weights },
  'world.mixtureAlpha': { type: positive, help: "Dirichlet concentration of the other corpora's mixture weights", fallback: W.mixtureAlpha },
  'world.base0Scale': { type: num({ min: 0 }), help: "factor on the other corpora's base-0 weight", fallback: W.base0Scale },
  'world.testSequences': { type: pos, help: 'sequences per test set', fallback: W.testSequences },
  'world.seed': { type: nonNeg, help: "seed of the world (the run's seed is added)", fallback: W.seed },
};

export const FLAGS: MethodFlags<UntracConfig> = {
  name: 'untrac',
  summary,
  table: TABLE,
  defaults: (quick) => makeConfig(quick ? QUICK : {}),
  validate: (c) => makeConfig(c),
  quickHelp: 'the test preset: one layer, 120 steps at lr 3e-3, 16-sequence samples, two seeds, no noise check (about two minutes)',
};
