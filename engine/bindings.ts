// Explicit bind-group layouts (binding 0: the uniform Params at a dynamic offset into the uniform
// arena; bindings 1..n: storage buffers) and a cache of bind groups keyed by the buffers they bind.
// A training step reuses the same pooled buffers every step, so after the first step nearly every
// dispatch finds its bind group here. Creating one per dispatch also piled up descriptor sets that
// Dawn frees only when JavaScript yields to the event loop: a long synchronous loop crashed lavapipe.
import type { ShaderName } from './shaders.js';

const COMPUTE = 0x4;
const MAX_GROUPS = 16384;

interface Layout {
  bindGroupLayout: GPUBindGroupLayout;
  pipelineLayout: GPUPipelineLayout;
  storageBindings: number;
  /** Positions (0-based, in the buffers list) of the read_write storage bindings: what a dispatch writes. */
  writable: number[];
}

/** The storage bindings of a shader, from its declarations: read-only or read-write, in binding order. */
export function parseBindings(shader: string, source: string): ('read' | 'read_write')[] {
  const found = new Map<number, string>();
  for (const m of source.matchAll(/@binding\((\d+)\)\s*var<(uniform|storage)(?:\s*,\s*(read_write|read))?>/g)) {
    found.set(Number(m[1]), m[2] === 'uniform' ? 'uniform' : (m[3] ?? 'read'));
  }
  if (found.get(0) !== 'uniform') throw new Error(`${shader}.wgsl: binding 0 must be the uniform Params`);
  const out: ('read' | 'read_write')[] = [];
  for (let b = 1; b < found.size; b++) {
    const kind = found.get(b);
    if (kind !== 'read' && kind !== 'read_write') throw new Error(`${shader}.wgsl: bindings must be 0 (uniform) then 1..n (storage); binding ${b} is ${kind ?? 'missing'}`);
    out.push(kind);
  }
  return out;
}

export class BindGroupCache {
  private layouts = new Map<ShaderName, Layout>();
  private groups = new Map<string, GPUBindGroup>();
  private ids = new WeakMap<GPUBuffer, number>();
  private nextId = 1;
  /** Bind groups created so far (cache misses). */
  created = 0;

  constructor(
    private device: GPUDevice,
    /** Bind groups kept before the cache empties itself (a training step's working set fits easily). */
    private maxGroups = MAX_GROUPS,
  ) {}

  layout(shader: ShaderName, source: string): Layout {
    let l = this.layouts.get(shader);
    if (l) return l;
    const storage = parseBindings(shader, source);
    const bindGroupLayout = this.device.createBindGroupLayout({
      label: shader,
      entries: [
        { binding: 0, visibility: COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } },
        ...storage.map((kind, i) => ({
          binding: i + 1,
          visibility: COMPUTE,
          buffer: { type: kind === 'read' ? ('read-only-storage' as const) : ('storage' as const) },
        })),
      ],
    });
    l = { bindGroupLayout, pipelineLayout: this.device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] }), storageBindings: storage.length, writable: storage.flatMap((kind, i) => (kind === 'read_write' ? [i] : [])) };
    this.layouts.set(shader, l);
    return l;
  }

  /** The bind group for (shader, uniform chunk, params size, storage buffers); the offset is dynamic. */
  get(shader: ShaderName, source: string, uniform: GPUBuffer, size: number, buffers: GPUBuffer[]): GPUBindGroup {
    const l = this.layout(shader, source);
    if (buffers.length !== l.storageBindings) {
      throw new Error(`${shader}: the kernel declares ${l.storageBindings} storage buffers, the op passed ${buffers.length}`);
    }
    let key = `${shader}|u${this.id(uniform)}|s${size}`;
    for (const b of buffers) key += `|b${this.id(b)}`;
    let g = this.groups.get(key);
    if (g) return g;
    if (this.groups.size >= this.maxGroups) this.dropAll();
    this.created++;
    g = this.device.createBindGroup({
      layout: l.bindGroupLayout,
      entries: [{ binding: 0, resource: { buffer: uniform, offset: 0, size } }, ...buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer } }))],
    });
    this.groups.set(key, g);
    return g;
  }

  /** Drop the bind groups of a buffer about to be destroyed (its id is never reused). */
  forget(buffer: GPUBuffer): void {
    const id = this.ids.get(buffer);
    if (id === undefined) return;
    const tag = `|b${id}`;
    for (const k of this.groups.keys()) if (k.endsWith(tag) || k.includes(`${tag}|`)) this.groups.delete(k);
  }

  /**
   * Empty the cache when it is full. On lavapipe every bind group holds a memory mapping that Dawn
   * releases for reuse only when V8 collects the group's wrapper, and V8 does not see that native
   * cost: the dropped groups piled up until the process hit vm.max_map_count and crashed (SIGSEGV
   * in the full test suite). Where the host exposes a collector (Node's --expose-gc, as kiln's
   * scripts run), collect now so the next groups reuse those mappings.
   */
  private dropAll(): void {
    this.groups.clear();
    (globalThis as { gc?: () => void }).gc?.();
  }

  get size(): number {
    return this.groups.size;
  }

  private id(b: GPUBuffer): number {
    let id = this.ids.get(b);
    if (id === undefined) this.ids.set(b, (id = this.nextId++));
    return id;
  }
}
