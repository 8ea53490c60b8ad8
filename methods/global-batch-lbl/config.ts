// Typed configuration of the global-batch LBL reproduction. Defaults are sized for ~10 minutes on a
// 2-core lavapipe machine (4 arms × 3 seeds); QUICK is the test preset (≤ ~1 minute).
import type { MarkovDomainsOptions } from './markov.js';

/** The balance scope of each arm (only f's scope changes; P is always per micro-batch). */
export type Arm = 'micro' | 'global' | 'buffer' | 'shuffle';
export const ARMS: readonly Arm[] = ['micro', 'global', 'buffer', 'shuffle'];

export interface GlobalBatchLBLConfig {
  arms: Arm[];
  seeds: number[];
  /** Optimizer steps per run. */
  steps: number;
  /** 'markov': the synthetic Markov-domain corpus of the spec; 'real': buildCorpus + BPE. */
  corpus: 'markov' | 'real';
  markov: Partial<MarkovDomainsOptions>;
  real: { domains: ('en' | 'code' | 'de' | 'arith' | 'dyck')[]; bytesPerDomain: number; vocabSize: number };
  seqLen: number;
  /** Sequences per micro-batch (= balance group of the micro arm); every micro-batch is one domain. */
  seqsPerMicroBatch: number;
  /** Micro-batches per domain per optimizer step (global batch = domains × this × seqsPerMicroBatch). */
  microBatchesPerDomain: number;
  /** Simulated data-parallel replicas: the step's micro-batches are split among them and counts are shared through LoadBalancer's allReduce. */
  replicas: number;
  model: { dModel: number; nLayers: number; nHeads: number; numExperts: number; topK: number; dFF: number };
  /** α (Megatron normalisation: LBL = 1 at balance). */
  lblWeight: number;
  zLossWeight: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  heldoutSeqsPerDomain: number;
  evalBatch: number;
  /** Read the training loss back every this many steps (each read is a GPU sync). */
  logEvery: number;
  /** Output folder of report.json and the plots (CLI). */
  out: string;
  /**
   * Balance-BSZ sweep (spec §1(a).8): also run the global arm with f pooled over groups of this many
   * consecutive micro-batches of a replica (1 = one micro-batch, like micro; all = global). Empty: off.
   */
  balanceSweep: number[];
}

export const DEFAULTS: GlobalBatchLBLConfig = {
  arms: [...ARMS],
  seeds: [0, 1, 2],
  steps: 120,
  corpus: 'markov',
  markov: {},
  real: { domains: ['en', 'code', 'de', 'arith'], bytesPerDomain: 60_000, vocabSize: 384 },
  seqLen: 32,
  seqsPerMicroBatch: 2,
  microBatchesPerDomain: 2,
  replicas: 1,
  model: { dModel: 64, nLayers: 2, nHeads: 4, numExperts: 8, topK: 2, dFF: 64 },
  lblWeight: 0.05,
  zLossWeight: 0,
  lr: 3e-3,
  warmupSteps: 10,
  weightDecay: 0.01,
  heldoutSeqsPerDomain: 64,
  evalBatch: 32,
  logEvery: 20,
  out: 'runs/global-batch-lbl',
  balanceSweep: [],
};

/** The test preset: fewer steps and micro-batches, two seeds, smaller held-out set. */
export const QUICK: Partial<GlobalBatchLBLConfig> = {
  seeds: [0, 1],
  steps: 40,
  // One micro-batch per domain per step: half the passes of the default.
  microBatchesPerDomain: 1,
  heldoutSeqsPerDomain: 32,
  logEvery: 20,
};

export function makeConfig(...overrides: Partial<GlobalBatchLBLConfig>[]): GlobalBatchLBLConfig {
  const c: GlobalBatchLBLConfig = { ...DEFAULTS };
  for (const o of overrides) Object.assign(c, o, { model: { ...c.model, ...o.model }, markov: { ...c.markov, ...o.markov }, real: { ...c.real, ...o.real } });
  for (const a of c.arms) if (!ARMS.includes(a)) throw new RangeError(`global-batch-lbl: unknown arm ${a} (arms: ${ARMS.join(', ')})`);
  for (const k of ['steps', 'seqLen', 'seqsPerMicroBatch', 'microBatchesPerDomain', 'replicas', 'heldoutSeqsPerDomain', 'evalBatch', 'logEvery'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new RangeError(`global-batch-lbl: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (!c.seeds.length) throw new RangeError('global-batch-lbl: at least one seed');
  for (const g of c.balanceSweep) if (!Number.isInteger(g) || g < 1) throw new RangeError(`global-batch-lbl: balance group sizes must be positive integers, got ${g}`);
  return c;
}
