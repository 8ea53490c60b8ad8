// `npm run method -- step [--quick] [--flag=value …]`: every flag is in ./flags.ts (`--help` lists them).
// `--merge=DIR,…` combines runs of other seeds (e.g. `--seeds=0` and `--seeds=1,2`) into one report.
import type { Engine } from '../../engine/index.js';
import { readReports } from '../read-reports.js';
import type { StepConfig } from './config.js';
import { summaryTable, writeArtifacts } from './plots.js';
import { mergeReports, run, type Report } from './run.js';

export { FLAGS, summary } from './flags.js';

/** Run on a config parsed from the command line (flags.ts). */
export async function main(engine: Engine, config: StepConfig): Promise<void> {
  if (config.merge.length) {
    const report = mergeReports(await readReports<Report>(config.merge));
    console.log(`step: merged seeds ${report.config.seeds.join(', ')} from ${config.merge.join(', ')}\n\n${summaryTable(report)}`);
    console.log(`wrote ${(await writeArtifacts(report, config.out)).join(', ')}`);
    return;
  }
  console.log(`step: arms ${config.arms.join(', ')} + baseline; tasks ${config.tasks.join(', ')}; N ${config.nValues.join(', ')}; seeds ${config.seeds.join(', ')}`);
  const partial = async (r: Report) => {
    await writeArtifacts(r, config.out);
    console.log(`  (report of seeds ${r.config.seeds.join(', ')} written to ${config.out})`);
  };
  const report = await run(engine, config, { log: (s) => console.log(s), partial });
  console.log(`\n${summaryTable(report)}\n(seed mean [per seed]; ${report.wallSec.toFixed(1)}s)`);
  const paths = await writeArtifacts(report, config.out);
  console.log(`wrote ${paths.join(', ')}`);
}
