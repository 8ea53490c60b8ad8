// `npm run method -- two-tier-selection [--quick] [--flag=value …]`: every flag is in ./flags.ts (`--help` lists them).
import type { Engine } from '../../engine/index.js';
import { nodeIO } from '../../nn/node/index.js';
import type { TwoTierConfig } from './config.js';
import { summaryTable, writeArtifacts } from './plots.js';
import { run } from './run.js';

export { FLAGS, summary } from './flags.js';

export async function main(engine: Engine, config: TwoTierConfig): Promise<void> {
  console.log(`two-tier-selection: seeds ${config.seeds.join(', ')}; ${config.shareModels ? 'one model pair for all seeds' : 'a model pair per seed'}; costs fix ${config.largeCosts.join('/')}${config.flopCosts ? ' and flops' : ''}`);
  const report = await run(engine, config, { log: (s) => console.log(s), checkpointIO: nodeIO });
  console.log(`\n${summaryTable(report)}\n(seed mean [per seed]; ${report.wallSec.toFixed(1)}s)`);
  const paths = await writeArtifacts(report, config.out);
  console.log(`wrote ${paths.join(', ')}`);
}
