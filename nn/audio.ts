// Audio on the host: a RIFF/WAVE PCM reader and writer, a radix-2 FFT, an HTK mel filterbank and
// log-mel features (the speech front end of methods/speech-ib-disentanglement). Feature extraction is
// data preparation, so it runs on the CPU in float64 and hands float32 frames to the engine.
import { RangeArgumentError, ShapeError } from '../engine/index.js';

export interface Wav {
  sampleRate: number;
  /** Channels in the file; `samples` holds the first one. */
  channels: number;
  /** The first channel as floats in [-1, 1). */
  samples: Float32Array;
}

const ascii = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));

/**
 * Parses a RIFF/WAVE file of 16-bit PCM (format 1, or WAVE_FORMAT_EXTENSIBLE with the PCM sub-format).
 * Chunks other than `fmt ` and `data` are skipped; a data size past the end of the file (a stream's
 * placeholder size, as espeak-ng --stdout writes) is clamped to the bytes present.
 */
export function readWav(bytes: Uint8Array): Wav {
  const fail = (why: string): never => {
    throw new RangeArgumentError(`readWav: ${why} (${bytes.length} bytes)`);
  };
  if (bytes.length < 12 || ascii(bytes, 0, 4) !== 'RIFF' || ascii(bytes, 8, 4) !== 'WAVE') fail('not a RIFF/WAVE file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: { format: number; channels: number; sampleRate: number; bits: number; blockAlign: number } | null = null;
  let at = 12;
  while (at + 8 <= bytes.length) {
    const id = ascii(bytes, at, 4);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ') {
      if (size < 16) fail(`fmt chunk of ${size} bytes`);
      let format = view.getUint16(body, true);
      if (format === 0xfffe && size >= 40) format = view.getUint16(body + 24, true); // sub-format GUID's first word
      fmt = { format, channels: view.getUint16(body + 2, true), sampleRate: view.getUint32(body + 4, true), blockAlign: view.getUint16(body + 12, true), bits: view.getUint16(body + 14, true) };
    } else if (id === 'data') {
      if (!fmt) fail('data chunk before the fmt chunk');
      const f = fmt!;
      if (f.format !== 1 || f.bits !== 16) fail(`only 16-bit PCM is supported, got format ${f.format} with ${f.bits} bits`);
      if (f.channels < 1 || f.blockAlign !== 2 * f.channels) fail(`bad channel layout: ${f.channels} channels, block align ${f.blockAlign}`);
      const end = Math.min(bytes.length, body + size);
      const n = Math.floor((end - body) / f.blockAlign);
      const samples = new Float32Array(n);
      for (let i = 0; i < n; i++) samples[i] = view.getInt16(body + i * f.blockAlign, true) / 32768;
      return { sampleRate: f.sampleRate, channels: f.channels, samples };
    }
    at = body + size + (size & 1); // chunks are padded to even sizes
  }
  return fail(fmt ? 'no data chunk' : 'no fmt chunk');
}

/** A mono 16-bit PCM WAV of `samples` (floats scaled by 32768, as readWav divides, clipped to the int16 range). */
export function encodeWav(samples: ArrayLike<number>, sampleRate: number): Uint8Array {
  const n = samples.length;
  const out = new Uint8Array(44 + 2 * n);
  const view = new DataView(out.buffer);
  const put = (at: number, s: string) => [...s].forEach((c, i) => (out[at + i] = c.charCodeAt(0)));
  put(0, 'RIFF');
  view.setUint32(4, 36 + 2 * n, true);
  put(8, 'WAVE');
  put(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, 2 * sampleRate, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  put(36, 'data');
  view.setUint32(40, 2 * n, true);
  for (let i = 0; i < n; i++) view.setInt16(44 + 2 * i, Math.max(-32768, Math.min(32767, Math.round(samples[i] * 32768))), true);
  return out;
}

// ------------------------------------------------------------------ FFT

/** In-place iterative radix-2 FFT of (re, im), length a power of two: X_k = Σ_n x_n e^{-2πi kn/N}. */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  if (im.length !== n) throw new ShapeError(`fft: re has ${n} values, im ${im.length}`);
  if (n === 0 || (n & (n - 1)) !== 0) throw new RangeArgumentError(`fft: length must be a power of two, got ${n}`);
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    const wr = Math.cos(ang), wi = Math.sin(ang);
    for (let s = 0; s < n; s += len) {
      let cr = 1, ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = s + k, b = a + len / 2;
        const tr = re[b] * cr - im[b] * ci, ti = re[b] * ci + im[b] * cr;
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
        [cr, ci] = [cr * wr - ci * wi, cr * wi + ci * wr];
      }
    }
  }
}

/** |X_k|² for k = 0..N/2 of a real frame (zero-padded to nFft), as torch.stft(...).abs()**2 for one frame. */
export function powerSpectrum(frame: ArrayLike<number>, nFft: number): Float64Array {
  if (frame.length > nFft) throw new ShapeError(`powerSpectrum: frame of ${frame.length} samples exceeds nFft ${nFft}`);
  const re = new Float64Array(nFft), im = new Float64Array(nFft);
  for (let i = 0; i < frame.length; i++) re[i] = frame[i];
  fft(re, im);
  const out = new Float64Array(nFft / 2 + 1);
  for (let k = 0; k < out.length; k++) out[k] = re[k] * re[k] + im[k] * im[k];
  return out;
}

// ------------------------------------------------------------------ mel features

