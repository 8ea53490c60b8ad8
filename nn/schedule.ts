// Learning-rate schedules with linear warmup (as Hugging Face's get_*_schedule_with_warmup) and a
// PyTorch-like LRScheduler that writes each group's lr before the next step.
//
// A schedule is a function of the step (0-based: the number of optimizer steps already taken) that
// returns a value between `minLr` and `peakLr`. With the default peakLr = 1 that value is a multiplier
// of each group's initial lr (minLr then is a fraction too); pass an absolute peakLr and use
// `new LRScheduler(opt, schedule, { absolute: true })` to set the lr itself.
import type { GroupHyper, Optimizer } from './optim.js';

export type Schedule = (step: number) => number;

export interface WarmupOptions {
  /** Steps of the linear ramp from 0 to peakLr (step / warmupSteps). */
  warmupSteps: number;
  /** Value after warmup (default 1: a multiplier). */
  peakLr?: number;
}

export interface DecayOptions extends WarmupOptions {
  /** The step at which decay reaches minLr (held there afterwards). */
  totalSteps: number;
  /** Floor of the decay (default 0). */
  minLr?: number;
}

function warmup(step: number, o: WarmupOptions): number | null {
  if (!(o.warmupSteps >= 0)) throw new RangeError(`schedule: warmupSteps must be >= 0, got ${o.warmupSteps}`);
  return step < o.warmupSteps ? ((o.peakLr ?? 1) * step) / Math.max(1, o.warmupSteps) : null;
}

/** Decay progress in [0, 1] after warmup. */
function progress(step: number, o: DecayOptions): number {
  if (!(o.totalSteps >= o.warmupSteps)) throw new RangeError(`schedule: totalSteps (${o.totalSteps}) must be >= warmupSteps (${o.warmupSteps})`);
  return Math.min(1, Math.max(0, (step - o.warmupSteps) / Math.max(1, o.totalSteps - o.warmupSteps)));
}

/** Linear warmup, then half a cosine from peakLr down to minLr at totalSteps. */
export function cosineSchedule(o: DecayOptions): Schedule {
  return (step) => {
    const w = warmup(step, o);
    if (w !== null) return w;
    const peak = o.peakLr ?? 1;
    const min = o.minLr ?? 0;
    return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * progress(step, o)));
  };
}

/** Linear warmup, then a straight line from peakLr down to minLr at totalSteps. */
export function linearSchedule(o: DecayOptions): Schedule {
  return (step) => {
    const w = warmup(step, o);
    if (w !== null) return w;
    const peak = o.peakLr ?? 1;
    const min = o.minLr ?? 0;
    return min + (peak - min) * (1 - progress(step, o));
  };
}

/** Linear warmup, then constant peakLr. */
export function constantSchedule(o: WarmupOptions = { warmupSteps: 0 }): Schedule {
  return (step) => warmup(step, o) ?? o.peakLr ?? 1;
}

export interface LRSchedulerOptions {
  /** The schedule returns the lr itself rather than a multiplier of each group's initial lr. */
  absolute?: boolean;
}

/**
 * Sets every group's lr from a schedule (PyTorch's LambdaLR). The constructor applies step 0; call
 * `step()` after each `optimizer.step()`.
 */
export class LRScheduler {
  /** Optimizer steps taken so far (the schedule's argument). */
  lastStep = 0;

  constructor(
    readonly optimizer: Optimizer<GroupHyper>,
    readonly schedule: Schedule,
    readonly options: LRSchedulerOptions = {},
  ) {
    this.apply();
  }

  step(): void {
    this.lastStep++;
    this.apply();
  }

  /** The lr of each group now. */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): { lastStep: number } {
    return { lastStep: this.lastStep };
  }

  loadStateDict(s: { lastStep: number }): void {
    this.lastStep = s.lastStep;
    this.apply();
  }

  private apply(): void {
    const v = this.schedule(this.lastStep);
    for (const g of this.optimizer.paramGroups) g.lr = this.options.absolute ? v : g.initialLr * v;
  }
}
