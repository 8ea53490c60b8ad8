// Bundles with esbuild (.wgsl inlined as text):
//   dist/kiln.js             the engine (platform-neutral ESM: Node, Deno, browsers)
//   dist/nn.js               kiln/nn on the engine (platform-neutral; imports ./kiln.js)
//   dist/nn-node.js          kiln/nn/node: Node adapters (files, progress bar, PNG; imports ./nn.js)
//   dist/test/node.js        every test suite, for mocha under Node
//   dist/test/deno.js        the GPU suites with a small runner, for Deno's own WebGPU
//   dist/<entry>.js          bench, method CLI and demo entry points when present
//   dist/types/              .d.ts for engine/ (package.json's "types"), from tsconfig.build.json
// --no-types skips the declarations (a few seconds of tsc) for quick test rebuilds.
import { build as esbuild } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { staleAware } from './stale.mjs';

// --outdir=DIR builds elsewhere (parallel work in one tree must not overwrite each other's bundles).
const outArg = process.argv.find((a) => a.startsWith('--outdir='));
const dist = outArg ? outArg.slice('--outdir='.length) : 'dist';
// --if-stale rebuilds only bundles older than their inputs (npm run method/bench/demo); --only=a.js,…
// (paths under the outdir) builds only those bundles. Every bundle's inputs are recorded (scripts/stale.mjs).
const build = staleAware(esbuild, dist, process.argv);

const common = {
  bundle: true,
  format: 'esm',
  target: 'es2022',
  sourcemap: 'linked',
  loader: { '.wgsl': 'text' },
  logLevel: 'warning',
};

/** Resolve imports of the layers below to the sibling bundles, so every entry shares one engine. */
const siblings = (map) => ({
  name: 'siblings',
  setup(b) {
    b.onResolve({ filter: /\/(engine|nn)\/index\.js$/ }, (args) => {
      const layer = args.path.match(/(engine|nn)\/index\.js$/)[1];
      return map[layer] ? { path: map[layer], external: true } : undefined;
    });
  },
});

const jobs = [
  build({ ...common, entryPoints: ['engine/index.ts'], outfile: `${dist}/kiln.js`, platform: 'neutral' }),
  build({ ...common, entryPoints: ['nn/index.ts'], outfile: `${dist}/nn.js`, platform: 'neutral', plugins: [siblings({ engine: './kiln.js' })] }),
  build({ ...common, entryPoints: ['test/entry.node.ts'], outfile: `${dist}/test/node.js`, platform: 'node', packages: 'external' }),
  build({
    ...common,
    entryPoints: ['test/entry.deno.ts'],
    outfile: `${dist}/test/deno.js`,
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['import', 'default'],
  }),
];
const nodeEntries = [
  ['bench/main.ts', `${dist}/bench/main.js`],
  ['methods/cli.ts', `${dist}/methods/cli.js`],
  ['nn/demo.ts', `${dist}/demo.js`],
];
if (existsSync('nn/node/index.ts')) {
  jobs.push(build({ ...common, entryPoints: ['nn/node/index.ts'], outfile: `${dist}/nn-node.js`, platform: 'node', packages: 'external', plugins: [siblings({ engine: './kiln.js', nn: './nn.js' })] }));
}
for (const [src, out] of nodeEntries) {
  if (existsSync(src)) jobs.push(build({ ...common, entryPoints: [src], outfile: out, platform: 'node', packages: 'external' }));
}
await Promise.all(jobs);

if (!process.argv.includes('--no-types')) {
  // Declarations only; type errors in engine/ and nn/ fail the build (esbuild alone does not check types).
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', `${dist}/types`], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('build: tsc -p tsconfig.build.json failed');
    process.exit(r.status ?? 1);
  }
}
