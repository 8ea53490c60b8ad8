// `npm run method -- cge [--quick] [--flag=value …]`: every flag is in ./flags.ts (`--help` lists them).
import type { Engine } from '../../engine/index.js';
import { DEFAULTS, type CGEConfig } from './config.js';
import { summaryTable, writeArtifacts } from './plots.js';
import { run } from './run.js';

export { FLAGS, summary } from './flags.js';

export async function main(engine: Engine, config: CGEConfig, newEngine?: () => Promise<Engine>): Promise<void> {
  const out = config.out ?? DEFAULTS.out;
  const report = await run(engine, config, { log: (s) => console.log(s), newEngine });
  console.log(`\n${summaryTable(report)}\n(seed mean [per seed]; ${report.wallSec.toFixed(1)}s)`);
  const paths = await writeArtifacts(report, out);
  console.log(`wrote ${paths.join(', ')}`);
}
