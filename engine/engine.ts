// The Engine owns one GPUDevice: capabilities, buffer pool, pipeline cache, the open command encoder,
// the uniform arena, tensor scopes (tidy) and the random-number state.
import { AnomalyDetector, type AnomalyOptions } from './anomaly.js';
import { BindGroupCache } from './bindings.js';
import { BufferPool, type MemoryInfo } from './buffer-pool.js';
import { readCapabilities, RAISED_LIMITS, WANTED_FEATURES, type Capabilities } from './capabilities.js';
import { decodeErrorWords, ERROR_WORD_BYTES, ERROR_WORDS } from './device-checks.js';
import { DeviceError, KilnError, RangeArgumentError } from './errors.js';
import { BufferUsage, MapMode } from './gpu-constants.js';
import { shaderSource, type ShaderName, type WgslScalar } from './shaders.js';
import { runBackward } from './autograd.js';
import type { DType, TypedArray } from './dtype.js';
import * as ops from './ops/index.js';
import type { NestedArray, TensorOptions } from './ops/creation.js';
import type { Shape } from './shape.js';
import { Tensor } from './tensor.js';

export interface EngineOptions {
  /** A GPU object (`navigator.gpu`, or `create([])` from the `webgpu` package in Node). */
  gpu?: GPU;
  adapter?: GPUAdapter;
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
  /** Bytes the buffer pool may keep for reuse (default 512 MiB). */
  poolCapBytes?: number;
  /** Submit the open command encoder after this many dispatches (default 64). */
  dispatchesPerSubmit?: number;
}

/** One shader's share of a profileKernels call. */
export interface KernelProfileRow {
  shader: string;
  calls: number;
  ms: number;
}

/** What profileKernels returns: the summed kernel time, the dispatch count, and rows by shader. */
export interface KernelProfile {
  totalMs: number;
  dispatches: number;
  kernels: KernelProfileRow[];
}

/**
 * Cumulative counts of the engine's host-side work since it was created (engine.counters()): what a
 * training step costs besides kernel time. Take two snapshots and subtract.
 */
export interface EngineCounters {
  /** Kernel launches encoded (engine.run). */
  dispatches: number;
  /** Command buffers submitted (flush). */
  submits: number;
  /** Host readbacks (a mapAsync each: a wait for the queue to drain). */
  readbacks: number;
  /** Bind groups created (cache misses). */
  bindGroups: number;
  /** Compute pipelines created. */
  pipelines: number;
  /** Pooled storage buffers created (pool misses). */
  buffers: number;
}

/** One kernel launch: which shader, how it is specialised, its uniform words, buffers and grid. */
export interface KernelCall {
  shader: ShaderName;
  /** Rewrites of the file's `alias NAME = f32;` lines, e.g. `{ T: 'f16' }`. */
  types?: Record<string, WgslScalar>;
  /** WGSL `override` constants. */
  constants?: Record<string, number | boolean>;
  /** The uniform `Params` struct at binding 0. */
  params: Uint32Array;
  /** Storage buffers at bindings 1, 2, … in order (inputs first, outputs last). */
  buffers: GPUBuffer[];
  /** Workgroups in x, y, z. */
  grid: readonly [number, number?, number?];
}

const UNIFORM_CHUNK = 64 * 1024;

interface UniformChunk {
  buffer: GPUBuffer;
  cpu: Uint32Array<ArrayBuffer>;
  used: number; // bytes
}

