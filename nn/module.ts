// Module: the base of every layer and model. Holds parameters, buffers and child modules in
// insertion order under dotted names (PyTorch's naming), train/eval mode, state dicts, freezing,
// and named hook sites where an activation can be read or replaced without touching model code.
import { KilnError, ShapeError, DTypeError, fmtShape, type Engine, type Tensor } from '../engine/index.js';

/** Reads an activation, or returns a replacement (same shape) for it. Runs inside the forward pass, so edits stay differentiable. */
export type HookFn = (activation: Tensor, site: string) => Tensor | void;

/** Shared by a root module and all its descendants: hooks by site name. */
class HookRegistry {
  readonly hooks = new Map<string, HookFn[]>();
}

export class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();
  private registry = new HookRegistry();
  private path = '';

  constructor(readonly engine: Engine) {}

  // ------------------------------------------------------------------ registration

  /** Register a trainable parameter (kept alive outside every tidy; requiresGrad set). */
  protected registerParameter(name: string, t: Tensor): Tensor {
    checkName(name);
    this.engine.keep(t);
    t.requiresGrad_(true);
    this.params.set(name, t);
    return t;
  }

  /** Register a non-trainable tensor that belongs to the state dict (running stats, masks). */
  protected registerBuffer(name: string, t: Tensor): Tensor {
    checkName(name);
    this.engine.keep(t);
    this.buffers.set(name, t);
    return t;
  }

  /** Register a child module under `name`; its parameters appear as `name.<param>`. */
  protected registerModule<M extends Module>(name: string, m: M): M {
    checkName(name);
    this.children.set(name, m);
    m.attach(this.registry, this.path ? `${this.path}.${name}` : name);
    return m;
  }

  private attach(registry: HookRegistry, path: string): void {
    this.registry = registry;
    this.path = path;
    for (const [name, child] of this.children) child.attach(registry, `${path}.${name}`);
  }

  /** Replace a registered parameter's tensor (the old one is disposed). */
  protected replaceParameter(name: string, t: Tensor): Tensor {
    const old = this.params.get(name);
    if (!old) throw new KilnError(`${this.constructor.name}: no parameter named ${name}`);
    old.dispose();
    this.params.delete(name);
    return this.registerParameter(name, t);
  }

  /**
   * Swap the child module at a dotted path (LoRA wraps a Linear this way). Layers call children
   * through their own fields (`this.q.forward`), so fields and arrays of the parent that held the old
   * child are pointed at the new one too. Returns the old child.
   */
  setSubmodule(path: string, m: Module): Module {
    const parts = path.split('.');
    const last = parts.pop()!;
    const parent = parts.length ? this.getSubmodule(parts.join('.')) : this;
    const old = parent.children.get(last);
    if (!old) throw new KilnError(`setSubmodule: no submodule at ${path}`);
    parent.children.set(last, m);
    m.attach(parent.registry, parent.path ? `${parent.path}.${last}` : last);
    const fields = parent as unknown as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      const v = fields[key];
      if (v === old) fields[key] = m;
      else if (Array.isArray(v)) v.forEach((x, i) => x === old && (v[i] = m));
    }
    return old;
  }

  getSubmodule(path: string): Module {
    let m: Module = this;
    for (const part of path.split('.')) {
      const next = m.children.get(part);
      if (!next) throw new KilnError(`getSubmodule: no submodule at ${path}`);
      m = next;
    }
    return m;
  }

  // ------------------------------------------------------------------ traversal

  /** (name, parameter) pairs of this module and its descendants, in registration order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.params) out.push([prefix + n, p]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Parameters whose requiresGrad is set (what an optimizer should update). */
  trainableParameters(): Tensor[] {
    return this.parameters().filter((p) => p.requiresGrad);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, b] of this.buffers) out.push([prefix + n, b]);
    for (const [n, c] of this.children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, c] of this.children) out.push(...c.namedModules(`${prefix}${n}.`));
    return out;
  }

  /** Number of parameter elements (trainable only with `trainableOnly`). */
  numParameters(trainableOnly = false): number {
    return (trainableOnly ? this.trainableParameters() : this.parameters()).reduce((a, p) => a + p.size, 0);
  }

  // ------------------------------------------------------------------ modes and freezing

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Set requiresGrad on every parameter whose dotted name matches (all when no pattern). */
  requiresGrad_(flag: boolean, pattern?: RegExp | string): this {
    for (const [n, p] of this.namedParameters()) {
      if (pattern === undefined || (typeof pattern === 'string' ? n === pattern || n.startsWith(`${pattern}.`) : pattern.test(n))) {
        p.requiresGrad = flag;
        if (!flag) {
          p.grad?.dispose();
          p.grad = null;
        }
      }
    }
    return this;
  }

  freeze(pattern?: RegExp | string): this {
    return this.requiresGrad_(false, pattern);
  }

  unfreeze(pattern?: RegExp | string): this {
    return this.requiresGrad_(true, pattern);
  }

  /** Drop every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  // ------------------------------------------------------------------ state

  /** Parameters and buffers by dotted name (the live tensors, not copies). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * Copy values into this module's tensors (in place). With `strict` (default) the names must match
   * exactly; shapes and dtypes must always match.
   */
  loadStateDict(state: Record<string, Tensor>, options: { strict?: boolean } = {}): { missing: string[]; unexpected: string[] } {
    const own = this.stateDict();
    const missing = Object.keys(own).filter((k) => !(k in state));
    const unexpected = Object.keys(state).filter((k) => !(k in own));
    if ((options.strict ?? true) && (missing.length || unexpected.length)) {
      throw new KilnError(`loadStateDict: missing keys [${missing.join(', ')}], unexpected keys [${unexpected.join(', ')}]`);
    }
    for (const [k, t] of Object.entries(own)) {
      const src = state[k];
      if (!src) continue;
      if (src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i])) {
        throw new ShapeError(`loadStateDict: ${k} has shape ${fmtShape(src.shape)}, the module expects ${fmtShape(t.shape)}`);
      }
      if (src.dtype !== t.dtype) throw new DTypeError(`loadStateDict: ${k} has dtype ${src.dtype}, the module expects ${t.dtype}`);
      t.copy_(src);
    }
    return { missing, unexpected };
  }

  /** Free every parameter and buffer. */
  dispose(): void {
    for (const [, t] of [...this.namedParameters(), ...this.namedBuffers()]) t.dispose();
  }

  // ------------------------------------------------------------------ hooks

  /**
   * Run `fn` on the activation at `site` on every forward pass, e.g. `layers.3.attn.heads`
   * (per-head attention output before the output projection, (B, T, H, Dh)), `layers.3.mlp.act`,
   * `layers.3.resid`, `logits`. Returning a tensor replaces the activation. Returns a remover.
   */
  registerHook(site: string, fn: HookFn): () => void {
    const full = this.path ? `${this.path}.${site}` : site;
    const list = this.registry.hooks.get(full) ?? [];
    list.push(fn);
    this.registry.hooks.set(full, list);
    return () => {
      const l = this.registry.hooks.get(full);
      if (!l) return;
      const i = l.indexOf(fn);
      if (i >= 0) l.splice(i, 1);
      if (l.length === 0) this.registry.hooks.delete(full);
    };
  }

  /** True when a hook is registered at `<this module's path>.<name>` (lets forward skip work no hook reads). */
  protected hasHook(name: string): boolean {
    return this.registry.hooks.has(this.path ? `${this.path}.${name}` : name);
  }

  /** Remove every hook of this module's tree. */
  clearHooks(): void {
    this.registry.hooks.clear();
  }

  /**
   * Pass an activation through the hooks registered for `<this module's path>.<name>` (call this in
   * forward at each named site). A replacement must keep the shape.
   */
  protected site(name: string, activation: Tensor): Tensor {
    const full = this.path ? `${this.path}.${name}` : name;
    const fns = this.registry.hooks.get(full);
    if (!fns) return activation;
    let x = activation;
    for (const fn of fns) {
      const r = fn(x, full);
      if (r && r !== x) {
        if (r.shape.length !== x.shape.length || r.shape.some((d, i) => d !== x.shape[i])) {
          throw new ShapeError(`hook at ${full}: the replacement has shape ${fmtShape(r.shape)}, the activation ${fmtShape(x.shape)}`);
        }
        x = r;
      }
    }
    return x;
  }

  /** Dotted path of this module inside its root ('' for the root). */
  get name(): string {
    return this.path;
  }
}

/** An indexed list of modules registered as `0`, `1`, … (PyTorch's ModuleList). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];
  constructor(engine: Engine, modules: M[] = []) {
    super(engine);
    for (const m of modules) this.append(m);
  }
  append(m: M): this {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
    return this;
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    return this.items[i];
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}

function checkName(name: string): void {
  if (!name || name.includes('.')) throw new KilnError(`Module: invalid name "${name}" (non-empty, no dots)`);
}
