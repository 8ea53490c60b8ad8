// `--profile`: what limits the goal rows, measured rather than guessed. engine.profileKernels gives
// each call's dispatches and kernel time by shader (one timed pass per dispatch), and a same-sized
// elementwise op (exp: read + write each element once, like softmax's traffic) times what kiln's
// simplest memory-bound kernel reaches on the same run, to compare a row's GB/s with.
import { flashAttention, softmax, layerNorm, type Engine, type Tensor } from '../engine/index.js';
import { AdamW, composedAttention, TransformerLM } from '../nn/index.js';
import { BATCH, LM_CONFIG, SEQ } from './steps.js';
import { kilnTimer } from './kernels.js';
import type { TimeOptions } from './timing.js';

/** Profile one call of `fn` and print its dispatches and kernel time by shader; returns the dispatch count. */
async function profile(engine: Engine, label: string, fn: () => void): Promise<number> {
  const p = await engine.profileKernels(fn);
  if (!p) {
    console.log(`profile ${label}: the adapter has no timestamp-query, so no kernel profile`);
    return 0;
  }
  const rows = p.kernels.map((k) => `${k.shader} ${k.ms.toFixed(2)} ms / ${k.calls}`).join(', ');
  console.log(`profile ${label}: ${p.dispatches} dispatches, ${p.totalMs.toFixed(2)} ms of kernels (${rows})`);
  return p.dispatches;
}

export async function profileGoals(engine: Engine, time: TimeOptions, dispatchPerSec: number): Promise<void> {
  const once = (f: () => Tensor) => () => engine.noGrad(() => engine.tidy(f)).dispose();
  const a = engine.randn([1024, 1024]);
  await profile(engine, 'matmul 1024', once(() => a.matmul(a)));
  const x = engine.randn([4096, 4096]);
  const g = engine.ones([4096]);
  const b = engine.zeros([4096]);
  await profile(engine, 'softmax 4096x4096', once(() => softmax(x, -1)));
  await profile(engine, 'layer norm 4096x4096', once(() => layerNorm(x, 4096, g, b)));
  const t = kilnTimer(engine, time);
  const gbps = (ms: number) => (8 * 4096 * 4096) / ms / 1e6;
  console.log(`profile exp 4096x4096 (elementwise reference): ${gbps(await t(() => x.exp())).toFixed(3)} GB/s`);
  console.log(`profile softmax 4096x4096 (same run): ${gbps(await t(() => softmax(x, -1))).toFixed(3)} GB/s`);
  for (const v of [a, x, g, b]) v.dispose();

  // The attention goal row's shape: where the fused kernels' time goes, against the composed path.
  const [q, k, v, go] = [0, 1, 2, 3].map(() => engine.randn([1, 4, 512, 64]));
  for (const [name, attn] of [['fused', flashAttention], ['composed', composedAttention]] as const) {
    await profile(engine, `attention ${name} fwd T=512`, once(() => attn(q, k, v, { causal: true })));
    const leaves = [q, k, v].map((t) => t.detach().requiresGrad_());
    const [ql, kl, vl] = leaves;
    await profile(engine, `attention ${name} fwd+bwd T=512`, () =>
      engine.tidy(() => engine.autogradGrad(attn(ql, kl, vl, { causal: true }), leaves, { gradOutput: go })).forEach((t) => t?.dispose()),
    );
    for (const t of leaves) t.dispose();
  }
  for (const t of [q, k, v, go]) t.dispose();

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
  const n = await profile(engine, 'train step dense LM', step);
  await engine.sync();
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) step();
  await engine.sync();
  const ms = (performance.now() - t0) / 3;
  console.log(`profile train step: ${ms.toFixed(1)} ms, ${n} launches; at the measured dispatch ceiling launches alone cost ${((1000 * n) / dispatchPerSec).toFixed(1)} ms`);
  opt.dispose();
  model.dispose();
  ids.dispose();
}
