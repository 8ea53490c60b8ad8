// Mixture of experts: a top-k routed FFN layer (dropless), its load-balancing loss with a choice of
// scope (micro-batch, global batch, causal buffer; Qiu et al. 2025, "Demons in the detail"), a z-loss
// (ST-MoE), and routing statistics that stay on the GPU.
//
// Two implementations of the same two steps, selectable per layer:
// - 'fused' (the default): the engine's fused kernels `topkRouter` (softmax/sigmoid, top-k, counts,
//   score sums and log-sum-exp in one pass) and `expertFFN` (counting-sort dispatch, grouped GEMMs,
//   gather combine);
// - 'composed': the same signatures written with ordinary engine ops. The experts run dense and
//   masked: every expert on every token, weighted by an (N, E) gate matrix that is zero outside the
//   top-k. Numerically the same as dropless top-k, E/k times the FLOPs; it is the reference.
//
// Web-standard code only.
import {
  expertFFN as fusedExpertFFN, KilnError, oneHot, RangeArgumentError, ShapeError, fmtShape, topk, topkRouter as fusedTopkRouter,
  type Engine, type RouterOutput, type Tensor,
} from '../engine/index.js';
import { SeededRng } from './data.js';
import { Linear, MLP, SwiGLU } from './layers.js';
import { Module, ModuleList } from './module.js';

// ------------------------------------------------------------------ the two kernels' contracts

export type RouterScoring = 'softmax' | 'sigmoid';
export type ExpertActivation = 'gelu' | 'relu' | 'silu' | 'swiglu';

export interface RouterOptions {
  scoring: RouterScoring;
  /** Divide the k selected scores by their sum (Mixtral / Qwen "norm top-k"). */
  renormalize: boolean;
}

export type { RouterOutput };

export interface ExpertFFNOptions {
  activation: ExpertActivation;
  /** (E, D, F) gate projection for swiglu: act = silu(x w1) * (x w3). */
  w3?: Tensor;
}

export type MoEImplementation = 'composed' | 'fused' | 'auto';

/** Top-k routing of logits (N, E) with the chosen implementation ('auto' = 'fused'). */
export function topkRouter(logits: Tensor, k: number, options: RouterOptions, implementation: MoEImplementation = 'auto'): RouterOutput {
  if (logits.ndim !== 2) throw new ShapeError(`topkRouter: expected logits (N, E), got ${fmtShape(logits.shape)}`);
  const E = logits.shape[1];
  if (!Number.isInteger(k) || k < 1 || k > E) throw new RangeArgumentError(`topkRouter: k = ${k} must be in 1..${E} (logits ${fmtShape(logits.shape)})`);
  return implementation === 'composed' ? composedRouter(logits, k, options) : fusedTopkRouter(logits, k, options);
}

/** Weighted top-k expert FFN: x (N, D) -> (N, D), experts w1 (E, D, F), w2 (E, F, D). */
export function expertFFN(
  x: Tensor, indices: Tensor, weights: Tensor, w1: Tensor, w2: Tensor, options: ExpertFFNOptions, implementation: MoEImplementation = 'auto',
): Tensor {
  return implementation === 'composed' ? composedExperts(x, indices, weights, w1, w2, options) : fusedExpertFFN(x, indices, weights, w1, w2, options);
}

// ------------------------------------------------------------------ composed fallbacks

/** (N, k) i32 indices -> (N, E) f32 selection mask (1 where expert e is among the token's top-k). No grad. */
function selectionMask(indices: Tensor, numExperts: number): Tensor {
  const engine = indices.engine;
  return engine.noGrad(() => {
    const oh = oneHot(indices, numExperts); // (N, k, E) i32
    const f = oh.to('f32');
    const s = f.sum(1); // (N, E)
    oh.dispose();
    f.dispose();
    return s;
  });
}

function composedRouter(logits: Tensor, k: number, options: RouterOptions): RouterOutput {
  const engine = logits.engine;
  const E = logits.shape[1];
  const scores = options.scoring === 'sigmoid' ? logits.sigmoid() : logits.softmax(-1); // (N, E)
  const top = topk(scores, k, -1); // values (N, k) = gather of scores: differentiable
  let weights = top.values;
  if (options.renormalize) {
    const s = top.values.sum(-1, true); // (N, 1)
    weights = top.values.div(s);
    s.dispose();
    top.values.dispose();
  }
  const counts = engine.noGrad(() => {
    const m = selectionMask(top.indices, E);
    const c = m.sum(0).to('i32'); // (E)
    m.dispose();
    return c;
  });
  const scoreSums = scores.sum(0); // (E)
  const lse = logits.logsumexp(-1); // (N)
  scores.dispose();
  return { weights, indices: top.indices, counts, scoreSums, lse };
}

