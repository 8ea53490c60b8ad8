// Reverse-mode autograd on an eager tape. Each differentiable op run under grad mode records a Node:
// its inputs' edges, the tensors its backward rule needs (held as private aliases), and the rule.
// Nodes are reference counted (live output tensor + child nodes), so a graph is freed as soon as no
// live tensor can reach it, or after backward() unless retainGraph is set.
import { AutogradError, fmtShape } from './errors.js';
import type { Tensor } from './tensor.js';
import type { Engine } from './engine.js';

/** Where an input's gradient goes: into another node, or into a leaf tensor's `.grad`. */
export type Edge = { node: Node } | { leaf: Tensor } | null;

/** Given the output gradient and the saved tensors, return one gradient (or null) per input. */
export type BackwardRule = (grad: Tensor, saved: Tensor[]) => (Tensor | null | undefined)[];

export class Node {
  /** Live output tensor (1) plus child nodes that point here. */
  refs = 1;
  freed = false;
  constructor(
    readonly op: string,
    readonly edges: Edge[],
    private saved: Tensor[],
    private rule: BackwardRule | null,
    /** The output's shape, for error messages. */
    readonly shape: readonly number[],
  ) {
    for (const e of edges) if (e && 'node' in e) e.node.refs++;
  }

  apply(grad: Tensor): (Tensor | null | undefined)[] {
    if (this.freed) {
      throw new AutogradError(
        `backward through ${this.op} a second time: its saved tensors were freed; pass { retainGraph: true } to the first backward()`,
      );
    }
    if (!this.rule) throw new AutogradError(`${this.op} has no backward rule: it cannot be differentiated`);
    return this.rule(grad, this.saved);
  }

  /** Drop the saved tensors (after a backward pass without retainGraph). */
  freeSaved(): void {
    for (const t of this.saved) t.dispose();
    this.saved = [];
    this.freed = true;
  }

  decref(): void {
    if (--this.refs > 0) return;
    // Iterative, so a long chain of nodes cannot overflow the stack.
    const stack: Node[] = [this];
    while (stack.length) {
      const n = stack.pop()!;
      n.freeSaved();
      for (const e of n.edges) if (e && 'node' in e && --e.node.refs === 0) stack.push(e.node);
    }
  }
}

/** Record `out = op(inputs)` if grad mode is on and any input requires a gradient. */
export function record(
  engine: Engine,
  op: string,
  inputs: readonly (Tensor | null)[],
  out: Tensor,
  save: readonly Tensor[],
  rule: BackwardRule | null,
): Tensor {
  engine.anomaly?.forward(op, inputs, out);
  if (!engine.gradEnabled || !inputs.some((t) => t?.requiresGrad)) return out;
  const edges: Edge[] = inputs.map((t) => {
    if (!t || !t.requiresGrad) return null;
    return t.gradFn ? { node: t.gradFn } : { leaf: t.gradLeaf ?? t };
  });
  // Saved inputs keep their place in the graph (for second derivatives). A saved output points back
  // at this node without counting the reference, or the node would keep itself alive.
  const saved = save.map((t) => (t === out ? out.alias() : t.linkedAlias()));
  const node = new Node(op, edges, saved, rule, out.shape);
  save.forEach((t, i) => {
    if (t !== out) return;
    saved[i].gradFn = node;
    saved[i].weakGradFn = true;
    saved[i].requiresGrad = true;
  });
  out.gradFn = node;
  out.requiresGrad = true;
  return out;
}

export interface BackwardOptions {
  /** Keep saved tensors so backward can run through the graph again. */
  retainGraph?: boolean;
  /**
   * Record the backward pass itself, so the gradients have history and can be differentiated again
   * (second derivatives). Implies retainGraph.
   */
  createGraph?: boolean;
  /** Return gradients for these tensors (leaves or intermediates) instead of accumulating into `.grad`. */
  inputs?: readonly Tensor[];
}

/**
 * Propagate `seed` (the gradient of `root`) back through the graph. With `inputs`, returns their
 * gradients (null where unreachable) and leaves `.grad` untouched; otherwise accumulates into the
 * `.grad` of every leaf that requires a gradient.
 */
