// Typed configuration of the speech IB-disentanglement reproduction (spec: methods/speech-ib-disentanglement.md
// §1(d) beside DESIGN.md). Defaults are sized for a 3-seed run within 20 minutes on a 2-core lavapipe
// machine; QUICK is the test preset (one seed, a smaller set, two layers, emotion only).
import { TASKS, type TaskName } from './data.js';
import type { EncoderShape } from './model.js';

export interface TrainConfig {
  epochs: number;
  lr: number;
  weightDecay: number;
  clipGradNorm: number;
  /** Linear warmup as a share of the steps, then cosine decay (the paper's schedule). */
  warmupFraction: number;
}

export interface SpeechIBConfig {
  seeds: number[];
  /** Utterances per batch of the VIBs and probes (fixed batches, by length, shared by every model; their order is shuffled per epoch). */
  batchSize: number;
  /** Downstream tasks for stage 2 and the probes (labels drawn independently of the words). */
  tasks: TaskName[];
  /** Encoder layers (1-based) to analyse. */
  layers: number[];
  data: {
    nTrain: number;
    nTest: number;
    minWords: number;
    maxWords: number;
    pitchJitter: number;
    speedJitter: number;
    /** Seed of the utterance plans (the same set for every model seed). */
    seed: number;
  };
  /** The frozen speech encoder (trained once per run, seed `encoder.seed`). */
  encoder: EncoderShape & TrainConfig & {
    /** The encoder's own batch size (smaller than the VIBs': more updates for CTC to leave its all-blank phase). */
    batchSize: number;
    /** Weight of the masked log-mel reconstruction term (keeps speaker and prosody alive in the stack). */
    reconWeight: number;
    /** Share of mel frames masked (spans of maskSpan frames). */
    maskShare: number;
    maskSpan: number;
    seed: number;
  };
  /** Both VIB stages. */
  vib: TrainConfig & {
    latent: number;
    /** β starts here and grows linearly per step … */
    betaStart: number;
    betaEnd: number;
    /** … reaching betaEnd after this share of the steps (the paper: (E − 5)/E of 50 epochs). */
    betaRampShare: number;
    /** Fixed β of the ablation "is the IB doing work" (stage 1 on the last analysed layer). */
    lowBeta: number;
  };
  probe: TrainConfig;
  /** Output folder of report.json and the plots (CLI). */
  out: string;
  /** Cache folder of the synthesised word WAVs (gitignored). */
  cacheDir: string;
  /** Where the trained encoder is cached: a checkpoint folder `encoder-<hash of its configuration>` inside (the default one ships). */
  encoderCacheDir: string;
  /**
   * Load the cached encoder when its stored configuration matches (else train and cache it). Off by default, so a
   * default run trains the encoder on kiln and refreshes the cache; the quick preset reuses it.
   */
  reuseEncoder: boolean;
}

const train = (epochs: number, lr: number): TrainConfig => ({ epochs, lr, weightDecay: 0.005, clipGradNorm: 1, warmupFraction: 0.1 });

export const DEFAULTS: SpeechIBConfig = {
  seeds: [0, 1, 2],
  batchSize: 16,
  tasks: [...TASKS],
  layers: [1, 2, 3, 4],
  data: { nTrain: 600, nTest: 200, minWords: 1, maxWords: 3, pitchJitter: 8, speedJitter: 12, seed: 0 },
  encoder: { dModel: 32, nLayers: 4, nHeads: 2, dFF: 64, ...train(20, 3e-3), batchSize: 8, weightDecay: 0.01, reconWeight: 1, maskShare: 0.15, maskSpan: 4, seed: 0 },
  vib: { ...train(12, 1e-2), latent: 16, betaStart: 0.01, betaEnd: 0.1, betaRampShare: 0.75, lowBeta: 0.01 },
  probe: train(6, 1e-2),
  out: 'runs/speech-ib-disentanglement',
  cacheDir: '.cache/speech',
  encoderCacheDir: 'methods/speech-ib-disentanglement/encoder',
  reuseEncoder: false,
};

/** The test preset: the default data and the cached encoder (the default run's); one seed, layers 2 and 4, emotion only. */
export const QUICK: Partial<SpeechIBConfig> = {
  reuseEncoder: true,
  seeds: [0],
  tasks: ['emotion'],
  layers: [2, 4],
};

export function makeConfig(...overrides: Partial<SpeechIBConfig>[]): SpeechIBConfig {
  const c: SpeechIBConfig = structuredClone(DEFAULTS);
  for (const o of overrides) {
    const { data, encoder, vib, probe, ...rest } = structuredClone(o);
    Object.assign(c, rest);
    Object.assign(c.data, data);
    Object.assign(c.encoder, encoder);
    Object.assign(c.vib, vib);
    Object.assign(c.probe, probe);
  }
  const what = 'speech-ib-disentanglement';
  if (!Number.isInteger(c.encoder.batchSize) || c.encoder.batchSize < 1) throw new RangeError(`${what}: encoder.batchSize must be a positive integer, got ${c.encoder.batchSize}`);
  if (!Number.isInteger(c.batchSize) || c.batchSize < 1) throw new RangeError(`${what}: batchSize must be a positive integer, got ${c.batchSize}`);
  if (!c.seeds.length) throw new RangeError(`${what}: at least one seed`);
  if (!c.tasks.length || c.tasks.some((t) => !TASKS.includes(t))) throw new RangeError(`${what}: tasks must be some of ${TASKS.join(', ')}, got ${c.tasks.join(', ')}`);
  for (const l of c.layers) if (!Number.isInteger(l) || l < 1 || l > c.encoder.nLayers) throw new RangeError(`${what}: layer ${l} is outside 1..${c.encoder.nLayers}`);
  if (!c.layers.length) throw new RangeError(`${what}: at least one layer`);
  if (c.encoder.dModel % c.encoder.nHeads !== 0) throw new RangeError(`${what}: encoder.dModel ${c.encoder.dModel} is not divisible by encoder.nHeads ${c.encoder.nHeads}`);
  if (!(c.data.minWords >= 1 && c.data.maxWords >= c.data.minWords)) throw new RangeError(`${what}: need 1 <= data.minWords <= data.maxWords`);
  for (const [name, t] of [['encoder', c.encoder], ['vib', c.vib], ['probe', c.probe]] as const) {
    if (!Number.isInteger(t.epochs) || t.epochs < 1) throw new RangeError(`${what}: ${name}.epochs must be a positive integer, got ${t.epochs}`);
  }
  if (!(c.vib.betaRampShare > 0 && c.vib.betaRampShare <= 1)) throw new RangeError(`${what}: vib.betaRampShare must be in (0, 1]`);
  return c;
}
