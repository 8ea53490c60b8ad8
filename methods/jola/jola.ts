// JoLA (Lai, Fraser, Titov, ICML 2025): per-head activation edits gated by HardConcrete gates, applied
// through nn's `layers.i.attn.heads` hook (each head's output before the output projection), at every
// position and in every layer:
//   z' = (1 + g_m · m) ⊙ z + g_a · a        z, m, a ∈ R^{Dh}; g_m, g_a ∈ [0, 1] scalars per head
// The base model is untouched (no copy of the transformer): `attachTo` registers one hook per layer and
// returns the remover. Ablations switch off the gates (fixed at 1) or one of the two edits; a fixed
// 0/1 head mask in place of the gates gives LoFIT's second stage.
import { KilnError, type Engine, type Tensor } from '../../engine/index.js';
import { Module, ModuleList } from '../../nn/index.js';

// ------------------------------------------------------------------ HardConcrete (Louizos et al. 2018)

export interface HardConcreteOptions {
  /** β: temperature of the binary Concrete. */
  temperature: number;
  /** (γ, ζ): the stretch interval; γ < 0 < 1 < ζ puts mass on exact 0 and exact 1 after the clamp. */
  stretch: [number, number];
  /** ε: the noise u is drawn from U(ε, 1 − ε), and P(open) is clamped to [ε, 1 − ε]. */
  eps: number;
}

/** As coded in JoLA's `get_gates`: β = 0.33, (γ, ζ) = (−0.1, 1.1), ε = 1e-6. */
export const HARD_CONCRETE: HardConcreteOptions = { temperature: 0.33, stretch: [-0.1, 1.1], eps: 1e-6 };

/**
 * Training-mode gates: u ~ U(ε, 1−ε), s = σ((log u − log(1−u) + log α)/β), g = clamp(s·(ζ−γ) + γ, 0, 1).
 * One draw per gate (logAlpha's shape); `u` may be given (tests). The clamp's gradient is 1 inside
 * [0, 1] and 0 outside, so a gate sampled at exactly 0 or 1 passes no gradient to log α this step.
 */
export function hardConcreteSample(logAlpha: Tensor, hc: HardConcreteOptions = HARD_CONCRETE, u?: Tensor): Tensor {
  const e = logAlpha.engine;
  const [gamma, zeta] = hc.stretch;
  return e.tidy(() => {
    const noise = u ?? e.rand([...logAlpha.shape], { low: hc.eps, high: 1 - hc.eps });
    // Logistic noise log u − log(1 − u); constant w.r.t. the parameters.
    const logistic = e.noGrad(() => noise.log().sub(noise.neg().add(1).log()));
    const s = logistic.add(logAlpha).div(hc.temperature).sigmoid();
    return s.mul(zeta - gamma).add(gamma).clamp(0, 1);
  });
}

/** Evaluation-mode gates (deterministic, no division by β): g = clamp(σ(log α)·(ζ−γ) + γ, 0, 1). */
export function hardConcreteEval(logAlpha: Tensor, hc: HardConcreteOptions = HARD_CONCRETE): Tensor {
  const [gamma, zeta] = hc.stretch;
  return logAlpha.engine.tidy(() => logAlpha.sigmoid().mul(zeta - gamma).add(gamma).clamp(0, 1));
}

/** Expected-L0 term P(g ≠ 0) = σ(log α − β·log(−γ/ζ)), clamped to [ε, 1 − ε] (≈ σ(log α + 0.79)). */
export function hardConcreteOpenProb(logAlpha: Tensor, hc: HardConcreteOptions = HARD_CONCRETE): Tensor {
  const [gamma, zeta] = hc.stretch;
  return logAlpha.engine.tidy(() => logAlpha.sub(hc.temperature * Math.log(-gamma / zeta)).sigmoid().clamp(hc.eps, 1 - hc.eps));
}

// ------------------------------------------------------------------ the edit