export function runBackward(engine: Engine, root: Tensor, seed: Tensor | undefined, opts: BackwardOptions = {}): (Tensor | null)[] {
  if (!root.requiresGrad) {
    throw new AutogradError(`backward: the tensor of shape ${fmtShape(root.shape)} does not require a gradient (no input had requiresGrad)`);
  }
  if (!seed && root.size !== 1) {
    throw new AutogradError(
      `backward: the output has shape ${fmtShape(root.shape)}; a gradient can be created implicitly only for one-element outputs: pass a seed gradient`,
    );
  }
  if (seed && (seed.shape.length !== root.shape.length || seed.shape.some((d, i) => d !== root.shape[i]))) {
    throw new AutogradError(`backward: seed gradient shape ${fmtShape(seed.shape)} differs from the output shape ${fmtShape(root.shape)}`);
  }
  const wanted = opts.inputs ?? null;
  const captured = new Map<Tensor, Tensor>();
  const nodeToInput = new Map<Node, Tensor[]>();
  if (wanted) {
    for (const t of wanted) {
      if (t.gradFn) nodeToInput.set(t.gradFn, [...(nodeToInput.get(t.gradFn) ?? []), t]);
    }
  }

  const retain = opts.retainGraph || opts.createGraph;
  const pass = <R>(fn: () => R): R => (opts.createGraph ? fn() : engine.noGrad(fn));
  return pass(() => {
    const seedGrad = seed ? seed.alias() : engine.onesLike(root);
    const anomaly = engine.anomaly;
    if (seed) anomaly?.gradient('backward: the seed gradient', seedGrad);
    if (!root.gradFn) {
      // The root is itself a leaf.
      deliverLeaf(engine, root, seedGrad, wanted, captured);
      return finish();
    }
    // Reverse topological order by iterative DFS.
    const order: Node[] = [];
    const seen = new Set<Node>();
    const stack: [Node, number][] = [[root.gradFn, 0]];
    seen.add(root.gradFn);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [n, i] = top;
      if (i < n.edges.length) {
        top[1]++;
        const e = n.edges[i];
        if (e && 'node' in e && !seen.has(e.node)) {
          seen.add(e.node);
          stack.push([e.node, 0]);
        }
      } else {
        stack.pop();
        order.push(n);
      }
    }
    const grads = new Map<Node, Tensor>([[root.gradFn, seedGrad]]);
    // On an error midway (a freed graph, an op without a rule) every gradient made so far is freed.
    let current: Tensor | null = null;
    let pending: (Tensor | null)[] = [];
    try {
      for (let k = order.length - 1; k >= 0; k--) {
        const node = order[k];
        const g = grads.get(node);
        if (!g) continue;
        grads.delete(node);
        current = g;
        for (const t of nodeToInput.get(node) ?? []) captured.set(t, engine.keep(g.linkedAlias()));
        pending = engine.tidy(() => {
          // A rule may pass `g` through or return one tensor for two inputs: give each edge its own
          // handle, since every delivered gradient is disposed or kept independently.
          const handed = new Set<Tensor>([g]);
          const grads = anomaly ? anomaly.rule(() => node.apply(g)) : node.apply(g);
          return grads.map((x) => {
            if (!x) return null;
            const own = handed.has(x) ? x.linkedAlias() : x;
            handed.add(x);
            return own;
          });
        });
        g.dispose();
        current = null;
        node.edges.forEach((e, i) => {
          const gi = pending[i];
          pending[i] = null;
          if (!e || !gi) {
            gi?.dispose();
            return;
          }
          const expected = 'node' in e ? e.node.shape : e.leaf.shape;
          if (gi.shape.length !== expected.length || gi.shape.some((d, j) => d !== expected[j])) {
            gi.dispose();
            throw new AutogradError(
              `backward rule of ${node.op} returned a gradient of shape ${fmtShape(gi.shape)} for an input of shape ${fmtShape(expected)}`,
            );
          }
          anomaly?.gradient(`backward of ${node.op}: the gradient for its input ${i}`, gi);
          if ('leaf' in e) {
            deliverLeaf(engine, e.leaf, gi, wanted, captured);
            return;
          }
          const prev = grads.get(e.node);
          if (prev) {
            const sum = engine.keep(anomaly ? anomaly.rule(() => prev.add(gi)) : prev.add(gi));
            anomaly?.gradient(`backward: the sum of the gradients of ${e.node.op}'s output`, sum);
            grads.set(e.node, sum);
            prev.dispose();
            gi.dispose();
          } else grads.set(e.node, engine.keep(gi));
        });
        if (!retain) node.freeSaved();
      }
    } catch (err) {
      current?.dispose();
      for (const t of pending) t?.dispose();
      for (const t of grads.values()) t.dispose();
      for (const t of captured.values()) t.dispose();
      throw err;
    }
    for (const g of grads.values()) g.dispose();
    return finish();
  });

  function finish(): (Tensor | null)[] {
    return wanted ? wanted.map((t) => captured.get(t) ?? null) : [];
  }
}

function deliverLeaf(engine: Engine, leaf: Tensor, g: Tensor, wanted: readonly Tensor[] | null, captured: Map<Tensor, Tensor>): void {
  engine.keep(g);
  if (wanted) {
    if (wanted.includes(leaf)) {
      const prev = captured.get(leaf);
      if (prev) {
        captured.set(leaf, engine.keep(prev.add(g)));
        prev.dispose();
        g.dispose();
      } else captured.set(leaf, g);
    } else g.dispose();
    return;
  }
  if (leaf.disposed) {
    g.dispose();
    return;
  }
  const gc = g.dtype === leaf.dtype ? g : g.to(leaf.dtype);
  if (gc !== g) g.dispose();
  if (leaf.grad) {
    const sum = engine.keep(leaf.grad.add(gc));
    leaf.grad.dispose();
    gc.dispose();
    leaf.grad = sum;
  } else {
    leaf.grad = gc.isContiguous() ? gc : engine.keep(gc.contiguous());
    if (leaf.grad !== gc) gc.dispose();
  }
}
