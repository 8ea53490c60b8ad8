// The published package, as a user gets it: `npm pack` (its prepack builds dist/), the tarball checked
// by publint and arethetypeswrong, installed offline into an empty project, its types checked there
// with TypeScript (moduleResolution node16 and bundler, declarations included) and Deno, and every
// `js` block of README.md run there as written (Node; Deno where the block is marked).
//
// The project gets the package's optional peers (webgpu, vega, …) as links to this checkout's
// node_modules, exactly those package.json declares, so no registry is needed and an undeclared import
// in the bundles fails here.
import { expect } from 'chai';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const repo = process.cwd();
const requireRepo = createRequire(join(repo, 'package.json'));

/** A package's bin script in this checkout, run with this Node. */
function bin(pkg: string, name = pkg): string {
  const manifest = join(repo, 'node_modules', pkg, 'package.json');
  const b = JSON.parse(readFileSync(manifest, 'utf8')).bin;
  return join(dirname(manifest), typeof b === 'string' ? b : b[name]);
}

interface Block {
  lang: string;
  code: string;
  marker: string | null;
  line: number;
  section: string;
}

/** The fenced code blocks of a Markdown file, with the `<!-- readme: … -->` marker on the line above. */
export function readmeBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('#')) section = lines[i].replace(/^#+\s*/, '');
    const open = lines[i].match(/^```(\S*)\s*$/);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i].startsWith('```'); i++) body.push(lines[i]);
    const marker = lines[start - 1]?.match(/^<!--\s*readme:\s*(.+?)\s*-->$/)?.[1] ?? null;
    blocks.push({ lang: open[1], code: body.join('\n') + '\n', marker, line: start + 1, section });
  }
  return blocks;
}