export interface JoLAOptions {
  /** 'hardConcrete': learned gates (JoLA); 'none': gates fixed at 1 (the no-gates ablation, LoFIT). */
  gates: 'hardConcrete' | 'none';
  /** Learn the additive offset a (g_a · a). */
  additive: boolean;
  /** Learn the multiplicative scaling m ((1 + g_m · m) ⊙ z). */
  multiplicative: boolean;
  /** Standard deviation of a and m at initialisation (JoLA: N(0, 1e-3), so the edit starts near identity). */
  initStd: number;
  /**
   * (L, H) fixed 0/1 head mask multiplying both edits (LoFIT's stage 2 edits only the selected heads).
   * Only the unmasked heads' vectors count as trainable.
   */
  headMask?: number[][];
  hardConcrete: HardConcreteOptions;
}

export const JOLA_DEFAULTS: JoLAOptions = { gates: 'hardConcrete', additive: true, multiplicative: true, initStd: 1e-3, hardConcrete: HARD_CONCRETE };

/** One layer's edit vectors. Names follow the roles, not JoLA's code (`attn_v` = a, `attn_A` = m). */
export class HeadEdit extends Module {
  /** (H, Dh) additive offsets. */
  readonly a: Tensor | null;
  /** (H, Dh) multiplicative scalings. */
  readonly m: Tensor | null;
  /** (H, 1) fixed head mask, or null. */
  readonly mask: Tensor | null;

  constructor(engine: Engine, nHeads: number, headDim: number, o: JoLAOptions, mask: number[] | null) {
    super(engine);
    const vec = () => engine.randn([nHeads, headDim], { std: o.initStd });
    this.a = o.additive ? this.registerParameter('a', vec()) : null;
    this.m = o.multiplicative ? this.registerParameter('m', vec()) : null;
    this.mask = mask ? this.registerBuffer('mask', engine.tensor(mask, [nHeads, 1])) : null;
  }
}

type GateKind = 'additive' | 'multiplicative';

/**
 * A JoLA editor for a model with `nLayers` attention layers of `nHeads` heads of size `headDim`.
 * Parameters: `layers.<l>.a`, `layers.<l>.m` (H, Dh) and the gates' `log_alpha_a`, `log_alpha_m`
 * (L, H, 1) (JoLA's `log_g1`, `log_g2`), which exist only for the edits and gates in use.
 */
export class JoLA extends Module {
  readonly options: JoLAOptions;
  readonly layers: ModuleList<HeadEdit>;
  /** (L, H, 1) log α of the additive gates, or null. */
  readonly logAlphaA: Tensor | null;
  /** (L, H, 1) log α of the multiplicative gates, or null. */
  readonly logAlphaM: Tensor | null;
  /** Test hook: fixed noise u (L, H, 1) for every training-mode gate instead of fresh draws. */
  fixedNoise: Tensor | null = null;
  /** The gates of the current forward pass, (L, H, 1) per kind (made at layer 0, read by every layer). */
  private current: Partial<Record<GateKind, Tensor>> = {};

  constructor(
    engine: Engine,
    readonly shape: { nLayers: number; nHeads: number; headDim: number },
    options: Partial<JoLAOptions> = {},
  ) {
    super(engine);
    const o = (this.options = { ...JOLA_DEFAULTS, ...options });
    const { nLayers: L, nHeads: H, headDim } = shape;
    if (!o.additive && !o.multiplicative) throw new KilnError('JoLA: at least one of additive and multiplicative edits');
    if (o.headMask && (o.headMask.length !== L || o.headMask.some((r) => r.length !== H))) throw new KilnError(`JoLA: headMask must be (${L}, ${H})`);
    this.layers = this.registerModule('layers', new ModuleList(engine, Array.from({ length: L }, (_, l) => new HeadEdit(engine, H, headDim, o, o.headMask?.[l] ?? null))));
    const gated = o.gates === 'hardConcrete';
    // xavier_uniform_ on each layer's (H, 1) tensor: U(±√(6 / (H + 1))), gates about half open at the start.
    const bound = Math.sqrt(6 / (H + 1));
    const logAlpha = () => engine.rand([L, H, 1], { low: -bound, high: bound });
    this.logAlphaA = o.additive && gated ? this.registerParameter('log_alpha_a', logAlpha()) : null;
    this.logAlphaM = o.multiplicative && gated ? this.registerParameter('log_alpha_m', logAlpha()) : null;
  }

