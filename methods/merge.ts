// Merging the reports of runs of single seeds (`--seeds=1,2` in one process, `--seeds=0` in another)
// into one report over all their seeds: each method keeps its raw per-seed results in its report and
// rebuilds the statistics from their union, so a merged report equals the one a single run would write.
// No Node modules here (run.ts files bundle for the browser); the CLIs read the files (read-reports.ts).

interface SeedReport<C, S> {
  config: C & { seeds: number[]; out: string };
  wallSec: number;
  seedResults: S[];
}

/**
 * Check that `reports` share a configuration (all but `seeds` and `out`) and have distinct seeds, then
 * `build` the report of the union of their seed results (sorted by seed; the wall time is the sum).
 */
export function mergeSeedReports<C, S extends { seed: number }, R extends SeedReport<C, S>>(
  method: string,
  reports: readonly R[],
  build: (config: R['config'], results: S[], wallSec: number) => R,
): R {
  if (!reports.length) throw new RangeError(`${method} mergeReports: no reports`);
  const key = (r: R) => JSON.stringify({ ...r.config, seeds: [], out: '' });
  for (const r of reports) if (key(r) !== key(reports[0])) throw new RangeError(`${method} mergeReports: the reports have different configurations (other than seeds and out)`);
  const results = reports.flatMap((r) => r.seedResults).sort((a, b) => a.seed - b.seed);
  const seeds = results.map((r) => r.seed);
  if (new Set(seeds).size !== seeds.length) throw new RangeError(`${method} mergeReports: seeds ${seeds.join(', ')} repeat`);
  return build({ ...reports[0].config, seeds }, results, reports.reduce((a, r) => a + r.wallSec, 0));
}
