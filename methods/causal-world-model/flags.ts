// `npm run method -- causal-world-model` flags: one row per key of CausalWorldModelConfig (config.ts),
// defaults read from makeConfig.
import { bool, int, list, num, oneOf, positiveInt as pos, positiveNum as rate, seedList, text, type FlagTable, type MethodFlags } from '../flags.js';
import { QUICK, makeConfig, type CausalWorldModelConfig } from './config.js';

const nonNeg = num({ min: 0 });

export const summary = 'causal world model vs LM-only text world model (Gkountouras et al. 2025): N-step causal inference and MCTS planning on GridWorld-lite';

export const TABLE: FlagTable<CausalWorldModelConfig> = {
  seeds: { type: seedList, help: 'seeds 0..N-1, A-B or a list A,B (data, models and problems per seed)' },
  trainEpisodes: { type: pos, help: 'training episodes (unlabelled frames and action texts)' },
  testEpisodes: { type: pos, help: 'test episodes (causal inference windows, mapper accuracy)' },
  episodeSteps: { type: pos, help: 'steps per episode' },
  labelledShare: { type: num({ above: 0, max: 1 }), help: 'share of training transitions with causal-variable labels (mapper and text WM)' },
  pixelNoise: { type: nonNeg, help: 'Gaussian pixel noise sigma of the frames' },
  allLabelsTextWM: { type: bool, help: 'also train the text WM on all training labels (an upper-bound variant)' },
  horizons: { type: list(pos), help: 'rollout lengths N of the causal-inference task (must include 1)' },
  inferenceWindows: { type: pos, help: 'test windows per horizon' },
  planHorizons: { type: list(pos), help: 'plan lengths N (goal = the state after N random actions)' },
  planProblems: { type: pos, help: 'planning problems per horizon' },
  logEvery: { type: pos, help: 'read the CWM training loss back every this many steps' },
  out: { type: text('DIR'), help: 'output folder of report.json and the plots' },
  merge: { type: list(text('DIR'), { min: 0 }), help: 'instead of running: merge the report.json of these folders (runs of single seeds, same configuration) into one report in --out' },

  'cwm.latents': { type: pos, help: 'CWM latents d (>= 8)' },
  'cwm.hidden1': { type: pos, help: 'first encoder/last decoder hidden width' },
  'cwm.hidden2': { type: pos, help: 'second encoder/first decoder hidden width' },
  'cwm.priorHidden': { type: pos, help: 'width c of the per-latent interaction and prior MLPs' },
  'cwm.wordDim': { type: pos, help: 'word embedding size of the action text encoder' },
  'cwm.textDim': { type: pos, help: 'action text embedding size e_L' },
  'cwm.steps': { type: pos, help: 'CWM training steps' },
  'cwm.batchSize': { type: pos, help: 'transitions per CWM step' },
  'cwm.lr': { type: rate, help: 'CWM peak learning rate (AdamW, cosine)' },
  'cwm.tauStart': { type: rate, help: 'interaction temperature at the start' },
  'cwm.tauEnd': { type: rate, help: 'interaction temperature at the end (and at evaluation)' },
  'cwm.reconWeight': { type: rate, help: 'weight of the reconstruction terms' },
  'cwm.priorKL': { type: nonNeg, help: 'weight of KL(q(z^t|x^t) || N(0, I))' },
  'cwm.logitReg': { type: nonNeg, help: 'lambda of the gradient-only interaction-logit regulariser' },
  'cwm.inputNoise': { type: nonNeg, help: 'noise sigma on the t-frame latent that feeds the prior' },
  'cwm.priorSteps': { type: int({ min: 0 }), help: "steps refitting the transition prior on the frozen encoder's latents after the joint training (0: off)" },
  'cwm.wordDropout': { type: num({ min: 0, max: 1 }), help: 'probability of replacing an adverb/adjective by <unk> in training' },

  'mapper.hidden': { type: pos, help: 'hidden width of the per-variable mapper MLPs' },
  'mapper.steps': { type: pos, help: 'full-batch mapper training steps' },
  'mapper.lr': { type: rate, help: 'mapper learning rate' },
  'mapper.inputs': { type: oneOf(['assigned', 'all'] as const), help: "latents each variable's MLP reads in the rollouts: the R²-assigned ones (the paper's mapper) or all (its multi-head baseline); both are reported" },

  'textWM.dModel': { type: pos, help: 'text WM width' },
  'textWM.nLayers': { type: pos, help: 'text WM blocks' },
  'textWM.nHeads': { type: pos, help: 'text WM attention heads' },
  'textWM.dFF': { type: pos, help: 'text WM MLP width' },
  'textWM.steps': { type: pos, help: 'text WM training steps' },
  'textWM.batchSize': { type: pos, help: 'transitions per text WM step' },
  'textWM.lr': { type: rate, help: 'text WM peak learning rate' },
  'textWM.wordDropout': { type: num({ min: 0, max: 1 }), help: 'probability of replacing an adverb/adjective by <unk> in training' },
  'textWM.evalEvery': { type: pos, help: 'dev loss check every this many steps' },
  'textWM.patience': { type: pos, help: 'dev loss checks without improvement before the text WM stops (best weights kept)' },

  'mcts.iterations': { type: pos, help: 'MCTS iterations per problem' },
  'mcts.explorationWeight': { type: nonNeg, help: 'UCT exploration weight w_exp' },
  'mcts.extraDepth': { type: int({ min: 0 }), help: 'MCTS depth limit = N + this' },
};

export const FLAGS: MethodFlags<CausalWorldModelConfig> = {
  name: 'causal-world-model',
  summary,
  table: TABLE,
  defaults: (quick) => makeConfig(quick ? QUICK : {}),
  validate: (c) => makeConfig(c),
  quickHelp: 'the test preset: one seed, 400 CWM steps, horizons 1 and 4, plans of length 2, no all-labels text WM (about two minutes alone)',
};
