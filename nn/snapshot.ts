// Snapshots of a model's parameters and buffers, and of an optimizer's state, as copies on the device:
// take one, train (or unlearn) away from it, restore it, all without a readback or a disk round trip.
// Methods that start many runs from one point (UnTrac restores θ₀ once per unlearning run; leave-
// one-out retraining restores the initialisation) use these instead of checkpoints.
import { KilnError, type Engine, type Tensor } from '../engine/index.js';
import type { Module } from './module.js';
import type { Optimizer, OptimizerStateDict } from './optim.js';

/** Device copies of tensors by name; `restore` copies them back in place (same shapes and dtypes). */
class TensorCopies {
  private readonly copies = new Map<string, Tensor>();
  private disposed = false;

  constructor(private readonly engine: Engine, tensors: Record<string, Tensor>) {
    engine.noGrad(() => {
      for (const [k, t] of Object.entries(tensors)) this.copies.set(k, engine.keep(t.clone()));
    });
  }

  get names(): string[] {
    return [...this.copies.keys()];
  }

  get(name: string): Tensor | undefined {
    this.check('get');
    return this.copies.get(name);
  }

  get all(): Record<string, Tensor> {
    this.check('read');
    return Object.fromEntries(this.copies);
  }

  check(what: string): void {
    if (this.disposed) throw new KilnError(`snapshot: ${what} after dispose()`);
  }

  dispose(): void {
    for (const t of this.copies.values()) t.dispose();
    this.copies.clear();
    this.disposed = true;
  }
}

/**
 * A copy of a module's state dict (parameters and buffers) on the device. `restore()` writes it back
 * into the same module in place (the parameter tensors stay the same objects, so optimizers keep
 * pointing at them) and drops their gradients.
 */
export class ModuleSnapshot {
  private readonly copies: TensorCopies;

  constructor(readonly module: Module) {
    this.copies = new TensorCopies(module.engine, module.stateDict());
  }

  /** The copied tensors by dotted name (owned by the snapshot). */
  get state(): Record<string, Tensor> {
    return this.copies.all;
  }

  /** Write the snapshot back into the module (in stream order: no sync) and clear its gradients. */
  restore(): void {
    this.copies.check('restore');
    this.module.loadStateDict(this.copies.all);
    this.module.zeroGrad();
  }

  dispose(): void {
    this.copies.dispose();
  }
}

/**
 * A copy of an optimizer's state (hyper-parameters, step counts, moment buffers) on the device.
 * `restore()` loads it back into the same optimizer: a snapshot taken before the first step() makes
 * it fresh again (its moments are dropped).
 */
export class OptimizerSnapshot {
  private readonly hyper: OptimizerStateDict['hyper'];
  private readonly copies: TensorCopies;

  constructor(readonly optimizer: Optimizer) {
    const sd = optimizer.stateDict();
    this.hyper = structuredClone(sd.hyper);
    this.copies = new TensorCopies(optimizer.engine, sd.tensors);
  }

  restore(): void {
    this.copies.check('restore');
    this.optimizer.loadStateDict({ hyper: structuredClone(this.hyper), tensors: this.copies.all });
  }

  dispose(): void {
    this.copies.dispose();
  }
}

/** A model and (optionally) its optimizer captured together; `restore()` puts both back. */
export class TrainingSnapshot {
  readonly model: ModuleSnapshot;
  readonly optimizer: OptimizerSnapshot | null;

  constructor(model: Module, optimizer?: Optimizer | null) {
    this.model = new ModuleSnapshot(model);
    this.optimizer = optimizer ? new OptimizerSnapshot(optimizer) : null;
  }

  restore(): void {
    this.model.restore();
    this.optimizer?.restore();
  }

  dispose(): void {
    this.model.dispose();
    this.optimizer?.dispose();
  }
}