export class Engine {
  readonly caps: Capabilities;
  readonly pool: BufferPool;
  /** Tensors created inside each open `tidy`, innermost last. */
  readonly scopes: Set<Tensor>[] = [];
  /** Depth of `noGrad` nesting; > 0 turns off recording. */
  noGradDepth = 0;
  /** Uncaptured WebGPU errors; bad input must never produce one. */
  readonly deviceErrors: string[] = [];
  private pipelines = new Map<string, GPUComputePipeline>();
  private readonly bindGroups: BindGroupCache;
  private modules = new Map<string, GPUShaderModule>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** While gpuTime runs: the query set every compute pass writes its begin/end timestamps into. */
  private timer: { querySet: GPUQuerySet; used: number; shaders?: string[] } | null = null;
  private dispatches = 0;
  private readonly counts = { dispatches: 0, submits: 0, readbacks: 0, pipelines: 0 };
  private readonly writes = new WeakMap<GPUBuffer, number>();
  private writeCount = 0;
  private chunks: UniformChunk[] = [];
  private chunkIndex = 0;
  private readonly dispatchesPerSubmit: number;
  private rngSeed = 0;
  private rngOffset = 0;
  private lost = false;
  /**
   * @internal The device error word (engine/device-checks.ts): kernels that read an index bind it
   * last and record the first out-of-range one; the next readback reports and clears it.
   */
  readonly errorBuffer: GPUBuffer;
  /** @internal The anomaly checker while detectAnomaly is on (null when off: ops test only this). */
  anomaly: AnomalyDetector | null = null;
  /** Kept after detection is turned off: its labels decode checks still in flight. */
  private detector: AnomalyDetector | null = null;

  private constructor(
    readonly device: GPUDevice,
    adapterInfo: GPUAdapterInfo | undefined,
    options: EngineOptions,
    // Held so the GPU instance outlives the device: Dawn in Node tears the device down (and crashes
    // in the driver's threads) when its instance is garbage-collected while work is in flight.
    private platform: { gpu?: GPU; adapter?: GPUAdapter },
  ) {
    this.caps = readCapabilities(adapterInfo, device);
    this.bindGroups = new BindGroupCache(device);
    this.pool = new BufferPool(device, options.poolCapBytes, this.caps.limits.maxStorageBufferBindingSize, (b) => this.bindGroups.forget(b));
    this.dispatchesPerSubmit = options.dispatchesPerSubmit ?? 64;
    // WebGPU zero-initialises buffers: no violation recorded yet.
    this.errorBuffer = device.createBuffer({
      label: 'kiln error word',
      size: ERROR_WORD_BYTES,
      usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
    });
    device.addEventListener?.('uncapturederror', (e: Event) => {
      const err = (e as GPUUncapturedErrorEvent).error;
      this.deviceErrors.push(err?.message ?? String(err));
    });
    void device.lost?.then((info) => {
      this.lost = true;
      if (info.reason !== 'destroyed') this.deviceErrors.push(`device lost: ${info.message}`);
    });
  }

  /** Open the GPU: from a device, an adapter, a GPU object, or `navigator.gpu`. */
  static async create(options: EngineOptions = {}): Promise<Engine> {
    if (options.device) return new Engine(options.device, options.adapter?.info, options, options);
    let adapter = options.adapter;
    const gpu = options.gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (!adapter) {
      if (!gpu) {
        throw new DeviceError(
          'Engine.create: no WebGPU found. In Node pass { gpu: create([]) } from the "webgpu" package; ' +
            'in Deno and browsers navigator.gpu must exist.',
        );
      }
      adapter = (await gpu.requestAdapter({ powerPreference: options.powerPreference })) ?? undefined;
      if (!adapter) throw new DeviceError('Engine.create: requestAdapter() returned no adapter (is a Vulkan driver installed?)');
    }
    const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
    const requiredLimits: Record<string, number> = {};
    for (const name of RAISED_LIMITS) {
      const v = (adapter.limits as unknown as Record<string, number>)[name];
      if (typeof v === 'number') requiredLimits[name] = v;
    }
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
    return new Engine(device, adapter.info, options, { gpu, adapter });
  }

  // ---------------------------------------------------------------- tensors

