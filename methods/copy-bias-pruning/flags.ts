// `npm run method -- copy-bias-pruning` flags: one row per key of CopyBiasConfig (config.ts), defaults read from makeConfig.
import { bool, int, list, nonNegativeInt as nonNeg, num, oneOf, positiveInt as pos, seedCount, text, unitInterval as share, type FlagTable, type MethodFlags } from '../flags.js';
import { QUICK, makeConfig, type CopyBiasConfig } from './config.js';

export const summary = 'copy-bias pruning (Ali, Wolf, Titov): integrated-gradient copying neurons pruned in a tiny ICL model, vs random prunes; task vectors';

export const TABLE: FlagTable<CopyBiasConfig> = {
  seeds: { type: seedCount, help: 'seeds 0..N-1 (each pretrains or loads its own model and draws its own prompts)' },
  out: { type: text('DIR'), help: 'output folder of report.json and the plots' },
  cacheDir: { flag: 'cache', type: text('DIR'), help: 'folder of the cached pretrained models (seed<S>-<hash of their configuration> inside; a model is reused only when its stored configuration matches)' },
  retrain: { type: bool, help: 'pretrain even when the cache holds a model of this configuration' },

  'model.dModel': { type: pos, help: 'model width (must be divisible by the heads); changes the models' },
  'model.nLayers': { type: pos, help: 'transformer blocks; changes the models' },
  'model.nHeads': { type: pos, help: 'attention heads per block; changes the models' },
  'model.dFF': { type: pos, help: 'FFN width (neurons per layer); changes the models' },
  'model.positions': { type: oneOf(['learned', 'rotary'] as const), help: 'position encoding: rotary (RoPE) or learned absolute; changes the models' },

  'pretrain.steps': { type: pos, help: 'pretraining step cap' },
  'pretrain.batchSize': { type: pos, help: 'pretraining batch size (episodes)' },
  'pretrain.lr': { type: num({ above: 0 }), help: 'pretraining peak learning rate (AdamW)' },
  'pretrain.warmupSteps': { type: nonNeg, help: 'pretraining linear warmup steps' },
  'pretrain.schedule': { type: oneOf(['cosine', 'constant', 'plateau'] as const), help: 'after warmup: cosine decay to 0.1x lr at the step cap, constant lr, or constant lr cut on held-out plateaus (ReduceLROnPlateau)' },
  'pretrain.plateauFactor': { type: num({ above: 0 }), help: 'plateau schedule: factor of each lr cut (in (0, 1))' },
  'pretrain.plateauPatience': { type: nonNeg, help: 'plateau schedule: held-out checks without improvement before a cut (PyTorch patience)' },
  'pretrain.patience': { type: nonNeg, help: 'held-out checks without improvement before pretraining stops (0: run to the cap); the best check\'s weights are kept' },
  'pretrain.minDelta': { type: num({ min: 0 }), help: 'a held-out check improves only by more than this many nats (early stopping and plateau cuts)' },
  'pretrain.lookupLossWeight': { type: num({ above: 0 }), help: 'training-loss weight of a LOOKUP query token (other label tokens: 1)' },
  'pretrain.weightDecay': { type: num({ min: 0 }), help: 'pretraining AdamW weight decay' },
  'pretrain.lookupShare': { type: share, help: 'share of F5 LOOKUP episodes (copying is right)' },
  'pretrain.constantShare': { type: share, help: 'share of F6 CONSTANT episodes' },
  'pretrain.evalEvery': { type: pos, help: 'held-out check every this many steps' },
  'pretrain.heldout': { type: pos, help: 'held-out episodes of that check' },

  'probe.nIG': { type: pos, help: 'proxy prompts (4-shot vowel count, gold not a demo label) for integrated gradients' },
  'probe.nDev': { type: pos, help: 'proxy prompts choosing the prune (meta-optimisation)' },
  'probe.nTest': { type: pos, help: 'proxy test prompts (the reported proxy accuracy and copy rate)' },

  'ig.steps': { type: pos, help: 'integrated-gradient Riemann steps m (alpha = s/m, s = 1..m)' },
  'ig.promptsPerBatch': { type: pos, help: 'prompts per IG forward (m x that rows)' },

  'prune.ks': { type: list(pos), help: 'candidate numbers of pruned neurons k' },
  'prune.scopes': { type: list(oneOf(['global', 'perLayer'] as const)), help: 'candidate scopes: top-k across layers, top-k within one layer' },
  'prune.randomDraws': { type: pos, help: 'random prunes (same per-layer counts) averaged into the control' },
  'prune.curve': { type: bool, help: 'also evaluate global top-k and random-k for every k on the proxy test (the accuracy-vs-k plot)' },

  'evaluation.nPerTask': { type: pos, help: 'prompts per transfer task and shot count' },
  'evaluation.shots': { type: list(int({ min: 1, max: 4 })), help: 'shot counts evaluated (must include 4)' },

  'taskVector.dummyQueries': { type: pos, help: 'dummy queries averaged into each task vector' },
  'taskVector.nDev': { type: pos, help: 'task-vector dev prompts per function (choose the layer)' },
  'taskVector.nTest': { type: pos, help: 'task-vector test prompts per function' },
};

export const FLAGS: MethodFlags<CopyBiasConfig> = {
  name: 'copy-bias-pruning',
  summary,
  table: TABLE,
  defaults: (quick) => makeConfig(quick ? QUICK : {}),
  validate: (c) => makeConfig(c),
  quickHelp: 'the test preset: one seed, a 200-step model, IG m = 8 on 16 prompts, k in 4/16, one random draw, small task-vector sets, 4 shots only, no accuracy-vs-k curve',
};
