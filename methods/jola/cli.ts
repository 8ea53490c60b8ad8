// `npm run method -- jola [--quick] [--seeds=N] [--ns=8,16,32,128] [--methods=jola,lora,…] [--lambda=0.01] [--out=DIR] [--cache=DIR]`
import type { Engine } from '../../engine/index.js';
import { nodeIO } from '../../nn/node/index.js';
import { METHODS, QUICK, makeConfig, type JolaConfig, type MethodName } from './config.js';
import { summaryTable, writeArtifacts } from './plots.js';
import { run } from './run.js';

export const summary = 'JoLA (Lai et al. 2025): HardConcrete-gated per-head edits vs full fine-tuning, LoRA and LoFIT with few examples';

export async function main(engine: Engine, flags: Record<string, string | true>): Promise<void> {
  const o: Partial<JolaConfig> = {};
  const int = (k: string) => {
    const v = Number(flags[k]);
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`--${k} must be a positive integer, got ${flags[k]}`);
    return v;
  };
  if (flags.seeds !== undefined) o.seeds = Array.from({ length: int('seeds') }, (_, i) => i);
  if (typeof flags.ns === 'string') o.ns = flags.ns.split(',').map(Number);
  if (typeof flags.methods === 'string') o.methods = flags.methods.split(',') as MethodName[];
  if (typeof flags.out === 'string') o.out = flags.out;
  if (typeof flags.cache === 'string') o.cacheDir = flags.cache;
  if (typeof flags.lambda === 'string') o.jola = { ...makeConfig().jola, lambda: Number(flags.lambda) };
  const config = makeConfig(flags.quick ? QUICK : {}, o);
  console.log(`jola: methods ${config.methods.filter((m) => METHODS.includes(m)).join(', ')}; N ${config.ns.join(', ')}; seeds ${config.seeds.join(', ')}`);
  const report = await run(engine, config, { log: (s) => console.log(s), checkpointIO: nodeIO });
  console.log(`\n${summaryTable(report)}\n(exact match %, seed mean [per seed]; ${report.wallSec.toFixed(1)}s)`);
  const paths = await writeArtifacts(report, config.out);
  console.log(`wrote ${paths.join(', ')}`);
}