  /** A tensor from nested arrays, a typed array or a flat list (with `shape`). */
  tensor(data: NestedArray | TypedArray | ArrayLike<number>, shape?: Shape, options?: TensorOptions): Tensor {
    return ops.tensor(this, data, shape, options);
  }
  /** An uninitialised contiguous tensor. */
  empty(shape: Shape, dtype: DType = 'f32'): Tensor {
    return Tensor.empty(this, shape, dtype);
  }
  zeros(shape: Shape, options?: TensorOptions): Tensor {
    return ops.zeros(this, shape, options);
  }
  ones(shape: Shape, options?: TensorOptions): Tensor {
    return ops.ones(this, shape, options);
  }
  full(shape: Shape, value: number, options?: TensorOptions): Tensor {
    return ops.full(this, shape, value, options);
  }
  zerosLike(t: Tensor, options?: TensorOptions): Tensor {
    return ops.zeros(this, t.shape, { dtype: t.dtype, ...options });
  }
  onesLike(t: Tensor, options?: TensorOptions): Tensor {
    return ops.ones(this, t.shape, { dtype: t.dtype, ...options });
  }
  fullLike(t: Tensor, value: number, options?: TensorOptions): Tensor {
    return ops.full(this, t.shape, value, { dtype: t.dtype, ...options });
  }
  /** arange(end) or arange(start, end, step); i32 when all arguments are integers. */
  arange(startOrEnd: number, end?: number, step?: number, options?: TensorOptions): Tensor {
    return ops.arange(this, startOrEnd, end, step, options);
  }
  eye(n: number, m?: number, options?: TensorOptions): Tensor {
    return ops.eye(this, n, m, options);
  }
  rand(shape: Shape, options?: TensorOptions & { low?: number; high?: number }): Tensor {
    return ops.rand(this, shape, options);
  }
  randn(shape: Shape, options?: TensorOptions & { mean?: number; std?: number }): Tensor {
    return ops.randn(this, shape, options);
  }
  cat(tensors: readonly Tensor[], dim = 0): Tensor {
    return ops.cat(tensors, dim);
  }
  stack(tensors: readonly Tensor[], dim = 0): Tensor {
    return ops.stack(tensors, dim);
  }
  where(condition: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
    return ops.where(condition, a, b);
  }

  // ---------------------------------------------------------------- autograd

  /**
   * Gradients of a scalar function with respect to all its tensor arguments, as jax.grad with every
   * argnum: `engine.grad(f)(x, y)` returns [df/dx, df/dy]. The arguments are not modified.
   */
  grad<A extends Tensor[]>(f: (...args: A) => Tensor): (...args: A) => { [K in keyof A]: Tensor } {
    return (...args) => {
      const { value, grads } = this.valueAndGrad(f)(...args);
      value.dispose();
      return grads;
    };
  }

  /** The value of a scalar function and its gradients with respect to all its tensor arguments. */
  valueAndGrad<A extends Tensor[]>(f: (...args: A) => Tensor): (...args: A) => { value: Tensor; grads: { [K in keyof A]: Tensor } } {
    return (...args) => {
      const inputs = args.map((a) => a.detach().requiresGrad_()) as A;
      // Intermediates of f are freed here; the graph keeps what backward needs.
      const value = this.tidy(() => f(...inputs));
      // One gradient per argument, in order: the mapped tuple type of the signature.
      const grads = runBackward(this, value, undefined, { inputs }).map((g, i) => g ?? this.zerosLike(args[i])) as { [K in keyof A]: Tensor };
      for (const x of inputs) x.dispose();
      const detached = value.detach();
      value.dispose();
      return { value: detached, grads };
    };
  }

  /** Gradients of `outputs` (seeded with `gradOutputs`, default ones) with respect to `inputs`, as torch.autograd.grad. */
  autogradGrad(
    output: Tensor,
    inputs: readonly Tensor[],
    options: { gradOutput?: Tensor; retainGraph?: boolean; createGraph?: boolean } = {},
  ): (Tensor | null)[] {
    return runBackward(this, output, options.gradOutput, { inputs, retainGraph: options.retainGraph, createGraph: options.createGraph });
  }

  /**
   * Turn anomaly detection on or off (PyTorch: torch.autograd.set_detect_anomaly); returns the previous
   * setting. While on, op outputs and backward gradients are checked on the GPU for NaN and ±Inf
   * (`nanOnly`: NaN only) and the next readback throws AnomalyError naming the first op that produced
   * one, its element and the value (engine/anomaly.ts says what is checked). Off by default, and then
   * free: no check is dispatched. It costs one small dispatch per op while on.
   */
  detectAnomaly(enabled: boolean, options: AnomalyOptions = {}): boolean {
    const was = this.anomaly !== null;
    if (enabled) {
      this.detector ??= new AnomalyDetector(this, options);
      this.detector.nanOnly = options.nanOnly ?? false;
      this.anomaly = this.detector;
    } else this.anomaly = null;
    return was;
  }