/** The FFN activation on the hidden pre-activations (E, N, F). */
function activate(h1: Tensor, h3: Tensor | null, activation: ExpertActivation): Tensor {
  switch (activation) {
    case 'gelu':
      return h1.gelu();
    case 'relu':
      return h1.relu();
    case 'silu':
      return h1.silu();
    case 'swiglu': {
      if (!h3) throw new KilnError('expertFFN: activation "swiglu" needs w3');
      const s = h1.silu();
      const a = s.mul(h3);
      s.dispose();
      return a;
    }
  }
}

/**
 * Dense-masked experts: every expert on every token, combined with an (N, E) gate that holds the
 * top-k weights and zeros elsewhere. `onAct` sees the activation (E, N, F) (the `act` hook site).
 */
function composedExperts(
  x: Tensor, indices: Tensor, weights: Tensor, w1: Tensor, w2: Tensor, options: ExpertFFNOptions, onAct?: (a: Tensor) => Tensor,
): Tensor {
  checkExpertShapes(x, indices, weights, w1, w2, options);
  const [N, D] = x.shape;
  const E = w1.shape[0];
  // gate[n, e] = Σ_j weights[n, j] · [indices[n, j] = e]: a one-hot (no grad) times the weights (grad).
  const oh = x.engine.noGrad(() => {
    const o = oneHot(indices, E); // (N, k, E) i32
    const f = o.to('f32');
    o.dispose();
    return f;
  });
  const wk = weights.unsqueeze(-1); // (N, k, 1)
  const prod = oh.mul(wk); // (N, k, E)
  const gate = prod.sum(1); // (N, E)
  const xb = x.unsqueeze(0); // (1, N, D), broadcast over experts
  const h1 = xb.matmul(w1); // (E, N, F)
  const h3 = options.w3 ? xb.matmul(options.w3) : null;
  const a0 = activate(h1, h3, options.activation);
  const a = onAct ? onAct(a0) : a0;
  const y = a.matmul(w2); // (E, N, D)
  // out[n] = Σ_e gate[n, e] y[e, n]: per token (1, E) @ (E, D), read through a permuted view.
  const ye = y.permute([1, 0, 2]); // (N, E, D)
  const g3 = gate.unsqueeze(1); // (N, 1, E)
  const o3 = g3.matmul(ye); // (N, 1, D)
  const out = o3.reshape([N, D]);
  for (const t of [oh, wk, prod, gate, xb, h1, h3, y, ye, g3, o3]) t?.dispose();
  if (a0 !== a) a0.dispose(); // a replaced by a hook: the hook's tensor is the caller's
  else if (!onAct) a0.dispose();
  return out;
}

function checkExpertShapes(x: Tensor, indices: Tensor, weights: Tensor, w1: Tensor, w2: Tensor, options: ExpertFFNOptions): void {
  const shapes = `x ${fmtShape(x.shape)}, indices ${fmtShape(indices.shape)}, weights ${fmtShape(weights.shape)}, w1 ${fmtShape(w1.shape)}, w2 ${fmtShape(w2.shape)}`;
  const ok =
    x.ndim === 2 && indices.ndim === 2 && weights.ndim === 2 && w1.ndim === 3 && w2.ndim === 3 &&
    indices.shape[0] === x.shape[0] && weights.shape[0] === x.shape[0] && weights.shape[1] === indices.shape[1] &&
    w1.shape[1] === x.shape[1] && w2.shape[0] === w1.shape[0] && w2.shape[1] === w1.shape[2] && w2.shape[2] === x.shape[1] &&
    (!options.w3 || options.w3.shape.every((d, i) => d === w1.shape[i]));
  if (!ok) throw new ShapeError(`expertFFN: expected x (N, D), indices and weights (N, k), w1 (E, D, F), w2 (E, F, D)${options.w3 ? ', w3 (E, D, F)' : ''}; got ${shapes}`);
}

// ------------------------------------------------------------------ load balancing

/**
 * Where the expert fractions f of the load-balancing loss come from (P is always local):
 * - 'micro':  each micro-batch's own counts;
 * - 'global': the counts of every micro-batch of the optimizer step, summed over data-parallel
 *             replicas by the injected `allReduce` (Qiu et al. 2025, eqs. 4-6);
 * - 'buffer': counts accumulated causally over the gradient-accumulation micro-steps of one optimizer
 *             step (micro-step j sees micro-steps <= j), all-reduced per micro-step; reset by endStep();
 * - 'shuffle': the paper's ablation (§5): each micro-batch's f comes from a random subset of the step's
 *             tokens as large as that micro-batch, drawn from all its pending micro-batches (global
 *             diversity, micro-batch token count). Needs per-token selections, so the layer reports
 *             them; the draw is over this balancer's micro-batches (not gathered over replicas).
 */
