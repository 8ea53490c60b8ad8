// The shared test engine. The platform entry (entry.node.ts / entry.deno.ts) installs a factory; GPU
// suites call `gpuEngine(this)` in a before hook. Without an adapter a suite skips loudly on a
// developer's machine and fails in CI (CI=true): it never passes silently.
import { Engine } from '../../engine/index.js';

let factory: (() => Promise<Engine>) | null = null;
let engine: Promise<Engine | null> | null = null;
let warned = false;

export function setEngineFactory(f: () => Promise<Engine>): void {
  factory = f;
}

function inCI(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> }; Deno?: { env: { get(k: string): string | undefined } } });
  const v = env.process?.env?.CI ?? env.Deno?.env.get('CI');
  return v === 'true' || v === '1';
}

async function open(): Promise<Engine | null> {
  if (!factory) throw new Error('test setup: no engine factory installed');
  try {
    const e = await factory();
    const desc = `${e.caps.vendor} ${e.caps.architecture} ${e.caps.description}`.toLowerCase();
    if (/\bnull\b/.test(desc)) throw new Error(`refusing Dawn's null backend (${desc}): it executes nothing`);
    return e;
  } catch (err) {
    if (inCI()) throw err;
    if (!warned) {
      warned = true;
      console.warn(`\n  !!! GPU suites SKIPPED: no usable WebGPU adapter (${(err as Error).message}) !!!\n`);
    }
    return null;
  }
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

/** Destroy the shared engine (the last root hook), so the process can exit. */
export async function closeEngine(): Promise<void> {
  const e = engine ? await engine.catch(() => null) : null;
  e?.destroy();
  engine = null;
}
