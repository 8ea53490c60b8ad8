// Bundles with esbuild (.wgsl inlined as text):
//   dist/kiln.js             the engine (platform-neutral ESM: Node, Deno, browsers)
//   dist/nn.js               kiln/nn on the engine (platform-neutral; imports ./kiln.js)
//   dist/nn-node.js          the package's ./node export: Node adapters (files, progress bar, PNG; imports ./nn.js)
//   dist/{kiln,nn,nn-node}.d.ts  one bundled declaration file per library entry, next to its bundle
//                            (tsc's declarations rolled up by rollup-plugin-dts): their imports are
//                            ./kiln.js and ./nn.js, which resolve under node16, bundler and Deno alike
//   dist/test/node.js        every test suite, for mocha under Node
//   dist/test/deno.js        the GPU suites with a small runner, for Deno's own WebGPU
//   dist/<entry>.js          bench, method CLI and demo entry points when present
// --no-types skips the declarations (a few seconds of tsc) for quick test rebuilds.
import { build as esbuild } from 'esbuild';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { staleAware } from './stale.mjs';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/**
 * Resolve imports of the layers below to the sibling bundles, so every entry shares one engine. Matched
 * by the resolved file (engine/index.js, nn/index.js), so `../index.js` from nn/node/ counts too.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const siblings = (map) => ({
  name: 'siblings',
  setup(b) {
    b.onResolve({ filter: /(^|\/)index\.js$/ }, (args) => {
      const abs = resolve(args.resolveDir, args.path);
      for (const [layer, target] of Object.entries(map)) if (abs === join(root, layer, 'index.js')) return { path: target, external: true };
      return undefined;
    });
  },
});

/** Deno reads a bundle's types from this directive (no `@ts-types` needed); Node and bundlers use package.json. */
const typesBanner = (name) => ({ banner: { js: `/// <reference types="./${name}.d.ts" />` } });

const jobs = [
  build({ ...common, ...typesBanner('kiln'), entryPoints: ['engine/index.ts'], outfile: `${dist}/kiln.js`, platform: 'neutral' }),
  build({ ...common, ...typesBanner('nn'), entryPoints: ['nn/index.ts'], outfile: `${dist}/nn.js`, platform: 'neutral', plugins: [siblings({ engine: './kiln.js' })] }),
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
  ['bench/soak.ts', `${dist}/bench/soak.js`],
];
if (existsSync('nn/node/index.ts')) {
  jobs.push(build({ ...common, ...typesBanner('nn-node'), entryPoints: ['nn/node/index.ts'], outfile: `${dist}/nn-node.js`, platform: 'node', packages: 'external', plugins: [siblings({ engine: './kiln.js', nn: './nn.js' })] }));
}
for (const [src, out] of nodeEntries) {
  if (existsSync(src)) jobs.push(build({ ...common, entryPoints: [src], outfile: out, platform: 'node', packages: 'external' }));
}
await Promise.all(jobs);

if (!process.argv.includes('--no-types')) await buildTypes();

/**
 * Declarations: tsc emits per-file .d.ts into a temporary folder (type errors fail the build; esbuild
 * alone checks no types), then rollup-plugin-dts rolls each entry into one file next to its bundle.
 * Two tsc programs run side by side: engine/ and nn/ without Node types (tsconfig.build.json, so a
 * Node-only API there fails the build), and nn/node/ with them (tsconfig.build-node.json).
 */
async function buildTypes() {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-types-'));
  try {
    const runTsc = (project, out) =>
      new Promise((done, fail) => {
        const child = spawn(process.execPath, [tsc, '-p', project, '--outDir', out], { stdio: 'inherit' });
        child.on('error', fail);
        child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`build: tsc -p ${project} failed (exit ${code})`))));
      });
    const withNode = existsSync('nn/node/index.ts');
    await Promise.all([runTsc('tsconfig.build.json', join(tmp, 'lib')), withNode && runTsc('tsconfig.build-node.json', join(tmp, 'node'))]);

    const { rollup } = await import('rollup');
    const { dts } = await import('rollup-plugin-dts');
    /**
     * Imports of another entry's sources become imports of that entry's bundle (./kiln.js, ./nn.js):
     * `map` is [folder prefix, bundle or null to keep it in this entry], first match wins.
     */
    const layers = (root, map) => ({
      name: 'kiln-layers',
      async resolveId(source, importer, options) {
        if (!importer || !source.startsWith('.')) return null;
        const r = await this.resolve(source, importer, { ...options, skipSelf: true });
        if (!r) return null;
        const rel = r.id.slice(root.length + 1).split(sep).join('/');
        const target = map.find(([prefix]) => rel.startsWith(prefix))?.[1];
        return target ? { id: target, external: true } : null;
      },
    });
    const entries = [
      ['kiln', join(tmp, 'lib'), 'engine/index.d.ts', []],
      ['nn', join(tmp, 'lib'), 'nn/index.d.ts', [['engine/', './kiln.js']]],
      ...(withNode ? [['nn-node', join(tmp, 'node'), 'nn/node/index.d.ts', [['engine/', './kiln.js'], ['nn/node/', null], ['nn/', './nn.js']]]] : []),
    ];
    await Promise.all(
      entries.map(async ([name, root, input, map]) => {
        const bundle = await rollup({
          input: join(root, input),
          plugins: [layers(root, map), dts()],
          external: (id) => !id.startsWith('.') && !id.startsWith('/') && !/^[A-Za-z]:/.test(id),
          onwarn(w, warn) {
            if (w.code !== 'EMPTY_BUNDLE') warn(w);
          },
        });
        await bundle.write({ file: resolve(dist, `${name}.d.ts`), format: 'es' });
        await bundle.close();
      }),
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
