// LoRA (Hu et al., 2021): a frozen Linear plus a trainable low-rank update,
//   y = x W^T + b + (alpha / r) * dropout(x) A^T B^T,   A (r, in), B (out, r),
// with B = 0 at the start so a fresh adapter leaves the model unchanged. applyLoRA swaps matching
// Linear submodules in place and freezes every other parameter.
import { KilnError, dropout, type Engine, type Tensor } from '../engine/index.js';
import { Linear } from './layers.js';
import { Module } from './module.js';

export interface LoRAOptions {
  /** Rank of the update. */
  r: number;
  /** Scaling numerator: the update is multiplied by alpha / r (default r, i.e. scaling 1). */
  alpha?: number;
  /** Dropout probability on the LoRA path's input, in training mode only (default 0). */
  dropout?: number;
}

/**
 * A Linear with a LoRA adapter. The base weight and bias are registered under their original names
 * (`weight`, `bias`, frozen), so a state dict of the plain model still loads (non-strict: only
 * `lora_A` and `lora_B` are missing); the adapter is `lora_A` (r, in) and `lora_B` (out, r).
 */
export class LoRALinear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly loraA: Tensor;
  readonly loraB: Tensor;
  readonly r: number;
  readonly scaling: number;
  readonly dropoutP: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** True after merge(): the update lives in `weight` and forward skips the adapter. */
  merged = false;

  constructor(engine: Engine, base: Linear, options: LoRAOptions) {
    super(engine);
    const { r } = options;
    if (!(Number.isInteger(r) && r > 0)) throw new KilnError(`LoRALinear: rank r must be a positive integer, got ${r}`);
    this.r = r;
    this.scaling = (options.alpha ?? r) / r;
    this.dropoutP = options.dropout ?? 0;
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    this.training = base.training;
    // The base tensors move over (same identity, so optimizers or tied weights still see them).
    this.weight = this.registerParameter('weight', base.weight);
    this.weight.requiresGrad = false;
    this.bias = base.bias ? this.registerParameter('bias', base.bias) : null;
    if (this.bias) this.bias.requiresGrad = false;
    // As PEFT: A ~ kaiming_uniform(a = sqrt(5)) = U(±1/sqrt(in)), B = 0.
    const bound = 1 / Math.sqrt(base.inFeatures);
    this.loraA = this.registerParameter('lora_A', engine.rand([r, base.inFeatures], { low: -bound, high: bound }));
    this.loraB = this.registerParameter('lora_B', engine.zeros([base.outFeatures, r]));
  }

  /** (..., in) -> (..., out) */
  forward(x: Tensor): Tensor {
    let y = x.matmul(this.weight.mT);
    if (this.bias) y = y.add(this.bias);
    if (this.merged) return y;
    const h = this.dropoutP > 0 ? dropout(x, this.dropoutP, this.training) : x;
    const delta = h.matmul(this.loraA.mT).matmul(this.loraB.mT);
    return y.add(this.scaling === 1 ? delta : delta.mul(this.scaling));
  }

  /** scaling * B A, the (out, in) update the adapter adds to the weight. */
  deltaWeight(): Tensor {
    return this.engine.noGrad(() => this.engine.tidy(() => this.loraB.matmul(this.loraA).mul(this.scaling)));
  }

  /** Fold the update into the base weight in place (W += scaling * B A); forward then skips the adapter. */
  merge(): void {
    if (this.merged) return;
    this.engine.tidy(() => this.engine.noGrad(() => this.weight.copy_(this.weight.add(this.deltaWeight()))));
    this.merged = true;
  }

  /** Undo merge() (W -= scaling * B A), up to float rounding. */
  unmerge(): void {
    if (!this.merged) return;
    this.engine.tidy(() => this.engine.noGrad(() => this.weight.copy_(this.weight.sub(this.deltaWeight()))));
    this.merged = false;
  }

  /** A plain Linear sharing this module's (merged) weight and bias, for export without the adapter. */
  toLinear(): Linear {
    this.merge();
    const lin = new Linear(this.engine, this.inFeatures, this.outFeatures, { bias: this.bias !== null });
    this.engine.noGrad(() => {
      lin.weight.copy_(this.weight);
      if (lin.bias && this.bias) lin.bias.copy_(this.bias);
    });
    return lin;
  }
}

export interface ApplyLoRAOptions extends LoRAOptions {
  /**
   * Which Linear submodules get an adapter: a RegExp tested against the dotted module name, or names
   * matched as PEFT's target_modules (the full name, or its last components, e.g. 'q' or 'attn.q').
   */
  targets: RegExp | string[];
}

export interface LoRAReport {
  /** Dotted names of the wrapped modules. */
  replaced: string[];
  trainableParameters: number;
  totalParameters: number;
}

/** Wrap every matching Linear of `model` in a LoRALinear and freeze all other parameters. */
export function applyLoRA(model: Module, options: ApplyLoRAOptions): LoRAReport {
  const { targets } = options;
  const matches = (name: string) =>
    targets instanceof RegExp ? targets.test(name) : targets.some((t) => name === t || name.endsWith(`.${t}`));
  const chosen = model.namedModules().filter(([name, m]) => name !== '' && m instanceof Linear && !(m instanceof LoRALinear) && matches(name));
  if (chosen.length === 0) throw new KilnError(`applyLoRA: no Linear submodule matches ${String(targets)}`);
  model.freeze();
  const replaced: string[] = [];
  for (const [name, m] of chosen) {
    const lora = new LoRALinear(model.engine, m as Linear, options);
    model.setSubmodule(name, lora);
    replaced.push(name);
  }
  return { replaced, trainableParameters: model.numParameters(true), totalParameters: model.numParameters() };
}
