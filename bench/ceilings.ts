// Device ceilings measured in every run, with small WGSL probes on kiln's own GPUDevice (raw
// WebGPU, not engine.run: they are not kernels of the engine). GPU timestamps time the FMA and copy
// probes where the device has `timestamp-query` (main.ts creates the instance with Dawn's
// quantisation off); otherwise wall time between syncs.
import { median } from './format.js';

// 2 independent vec4 FMA chains per thread: lavapipe vectorises across invocations, so each vec4 is
// 4 SIMD registers; 8 chains measured slower (spills), 4 no faster. The result is stored so the
// compiler cannot drop the loop.
const FMA_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
override ITERS: u32 = 1024u;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let s = f32(gid.x) * 1e-7;
  var a0 = vec4<f32>(s, s + 1.0, s + 2.0, s + 3.0);
  var a1 = a0 + 0.1;
  let m = vec4<f32>(0.999999);
  let c = vec4<f32>(1e-6);
  for (var i = 0u; i < ITERS; i++) {
    a0 = fma(a0, m, c); a1 = fma(a1, m, c);
  }
  out[gid.x] = a0 + a1;
}`;

const COPY_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < arrayLength(&src)) { dst[i] = src[i]; }
}`;

const EMPTY_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(1)
fn main() { out[0] = out[0] + 1u; }`;

export interface Ceilings {
  fmaGflops: number;
  copyGbps: number;
  /** Dispatches per second inside one compute pass. */
  dispatchPerSec: number;
  /** Empty submit + onSubmittedWorkDone round trips per second. */
  submitPerSec: number;
  timer: 'gpu timestamps' | 'wall clock';
}

const STORAGE = 0x80;
const COPY_SRC = 0x04;
const COPY_DST = 0x08;
const MAP_READ = 0x01;
const QUERY_RESOLVE = 0x200;

export async function measureCeilings(device: GPUDevice, opts: { small: boolean }): Promise<Ceilings> {
  const useTs = device.features.has('timestamp-query');
  const pipe = (code: string, constants?: Record<string, number>) =>
    device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main', constants } });
  const sync = () => device.queue.onSubmittedWorkDone();

  const query = useTs ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
  const resolve = useTs ? device.createBuffer({ size: 16, usage: QUERY_RESOLVE | COPY_SRC }) : null;
  const readback = useTs ? device.createBuffer({ size: 16, usage: COPY_DST | MAP_READ }) : null;

  /** Median ms of one pass that dispatches `reps` times (GPU timestamps when available). */
  const timePass = async (p: GPUComputePipeline, bg: GPUBindGroup, grid: [number, number], reps: number, samples = 5): Promise<number> => {
    const once = async (): Promise<number> => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass(query ? { timestampWrites: { querySet: query, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : undefined);
      pass.setPipeline(p);
      pass.setBindGroup(0, bg);
      for (let i = 0; i < reps; i++) pass.dispatchWorkgroups(grid[0], grid[1]);
      pass.end();
      if (query && resolve && readback) {
        enc.resolveQuerySet(query, 0, 2, resolve, 0);
        enc.copyBufferToBuffer(resolve, 0, readback, 0, 16);
      }
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      if (readback) {
        await readback.mapAsync(MAP_READ);
        const [a, b] = new BigUint64Array(readback.getMappedRange().slice(0));
        readback.unmap();
        if (b > a) return Number(b - a) / 1e6;
      }
      await sync();
      return performance.now() - t0;
    };
    await once(); // warm-up
    const ts: number[] = [];
    for (let s = 0; s < samples; s++) ts.push(await once());
    return median(ts);
  };

  // FMA probe: threads x ITERS x 2 chains x 4 lanes x 2 flops.
  const iters = 1024;
  const wgs = opts.small ? 256 : 8192;
  const fmaOut = device.createBuffer({ size: wgs * 64 * 16, usage: STORAGE });
  const fmaPipe = pipe(FMA_WGSL, { ITERS: iters });
  const fmaBg = device.createBindGroup({ layout: fmaPipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: fmaOut } }] });
  const fmaReps = opts.small ? 2 : 10;
  const fmaMs = await timePass(fmaPipe, fmaBg, [wgs, 1], fmaReps);
  const fmaGflops = (fmaReps * wgs * 64 * iters * 2 * 4 * 2) / fmaMs / 1e6;

  // Copy probe: read + write bytes of a buffer far larger than any cache.
  const bytes = (opts.small ? 32 : 256) << 20;
  const src = device.createBuffer({ size: bytes, usage: STORAGE });
  const dst = device.createBuffer({ size: bytes, usage: STORAGE });
  const copyPipe = pipe(COPY_WGSL);
  const copyBg = device.createBindGroup({
    layout: copyPipe.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: dst } }],
  });
  const groups = bytes / 16 / 256;
  const gx = Math.min(groups, 32768);
  const copyReps = opts.small ? 2 : 10;
  const copyMs = await timePass(copyPipe, copyBg, [gx, Math.ceil(groups / gx)], copyReps);
  const copyGbps = (copyReps * 2 * bytes) / copyMs / 1e6;

  // Dispatch overhead: many one-thread dispatches in one pass, wall time (includes encoding, which
  // is what the engine pays per op).
  const emptyOut = device.createBuffer({ size: 16, usage: STORAGE });
  const emptyPipe = pipe(EMPTY_WGSL);
  const emptyBg = device.createBindGroup({ layout: emptyPipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: emptyOut } }] });
  const nDisp = opts.small ? 1000 : 5000;
  const dispTimes: number[] = [];
  for (let s = 0; s < 6; s++) {
    const t0 = performance.now();
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(emptyPipe);
    pass.setBindGroup(0, emptyBg);
    for (let i = 0; i < nDisp; i++) pass.dispatchWorkgroups(1);
    pass.end();
    device.queue.submit([enc.finish()]);
    await sync();
    if (s > 0) dispTimes.push((performance.now() - t0) / nDisp);
  }
  const dispatchPerSec = 1000 / median(dispTimes);

  // Submit-and-wait: an empty command buffer and a wait for the queue, one at a time.
  const rt: number[] = [];
  for (let s = 0; s < 6; s++) {
    const n = 50;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      device.queue.submit([device.createCommandEncoder().finish()]);
      await sync();
    }
    if (s > 0) rt.push((performance.now() - t0) / n);
  }
  const submitPerSec = 1000 / median(rt);

  for (const b of [fmaOut, src, dst, emptyOut, resolve, readback]) b?.destroy();
  query?.destroy();
  return { fmaGflops, copyGbps, dispatchPerSec, submitPerSec, timer: useTs ? 'gpu timestamps' : 'wall clock' };
}
