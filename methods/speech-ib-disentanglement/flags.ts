// `npm run method -- speech-ib-disentanglement` flags: one row per key of SpeechIBConfig (config.ts), defaults read from makeConfig.
import { bool, list, nonNegativeInt as nonNeg, num, oneOf, positiveInt as pos, positiveNum as rate, seedCount, text, unitInterval as share, type FlagTable, type MethodFlags } from '../flags.js';
import { QUICK, makeConfig, type SpeechIBConfig } from './config.js';
import { TASKS } from './data.js';

export const summary = 'Speech IB disentanglement (Mohebbi et al. 2024): two-stage VIB splitting a speech encoder\'s layers into textual (CTC) and acoustic (task) codes';

export const TABLE: FlagTable<SpeechIBConfig> = {
  seeds: { type: seedCount, help: 'model seeds 0..N-1 (VIBs and probes; the data and the encoder are shared)' },
  batchSize: { type: pos, help: 'utterances per batch of the VIBs and probes (fixed length-sorted batches, shuffled per epoch)' },
  tasks: { type: list(oneOf(TASKS)), help: 'downstream tasks of stage 2 and the probes (the first fills perLayer)' },
  layers: { type: list(pos), help: 'encoder layers (1-based) to analyse' },
  out: { type: text('DIR'), help: 'output folder of report.json and the plots' },
  cacheDir: { flag: 'cache', type: text('DIR'), help: 'cache folder of the synthesised word WAVs' },
  encoderCacheDir: { flag: 'encoder-cache', type: text('DIR'), help: 'folder of the cached trained encoder (encoder-<hash of its configuration> inside; every run that trains it writes it)' },
  reuseEncoder: { type: bool, help: 'load the cached encoder if its stored configuration matches (else train it); --no-reuse-encoder forces training' },

  'data.nTrain': { type: pos, help: 'training utterances' },
  'data.nTest': { type: pos, help: 'test utterances' },
  'data.minWords': { type: pos, help: 'fewest words per utterance' },
  'data.maxWords': { type: pos, help: 'most words per utterance' },
  'data.pitchJitter': { type: num({ min: 0 }), help: 'per-utterance pitch jitter (± espeak-ng units) around the style preset' },
  'data.speedJitter': { type: num({ min: 0 }), help: 'per-utterance speed jitter (± words per minute) around the style preset' },
  'data.seed': { type: nonNeg, help: 'seed of the utterance plans (words, voices, styles)' },

  'encoder.dModel': { type: pos, help: 'encoder width (divisible by the heads)' },
  'encoder.nLayers': { type: pos, help: 'encoder transformer blocks' },
  'encoder.nHeads': { type: pos, help: 'encoder attention heads' },
  'encoder.dFF': { type: pos, help: 'encoder MLP hidden width' },
  'encoder.batchSize': { type: pos, help: 'speech encoder: utterances per batch' },
  'encoder.epochs': { type: pos, help: 'speech encoder: epochs' },
  'encoder.lr': { type: rate, help: 'speech encoder: peak learning rate (AdamW)' },
  'encoder.weightDecay': { type: num({ min: 0 }), help: 'speech encoder: AdamW decoupled weight decay' },
  'encoder.clipGradNorm': { type: rate, help: 'speech encoder: gradient-norm clip' },
  'encoder.warmupFraction': { type: share, help: 'speech encoder: linear warmup share of the steps, then cosine decay' },
  'encoder.reconWeight': { type: num({ min: 0 }), help: 'weight of the masked log-mel reconstruction term' },
  'encoder.maskShare': { type: share, help: 'share of mel frames masked for reconstruction' },
  'encoder.maskSpan': { type: pos, help: 'mel frames per masked span' },
  'encoder.seed': { type: nonNeg, help: "seed of the encoder's initialisation and masks" },

  'vib.epochs': { type: pos, help: 'both VIB stages: epochs' },
  'vib.lr': { type: rate, help: 'both VIB stages: peak learning rate (AdamW)' },
  'vib.weightDecay': { type: num({ min: 0 }), help: 'both VIB stages: AdamW decoupled weight decay' },
  'vib.clipGradNorm': { type: rate, help: 'both VIB stages: gradient-norm clip' },
  'vib.warmupFraction': { type: share, help: 'both VIB stages: linear warmup share of the steps, then cosine decay' },
  'vib.latent': { type: pos, help: 'latent size K of the VIB codes' },
  'vib.betaStart': { type: num({ min: 0 }), help: 'beta at the first step' },
  'vib.betaEnd': { type: num({ min: 0 }), help: 'beta after the ramp' },
  'vib.betaRampShare': { type: num({ above: 0, max: 1 }), help: 'share of the steps over which beta grows linearly' },
  'vib.lowBeta': { type: num({ min: 0 }), help: 'fixed beta of the stage-1 ablation on the last analysed layer' },

  'probe.epochs': { type: pos, help: 'probes: epochs' },
  'probe.lr': { type: rate, help: 'probes: peak learning rate (AdamW)' },
  'probe.weightDecay': { type: num({ min: 0 }), help: 'probes: AdamW decoupled weight decay' },
  'probe.clipGradNorm': { type: rate, help: 'probes: gradient-norm clip' },
  'probe.warmupFraction': { type: share, help: 'probes: linear warmup share of the steps, then cosine decay' },
};

export const FLAGS: MethodFlags<SpeechIBConfig> = {
  name: 'speech-ib-disentanglement',
  summary,
  table: TABLE,
  defaults: (quick) => makeConfig(quick ? QUICK : {}),
  validate: (c) => makeConfig(c),
  quickHelp: 'the test preset: the default data and the cached encoder (--reuse-encoder), one seed, layers 2 and 4, emotion only',
};
