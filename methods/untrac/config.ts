// Typed configuration of the UnTrac / UnTrac-Inv reproduction (spec: methods/untrac.md §2d beside
// DESIGN.md). Defaults follow the spec's small config (d 32, 600 steps, batch 16, 32-sequence
// influence samples) over 3 seeds; QUICK is the test preset (fewer steps, two seeds).
import { WORLD_DEFAULTS, type TopicWorldOptions } from './topics.js';

export const ESTIMATORS = ['untracAdam', 'untracSgd', 'untracInv', 'gradDot', 'gradCos', 'tracin'] as const;
export type Estimator = (typeof ESTIMATORS)[number];

export interface UntracConfig {
  /** One full experiment per seed: world, initialisation, batch stream and influence samples. */
  seeds: number[];
  /** The synthetic world (topics.ts); its seed is offset by the run's seed. */
  world: Partial<TopicWorldOptions>;
  model: { dModel: number; nLayers: number; nHeads: number; dFF: number };
  /** θ₀ and the K leave-one-corpus-out retrainings: same initialisation, steps and batch stream. */
  train: {
    steps: number;
    batchSize: number;
    /** Adam (no weight decay), constant. */
    lr: number;
    /** Global gradient-norm clip during training (unlearning never clips). */
    clipGradNorm: number;
    /** TracIn checkpoints, evenly spaced; the last is θ₀. */
    checkpoints: number;
  };
  /** Sequences drawn from each training corpus for UnTrac, GradDot/GradCos/TracIn and UnTrac-Inv's evaluation. */
  influenceSamples: number;
  /** UnTrac: gradient ascent on each corpus sample from θ₀, batch 1, `epochs` passes, no clipping. */
  untrac: { adamLr: number; sgdLr: number; batchSize: number; epochs: number };
  /** UnTrac-Inv: Adam ascent on each whole test set (one batch) for `steps` steps. */
  untracInv: { lr: number; steps: number };
  /** GradCos: the mean cosine over pairs of gradients of mini-batches of this many sequences. */
  gradCosBatch: number;
  /** Also retrain θ₀ with another batch stream (same init): the noise floor of the ground truth. */
  noiseCheck: boolean;
  /** Read the training loss back every this many steps (each read is a GPU sync). */
  logEvery: number;
  /** Output folder of report.json and the plots (CLI). */
  out: string;
}

export const DEFAULTS: UntracConfig = {
  seeds: [0, 1, 2],
  world: {},
  model: { dModel: 32, nLayers: 2, nHeads: 4, dFF: 128 },
  train: { steps: 600, batchSize: 16, lr: 1e-3, clipGradNorm: 1, checkpoints: 5 },
  influenceSamples: 32,
  untrac: { adamLr: 1e-4, sgdLr: 5e-3, batchSize: 1, epochs: 1 },
  untracInv: { lr: 1e-4, steps: 5 },
  gradCosBatch: 8,
  noiseCheck: true,
  logEvery: 200,
  out: 'runs/untrac',
};

/**
 * The test preset (about two minutes): one layer, 120 steps at a 3× higher training lr (so θ₀ still
 * learns the deterministic topic), 16-sequence influence samples, two seeds, no noise check.
 */
export const QUICK: Partial<UntracConfig> = {
  seeds: [0, 1],
  model: { ...DEFAULTS.model, nLayers: 1 },
  train: { ...DEFAULTS.train, steps: 120, lr: 3e-3 },
  influenceSamples: 16,
  noiseCheck: false,
  logEvery: 60,
};

export function makeConfig(...overrides: Partial<UntracConfig>[]): UntracConfig {
  const c: UntracConfig = structuredClone(DEFAULTS);
  for (const o of overrides) {
    Object.assign(c, o, {
      world: { ...c.world, ...o.world }, model: { ...c.model, ...o.model }, train: { ...c.train, ...o.train },
      untrac: { ...c.untrac, ...o.untrac }, untracInv: { ...c.untracInv, ...o.untracInv },
    });
  }
  const posInt = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`untrac: ${what} must be a positive integer, got ${v}`);
  };
  if (!c.seeds.length) throw new RangeError('untrac: at least one seed');
  for (const [k, v] of Object.entries(c.model)) posInt(v, `model.${k}`);
  if (c.model.dModel % c.model.nHeads) throw new RangeError(`untrac: model.dModel ${c.model.dModel} is not divisible by model.nHeads ${c.model.nHeads}`);
  for (const k of ['steps', 'batchSize', 'checkpoints'] as const) posInt(c.train[k], `train.${k}`);
  if (c.train.checkpoints > c.train.steps) throw new RangeError(`untrac: ${c.train.checkpoints} checkpoints exceed ${c.train.steps} steps`);
  posInt(c.influenceSamples, 'influenceSamples');
  posInt(c.untrac.batchSize, 'untrac.batchSize');
  posInt(c.untrac.epochs, 'untrac.epochs');
  posInt(c.untracInv.steps, 'untracInv.steps');
  posInt(c.gradCosBatch, 'gradCosBatch');
  posInt(c.logEvery, 'logEvery');
  if (c.gradCosBatch > c.influenceSamples) throw new RangeError(`untrac: gradCosBatch ${c.gradCosBatch} exceeds influenceSamples ${c.influenceSamples}`);
  const w = { ...WORLD_DEFAULTS, ...c.world };
  if (w.corpus0Weights.length !== w.bases) throw new RangeError(`untrac: world.corpus0Weights has ${w.corpus0Weights.length} weights for ${w.bases} bases`);
  if (c.gradCosBatch > w.testSequences) throw new RangeError(`untrac: gradCosBatch ${c.gradCosBatch} exceeds world.testSequences ${w.testSequences}`);
  return c;
}