describe('package and README examples (npm pack, offline install)', function () {
  this.timeout(600_000);
  let tmp: string;
  let app: string;
  let tarball: string;
  // An unreachable registry for npm and Deno (both spellings: `npm test` sets npm_config_registry):
  // everything here must work offline.
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_(registry|update_notifier)$/i.test(k)));
  Object.assign(env, { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', NO_COLOR: '1', npm_config_update_notifier: 'false', npm_config_registry: 'http://127.0.0.1:9/', NPM_CONFIG_REGISTRY: 'http://127.0.0.1:9/' });

  function run(cmd: string, args: string[], options: { cwd?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
    return spawnSync(cmd, args, { cwd: options.cwd ?? app, env: options.env ?? env, encoding: 'utf8', timeout: options.timeout ?? 180_000, maxBuffer: 1 << 28 });
  }
  const output = (r: SpawnSyncReturns<string>) => `${r.error ? `${r.error.message}\n` : ''}exit ${r.status}${r.signal ? ` (${r.signal})` : ''}\n${r.stdout}\n${r.stderr}`.trimEnd();
  function ok(r: SpawnSyncReturns<string>, what: string): string {
    if (r.status !== 0) expect.fail(`${what} failed:\n${output(r).split('\n').slice(-60).join('\n')}`);
    return r.stdout;
  }
  const npmCli = () => {
    // The npm that runs this test (npm_execpath under `npm test`), else the one beside this Node.
    const candidates = [process.env.npm_execpath, join(dirname(process.execPath), '../lib/node_modules/npm/bin/npm-cli.js')];
    const found = candidates.find((p) => p && /npm-cli\.js$/.test(p) && existsSync(p));
    return found ? { cmd: process.execPath, pre: [found] } : { cmd: 'npm', pre: [] as string[] };
  };
  const npm = (args: string[], cwd: string) => {
    const { cmd, pre } = npmCli();
    return run(cmd, [...pre, ...args], { cwd });
  };

  before(function () {
    tmp = mkdtempSync(join(tmpdir(), 'kiln-package-'));
    // npm pack runs prepack (the build) and writes the tarball; the name is the last .tgz it reports.
    ok(npm(['pack', '--pack-destination', tmp, '--no-fund', '--no-audit'], repo), 'npm pack');
    const tgz = readdirSync(tmp).filter((f) => f.endsWith('.tgz'));
    expect(tgz, 'one tarball').to.have.length(1);
    tarball = join(tmp, tgz[0]);

    app = join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'readme-app', private: true, type: 'module', dependencies: { 'kiln-webgpu': `file:${tarball}` } }, null, 2));
    ok(npm(['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], app), 'npm install of the tarball');
    // The optional peers it declares, plus TypeScript's Node types for the type checks.
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules/kiln-webgpu/package.json'), 'utf8'));
    for (const name of [...Object.keys(manifest.peerDependencies ?? {}), '@types/node']) {
      const target = join(repo, 'node_modules', name);
      expect(existsSync(join(target, 'package.json')), `${name} is installed in this checkout`).to.equal(true);
      mkdirSync(dirname(join(app, 'node_modules', name)), { recursive: true });
      symlinkSync(target, join(app, 'node_modules', name), 'dir');
    }
  });
  after(function () {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('is named kiln-webgpu, has no dependencies, and ships the bundles and their declarations', function () {
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules/kiln-webgpu/package.json'), 'utf8'));
    expect(manifest.name).to.equal('kiln-webgpu');
    expect(manifest.dependencies ?? {}).to.deep.equal({});
    for (const [name, meta] of Object.entries(manifest.peerDependenciesMeta as Record<string, { optional?: boolean }>)) expect(meta.optional, name).to.equal(true);
    expect(Object.keys(manifest.peerDependencies)).to.include('webgpu');
    for (const f of ['kiln.js', 'kiln.d.ts', 'nn.js', 'nn.d.ts', 'nn-node.js', 'nn-node.d.ts']) expect(existsSync(join(app, 'node_modules/kiln-webgpu/dist', f)), f).to.equal(true);
    // The core bundles import nothing outside the package; nn-node.js only node:* (peers load lazily).
    const imports = (f: string) => [...readFileSync(join(app, 'node_modules/kiln-webgpu/dist', f), 'utf8').matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*"([^"]+)"/gm)].map((m) => m[1]);
    expect(imports('kiln.js')).to.deep.equal([]);
    expect([...new Set(imports('nn.js'))]).to.deep.equal(['./kiln.js']);
    expect([...new Set(imports('nn-node.js'))].filter((s) => !s.startsWith('node:'))).to.deep.equal(['./nn.js']);
  });

  it('loads without its optional peers; each feature that needs one throws MissingPeerError', function () {
    const bare = join(tmp, 'bare');
    mkdirSync(bare);
    writeFileSync(join(bare, 'package.json'), JSON.stringify({ name: 'bare-app', private: true, type: 'module', dependencies: { 'kiln-webgpu': `file:${tarball}` } }));
    ok(npm(['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], bare), 'npm install of the tarball (no peers)');
    writeFileSync(
      join(bare, 'peers.js'),
      `import { Engine } from 'kiln-webgpu';
import { lossCurveSpec } from 'kiln-webgpu/nn';
import { dawnGPU, MissingPeerError, nodeIO, terminalProgress, writePlot } from 'kiln-webgpu/node';
const missing = async (f) => { try { await f(); } catch (e) { if (e instanceof MissingPeerError) return e.packages.join(' '); throw e; } return 'loaded'; };
await nodeIO.writeFileAtomic('x.txt', new TextEncoder().encode('ok'));
console.log(JSON.stringify({
  engine: typeof Engine.create,
  webgpu: await missing(() => dawnGPU()),
  bar: await missing(() => terminalProgress({ plain: false })),
  plain: await missing(() => terminalProgress({ plain: true })),
  plot: await missing(() => writePlot(lossCurveSpec([]), 'plot')),
}));
`,
    );
    const out = ok(run(process.execPath, ['peers.js'], { cwd: bare }), 'the package without peers');
    expect(JSON.parse(out.trim().split('\n').pop()!)).to.deep.equal({ engine: 'function', webgpu: 'webgpu', bar: 'cli-progress', plain: 'loaded', plot: 'vega vega-lite @resvg/resvg-js' });
  });

  it('passes publint and arethetypeswrong (ESM-only profile) with no problems', function () {
    const lint = ok(run(process.execPath, [bin('publint'), 'run', tarball, '--strict'], { cwd: tmp }), 'publint');
    expect(lint).to.match(/All good/);
    ok(run(process.execPath, [bin('@arethetypeswrong/cli', 'attw'), tarball, '--profile', 'esm-only', '--format', 'table-flipped'], { cwd: tmp }), 'attw');
  });

  it('type-checks a consumer under moduleResolution node16 and bundler, declarations included', function () {
    writeFileSync(
      join(app, 'consumer.ts'),
      `import { Engine, ShapeError, type Tensor } from 'kiln-webgpu';
import { AdamW, MLP, train, type TrainResult } from 'kiln-webgpu/nn';
import { dawnGPU, jsonlSink, MissingPeerError, nodeIO, terminalProgress, writePlot } from 'kiln-webgpu/node';

const engine: Engine = await Engine.create({ gpu: dawnGPU() });
const x: Tensor = engine.tensor([[1, 2], [3, 4]]);
const [dx, dy]: [Tensor, Tensor] = engine.grad((a, b) => a.mul(b).sum())(x, x);
const { value, grads }: { value: Tensor; grads: [Tensor] } = engine.valueAndGrad((a: Tensor) => a.sum())(x);
// @ts-expect-error one argument, one gradient
engine.grad((a) => a.sum())(x)[1];
const model = new MLP(engine, 2, 8);
const opt = new AdamW(model.parameters(), { lr: 1e-3 });
const result: Promise<TrainResult> = train({ steps: 1, step: () => model.forward(x).sum(), progress: terminalProgress(), log: jsonlSink('m.jsonl') });
const io: typeof nodeIO = nodeIO;
const plot: (spec: Record<string, unknown>, base: string) => Promise<{ svg: string; png: string }> = writePlot;
const errors = [ShapeError, MissingPeerError];
export { dx, dy, value, grads, opt, result, io, plot, errors };
`,
    );
    const tsc = requireRepo.resolve('typescript/bin/tsc');
    const common = ['--noEmit', '--strict', '--target', 'es2022', '--lib', 'es2023,dom', '--types', 'node,@webgpu/types', 'consumer.ts'];
    // The first run also checks every declaration file (ours and the types they use); the second only
    // how bundler resolution maps the imports (checking the same .d.ts again costs seconds).
    ok(run(process.execPath, [tsc, '--module', 'node16', '--moduleResolution', 'node16', '--skipLibCheck', 'false', ...common]), 'tsc (node16)');
    ok(run(process.execPath, [tsc, '--module', 'esnext', '--moduleResolution', 'bundler', '--skipLibCheck', ...common]), 'tsc (bundler)');
  });

  it('type-checks under Deno, through package.json and through // @ts-types on the dist files', function () {
    writeFileSync(
      join(app, 'deno-check.ts'),
      `// @ts-types="./node_modules/kiln-webgpu/dist/kiln.d.ts"
import { Engine, type Tensor } from './node_modules/kiln-webgpu/dist/kiln.js';
// @ts-types="./node_modules/kiln-webgpu/dist/nn.d.ts"
import { MLP } from './node_modules/kiln-webgpu/dist/nn.js';
import { Engine as PackageEngine } from 'kiln-webgpu';
import { lossCurveSpec } from 'kiln-webgpu/nn';

const engine: Engine = await Engine.create();
const x: Tensor = engine.arange(4).reshape(2, 2);
const [dx]: [Tensor] = engine.grad((a) => a.square().sum())(x);
// @ts-expect-error shape is a number array
const s: string = x.shape;
const model = new MLP(engine, 2, 4);
const same: typeof Engine = PackageEngine;
export { dx, s, model, same, lossCurveSpec };
`,
    );
    ok(run(process.execPath, [requireRepo.resolve('deno/bin.cjs'), 'check', 'deno-check.ts']), 'deno check');
  });

  const blocks = readmeBlocks(readFileSync(join(repo, 'README.md'), 'utf8'));

  it('README: every code block is sh (shown, not run), js (run) or marked', function () {
    for (const b of blocks) {
      const where = `README.md:${b.line} (${b.section})`;
      if (b.marker === 'not run') continue;
      expect(['sh', 'js'], `${where}: code block of language "${b.lang}": write it as plain JavaScript (js) or mark it <!-- readme: not run -->`).to.include(b.lang);
      if (b.lang === 'js') expect([null, 'deno'], `${where}: unknown marker`).to.include(b.marker);
    }
    expect(blocks.filter((b) => b.lang === 'js' && b.marker !== 'not run').length).to.be.greaterThanOrEqual(3);
  });

  for (const [n, b] of blocks.entries()) {
    if (b.lang !== 'js' || b.marker === 'not run') continue;
    const runtime = b.marker === 'deno' ? 'Deno' : 'Node';
    it(`README: the ${b.section} example (README.md:${b.line}) runs as written under ${runtime}`, function () {
      const file = `readme-${n}.js`;
      writeFileSync(join(app, file), b.code);
      const r =
        runtime === 'Deno'
          ? run(process.execPath, [requireRepo.resolve('deno/bin.cjs'), 'run', '--allow-read', '--allow-env', file])
          : run(process.execPath, [file]);
      const out = ok(r, `README.md:${b.line} under ${runtime}`);
      if (b.code.includes('writePlot')) {
        for (const f of ['runs/example/metrics.jsonl', 'runs/example/loss.svg', 'runs/example/loss.png', 'runs/example/ckpt/latest']) expect(existsSync(join(app, f)), f).to.equal(true);
        expect(out).to.match(/resumed at step \d+/);
      }
    });
  }
});
