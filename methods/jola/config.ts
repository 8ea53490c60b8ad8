// Typed configuration of the JoLA reproduction (spec: methods/jola.md §2(d) beside DESIGN.md).
// Adaptation runs end by early stopping far below the caps (full fine-tuning at N ≥ 32 excepted; README); the base model's
// pretraining (~9 minutes) runs once and is cached as a checkpoint (methods/jola/base/ ships the one of
// the default configuration). QUICK is the test preset: the same base, N = 32, two seeds (< 1 minute
// for zero-shot and JoLA).

export const METHODS = ['zeroShot', 'fullFinetune', 'lora', 'lofit', 'jola', 'jolaNoGates', 'jolaAdditive', 'jolaMultiplicative'] as const;
export type MethodName = (typeof METHODS)[number];

export interface ModelShape {
  dModel: number;
  nLayers: number;
  nHeads: number;
  dFF: number;
}

export interface PretrainConfig {
  batchSize: number;
  /** Upper bound on steps; training stops earlier once every tagged task reaches `targetAccuracy`. */
  maxSteps: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  /** Share of untagged sequences (random task, NOTASK tag). */
  untagged: number;
  /** Exact match per tagged task (greedy, held-out) required to stop. */
  targetAccuracy: number;
  /** Check the held-out exact match every this many steps. */
  evalEvery: number;
  /** Held-out examples per task for that check. */
  evalPerTask: number;
  /** Seed of the base model's initialisation and data (the same base for every adaptation seed). */
  seed: number;
}

/** Shared by every adaptation method: batches, epochs, early stopping. */
export interface AdaptConfig {
  batchSize: number;
  /** Maximum epochs (dev evaluations). */
  epochs: number;
  /** Cap on optimizer steps per fit (fewer epochs for large N): keeps the default run within minutes. */
  maxSteps: number;
  /**
   * Optimizer steps between dev evaluations: one pass over the N examples, but at least this many
   * batches (examples cycled), so the smallest N are not limited to a handful of updates.
   */
  minStepsPerEpoch: number;
  /** Evaluations without dev-loss improvement before stopping; the best state is restored. */
  patience: number;
  /** Linear warmup as a share of the maximum steps, then cosine decay to 0 (HF's schedule). */
  warmupFraction: number;
  clipGradNorm: number;
}

export interface JolaConfig {
  methods: MethodName[];
  seeds: number[];
  /** Training-set sizes N. */
  ns: number[];
  model: ModelShape;
  /** Inputs never repeat a symbol (pretraining and downstream; see README: SORT with repeats is slow to learn at this size). */
  distinctSymbols: boolean;
  pretrain: PretrainConfig;
  downstream: {
    /** Train and dev inputs use this many of the 16 symbols (the first ones of a seeded permutation). */
    trainSymbols: number;
    trainLen: [number, number];
    testLen: [number, number];
    nDev: number;
    nTest: number;
  };
  adapt: AdaptConfig;
  fullFinetune: { lr: number; weightDecay: number };
  lora: { rank: number; alpha: number; lr: number; targets: string[] };
  /** LoFIT-style: stage 1 scalings with an L1 penalty, keep the top `topFraction` heads by ‖m‖, stage 2 offsets on them. */
  lofit: { lr: number; l1: number; topFraction: number };
  jola: {
    lr: number;
    /** The log α learning rate as a multiple of lr (see README: the gates need to travel ~1–2 in log α within a few dozen steps). */
    gateLrMultiplier: number;
    /** λ on the mean over all gates of P(g ≠ 0) (the spec's clean penalty, constant). */
    lambda: number;
    initStd: number;
  };
  /** Output folder of report.json and the plots (CLI). */
  out: string;
  /** Where the pretrained base model is cached: a checkpoint folder `base-<hash of its configuration>` inside. */
  cacheDir: string;
}

