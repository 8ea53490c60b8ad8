// `npm run method -- copy-bias-pruning [--quick] [--flag=value …]`: every flag is in ./flags.ts (`--help` lists them).
import type { Engine } from '../../engine/index.js';
import { nodeIO } from '../../nn/node/index.js';
import type { CopyBiasConfig } from './config.js';
import { summaryTable, writeArtifacts } from './plots.js';
import { run } from './run.js';

export { FLAGS, summary } from './flags.js';

export async function main(engine: Engine, config: CopyBiasConfig): Promise<void> {
  console.log(`copy-bias-pruning: seeds ${config.seeds.join(', ')}; IG m = ${config.ig.steps} on ${config.probe.nIG} proxy prompts; candidates k ${config.prune.ks.join('/')} (${config.prune.scopes.join(', ')})`);
  const report = await run(engine, config, { log: (s) => console.log(s), checkpointIO: nodeIO });
  console.log(`\n${summaryTable(report)}\n(seed mean [per seed]; ${report.wallSec.toFixed(1)}s)`);
  const paths = await writeArtifacts(report, config.out);
  console.log(`wrote ${paths.join(', ')}`);
}
