// `npm run bench [-- --out=results.json] [--only=router,moe]`: times kiln's kernels on the first adapter and prints a
// table (and JSON with --out). Times are wall-clock over many launches between two GPU syncs, so they
// include dispatch overhead, which is what a training step pays. Peers and device ceilings come with
// the benchmark issue.
import { create } from 'webgpu';
import { renameSync, writeFileSync } from 'node:fs';
import { Engine, type Tensor } from '../engine/index.js';
import { benchMoE } from './moe.js';
import { benchRouter } from './router.js';

interface Result {
  name: string;
  shape: string;
  msPerCall: number;
  gflops?: number;
  gbps?: number;
}

async function time(engine: Engine, fn: () => Tensor, iters: number): Promise<number> {
  for (let i = 0; i < 2; i++) engine.tidy(fn).dispose();
  await engine.sync();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) engine.tidy(fn).dispose();
  await engine.sync();
  return (performance.now() - t0) / iters;
}

/** Elementwise, copy, reduction and matmul throughput. */
async function benchCore(engine: Engine, add: (r: Result) => void, { small }: { small: boolean }): Promise<void> {
  const iters = small ? 10 : 100;
  const n = small ? 1 << 20 : 1 << 24;
  const a = engine.randn([n]);
  const b = engine.randn([n]);
  let ms = await time(engine, () => a.add(b), iters);
  add({ name: 'add', shape: `[${n}]`, msPerCall: ms, gbps: (12 * n) / ms / 1e6 });

  const side = small ? 512 : 4096;
  const m = engine.randn([side, side]);
  ms = await time(engine, () => m.t().contiguous(), iters);
  add({ name: 'transpose copy', shape: `[${side}, ${side}]`, msPerCall: ms, gbps: (8 * side * side) / ms / 1e6 });
  ms = await time(engine, () => m.sum(-1), iters);
  add({ name: 'sum(-1)', shape: `[${side}, ${side}]`, msPerCall: ms, gbps: (4 * side * side) / ms / 1e6 });

  for (const s of small ? [64, 128, 256] : [256, 1024, 4096]) {
    const x = engine.randn([s, s]);
    const y = engine.randn([s, s]);
    ms = await time(engine, () => x.matmul(y), small ? 5 : 50);
    add({ name: 'matmul', shape: `${s}x${s}x${s}`, msPerCall: ms, gflops: (2 * s ** 3) / ms / 1e6 });
    x.dispose();
    y.dispose();
  }

  a.dispose();
  b.dispose();
  m.dispose();
}

async function main(): Promise<void> {
  const out = process.argv.find((a) => a.startsWith('--out='))?.slice(6);
  const engine = await Engine.create({ gpu: create([]) });
  const c = engine.caps;
  const small = c.isSoftware;
  console.log(`adapter: ${c.vendor} ${c.architecture} ${c.description}${small ? ' (software: small sizes)' : ''}`);
  const results: Result[] = [];
  const add = (r: Result) => {
    results.push(r);
    const rate = r.gflops !== undefined ? `${r.gflops.toFixed(1)} GFLOP/s` : r.gbps !== undefined ? `${r.gbps.toFixed(1)} GB/s` : '';
    console.log(`${r.name.padEnd(30)} ${r.shape.padEnd(18)} ${r.msPerCall.toFixed(3).padStart(9)} ms  ${rate}`);
  };

  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
  const groups: [string, (e: Engine, add: (r: Result) => void, o: { small: boolean }) => Promise<void>][] = [
    ['core', benchCore],
    ['router', benchRouter],
    ['moe', benchMoE],
  ];
  for (const [name, run] of groups) if (!only || only.split(',').includes(name)) await run(engine, add, { small });

  if (out) {
    const json = JSON.stringify({ adapter: { vendor: c.vendor, architecture: c.architecture, description: c.description }, results }, null, 2);
    writeFileSync(`${out}.tmp`, json);
    renameSync(`${out}.tmp`, out);
    console.log(`wrote ${out}`);
  }
  engine.destroy();
}

await main();
