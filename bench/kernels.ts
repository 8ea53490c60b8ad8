// kiln's kernels against the peers at the same shapes. Throughput: matmul 2MNK flops (per batch);
// softmax and layer norm read + write every element once (8 bytes / f32 element), a row sum reads
// it once (4 bytes). Every kiln number is wall time per call between syncs (see timing.ts), as the
// peers' are; `gpu` is the same call's kernel time from timestamp queries, where the device has them.
import { layerNorm, softmax, type Engine, type Tensor } from '../engine/index.js';
import type { Ceilings } from './ceilings.js';
import { median, type PeerName, type Row } from './format.js';
import type { Peer } from './peers/peer.js';
import { timeCalls, type TimeOptions } from './timing.js';

export interface KernelContext {
  engine: Engine;
  peers: Peer[];
  ceilings: Ceilings;
  small: boolean;
  time: TimeOptions;
  want: (name: string) => boolean;
  add: (row: Row) => void;
}

/** One call of `fn` without autograd, disposing what it returns (the unit both timers repeat). */
function disposingCall(engine: Engine, fn: () => Tensor | Tensor[]): () => void {
  return () => {
    const r = engine.noGrad(() => engine.tidy(fn));
    for (const t of Array.isArray(r) ? r : [r]) t.dispose();
  };
}

export function kilnTimer(engine: Engine, time: TimeOptions) {
  return (fn: () => Tensor | Tensor[]) => timeCalls(disposingCall(engine, fn), () => engine.sync(), time);
}

/**
 * Median GPU milliseconds per call from the engine's timestamp queries (the kernels alone: no
 * encoding, submit or sync), `samples` samples of `reps` calls after one warm-up call; undefined
 * where the device has no timestamp-query.
 */
export function kilnGpuTimer(engine: Engine, { samples = 5, reps = 3 } = {}) {
  return async (fn: () => Tensor | Tensor[]): Promise<number | undefined> => {
    if (!engine.caps.timestampQuery) return undefined;
    const call = disposingCall(engine, fn);
    call();
    await engine.sync();
    const times: number[] = [];
    for (let s = 0; s < samples; s++) {
      const ms = await engine.gpuTime(() => {
        for (let i = 0; i < reps; i++) call();
      });
      times.push(ms! / reps);
    }
    return median(times);
  };
}

/** Time each peer that has `op`; a failing peer leaves its cell empty and says why once. */
async function peerRates(peers: Peer[], call: (p: Peer) => Promise<number | undefined> | undefined, rate: (ms: number) => number): Promise<Partial<Record<PeerName, number>>> {
  const out: Partial<Record<PeerName, number>> = {};
  for (const p of peers) {
    try {
      const ms = await call(p);
      if (ms !== undefined) out[p.name] = rate(ms);
    } catch (e) {
      console.warn(`  ${p.name}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return out;
}

export async function benchKernels(c: KernelContext): Promise<void> {
  const { engine, peers, ceilings, small, want, add } = c;
  const time = kilnTimer(engine, c.time);
  // Fewer GPU samples on small runs (--quick, lavapipe), where every call is already long.
  const gpuTime = kilnGpuTimer(engine, small ? { samples: 3, reps: 1 } : {});
  const gpuRate = async (rate: (ms: number) => number, fn: () => Tensor | Tensor[]) => {
    const ms = await gpuTime(fn);
    return ms ? { gpu: rate(ms) } : {};
  };
  const fma = ceilings.fmaGflops;
  const copy = ceilings.copyGbps;

  const matmul = async (name: string, batch: number, m: number, k: number, n: number, f16 = false) => {
    if (!want(name)) return;
    const shape = `${batch > 1 ? `${batch}x ` : ''}${m}x${k}x${n}${f16 ? ' f16' : ''}`;
    const flops = 2 * batch * m * k * n;
    const rate = (ms: number) => flops / ms / 1e6;
    const dims = (r: number, q: number) => (batch > 1 ? [batch, r, q] : [r, q]);
    let a = engine.randn(dims(m, k));
    let b = engine.randn(dims(k, n));
    if (f16) [a, b] = [a.half(), b.half()];
    const kiln = rate(await time(() => a.matmul(b)));
    const gpu = await gpuRate(rate, () => a.matmul(b));
    a.dispose();
    b.dispose();
    // Peers run f32 only (TF.js WebGPU has no f16 matmul; ORT f16 needs f16 host tensors: not wired).
    const p = f16 ? {} : await peerRates(peers, (q) => q.matmul?.(batch, m, k, n), rate);
    add({ name, shape, unit: 'GFLOP/s', kiln, ...gpu, ...p, ceiling: fma });
  };

  for (const s of small ? [256, 512, 1024] : [256, 512, 1024, 2048]) await matmul(`matmul ${s}`, 1, s, s, s);
  await matmul('matmul tall-skinny', 1, small ? 8192 : 65536, 256, 64);
  await matmul('matmul batched', small ? 16 : 64, 128, 128, 128);
  if (engine.caps.shaderF16) await matmul('matmul 1024 f16', 1, 1024, 1024, 1024, true);

  const rowOp = async (name: string, r: number, cols: number, bytesPerElem: number, kilnOp: (x: Tensor, g: Tensor, b: Tensor) => Tensor, peerOp: (p: Peer) => Promise<number | undefined> | undefined) => {
    if (!want(name)) return;
    const rate = (ms: number) => (bytesPerElem * r * cols) / ms / 1e6;
    const x = engine.randn([r, cols]);
    const g = engine.ones([cols]);
    const b = engine.zeros([cols]);
    const kiln = rate(await time(() => kilnOp(x, g, b)));
    const gpu = await gpuRate(rate, () => kilnOp(x, g, b));
    for (const t of [x, g, b]) t.dispose();
    add({ name, shape: `[${r}, ${cols}]`, unit: 'GB/s', kiln, ...gpu, ...(await peerRates(peers, peerOp, rate)), ceiling: copy });
  };
  await rowOp('softmax 4096x4096', 4096, 4096, 8, (x) => softmax(x, -1), (p) => p.softmax?.(4096, 4096));
  await rowOp('layer norm 4096x4096', 4096, 4096, 8, (x, g, b) => layerNorm(x, 4096, g, b), (p) => p.layerNorm?.(4096, 4096));
  await rowOp('sum rows 4096x4096', 4096, 4096, 4, (x) => x.sum(-1), (p) => p.sumRows?.(4096, 4096));
  if (want('sum all 16M')) {
    const n = 1 << 24;
    const x = engine.randn([n]);
    const rate = (ms: number) => (4 * n) / ms / 1e6;
    const kiln = rate(await time(() => x.sum()));
    const gpu = await gpuRate(rate, () => x.sum());
    x.dispose();
    add({ name: 'sum all 16M', shape: `[${n}]`, unit: 'GB/s', kiln, ...gpu, ceiling: copy });
  }
}