export type BalanceScope = 'micro' | 'global' | 'buffer' | 'shuffle';

export interface LoadBalancerOptions {
  scope?: BalanceScope;
  /**
   * Sums an (E) f32 count vector over the data-parallel replicas (the identity by default). It may
   * return its argument or a new tensor; the balancer disposes both when done. It is called with the
   * counts of every layer in the same order on each replica (a collective).
   */
  allReduce?: (counts: Tensor) => Tensor;
  /**
   * Training forwards held per layer before `loss()` must have been called (default 64). Records keep
   * their graphs alive, so a loop that never asks for the aux loss fails loudly instead of leaking.
   */
  maxPending?: number;
  /** Seed of the 'shuffle' scope's token draws (default 0). */
  seed?: number;
}

/** What an MoE layer reports per training forward. The balancer takes ownership of the tensors. */
export interface RoutingRecord {
  /** (E) i32 or f32 top-k selection counts of this micro-batch (no gradient). */
  counts: Tensor;
  /** (E) f32 Σ_n full router score (differentiable). */
  scoreSums: Tensor;
  /** 0-d mean_n lse_n² (differentiable), or null for no z-loss. */
  zLoss: Tensor | null;
  /** Tokens of this micro-batch (N). */
  tokens: number;
  numExperts: number;
  topK: number;
  /** α: weight of this layer's LBL in the aux loss. */
  lblWeight: number;
  /** β: weight of this layer's z-loss. */
  zLossWeight: number;
  /** (N, k) i32 top-k indices of each token: only the 'shuffle' scope asks for them (`needsSelections`). */
  selections?: Tensor;
}

interface PendingRecord {
  counts: Tensor; // (E) f32 local
  scoreSums: Tensor; // (E)
  zLoss: Tensor | null;
  tokens: number;
  /** Buffer scope: f at this micro-step (causal snapshot), (E) f32. */
  f: Tensor | null;
  /** Shuffle scope: (N, E) f32 0/1 selection mask. */
  sel: Tensor | null;
}

interface LayerState {
  spec: Pick<RoutingRecord, 'numExperts' | 'topK' | 'lblWeight' | 'zLossWeight'>;
  pending: PendingRecord[];
  /** Buffer scope: all-reduced counts of this optimizer step so far, (E) f32. */
  buffer: Tensor | null;
  /** Local f of the latest record (for expertFractions in micro scope). */
  lastLocalF: Tensor | null;
}

export interface AuxLossTerms {
  /** Mean over layers of the load-balancing loss N_E Σ_i f_i P_i (1 at perfect balance). */
  lbl: Tensor;
  /** Mean over layers of the z-loss mean_n lse_n². */
  zLoss: Tensor;
  /** Mean over layers of α·LBL + β·z: what to add to the training loss. */
  total: Tensor;
}

/**
 * Collects what MoE layers report during training forwards and turns it into the auxiliary loss.
 * Every layer is one entry; `loss()` covers every training forward since the previous `loss()`
 * (each micro-batch weighted by its share of the tokens), so one API serves three loops:
 *
 * 1. No gradient accumulation (any scope): forward, `loss = ce + model.auxLoss()`, backward.
 * 2. Gradient accumulation with backward per micro-batch (micro and buffer):
 *    `for j: (ce_j + auxLoss()) / J` backward; `opt.step(); balancer.endStep()`.
 * 3. Global scope with gradient accumulation: f needs every micro-batch's counts before any LBL can
 *    be formed, so run all J forwards first keeping their graphs, then
 *    `(Σ_j ce_j) / J + auxLoss()` backward once; `opt.step(); balancer.endStep()`. (Loop 2 under
 *    'global' would synchronise f over the data-parallel replicas only, not over micro-batches.)
 *
 * Records are only taken in training mode with gradients enabled (not in evaluation, under noGrad,
 * or in activation recomputation), as Megatron does.
 */
export class LoadBalancer {
  readonly scope: BalanceScope;
  private readonly allReduce: ((counts: Tensor) => Tensor) | null;
  private readonly maxPending: number;
  private readonly layers = new Map<object, LayerState>();
  private readonly rng: SeededRng;

