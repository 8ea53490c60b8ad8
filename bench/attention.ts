// Fused attention (engine flashAttention) against the composed path (nn composedAttention: matmul,
// mask, softmax, matmul), forward and forward + backward, for causal self-attention, the shape a
// decoder LM runs: (B, H, T, D) = (1, 4, T, 64). Times are wall-clock per call over many calls
// between two GPU syncs, after warm-up. GFLOP/s use the dense count for both paths (forward
// 4 B H T^2 D; forward + backward 3.5x that, FlashAttention-2's convention), so the fused kernel's
// skipped causal tiles show up as speed.
import { flashAttention, type Engine, type Tensor } from '../engine/index.js';
import { composedAttention } from '../nn/index.js';
import { timeCalls } from './timing.js';

export interface AttentionBenchRow {
  name: string;
  shape: string;
  msPerCall: number;
  gflops?: number;
  /** GPU memory one call holds at its peak above what was live before it: the composed path's T² scores. */
  peakMiB?: number;
}

/** Peak MiB of one call (what it creates, until its results are disposed) above the bytes live before. */
async function peakMiB(engine: Engine, fn: () => Tensor[]): Promise<number> {
  await engine.sync();
  const before = engine.memory().liveBytes;
  engine.resetPeakMemory();
  engine.tidy(fn).forEach((t) => t.dispose());
  await engine.sync();
  return (engine.memory().peakBytes - before) / 2 ** 20;
}

/** Median ms per call (bench/timing.ts), disposing what each call returns. */
function time(engine: Engine, fn: () => Tensor[], iters: number): Promise<number> {
  return timeCalls(() => engine.tidy(fn).forEach((t) => t.dispose()), () => engine.sync(), { maxReps: iters });
}

/** Calls per sample: fewer at long lengths on a software adapter; enough to amortise the two syncs. */
const itersFor = (T: number, small: boolean) => Math.max(3, Math.round((small ? 8 : 50) * (256 / T)));

/**
 * Median ms of one fused causal forward at (B, H, T, D) = (1, 4, T, 64), timed as the group's
 * `attention fused fwd T=…` row, on fresh random inputs: main.ts calls it in alternation with the
 * peers' unfused attention so that kiln and the peers see the same machine load.
 */
export async function timeFusedForward(engine: Engine, T: number, small: boolean): Promise<number> {
  const [q, k, v] = [0, 1, 2].map(() => engine.randn([1, 4, T, 64]));
  try {
    return await time(engine, () => [flashAttention(q, k, v, { causal: true })], itersFor(T, small));
  } finally {
    for (const t of [q, k, v]) t.dispose();
  }
}

export async function benchAttention(engine: Engine, add: (row: AttentionBenchRow) => void, opts: { small: boolean }): Promise<void> {
  const [B, H, D] = [1, 4, 64];
  const lengths = opts.small ? [128, 256, 512] : [128, 256, 512, 1024];
  const impls = [
    ['fused', (q: Tensor, k: Tensor, v: Tensor) => flashAttention(q, k, v, { causal: true })],
    ['composed', (q: Tensor, k: Tensor, v: Tensor) => composedAttention(q, k, v, { causal: true })],
  ] as const;
  for (const T of lengths) {
    const shape = `[${B}, ${H}, ${T}, ${D}] causal`;
    const q = engine.randn([B, H, T, D]).requiresGrad_();
    const k = engine.randn([B, H, T, D]).requiresGrad_();
    const v = engine.randn([B, H, T, D]).requiresGrad_();
    const g = engine.randn([B, H, T, D]);
    const flops = 4 * B * H * T * T * D;
    const iters = itersFor(T, opts.small);
    for (const [name, fn] of impls) {
      const forward = () => [engine.noGrad(() => fn(q, k, v))];
      const fwd = await time(engine, forward, iters);
      add({ name: `attention ${name} fwd T=${T}`, shape, msPerCall: fwd, gflops: flops / fwd / 1e6, peakMiB: await peakMiB(engine, forward) });
      const forwardBackward = () => {
        const o = fn(q, k, v);
        const grads = engine.autogradGrad(o, [q, k, v], { gradOutput: g });
        return [o, ...grads.filter((x): x is Tensor => x !== null)];
      };
      const both = await time(engine, forwardBackward, iters);
      add({ name: `attention ${name} fwd+bwd T=${T}`, shape, msPerCall: both, gflops: (3.5 * flops) / both / 1e6, peakMiB: await peakMiB(engine, forwardBackward) });
    }
    for (const t of [q, k, v, g]) t.dispose();
  }
}