  /** (L, H, 1) gates of one kind: sampled in training mode (one draw per gate), deterministic in eval mode. */
  private gates(kind: GateKind): Tensor | null {
    const la = kind === 'additive' ? this.logAlphaA : this.logAlphaM;
    if (!la) return null;
    return this.training ? hardConcreteSample(la, this.options.hardConcrete, this.fixedNoise ?? undefined) : hardConcreteEval(la, this.options.hardConcrete);
  }

  /** The edited head outputs of layer `l`: z (B, T, H, Dh) -> (B, T, H, Dh). */
  edit(l: number, z: Tensor): Tensor {
    // One set of gates per forward pass, shared by the batch, the positions and (sliced) the layers:
    // drawn when layer 0 runs, which starts every forward.
    for (const kind of ['additive', 'multiplicative'] as const) {
      const c = this.current[kind];
      if (l === 0 || !c || c.disposed) {
        const g = this.gates(kind);
        if (g) this.current[kind] = g;
      }
    }
    const e = this.layers.at(l);
    const scaled = (t: Tensor, kind: GateKind): Tensor => {
      // (H, Dh) · (H, 1) gate · (H, 1) mask.
      let g: Tensor | null = this.current[kind] && (kind === 'additive' ? this.logAlphaA : this.logAlphaM) ? this.current[kind]!.select(0, l) : null;
      if (e.mask) g = g ? g.mul(e.mask) : e.mask;
      return g ? t.mul(g) : t;
    };
    let out = z;
    if (e.m) out = out.mul(scaled(e.m, 'multiplicative').add(1)); // (1 + g_m·m) ⊙ z
    if (e.a) out = out.add(scaled(e.a, 'additive')); // + g_a·a
    return out;
  }

  /** Register the edit at `layers.i.attn.heads` of `model` for every layer; returns the remover. */
  attachTo(model: Module, site: (l: number) => string = (l) => `layers.${l}.attn.heads`): () => void {
    const removers = this.layers.items.map((_, l) => model.registerHook(site(l), (z) => this.edit(l, z)));
    return () => removers.forEach((r) => r());
  }

  /** The gate parameters in use, (L, H, 1) each. */
  logAlphas(): Tensor[] {
    return [this.logAlphaA, this.logAlphaM].filter((t): t is Tensor => t !== null);
  }

  /** The expected-L0 penalty: mean over every learned gate of P(g ≠ 0) (0-d; zero without gates). */
  penalty(): Tensor {
    const las = this.logAlphas();
    if (!las.length) return this.engine.zeros([]);
    return this.engine.tidy(() => {
      const ps = las.map((la) => hardConcreteOpenProb(la, this.options.hardConcrete).mean());
      return ps.length === 1 ? ps[0] : ps[0].add(ps[1]).div(2); // equal counts per kind: the mean over all gates
    });
  }

  /** Trainable elements (for a head mask, only the unmasked heads' vectors). */
  numTrainable(): number {
    const { nHeads, headDim } = this.shape;
    let n = 0;
    this.layers.items.forEach((e, l) => {
      const open = this.options.headMask ? this.options.headMask[l].reduce((a, v) => a + (v ? 1 : 0), 0) : nHeads;
      if (e.a) n += open * headDim;
      if (e.m) n += open * headDim;
    });
    return n + this.logAlphas().reduce((a, t) => a + t.size, 0);
  }

  /** Per layer and head: P(open) and the deterministic gate value of each gate kind (null where absent). */
  async gateStats(): Promise<{ openProb: Record<GateKind, number[][] | null>; evalGate: Record<GateKind, number[][] | null> }> {
    const { nLayers: L, nHeads: H } = this.shape;
    const read = async (la: Tensor | null, f: (t: Tensor) => Tensor) => {
      if (!la) return null;
      const t = this.engine.noGrad(() => this.engine.tidy(() => f(la))); // (L, H, 1)
      const v = Array.from(await t.data());
      t.dispose();
      return Array.from({ length: L }, (_, l) => v.slice(l * H, (l + 1) * H));
    };
    const hc = this.options.hardConcrete;
    const p = (t: Tensor) => hardConcreteOpenProb(t, hc), g = (t: Tensor) => hardConcreteEval(t, hc);
    return {
      openProb: { additive: await read(this.logAlphaA, p), multiplicative: await read(this.logAlphaM, p) },
      evalGate: { additive: await read(this.logAlphaA, g), multiplicative: await read(this.logAlphaM, g) },
    };
  }
}
