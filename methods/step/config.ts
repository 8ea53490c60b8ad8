// Typed configuration of the STEP reproduction (spec 4d, scaled down for lavapipe: see README).
// DEFAULTS is the `npm run method -- step` run (3 seeds, sized for ~20 minutes alone on 2 cores);
// QUICK is the test preset (about a minute and a half).
import type { PositionKind } from '../../nn/index.js';
import type { GrammarOptions } from './trees.js';
import { TASKS, type PretrainArm, type TaskName } from './tasks.js';

export const PRETRAIN_ARMS: readonly PretrainArm[] = ['step', 'reconstruction', 'simpleStep'];

export interface StepConfig {
  seeds: number[];
  /** Intermediate pre-training arms (every one gets the same steps on the same sentences); 'baseline' (none) always runs. */
  arms: PretrainArm[];
  tasks: TaskName[];
  /** Few-shot training-set sizes (each a prefix of the largest). */
  nValues: number[];
  model: { dModel: number; nHeads: number; dFF: number; nEncoderLayers: number; nDecoderLayers: number; positions: PositionKind; sharedEmbeddings: boolean };
  grammar: Partial<GrammarOptions>;
  pretrain: {
    /** Distinct training sentences (one transformation each). */
    sentences: number;
    steps: number;
    batch: number;
    /** Peak lr, held constant after the warmup until the plateau cuts it. */
    lr: number;
    warmupSteps: number;
    /** ReduceLROnPlateau on the dev loss: multiply the lr by this after `plateauPatience` evaluations without improvement. */
    plateauFactor: number;
    plateauPatience: number;
    /** Absent labels added to each STEP description (0..this many). */
    maxDistractors: number;
    /** Unseen-sentence dev set (loss, exact match, attention analysis). */
    devSentences: number;
    /** Read the training loss back every this many steps. */
    logEvery: number;
    /** Teacher-forced dev loss every this many steps (the dev curve and its best step). */
    evalEvery: number;
    /** Early stopping: stop after this many evaluations without a dev-loss improvement of more than minDelta; the best step's weights are kept. */
    patience: number;
    minDelta: number;
    weightDecay: number;
    /** Length bucketing: batches are cut from pools of this many batches sorted by target length (< 2: off). */
    bucket: number;
  };
  finetune: {
    steps: number;
    batch: number;
    lr: number;
    /** Learning rate of STEP's tunable prefix (the spec: ~10× the model's with Adam). */
    prefixLr: number;
    /** Test sentences per task (in-distribution) and for the structural-generalisation split. */
    testSize: number;
    generalisationSize: number;
    /** Fine-tuning sentences have at most this nmod depth; the generalisation split has exactly one more. */
    trainMaxDepth: number;
  };
  /** Longest target (EOS included) kept, as the original's 180-sub-token cap. */
  maxTgt: number;
  /** Head ablation: mask this many top look-up heads (vs as many random heads, over `randomDraws`). */
  ablation: { heads: number; randomDraws: number; devExamples: number };
  /** Output folder of report.json and the plots (CLI). */
  out: string;
  /** CLI only: merge the report.json files in these folders (runs of other seeds, same configuration) into one report in `out` instead of running. */
  merge: string[];
}

export const DEFAULTS: StepConfig = {
  seeds: [0, 1, 2],
  arms: ['step', 'reconstruction'],
  tasks: [...TASKS],
  nValues: [100],
  model: { dModel: 64, nHeads: 4, dFF: 128, nEncoderLayers: 2, nDecoderLayers: 2, positions: 'rotary', sharedEmbeddings: true },
  grammar: { maxWords: 16 },
  pretrain: { sentences: 3000, steps: 350, batch: 32, lr: 5e-3, warmupSteps: 40, plateauFactor: 0.3, plateauPatience: 1, maxDistractors: 2, devSentences: 150, logEvery: 50, evalEvery: 50, patience: 3, minDelta: 0.002, weightDecay: 0, bucket: 0 },
  finetune: { steps: 100, batch: 16, lr: 1e-3, prefixLr: 1e-2, testSize: 150, generalisationSize: 100, trainMaxDepth: 1 },
  maxTgt: 32,
  ablation: { heads: 2, randomDraws: 4, devExamples: 100 },
  out: 'runs/step',
  merge: [],
};

