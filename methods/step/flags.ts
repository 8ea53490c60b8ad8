// `npm run method -- step` flags: one row per key of StepConfig (config.ts), defaults read from makeConfig
// (the grammar's from GRAMMAR_DEFAULTS, which apply where unset).
import { bool, list, num, nonNegativeInt as nonNeg, oneOf, positiveInt as pos, positiveNum as rate, seedList, text, unitInterval as share, type FlagTable, type MethodFlags } from '../flags.js';
import { PRETRAIN_ARMS, QUICK, makeConfig, type StepConfig } from './config.js';
import { TASKS } from './tasks.js';
import { GRAMMAR_DEFAULTS as G } from './trees.js';

export const summary = 'STEP (Lindemann et al. 2024): pre-training on described syntactic transformations, then few-shot syntactic tasks and structural generalisation';

export const TABLE: FlagTable<StepConfig> = {
  seeds: { type: seedList, help: 'seeds 0..N-1, A-B or a list A,B (each pre-trains every arm and fine-tunes every model)' },
  arms: { type: list(oneOf(PRETRAIN_ARMS)), help: "intermediate pre-training arms (the no-pre-training baseline always runs)" },
  tasks: { type: list(oneOf(TASKS)), help: 'downstream few-shot tasks' },
  nValues: { flag: 'n', type: list(pos), help: 'few-shot training-set sizes N' },
  out: { type: text('DIR'), help: 'output folder of report.json and the plots' },
  merge: { type: list(text('DIR'), { min: 0 }), help: 'instead of running: merge the report.json of these folders (runs of other seeds, same configuration) into one report in --out' },
  maxTgt: { type: pos, help: 'longest target kept (EOS included); also the decoding length' },

  'model.dModel': { type: pos, help: 'model width' },
  'model.nHeads': { type: pos, help: 'attention heads' },
  'model.dFF': { type: pos, help: 'feed-forward width' },
  'model.nEncoderLayers': { type: pos, help: 'encoder blocks' },
  'model.nDecoderLayers': { type: pos, help: 'decoder blocks' },
  'model.sharedEmbeddings': { type: bool, help: 'one token embedding for the encoder and decoder inputs (as T5 and the spec prototype); the output head is tied to it' },
  'model.positions': { type: oneOf(['learned', 'rotary'] as const), help: "positions of the encoder's sentence tokens and the decoder: learned absolute embeddings or rotary (RoPE) in every attention" },

  'grammar.maxNmodDepth': { type: nonNeg, help: 'nested nmod PPs allowed below an NP', fallback: G.maxNmodDepth },
  'grammar.maxWords': { type: pos, help: 'longest sentence (longer draws are rejected)', fallback: G.maxWords },
  'grammar.pTransitive': { type: share, help: 'probability of a transitive verb', fallback: G.pTransitive },
  'grammar.pObl': { type: share, help: 'probability of an obl PP on the verb', fallback: G.pObl },
  'grammar.pAdj': { type: share, help: 'probability of an adjective in an NP', fallback: G.pAdj },
  'grammar.pNmod': { type: share, help: 'probability of an nmod PP on an NP (below the depth cap)', fallback: G.pNmod },

  'pretrain.sentences': { type: pos, help: 'distinct pre-training sentences (one transformation each)' },
  'pretrain.steps': { type: pos, help: 'pre-training steps per arm' },
  'pretrain.batch': { type: pos, help: 'pre-training batch size' },
  'pretrain.lr': { type: rate, help: 'Adam learning rate of pre-training (linear warmup, then constant until the plateau cuts it)' },
  'pretrain.warmupSteps': { type: nonNeg, help: 'linear warmup steps' },
  'pretrain.plateauFactor': { type: share, help: 'ReduceLROnPlateau on the dev loss: factor of each lr cut' },
  'pretrain.plateauPatience': { type: nonNeg, help: 'ReduceLROnPlateau: evaluations without a dev-loss improvement before the lr is cut' },
  'pretrain.maxDistractors': { type: nonNeg, help: 'absent labels added to each STEP description (0..this many)' },
  'pretrain.devSentences': { type: pos, help: 'unseen dev sentences (loss, exact match, attention analysis)' },
  'pretrain.logEvery': { type: pos, help: 'read the training loss back every this many steps' },
  'pretrain.evalEvery': { type: pos, help: 'teacher-forced dev loss every this many steps (dev curve, best step)' },
  'pretrain.patience': { type: pos, help: 'early stopping: evaluations without a dev-loss improvement before pre-training stops (the best step is kept)' },
  'pretrain.minDelta': { type: num({ min: 0 }), help: 'early stopping: smaller dev-loss improvements (nats/token) do not count' },
  'pretrain.bucket': { type: nonNeg, help: 'length bucketing: batches cut from pools of this many batches sorted by target length (0 or 1: off)' },
  'pretrain.weightDecay': { type: num({ min: 0 }), help: 'AdamW weight decay of pre-training' },

  'finetune.steps': { type: pos, help: 'fine-tuning steps per model, task and N' },
  'finetune.batch': { type: pos, help: 'fine-tuning batch size' },
  'finetune.lr': { type: rate, help: "the model's fine-tuning learning rate (cosine to 10 %)" },
  'finetune.prefixLr': { type: rate, help: "learning rate of STEP's tunable prefix" },
  'finetune.testSize': { type: pos, help: 'in-distribution test sentences per task' },
  'finetune.generalisationSize': { type: pos, help: 'structural-generalisation test sentences per task (one nmod level deeper)' },
  'finetune.trainMaxDepth': { type: nonNeg, help: 'deepest nmod nesting in fine-tuning and test sentences' },

  'ablation.heads': { type: pos, help: 'look-up heads whose prefix attention is masked (and as many random heads)' },
  'ablation.randomDraws': { type: pos, help: 'random head sets drawn for the ablation baseline' },
  'ablation.devExamples': { type: pos, help: 'STEP dev examples of the attention analysis and ablation' },
};

export const FLAGS: MethodFlags<StepConfig> = {
  name: 'step',
  summary,
  table: TABLE,
  defaults: (quick) => makeConfig(quick ? QUICK : {}),
  validate: (c) => makeConfig(c),
  quickHelp: 'the test preset: one seed, 150 pre-training steps, passivization at N = 100 only, small evaluation sets (the test suite\'s run, about a minute alone)',
};
