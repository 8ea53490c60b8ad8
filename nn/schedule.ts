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

export interface PlateauOptions {
  /** 'min': lower is better (a loss); 'max': higher is better (an accuracy). Default 'min'. */
  mode?: 'min' | 'max';
  /** Multiplier of each cut, in (0, 1). Default 0.1. */
  factor?: number;
  /** Evaluations without improvement tolerated: the cut comes at the (patience + 1)-th, as PyTorch. Default 10. */
  patience?: number;
  /** Smallest change that counts as an improvement. Default 1e-4. */
  threshold?: number;
  /** 'rel': relative to the best (best × (1 ∓ threshold)); 'abs': best ∓ threshold. Default 'rel'. */
  thresholdMode?: 'rel' | 'abs';
  /** Evaluations after a cut during which bad evaluations are not counted. Default 0. */
  cooldown?: number;
  /** Floor of the scale (PyTorch's min_lr as a fraction of the schedule). Default 0. */
  minScale?: number;
  /** Cuts smaller than this are skipped. Default 1e-8. */
  eps?: number;
}

export interface PlateauState {
  scale: number;
  /** null before the first step (±Infinity, which JSON cannot hold). */
  best: number | null;
  numBadEvals: number;
  cooldownCounter: number;
}

/**
 * PyTorch's ReduceLROnPlateau, except that it scales a schedule instead of writing the optimizer's lr,
 * so it composes with warmup (or any schedule):
 *   const plateau = new ReduceLROnPlateau({ factor: 0.3, patience: 1 });
 *   const sched = new LRScheduler(opt, plateau.schedule(constantSchedule({ warmupSteps: 30 })));
 *   train({ ..., onEval: (_s, m) => { plateau.step(m.dev_loss); } });
 * A cut takes effect at the LRScheduler's next step().
 */
export class ReduceLROnPlateau {
  /** Product of the cuts so far: the multiplier `schedule()` applies. */
  scale = 1;
  /** Best metric seen (±Infinity before the first step). */
  best: number;
  numBadEvals = 0;
  cooldownCounter = 0;
  private readonly o: Required<PlateauOptions>;

  constructor(options: PlateauOptions = {}) {
    const o = options;
    this.o = { mode: o.mode ?? 'min', factor: o.factor ?? 0.1, patience: o.patience ?? 10, threshold: o.threshold ?? 1e-4, thresholdMode: o.thresholdMode ?? 'rel', cooldown: o.cooldown ?? 0, minScale: o.minScale ?? 0, eps: o.eps ?? 1e-8 };
    const { mode, factor, patience, threshold, thresholdMode, cooldown, minScale } = this.o;
    if (mode !== 'min' && mode !== 'max') throw new RangeError(`ReduceLROnPlateau: mode must be 'min' or 'max', got ${mode}`);
    if (!(factor > 0 && factor < 1)) throw new RangeError(`ReduceLROnPlateau: factor must be in (0, 1), got ${factor}`);
    if (!(Number.isInteger(patience) && patience >= 0)) throw new RangeError(`ReduceLROnPlateau: patience must be an integer >= 0, got ${patience}`);
    if (!(threshold >= 0)) throw new RangeError(`ReduceLROnPlateau: threshold must be >= 0, got ${threshold}`);
    if (thresholdMode !== 'rel' && thresholdMode !== 'abs') throw new RangeError(`ReduceLROnPlateau: thresholdMode must be 'rel' or 'abs', got ${thresholdMode}`);
    if (!(Number.isInteger(cooldown) && cooldown >= 0)) throw new RangeError(`ReduceLROnPlateau: cooldown must be an integer >= 0, got ${cooldown}`);
    if (!(minScale >= 0 && minScale <= 1)) throw new RangeError(`ReduceLROnPlateau: minScale must be in [0, 1], got ${minScale}`);
    this.best = mode === 'min' ? Infinity : -Infinity;
  }

  /** Record one evaluation's metric; returns true when this call cut the scale. */
  step(metric: number): boolean {
    if (this.isBetter(metric)) {
      this.best = metric;
      this.numBadEvals = 0;
    } else this.numBadEvals++;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.numBadEvals = 0;
    }
    if (this.numBadEvals <= this.o.patience) return false;
    this.cooldownCounter = this.o.cooldown;
    this.numBadEvals = 0;
    const cut = Math.max(this.scale * this.o.factor, this.o.minScale);
    if (this.scale - cut <= this.o.eps) return false;
    this.scale = cut;
    return true;
  }

  /** `base` times the cuts so far, for LRScheduler. */
  schedule(base: Schedule = () => 1): Schedule {
    return (step) => base(step) * this.scale;
  }

  stateDict(): PlateauState {
    return { scale: this.scale, best: Number.isFinite(this.best) ? this.best : null, numBadEvals: this.numBadEvals, cooldownCounter: this.cooldownCounter };
  }

  loadStateDict(s: PlateauState): void {
    ({ scale: this.scale, numBadEvals: this.numBadEvals, cooldownCounter: this.cooldownCounter } = s);
    this.best = s.best ?? (this.o.mode === 'min' ? Infinity : -Infinity);
  }

  private isBetter(a: number): boolean {
    const { mode, threshold, thresholdMode } = this.o;
    const best = this.best;
    if (mode === 'min') return thresholdMode === 'rel' ? a < best * (1 - threshold) : a < best - threshold;
    return thresholdMode === 'rel' ? a > best * (1 + threshold) : a > best + threshold;
  }
}