  constructor(
    readonly engine: Engine,
    options: LoadBalancerOptions = {},
  ) {
    this.scope = options.scope ?? 'micro';
    if (!['micro', 'global', 'buffer', 'shuffle'].includes(this.scope)) throw new RangeArgumentError(`LoadBalancer: scope must be 'micro', 'global', 'buffer' or 'shuffle', got ${this.scope}`);
    this.rng = new SeededRng(`lbl-shuffle:${options.seed ?? 0}`);
    this.allReduce = options.allReduce ?? null;
    this.maxPending = options.maxPending ?? 64;
  }

  /** Whether layers must report per-token selections (RoutingRecord.selections). */
  get needsSelections(): boolean {
    return this.scope === 'shuffle';
  }

  /** Sum counts over replicas; consumes `c`, returns a tensor the caller owns. */
  private reduce(c: Tensor): Tensor {
    if (!this.allReduce) return c;
    const r = this.engine.noGrad(() => this.allReduce!(c));
    if (r.shape.length !== 1 || r.shape[0] !== c.shape[0]) throw new ShapeError(`LoadBalancer: allReduce returned ${fmtShape(r.shape)} for counts ${fmtShape(c.shape)}`);
    const f = r.dtype === 'f32' ? r : this.engine.noGrad(() => r.to('f32'));
    if (f !== r) r.dispose();
    if (f !== c) c.dispose();
    return f;
  }

  /** An MoE layer's report of one training forward (`layer` identifies the layer, e.g. the module). */
  record(layer: object, rec: RoutingRecord): void {
    const e = this.engine;
    let st = this.layers.get(layer);
    if (!st) {
      st = { spec: { numExperts: rec.numExperts, topK: rec.topK, lblWeight: rec.lblWeight, zLossWeight: rec.zLossWeight }, pending: [], buffer: null, lastLocalF: null };
      this.layers.set(layer, st);
    }
    st.spec = { numExperts: rec.numExperts, topK: rec.topK, lblWeight: rec.lblWeight, zLossWeight: rec.zLossWeight };
    if (st.pending.length >= this.maxPending) {
      throw new KilnError(`LoadBalancer: ${st.pending.length} training forwards of one layer without loss() or reset(): call model.auxLoss() after each training forward (or balancer.reset())`);
    }
    const counts = e.keep(e.noGrad(() => (rec.counts.dtype === 'f32' ? rec.counts.detach() : rec.counts.to('f32'))));
    e.keep(rec.scoreSums);
    if (rec.zLoss) e.keep(rec.zLoss);
    // f must carry no gradient: counts are detached; snapshots below are made under noGrad.
    const local = e.keep(e.noGrad(() => counts.div(rec.topK * rec.tokens)));
    st.lastLocalF?.dispose();
    st.lastLocalF = local;
    let f: Tensor | null = null;
    if (this.scope === 'buffer') {
      const reduced = this.reduce(e.noGrad(() => counts.clone()));
      const next = e.keep(st.buffer ? e.noGrad(() => st!.buffer!.add(reduced)) : reduced);
      if (next !== reduced) reduced.dispose();
      st.buffer?.dispose();
      st.buffer = next;
      f = e.keep(e.noGrad(() => next.div(next.sum())));
    }
    let sel: Tensor | null = null;
    if (this.scope === 'shuffle') {
      if (!rec.selections) throw new KilnError("LoadBalancer: the 'shuffle' scope needs RoutingRecord.selections (the top-k indices)");
      sel = e.keep(selectionMask(rec.selections, rec.numExperts));
    }
    rec.selections?.dispose();
    st.pending.push({ counts, scoreSums: rec.scoreSums, zLoss: rec.zLoss, tokens: rec.tokens, f, sel });
    rec.counts.dispose(); // `counts` is a detached copy or view
  }

  /** Training forwards recorded and not yet turned into a loss (per layer, the largest). */
  get pendingForwards(): number {
    let n = 0;
    for (const st of this.layers.values()) n = Math.max(n, st.pending.length);
    return n;
  }

  /** Global f̄ (E) of a layer: all-reduced counts of its pending micro-batches, normalised. */
  private globalF(st: LayerState): Tensor {
    const e = this.engine;
    const sum = e.noGrad(() => st.pending.slice(1).reduce((acc, r) => {
      const n = acc.add(r.counts);
      if (acc !== st.pending[0].counts) acc.dispose();
      return n;
    }, st.pending[0].counts));
    const c = this.reduce(sum === st.pending[0].counts ? e.noGrad(() => sum.clone()) : sum);
    const f = e.noGrad(() => c.div(c.sum()));
    c.dispose();
    return f;
  }

