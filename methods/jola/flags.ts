// `npm run method -- jola` flags: one row per key of JolaConfig (config.ts), defaults read from makeConfig.
import { bool, int, list, nonNegativeInt as nonNeg, num, oneOf, positiveInt as pos, positiveNum as rate, range, seedCount, text, unitInterval as share, type FlagTable, type MethodFlags } from '../flags.js';
import { METHODS, QUICK, makeConfig, type JolaConfig } from './config.js';

const len = range(int({ min: 1, max: 6 }));

export const summary = 'JoLA (Lai et al. 2025): HardConcrete-gated per-head edits vs full fine-tuning, LoRA and LoFIT with few examples';

export const TABLE: FlagTable<JolaConfig> = {
  methods: { type: list(oneOf(METHODS)), help: 'adaptation methods to run and compare' },
  seeds: { type: seedCount, help: 'adaptation seeds 0..N-1 (each method is fitted once per seed and N)' },
  ns: { type: list(pos), help: 'training-set sizes N' },
  out: { type: text('DIR'), help: 'output folder of report.json and the plots' },
  cacheDir: { flag: 'cache', type: text('DIR'), help: 'folder of the cached pretrained base model (base-<hash of its configuration> inside)' },
  distinctSymbols: { type: bool, help: 'inputs never repeat a symbol (pretraining and downstream)' },

  'model.dModel': { type: pos, help: 'model width (must be divisible by the heads); changes the base model' },
  'model.nLayers': { type: pos, help: 'transformer blocks; changes the base model' },
  'model.nHeads': { type: pos, help: 'attention heads per block; changes the base model' },
  'model.dFF': { type: pos, help: 'MLP hidden width; changes the base model' },

  'pretrain.batchSize': { type: pos, help: 'pretraining batch size' },
  'pretrain.maxSteps': { type: pos, help: 'upper bound on pretraining steps (stops earlier at the target accuracy)' },
  'pretrain.lr': { type: rate, help: 'pretraining learning rate' },
  'pretrain.warmupSteps': { type: nonNeg, help: 'pretraining linear warmup steps' },
  'pretrain.weightDecay': { type: num({ min: 0 }), help: 'pretraining AdamW weight decay' },
  'pretrain.untagged': { type: share, help: 'share of untagged pretraining sequences (random task, NOTASK tag)' },
  'pretrain.targetAccuracy': { type: share, help: 'held-out exact match per tagged task that stops pretraining' },
  'pretrain.evalEvery': { type: pos, help: 'check the held-out exact match every this many steps' },
  'pretrain.evalPerTask': { type: pos, help: 'held-out examples per task for that check' },
  'pretrain.seed': { type: nonNeg, help: "seed of the base model's initialisation and data" },

  'downstream.trainSymbols': { type: int({ min: 1, max: 16 }), help: 'train and dev inputs use this many of the 16 symbols' },
  'downstream.trainLen': { type: len, help: 'train and dev input lengths (inclusive, within 1..6)' },
  'downstream.testLen': { type: len, help: 'test input lengths (inclusive, within 1..6)' },
  'downstream.nDev': { type: pos, help: 'dev examples (early stopping)' },
  'downstream.nTest': { type: pos, help: 'test examples (the reported exact match)' },

  'adapt.batchSize': { type: pos, help: 'adaptation batch size (every method)' },
  'adapt.epochs': { type: pos, help: 'maximum epochs (dev evaluations)' },
  'adapt.maxSteps': { type: pos, help: 'cap on optimizer steps per fit' },
  'adapt.minStepsPerEpoch': { type: pos, help: 'at least this many batches between dev evaluations' },
  'adapt.patience': { type: pos, help: 'evaluations without dev-loss improvement before stopping' },
  'adapt.warmupFraction': { type: share, help: 'linear warmup as a share of the maximum steps, then cosine decay' },
  'adapt.clipGradNorm': { type: rate, help: 'gradient-norm clip' },

  'fullFinetune.lr': { type: rate, help: 'full fine-tuning learning rate' },
  'fullFinetune.weightDecay': { type: num({ min: 0 }), help: 'full fine-tuning weight decay' },

  'lora.rank': { type: pos, help: 'LoRA rank' },
  'lora.alpha': { type: num({ above: 0 }), help: 'LoRA alpha (scale alpha / rank)' },
  'lora.lr': { type: rate, help: 'LoRA learning rate' },
  'lora.targets': { type: list(text('NAME')), help: 'Linear submodules LoRA adapts (by name or name suffix)' },

  'lofit.lr': { type: rate, help: 'LoFIT learning rate (both stages)' },
  'lofit.l1': { type: num({ min: 0 }), help: 'LoFIT stage-1 L1 penalty on the head scalings' },
  'lofit.topFraction': { type: num({ above: 0, max: 1 }), help: 'share of heads LoFIT keeps for stage 2 (top by |m|)' },

  'jola.lr': { type: rate, help: 'JoLA learning rate' },
  'jola.gateLrMultiplier': { type: rate, help: 'the log alpha (gate) learning rate as a multiple of the JoLA lr' },
  'jola.lambda': { flag: 'lambda', type: num({ min: 0 }), help: 'lambda on the mean gate-open probability P(g != 0)' },
  'jola.initStd': { type: num({ min: 0 }), help: 'std of the initial JoLA edits' },
};

export const FLAGS: MethodFlags<JolaConfig> = {
  name: 'jola',
  summary,
  table: TABLE,
  defaults: (quick) => makeConfig(quick ? QUICK : {}),
  validate: (c) => makeConfig(c),
  quickHelp: 'the test preset: the same base model, N = 32 only, two seeds, 200 test examples (< 1 minute for zero-shot and JoLA)',
};
