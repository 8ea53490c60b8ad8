// One Dawn instance per process and set of flags, kept for the life of the process.
// Why: when an instance from `create()` is garbage-collected after its device was destroyed (a second
// engine opened and closed, as tests and per-run method engines do), Dawn on lavapipe can abort
// ("futex facility returned an unexpected error code") or crash Node at an arbitrary later point, and a
// fresh instance per engine gains nothing. A referenced instance does not keep Node from exiting.
// `webgpu` is an optional peer dependency, loaded on the first call (see peers.ts).
import { loadPeer } from './peers.js';

type Webgpu = typeof import('webgpu');

const instances = new Map<string, GPU>();

/**
 * How the process waits for Dawn's callbacks (mapAsync, onSubmittedWorkDone, ...). While any is pending,
 * Dawn's Node binding polls by rescheduling a native callback with `setImmediate`, so the event loop
 * never sleeps: the main thread spins a whole core. On lavapipe that core is taken from the threads that
 * run the kernels. 'timer' (the default) routes those native callbacks through `setTimeout(fn, 0)`
 * instead (about 1 ms per poll): measured under load on this 2-core machine, an LM training step with one
 * readback went from 1.11–1.26 s to 0.65–0.68 s wall and from 0.78–0.89 s to 0.47–0.49 s of CPU; a tiny
 * op + readback costs about the same (1.7–3.6 vs 2.1–2.8 ms). 'spin' is Dawn's own polling.
 * Only anonymous native functions are rerouted (the binding's callbacks); user code's setImmediate is untouched.
 */
export type DawnPolling = 'timer' | 'spin';

let polling: DawnPolling | null = null;
let nativeSetImmediate: typeof setImmediate | null = null;

const isDawnPoll = (fn: unknown) => typeof fn === 'function' && fn.name === '' && Function.prototype.toString.call(fn) === 'function () { [native code] }';

/** Choose how Dawn's pending callbacks are polled (see DawnPolling); dawnGPU() applies 'timer' unless set. */
export function setDawnPolling(mode: DawnPolling): void {
  if (mode !== 'timer' && mode !== 'spin') throw new RangeError(`setDawnPolling: mode must be 'timer' or 'spin', got ${String(mode)}`);
  polling = mode;
  if (mode === 'spin') {
    if (nativeSetImmediate) globalThis.setImmediate = nativeSetImmediate;
    nativeSetImmediate = null;
    return;
  }
  if (nativeSetImmediate) return;
  const original = globalThis.setImmediate;
  nativeSetImmediate = original;
  const rerouted = ((fn: (...args: unknown[]) => void, ...args: unknown[]) =>
    isDawnPoll(fn) ? setTimeout(fn, 0, ...args) : original(fn, ...args)) as typeof setImmediate;
  // Keep what hangs off the original, util.promisify's custom implementation above all (a symbol-keyed
  // property): without it `promisify(setImmediate)` would call the wrapper callback-style and throw.
  for (const key of Reflect.ownKeys(original)) if (typeof key === 'symbol') Object.defineProperty(rerouted, key, Object.getOwnPropertyDescriptor(original, key)!);
  globalThis.setImmediate = rerouted;
}

/** The polling mode in effect ('spin' until dawnGPU() or setDawnPolling() chooses). */
export function dawnPolling(): DawnPolling {
  return polling ?? 'spin';
}

/** The process's Dawn GPU object for these instance flags (e.g. `['backend=null']`). */
export function dawnGPU(flags: string[] = []): GPU {
  const key = flags.join('\n');
  let gpu = instances.get(key);
  if (polling === null) setDawnPolling('timer');
  if (!gpu) {
    gpu = loadPeer<Webgpu>('webgpu', 'dawnGPU() (Dawn, the WebGPU implementation for Node)').create(flags);
    instances.set(key, gpu);
  }
  return gpu;
}
