// `npm run method -- global-batch-lbl [--quick] [--seeds=N] [--steps=N] [--out=DIR] [--arms=a,b] [--replicas=N] [--corpus=real] [--balance-sweep=1,2,4,8]`
import type { Engine } from '../../engine/index.js';
import { DEFAULTS, QUICK, makeConfig, type Arm, type GlobalBatchLBLConfig } from './config.js';
import { writeArtifacts, summaryTable } from './plots.js';
import { run } from './run.js';

export const summary = 'global-batch vs micro-batch load-balancing loss for MoE (Qiu et al. 2025): expert specialisation by domain';

export async function main(engine: Engine, flags: Record<string, string | true>, newEngine?: () => Promise<Engine>): Promise<void> {
  const o: Partial<GlobalBatchLBLConfig> = {};
  const int = (k: string) => {
    const v = Number(flags[k]);
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`--${k} must be a positive integer, got ${flags[k]}`);
    return v;
  };
  if (flags.seeds !== undefined) o.seeds = Array.from({ length: int('seeds') }, (_, i) => i);
  if (flags.steps !== undefined) o.steps = int('steps');
  if (flags.replicas !== undefined) o.replicas = int('replicas');
  if (typeof flags.out === 'string') o.out = flags.out;
  if (typeof flags.arms === 'string') o.arms = flags.arms.split(',') as Arm[];
  if (flags.corpus === 'real' || flags.corpus === 'markov') o.corpus = flags.corpus;
  if (typeof flags.alpha === 'string') o.lblWeight = Number(flags.alpha);
  if (typeof flags['balance-sweep'] === 'string') o.balanceSweep = flags['balance-sweep'].split(',').map(Number);
  const config = makeConfig(flags.quick ? QUICK : {}, o);
  const out = config.out ?? DEFAULTS.out;
  const report = await run(engine, config, { log: (s) => console.log(s), newEngine });
  console.log(`\n${summaryTable(report)}\n(seed mean [per seed]; ${report.wallSec.toFixed(1)}s)`);
  for (const b of report.balanceSweep ?? []) {
    console.log(`balance group ${b.group} micro-batches (${b.sequences} sequences): MI ${b.mi.mean.toFixed(3)}  held-out loss ${b.heldoutLoss.mean.toFixed(4)}  imbalance ${b.imbalance.mean.toFixed(2)}`);
  }
  const paths = await writeArtifacts(report, out);
  console.log(`wrote ${paths.join(', ')}`);
}
