// Size-class buffer pool. Tensors never own a GPUBuffer directly: they borrow one of a size class and
// give it back on dispose, so a training loop reaches a steady state with no createBuffer calls.
//
// A free list hands out its oldest buffer (lowest serial), not the last one released: which buffer an
// allocation gets then depends only on which buffers are free, not on the order they were disposed in,
// so every step of a loop binds the same buffers and reuses the same cached bind groups. (With LIFO
// lists the assignment permuted from step to step: ~90% of dispatches made a new bind group, and on
// lavapipe every live bind group holds a memory mapping, so a long loop ran into the kernel's
// vm.max_map_count and crashed.)

import { DeviceError } from './errors.js';
import { BufferUsage } from './gpu-constants.js';

const STORAGE_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

/** Bytes actually allocated for a request: powers of two up to 1 MiB, then steps of 1/8 of a power of two. */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 4) * 4);
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  const step = 2 ** (Math.floor(Math.log2(b)) - 3);
  return Math.ceil(b / step) * step;
}

export interface MemoryInfo {
  /** GPU buffers currently held by live tensors. */
  liveBuffers: number;
  /** Bytes of those buffers (size classes, not requested sizes). */
  liveBytes: number;
  /** Bytes of buffers kept in the pool for reuse. */
  pooledBytes: number;
  /** Largest liveBytes seen since the engine was created or `resetPeak()`. */
  peakBytes: number;
}

export class BufferPool {
  /** Per size class, free buffers sorted by descending serial (the oldest is popped from the end). */
  private free = new Map<number, GPUBuffer[]>();
  private serials = new WeakMap<GPUBuffer, number>();
  private nextSerial = 0;
  /** Buffers created so far (pool misses). */
  created = 0;
  private pooledBytes = 0;
  private retired: GPUBuffer[] = [];
  private liveBuffers = 0;
  private liveBytes = 0;
  private peakBytes = 0;
  /** Error scopes of new buffers not yet resolved, and the refusals they reported. */
  private pending = new Set<Promise<void>>();
  private failures: string[] = [];
  private refused = new WeakSet<GPUBuffer>();

  constructor(
    private device: GPUDevice,
    /** Upper bound on bytes kept in the pool; beyond it released buffers are destroyed. */
    public capBytes = 512 * 2 ** 20,
    /** Largest buffer a kernel can bind (maxStorageBufferBindingSize). */
    private maxBytes = 128 * 2 ** 20,
    /** Called just before a buffer is destroyed (cached bind groups that use it must go). */
    private onDestroy: (buf: GPUBuffer) => void = () => {},
  ) {}

  /** A buffer of at least `bytes`; `what()` names the tensor in the error when it is too large. */
  acquire(bytes: number, what: () => string = () => 'buffer'): GPUBuffer {
    if (bytes > this.maxBytes) {
      throw new DeviceError(
        `${what()} needs ${bytes} bytes, more than the device binds in one buffer (maxStorageBufferBindingSize ${this.maxBytes})`,
      );
    }
    const size = Math.min(sizeClass(bytes), Math.floor(this.maxBytes / 4) * 4);
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) this.pooledBytes -= size;
    else buf = this.create(size, what);
    this.liveBuffers++;
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return buf;
  }

  /**
   * A new buffer inside an 'out-of-memory' error scope. An allocation that throws at once evicts the
   * pool and is tried once more. One the driver refuses later (WebGPU returns an invalid buffer and
   * reports it to the scope, asynchronously) is recorded: the next readback throws DeviceError
   * (outOfMemory()), so no allocation waits on the GPU. Only pool misses pay for the scope.
   */
  private create(size: number, what: () => string): GPUBuffer {
    const device = this.device;
    const scoped = typeof device.pushErrorScope === 'function';
    if (scoped) device.pushErrorScope('out-of-memory');
    let buf: GPUBuffer | undefined;
    try {
      try {
        buf = device.createBuffer({ size, usage: STORAGE_USAGE });
      } catch {
        this.evict();
        buf = device.createBuffer({ size, usage: STORAGE_USAGE });
      }
      return this.serialise(buf);
    } finally {
      if (scoped) {
        const created = buf;
        const seen = device.popErrorScope().then(
          (err) => {
            if (!err) return;
            this.failures.push(`${what()} (${size} bytes): ${err.message}`);
            // An invalid buffer must never be handed out again.
            if (created) this.refused.add(created);
          },
          () => {},
        );
        this.pending.add(seen);
        void seen.then(() => this.pending.delete(seen));
      }
    }
  }

  /**
   * Allocations the device refused since the last call (after their error scopes resolved), and
   * forget them. On a refusal the pool's cached buffers are released, so a retry has that memory.
   */
  async outOfMemory(): Promise<string[]> {
    if (this.pending.size) await Promise.all([...this.pending]);
    const out = this.failures;
    this.failures = [];
    if (out.length) this.evict();
    return out;
  }

  private serialise(buf: GPUBuffer): GPUBuffer {
    this.created++;
    this.serials.set(buf, this.nextSerial++);
    return buf;
  }

  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.liveBuffers--;
    this.liveBytes -= size;
    if (this.pooledBytes + size > this.capBytes || this.refused.has(buf)) {
      this.retire(buf);
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    // Insert keeping descending serials (lists are short: the buffers of one size class).
    const serial = this.serials.get(buf)!;
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.serials.get(list[mid])! > serial) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buf);
    this.pooledBytes += size;
  }

  /** Give back every pooled buffer (live ones are untouched). */
  evict(): void {
    for (const list of this.free.values()) for (const b of list) this.retire(b);
    this.free.clear();
    this.pooledBytes = 0;
  }

  /**
   * A buffer leaving the pool may still be used by commands encoded but not yet submitted, and a
   * destroyed buffer invalidates the whole submit: destroy it only after the next submit.
   */
  private retire(buf: GPUBuffer): void {
    this.onDestroy(buf);
    this.retired.push(buf);
  }

  /** Called by the engine right after a submit. */
  destroyRetired(): void {
    for (const b of this.retired) b.destroy();
    this.retired = [];
  }

  resetPeak(): void {
    this.peakBytes = this.liveBytes;
  }

  info(): MemoryInfo {
    return {
      liveBuffers: this.liveBuffers,
      liveBytes: this.liveBytes,
      pooledBytes: this.pooledBytes,
      peakBytes: this.peakBytes,
    };
  }
}
