// `npm run method -- untrac [--quick] [--flag=value …]`: every flag is in ./flags.ts (`--help` lists them).
import type { Engine } from '../../engine/index.js';
import { DEFAULTS, type UntracConfig } from './config.js';
import { summaryTable, writeArtifacts } from './plots.js';
import { run } from './run.js';

export { FLAGS, summary } from './flags.js';

/** Run on a config parsed from the command line (flags.ts). All seeds run on the one engine. */
export async function main(engine: Engine, config: UntracConfig): Promise<void> {
  const out = config.out ?? DEFAULTS.out;
  const report = await run(engine, config, { log: (s) => console.log(s) });
  console.log(`\n${summaryTable(report)}\n(seed mean [per seed]; ${report.wallSec.toFixed(1)}s)`);
  const paths = await writeArtifacts(report, out);
  console.log(`wrote ${paths.join(', ')}`);
}