  /** The f (L, E) as of the latest micro-batch of each layer (micro: local; buffer: causal; global: f̄ of the pending micro-batches). */
  expertFractions(): Tensor {
    const e = this.engine;
    return e.tidy(() => {
      const rows = [...this.layers.values()].map((st) => {
        if ((this.scope === 'global' || this.scope === 'shuffle') && st.pending.length) return this.globalF(st);
        if (this.scope === 'buffer' && st.pending.length) return st.pending[st.pending.length - 1].f!.clone();
        if (!st.lastLocalF) throw new KilnError('LoadBalancer.expertFractions: no routing recorded yet');
        return st.lastLocalF.clone();
      });
      if (!rows.length) throw new KilnError('LoadBalancer.expertFractions: no routing recorded yet');
      return e.noGrad(() => e.stack(rows));
    });
  }

  /**
   * The aux-loss terms of every pending training forward, consumed (their records are freed).
   * Per layer: LBL = N_E/N_tot Σ_j Σ_i f_ji · scoreSums_ji (= Σ_j (N_j/N_tot) N_E Σ_i f_ji P_ji),
   * z = Σ_j (N_j/N_tot) z_j; then means over the layers. Zeros when nothing is pending.
   */
  terms(): AuxLossTerms {
    const e = this.engine;
    const states = [...this.layers.values()].filter((st) => st.pending.length);
    if (!states.length) return { lbl: e.zeros([]), zLoss: e.zeros([]), total: e.zeros([]) };
    const out = e.tidy(() => {
      const lbls: Tensor[] = [];
      const zs: Tensor[] = [];
      const totals: Tensor[] = [];
      for (const st of states) {
        const nTot = st.pending.reduce((a, r) => a + r.tokens, 0);
        const E = st.spec.numExperts;
        let dot: Tensor; // Σ_j f_j · scoreSums_j (f constant)
        if (this.scope === 'global') {
          const f = this.globalF(st);
          const ss = st.pending.length === 1 ? st.pending[0].scoreSums : e.stack(st.pending.map((r) => r.scoreSums)).sum(0);
          dot = f.mul(ss).sum();
        } else if (this.scope === 'shuffle') {
          dot = this.shuffleDot(st);
        } else {
          const terms = st.pending.map((r) => {
            const f = this.scope === 'buffer' ? r.f! : e.noGrad(() => r.counts.div(st.spec.topK * r.tokens));
            return f.mul(r.scoreSums).sum();
          });
          dot = terms.length === 1 ? terms[0] : e.stack(terms).sum();
        }
        const lbl = dot.mul(E / nTot);
        const zTerms = st.pending.filter((r) => r.zLoss).map((r) => r.zLoss!.mul(r.tokens / nTot));
        const z = zTerms.length ? e.stack(zTerms).sum() : e.zeros([]);
        lbls.push(lbl);
        zs.push(z);
        totals.push(lbl.mul(st.spec.lblWeight).add(z.mul(st.spec.zLossWeight)));
      }
      const mean = (ts: Tensor[]) => (ts.length === 1 ? ts[0].reshape([]) : e.stack(ts).mean());
      return { lbl: mean(lbls), zLoss: mean(zs), total: mean(totals) };
    });
    for (const st of states) this.dropPending(st);
    return out;
  }

  /**
   * Shuffle scope: Σ_j f_j · scoreSums_j where f_j counts the selections of N_j tokens drawn without
   * replacement from all pending micro-batches: a (J, N_tot) 0/1 draw matrix times the selections.
   */
  private shuffleDot(st: LayerState): Tensor {
    const e = this.engine;
    const sizes = st.pending.map((r) => r.tokens);
    const nTot = sizes.reduce((a, b) => a + b, 0);
    const J = sizes.length;
    const draw = new Float32Array(J * nTot);
    const order = Array.from({ length: nTot }, (_, i) => i);
    sizes.forEach((n, j) => {
      // Partial Fisher–Yates: the first n entries are a uniform n-subset.
      for (let i = 0; i < n; i++) {
        const k = i + this.rng.int(nTot - i);
        [order[i], order[k]] = [order[k], order[i]];
        draw[j * nTot + order[i]] = 1;
      }
    });
    const f = e.noGrad(() => {
      const m = e.tensor(draw, [J, nTot]);
      let off = 0;
      let counts: Tensor | null = null; // (J, E)
      for (const r of st.pending) {
        const part = m.slice(1, off, off + r.tokens).matmul(r.sel!);
        counts = counts ? counts.add(part) : part;
        off += r.tokens;
      }
      return counts!.div(e.tensor(Float32Array.from(sizes, (n) => n * st.spec.topK), [J, 1]));
    });
    const ss = e.stack(st.pending.map((r) => r.scoreSums)); // (J, E)
    return f.mul(ss).sum();
  }