export const DEFAULTS: JolaConfig = {
  methods: [...METHODS],
  seeds: [0, 1, 2],
  ns: [8, 16, 32, 128],
  model: { dModel: 64, nLayers: 3, nHeads: 4, dFF: 128 },
  distinctSymbols: true,
  pretrain: {
    batchSize: 32,
    maxSteps: 3000,
    lr: 3e-3,
    warmupSteps: 50,
    weightDecay: 0.01,
    untagged: 0.1,
    targetAccuracy: 0.95,
    evalEvery: 100,
    evalPerTask: 100,
    seed: 0,
  },
  // Test on the training lengths with all 16 symbols: lengths 5–6 scored ≈ 0 for every method (a
  // ceiling of ~50 %), so the symbol shift alone is tested; `--downstream-test-len=3,6` restores them.
  downstream: { trainSymbols: 8, trainLen: [3, 4], testLen: [3, 4], nDev: 32, nTest: 500 },
  // The caps are far above where early stopping (patience 2 on the dev loss) ends the runs.
  adapt: { batchSize: 8, epochs: 60, maxSteps: 960, minStepsPerEpoch: 4, patience: 2, warmupFraction: 0.1, clipGradNorm: 1 },
  fullFinetune: { lr: 1e-3, weightDecay: 0 },
  lora: { rank: 4, alpha: 4, lr: 2e-2, targets: ['qProj', 'vProj'] },
  lofit: { lr: 5e-2, l1: 1e-3, topFraction: 0.25 },
  jola: { lr: 5e-2, gateLrMultiplier: 3, lambda: 0.3, initStd: 1e-3 },
  out: 'runs/jola',
  cacheDir: 'methods/jola/base',
};

/** The test preset: the default base model, N = 32 only, two seeds, 200 test examples. */
export const QUICK: Partial<JolaConfig> = {
  seeds: [0, 1],
  ns: [32],
  downstream: { ...DEFAULTS.downstream, nTest: 200 },
};

export function makeConfig(...overrides: Partial<JolaConfig>[]): JolaConfig {
  const c: JolaConfig = structuredClone(DEFAULTS);
  for (const o of overrides) {
    const { model, pretrain, downstream, adapt, fullFinetune, lora, lofit, jola, ...rest } = o;
    Object.assign(c, structuredClone(rest));
    Object.assign(c.model, model);
    Object.assign(c.pretrain, pretrain);
    Object.assign(c.downstream, downstream);
    Object.assign(c.adapt, adapt);
    Object.assign(c.fullFinetune, fullFinetune);
    Object.assign(c.lora, lora);
    Object.assign(c.lofit, lofit);
    Object.assign(c.jola, jola);
  }
  for (const m of c.methods) if (!METHODS.includes(m)) throw new RangeError(`jola: unknown method ${m} (methods: ${METHODS.join(', ')})`);
  if (!c.seeds.length) throw new RangeError('jola: at least one seed');
  for (const n of c.ns) if (!Number.isInteger(n) || n < 1) throw new RangeError(`jola: N must be a positive integer, got ${n}`);
  for (const k of ['batchSize', 'epochs', 'maxSteps', 'minStepsPerEpoch', 'patience'] as const) {
    if (!Number.isInteger(c.adapt[k]) || c.adapt[k] < 1) throw new RangeError(`jola: adapt.${k} must be a positive integer, got ${c.adapt[k]}`);
  }
  if (c.model.dModel % c.model.nHeads !== 0) throw new RangeError(`jola: dModel ${c.model.dModel} is not divisible by nHeads ${c.model.nHeads}`);
  const [lo, hi] = c.downstream.testLen;
  if (lo < 1 || hi > 6 || c.downstream.trainLen[0] < 1 || c.downstream.trainLen[1] > 6) throw new RangeError('jola: input lengths must lie in 1..6');
  if (!(c.downstream.trainSymbols >= 1 && c.downstream.trainSymbols <= 16)) throw new RangeError('jola: trainSymbols must be in 1..16');
  if (!(c.jola.lambda >= 0)) throw new RangeError(`jola: lambda must be >= 0, got ${c.jola.lambda}`);
  return c;
}
