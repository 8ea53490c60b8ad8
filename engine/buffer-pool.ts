// Size-class buffer pool. Tensors never own a GPUBuffer directly: they borrow one of a size class and
// give it back on dispose, so a training loop reaches a steady state with no createBuffer calls.

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
  private free = new Map<number, GPUBuffer[]>();
  private pooledBytes = 0;
  private liveBuffers = 0;
  private liveBytes = 0;
  private peakBytes = 0;

  constructor(
    private device: GPUDevice,
    /** Upper bound on bytes kept in the pool; beyond it released buffers are destroyed. */
    public capBytes = 512 * 2 ** 20,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) this.pooledBytes -= size;
    else buf = this.device.createBuffer({ size, usage: STORAGE_USAGE });
    this.liveBuffers++;
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return buf;
  }

  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.liveBuffers--;
    this.liveBytes -= size;
    if (this.pooledBytes + size > this.capBytes) {
      buf.destroy();
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
    this.pooledBytes += size;
  }

  /** Destroy every pooled buffer (live ones are untouched). */
  evict(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.pooledBytes = 0;
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