  /** Run `fn` with anomaly detection on (PyTorch: `with torch.autograd.detect_anomaly():`), then restore the setting. */
  withAnomalyDetection<R>(fn: () => R, options: AnomalyOptions = {}): R {
    const prev = this.anomaly ? { nanOnly: this.anomaly.nanOnly } : null;
    this.detectAnomaly(true, options);
    try {
      return fn();
    } finally {
      this.detectAnomaly(prev !== null, prev ?? {});
    }
  }

  // ---------------------------------------------------------------- memory

  memory(): MemoryInfo {
    return this.pool.info();
  }

  /** Start `memory().peakBytes` again from the bytes live now (PyTorch's `reset_peak_memory_stats`). */
  resetPeakMemory(): void {
    this.pool.resetPeak();
  }

  /**
   * Run `fn`, then dispose every tensor it created except those it returns (a tensor, or tensors
   * inside arrays and plain objects) and those passed to `keep`. Nested tidies are allowed.
   */
  tidy<R>(fn: () => R): R {
    const scope = new Set<Tensor>();
    this.scopes.push(scope);
    let result: R;
    try {
      result = fn();
    } catch (e) {
      this.scopes.pop();
      for (const t of scope) t.dispose();
      throw e;
    }
    this.scopes.pop();
    if (result instanceof Promise) throw new KilnError('tidy: the function must be synchronous (it returned a Promise)');
    const returned = new Set<Tensor>();
    collectTensors(result, returned);
    const parent = this.scopes[this.scopes.length - 1];
    for (const t of scope) {
      if (returned.has(t)) parent?.add(t);
      else t.dispose();
    }
    return result;
  }

  /** Exempt a tensor from every enclosing `tidy`. */
  keep<T extends Tensor>(t: T): T {
    for (const s of this.scopes) s.delete(t);
    return t;
  }

  /** @internal Register a new tensor with the innermost tidy scope. */
  track(t: Tensor): void {
    this.scopes[this.scopes.length - 1]?.add(t);
  }

  /** Run `fn` without recording autograd history. */
  noGrad<R>(fn: () => R): R {
    this.noGradDepth++;
    try {
      return fn();
    } finally {
      this.noGradDepth--;
    }
  }

  get gradEnabled(): boolean {
    return this.noGradDepth === 0;
  }

  // ---------------------------------------------------------------- random numbers

  /** Seed the counter-based generator behind rand, randn, dropout. */
  manualSeed(seed: number): void {
    this.rngSeed = seed >>> 0;
    this.rngOffset = 0;
  }
  getRngState(): { seed: number; offset: number } {
    return { seed: this.rngSeed, offset: this.rngOffset };
  }
  setRngState(state: { seed: number; offset: number }): void {
    this.rngSeed = state.seed >>> 0;
    this.rngOffset = state.offset;
  }
  /** @internal Reserve `count` counters; returns (seed, first counter). */
  nextRandom(count: number): { seed: number; offset: number } {
    const r = { seed: this.rngSeed, offset: this.rngOffset };
    this.rngOffset = (this.rngOffset + Math.ceil(count)) % 2 ** 32;
    return r;
  }

  // ---------------------------------------------------------------- kernels

