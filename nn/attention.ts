// Attention: the scaled-dot-product core (one swappable function), rotary positions, a KV cache for
// incremental decoding, and MultiheadAttention (self / cross, causal and padding masks) with the
// `heads` hook site. The core runs the engine's fused kernel where it applies and the composed ops
// otherwise (or always, with setAttentionImplementation('composed')).
import { dropout, flashAttention, FLASH_ATTENTION_MAX_DIM, fmtShape, KilnError, RangeArgumentError, ShapeError, type DType, type Engine, type Tensor } from '../engine/index.js';
import { Linear } from './layers.js';
import { Module } from './module.js';

export interface AttentionOptions {
  /**
   * Causal masking, aligned bottom-right: query i (of Tq) sees key j (of Tk) iff j <= i + (Tk - Tq).
   * With Tq == Tk that is the usual lower triangle; with a KV cache it puts the new queries after
   * the cached keys.
   */
  causal?: boolean;
  /**
   * Broadcastable to (B, H, Tq, Tk). Integer dtypes (u32/i32, as engine comparisons return): non-zero
   * = may attend (PyTorch's boolean attn_mask convention). Float dtypes: added to the scores.
   */
  mask?: Tensor | null;
  /** Score scale (default 1/sqrt(Dh)). */
  scale?: number;
  /** Dropout on the attention probabilities (only when `training`). */
  dropoutP?: number;
  training?: boolean;
}

export type AttentionFn = (q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions) => Tensor;

/** A score no softmax can pick, yet finite, so a fully masked row is uniform rather than NaN. */
function maskedScore(dtype: DType): number {
  return dtype === 'f16' ? -6e4 : -1e30;
}

/** (Tq, Tk) u32 keep-mask of bottom-right aligned causal attention. */
export function causalMask(engine: Engine, tq: number, tk: number): Tensor {
  return engine.noGrad(() => {
    const rows = engine.arange(tk - tq, tk).reshape([tq, 1]); // absolute position of each query
    const cols = engine.arange(tk).reshape([1, tk]);
    const keep = cols.le(rows); // (Tq, Tk)
    rows.dispose();
    cols.dispose();
    return keep;
  });
}

/**
 * softmax(q k^T * scale + mask) v, composed from engine ops: the reference and the fallback of the
 * fused kernel.
 * q (B, H, Tq, Dh), k (B, H, Tk, Dh), v (B, H, Tk, Dv) -> (B, H, Tq, Dv). Leading dims may be any
 * batch shape that broadcasts.
 */
export function composedAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  if (q.ndim < 2 || k.ndim !== q.ndim || v.ndim !== q.ndim || q.shape[q.ndim - 1] !== k.shape[k.ndim - 1] || k.shape[k.ndim - 2] !== v.shape[v.ndim - 2]) {
    throw new ShapeError(`scaledDotProductAttention: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)} do not fit (..., Tq, Dh), (..., Tk, Dh), (..., Tk, Dv)`);
  }
  const tq = q.shape[q.ndim - 2];
  const tk = k.shape[k.ndim - 2];
  if (options.causal && tq > tk) throw new ShapeError(`scaledDotProductAttention: causal attention needs Tq <= Tk, got q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}`);
  let p = probabilities(q, k, options, tq, tk); // (..., Tq, Tk)
  if (options.dropoutP && options.training) {
    const d = dropout(p, options.dropoutP, true);
    p.dispose();
    p = d;
  }
  const out = p.matmul(v); // (..., Tq, Dv)
  p.dispose();
  return out;
}

/**
 * The attention probabilities softmax(q k^T * scale + mask) of composedAttention (no dropout):
 * q (..., Tq, Dh), k (..., Tk, Dh) -> (..., Tq, Tk). What the `weights` hook site of
 * MultiheadAttention hands out.
 */
