// The shared test engine. The platform entry (entry.node.ts / entry.deno.ts) installs a factory; GPU
// suites call `gpuEngine(this)` in a before hook. Without an adapter a suite skips loudly on a
// developer's machine and fails in CI (CI=true): it never passes silently. Dawn's null backend
// (which executes nothing) is refused everywhere.
import { Engine, type EngineOptions } from '../../engine/index.js';

export type EngineFactory = (options?: EngineOptions) => Promise<Engine>;

let factory: EngineFactory | null = null;
let engine: Promise<Engine | null> | null = null;
let warned = false;

export function setEngineFactory(f: EngineFactory): void {
  factory = f;
}

export function inCI(): boolean {
  const env = globalThis as { process?: { env?: Record<string, string | undefined> }; Deno?: { env: { get(k: string): string | undefined } } };
  const v = env.process?.env?.CI ?? env.Deno?.env.get('CI');
  return v === 'true' || v === '1';
}

/** The adapter's self-description, including the device name (Dawn's null backend has only that: "null-backend"). */
export function adapterText(e: Engine): string {
  const info = (e.device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  return [e.caps.vendor, e.caps.architecture, e.caps.description, info?.device ?? ''].join(' ').toLowerCase();
}

/** Throws for an adapter that would make GPU tests meaningless (Dawn's null backend). */
export function assertRealAdapter(e: Engine): void {
  const text = adapterText(e);
  if (/\bnull\b|null-backend/.test(text)) throw new Error(`refusing Dawn's null backend (${text.trim()}): it executes nothing`);
}

/**
 * Open an engine with `make`: any failure (no adapter, null backend) rethrows in CI, and outside CI
 * warns once and returns null so the suites skip. Exported for the harness's own tests.
 */
export async function openEngine(make: () => Promise<Engine>, ci: boolean, warn: (msg: string) => void): Promise<Engine | null> {
  let e: Engine | null = null;
  try {
    e = await make();
    assertRealAdapter(e);
    return e;
  } catch (err) {
    e?.destroy();
    if (ci) throw err;
    warn(`\n  !!! GPU suites SKIPPED: no usable WebGPU adapter (${(err as Error).message}) !!!\n`);
    return null;
  }
}

function open(): Promise<Engine | null> {
  const f = factory;
  if (!f) throw new Error('test setup: no engine factory installed');
  return openEngine(() => f(), inCI(), (msg) => {
    if (!warned) console.warn(msg);
    warned = true;
  });
}

/** The engine for GPU tests; skips the suite (outside CI) when there is no adapter. */
export async function gpuEngine(ctx?: { skip(): void }): Promise<Engine> {
  engine ??= open();
  const e = await engine;
  if (!e) {
    ctx?.skip();
    throw new Error('no GPU adapter');
  }
  return e;
}

/** A second, separate engine (its own device) with the given options; the caller destroys it. */
export async function newEngine(options?: EngineOptions): Promise<Engine> {
  if (!factory) throw new Error('test setup: no engine factory installed');
  const e = await factory(options);
  assertRealAdapter(e);
  return e;
}

/** Destroy the shared engine (the last root hook), so the process can exit. */
export async function closeEngine(): Promise<void> {
  const e = engine ? await engine.catch(() => null) : null;
  e?.destroy();
  engine = null;
}

/**
 * `it`, plus a check that the test disposed every GPU buffer it made (a leak in one test would hide
 * the ones the memory suite looks for). `engine` is read when the test runs.
 */
export function itNoLeak(engine: () => Engine, title: string, fn: () => Promise<void> | void): void {
  it(title, async function () {
    const live0 = engine().memory().liveBuffers;
    await fn();
    if (engine().memory().liveBuffers !== live0) {
      throw new Error(`GPU buffers left alive by the test: ${engine().memory().liveBuffers - live0}`);
    }
  });
}
