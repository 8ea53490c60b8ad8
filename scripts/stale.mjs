// Skip bundles that are up to date (scripts/build.mjs --if-stale). Every build records the files
// esbuild read for a bundle (its metafile inputs) and when it started, in DIST/.inputs/<bundle>.json;
// a bundle is stale when it or its record is missing, when one of those inputs is gone or was
// modified after that start, or when one of the build's own files (ALWAYS) was.
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** Files whose change can change any bundle (build options, dependency versions, tsconfig paths). */
export const ALWAYS = ['scripts/build.mjs', 'scripts/stale.mjs', 'package.json', 'package-lock.json', 'tsconfig.json'];

const recordPath = (dist, outfile) => join(dist, '.inputs', `${relative(dist, outfile)}.json`);
const mtime = (f) => {
  try {
    return statSync(f).mtimeMs;
  } catch {
    return undefined;
  }
};

/** Why `outfile` must be rebuilt (a short reason), or null when it is up to date. Paths relative to `root`. */
export function staleReason(dist, outfile, root = '.') {
  if (mtime(resolve(root, outfile)) === undefined) return `${outfile} is missing`;
  let record;
  try {
    record = JSON.parse(readFileSync(resolve(root, recordPath(dist, outfile)), 'utf8'));
  } catch {
    return 'no record of its inputs';
  }
  for (const f of [...record.inputs, ...ALWAYS]) {
    const t = mtime(resolve(root, f));
    if (t === undefined) {
      if (ALWAYS.includes(f)) continue; // e.g. no lockfile
      return `${f} is gone`;
    }
    if (t > record.started) return `${f} changed`;
  }
  return null;
}

/** Write the record of a finished build of `outfile` that started at `started` (ms since the epoch). */
export function recordInputs(dist, outfile, metafile, started, root = '.') {
  const p = resolve(root, recordPath(dist, outfile));
  mkdirSync(dirname(p), { recursive: true });
  const inputs = Object.keys(metafile.inputs).filter((f) => !f.includes(':')); // drop virtual (namespace:) inputs
  writeFileSync(`${p}.tmp`, JSON.stringify({ started, inputs }, null, 1));
  renameSync(`${p}.tmp`, p);
}

/**
 * esbuild's `build` for build.mjs: records every bundle's inputs, and with `--if-stale` leaves up-to-date
 * bundles alone; `--only=a.js,b.js` (paths under the outdir) builds just those bundles. Paths are
 * relative to `root` (esbuild's absWorkingDir).
 */
export function staleAware(build, dist, argv, root = process.cwd()) {
  const ifStale = argv.includes('--if-stale');
  const only = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
  return async (options) => {
    const out = options.outfile;
    if (only && !only.includes(relative(dist, out).split('\\').join('/'))) return undefined;
    if (ifStale) {
      const why = staleReason(dist, out, root);
      if (!why) return undefined;
      console.error(`build: ${out} (${why})`);
    }
    const started = Date.now();
    const r = await build({ absWorkingDir: resolve(root), ...options, metafile: true });
    recordInputs(dist, out, r.metafile, started, root);
    return r;
  };
}
