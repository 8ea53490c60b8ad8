// Typed configuration of the copy-bias pruning reproduction (spec: methods/copy-bias-pruning.md §3(d)
// beside DESIGN.md). Each seed's ICL model is pretrained on kiln in the run (batches of 32 episodes, RoPE, the lr cut on held-out plateaus and early stopping when a cut does not help; a 1000-step cap) and
// cached as a kiln checkpoint under cacheDir (runs/, not in git), keyed by a hash of its configuration;
// a cached model is reused only when its stored configuration matches, and `retrain` forces training.
// The set sizes are small because every forward is costly on lavapipe (README). QUICK is the test
// preset: one seed, a 200-step model, smaller IG, candidate and task-vector sets, 4 shots only, no curve.

export interface ModelShape {
  dModel: number;
  nLayers: number;
  nHeads: number;
  dFF: number;
  /**
   * Position encoding: 'rotary' (RoPE, relative positions) by default. With learned absolute positions
   * the model must find "the letters since the last comma" by content alone, because the query starts at
   * a different position in every episode; 600 steps left it at held-out loss 1.45–1.59 nats with ICL
   * accuracy falling with shots, while RoPE reached 1.28 nats in 300 steps (README).
   */
  positions: 'learned' | 'rotary';
}

export interface PretrainConfig {
  /** The step cap. */
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  /**
   * After warmup: cosine decay to 0.1x lr at the step cap, constant lr, or 'plateau': constant lr cut by
   * plateauFactor whenever the held-out loss stops improving (nn's ReduceLROnPlateau), so the rate anneals
   * when the loss says so rather than at a fixed cap, and early stopping can end the run.
   */
  schedule: 'cosine' | 'constant' | 'plateau';
  /** 'plateau' only: the factor of each cut, and the checks without improvement it waits for (PyTorch's patience). */
  plateauFactor: number;
  plateauPatience: number;
  /** Held-out checks without improvement before training stops (0: run to the cap); the best check's weights are kept either way. */
  patience: number;
  /** A check improves only when the held-out loss falls by more than this (nats): early stopping's and the plateau cuts' threshold. */
  minDelta: number;
  /**
   * Weight of a LOOKUP episode's query token in the training loss, against 1 for every other label token.
   * A LOOKUP episode trains one token and the others five, so at weight 1 LOOKUP gets ~10 % of the loss.
   */
  lookupLossWeight: number;
  weightDecay: number;
  /** Share of F5 LOOKUP episodes (genuine copying). */
  lookupShare: number;
  /** Share of F6 CONSTANT episodes. */
  constantShare: number;
  /** Held-out query loss and accuracy every this many steps. */
  evalEvery: number;
  /** Held-out episodes (mixed families) for that check. */
  heldout: number;
}

export type PruneScope = 'global' | 'perLayer';

export interface CopyBiasConfig {
  /** Each seed pretrains (or loads) its own model and draws its own probe and evaluation sets. */
  seeds: number[];
  model: ModelShape;
  pretrain: PretrainConfig;
  /** The copy-biased proxy set S_p: 4-shot F1 (vowel count) prompts whose gold label is not a demonstration label. */
  probe: { nIG: number; nDev: number; nTest: number };
  /** Integrated gradients: Riemann steps m (α_s = s/m, s = 1..m) and prompts per batched forward (m × that rows). */
  ig: { steps: number; promptsPerBatch: number };
  /**
   * Candidate prunes (the spec's meta-optimisation): top-k by copying score for each k, across all layers
   * ('global') and within each single layer ('perLayer'); the best proxy-dev accuracy wins (ties: fewer neurons).
   */
  prune: {
    ks: number[];
    scopes: PruneScope[];
    /** Random prunes of the selected size (same per-layer counts) averaged into the control. */
    randomDraws: number;
    /** Also evaluate global top-k and random-k for every k on the proxy test (the accuracy-vs-k plot). */
    curve: boolean;
  };
  /** Transfer evaluation: prompts per (task, shot count). */
  evaluation: { nPerTask: number; shots: number[] };
  /** Task vectors: dummy queries averaged per demonstration set, and dev/test prompts per function (layer chosen on dev). */
  taskVector: { dummyQueries: number; nDev: number; nTest: number };
  /** Output folder of report.json and the plots (CLI). */
  out: string;
  /** Pretrained models are cached as kiln checkpoints `seed<S>-<hash of their configuration>` in this folder. */
  cacheDir: string;
  /** Pretrain even when the cache holds a model of this configuration (and overwrite it). */
  retrain: boolean;
}

export const DEFAULTS: CopyBiasConfig = {
  seeds: [0, 1, 2],
  model: { dModel: 64, nLayers: 3, nHeads: 4, dFF: 256, positions: 'rotary' },
  pretrain: { steps: 1000, batchSize: 32, lr: 3e-3, warmupSteps: 30, schedule: 'plateau', plateauFactor: 0.3, plateauPatience: 0, patience: 2, minDelta: 0.01, lookupLossWeight: 1, weightDecay: 0.01, lookupShare: 0.35, constantShare: 0.05, evalEvery: 50, heldout: 400 },
  probe: { nIG: 24, nDev: 48, nTest: 100 },
  ig: { steps: 16, promptsPerBatch: 24 },
  prune: { ks: [4, 8, 16, 32], scopes: ['global', 'perLayer'], randomDraws: 2, curve: true },
  evaluation: { nPerTask: 40, shots: [1, 2, 4] },
  taskVector: { dummyQueries: 2, nDev: 20, nTest: 40 },
  out: 'runs/copy-bias-pruning',
  cacheDir: 'runs/copy-bias-pruning/models',
  retrain: false,
};

