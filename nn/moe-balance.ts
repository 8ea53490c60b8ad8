// The MoE layer's load balancing and routing statistics, kept on the GPU: the load-balancing loss with
// a choice of scope (micro-batch, global batch, causal buffer, shuffle; Qiu et al. 2025, "Demons in
// the detail") and the z-loss (ST-MoE), from what each layer's router reports (RoutingRecord); and
// per-expert / per-domain routing counts over forwards (RoutingMonitor). nn/moe.ts is the layer.
//
// Web-standard code only.
import { fmtShape, KilnError, oneHot, RangeArgumentError, ShapeError, type Engine, type Tensor } from '../engine/index.js';
import { SeededRng } from './data.js';

/** (N, k) i32 indices -> (N, E) f32 selection mask (1 where expert e is among the token's top-k). No grad. */
export function selectionMask(indices: Tensor, numExperts: number): Tensor {
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
