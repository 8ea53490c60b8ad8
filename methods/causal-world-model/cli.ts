// `npm run method -- causal-world-model [--quick] [--flag=value …]`: every flag is in ./flags.ts (`--help` lists them).
// `--merge=DIR,…` combines runs of single seeds (e.g. `--seeds=1-1` in three processes) into one report.
import type { Engine } from '../../engine/index.js';
import { readReports } from '../read-reports.js';
import type { CausalWorldModelConfig } from './config.js';
import { summaryTable, writeArtifacts } from './plots.js';
import { mergeReports, run, type Report } from './run.js';

export { FLAGS, summary } from './flags.js';

/** Run on a config parsed from the command line (flags.ts). */
export async function main(engine: Engine, config: CausalWorldModelConfig, newEngine?: () => Promise<Engine>): Promise<void> {
  let report: Report;
  if (config.merge.length) {
    report = mergeReports(await readReports<Report>(config.merge));
    console.log(`causal-world-model: merged seeds ${report.config.seeds.join(', ')} from ${config.merge.join(', ')}`);
  } else {
    console.log(`causal-world-model: seeds ${config.seeds.join(', ')}; horizons ${config.horizons.join(', ')}; plan lengths ${config.planHorizons.join(', ')}`);
    report = await run(engine, config, { log: (s) => console.log(s), newEngine });
  }
  console.log(`\n${summaryTable(report)}\n(seed mean [per seed]; ${report.wallSec.toFixed(1)}s)`);
  const paths = await writeArtifacts(report, config.out);
  console.log(`wrote ${paths.join(', ')}`);
}