/**
 * The test preset: one seed, a quarter of the pre-training, passivization at N = 100 only, small
 * evaluation sets. Sized for the test suite (~1-2 minutes alone on lavapipe), not to reproduce the claim.
 */
export const QUICK: Partial<StepConfig> = {
  seeds: [0],
  nValues: [100],
  tasks: ['passivization'],
  pretrain: { ...DEFAULTS.pretrain, steps: 150, batch: 16, sentences: 3000, devSentences: 60, logEvery: 50, evalEvery: 50 },
  finetune: { ...DEFAULTS.finetune, steps: 40, testSize: 60, generalisationSize: 30 },
  ablation: { heads: 2, randomDraws: 2, devExamples: 40 },
};

export function makeConfig(...overrides: Partial<StepConfig>[]): StepConfig {
  const c: StepConfig = { ...DEFAULTS };
  for (const o of overrides) {
    Object.assign(c, o, {
      model: { ...c.model, ...o.model },
      grammar: { ...c.grammar, ...o.grammar },
      pretrain: { ...c.pretrain, ...o.pretrain },
      finetune: { ...c.finetune, ...o.finetune },
      ablation: { ...c.ablation, ...o.ablation },
    });
  }
  if (!c.seeds.length) throw new RangeError('step: at least one seed');
  for (const a of c.arms) if (!PRETRAIN_ARMS.includes(a)) throw new RangeError(`step: unknown arm ${a} (arms: ${PRETRAIN_ARMS.join(', ')})`);
  for (const t of c.tasks) if (!TASKS.includes(t)) throw new RangeError(`step: unknown task ${t} (tasks: ${TASKS.join(', ')})`);
  if (!c.nValues.length || c.nValues.some((n) => !Number.isInteger(n) || n < 1)) throw new RangeError(`step: nValues must be positive integers, got ${c.nValues.join(',')}`);
  const pos = { ...c.pretrain, ...c.finetune, ...c.model, maxTgt: c.maxTgt };
  for (const k of ['sentences', 'steps', 'batch', 'devSentences', 'logEvery', 'evalEvery', 'testSize', 'generalisationSize', 'dModel', 'nHeads', 'dFF', 'nEncoderLayers', 'nDecoderLayers', 'maxTgt'] as const) {
    if (!Number.isInteger(pos[k]) || pos[k] < 1) throw new RangeError(`step: ${k} must be a positive integer, got ${pos[k]}`);
  }
  if (!(c.pretrain.plateauFactor > 0 && c.pretrain.plateauFactor < 1)) throw new RangeError(`step: pretrain.plateauFactor must be in (0, 1), got ${c.pretrain.plateauFactor}`);
  if (!Number.isInteger(c.pretrain.plateauPatience) || c.pretrain.plateauPatience < 0) throw new RangeError(`step: pretrain.plateauPatience must be a non-negative integer, got ${c.pretrain.plateauPatience}`);
  if (!(c.pretrain.weightDecay >= 0)) throw new RangeError(`step: pretrain.weightDecay must be >= 0, got ${c.pretrain.weightDecay}`);
  if (c.model.dModel % c.model.nHeads !== 0) throw new RangeError(`step: dModel ${c.model.dModel} is not divisible by nHeads ${c.model.nHeads}`);
  if (c.ablation.heads > c.model.nHeads * c.model.nEncoderLayers) throw new RangeError(`step: ablation.heads ${c.ablation.heads} exceeds the encoder's ${c.model.nHeads * c.model.nEncoderLayers} heads`);
  return c;
}
