// Layering (DESIGN §2): engine/, nn/ and methods/ use web-standard APIs only, and only engine/ops
// launches kernels. Each method's run.ts is bundled for the browser (a node: import, or nn/node, which
// reads files, fails the build: the CLI injects such things); nn/ and methods/ never call the
// @internal engine.run.
import { expect } from 'chai';
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const repo = process.cwd();

/** Every .ts file below a folder, repository-relative. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(repo, dir))) {
    const rel = join(dir, name);
    if (statSync(join(repo, rel)).isDirectory()) out.push(...sources(rel));
    else if (rel.endsWith('.ts')) out.push(rel);
  }
  return out;
}

describe('layering', function () {
  const methods = readdirSync(join(repo, 'methods')).filter((m) => existsSync(join(repo, 'methods', m, 'run.ts')));

  it('finds the methods', function () {
    expect(methods).to.include.members(['global-batch-lbl', 'jola']);
  });

  for (const m of methods) {
    it(`methods/${m}/run.ts bundles for the browser without Node modules or nn/node`, async function () {
      this.timeout(60_000);
      const r = await build({
        entryPoints: [join(repo, 'methods', m, 'run.ts')], bundle: true, write: false, platform: 'browser', format: 'esm',
        loader: { '.wgsl': 'text' }, metafile: true, logLevel: 'silent',
      });
      const inputs = Object.keys(r.metafile.inputs).map((p) => relative(repo, join(repo, p)));
      expect(inputs.filter((p) => p.startsWith(join('nn', 'node')) || p.startsWith('node_modules')), 'Node-side inputs').to.deep.equal([]);
    });
  }

  it('nn/ and methods/ launch no kernels themselves (engine.run is internal)', function () {
    const launches = [...sources('nn'), ...sources('methods')].filter((f) => /\.run\(\{\s*shader:/.test(readFileSync(join(repo, f), 'utf8')));
    expect(launches).to.deep.equal([]);
  });
});
