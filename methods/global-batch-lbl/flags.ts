// `npm run method -- global-batch-lbl` flags: one row per key of GlobalBatchLBLConfig (config.ts),
// defaults read from makeConfig (the Markov corpus's from MARKOV_DEFAULTS, which apply where unset).
import { int, list, nonNegativeInt as nonNeg, num, oneOf, positiveInt as pos, seedCount, text, type FlagTable, type MethodFlags } from '../flags.js';
import { ARMS, QUICK, makeConfig, type GlobalBatchLBLConfig } from './config.js';
import { MARKOV_DEFAULTS as M } from './markov.js';

export const summary = 'global-batch vs micro-batch load-balancing loss for MoE (Qiu et al. 2025): expert specialisation by domain';

export const TABLE: FlagTable<GlobalBatchLBLConfig> = {
  arms: { type: list(oneOf(ARMS)), help: "arms, by the scope of f: micro-batch, global batch, buffer (accumulated over the micro-steps), shuffle (a random micro-batch-sized subset of the global batch)" },
  seeds: { type: seedCount, help: 'seeds 0..N-1 (one run per seed and arm)' },
  steps: { type: pos, help: 'optimizer steps per run' },
  corpus: { type: oneOf(['markov', 'real'] as const), help: 'markov: the synthetic Markov-domain corpus; real: buildCorpus + BPE' },
  out: { type: text('DIR'), help: 'output folder of report.json and the plots' },
  balanceSweep: { type: list(pos, { min: 0 }), help: 'also run with f pooled over balance groups of this many consecutive sequences (balance-BSZ sweep; empty: off)' },
  alphaSweep: { type: list(num({ min: 0 }), { min: 0 }), help: 'also run the micro and global arms at these alpha (empty: off)' },
  replicas: { type: pos, help: "simulated data-parallel replicas of the global and shuffle arms, sharing counts through LoadBalancer's allReduce" },
  bufferReplicas: { type: pos, help: "data-parallel replicas of the buffer arm: each micro-step's counts are all-reduced over them into the buffer" },
  seqLen: { type: pos, help: 'tokens per sequence' },
  seqsPerMicroBatch: { type: pos, help: 'sequences per micro-batch (= the micro arm\'s balance group); each micro-batch is one domain' },
  microBatchesPerDomain: { type: pos, help: 'micro-batches per domain per optimizer step' },
  lblWeight: { flag: 'alpha', type: num({ min: 0 }), help: 'load-balancing loss weight alpha (Megatron normalisation: LBL = 1 at balance)' },
  zLossWeight: { type: num({ min: 0 }), help: 'router z-loss weight' },
  lr: { type: num({ above: 0 }), help: 'peak learning rate (cosine schedule)' },
  warmupSteps: { type: nonNeg, help: 'linear warmup steps' },
  weightDecay: { type: num({ min: 0 }), help: 'AdamW weight decay' },
  heldoutSeqsPerDomain: { type: pos, help: 'held-out sequences per domain (loss and specialisation)' },
  evalBatch: { type: pos, help: 'sequences per evaluation batch' },
  logEvery: { type: pos, help: 'read the training loss back every this many steps (each read is a GPU sync)' },

  'model.dModel': { type: pos, help: 'model width' },
  'model.nLayers': { type: pos, help: 'transformer blocks (each with an MoE MLP)' },
  'model.nHeads': { type: pos, help: 'attention heads' },
  'model.numExperts': { type: pos, help: 'experts per MoE layer' },
  'model.topK': { type: pos, help: 'experts per token' },
  'model.dFF': { type: pos, help: 'hidden width of each expert' },

  'markov.domains': { type: pos, help: 'domains of the Markov corpus', fallback: M.domains },
  'markov.coreTokens': { type: pos, help: 'core tokens per domain (disjoint between domains)', fallback: M.coreTokens },
  'markov.sharedTokens': { type: nonNeg, help: 'tokens shared by every domain', fallback: M.sharedTokens },
  'markov.order': { type: int({ min: 1, max: 2 }), help: 'order of the chains: 2 = context (t-2, t-1) as in the spec, 1 = context t-1', fallback: M.order },
  'markov.branching': { type: pos, help: 'allowed next tokens per context', fallback: M.branching },
  'markov.sharedShare': { type: num({ min: 0, max: 1 }), help: 'probability that a next token is drawn from the shared pool', fallback: M.sharedShare },
  'markov.alpha': { type: num({ above: 0 }), help: "Dirichlet concentration of each context's next-token probabilities", fallback: M.alpha },
  'markov.seed': { type: nonNeg, help: 'seed of the chains (the structure, not the sampling)', fallback: M.seed },

  'real.domains': { type: list(oneOf(['en', 'code', 'de', 'arith', 'dyck'] as const)), help: 'domains of the real corpus (--corpus=real)' },
  'real.bytesPerDomain': { type: pos, help: 'bytes of text per domain (--corpus=real)' },
  'real.vocabSize': { type: pos, help: 'BPE vocabulary size (--corpus=real)' },
};

export const FLAGS: MethodFlags<GlobalBatchLBLConfig> = {
  name: 'global-batch-lbl',
  summary,
  table: TABLE,
  defaults: (quick) => makeConfig(quick ? QUICK : {}),
  validate: (c) => makeConfig(c),
  quickHelp: 'the test preset: 40 steps, one micro-batch per domain per step, two seeds, a smaller held-out set (about a minute)',
};