export function attentionProbabilities(q: Tensor, k: Tensor, options: Pick<AttentionOptions, 'causal' | 'mask' | 'scale'> = {}): Tensor {
  if (q.ndim < 2 || k.ndim !== q.ndim || q.shape[q.ndim - 1] !== k.shape[k.ndim - 1]) {
    throw new ShapeError(`attentionProbabilities: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)} do not fit (..., Tq, Dh), (..., Tk, Dh)`);
  }
  const tq = q.shape[q.ndim - 2];
  const tk = k.shape[k.ndim - 2];
  if (options.causal && tq > tk) throw new ShapeError(`attentionProbabilities: causal attention needs Tq <= Tk, got q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}`);
  return probabilities(q, k, options, tq, tk);
}

/** softmax(q k^T * scale + mask) over the last axis, no checks: composedAttention's and attentionProbabilities' one path. */
function probabilities(q: Tensor, k: Tensor, options: Pick<AttentionOptions, 'causal' | 'mask' | 'scale'>, tq: number, tk: number): Tensor {
  const engine = q.engine;
  return engine.tidy(() => {
    const scale = options.scale ?? 1 / Math.sqrt(q.shape[q.ndim - 1]);
    let s = q.mul(scale).matmul(k.mT); // (..., Tq, Tk)
    const fill = maskedScore(s.dtype);
    if (options.causal) s = s.where(causalMask(engine, tq, tk), fill);
    const mask = options.mask;
    if (mask) s = mask.dtype === 'f32' || mask.dtype === 'f16' ? s.add(mask) : s.where(mask, fill);
    return s.softmax(-1);
  });
}

/**
 * (1, H, 1, Tk) u32 keep-mask that stops the listed heads from attending to keys
 * [keyStart, keyStart + keyCount) and leaves every other head and key alone: the per-head ablation
 * of attention to a span (e.g. a prefix), for AttentionOptions.mask / attnMask. The masked heads
 * renormalise over their remaining keys.
 */
export function headKeyMask(engine: Engine, o: { numHeads: number; heads: readonly number[]; keyCount: number; keyStart?: number; tk: number }): Tensor {
  const start = o.keyStart ?? 0;
  if (start < 0 || o.keyCount < 0 || start + o.keyCount > o.tk) throw new RangeArgumentError(`headKeyMask: keys [${start}, ${start + o.keyCount}) are outside [0, ${o.tk})`);
  const keep = new Uint32Array(o.numHeads * o.tk).fill(1);
  for (const h of o.heads) {
    if (!Number.isInteger(h) || h < 0 || h >= o.numHeads) throw new RangeArgumentError(`headKeyMask: head ${h} is outside [0, ${o.numHeads})`);
    for (let j = start; j < start + o.keyCount; j++) keep[h * o.tk + j] = 0;
  }
  return engine.tensor(keep, [1, o.numHeads, 1, o.tk], { dtype: 'u32' });
}

/** True where the fused kernel computes exactly what composedAttention would. */
function fusedApplies(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions): boolean {
  const floatOk = (t: Tensor) => t.dtype === 'f32' || t.dtype === 'f16';
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4 || !floatOk(q) || q.dtype !== k.dtype || q.dtype !== v.dtype) return false;
  const [b, h, tq, d] = q.shape;
  const tk = k.shape[2];
  if (d < 1 || d > FLASH_ATTENTION_MAX_DIM || tk < 1) return false;
  for (const t of [k, v]) if (t.shape[0] !== b || t.shape[1] !== h || t.shape[3] !== d) return false;
  if (v.shape[2] !== tk) return false;
  if (options.causal && tq > tk) return false; // composed throws the readable error
  if (options.dropoutP && options.training) return false; // the kernel has no dropout
  const m = options.mask;
  if (m) {
    if (m.ndim > 4) return false;
    // A float mask of another precision would be added differently than the composed path adds it.
    if ((m.dtype === 'f32' || m.dtype === 'f16') && m.dtype !== q.dtype) return false;
    const target = [b, h, tq, tk];
    for (let i = 0; i < m.ndim; i++) {
      const n = target[4 - m.ndim + i];
      if (m.shape[i] !== n && m.shape[i] !== 1) return false;
    }
  }
  return true;
}

