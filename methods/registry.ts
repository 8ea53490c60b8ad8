// Name → method. Each entry runs the method with CLI overrides and writes its report and plots.
import type { Engine } from '../engine/index.js';
import * as globalBatchLBL from './global-batch-lbl/cli.js';
import * as jola from './jola/cli.js';

export interface MethodEntry {
  /** One line for `npm run method` without a name. */
  summary: string;
  /** Parse `--key=value` flags, run, print progress and a summary, write report.json and plots. */
  main(engine: Engine, flags: Record<string, string | true>, newEngine?: () => Promise<Engine>): Promise<void>;
}

export const METHODS: Record<string, MethodEntry> = {
  'global-batch-lbl': globalBatchLBL,
  jola,
};
