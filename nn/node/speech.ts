// Speech synthesis for kiln's speech experiments: espeak-ng renders each text segment with a voice and
// prosody settings, sox resamples it to mono 16-bit PCM and trims leading and trailing silence (so
// segments concatenate with exact boundaries). Every segment is cached as a WAV named by the CRC-32 of
// its settings under `cacheDir` (written to a temporary name, then renamed), so a data set is
// synthesised once per machine. Both tools come from Debian (`npm run setup` installs them).
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
// Through nn's index, so the nn-node bundle imports nn.js rather than carrying its own copy of these modules.
import { crc32, readWav, type SpeechSegment, type SpeechSynthesizer } from '../index.js';

const HINT = 'install the Debian/Ubuntu packages espeak-ng and sox (sudo apt-get install -y --no-install-recommends espeak-ng sox), or run `npm run setup`';

/** Thrown when espeak-ng or sox is not installed; the message says what to install. */
export class MissingSpeechToolError extends Error {
  override name = 'MissingSpeechToolError';
}

/** Throws MissingSpeechToolError unless both espeak-ng and sox run. */
export function checkSpeechTools(): void {
  for (const [tool, arg] of [['espeak-ng', '--version'], ['sox', '--version']] as const) {
    const r = spawnSync(tool, [arg], { stdio: 'ignore' });
    if (r.error) throw new MissingSpeechToolError(`speech synthesis: ${tool} is not available (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}): ${HINT}`);
  }
}

/** `espeak-ng … --stdout text | sox - -r SR -b 16 -c 1 out.wav silence …` without a shell. */
function render(seg: SpeechSegment, sampleRate: number, out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = ['-v', seg.voice, '-p', String(seg.pitch), '-s', String(seg.speed), '-a', String(seg.amplitude), '--stdout', seg.text];
    const espeak = spawn('espeak-ng', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    // Trim silence at both ends (0.5 % amplitude for 10 ms), then resample.
    const sox = spawn('sox', ['-t', 'wav', '-', '-r', String(sampleRate), '-b', '16', '-c', '1', '-t', 'wav', out, 'silence', '1', '0.01', '0.5%', 'reverse', 'silence', '1', '0.01', '0.5%', 'reverse'], { stdio: ['pipe', 'ignore', 'pipe'] });
    espeak.stdout.pipe(sox.stdin);
    let err = '';
    espeak.stderr.on('data', (d) => (err += d));
    sox.stderr.on('data', (d) => (err += d));
    let pending = 2;
    const done = (tool: string) => (code: number | null) => {
      if (code !== 0) reject(new Error(`speech synthesis: ${tool} exited with ${code} for ${JSON.stringify(seg)}: ${err.trim()}`));
      else if (--pending === 0) resolve();
    };
    espeak.on('error', (e) => reject(new MissingSpeechToolError(`speech synthesis: espeak-ng failed to start (${e.message}): ${HINT}`)));
    sox.on('error', (e) => reject(new MissingSpeechToolError(`speech synthesis: sox failed to start (${e.message}): ${HINT}`)));
    espeak.on('close', done('espeak-ng'));
    sox.on('close', done('sox'));
  });
}

export interface SynthesizerOptions {
  /** Cache folder of the segment WAVs (created when missing). */
  cacheDir: string;
  /** Synthesis processes run at once (default 2). */
  concurrency?: number;
  /** Called with (done, total) as segments finish. */
  onProgress?: (done: number, total: number) => void;
}

/** Cache file of one segment: its settings' CRC-32 (and the sample rate). */
export function segmentCacheName(seg: SpeechSegment, sampleRate: number): string {
  const key = JSON.stringify({ v: 1, text: seg.text, voice: seg.voice, pitch: seg.pitch, speed: seg.speed, amplitude: seg.amplitude, sampleRate });
  return `${crc32(new TextEncoder().encode(key)).toString(16).padStart(8, '0')}-${seg.text.replace(/[^a-z0-9]+/gi, '_').slice(0, 24)}.wav`;
}

/** A SpeechSynthesizer (nn/audio.ts) backed by espeak-ng and sox with a WAV cache. */
export function espeakSynthesizer(options: SynthesizerOptions): SpeechSynthesizer {
  return async (segments, sampleRate) => {
    checkSpeechTools();
    await mkdir(options.cacheDir, { recursive: true });
    const out: Float32Array[] = new Array(segments.length);
    let next = 0, done = 0;
    const worker = async () => {
      while (next < segments.length) {
        const i = next++;
        const path = join(options.cacheDir, segmentCacheName(segments[i], sampleRate));
        const cached = await stat(path).then((s) => s.size > 44, () => false);
        if (!cached) {
          const tmp = `${path}.tmp-${process.pid}-${i}`;
          try {
            await render(segments[i], sampleRate, tmp);
            await rename(tmp, path);
          } finally {
            await rm(tmp, { force: true });
          }
        }
        const wav = readWav(new Uint8Array(await readFile(path)));
        if (wav.sampleRate !== sampleRate) throw new Error(`speech synthesis: ${path} has ${wav.sampleRate} Hz, expected ${sampleRate}`);
        out[i] = wav.samples;
        options.onProgress?.(++done, segments.length);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 2) }, worker));
    return out;
  };
}