  /** The aux loss to add to the training loss (mean over layers of α·LBL + β·z), consuming the pending forwards. */
  loss(): Tensor {
    const t = this.terms();
    t.lbl.dispose();
    t.zLoss.dispose();
    return t.total;
  }

  private dropPending(st: LayerState): void {
    for (const r of st.pending) {
      r.counts.dispose();
      r.scoreSums.dispose();
      r.zLoss?.dispose();
      r.f?.dispose();
      r.sel?.dispose();
    }
    st.pending = [];
  }

  /** After the optimizer step: clears the buffer (buffer scope) and any pending records. */
  endStep(): void {
    this.reset();
  }

  /** Drop every pending record and the count buffers. */
  reset(): void {
    for (const st of this.layers.values()) {
      this.dropPending(st);
      st.buffer?.dispose();
      st.buffer = null;
    }
  }

  dispose(): void {
    this.reset();
    for (const st of this.layers.values()) st.lastLocalF?.dispose();
    this.layers.clear();
  }
}

// ------------------------------------------------------------------ routing statistics

/**
 * Routing counts accumulated on the GPU over forwards (training or evaluation) until `reset()`:
 * per layer, (E) top-k selections per expert and, when each batch row carries a domain label,
 * (numDomains, E) selections per domain plus the tokens per domain. Nothing is read back until
 * `read()`, so it costs no host sync inside a step.
 */
export class RoutingMonitor {
  private domains: Tensor | null = null;
  private readonly counts = new Map<object, Tensor>();
  private readonly byDomain = new Map<object, Tensor>();
  private readonly domainTokens = new Map<object, Tensor>();
  private readonly names = new Map<object, string>();

  constructor(
    readonly engine: Engine,
    readonly options: { numDomains?: number } = {},
  ) {}

  /** Domain label (B) i32 of each batch row for the following forwards (borrowed: keep it alive), or null. */
  setDomains(domainIds: Tensor | null): void {
    if (domainIds && domainIds.ndim !== 1) throw new ShapeError(`RoutingMonitor.setDomains: expected (B) domain ids, got ${fmtShape(domainIds.shape)}`);
    if (domainIds && !this.options.numDomains) throw new KilnError('RoutingMonitor.setDomains: construct the monitor with numDomains');
    this.domains = domainIds;
  }

  /** Called by MoE layers: indices (N, k) i32 of a forward whose N tokens are B rows of N/B. */
  observe(layer: object, name: string, indices: Tensor, numExperts: number): void {
    const e = this.engine;
    e.noGrad(() => {
      const add = (map: Map<object, Tensor>, t: Tensor) => {
        const old = map.get(layer);
        map.set(layer, e.keep(old ? old.add(t) : t.clone()));
        old?.dispose();
      };
      e.tidy(() => {
        this.names.set(layer, name);
        const sel = selectionMask(indices, numExperts); // (N, E)
        add(this.counts, sel.sum(0));
        if (this.domains) {
          const B = this.domains.shape[0];
          const N = indices.shape[0];
          if (N % B !== 0) throw new ShapeError(`RoutingMonitor: ${N} tokens are not ${B} equal rows (domain ids ${fmtShape(this.domains.shape)})`);
          const perRow = sel.reshape([B, N / B, numExperts]).sum(1); // (B, E)
          const dom = oneHot(this.domains.to('i32'), this.options.numDomains!).to('f32'); // (B, Dm)
          add(this.byDomain, dom.mT.matmul(perRow)); // (Dm, E)
          add(this.domainTokens, dom.sum(0).mul(N / B)); // (Dm)
        }
      });
    });
  }

  /** Layer names in the order first seen. */
  get layerNames(): string[] {
    return [...this.names.values()];
  }

  /** (L, E) selections per expert per layer (a new tensor; null before any forward). */
  countsTensor(): Tensor | null {
    const ts = [...this.counts.values()];
    return ts.length ? this.engine.noGrad(() => this.engine.stack(ts)) : null;
  }

  /** One readback: per layer, counts (E), and per-domain counts (Dm, E) with tokens per domain. */
  async read(): Promise<{ layers: { name: string; counts: number[]; byDomain: number[][] | null; domainTokens: number[] | null }[] }> {
    const layers = [...this.counts.keys()];
    const out = [];
    for (const l of layers) {
      const c = Array.from(await this.counts.get(l)!.data());
      const bd = this.byDomain.get(l);
      const dt = this.domainTokens.get(l);
      const flat = bd ? Array.from(await bd.data()) : null;
      const E = c.length;
      out.push({
        name: this.names.get(l) ?? '',
        counts: c,
        byDomain: flat ? Array.from({ length: flat.length / E }, (_, d) => flat.slice(d * E, (d + 1) * E)) : null,
        domainTokens: dt ? Array.from(await dt.data()) : null,
      });
    }
    return { layers: out };
  }