/**
 * The fused kernel (engine flashAttention: one pass with an online softmax, fused backward) where it
 * applies (4-d f32/f16 q, k, v with the same (B, H), head dim <= 128, no dropout while training);
 * composedAttention otherwise.
 */
export function fusedAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  if (!fusedApplies(q, k, v, options)) return composedAttention(q, k, v, options);
  return flashAttention(q, k, v, { causal: options.causal, mask: options.mask, scale: options.scale });
}

export type AttentionMode = 'fused' | 'composed';
let mode: AttentionMode = 'fused';

/**
 * softmax(q k^T * scale + mask) v. q (B, H, Tq, Dh), k (B, H, Tk, Dh), v (B, H, Tk, Dv) ->
 * (B, H, Tq, Dv). Runs the fused kernel where it applies (the default) or the composed ops, as set
 * by setAttentionImplementation('fused' | 'composed'); the composed path also takes any broadcasting
 * leading batch shape and Dv != Dh.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  return mode === 'fused' ? fusedAttention(q, k, v, options) : composedAttention(q, k, v, options);
}

let attentionImpl: AttentionFn = scaledDotProductAttention;

/**
 * Choose the attention core of scaledDotProductAttention and every MultiheadAttention: 'fused' (the
 * default), 'composed' (the reference), or a function with the same contract used by
 * MultiheadAttention. Returns the previous setting, which can be passed back to restore it.
 */
export function setAttentionImplementation(impl: AttentionFn | AttentionMode): AttentionFn | AttentionMode {
  const prev: AttentionFn | AttentionMode = attentionImpl === scaledDotProductAttention ? mode : attentionImpl;
  if (impl === 'fused' || impl === 'composed') {
    mode = impl;
    attentionImpl = scaledDotProductAttention;
  } else attentionImpl = impl;
  return prev;
}

/** The attention core MultiheadAttention currently uses. */
export function attentionImplementation(): AttentionFn {
  return attentionImpl;
}

// ------------------------------------------------------------------ rotary positions

/**
 * Rotary position embedding (Su et al. 2021) in the rotate-half layout (GPT-NeoX, LLaMA): feature i
 * and i + Dh/2 form a pair rotated by angle pos * base^(-2i/Dh). cos/sin tables for positions
 * [0, maxSeqLen) are computed once in float64 on the host. Not a Module: the tables are derived
 * state, kept out of state dicts; the owner disposes it.
 */
export class RotaryEmbedding {
  /** (maxSeqLen, Dh): cos of each pair's angle, repeated for both halves. */
  readonly cos: Tensor;
  /** (maxSeqLen, Dh): -sin for the first half, +sin for the second (the sign of rotate-half folded in). */
  readonly sin: Tensor;

  constructor(
    readonly engine: Engine,
    readonly headDim: number,
    readonly maxSeqLen: number,
    readonly base = 10000,
  ) {
    if (headDim % 2 !== 0) throw new RangeArgumentError(`RotaryEmbedding: the head dim must be even, got ${headDim}`);
    const half = headDim / 2;
    const c = new Float32Array(maxSeqLen * headDim);
    const s = new Float32Array(maxSeqLen * headDim);
    for (let p = 0; p < maxSeqLen; p++) {
      for (let i = 0; i < half; i++) {
        const a = p * Math.pow(base, (-2 * i) / headDim);
        c[p * headDim + i] = c[p * headDim + half + i] = Math.cos(a);
        s[p * headDim + i] = -Math.sin(a);
        s[p * headDim + half + i] = Math.sin(a);
      }
    }
    this.cos = engine.keep(engine.tensor(c, [maxSeqLen, headDim]));
    this.sin = engine.keep(engine.tensor(s, [maxSeqLen, headDim]));
  }

