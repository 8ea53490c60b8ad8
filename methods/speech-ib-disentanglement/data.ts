// The synthetic speech set of the reproduction (spec §1(d)): 1–3 words from a closed 24-word
// vocabulary, drawn independently of the labels; "speaker" = one of 8 espeak-ng voice variants,
// "emotion" = one of 4 prosody presets with per-utterance jitter. Each word is synthesised on its
// own (nn/node/speech.ts through the injected SpeechSynthesizer), then the words are joined with
// 50–100 ms pauses and 150 ms of silence at both ends, so every word's frames are known exactly.
// Features: 40 log-mel, 25 ms / 10 ms at 16 kHz, normalised per channel with statistics of the
// training frames (not per utterance: that would erase loudness and much of the voice's spectral tilt).
import { SeededRng, logMelSpectrogram, type SpeechSegment, type SpeechSynthesizer } from '../../nn/index.js';

export const WORDS = [
  'zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine',
  'red', 'green', 'blue', 'yellow', 'cat', 'dog', 'bird', 'fish', 'stop', 'go', 'left', 'right', 'up', 'down',
] as const;

export const VOICES = ['en-us+m1', 'en-us+m3', 'en-us+m7', 'en-us+f2', 'en-us+f4', 'en-us+klatt2', 'en-us+croak', 'en-us+f5'] as const;

/** Prosody presets (espeak-ng -p pitch, -s speed wpm, -a amplitude), jittered per utterance. */
export const STYLES = {
  neutral: { pitch: 50, speed: 160, amplitude: 100 },
  happy: { pitch: 80, speed: 195, amplitude: 100 },
  sad: { pitch: 25, speed: 115, amplitude: 70 },
  angry: { pitch: 60, speed: 205, amplitude: 180 },
} as const;
export const STYLE_NAMES = Object.keys(STYLES) as (keyof typeof STYLES)[];

export const TASKS = ['emotion', 'speaker'] as const;
export type TaskName = (typeof TASKS)[number];
export const TASK_CLASSES: Record<TaskName, number> = { emotion: STYLE_NAMES.length, speaker: VOICES.length };

/** CTC vocabulary: 0 = blank, 1 = space, then the letters the words use. */
export const ALPHABET = [...new Set(WORDS.join(''))].sort();
export const VOCAB_SIZE = 2 + ALPHABET.length;
export const BLANK = 0;

export function encodeText(text: string): number[] {
  return [...text].map((ch) => (ch === ' ' ? 1 : 2 + ALPHABET.indexOf(ch)));
}
export function decodeText(ids: readonly number[]): string {
  return ids.map((k) => (k === 1 ? ' ' : ALPHABET[k - 2] ?? '?')).join('');
}

export const SAMPLE_RATE = 16000;
export const HOP = 160; // 10 ms
export const N_MELS = 40;

export interface UtterancePlan {
  words: string[];
  speaker: number;
  emotion: number;
  pitch: number;
  speed: number;
  amplitude: number;
  /** Pause after each word but the last, in samples. */
  pauses: number[];
}

export interface DataOptions {
  n: number;
  minWords: number;
  maxWords: number;
  /** Pitch jitter (±, espeak units) and speed jitter (±, wpm). */
  pitchJitter: number;
  speedJitter: number;
  seed: number;
}

/** n utterances: words, speaker and emotion independent and uniform; prosody jittered around the preset. */
export function planUtterances(o: DataOptions): UtterancePlan[] {
  const rng = new SeededRng(`speech-data:${o.seed}`);
  return Array.from({ length: o.n }, () => {
    const nWords = o.minWords + rng.int(o.maxWords - o.minWords + 1);
    const words = Array.from({ length: nWords }, () => rng.pick(WORDS));
    const speaker = rng.int(VOICES.length);
    const emotion = rng.int(STYLE_NAMES.length);
    const s = STYLES[STYLE_NAMES[emotion]];
    const pitch = Math.round(Math.min(99, Math.max(0, s.pitch + (2 * rng.next() - 1) * o.pitchJitter)));
    const speed = Math.round(s.speed + (2 * rng.next() - 1) * o.speedJitter);
    const pauses = words.slice(1).map(() => Math.round((0.05 + 0.05 * rng.next()) * SAMPLE_RATE));
    return { words, speaker, emotion, pitch, speed, amplitude: s.amplitude, pauses };
  });
}

export interface Utterance {
  text: string;
  labels: number[];
  speaker: number;
  emotion: number;
  /** (frames, N_MELS) log-mel, row-major (normalised in place by normalizeGlobally). */
  mel: Float32Array;
  frames: number;
  /** Each word's [start, end) in mel frames. */
  wordFrames: [number, number][];
}

const PAD = Math.round(0.15 * SAMPLE_RATE);

/** Synthesises the plans' words (one segment per word), joins them and computes the features. */
export async function buildUtterances(plans: readonly UtterancePlan[], synthesize: SpeechSynthesizer): Promise<Utterance[]> {
  const segments: SpeechSegment[] = plans.flatMap((u) => u.words.map((text) => ({ text, voice: VOICES[u.speaker], pitch: u.pitch, speed: u.speed, amplitude: u.amplitude })));
  const audio = await synthesize(segments, SAMPLE_RATE);
  let k = 0;
  return plans.map((u) => {
    const parts = u.words.map(() => audio[k++]);
    const total = 2 * PAD + parts.reduce((s, p) => s + p.length, 0) + u.pauses.reduce((s, p) => s + p, 0);
    const samples = new Float32Array(total);
    const bounds: [number, number][] = [];
    let at = PAD;
    parts.forEach((p, i) => {
      samples.set(p, at);
      bounds.push([at, at + p.length]);
      at += p.length + (u.pauses[i] ?? 0);
    });
    const f = logMelSpectrogram(samples, { sampleRate: SAMPLE_RATE, nMels: N_MELS, hopLength: HOP });
    const text = u.words.join(' ');
    return {
      text, labels: encodeText(text), speaker: u.speaker, emotion: u.emotion, mel: f.data, frames: f.frames,
      wordFrames: bounds.map(([a, b]) => [Math.floor(a / HOP), Math.min(f.frames, Math.ceil(b / HOP))]),
    };
  });
}

/** Normalises every utterance's log-mel in place with the per-channel mean and std of the frames of `fitOn`. */
export function normalizeGlobally(utts: readonly Utterance[], fitOn: readonly Utterance[]): void {
  const mean = new Float64Array(N_MELS), sq = new Float64Array(N_MELS);
  let n = 0;
  for (const u of fitOn) {
    for (let i = 0; i < u.mel.length; i++) {
      mean[i % N_MELS] += u.mel[i];
      sq[i % N_MELS] += u.mel[i] ** 2;
    }
    n += u.frames;
  }
  const inv = new Float64Array(N_MELS);
  for (let d = 0; d < N_MELS; d++) {
    mean[d] /= n;
    inv[d] = 1 / Math.sqrt(Math.max(1e-8, sq[d] / n - mean[d] ** 2));
  }
  for (const u of utts) for (let i = 0; i < u.mel.length; i++) u.mel[i] = (u.mel[i] - mean[i % N_MELS]) * inv[i % N_MELS];
}
