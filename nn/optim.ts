// Optimizers with parameter groups (PyTorch's torch.optim surface): AdamW and SGD on the engine's fused
// in-place updates (adamwStep_, sgdStep_: one dispatch per parameter, no host readback), gradient clipping on the GPU, and
// state dicts that a checkpoint module can write as safetensors.
//
// Gradient accumulation: `.grad` of a leaf accumulates across backward() calls until zeroGrad(), so
// N micro-batches each calling `loss.div(N).backward()` followed by one step() update exactly as one
// backward of the mean loss over the full batch (up to float rounding):
//
//   opt.zeroGrad();
//   for (const mb of microBatches) engine.tidy(() => lossOf(mb).div(N).backward());
//   clipGradNorm(model.parameters(), 1.0).dispose();   // optional
//   opt.step();
import { adamwStep_, foreachSumOfSquares, KilnError, ShapeError, DTypeError, fmtShape, sgdStep_, type Engine, type Tensor } from '../engine/index.js';

/** Hyper-parameters every group has; `lr` is what schedules set. */
export interface GroupHyper {
  lr: number;
  weightDecay: number;
}

/** One parameter group as given to a constructor: its tensors and any hyper-parameters overriding the defaults. */
export type ParamGroupSpec<H extends GroupHyper> = { params: Iterable<Tensor> } & Partial<H>;

/** A live parameter group: its tensors, its hyper-parameters, and the lr it started with (schedules scale that). */
export type ParamGroup<H extends GroupHyper> = H & { params: Tensor[]; initialLr: number };

interface ParamState {
  step: number;
  tensors: Record<string, Tensor>;
}

/**
 * What stateDict() returns. `hyper` is plain JSON:
 *   { type, groups: [{ ...hyper-parameters, initialLr, params: [global parameter indices] }],
 *     state: { "<index>": { step } } }
 * where a parameter's index counts through the groups in order (PyTorch's numbering).
 * `tensors` holds the per-parameter state under `state.<index>.<name>`: `exp_avg` and `exp_avg_sq`
 * for AdamW, `momentum_buffer` for SGD with momentum (f32, the parameter's shape, as PyTorch's).
 * The tensors are the optimizer's live state, not copies: save or copy them before the next step().
 */
export interface OptimizerStateDict {
  hyper: {
    type: string;
    groups: Record<string, unknown>[];
    state: Record<string, { step: number }>;
  };
  tensors: Record<string, Tensor>;
}

export abstract class Optimizer<H extends GroupHyper = GroupHyper> {
  readonly engine: Engine;
  readonly paramGroups: ParamGroup<H>[] = [];
  protected readonly state = new Map<Tensor, ParamState>();
  /** Names of the per-parameter state tensors, in the order they are created. */
  protected abstract readonly stateNames: readonly string[];

  constructor(
    params: Iterable<Tensor> | ParamGroupSpec<H>[],
    readonly defaults: H,
  ) {
    const list = [...(params as Iterable<Tensor | ParamGroupSpec<H>>)];
    const specs: ParamGroupSpec<H>[] =
      list.length > 0 && !isTensor(list[0]) ? (list as ParamGroupSpec<H>[]) : [{ params: list as Tensor[] } as unknown as ParamGroupSpec<H>];
    const seen = new Set<Tensor>();
    for (const spec of specs) {
      const { params: ps, ...over } = spec;
      const tensors = [...ps];
      for (const t of tensors) {
        if (!isTensor(t)) throw new KilnError(`${this.constructor.name}: a parameter group holds something that is not a tensor`);
        if (seen.has(t)) throw new KilnError(`${this.constructor.name}: a parameter of shape ${fmtShape(t.shape)} appears in more than one group`);
        seen.add(t);
      }
      const hyper = { ...defaults } as H;
      for (const [k, v] of Object.entries(over)) if (v !== undefined) (hyper as Record<string, unknown>)[k] = v;
      this.validate(hyper);
      this.paramGroups.push({ ...hyper, params: tensors, initialLr: hyper.lr });
    }
    const first = [...seen][0];
    if (!first) throw new KilnError(`${this.constructor.name}: got an empty parameter list`);
    this.engine = first.engine;
  }

  /** Throw a readable error for out-of-range hyper-parameters. */
  protected validate(h: H): void {
    if (!(h.lr >= 0)) throw new KilnError(`${this.constructor.name}: invalid learning rate ${h.lr}`);
    if (!(h.weightDecay >= 0)) throw new KilnError(`${this.constructor.name}: invalid weight decay ${h.weightDecay}`);
  }

