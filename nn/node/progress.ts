// Terminal progress for `train()`: a cli-progress bar (step, ETA, latest loss and dev metric) when the
// stream is a terminal, and plain, rate-limited lines otherwise (CI logs, files, pipes), where a
// redrawn bar would print escape codes and thousands of lines.
// cli-progress is an optional peer dependency, loaded only when a bar is drawn (see peers.ts).
import type { SingleBar } from 'cli-progress';
import type { Progress } from '../trainer.js';
import { loadPeer } from './peers.js';

type CliProgress = typeof import('cli-progress');

export interface TerminalProgressOptions {
  label?: string;
  stream?: NodeJS.WriteStream;
  /** Force plain lines (true) or the bar (false); default: bar only on a TTY. */
  plain?: boolean;
  /** Plain mode: print at most one progress line per this many ms (default 5000), plus the last. */
  intervalMs?: number;
}

const fmtFields = (f: Record<string, number | string>) =>
  Object.entries(f)
    .map(([k, v]) => `${k} ${v}`)
    .join('  ');

export function terminalProgress(options: TerminalProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stdout;
  const plain = options.plain ?? !stream.isTTY;
  const label = options.label ?? 'train';
  return plain ? plainProgress(stream, label, options.intervalMs ?? 5000) : barProgress(stream, label);
}

function barProgress(stream: NodeJS.WriteStream, label: string): Progress {
  const { MultiBar, Presets } = loadPeer<CliProgress>('cli-progress', 'terminalProgress() on a terminal (the progress bar)');
  // MultiBar (with one bar) because it can print log lines above the bar without tearing it.
  const multi = new MultiBar(
    {
      stream,
      format: `${label} [{bar}] {value}/{total} | {percentage}% | {duration_formatted} < {eta_formatted} | {fields}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 5,
    },
    Presets.shades_classic,
  );
  let bar: SingleBar | null = null;
  return {
    start(total, startAt) {
      bar = multi.create(total, startAt, { fields: '' });
    },
    update(done, fields) {
      bar?.update(done, { fields: fmtFields(fields) });
    },
    log(message) {
      multi.log(message.endsWith('\n') ? message : message + '\n');
    },
    stop() {
      multi.stop();
    },
  };
}

function plainProgress(stream: NodeJS.WritableStream, label: string, intervalMs: number): Progress {
  let total = 0;
  let last = 0;
  let t0 = 0;
  let startAt = 0;
  let done = 0;
  let fields: Record<string, number | string> = {};
  const line = () => {
    const sec = (Date.now() - t0) / 1000;
    const rate = (done - startAt) / Math.max(sec, 1e-9);
    const eta = rate > 0 ? (total - done) / rate : NaN;
    stream.write(`${label} ${done}/${total} (${((100 * done) / Math.max(total, 1)).toFixed(0)}%) ${sec.toFixed(1)}s elapsed, eta ${Number.isFinite(eta) ? eta.toFixed(0) + 's' : '?'}  ${fmtFields(fields)}\n`);
  };
  return {
    start(t, s) {
      total = t;
      startAt = done = s;
      t0 = last = Date.now();
    },
    update(d, f) {
      done = d;
      fields = { ...f };
      const nowMs = Date.now();
      if (nowMs - last >= intervalMs) {
        last = nowMs;
        line();
      }
    },
    log(message) {
      stream.write(message.endsWith('\n') ? message : message + '\n');
    },
    stop() {
      line();
    },
  };
}
