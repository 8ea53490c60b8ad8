// Mixture of experts: a top-k routed FFN layer (dropless). Its load-balancing loss, z-loss and
// routing statistics are in nn/moe-balance.ts.
//
// Two implementations of the same two steps, selectable per layer (moeRouter, moeExperts):
// - 'fused' (the default): the engine's fused kernels `topkRouter` (softmax/sigmoid, top-k, counts,
//   score sums and log-sum-exp in one pass) and `expertFFN` (counting-sort dispatch, grouped GEMMs,
//   gather combine);
// - 'composed': the same steps written with ordinary engine ops. The experts are the engine's dense
//   reference `expertFFNDense`: every expert on every token, weighted by an (N, E) gate matrix that is
//   zero outside the top-k. Numerically the same as dropless top-k, E/k times the FLOPs.
//
// Web-standard code only.
import {
  expertFFN, expertFFNDense, oneHot, RangeArgumentError, ShapeError, fmtShape, topk, topkRouter,
  type Engine, type ExpertActivation, type RouterOutput, type Tensor,
} from '../engine/index.js';
import { Linear, MLP, SwiGLU } from './layers.js';
import { LoadBalancer, RoutingMonitor, selectionMask } from './moe-balance.js';
import { Module, ModuleList } from './module.js';

// ------------------------------------------------------------------ the two kernels' contracts

export type RouterScoring = 'softmax' | 'sigmoid';
export type { ExpertActivation, RouterOutput };

/** moeRouter's options: the engine's RouterOptions, both required. */
export interface MoERouterOptions {
  scoring: RouterScoring;
  /** Divide the k selected scores by their sum (Mixtral / Qwen "norm top-k"). */
  renormalize: boolean;
}

/** moeExperts' options: the engine's ExpertFFNOptions with the activation required. */
export interface MoEExpertOptions {
  activation: ExpertActivation;
  /** (E, D, F) gate projection for swiglu: act = silu(x w1) * (x w3). */
  w3?: Tensor;
}

export type MoEImplementation = 'composed' | 'fused' | 'auto';

/** Top-k routing of logits (N, E) with the chosen implementation ('auto' = 'fused'). */
export function moeRouter(logits: Tensor, k: number, options: MoERouterOptions, implementation: MoEImplementation = 'auto'): RouterOutput {
  if (logits.ndim !== 2) throw new ShapeError(`moeRouter: expected logits (N, E), got ${fmtShape(logits.shape)}`);
  const E = logits.shape[1];
  if (!Number.isInteger(k) || k < 1 || k > E) throw new RangeArgumentError(`moeRouter: k = ${k} must be in 1..${E} (logits ${fmtShape(logits.shape)})`);
  return implementation === 'composed' ? composedRouter(logits, k, options) : topkRouter(logits, k, options);
}

/**
 * Weighted top-k expert FFN: x (N, D) -> (N, D), experts w1 (E, D, F), w2 (E, F, D), with the chosen
 * implementation ('auto' = 'fused'; 'composed' is the engine's dense reference, whose hidden
 * activation (E, N, F) `onHidden` may read or replace: the layer's `act` hook site).
 */
export function moeExperts(
  x: Tensor, indices: Tensor, weights: Tensor, w1: Tensor, w2: Tensor, options: MoEExpertOptions, implementation: MoEImplementation = 'auto',
  onHidden?: (h: Tensor) => Tensor,
): Tensor {
  return implementation === 'composed' ? expertFFNDense(x, indices, weights, w1, w2, options, onHidden) : expertFFN(x, indices, weights, w1, w2, options);
}

// ------------------------------------------------------------------ composed fallbacks

function composedRouter(logits: Tensor, k: number, options: MoERouterOptions): RouterOutput {
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
    const r = moeRouter(logits, c.topK, { scoring: c.scoring, renormalize: c.renormalize }, impl);
    const opts: MoEExpertOptions = { activation: c.activation, w3: this.w3 ?? undefined };
    let y = moeExperts(flat, r.indices, r.weights, this.w1, this.w2, opts, impl, (a) => this.site('act', a)); // (N, D)
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