  /** Encode one update per parameter that has a gradient (parameters without one are skipped). No readback. */
  step(): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (!p.grad || p.disposed) continue;
        const g = p.grad;
        if (g.dtype !== p.dtype) throw new DTypeError(`${this.constructor.name}: gradient dtype ${g.dtype} differs from the parameter's ${p.dtype}`);
        if (g.size !== p.size || g.shape.some((d, i) => d !== p.shape[i])) {
          throw new ShapeError(`${this.constructor.name}: gradient of shape ${fmtShape(g.shape)} for a parameter of shape ${fmtShape(p.shape)}`);
        }
        if (!p.isContiguous()) {
          throw new KilnError(`${this.constructor.name}: parameters must be contiguous for the in-place update (got strides ${fmtShape(p.strides)})`);
        }
        // Gradients are contiguous as autograd delivers them; anything else is copied for this step.
        const gc = g.isContiguous() ? g : this.engine.noGrad(() => g.contiguous());
        this.update(p, gc, group, this.stateOf(p));
        if (gc !== g) gc.dispose();
      }
    }
  }

  /** Encode the update of one parameter from its gradient (both contiguous); increments `state.step`. */
  protected abstract update(p: Tensor, g: Tensor, group: ParamGroup<H>, state: ParamState): void;

  /** Drop every gradient (PyTorch's zero_grad(set_to_none=True)): the next backward starts afresh. */
  zeroGrad(): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
  }

  /** Parameters of all groups in index order. */
  get params(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** The step count of a parameter (0 before its first update). */
  stepCount(p: Tensor): number {
    return this.state.get(p)?.step ?? 0;
  }

  protected stateOf(p: Tensor): ParamState {
    let s = this.state.get(p);
    if (!s) {
      s = { step: 0, tensors: {} };
      for (const name of this.stateNames) s.tensors[name] = this.engine.keep(this.engine.zeros([...p.shape]));
      this.state.set(p, s);
    }
    return s;
  }

  stateDict(): OptimizerStateDict {
    const index = new Map(this.params.map((p, i) => [p, i]));
    const hyperState: Record<string, { step: number }> = {};
    const tensors: Record<string, Tensor> = {};
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i === undefined) continue;
      hyperState[String(i)] = { step: s.step };
      for (const [name, t] of Object.entries(s.tensors)) tensors[`state.${i}.${name}`] = t;
    }
    let next = 0;
    const groups = this.paramGroups.map(({ params, ...h }) => ({ ...jsonClone(h), params: params.map(() => next++) }));
    return { hyper: { type: this.constructor.name, groups, state: hyperState }, tensors };
  }

  /**
   * Restore hyper-parameters and state (copied into this optimizer's own tensors). The groups must
   * hold the same numbers of parameters, in the same order, as when the dict was saved.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const { hyper, tensors } = sd;
    if (hyper.type !== this.constructor.name) throw new KilnError(`loadStateDict: a ${hyper.type} state dict cannot load into ${this.constructor.name}`);
    if (hyper.groups.length !== this.paramGroups.length) {
      throw new KilnError(`loadStateDict: the dict has ${hyper.groups.length} parameter groups, the optimizer ${this.paramGroups.length}`);
    }
    hyper.groups.forEach((g, k) => {
      const n = (g.params as number[]).length;
      if (n !== this.paramGroups[k].params.length) {
        throw new KilnError(`loadStateDict: group ${k} has ${n} parameters in the dict, ${this.paramGroups[k].params.length} in the optimizer`);
      }
    });
    const params = this.params;
    // Check every tensor before changing anything, so a bad dict leaves the optimizer as it was.
    for (const [key, { step }] of Object.entries(hyper.state)) {
      const p = params[Number(key)];
      if (!p || !(step >= 0)) throw new KilnError(`loadStateDict: bad state entry ${key}`);
      for (const name of this.stateNames) {
        const t = tensors[`state.${key}.${name}`];
        if (!t) throw new KilnError(`loadStateDict: missing tensor state.${key}.${name}`);
        if (t.size !== p.size) throw new ShapeError(`loadStateDict: state.${key}.${name} has ${t.size} elements, the parameter ${p.size} (${fmtShape(p.shape)})`);
        if (t.dtype !== 'f32') throw new DTypeError(`loadStateDict: state.${key}.${name} has dtype ${t.dtype}, expected f32`);
      }
    }
    hyper.groups.forEach((g, k) => {
      const { params: _ignored, ...h } = g;
      Object.assign(this.paramGroups[k], h);
    });
    for (const s of this.state.values()) for (const t of Object.values(s.tensors)) t.dispose();
    this.state.clear();
    for (const [key, { step }] of Object.entries(hyper.state)) {
      const s = this.stateOf(params[Number(key)]);
      s.step = step;
      for (const name of this.stateNames) {
        const src = tensors[`state.${key}.${name}`];
        const dst = s.tensors[name];
        // A dict written elsewhere may store the state flat: same size is enough.
        const same = src.ndim === dst.ndim && src.shape.every((d, i) => d === dst.shape[i]);
        const view = same ? src : this.engine.noGrad(() => src.reshape([...dst.shape]));
        dst.copy_(view);
        if (view !== src) view.dispose();
      }
    }
  }

  /** Free the optimizer's state tensors (the parameters are the model's). */
  dispose(): void {
    for (const s of this.state.values()) for (const t of Object.values(s.tensors)) t.dispose();
    this.state.clear();
  }
}

// ------------------------------------------------------------------ AdamW

export interface AdamWHyper extends GroupHyper {
  betas: [number, number];
  eps: number;
}

