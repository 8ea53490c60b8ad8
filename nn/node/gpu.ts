// One Dawn instance per process and set of flags, kept for the life of the process.
// Why: when an instance from `create()` is garbage-collected after its device was destroyed (a second
// engine opened and closed, as tests and per-run method engines do), Dawn on lavapipe can abort
// ("futex facility returned an unexpected error code") or crash Node at an arbitrary later point, and a
// fresh instance per engine gains nothing. A referenced instance does not keep Node from exiting.
// `webgpu` is an optional peer dependency, loaded on the first call (see peers.ts).
import { loadPeer } from './peers.js';

type Webgpu = typeof import('webgpu');

const instances = new Map<string, GPU>();

/** The process's Dawn GPU object for these instance flags (e.g. `['backend=null']`). */
export function dawnGPU(flags: string[] = []): GPU {
  const key = flags.join('\n');
  let gpu = instances.get(key);
  if (!gpu) {
    gpu = loadPeer<Webgpu>('webgpu', 'dawnGPU() (Dawn, the WebGPU implementation for Node)').create(flags);
    instances.set(key, gpu);
  }
  return gpu;
}
