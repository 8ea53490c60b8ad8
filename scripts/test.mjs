// npm test: the suites under Node (mocha, Dawn; one process for the shared suites and one per
// method) and then under Deno (its own WebGPU), both on the first adapter found (lavapipe on a
// machine without a GPU). Fails if either fails.
// Usage: node scripts/test.mjs [--outdir=dist] [--grep=PATTERN] [--node-only | --deno-only]
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { withoutDawnNoise } from './quiet-dawn.mjs';

const args = process.argv.slice(2);
const opt = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const dist = opt('outdir') ?? 'dist';
const grep = opt('grep');
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };
const require = createRequire(import.meta.url);

/** Run a test process, echoing its output, and count passed/failed/skipped from its summary lines. */
function run(cmd, cmdArgs, parse) {
  console.log(`\n$ ${[cmd, ...cmdArgs].join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'], env, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  const out = r.stdout.toString();
  process.stdout.write(out);
  process.stderr.write(withoutDawnNoise(r.stderr.toString()));
  const counts = parse(out);
  // A native crash (Dawn/lavapipe) ends the process with no summary; say so where a log's tail shows it.
  const crash = r.signal ? `killed by ${r.signal}` : counts.passed + counts.failed === 0 && r.status ? `exited with ${r.status} and no summary` : null;
  if (crash) crashes.push(`${cmdArgs.find((a) => /test\/\w+\.js$/.test(a))}: ${crash}; its last lines:\n${out.trimEnd().split('\n').slice(-8).join('\n')}`);
  return { status: r.status ?? 1, ...counts };
}

const crashes = [];
const count = (text, re) => Number(text.match(re)?.[1] ?? 0);
const totals = { passed: 0, failed: 0, skipped: 0 };
let status = 0;
if (!args.includes('--deno-only')) {
  const mocha = require.resolve('mocha/bin/mocha.js');
  // One Node process for the shared suites and one per method suite, each with its own engine: in a
  // single process the whole suite's bind groups and buffers held more lavapipe memory mappings than
  // vm.max_map_count allows and Dawn crashed with SIGSEGV (2026-12-07, in the MoE method's quick run
  // after ~2,300 tests); a method run alone stays far below it. --grep runs one process.
  const methods = readdirSync(new URL('../test', import.meta.url)).flatMap((f) => f.match(/^method-(.+)\.node\.test\.ts$/)?.[1] ?? []).sort();
  const greps = grep ? [[grep]] : [['^method ', '--invert'], ...methods.map((m) => [`^method ${m} `])];
  for (const [pattern, ...flags] of greps) {
    // --expose-gc: the bind-group cache collects when it empties itself (engine/bindings.ts).
    const r = run(process.execPath, ['--expose-gc', mocha, '--exit', '--timeout', '120000', '--grep', pattern, ...flags, `${dist}/test/node.js`], (o) => ({
      passed: count(o, /^\s*(\d+) passing/m),
      failed: count(o, /^\s*(\d+) failing/m),
      skipped: count(o, /^\s*(\d+) pending/m),
    }));
    status ||= r.status;
    for (const k of Object.keys(totals)) totals[k] += r[k];
  }
}
if (!args.includes('--node-only')) {
  const deno = require.resolve('deno/bin.cjs');
  const r = run(process.execPath, [deno, 'run', '--allow-env', '--allow-read', `${dist}/test/deno.js`, ...(grep ? [`--grep=${grep}`] : [])], (o) => ({
    passed: count(o, /(\d+) passed, \d+ failed/),
    failed: count(o, /\d+ passed, (\d+) failed/),
    skipped: count(o, /\d+ failed, (\d+) skipped/),
  }));
  status ||= r.status;
  for (const k of Object.keys(totals)) totals[k] += r[k];
}
for (const c of crashes) console.log(`\nCRASH ${c}`);
if (status && totals.failed === 0) totals.failed = 1; // a crash with no summary still fails
console.log(`\ntotal: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(status || totals.failed ? 1 : 0);