  /** Rotate x (..., T, Dh) whose rows sit at positions offset, offset + 1, …: same shape. */
  apply(x: Tensor, offset = 0): Tensor {
    const t = x.shape[x.ndim - 2];
    if (x.shape[x.ndim - 1] !== this.headDim) throw new ShapeError(`RotaryEmbedding: expected (..., T, ${this.headDim}), got ${fmtShape(x.shape)}`);
    if (offset + t > this.maxSeqLen) throw new RangeArgumentError(`RotaryEmbedding: positions up to ${offset + t} exceed maxSeqLen ${this.maxSeqLen}`);
    const half = this.headDim / 2;
    const cos = this.cos.narrow(0, offset, t); // (T, Dh)
    const sin = this.sin.narrow(0, offset, t);
    // x*cos + [x2, x1]*[-sin, sin]  ==  x*cos + rotate_half(x)*sin
    const x1 = x.narrow(-1, 0, half);
    const x2 = x.narrow(-1, half, half);
    const swapped = x2.engine.cat([x2, x1], -1);
    const a = x.mul(cos);
    const b = swapped.mul(sin);
    const out = a.add(b);
    for (const u of [cos, sin, x1, x2, swapped, a, b]) u.dispose();
    return out;
  }

  dispose(): void {
    this.cos.dispose();
    this.sin.dispose();
  }
}

// ------------------------------------------------------------------ KV cache

/**
 * Keys and values of one attention layer for incremental decoding, preallocated as
 * (B, H, maxLen, Dh) and filled in place. For cross-attention it holds the projected context once.
 * Inference only: cached keys carry no autograd history from earlier steps.
 */
export class AttentionCache {
  k: Tensor | null = null;
  v: Tensor | null = null;
  /** Positions filled so far. */
  length = 0;

  constructor(readonly maxLen: number) {}

  /** Append k, v (B, H, T, Dh); returns views of all keys and values so far (B, H, length, Dh). */
  append(k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const engine = k.engine;
    const [b, h, t, dh] = k.shape;
    if (!this.k || !this.v) {
      this.k = engine.keep(engine.zeros([b, h, this.maxLen, dh], { dtype: k.dtype }));
      this.v = engine.keep(engine.zeros([b, h, this.maxLen, v.shape[3]], { dtype: v.dtype }));
    }
    if (this.k.shape[0] !== b || this.k.shape[1] !== h || this.k.shape[3] !== dh) {
      throw new ShapeError(`AttentionCache: keys ${fmtShape(k.shape)} do not fit the cache ${fmtShape(this.k.shape)}`);
    }
    if (this.length + t > this.maxLen) throw new RangeArgumentError(`AttentionCache: ${this.length} + ${t} positions exceed maxLen ${this.maxLen}`);
    const start = this.length;
    engine.noGrad(() => {
      const kd = this.k!.narrow(2, start, t);
      const vd = this.v!.narrow(2, start, t);
      kd.copy_(k);
      vd.copy_(v);
      kd.dispose();
      vd.dispose();
    });
    this.length += t;
    const kAll = this.k.narrow(2, 0, this.length);
    const vAll = this.v.narrow(2, 0, this.length);
    if (engine.gradEnabled && (k.requiresGrad || v.requiresGrad)) {
      // Keep the current step differentiable: the cached past (no history) joined with the new k, v.
      const kPast = kAll.narrow(2, 0, start);
      const vPast = vAll.narrow(2, 0, start);
      // (narrow of the whole of k is a recorded view: a handle of its own the caller may dispose)
      const kj = start > 0 ? engine.cat([kPast, k], 2) : k.narrow(2, 0, t);
      const vj = start > 0 ? engine.cat([vPast, v], 2) : v.narrow(2, 0, t);
      for (const u of [kAll, vAll, kPast, vPast]) u.dispose();
      return { k: kj, v: vj };
    }
    return { k: kAll, v: vAll };
  }

  /** Store the projected context of cross-attention (computed once per sequence). */
  setStatic(k: Tensor, v: Tensor): void {
    this.dispose();
    this.k = k.engine.keep(k.detach());
    this.v = v.engine.keep(v.detach());
    this.length = k.shape[2];
  }

  reset(): void {
    this.length = 0;
  }