  /**
   * @internal Encode one dispatch into the open compute pass (nothing is submitted yet). Only the ops
   * in engine/ops launch kernels; nn/ and methods/ call ops (test/layering.node.test.ts checks).
   */
  run(call: KernelCall): void {
    if (this.lost) throw new DeviceError('the GPU device was lost');
    const pipeline = this.pipeline(call.shader, call.types ?? {}, call.constants ?? {});
    const [uBuffer, uOffset] = this.uniform(call.params);
    const bindGroup = this.bindGroups.get(call.shader, shaderSource(call.shader), uBuffer, call.params.byteLength, call.buffers);
    for (const i of this.bindGroups.layout(call.shader, shaderSource(call.shader)).writable) this.noteWrite(call.buffers[i]);
    const pass = this.openPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup, [uOffset]);
    const [x, y = 1, z = 1] = call.grid;
    if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
    this.counts.dispatches++;
    if (this.timer?.shaders) {
      this.timer.shaders.push(call.shader);
      this.endPass(); // profileKernels: one timed pass per dispatch
    }
    if (++this.dispatches >= this.dispatchesPerSubmit) this.flush();
  }

  /** @internal Copy bytes between buffers in stream order. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.noteWrite(dst);
    this.endPass();
    this.openEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** @internal Write host data into a buffer after everything already encoded. */
  write(dst: GPUBuffer, data: ArrayBufferView): void {
    // queue.writeBuffer runs before the next submit's commands, so submit what is pending first:
    // a pooled buffer may still be read by them.
    this.flush();
    this.noteWrite(dst);
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    const padded = bytes.byteLength % 4 === 0 ? bytes : padTo4(bytes);
    this.device.queue.writeBuffer(dst, 0, padded);
  }

  /**
   * @internal A number that changes whenever work that writes `buffer` is encoded (dispatches with it
   * at a read_write binding, copies and writes into it): a tensor's remembered preview is shown only
   * while its storage's version is the one it was read at.
   */
  writeVersion(buffer: GPUBuffer): number {
    return this.writes.get(buffer) ?? 0;
  }
  private noteWrite(buffer: GPUBuffer): void {
    this.writes.set(buffer, ++this.writeCount);
  }

  /** Submit everything encoded so far. Does not wait for the GPU. */
  flush(): void {
    this.endPass();
    if (!this.encoder) {
      this.pool.destroyRetired(); // nothing encoded can still use them
      return;
    }
    for (let i = 0; i < this.chunkIndex; i++) {
      const c = this.chunks[i];
      if (c.used > 0) this.device.queue.writeBuffer(c.buffer, 0, c.cpu, 0, c.used / 4);
      c.used = 0;
    }
    const cur = this.chunks[this.chunkIndex];
    if (cur && cur.used > 0) {
      this.device.queue.writeBuffer(cur.buffer, 0, cur.cpu, 0, cur.used / 4);
      cur.used = 0;
    }
    this.chunkIndex = 0;
    this.device.queue.submit([this.encoder.finish()]);
    this.counts.submits++;
    this.pool.destroyRetired();
    this.encoder = null;
    this.dispatches = 0;
  }

  /**
   * @internal Read `bytes` from a buffer (after all pending work). Throws RangeArgumentError when a
   * kernel encoded before it recorded an out-of-range index (the error word, copied in the same
   * staging buffer and cleared in the same submit, so reporting costs no extra round trip).
   */
  async read(src: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    return this.readChecked(src, offset, bytes);
  }

  /**
   * Throws RangeArgumentError (naming the op, the index and the dim size) if a kernel recorded an
   * out-of-range index since the last readback, and clears the record; one round trip to the GPU.
   * Readbacks (`data()`, `item()`, `array()`) check the same way by themselves.
   */
  async checkErrors(): Promise<void> {
    await this.readChecked(null, 0, 0);
  }

  private async readChecked(src: GPUBuffer | null, offset: number, bytes: number): Promise<ArrayBuffer> {
    const size = src ? Math.max(4, Math.ceil(bytes / 4) * 4) : 0;
    const staging = this.device.createBuffer({ size: size + ERROR_WORD_BYTES, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    if (src) this.copy(src, offset, staging, 0, size);
    this.copy(this.errorBuffer, 0, staging, size, ERROR_WORD_BYTES);
    // Cleared after the copy in the same command buffer: each violation is reported exactly once.
    this.openEncoder().clearBuffer(this.errorBuffer);
    this.detector?.cleared();
    this.flush();
    this.counts.readbacks++;
    try {
      await staging.mapAsync(MapMode.READ);
    } catch (e) {
      staging.destroy();
      throw new DeviceError(`reading a tensor failed: ${(e as Error).message}; ${this.deviceErrors.join('; ')}`);
    }
    const refused = await this.pool.outOfMemory();
    if (refused.length) {
      staging.unmap();
      staging.destroy();
      throw new DeviceError(
        `out of memory: the device could not allocate ${refused.join('; ')}. Work encoded since then used an invalid buffer, ` +
          `so results since the last readback are wrong; the buffer pool's cached memory was released, so a smaller retry can succeed`,
      );
    }
    const mapped = staging.getMappedRange();
    const out = mapped.slice(0, bytes);
    const words = new Uint32Array(mapped.slice(size, size + ERROR_WORD_BYTES), 0, ERROR_WORDS);
    staging.unmap();
    staging.destroy();
    const err = decodeErrorWords(words, this.detector?.labels);
    if (err) throw err;
    return out;
  }

  /** Wait until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  /**
   * GPU time (ms) of the compute passes that `fn` encodes, from timestamp queries at the start and end
   * of each pass (copies between passes are not counted); null where the device has no
   * `timestamp-query`. Everything pending is submitted first, so earlier work is not counted. Dawn
   * quantises timestamps unless its instance is created with
   * `disable-dawn-features=timestamp_quantization` (bench/main.ts does).
   */
  async gpuTime(fn: () => void, maxPasses = 1024): Promise<number | null> {
    const times = await this.timePasses('gpuTime', fn, maxPasses, false);
    return times && times.ns.reduce((a, b) => a + b, 0) / 1e6;
  }

  /**
   * Kernel time per shader of what `fn` encodes (torch.profiler's "self CUDA time" by kernel): every
   * dispatch gets its own timed compute pass, so this serialises what a pass would overlap, and a
   * dispatch costs more than in a normal run; use it for where the time goes, gpuTime for how much.
   * Rows are sorted by time, descending; null where the device has no `timestamp-query`.
   */
  async profileKernels(fn: () => void, maxDispatches = 2048): Promise<KernelProfile | null> {
    const times = await this.timePasses('profileKernels', fn, maxDispatches, true);
    if (!times) return null;
    const rows = new Map<string, KernelProfileRow>();
    times.shaders.forEach((shader, i) => {
      const r = rows.get(shader) ?? { shader, calls: 0, ms: 0 };
      r.calls++;
      r.ms += times.ns[i] / 1e6;
      rows.set(shader, r);
    });
    const kernels = [...rows.values()].sort((a, b) => b.ms - a.ms);
    return { totalMs: kernels.reduce((a, r) => a + r.ms, 0), dispatches: times.shaders.length, kernels };
  }

  /** Run `fn` with timestamp queries on each compute pass (one pass per dispatch when `perDispatch`). */
  private async timePasses(op: string, fn: () => void, maxPasses: number, perDispatch: boolean): Promise<{ ns: number[]; shaders: string[] } | null> {
    if (!this.caps.timestampQuery) return null;
    if (this.timer) throw new DeviceError(`${op}: already timing (gpuTime and profileKernels calls do not nest)`);
    // WebGPU caps a query set at 4096 queries: two per pass.
    if (!Number.isInteger(maxPasses) || maxPasses < 1 || maxPasses > 2048) throw new RangeArgumentError(`${op}: the pass cap must be an integer in [1, 2048], got ${maxPasses}`);
    this.flush();
    const querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 * maxPasses });
    const timer = (this.timer = { querySet, used: 0, shaders: perDispatch ? [] : undefined });
    let ok = false;
    try {
      fn();
      ok = true;
    } finally {
      this.flush(); // ends and submits the timed passes (also after a throw, as any flush would)
      this.timer = null;
      if (!ok) querySet.destroy();
    }
    return { ns: await this.readPassTimes(querySet, timer.used), shaders: timer.shaders ?? [] };
  }

  /** (end - begin) of the first `passes` pairs of `querySet`, in ns. */
  private async readPassTimes(querySet: GPUQuerySet, passes: number): Promise<number[]> {
    try {
      if (passes === 0) return [];
      const bytes = passes * 16;
      const resolved = this.device.createBuffer({ size: bytes, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC });
      const staging = this.device.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
      const encoder = this.device.createCommandEncoder();
      encoder.resolveQuerySet(querySet, 0, 2 * passes, resolved, 0);
      encoder.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
      this.device.queue.submit([encoder.finish()]);
      await staging.mapAsync(MapMode.READ);
      const t = new BigInt64Array(staging.getMappedRange().slice(0));
      staging.unmap();
      staging.destroy();
      resolved.destroy();
      return Array.from({ length: passes }, (_, i) => Number(t[2 * i + 1] - t[2 * i]));
    } finally {
      querySet.destroy();
    }
  }

  /** Release the device. Tensors of this engine are unusable afterwards. */
  destroy(): void {
    this.flush();
    this.pool.evict();
    this.pool.destroyRetired();
    for (const c of this.chunks) c.buffer.destroy();
    this.errorBuffer.destroy();
    this.device.destroy();
    this.platform = {};
  }

  /** Cumulative host-side counts (EngineCounters): subtract two snapshots to cost a step. */
  counters(): EngineCounters {
    return { ...this.counts, bindGroups: this.bindGroups.created, buffers: this.pool.created };
  }

  /** Number of compiled pipelines (for tests of the cache). */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  /** Number of cached bind groups (for tests of the cache). */
  get bindGroupCount(): number {
    return this.bindGroups.size;
  }

  private pipeline(shader: ShaderName, types: Record<string, WgslScalar>, constants: Record<string, number | boolean>) {
    // Keys follow the caller's property order (each op passes its types and constants in a fixed
    // order); at worst a reordering compiles one duplicate pipeline.
    let typeKey = '';
    for (const k in types) typeKey += `${k}=${types[k]},`;
    let key = `${shader}|${typeKey}|`;
    for (const k in constants) key += `${k}=${Number(constants[k])},`;
    let p = this.pipelines.get(key);
    if (p) return p;
    const moduleKey = `${shader}|${typeKey}`;
    let module = this.modules.get(moduleKey);
    if (!module) {
      module = this.device.createShaderModule({ code: withDtypes(shaderSource(shader), types), label: moduleKey });
      this.modules.set(moduleKey, module);
    }
    const c: Record<string, number> = {};
    for (const [k, v] of Object.entries(constants)) c[k] = Number(v);
    this.counts.pipelines++;
    p = this.device.createComputePipeline({
      label: key,
      layout: this.bindGroups.layout(shader, shaderSource(shader)).pipelineLayout,
      compute: { module, entryPoint: 'main', constants: c },
    });
    this.pipelines.set(key, p);
    return p;
  }

  private uniform(words: Uint32Array): [GPUBuffer, number] {
    const align = Math.max(16, this.caps.limits.minUniformBufferOffsetAlignment);
    let chunk = this.chunks[this.chunkIndex];
    if (chunk && chunk.used + words.byteLength > UNIFORM_CHUNK) {
      this.chunkIndex++;
      chunk = this.chunks[this.chunkIndex];
    }
    if (!chunk) {
      chunk = {
        buffer: this.device.createBuffer({ size: UNIFORM_CHUNK, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST }),
        cpu: new Uint32Array(UNIFORM_CHUNK / 4),
        used: 0,
      };
      this.chunks[this.chunkIndex] = chunk;
    }
    const offset = chunk.used;
    chunk.cpu.set(words, offset / 4);
    chunk.used = Math.ceil((offset + words.byteLength) / align) * align;
    return [chunk.buffer, offset];
  }

  private openEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }
  private openPass(): GPUComputePassEncoder {
    if (this.pass) return this.pass;
    const t = this.timer;
    if (t && 2 * (t.used + 1) > t.querySet.count) throw new DeviceError(`${t.shaders ? 'profileKernels' : 'gpuTime'}: more than ${t.querySet.count / 2} ${t.shaders ? 'dispatches (raise maxDispatches)' : 'compute passes (raise maxPasses)'}`);
    const timestampWrites = t ? { querySet: t.querySet, beginningOfPassWriteIndex: 2 * t.used, endOfPassWriteIndex: 2 * t.used++ + 1 } : undefined;
    return (this.pass = this.openEncoder().beginComputePass(timestampWrites ? { timestampWrites } : undefined));
  }
  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }
}

/** Rewrite `alias NAME = f32;` lines and add `enable f16;` when a type becomes f16. */
export function withDtypes(source: string, types: Record<string, WgslScalar>): string {
  let code = source.replace(/^alias (\w+) = (f32|f16|i32|u32);/gm, (line, name: string) =>
    types[name] ? `alias ${name} = ${types[name]};` : line,
  );
  if (Object.values(types).includes('f16') && !/^enable f16;/m.test(code)) code = `enable f16;\n${code}`;
  return code;
}

function padTo4(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  out.set(bytes);
  return out;
}

function collectTensors(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if ((value as { isKilnTensor?: boolean }).isKilnTensor) {
    out.add(value as Tensor);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collectTensors(v, out, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype || value instanceof Map) {
    const vals = value instanceof Map ? [...value.values()] : Object.values(value);
    for (const v of vals) collectTensors(v, out, depth + 1);
  }
}
