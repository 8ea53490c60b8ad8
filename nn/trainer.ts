// A training loop helper. Steps run back to back without waiting on the GPU: each step's 0-d loss
// stays on the device and the losses of a window of `logEvery` steps are read back together (one
// readback per window), then logged as one record. Evaluation, early stopping and progress are
// optional. Web-standard: the metrics sink and the progress display are injected (nn/node/ has a
// JSON-lines file sink and a terminal progress bar).
import { KilnError, type Engine, type Tensor } from '../engine/index.js';

/** One line of the metrics log. */
export type MetricRecord =
  | { kind: 'train'; step: number; loss: number; losses: number[]; stepsPerSec: number; elapsedSec: number; [k: string]: unknown }
  | { kind: 'eval'; step: number; elapsedSec: number; [metric: string]: unknown };

/** Where progress goes (nn/node/progress.ts draws a terminal bar). */
export interface Progress {
  start(total: number, startAt: number): void;
  /** Called every step (cheap: no readback); `fields` holds the latest values read. */
  update(done: number, fields: Record<string, number | string>): void;
  /** A message that should not break the bar (eval results, early stop). */
  log(message: string): void;
  stop(): void;
}

export interface EarlyStopping {
  /** Key of a metric `evaluate` returns, e.g. "val_loss". */
  metric: string;
  /** Evaluations without improvement before stopping. */
  patience: number;
  mode?: 'min' | 'max';
  /** Improvement smaller than this does not count (default 0). */
  minDelta?: number;
  /**
   * Tensors (e.g. `model.parameters()`) whose values at the best evaluation are copied back when training
   * ends, early or at the last step (Hugging Face's load_best_model_at_end). Copies stay on the device.
   */
  restoreBest?: readonly Tensor[];
}

export interface TrainOptions {
  /** Total steps (the loop runs `startStep` .. `steps - 1`). */
  steps: number;
  /** First step (after resuming from a checkpoint). Default 0. */
  startStep?: number;
  /**
   * One optimisation step; returns the 0-d loss tensor. The trainer owns the returned tensor (it keeps
   * a detached view until the window is read, then disposes it).
   */
  step: (i: number) => Tensor | Promise<Tensor>;
  /** Read and log the training loss every this many steps (default 10). */
  logEvery?: number;
  /** Dev/validation metrics, run every `evalEvery` steps and after the last step. */
  evaluate?: (step: number) => Promise<Record<string, number>>;
  evalEvery?: number;
  /** The metrics sink (one call per record); may be async. */
  log?: (record: MetricRecord) => void | Promise<void>;
  /** Extra fields for each train record, e.g. the learning rate. */
  logExtra?: (step: number) => Record<string, number>;
  earlyStopping?: EarlyStopping;
  /** Called after each evaluation (e.g. to save a checkpoint when `improved`). */
  onEval?: (step: number, metrics: Record<string, number>, improved: boolean) => void | Promise<void>;
  progress?: Progress;
}

export interface TrainResult {
  /** Steps completed (the index after the last step run). */
  steps: number;
  stoppedEarly: boolean;
  /** Best value of the early-stopping metric and the step it was seen at (when early stopping is set). */
  best: { value: number; step: number } | null;
  /** Mean loss of the last window read. */
  lastLoss: number;
  evals: { step: number; metrics: Record<string, number> }[];
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const start = opts.startStep ?? 0;
  const logEvery = opts.logEvery ?? 10;
  const evalEvery = opts.evalEvery ?? 0;
  if (!Number.isInteger(opts.steps) || opts.steps < start) throw new KilnError(`train: steps (${opts.steps}) must be an integer >= startStep (${start})`);
  if (!Number.isInteger(logEvery) || logEvery < 1) throw new KilnError(`train: logEvery must be a positive integer, got ${logEvery}`);
  if (opts.earlyStopping && !opts.evaluate) throw new KilnError('train: earlyStopping needs evaluate');
  if (opts.earlyStopping && !(opts.earlyStopping.patience >= 1)) throw new KilnError('train: earlyStopping.patience must be >= 1');

  const t0 = now();
  let windowStart = t0;
  let pending: { step: number; loss: Tensor }[] = [];
  const fields: Record<string, number | string> = {};
  const evals: TrainResult['evals'] = [];
  const es = opts.earlyStopping;
  const sign = es?.mode === 'max' ? -1 : 1;
  let best: { value: number; step: number } | null = null;
  let bad = 0;
  let lastLoss = NaN;
  let stoppedEarly = false;
  let engine: Engine | null = null;
  let bestValues: Tensor[] | null = null;

