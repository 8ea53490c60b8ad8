// Deno entry: Deno's built-in WebGPU (wgpu, Naga) runs the same GPU suites as Node's Dawn (Tint).
import { run } from './deno/runner.js';
import { Engine } from '../engine/index.js';
import { closeEngine, setEngineFactory } from './helpers/gpu.js';

setEngineFactory((options) => Engine.create(options));
// Suites register after the runner has installed describe/it.
await import('./suites.js');
const grepArg = (globalThis as { Deno?: { args: string[] } }).Deno?.args.find((a) => a.startsWith('--grep='));
const failed = await run(grepArg ? new RegExp(grepArg.slice(7)) : null);
await closeEngine();
(globalThis as unknown as { Deno: { exit(code: number): void } }).Deno.exit(failed > 0 ? 1 : 0);
