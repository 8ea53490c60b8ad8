// `--profile`: what limits the goal rows, measured rather than guessed. Counts kernel launches per
// call by shader (by wrapping engine.run for the duration), and times a same-sized elementwise op
// (exp: read + write each element once, like softmax's traffic) so a row's GB/s can be compared with
// what kiln's simplest memory-bound kernel reaches on the same run.
import { softmax, layerNorm, type Engine, type KernelCall, type Tensor } from '../engine/index.js';
import { AdamW, TransformerLM } from '../nn/index.js';
import { BATCH, LM_CONFIG, SEQ } from './steps.js';
import { kilnTimer } from './kernels.js';
import type { TimeOptions } from './timing.js';

export async function profileGoals(engine: Engine, time: TimeOptions, dispatchPerSec: number): Promise<void> {
  const counts = new Map<string, number>();
  const run = engine.run.bind(engine);
  engine.run = (call: KernelCall) => {
    counts.set(call.shader, (counts.get(call.shader) ?? 0) + 1);
    run(call);
  };
  const launches = (label: string, fn: () => void) => {
    counts.clear();
    fn();
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    console.log(`profile ${label}: ${total} launches (${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')})`);
    return total;
  };
  try {
    const once = (f: () => Tensor) => () => engine.noGrad(() => engine.tidy(f)).dispose();
    const a = engine.randn([1024, 1024]);
    launches('matmul 1024', once(() => a.matmul(a)));
    const x = engine.randn([4096, 4096]);
    const g = engine.ones([4096]);
    const b = engine.zeros([4096]);
    launches('softmax 4096x4096', once(() => softmax(x, -1)));
    launches('layer norm 4096x4096', once(() => layerNorm(x, 4096, g, b)));
    const t = kilnTimer(engine, time);
    const gbps = (ms: number) => (8 * 4096 * 4096) / ms / 1e6;
    console.log(`profile exp 4096x4096 (elementwise reference): ${gbps(await t(() => x.exp())).toFixed(3)} GB/s`);
    console.log(`profile softmax 4096x4096 (same run): ${gbps(await t(() => softmax(x, -1))).toFixed(3)} GB/s`);
    for (const v of [a, x, g, b]) v.dispose();

    engine.manualSeed(0);
    const model = new TransformerLM(engine, LM_CONFIG);
    const opt = new AdamW(model.parameters(), { lr: 1e-3 });
    const ids = engine.tensor(Int32Array.from({ length: BATCH * SEQ }, (_, i) => i % 512), [BATCH, SEQ], { dtype: 'i32' });
    const step = () =>
      engine
        .tidy((): Tensor => {
          opt.zeroGrad();
          const ce = model.loss(ids, ids);
          ce.backward();
          opt.step();
          return ce;
        })
        .dispose();
    step();
    await engine.sync();
    const n = launches('train step dense LM', step);
    await engine.sync();
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) step();
    await engine.sync();
    const ms = (performance.now() - t0) / 3;
    console.log(`profile train step: ${ms.toFixed(1)} ms, ${n} launches; at the measured dispatch ceiling launches alone cost ${((1000 * n) / dispatchPerSec).toFixed(1)} ms`);
    opt.dispose();
    model.dispose();
    ids.dispose();
  } finally {
    engine.run = run;
  }
}
