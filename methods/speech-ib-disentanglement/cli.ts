// `npm run method -- speech-ib-disentanglement [--quick] [--flag=value …]`: every flag is in ./flags.ts (`--help` lists them).
import type { Engine } from '../../engine/index.js';
import { espeakSynthesizer, nodeIO } from '../../nn/node/index.js';
import type { SpeechIBConfig } from './config.js';
import { summaryTable, writeArtifacts } from './plots.js';
import { run } from './run.js';

export { FLAGS, summary } from './flags.js';

/** Run on a config parsed from the command line (flags.ts). */
export async function main(engine: Engine, config: SpeechIBConfig): Promise<void> {
  console.log(`speech-ib-disentanglement: tasks ${config.tasks.join(', ')}; layers ${config.layers.join(', ')}; seeds ${config.seeds.join(', ')}`);
  let lastPct = -1;
  const synthesize = espeakSynthesizer({
    cacheDir: config.cacheDir,
    onProgress: (done, total) => {
      const pct = Math.floor((100 * done) / total);
      if (pct % 25 === 0 && pct !== lastPct) console.log(`synthesis: ${done}/${total} word segments`);
      lastPct = pct;
    },
  });
  const report = await run(engine, config, { log: (s) => console.log(s), synthesize, checkpointIO: nodeIO });
  console.log(`\n${summaryTable(report)}\n(${report.wallSec.toFixed(1)}s)`);
  const paths = await writeArtifacts(report, config.out);
  console.log(`wrote ${paths.join(', ')}`);
}