  reset(): void {
    for (const m of [this.counts, this.byDomain, this.domainTokens]) {
      for (const t of m.values()) t.dispose();
      m.clear();
    }
  }

  dispose(): void {
    this.reset();
    this.domains = null;
  }
}

// ------------------------------------------------------------------ the layer

export interface MoEConfig {
  dModel: number;
  /** Hidden size of each expert (and of each shared expert). */
  dFF: number;
  numExperts: number;
  topK: number;
  scoring: RouterScoring;
  renormalize: boolean;
  activation: 'gelu' | 'swiglu';
  /** Dense MLPs applied to every token and added (0 = none). */
  sharedExperts: number;
  /** α: weight of the load-balancing loss in the aux loss. */
  lblWeight: number;
  /** β: weight of the z-loss mean_n lse_n². */
  zLossWeight: number;
  /** 'auto' (default): the fused kernels when the engine has them, else the composed ops. */
  implementation: MoEImplementation;
}

export type MoEConfigInput = Pick<MoEConfig, 'dModel' | 'dFF' | 'numExperts'> & Partial<MoEConfig>;

/** Fields of MoEConfig that a TransformerLM's `moe` sub-config may set (dModel and dFF come from the model). */
export type MoESubConfig = Partial<Omit<MoEConfig, 'dModel'>>;

export const MOE_DEFAULTS = {
  numExperts: 8,
  topK: 2,
  scoring: 'softmax',
  renormalize: false,
  activation: 'gelu',
  sharedExperts: 0,
  lblWeight: 0.01,
  zLossWeight: 0,
  implementation: 'auto',
} as const satisfies Partial<MoEConfig>;

