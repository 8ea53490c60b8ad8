// `npm run method -- jola [--quick] [--flag=value …]`: every flag is in ./flags.ts (`--help` lists them).
import type { Engine } from '../../engine/index.js';
import { nodeIO } from '../../nn/node/index.js';
import { METHODS, type JolaConfig } from './config.js';
import { summaryTable, writeArtifacts } from './plots.js';
import { run } from './run.js';

export { FLAGS, summary } from './flags.js';

/** Run on a config parsed from the command line (flags.ts). */
export async function main(engine: Engine, config: JolaConfig): Promise<void> {
  console.log(`jola: methods ${config.methods.filter((m) => METHODS.includes(m)).join(', ')}; N ${config.ns.join(', ')}; seeds ${config.seeds.join(', ')}`);
  const report = await run(engine, config, { log: (s) => console.log(s), checkpointIO: nodeIO });
  console.log(`\n${summaryTable(report)}\n(exact match %, seed mean [per seed]; ${report.wallSec.toFixed(1)}s)`);
  const paths = await writeArtifacts(report, config.out);
  console.log(`wrote ${paths.join(', ')}`);
}
