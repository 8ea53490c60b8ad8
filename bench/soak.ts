// A memory soak: a small Transformer LM trained for many steps (AdamW, loss read every 10 steps as a
// training loop does), printing every N steps where the process's memory is: RSS, the V8 heap (used
// and total), external and ArrayBuffer memory as process.memoryUsage() splits them, the rest of RSS
// (native: Dawn, lavapipe, the allocator), and the engine's counters (live buffers and bytes, pooled
// bytes, pipelines, bind groups). A leak in kiln's JavaScript shows as heap growth; a leak of GPU
// buffers as live buffers; growth in "native" with everything else flat is below kiln.
//   node [--expose-gc] dist/bench/soak.js [--steps=3000] [--every=250] [--read-every=10] [--ffn=gelu|swiglu|moe] [--snapshots=DIR]
// With --expose-gc the heap is collected before each sample (so the numbers are what is reachable);
// --snapshots writes a V8 heap snapshot at the second and the last sample, to diff in DevTools.
import { writeHeapSnapshot } from 'node:v8';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Engine } from '../engine/index.js';
import { AdamW, TransformerLM } from '../nn/index.js';
import { dawnGPU } from '../nn/node/gpu.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '3000' },
    every: { type: 'string', default: '250' },
    snapshots: { type: 'string' },
    'read-every': { type: 'string', default: '10' },
    ffn: { type: 'string', default: 'gelu' },
  },
  strict: true,
});
const STEPS = Number(values.steps);
const EVERY = Number(values.every);
const READ_EVERY = Number(values['read-every']);
const MB = (b: number) => (b / 2 ** 20).toFixed(1);
const gc = (globalThis as { gc?: () => void }).gc;

const engine = await Engine.create({ gpu: dawnGPU() });
engine.manualSeed(1);
const V = 64, T = 16, B = 4;
const model = new TransformerLM(engine, { vocabSize: V, dModel: 32, nLayers: 2, nHeads: 2, dFF: 64, maxSeqLen: T, ffn: values.ffn as 'gelu' | 'swiglu' | 'moe' });
const opt = new AdamW(model.parameters(), { lr: 1e-3 });
const ids = (seed: number) => {
  const out = new Int32Array(B * T);
  for (let i = 0; i < out.length; i++) out[i] = (i * 7 + seed * 13) % V;
  return out;
};
const x = engine.tensor(ids(0), [B, T], { dtype: 'i32' });
const y = engine.tensor(ids(1), [B, T], { dtype: 'i32' });

console.log('step  rss_MB  heapUsed_MB  heapTotal_MB  external_MB  arrayBuffers_MB  native_MB  liveBuffers  liveMB  pooledMB  pipelines  bindGroups  loss');
let lossValue = NaN;
let snapshotsTaken = 0;
const t0 = performance.now();
for (let step = 1; step <= STEPS; step++) {
  const loss = engine.tidy(() => (values.ffn === 'moe' ? model.loss(x, y).add(model.auxLoss()) : model.loss(x, y)));
  loss.backward();
  opt.step();
  opt.zeroGrad();
  if (step % READ_EVERY === 0) lossValue = await loss.item();
  loss.dispose();
  if (step === 1 || step % EVERY === 0) {
    await engine.sync();
    gc?.();
    const m = process.memoryUsage();
    const e = engine.memory();
    const native = m.rss - m.heapTotal - m.external;
    console.log(
      [step, MB(m.rss), MB(m.heapUsed), MB(m.heapTotal), MB(m.external), MB(m.arrayBuffers), MB(native), e.liveBuffers, MB(e.liveBytes), MB(e.pooledBytes), engine.pipelineCount, engine.bindGroupCount, lossValue.toFixed(4)].join('  '),
    );
    if (values.snapshots && (step === EVERY || step === STEPS) && snapshotsTaken < 2) {
      mkdirSync(values.snapshots, { recursive: true });
      console.log(`  heap snapshot: ${writeHeapSnapshot(join(values.snapshots, `soak-${step}.heapsnapshot`))}`);
      snapshotsTaken++;
    }
  }
}
console.log(`${STEPS} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
engine.destroy();
