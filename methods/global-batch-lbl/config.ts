// Typed configuration of the global-batch LBL reproduction. Defaults are sized for ~20 minutes on a
// 2-core lavapipe machine (4 arms and α 0.01, 3 seeds: 18 runs); QUICK is the test preset (≤ ~2 minutes).
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
  /** Simulated data-parallel replicas of the global and shuffle arms: the step's micro-batches are split among them and counts are shared through LoadBalancer's allReduce. */
  replicas: number;
  /**
   * Data-parallel replicas of the buffer arm (the paper's setting): at each gradient-accumulation
   * micro-step the R replicas' micro-batches (R consecutive domains) have their counts all-reduced into
   * the buffer. Must divide the micro-batches of a step; 1 = plain gradient accumulation.
   */
  bufferReplicas: number;
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
  /** Also run the micro and global arms at these α (spec: α ∈ {0.01, 0.05}). Empty: off. */
  alphaSweep: number[];
  /**
   * Balance-BSZ sweep (spec §1(a).8, §1(d) "sweep"): also run with f pooled over balance groups of this
   * many consecutive sequences of the step (domain-packed in runs of seqsPerMicroBatch; seqsPerMicroBatch
   * = the micro arm, all = global). Each must divide the step's sequences. Empty: off.
   */
  balanceSweep: number[];
}

export const DEFAULTS: GlobalBatchLBLConfig = {
  arms: [...ARMS],
  seeds: [0, 1, 2],
  steps: 60,
  corpus: 'markov',
  // Order-1 chains (README: the spec's order-2 chains stay at the unigram level for 0.5M tokens here).
  markov: { order: 1 },
  real: { domains: ['en', 'code', 'de', 'arith'], bytesPerDomain: 60_000, vocabSize: 384 },
  // 8 domain-packed micro-batches × 4 sequences × 64 tokens = the spec's global batch of 32 sequences.
  seqLen: 64,
  seqsPerMicroBatch: 4,
  microBatchesPerDomain: 2,
  replicas: 1,
  bufferReplicas: 4,
  model: { dModel: 64, nLayers: 2, nHeads: 4, numExperts: 8, topK: 2, dFF: 64 },
  lblWeight: 0.05,
  zLossWeight: 0,
  lr: 1e-2,
  warmupSteps: 6,
  weightDecay: 0.01,
  heldoutSeqsPerDomain: 64,
  evalBatch: 32,
  logEvery: 20,
  out: 'runs/global-batch-lbl',
  alphaSweep: [0.01],
  // Opt-in (README: `--balance-sweep=8,16`; 4 and 32 sequences are the micro and global arms themselves):
  // with it the 3-seed default would not fit 20 minutes.
  balanceSweep: [],
};

/** The test preset: fewer steps and micro-batches, two seeds, smaller held-out set. */
export const QUICK: Partial<GlobalBatchLBLConfig> = {
  seeds: [0, 1],
  steps: 40,
  // One micro-batch of 2 sequences × 32 tokens per domain per step: 1/8 of the default's tokens.
  seqLen: 32,
  seqsPerMicroBatch: 2,
  microBatchesPerDomain: 1,
  warmupSteps: 10,
  heldoutSeqsPerDomain: 32,
  logEvery: 20,
  alphaSweep: [],
  balanceSweep: [],
};

export function makeConfig(...overrides: Partial<GlobalBatchLBLConfig>[]): GlobalBatchLBLConfig {
  const c: GlobalBatchLBLConfig = { ...DEFAULTS };
  for (const o of overrides) Object.assign(c, o, { model: { ...c.model, ...o.model }, markov: { ...c.markov, ...o.markov }, real: { ...c.real, ...o.real } });
  for (const a of c.arms) if (!ARMS.includes(a)) throw new RangeError(`global-batch-lbl: unknown arm ${a} (arms: ${ARMS.join(', ')})`);
  for (const k of ['steps', 'seqLen', 'seqsPerMicroBatch', 'microBatchesPerDomain', 'replicas', 'bufferReplicas', 'heldoutSeqsPerDomain', 'evalBatch', 'logEvery'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new RangeError(`global-batch-lbl: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (!c.seeds.length) throw new RangeError('global-batch-lbl: at least one seed');
  for (const g of c.balanceSweep) if (!Number.isInteger(g) || g < 1) throw new RangeError(`global-batch-lbl: balance group sizes must be positive integers, got ${g}`);
  for (const a of c.alphaSweep) if (!(a >= 0)) throw new RangeError(`global-batch-lbl: alphaSweep values must be >= 0, got ${a}`);
  return c;
}