  dispose(): void {
    this.k?.dispose();
    this.v?.dispose();
    this.k = this.v = null;
    this.length = 0;
  }
}

// ------------------------------------------------------------------ multi-head attention

export interface MultiheadAttentionOptions {
  bias?: boolean;
  /** Dropout on the attention probabilities (training only). */
  dropout?: number;
  /** Feature size of the keys / values source for cross-attention (default: dim). */
  kdim?: number;
  vdim?: number;
  /**
   * Rotary positions on q and k: a shared table, or true to own one (needs maxSeqLen). Off by
   * default. Applied to self-attention only.
   */
  rotary?: RotaryEmbedding | boolean;
  maxSeqLen?: number;
  ropeBase?: number;
}

export interface AttentionForwardOptions {
  /** Keys / values source (B, S, kdim) for cross-attention; self-attention when absent. */
  context?: Tensor | null;
  causal?: boolean;
  /** (B, Tk), non-zero = padding (ignored), as PyTorch's key_padding_mask. */
  keyPaddingMask?: Tensor | null;
  /** Extra mask for the core, broadcastable to (B, H, Tq, Tk) (see AttentionOptions.mask). */
  attnMask?: Tensor | null;
  /** Incremental decoding state for this layer. */
  cache?: AttentionCache | null;
  /** Position of the first query (rotary); default the cache length, or 0. */
  offset?: number;
}

/**
 * Multi-head attention with separate q/k/v projections and an output projection. Hook sites `heads`:
 * the per-head output before the output projection, (B, T, H, Dh); `weights`: the attention
 * probabilities (B, H, T, Tk), computed (by the composed ops) only while a hook is registered there.
 */
export class MultiheadAttention extends Module {
  readonly headDim: number;
  readonly qProj: Linear;
  readonly kProj: Linear;
  readonly vProj: Linear;
  readonly outProj: Linear;
  readonly rope: RotaryEmbedding | null;
  private readonly ownsRope: boolean;
  readonly dropoutP: number;

  constructor(
    engine: Engine,
    readonly dim: number,
    readonly numHeads: number,
    options: MultiheadAttentionOptions = {},
  ) {
    super(engine);
    if (dim % numHeads !== 0) throw new RangeArgumentError(`MultiheadAttention: dim ${dim} is not divisible by numHeads ${numHeads}`);
    this.headDim = dim / numHeads;
    const bias = options.bias ?? true;
    this.qProj = this.registerModule('qProj', new Linear(engine, dim, dim, { bias }));
    this.kProj = this.registerModule('kProj', new Linear(engine, options.kdim ?? dim, dim, { bias }));
    this.vProj = this.registerModule('vProj', new Linear(engine, options.vdim ?? dim, dim, { bias }));
    this.outProj = this.registerModule('outProj', new Linear(engine, dim, dim, { bias }));
    this.dropoutP = options.dropout ?? 0;
    if (options.rotary instanceof RotaryEmbedding) {
      this.rope = options.rotary;
      this.ownsRope = false;
    } else if (options.rotary) {
      if (!options.maxSeqLen) throw new KilnError('MultiheadAttention: rotary: true needs maxSeqLen');
      this.rope = new RotaryEmbedding(engine, this.headDim, options.maxSeqLen, options.ropeBase);
      this.ownsRope = true;
    } else {
      this.rope = null;
      this.ownsRope = false;
    }
  }

  /** (B, T, dim) -> (B, H, T, Dh) */
  private splitHeads(x: Tensor): Tensor {
    const [b, t] = x.shape;
    const r = x.reshape([b, t, this.numHeads, this.headDim]); // (B, T, H, Dh)
    const p = r.permute(0, 2, 1, 3); // (B, H, T, Dh)
    r.dispose();
    return p;
  }

