// train(): losses read back once per window (counted at the engine's readback), JSON-lines metrics
// that parse, early stopping after `patience` evaluations without improvement, and the progress hooks.
import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine, Tensor } from '../engine/index.js';
import { memorySink, train, type MetricRecord, type Progress } from '../nn/index.js';
import { jsonlSink, terminalProgress } from '../nn/node/index.js';
import { gpuEngine } from './helpers/gpu.js';

/** Count the engine's GPU→host reads (every data()/item() goes through engine.read). */
function countReads(engine: Engine): { count: () => number; restore: () => void } {
  const original = engine.read;
  let n = 0;
  engine.read = function (this: Engine, ...args: Parameters<Engine['read']>) {
    n++;
    return original.apply(this, args);
  };
  return { count: () => n, restore: () => void (engine.read = original) };
}

describe('trainer', function () {
  let engine: Engine;
  let dir: string;
  before(async function () {
    engine = await gpuEngine(this);
    dir = await mkdtemp(join(tmpdir(), 'kiln-trainer-'));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the loss back only every logEvery steps, and logs the window of losses', async function () {
    const spy = countReads(engine);
    const sink = memorySink();
    const live = engine.memory().liveBuffers;
    try {
      const r = await train({ steps: 23, logEvery: 5, step: (i) => engine.tensor([i * 0.5], []), log: sink.log });
      expect(spy.count()).to.equal(5); // windows ending at 5, 10, 15, 20, 23
      expect(r.steps).to.equal(23);
      expect(r.lastLoss).to.be.closeTo((20 + 21 + 22) * 0.5 / 3, 1e-6);
    } finally {
      spy.restore();
    }
    const trainRecs = sink.records.filter((r) => r.kind === 'train') as Extract<MetricRecord, { kind: 'train' }>[];
    expect(trainRecs.map((r) => r.step)).to.deep.equal([5, 10, 15, 20, 23]);
    expect(trainRecs[1].losses).to.deep.equal([2.5, 3, 3.5, 4, 4.5]);
    expect(trainRecs[1].loss).to.be.closeTo(3.5, 1e-6);
    expect(engine.memory().liveBuffers).to.equal(live); // every loss and window freed
  });

  it('stops after `patience` evaluations without improvement (min and max modes)', async function () {
    // val_loss improves until step 20, then stays flat: evals at 10, 20, 30, 40, 50 → stop at 50 with patience 3.
    const vals: Record<number, number> = { 10: 2, 20: 1.5, 30: 1.6, 40: 1.5, 50: 1.7, 60: 1, 70: 1 };
    let stepsRun = 0;
    const seen: [number, boolean][] = [];
    const r = await train({
      steps: 100,
      logEvery: 10,
      evalEvery: 10,
      step: (i) => {
        stepsRun = i + 1;
        return engine.tensor([1], []);
      },
      evaluate: async (s) => ({ val_loss: vals[s] ?? 0 }),
      earlyStopping: { metric: 'val_loss', patience: 3, mode: 'min' },
      onEval: (s, _m, improved) => void seen.push([s, improved]),
    });
    expect(r.stoppedEarly).to.equal(true);
    expect(r.steps).to.equal(50);
    expect(stepsRun).to.equal(50);
    expect(r.best).to.deep.equal({ value: 1.5, step: 20 });
    expect(seen).to.deep.equal([[10, true], [20, true], [30, false], [40, false], [50, false]]);

    const acc: Record<number, number> = { 5: 0.5, 10: 0.7, 15: 0.7, 20: 0.69 };
    const r2 = await train({
      steps: 40,
      logEvery: 5,
      evalEvery: 5,
      step: () => engine.tensor([0], []),
      evaluate: async (s) => ({ acc: acc[s] ?? 1 }),
      earlyStopping: { metric: 'acc', patience: 2, mode: 'max' },
    });
    expect(r2.stoppedEarly).to.equal(true);
    expect(r2.steps).to.equal(20);
    expect(r2.best).to.deep.equal({ value: 0.7, step: 10 });

    // Never improving past the first: no early stop when training ends first.
    const r3 = await train({
      steps: 12,
      evalEvery: 4,
      step: () => engine.tensor([0], []),
      evaluate: async () => ({ v: 1 }),
      earlyStopping: { metric: 'v', patience: 3 },
    });
    expect(r3.stoppedEarly).to.equal(false);
    expect(r3.steps).to.equal(12);
  });

  it('restoreBest copies back the values of the best evaluation, on an early stop and at the last step', async function () {
    // The "parameter" holds the step count; the metric is best at step 20 (early stop at 50) and at 30 (ran to the end).
    const live = engine.memory().liveBuffers;
    const w = engine.keep(engine.tensor([0, 0], [2]));
    try {
      const run = (vals: Record<number, number>, steps: number) =>
        train({
          steps,
          logEvery: 10,
          evalEvery: 10,
          step: (i) => {
            const v = engine.tensor([i + 1, -(i + 1)], [2]);
            engine.noGrad(() => w.copy_(v));
            v.dispose();
            return engine.tensor([1], []);
          },
          evaluate: async (s) => ({ v: vals[s] }),
          earlyStopping: { metric: 'v', patience: 3, restoreBest: [w] },
        });
      const r = await run({ 10: 2, 20: 1, 30: 3, 40: 3, 50: 3 }, 100);
      expect([r.stoppedEarly, r.steps, r.best!.step]).to.deep.equal([true, 50, 20]);
      expect(Array.from(await w.data())).to.deep.equal([20, -20]);
      const r2 = await run({ 10: 2, 20: 1, 30: 0.5, 40: 0.7 }, 40);
      expect([r2.stoppedEarly, r2.best!.step]).to.deep.equal([false, 30]);
      expect(Array.from(await w.data())).to.deep.equal([30, -30]);
    } finally {
      w.dispose();
    }
    expect(engine.memory().liveBuffers).to.equal(live); // the best-state copies are freed
  });

  it('writes metrics as JSON lines that parse, one record per line', async function () {
    const path = join(dir, 'metrics.jsonl');
    const log = jsonlSink(path);
    await train({
      steps: 12,
      logEvery: 4,
      evalEvery: 6,
      step: (i) => engine.tensor([1 / (i + 1)], []),
      evaluate: async (s) => ({ val_loss: 1 / s, 'val/brown': 2 / s }),
      log,
      logExtra: (s) => ({ lr: 0.001 * s }),
    });
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    const recs = lines.map((l) => JSON.parse(l));
    expect(recs.map((r) => `${r.kind}@${r.step}`)).to.deep.equal(['train@4', 'eval@6', 'train@8', 'train@12', 'eval@12']);
    expect(recs[0]).to.include.keys('loss', 'losses', 'stepsPerSec', 'elapsedSec', 'lr');
    expect(recs[0].lr).to.be.closeTo(0.004, 1e-12);
    expect(recs[4]['val/brown']).to.be.closeTo(2 / 12, 1e-12);
    // A second sink on the same path starts a new file.
    jsonlSink(path);
    expect(await readFile(path, 'utf8')).to.equal('');
  });

  it('drives a progress display; the plain fallback prints lines, not escape codes', async function () {
    const calls: string[] = [];
    const progress: Progress = {
      start: (t, s) => void calls.push(`start ${t} ${s}`),
      update: (d) => void calls.push(`update ${d}`),
      log: (m) => void calls.push(`log ${m}`),
      stop: () => void calls.push('stop'),
    };
    await train({ steps: 5, startStep: 2, step: () => engine.tensor([1], []), evaluate: async () => ({ m: 1 }), evalEvery: 2, progress });
    expect(calls).to.deep.equal(['start 5 2', 'update 3', 'update 4', 'log step 4: m 1.0000', 'update 5', 'log step 5: m 1.0000', 'stop']);

    let text = '';
    const stream = { isTTY: false, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
    await train({ steps: 6, logEvery: 3, step: () => engine.tensor([2], []), progress: terminalProgress({ stream, intervalMs: 0 }) });
    expect(text).to.not.match(/\x1b\[/);
    expect(text.trimEnd().split('\n').at(-1)).to.match(/^train 6\/6 \(100%\).*loss 2\.0000/);
  });

  it('rejects a step that returns no scalar loss', async function () {
    let err: unknown;
    const t = engine.tensor([1, 2], [2]);
    try {
      await train({ steps: 1, step: () => t as Tensor });
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.match(/one-element loss tensor/);
    t.dispose();
  });
});
