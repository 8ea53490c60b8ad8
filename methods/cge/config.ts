// Typed configuration of the CGE reproduction (methods/cge.md §1d). Defaults: the spec's small-scale
// experiment over 3 seeds, sized for lavapipe; QUICK is the test preset (≤ ~1-2 minutes).
import type { WorldOptions } from './world.js';

export interface TrainPhase {
  steps: number;
  batchSize: number;
  lr: number;
}

export interface CGEConfig {
  seeds: number[];
  world: WorldOptions;
  /** The last `novelDomains` domains are absent from pre-training (novel); the rest are known. */
  novelDomains: number;
  pretrainSeqs: number;
  finetuneSeqs: number;
  /** Share of the fine-tuning set drawn from the novel domains (split evenly among them). */
  novelShare: number;
  /** Held-out fine-tuning-mixture sequences: the detection set and the θ_ft loss. */
  heldoutSeqs: number;
  model: { dModel: number; nLayers: number; nHeads: number; dFF: number };
  /** θ_pt: AdamW on the known domains from scratch. */
  pretrain: TrainPhase;
  /** θ_ft: a copy of θ_pt trained on the fine-tuning mixture. */
  finetune: TrainPhase;
  /** Held-out loss every this many training steps (one readback each). */
  evalEvery: number;
  cge: {
    /** Plausibility: only tokens with p_ft ≥ α · max p_ft. */
    alpha: number;
    /** s = ℓ_ft − γ ℓ_pt. */
    gamma: number;
    /** Generations per procedure (precision@N, coverage@N). */
    generations: number;
    /** Iterative CGE: one plain SGD step of this LR on each generated example (θ_pt copy). */
    iterativeLr: number;
    /** Also run iterative CGE at these SGD LRs (update size decides precision vs coverage); empty: off. */
    iterativeLrSweep: number[];
    /** Temperature of the sampling variants (ancestral θ_ft sampling, sampled CGE). */
    temperature: number;
    /** Also sample with α = 0 and α = `ablationAlpha` and report their validity (spec assertion 5). */
    ablation: boolean;
    ablationAlpha: number;
  };
  /** DP variant: θ_ft fine-tuned with DP-SGD (true per-example clipping), then static CGE. */
  dp: { enabled: boolean; steps: number; batchSize: number; lr: number; maxGradNorm: number; noiseMultiplier: number };
  out: string;
}

export const DEFAULTS: CGEConfig = {
  seeds: [0, 1, 2],
  world: { domains: 6, tokensPerDomain: 8, successors: 3, starts: 2, seqLen: 16 },
  novelDomains: 3,
  pretrainSeqs: 6000,
  finetuneSeqs: 6000,
  novelShare: 0.15,
  heldoutSeqs: 600,
  model: { dModel: 48, nLayers: 2, nHeads: 4, dFF: 128 },
  pretrain: { steps: 800, batchSize: 32, lr: 1e-3 },
  finetune: { steps: 600, batchSize: 32, lr: 1e-3 },
  evalEvery: 200,
  cge: { alpha: 0.05, gamma: 1, generations: 30, iterativeLr: 0.005, iterativeLrSweep: [0.002, 0.01], temperature: 1, ablation: true, ablationAlpha: 0.1 },
  dp: { enabled: true, steps: 200, batchSize: 16, lr: 3e-3, maxGradNorm: 1, noiseMultiplier: 0.5 },
  out: 'runs/cge',
};

export type Overrides = { [K in keyof CGEConfig]?: CGEConfig[K] extends unknown[] ? CGEConfig[K] : CGEConfig[K] extends object ? Partial<CGEConfig[K]> : CGEConfig[K] };

/** The test preset: two seeds, shorter training, a smaller held-out set. */
export const QUICK: Overrides = {
  seeds: [0, 1],
  pretrainSeqs: 2000,
  finetuneSeqs: 2000,
  heldoutSeqs: 300,
  pretrain: { steps: 150, batchSize: 32, lr: 3e-3 },
  finetune: { steps: 120, batchSize: 32, lr: 3e-3 },
  evalEvery: 50,
  cge: { iterativeLrSweep: [], ablation: false },
  dp: { enabled: false },
};


export function makeConfig(...overrides: Overrides[]): CGEConfig {
  let c: CGEConfig = structuredClone(DEFAULTS);
  for (const o of overrides) {
    c = {
      ...c, ...o,
      world: { ...c.world, ...o.world }, model: { ...c.model, ...o.model }, pretrain: { ...c.pretrain, ...o.pretrain },
      finetune: { ...c.finetune, ...o.finetune }, cge: { ...c.cge, ...o.cge }, dp: { ...c.dp, ...o.dp },
    } as CGEConfig;
  }
  const posInt = (what: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`cge: ${what} must be a positive integer, got ${v}`);
  };
  if (!c.seeds.length) throw new RangeError('cge: at least one seed');
  for (const [k, v] of Object.entries(c.world)) posInt(`world.${k}`, v);
  for (const k of ['pretrainSeqs', 'finetuneSeqs', 'heldoutSeqs', 'evalEvery', 'novelDomains'] as const) posInt(k, c[k]);
  for (const [k, v] of Object.entries(c.model)) posInt(`model.${k}`, v);
  for (const ph of ['pretrain', 'finetune'] as const) {
    posInt(`${ph}.steps`, c[ph].steps);
    posInt(`${ph}.batchSize`, c[ph].batchSize);
    if (!(c[ph].lr > 0)) throw new RangeError(`cge: ${ph}.lr must be > 0, got ${c[ph].lr}`);
  }
  if (c.novelDomains >= c.world.domains) throw new RangeError(`cge: novelDomains ${c.novelDomains} must leave at least one known domain of ${c.world.domains}`);
  if (!(c.novelShare > 0 && c.novelShare < 1)) throw new RangeError(`cge: novelShare must be in (0, 1), got ${c.novelShare}`);
  posInt('cge.generations', c.cge.generations);
  if (!(c.cge.alpha >= 0 && c.cge.alpha <= 1) || !(c.cge.ablationAlpha >= 0 && c.cge.ablationAlpha <= 1)) throw new RangeError('cge: alpha and ablationAlpha must be in [0, 1]');
  if (!(c.cge.iterativeLr >= 0)) throw new RangeError(`cge: cge.iterativeLr must be >= 0, got ${c.cge.iterativeLr}`);
  for (const lr of c.cge.iterativeLrSweep) if (!(lr >= 0)) throw new RangeError(`cge: iterative LR sweep values must be >= 0, got ${lr}`);
  if (!(c.cge.temperature > 0)) throw new RangeError(`cge: cge.temperature must be > 0, got ${c.cge.temperature}`);
  posInt('dp.steps', c.dp.steps);
  posInt('dp.batchSize', c.dp.batchSize);
  if (!(c.dp.maxGradNorm > 0) || !(c.dp.noiseMultiplier >= 0) || !(c.dp.lr > 0)) throw new RangeError('cge: dp.maxGradNorm and dp.lr must be > 0, dp.noiseMultiplier >= 0');
  return c;
}
