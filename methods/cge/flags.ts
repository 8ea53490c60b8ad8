// `npm run method -- cge` flags: one row per key of CGEConfig (config.ts), defaults read from makeConfig.
import { bool, list, num, positiveInt as pos, seedCount, text, type FlagTable, type MethodFlags } from '../flags.js';
import { QUICK, makeConfig, type CGEConfig } from './config.js';

export const summary = 'contrastive generative exploration (Isonuma & Titov 2025): generate what is novel in a fine-tune by contrasting it with its pre-trained self';

export const TABLE: FlagTable<CGEConfig> = {
  seeds: { type: seedCount, help: 'seeds 0..N-1 (a world, two trainings and every procedure per seed)' },
  novelDomains: { type: pos, help: 'the last this many domains are absent from pre-training (novel)' },
  pretrainSeqs: { type: pos, help: 'pre-training sequences (known domains only)' },
  finetuneSeqs: { type: pos, help: 'fine-tuning sequences (known + novel mixture)' },
  novelShare: { type: num({ above: 0, max: 0.99 }), help: 'share of the fine-tuning set from the novel domains' },
  heldoutSeqs: { type: pos, help: 'held-out sequences of each mixture (losses; detection set)' },
  evalEvery: { type: pos, help: 'held-out loss every this many training steps' },
  out: { type: text('DIR'), help: 'output folder of report.json and the plots' },

  'world.domains': { type: pos, help: 'Markov languages (disjoint alphabets)' },
  'world.tokensPerDomain': { type: pos, help: 'tokens of each alphabet' },
  'world.successors': { type: pos, help: 'allowed next tokens per token (Dirichlet(1) probabilities)' },
  'world.starts': { type: pos, help: 'start tokens per language' },
  'world.seqLen': { type: pos, help: 'tokens after BOS (no EOS: fixed length)' },

  'model.dModel': { type: pos, help: 'model width' },
  'model.nLayers': { type: pos, help: 'transformer blocks' },
  'model.nHeads': { type: pos, help: 'attention heads' },
  'model.dFF': { type: pos, help: 'FFN hidden width' },

  'pretrain.steps': { type: pos, help: 'θ_pt AdamW steps' },
  'pretrain.batchSize': { type: pos, help: 'θ_pt batch size' },
  'pretrain.lr': { type: num({ above: 0 }), help: 'θ_pt learning rate' },
  'finetune.steps': { type: pos, help: 'θ_ft AdamW steps (from θ_pt)' },
  'finetune.batchSize': { type: pos, help: 'θ_ft batch size' },
  'finetune.lr': { type: num({ above: 0 }), help: 'θ_ft learning rate' },

  'cge.alpha': { type: num({ min: 0, max: 1 }), help: 'plausibility α: tokens with p_ft ≥ α · max p_ft only' },
  'cge.gamma': { type: num(), help: 'contrast weight γ in ℓ_ft − γ ℓ_pt' },
  'cge.generations': { type: pos, help: 'generations per procedure (N)' },
  'cge.iterativeLr': { type: num({ min: 0 }), help: 'iterative CGE: plain SGD LR of the one step per generated example' },
  'cge.iterativeLrSweep': { type: list(num({ min: 0 }), { min: 0 }), help: 'also run iterative CGE at these SGD LRs (empty: off)' },
  'cge.temperature': { type: num({ above: 0 }), help: 'temperature of the sampling procedures' },
  'cge.ablation': { type: bool, help: 'sampled CGE with α = 0 vs α = ablation-alpha: validity' },
  'cge.ablationAlpha': { type: num({ min: 0, max: 1 }), help: 'α of the ablation comparison' },

  'dp.enabled': { type: bool, help: 'also fine-tune θ_ft by DP-SGD (per-example clipping) and run CGE on it' },
  'dp.steps': { type: pos, help: 'DP-SGD steps' },
  'dp.batchSize': { type: pos, help: 'DP-SGD batch (one backward pass per example)' },
  'dp.lr': { type: num({ above: 0 }), help: 'AdamW LR on the private gradient' },
  'dp.maxGradNorm': { type: num({ above: 0 }), help: 'per-example clipping bound C' },
  'dp.noiseMultiplier': { type: num({ min: 0 }), help: 'noise multiplier σ (noise std σ·C)' },
};

export const FLAGS: MethodFlags<CGEConfig> = {
  name: 'cge',
  summary,
  table: TABLE,
  defaults: (quick) => makeConfig(quick ? QUICK : {}),
  validate: (c) => makeConfig(c),
  quickHelp: 'the test preset: two seeds, half the data and training steps at twice the LR (about a minute or two)',
};
