// Typed configuration of the margin-sampling reproduction (spec: methods/two-tier-selection.md §4(d)
// beside DESIGN.md). Defaults: a model pair trained per seed (~2–4 min each on a 2-core lavapipe
// machine, cached as checkpoints), 6,000 fresh queries per seed. QUICK is the test preset: the cached
// seed-0 pair of the default configuration shared by two query seeds (well under a minute).

export interface ModelSpec {
  dModel: number;
  nLayers: number;
  nHeads: number;
  dFF: number;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
}

export interface TwoTierConfig {
  /** Seeds: each draws its own queries (and, unless shareModels, trains its own model pair). */
  seeds: number[];
  small: ModelSpec;
  large: ModelSpec;
  /** Train every digit position on its running sum mod 10 too (denser supervision; the answer is still read at '='). */
  runningSums: boolean;
  /** Train one model pair (with seed 0's initialisation and data) and evaluate every seed's queries on it. */
  shareModels: boolean;
  /** Held-out answer loss and accuracy every this many training steps (on `heldout` queries). */
  evalEvery: number;
  heldout: number;
  /** Fresh queries per seed: the first `nTrain` fit the learned baselines, the rest are the evaluated stream. */
  nQueries: number;
  nTrain: number;
  /** c_l values of the "fix" cost mode (c_s = 1). */
  largeCosts: number[];
  /** Also the FLOP-proportional mode: c_s = 1, c_l = large parameters / small parameters. */
  flopCosts: boolean;
  /** Budgets on the grid in [c_s, c_l]. */
  budgetPoints: number;
  /** Observations before the online threshold is used. */
  warmup: number;
  /** Logistic regression of the learned scorer and router (kiln Linear + BCE-with-logits, AdamW, full batch). */
  scorer: { steps: number; lr: number; weightDecay: number };
  /** Equal-count margin bins of the calibration plot. */
  marginBins: number;
  out: string;
  /** Trained tiers are cached as kiln checkpoints in this folder (methods/two-tier-selection/models ships seed 0's pair of the default configuration). */
  cacheDir: string;
}

export const DEFAULTS: TwoTierConfig = {
  seeds: [0, 1, 2],
  small: { dModel: 32, nLayers: 1, nHeads: 2, dFF: 128, steps: 250, batchSize: 64, lr: 1e-2, warmupSteps: 25 },
  large: { dModel: 64, nLayers: 2, nHeads: 4, dFF: 256, steps: 700, batchSize: 64, lr: 5e-3, warmupSteps: 50 },
  runningSums: true,
  shareModels: false,
  evalEvery: 50,
  heldout: 600,
  nQueries: 6000,
  nTrain: 1000,
  largeCosts: [5, 10, 50],
  flopCosts: true,
  budgetPoints: 100,
  warmup: 20,
  scorer: { steps: 300, lr: 0.05, weightDecay: 0 },
  marginBins: 10,
  out: 'runs/two-tier-selection',
  cacheDir: 'methods/two-tier-selection/models',
};

/** The test preset: the default configuration's seed-0 model pair (shipped in the cache) shared by query seeds 0 and 1. */
export const QUICK: Partial<TwoTierConfig> = {
  seeds: [0, 1],
  shareModels: true,
};

export function makeConfig(...overrides: Partial<TwoTierConfig>[]): TwoTierConfig {
  const c: TwoTierConfig = structuredClone(DEFAULTS);
  for (const o of overrides) {
    const { small, large, scorer, ...rest } = o;
    Object.assign(c, structuredClone(rest));
    Object.assign(c.small, small);
    Object.assign(c.large, large);
    Object.assign(c.scorer, scorer);
  }
  if (!c.seeds.length) throw new RangeError('two-tier-selection: at least one seed');
  for (const [name, m] of [['small', c.small], ['large', c.large]] as const) {
    for (const k of ['dModel', 'nLayers', 'nHeads', 'dFF', 'steps', 'batchSize'] as const) {
      if (!Number.isInteger(m[k]) || m[k] < 1) throw new RangeError(`two-tier-selection: ${name}.${k} must be a positive integer, got ${m[k]}`);
    }
    if (m.dModel % m.nHeads !== 0) throw new RangeError(`two-tier-selection: ${name}.dModel ${m.dModel} is not divisible by ${name}.nHeads ${m.nHeads}`);
  }
  if (!(c.nTrain >= 1 && c.nQueries - c.nTrain >= 2 * c.marginBins && c.nQueries - c.nTrain > c.warmup)) {
    throw new RangeError(`two-tier-selection: nTrain (${c.nTrain}) must be >= 1 and leave more than warmup (${c.warmup}) and 2·marginBins evaluated queries of nQueries (${c.nQueries})`);
  }
  for (const cl of c.largeCosts) if (!(cl > 1)) throw new RangeError(`two-tier-selection: every large cost must exceed c_s = 1, got ${cl}`);
  if (!c.largeCosts.length && !c.flopCosts) throw new RangeError('two-tier-selection: no cost setting (give largeCosts or flopCosts)');
  if (!(Number.isInteger(c.budgetPoints) && c.budgetPoints >= 2)) throw new RangeError(`two-tier-selection: budgetPoints must be an integer >= 2, got ${c.budgetPoints}`);
  return c;
}