/** HTK mel scale: m = 2595 log10(1 + f / 700). */
export const hzToMel = (f: number) => 2595 * Math.log10(1 + f / 700);
export const melToHz = (m: number) => 700 * (10 ** (m / 2595) - 1);

/**
 * Triangular HTK filters (peak 1, no area normalisation; torchaudio's melscale_fbanks with
 * mel_scale='htk', norm=None): nMels + 2 points equally spaced in mel between fMin and fMax give each
 * filter's (low, centre, high), evaluated at the FFT bin frequencies k·sr/nFft. (nMels, nFft/2 + 1), row-major.
 */
export function melFilterbank(nMels: number, nFft: number, sampleRate: number, fMin = 0, fMax = sampleRate / 2): Float64Array {
  if (!(nMels >= 1 && fMin >= 0 && fMax > fMin && fMax <= sampleRate / 2)) {
    throw new RangeArgumentError(`melFilterbank: need nMels >= 1 and 0 <= fMin < fMax <= sampleRate/2, got nMels ${nMels}, fMin ${fMin}, fMax ${fMax}, sampleRate ${sampleRate}`);
  }
  const bins = nFft / 2 + 1;
  const lo = hzToMel(fMin), hi = hzToMel(fMax);
  const pts = Array.from({ length: nMels + 2 }, (_, i) => melToHz(lo + ((hi - lo) * i) / (nMels + 1)));
  const fb = new Float64Array(nMels * bins);
  for (let m = 0; m < nMels; m++) {
    const [l, c, h] = [pts[m], pts[m + 1], pts[m + 2]];
    for (let k = 0; k < bins; k++) {
      const f = (k * sampleRate) / nFft;
      fb[m * bins + k] = Math.max(0, Math.min((f - l) / (c - l), (h - f) / (h - c)));
    }
  }
  return fb;
}

export interface LogMelOptions {
  sampleRate?: number;
  nFft?: number;
  /** Window length in samples (Hann, periodic). Default 25 ms. */
  winLength?: number;
  /** Hop in samples. Default 10 ms. */
  hopLength?: number;
  nMels?: number;
  fMin?: number;
  fMax?: number;
  /** Added before the log (silence stays finite). */
  eps?: number;
}

export interface Features {
  /** (frames, dims), row-major. */
  data: Float32Array;
  frames: number;
  dims: number;
}

/**
 * log(mel · |STFT|² + eps) per frame, no centring: frame i covers samples [i·hop, i·hop + win), and a
 * signal shorter than one window gives zero frames. A signal of N samples gives 1 + ⌊(N − win)/hop⌋ frames.
 */
export function logMelSpectrogram(samples: ArrayLike<number>, options: LogMelOptions = {}): Features {
  const sr = options.sampleRate ?? 16000;
  const nFft = options.nFft ?? 512;
  const win = options.winLength ?? Math.round(0.025 * sr);
  const hop = options.hopLength ?? Math.round(0.01 * sr);
  const nMels = options.nMels ?? 40;
  const eps = options.eps ?? 1e-6;
  if (win > nFft) throw new RangeArgumentError(`logMelSpectrogram: winLength ${win} exceeds nFft ${nFft}`);
  const fb = melFilterbank(nMels, nFft, sr, options.fMin ?? 0, options.fMax ?? sr / 2);
  const bins = nFft / 2 + 1;
  const window = Float64Array.from({ length: win }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / win));
  const frames = samples.length < win ? 0 : 1 + Math.floor((samples.length - win) / hop);
  const data = new Float32Array(frames * nMels);
  const frame = new Float64Array(win);
  for (let t = 0; t < frames; t++) {
    for (let i = 0; i < win; i++) frame[i] = samples[t * hop + i] * window[i];
    const p = powerSpectrum(frame, nFft);
    for (let m = 0; m < nMels; m++) {
      let s = 0;
      for (let k = 0; k < bins; k++) {
        const w = fb[m * bins + k];
        if (w) s += w * p[k];
      }
      data[t * nMels + m] = Math.log(s + eps);
    }
  }
  return { data, frames, dims: nMels };
}

/** Per-utterance mean and variance normalisation of each dim (in place); returns `f`. */
export function normalizeFeatures(f: Features, eps = 1e-5): Features {
  for (let d = 0; d < f.dims; d++) {
    let mean = 0, sq = 0;
    for (let t = 0; t < f.frames; t++) mean += f.data[t * f.dims + d];
    mean /= Math.max(1, f.frames);
    for (let t = 0; t < f.frames; t++) sq += (f.data[t * f.dims + d] - mean) ** 2;
    const inv = 1 / Math.sqrt(sq / Math.max(1, f.frames) + eps);
    for (let t = 0; t < f.frames; t++) f.data[t * f.dims + d] = (f.data[t * f.dims + d] - mean) * inv;
  }
  return f;
}

// ------------------------------------------------------------------ synthesis (injected)

/** One text segment to synthesise: espeak-ng's voice (e.g. `en-us+f2`), pitch 0–99, speed in words per minute, amplitude. */
export interface SpeechSegment {
  text: string;
  voice: string;
  pitch: number;
  speed: number;
  amplitude: number;
}

/**
 * Renders segments to mono samples at `sampleRate`, silence-trimmed at both ends. Web-standard code
 * receives one (nn/node/speech.ts makes one from espeak-ng and sox).
 */
export type SpeechSynthesizer = (segments: readonly SpeechSegment[], sampleRate: number) => Promise<Float32Array[]>;