/**
 * AdamW (Loshchilov & Hutter) exactly as PyTorch's torch.optim.AdamW (amsgrad off): decoupled weight
 * decay, bias-corrected moments. One fused dispatch per parameter updates p, exp_avg and exp_avg_sq in
 * place. Defaults as PyTorch: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 1e-2.
 */
export class AdamW extends Optimizer<AdamWHyper> {
  protected readonly stateNames = ['exp_avg', 'exp_avg_sq'] as const;

  constructor(params: Iterable<Tensor> | ParamGroupSpec<AdamWHyper>[], defaults: Partial<AdamWHyper> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, ...stripUndefined(defaults) });
  }

  protected override validate(h: AdamWHyper): void {
    super.validate(h);
    const [b1, b2] = h.betas;
    if (!(b1 >= 0 && b1 < 1)) throw new KilnError(`AdamW: invalid beta1 ${b1}`);
    if (!(b2 >= 0 && b2 < 1)) throw new KilnError(`AdamW: invalid beta2 ${b2}`);
    if (!(h.eps >= 0)) throw new KilnError(`AdamW: invalid eps ${h.eps}`);
  }

  protected update(p: Tensor, g: Tensor, group: ParamGroup<AdamWHyper>, s: ParamState): void {
    const [beta1, beta2] = group.betas;
    const { lr, eps, weightDecay } = group;
    adamwStep_(p, g, s.tensors.exp_avg, s.tensors.exp_avg_sq, { lr, beta1, beta2, eps, weightDecay, step: ++s.step });
  }
}

// ------------------------------------------------------------------ SGD

export interface SGDHyper extends GroupHyper {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

/**
 * SGD as PyTorch's torch.optim.SGD: L2 weight decay added to the gradient, momentum with dampening
 * (the first step stores the gradient itself), optional Nesterov. One fused dispatch per parameter.
 * Defaults: lr 1e-3, momentum 0, dampening 0, nesterov false, weightDecay 0.
 */
export class SGD extends Optimizer<SGDHyper> {
  protected readonly stateNames: readonly string[];

  constructor(params: Iterable<Tensor> | ParamGroupSpec<SGDHyper>[], defaults: Partial<SGDHyper> = {}) {
    super(params, { lr: 1e-3, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, ...stripUndefined(defaults) });
    // State exists only when some group uses momentum (PyTorch keeps no buffer otherwise).
    this.stateNames = this.paramGroups.some((g) => g.momentum !== 0) ? ['momentum_buffer'] : [];
  }

  protected override validate(h: SGDHyper): void {
    super.validate(h);
    if (!(h.momentum >= 0)) throw new KilnError(`SGD: invalid momentum ${h.momentum}`);
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) throw new KilnError('SGD: Nesterov momentum requires a momentum and zero dampening');
  }

  protected update(p: Tensor, g: Tensor, group: ParamGroup<SGDHyper>, s: ParamState): void {
    const first = s.step === 0;
    s.step++;
    const { lr, weightDecay, momentum, dampening, nesterov } = group;
    sgdStep_(p, g, momentum !== 0 ? s.tensors.momentum_buffer : null, { lr, weightDecay, momentum, dampening, nesterov, first });
  }
}

// ------------------------------------------------------------------ gradient clipping

/**
 * PyTorch's clip_grad_norm_: the norm of all gradients together (L2 by default, or Infinity for the
 * max-abs norm), computed on the GPU, then every gradient multiplied by min(1, maxNorm / (norm + 1e-6)).
 * No host readback: returns the total norm as a 0-d tensor (the caller disposes it). Each `.grad` is
 * replaced by a new scaled tensor rather than written in place, since autograd may hand two leaves
 * gradients that share storage.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, normType: number = 2): Tensor {
  const all = [...new Set(params)];
  const ps = all.filter((p) => p.grad && !p.disposed);
  if (all.length === 0) throw new KilnError('clipGradNorm: got no parameters');
  const engine = all[0].engine;
  if (ps.length === 0) return engine.zeros([]);
  if (!(normType === 2 || normType === Infinity)) throw new KilnError(`clipGradNorm: normType ${normType} is not supported (2 or Infinity)`);
  return engine.tidy(() =>
    engine.noGrad(() => {
      // L2: every gradient's Σ g² in one vector, one dispatch each (not square, sum and a stack copy).
      const stacked = normType === Infinity ? engine.stack(ps.map((p) => p.grad!.to('f32').abs().max())) : foreachSumOfSquares(ps.map((p) => p.grad!));
      const total = normType === Infinity ? stacked.max() : stacked.sum().sqrt();
      const coef = engine.full([], maxNorm).div(total.add(1e-6)).clamp(null, 1);
      for (const p of ps) {
        const old = p.grad!;
        p.grad = engine.keep(old.mul(old.dtype === coef.dtype ? coef : coef.to(old.dtype)));
        old.dispose();
      }
      return total;
    }),
  );
}

// ------------------------------------------------------------------ helpers

function isTensor(x: unknown): x is Tensor {
  return typeof x === 'object' && x !== null && (x as { isKilnTensor?: boolean }).isKilnTensor === true;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function jsonClone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}
