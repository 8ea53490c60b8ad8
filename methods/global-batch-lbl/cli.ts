// `npm run method -- global-batch-lbl [--quick] [--flag=value …]`: every flag is in ./flags.ts (`--help` lists them).
import type { Engine } from '../../engine/index.js';
import { buildCorpus } from '../../nn/node/index.js';
import { DEFAULTS, type GlobalBatchLBLConfig } from './config.js';
import { writeArtifacts, summaryTable } from './plots.js';
import { run } from './run.js';

export { FLAGS, summary } from './flags.js';

/** Run on a config parsed from the command line (flags.ts). */
export async function main(engine: Engine, config: GlobalBatchLBLConfig, newEngine?: () => Promise<Engine>): Promise<void> {
  const out = config.out ?? DEFAULTS.out;
  const report = await run(engine, config, { log: (s) => console.log(s), newEngine, buildCorpus });
  console.log(`\n${summaryTable(report)}\n(seed mean [per seed]; ${report.wallSec.toFixed(1)}s)`);
  const paths = await writeArtifacts(report, out);
  console.log(`wrote ${paths.join(', ')}`);
}