  /** x (B, T, dim) -> (B, T, dim). */
  forward(x: Tensor, options: AttentionForwardOptions = {}): Tensor {
    if (x.ndim !== 3 || x.shape[2] !== this.dim) throw new ShapeError(`MultiheadAttention: expected x (B, T, ${this.dim}), got ${fmtShape(x.shape)}`);
    const [b, t] = x.shape;
    const cache = options.cache ?? null;
    const cross = !!options.context;
    const offset = options.offset ?? (cache && !cross ? cache.length : 0);

    const qp = this.qProj.forward(x);
    let q = this.splitHeads(qp); // (B, H, T, Dh)
    qp.dispose();
    let k: Tensor;
    let v: Tensor;
    if (cross) {
      if (cache && cache.k && cache.v && cache.length > 0) {
        // The context was projected on the first step.
        k = cache.k.narrow(2, 0, cache.length);
        v = cache.v.narrow(2, 0, cache.length);
      } else {
        const ctx = options.context!;
        const kp = this.kProj.forward(ctx);
        const vp = this.vProj.forward(ctx);
        k = this.splitHeads(kp); // (B, H, S, Dh)
        v = this.splitHeads(vp);
        kp.dispose();
        vp.dispose();
        if (cache) cache.setStatic(k, v);
      }
    } else {
      const kp = this.kProj.forward(x);
      const vp = this.vProj.forward(x);
      k = this.splitHeads(kp); // (B, H, T, Dh)
      v = this.splitHeads(vp);
      kp.dispose();
      vp.dispose();
      if (this.rope) {
        const qr = this.rope.apply(q, offset);
        const kr = this.rope.apply(k, offset);
        q.dispose();
        k.dispose();
        q = qr;
        k = kr;
      }
      if (cache) {
        const all = cache.append(k, v); // (B, H, offset + T, Dh)
        k.dispose();
        v.dispose();
        k = all.k;
        v = all.v;
      }
    }
    const tk = k.shape[2];

    let mask: Tensor | null = options.attnMask ?? null;
    let padKeep: Tensor | null = null;
    if (options.keyPaddingMask) {
      const kpm = options.keyPaddingMask;
      if (kpm.ndim !== 2 || kpm.shape[0] !== b || kpm.shape[1] !== tk) {
        throw new ShapeError(`MultiheadAttention: keyPaddingMask ${fmtShape(kpm.shape)} must be (B, Tk) = (${b}, ${tk})`);
      }
      padKeep = this.engine.noGrad(() => {
        const keep = kpm.eq(0); // (B, Tk), 1 = real key
        const r = keep.reshape([b, 1, 1, tk]);
        keep.dispose();
        return r;
      });
      if (mask) {
        // Combine: a float mask adds; an integer one must also keep the key.
        const m = mask.dtype === 'f32' || mask.dtype === 'f16' ? mask.where(padKeep, maskedScore(mask.dtype)) : this.engine.noGrad(() => mask!.ne(0).mul(padKeep!));
        padKeep.dispose();
        padKeep = m;
      }
      mask = padKeep;
    }

    let o: Tensor;
    if (this.hasHook('weights')) {
      // A probe reads (or replaces) the probabilities: composed path for this call only; without a
      // hook training keeps the fused kernel. Dropout is not applied here (probing is evaluation).
      const p = this.site('weights', attentionProbabilities(q, k, { causal: options.causal ?? false, mask })); // (B, H, T, Tk)
      o = p.matmul(v); // (B, H, T, Dh). p not disposed: the hook may hold on to it.
    } else {
      o = attentionImpl(q, k, v, {
        causal: options.causal ?? false,
        mask,
        dropoutP: this.dropoutP,
        training: this.training,
      }); // (B, H, T, Dh)
    }
    for (const u of [q, k, v, padKeep]) u?.dispose();
    // (B, H, T, Dh) -> (B, T, H, Dh). Not disposed here: a hook may hold on to it.
    const heads = this.site('heads', o.permute(0, 2, 1, 3));
    o.dispose();
    const merged = heads.reshape([b, t, this.dim]); // (B, T, H*Dh)
    const y = this.outProj.forward(merged);
    merged.dispose();
    return y;
  }

  override dispose(): void {
    super.dispose();
    if (this.ownsRope) this.rope?.dispose();
  }
}