/**
 * The test preset (~2 minutes alone on lavapipe): one seed, a 200-step model (its own cache entry), fewer
 * IG steps and prompts, 2 candidate sizes, one random draw, smaller task-vector sets, 4 shots only, no curve.
 */
export const QUICK: Partial<CopyBiasConfig> = {
  seeds: [0],
  // The settings its test margins were measured with (README): cosine to the 200-step cap at lr 5e-3.
  pretrain: { ...DEFAULTS.pretrain, steps: 200, lr: 5e-3, schedule: 'cosine', patience: 3, minDelta: 0 },
  probe: { nIG: 16, nDev: 32, nTest: 100 },
  ig: { steps: 8, promptsPerBatch: 16 },
  prune: { ...DEFAULTS.prune, ks: [4, 16], randomDraws: 1, curve: false },
  evaluation: { nPerTask: 40, shots: [4] },
  taskVector: { dummyQueries: 2, nDev: 10, nTest: 20 },
};

export function makeConfig(...overrides: Partial<CopyBiasConfig>[]): CopyBiasConfig {
  const c: CopyBiasConfig = structuredClone(DEFAULTS);
  for (const o of overrides) {
    const { model, pretrain, probe, ig, prune, evaluation, taskVector, ...rest } = structuredClone(o);
    Object.assign(c, rest);
    Object.assign(c.model, model);
    Object.assign(c.pretrain, pretrain);
    Object.assign(c.probe, probe);
    Object.assign(c.ig, ig);
    Object.assign(c.prune, prune);
    Object.assign(c.evaluation, evaluation);
    Object.assign(c.taskVector, taskVector);
  }
  const posInt = (what: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`copy-bias-pruning: ${what} must be a positive integer, got ${v}`);
  };
  if (!c.seeds.length) throw new RangeError('copy-bias-pruning: at least one seed');
  if (c.model.dModel % c.model.nHeads !== 0) throw new RangeError(`copy-bias-pruning: dModel ${c.model.dModel} is not divisible by nHeads ${c.model.nHeads}`);
  for (const [k, v] of Object.entries(c.probe)) posInt(`probe.${k}`, v);
  if (!['cosine', 'constant', 'plateau'].includes(c.pretrain.schedule)) throw new RangeError(`copy-bias-pruning: pretrain.schedule must be 'cosine', 'constant' or 'plateau', got ${c.pretrain.schedule}`);
  if (!(c.pretrain.plateauFactor > 0 && c.pretrain.plateauFactor < 1)) throw new RangeError(`copy-bias-pruning: pretrain.plateauFactor must be in (0, 1), got ${c.pretrain.plateauFactor}`);
  if (!(Number.isInteger(c.pretrain.plateauPatience) && c.pretrain.plateauPatience >= 0)) throw new RangeError(`copy-bias-pruning: pretrain.plateauPatience must be a non-negative integer, got ${c.pretrain.plateauPatience}`);
  if (!(c.pretrain.minDelta >= 0)) throw new RangeError(`copy-bias-pruning: pretrain.minDelta must be >= 0, got ${c.pretrain.minDelta}`);
  if (!(c.pretrain.lookupLossWeight > 0)) throw new RangeError(`copy-bias-pruning: pretrain.lookupLossWeight must be > 0, got ${c.pretrain.lookupLossWeight}`);
  if (!(Number.isInteger(c.pretrain.patience) && c.pretrain.patience >= 0)) throw new RangeError(`copy-bias-pruning: pretrain.patience must be a non-negative integer, got ${c.pretrain.patience}`);
  posInt('ig.steps', c.ig.steps);
  posInt('ig.promptsPerBatch', c.ig.promptsPerBatch);
  if (!c.prune.ks.length) throw new RangeError('copy-bias-pruning: prune.ks needs at least one k');
  for (const k of c.prune.ks) {
    posInt('prune.ks', k);
    if (k > c.model.dFF) throw new RangeError(`copy-bias-pruning: k ${k} exceeds the ${c.model.dFF} neurons of one layer`);
  }
  if (!c.prune.scopes.length) throw new RangeError('copy-bias-pruning: prune.scopes needs at least one scope');
  posInt('prune.randomDraws', c.prune.randomDraws);
  for (const s of c.evaluation.shots) if (!(Number.isInteger(s) && s >= 1 && s <= 4)) throw new RangeError(`copy-bias-pruning: shots must be in 1..4, got ${s}`);
  if (!c.evaluation.shots.includes(4)) throw new RangeError('copy-bias-pruning: evaluation.shots must include 4 (the main setting)');
  posInt('evaluation.nPerTask', c.evaluation.nPerTask);
  for (const [k, v] of Object.entries(c.taskVector)) posInt(`taskVector.${k}`, v);
  if (!(c.pretrain.lookupShare >= 0 && c.pretrain.constantShare >= 0 && c.pretrain.lookupShare + c.pretrain.constantShare < 1)) {
    throw new RangeError('copy-bias-pruning: lookupShare + constantShare must be in [0, 1)');
  }
  return c;
}