  const flushLosses = async (step: number) => {
    if (!pending.length || !engine) return;
    const window = pending;
    pending = [];
    // One readback for the whole window.
    const stacked = engine.noGrad(() => engine!.stack(window.map((p) => p.loss)));
    let values: number[];
    try {
      values = Array.from(await stacked.data());
    } finally {
      stacked.dispose();
      for (const p of window) p.loss.dispose();
    }
    const t = now();
    lastLoss = values.reduce((a, b) => a + b, 0) / values.length;
    const rec: MetricRecord = {
      kind: 'train',
      step,
      loss: lastLoss,
      losses: values,
      stepsPerSec: values.length / Math.max(1e-9, (t - windowStart) / 1000),
      elapsedSec: (t - t0) / 1000,
      ...(opts.logExtra?.(step) ?? {}),
    };
    windowStart = t;
    fields.loss = lastLoss.toFixed(4);
    await opts.log?.(rec);
  };

  const runEval = async (step: number): Promise<boolean> => {
    const metrics = await opts.evaluate!(step);
    evals.push({ step, metrics });
    await opts.log?.({ kind: 'eval', step, elapsedSec: (now() - t0) / 1000, ...metrics });
    let improved = true;
    if (es) {
      const v = metrics[es.metric];
      if (typeof v !== 'number') throw new KilnError(`train: evaluate() returned no "${es.metric}" (got ${Object.keys(metrics).join(', ') || 'nothing'})`);
      improved = best === null || sign * (best.value - v) > (es.minDelta ?? 0);
      if (improved) {
        best = { value: v, step };
        bad = 0;
        if (es.restoreBest) {
          bestValues?.forEach((t) => t.dispose());
          bestValues = es.restoreBest.map((t) => t.engine.noGrad(() => t.engine.keep(t.clone())));
        }
      } else bad++;
      fields[es.metric] = v.toFixed(4);
    }
    opts.progress?.log(`step ${step}: ${Object.entries(metrics).map(([k, v]) => `${k} ${fmt(v)}`).join('  ')}${es && !improved ? ` (no improvement ${bad}/${es.patience})` : ''}`);
    await opts.onEval?.(step, metrics, improved);
    return !!es && bad >= es.patience;
  };

  opts.progress?.start(opts.steps, start);
  let i = start;
  try {
    for (; i < opts.steps; i++) {
      const loss = await opts.step(i);
      if (!loss || loss.size !== 1) throw new KilnError(`train: step(${i}) must return a one-element loss tensor, got ${loss ? `shape [${loss.shape.join(', ')}]` : loss}`);
      engine ??= loss.engine;
      // Keep a history-free 0-d view of the value, and free the loss (and with it the graph it holds).
      const detached = loss.detach();
      pending.push({ step: i, loss: engine.keep(detached.reshape([])) });
      detached.dispose();
      loss.dispose();
      const done = i + 1;
      if (done % logEvery === 0 || done === opts.steps) await flushLosses(done);
      opts.progress?.update(done, fields);
      if (opts.evaluate && ((evalEvery > 0 && done % evalEvery === 0) || done === opts.steps)) {
        if (await runEval(done)) {
          stoppedEarly = true;
          opts.progress?.log(`early stop at step ${done}: ${es!.metric} has not improved for ${es!.patience} evaluations (best ${fmt(best!.value)} at step ${best!.step})`);
          i++;
          break;
        }
      }
    }
    await flushLosses(i);
    const kept = bestValues as Tensor[] | null; // assigned in runEval
    kept?.forEach((v, k) => v.engine.noGrad(() => es!.restoreBest![k].copy_(v)));
  } finally {
    (bestValues as Tensor[] | null)?.forEach((t) => t.dispose());
    for (const p of pending) p.loss.dispose();
    opts.progress?.stop();
  }
  return { steps: i, stoppedEarly, best, lastLoss, evals };
}

const fmt = (v: number) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4));
const now = () => (globalThis.performance?.now?.() ?? Date.now());

/** A sink that keeps records in memory (tests, browsers). */
export function memorySink(): { records: MetricRecord[]; log: (r: MetricRecord) => void } {
  const records: MetricRecord[] = [];
  return { records, log: (r) => void records.push(r) };
}
