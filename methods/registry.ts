// Name → method. Each entry declares its flags (methods/<name>/flags.ts: one row per config key) and
// runs the method on the parsed config, writing its report and plots.
import type { Engine } from '../engine/index.js';
import type { MethodFlags } from './flags.js';
import * as cge from './cge/cli.js';
import * as copyBiasPruning from './copy-bias-pruning/cli.js';
import * as globalBatchLBL from './global-batch-lbl/cli.js';
import * as jola from './jola/cli.js';
import * as untrac from './untrac/cli.js';
import * as rewardCalibration from './reward-calibration/cli.js';
import * as twoTierSelection from './two-tier-selection/cli.js';
import * as step from './step/cli.js';
import * as causalWorldModel from './causal-world-model/cli.js';
import * as speechIBDisentanglement from './speech-ib-disentanglement/cli.js';

export interface MethodEntry<C = any> {
  /** One line for `npm run method -- --help`. */
  summary: string;
  /** The flag table, defaults and validation: `npm run method -- <name> --help` is generated from it. */
  FLAGS: MethodFlags<C>;
  /** Run on a validated config, print progress and a summary, write report.json and plots. */
  main(engine: Engine, config: C, newEngine?: () => Promise<Engine>): Promise<void>;
}

export const METHODS: Record<string, MethodEntry> = {
  cge,
  'copy-bias-pruning': copyBiasPruning,
  'global-batch-lbl': globalBatchLBL,
  jola,
  untrac,
  'reward-calibration': rewardCalibration,
  'two-tier-selection': twoTierSelection,
  step,
  'causal-world-model': causalWorldModel,
  'speech-ib-disentanglement': speechIBDisentanglement,
};