/** A complete, validated MoE config. */
export function moeConfig(input: MoEConfigInput): MoEConfig {
  const c: MoEConfig = { ...MOE_DEFAULTS, ...input };
  for (const k of ['dModel', 'dFF', 'numExperts', 'topK'] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new RangeArgumentError(`MoE: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.topK > c.numExperts) throw new RangeArgumentError(`MoE: topK ${c.topK} exceeds numExperts ${c.numExperts}`);
  if (!Number.isInteger(c.sharedExperts) || c.sharedExperts < 0) throw new RangeArgumentError(`MoE: sharedExperts must be an integer >= 0, got ${c.sharedExperts}`);
  if (!['softmax', 'sigmoid'].includes(c.scoring)) throw new RangeArgumentError(`MoE: scoring must be 'softmax' or 'sigmoid', got ${c.scoring}`);
  if (!['gelu', 'swiglu'].includes(c.activation)) throw new RangeArgumentError(`MoE: activation must be 'gelu' or 'swiglu', got ${c.activation}`);
  if (!['auto', 'composed', 'fused'].includes(c.implementation)) throw new RangeArgumentError(`MoE: implementation must be 'auto', 'composed' or 'fused', got ${c.implementation}`);
  for (const k of ['lblWeight', 'zLossWeight'] as const) if (!(c[k] >= 0)) throw new RangeArgumentError(`MoE: ${k} must be >= 0, got ${c[k]}`);
  return c;
}

/**
 * Top-k routed feed-forward layer (dropless): y = Σ_{i ∈ TopK(s(x))} w_i(x) E_i(x) [+ Σ shared MLPs(x)]
 * with s = softmax or sigmoid of a bias-free linear router, w = s (or s renormalised over the top-k).
 * Experts are GELU MLPs (w1 (E, D, F), w2 (E, F, D)) or SwiGLU (plus w3 (E, D, F)), without biases.
 *
 * Hook sites: `router` — the router logits (N, E), N = B·T (a replacement changes the routing);
 * `act` — composed implementation only: the expert activations of every expert on every token,
 * (E, N, F) (the fused kernels never materialise them, so the site does not fire there).
 *
 * In training mode with gradients enabled each forward reports its counts, score sums and z-loss to
 * the load balancer (its own micro-scope one unless `setLoadBalancer` was called); `auxLoss()` turns
 * them into the auxiliary loss.
 */
export class MoE extends Module {
  readonly config: MoEConfig;
  readonly router: Linear;
  readonly w1: Tensor;
  readonly w2: Tensor;
  readonly w3: Tensor | null = null;
  readonly shared: ModuleList<MLP | SwiGLU> | null = null;
  private balancer: LoadBalancer;
  private ownBalancer = true;
  private monitor: RoutingMonitor | null = null;

  constructor(engine: Engine, config: MoEConfigInput) {
    super(engine);
    const c = (this.config = moeConfig(config));
    const { dModel: D, dFF: F, numExperts: E } = c;
    this.router = this.registerModule('router', new Linear(engine, D, E, { bias: false }));
    // nn.Linear's initialisation per expert: uniform ±1/sqrt(fan_in).
    this.w1 = this.registerParameter('w1', engine.rand([E, D, F], { low: -1 / Math.sqrt(D), high: 1 / Math.sqrt(D) }));
    this.w2 = this.registerParameter('w2', engine.rand([E, F, D], { low: -1 / Math.sqrt(F), high: 1 / Math.sqrt(F) }));
    if (c.activation === 'swiglu') this.w3 = this.registerParameter('w3', engine.rand([E, D, F], { low: -1 / Math.sqrt(D), high: 1 / Math.sqrt(D) }));
    if (c.sharedExperts > 0) {
      const make = () => (c.activation === 'swiglu' ? new SwiGLU(engine, D, F, { bias: false }) : new MLP(engine, D, F, { bias: false }));
      this.shared = this.registerModule('shared', new ModuleList<MLP | SwiGLU>(engine, Array.from({ length: c.sharedExperts }, make)));
    }
    this.balancer = new LoadBalancer(engine);
  }

  /** Report training forwards to `b` (shared by all MoE layers of a model) instead of this layer's own. */
  setLoadBalancer(b: LoadBalancer): void {
    if (this.ownBalancer) this.balancer.dispose();
    this.balancer = b;
    this.ownBalancer = false;
  }

  get loadBalancer(): LoadBalancer {
    return this.balancer;
  }

  /** Accumulate routing counts into `m` on every forward (null to stop). */
  setRoutingMonitor(m: RoutingMonitor | null): void {
    this.monitor = m;
  }

  /** The aux loss of the pending training forwards (see LoadBalancer.loss). */
  auxLoss(): Tensor {
    return this.balancer.loss();
  }

  /** (..., D) -> (..., D) */
  forward(x: Tensor): Tensor {
    const c = this.config;
    const D = c.dModel;
    if (x.shape[x.ndim - 1] !== D) throw new ShapeError(`MoE: expected input (..., ${D}), got ${fmtShape(x.shape)}`);
    const engine = this.engine;
    const N = x.size / D;
    const impl = c.implementation === 'composed' ? 'composed' : 'fused';
    const flat = x.reshape([N, D]);
    const logits = this.site('router', this.router.forward(flat)); // (N, E)
    const r = topkRouter(logits, c.topK, { scoring: c.scoring, renormalize: c.renormalize }, impl);
    const opts: ExpertFFNOptions = { activation: c.activation, w3: this.w3 ?? undefined };
    let y =
      impl === 'fused'
        ? expertFFN(flat, r.indices, r.weights, this.w1, this.w2, opts, 'fused')
        : composedExperts(flat, r.indices, r.weights, this.w1, this.w2, opts, (a) => this.site('act', a)); // (N, D)
    if (this.shared) {
      for (const s of this.shared) {
        const ys = s.forward(flat);
        const sum = y.add(ys);
        y.dispose();
        ys.dispose();
        y = sum;
      }
    }
    this.monitor?.observe(this, this.name, r.indices, c.numExperts);
    let kept = false;
    if (this.training && engine.gradEnabled) {
      let z: Tensor | null = null;
      if (c.zLossWeight > 0) {
        const sq = r.lse.square();
        z = sq.mean(); // 0-d
        sq.dispose();
      }
      const selections = this.balancer.needsSelections ? r.indices.clone() : undefined;
      this.balancer.record(this, { counts: r.counts, scoreSums: r.scoreSums, zLoss: z, tokens: N, numExperts: c.numExperts, topK: c.topK, lblWeight: c.lblWeight, zLossWeight: c.zLossWeight, selections });
      kept = true;
    }
    if (!kept) {
      r.counts.dispose();
      r.scoreSums.dispose();
    }
    for (const t of [r.weights, r.indices, r.lse]) t.dispose();
    const out = y.reshape([...x.shape]);
    y.dispose();
    if (flat !== x) flat.dispose();
    return out;
  }

  override dispose(): void {
    super.dispose();
    if (this.ownBalancer) this.balancer.dispose();
  }
}
