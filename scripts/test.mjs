// npm test: the suites under Node (mocha, Dawn) and then under Deno (its own WebGPU), both on the
// first adapter found (lavapipe on a machine without a GPU). Fails if either fails.
// Usage: node scripts/test.mjs [--outdir=dist] [--grep=PATTERN] [--node-only | --deno-only]
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const args = process.argv.slice(2);
const opt = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const dist = opt('outdir') ?? 'dist';
const grep = opt('grep');
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };
const require = createRequire(import.meta.url);

function run(cmd, cmdArgs) {
  console.log(`\n$ ${[cmd, ...cmdArgs].join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit', env });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

let failed = 0;
if (!args.includes('--deno-only')) {
  const mocha = require.resolve('mocha/bin/mocha.js');
  failed += run(process.execPath, [mocha, '--exit', '--timeout', '120000', ...(grep ? ['--grep', grep] : []), `${dist}/test/node.js`]) ? 1 : 0;
}
if (!args.includes('--node-only')) {
  const deno = require.resolve('deno/bin.cjs');
  failed += run(process.execPath, [deno, 'run', '--allow-env', '--allow-read', `${dist}/test/deno.js`, ...(grep ? [`--grep=${grep}`] : [])]) ? 1 : 0;
}
process.exit(failed ? 1 : 0);
