// `npm run method -- causal-world-model [--quick] [--flag=value …]`: every flag is in ./flags.ts (`--help` lists them).
import type { Engine } from '../../engine/index.js';
import type { CausalWorldModelConfig } from './config.js';
import { summaryTable, writeArtifacts } from './plots.js';
import { run } from './run.js';

export { FLAGS, summary } from './flags.js';

/** Run on a config parsed from the command line (flags.ts). */
export async function main(engine: Engine, config: CausalWorldModelConfig, newEngine?: () => Promise<Engine>): Promise<void> {
  console.log(`causal-world-model: seeds ${config.seeds.join(', ')}; horizons ${config.horizons.join(', ')}; plan lengths ${config.planHorizons.join(', ')}`);
  const report = await run(engine, config, { log: (s) => console.log(s), newEngine });
  console.log(`\n${summaryTable(report)}\n(seed mean [per seed]; ${report.wallSec.toFixed(1)}s)`);
  const paths = await writeArtifacts(report, config.out);
  console.log(`wrote ${paths.join(', ')}`);
}
