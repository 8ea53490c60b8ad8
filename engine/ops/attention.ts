// Fused scaled-dot-product attention (FlashAttention-2 forward, three-kernel backward without
// atomics): one autograd node whose backward runs shaders/attention_bwd_*.wgsl.
//   q (B, H, Tq, D), k and v (B, H, Tk, D) -> O (B, H, Tq, D), D <= 128.
// q, k, v and the output gradient are read through their strides (any layout whose feature dim is
// contiguous, e.g. the (B, T, H, D) -> (B, H, T, D) permuted view multi-head attention makes); other
// layouts are copied first. Outputs and gradients are contiguous.
import { record } from '../autograd.js';
import type { DType } from '../dtype.js';
import { DTypeError, RangeArgumentError, ShapeError, fmtShape } from '../errors.js';
import { Params } from '../params.js';
import type { WgslScalar } from '../shaders.js';
import type { Tensor } from '../tensor.js';
import { empty, grid1d, gridRows, requireFloat } from './util.js';

export interface FlashAttentionOptions {
  /** Causal masking aligned bottom-right: query i of Tq sees key j of Tk iff j <= i + (Tk - Tq). */
  causal?: boolean;
  /**
   * Broadcastable to (B, H, Tq, Tk), any strides. i32/u32: non-zero = may attend. f32/f16: added to
   * the scores.
   */
  mask?: Tensor | null;
  /** Score scale (default 1 / sqrt(D)). */
  scale?: number;
}

/** Tile sizes (WGSL override constants); `setFlashAttentionTiles` changes them, for tuning. */
export interface FlashAttentionTiles {
  /** Query rows per workgroup in the forward and dQ kernels (one per invocation). */
  queryRows: number;
  /** Key rows per workgroup in the dK/dV kernel. */
  keyRows: number;
  /** Keys (forward, dQ) or queries (dK/dV) per tile staged in workgroup memory, before the memory cap. */
  stage: number;
  /**
   * Query rows each forward invocation owns (1, 2 or 4), so each staged key and value element
   * loaded feeds that many rows; 0 chooses by adapter and length: on software adapters the most
   * that keep a workgroup's rows within Tq, on GPUs 1 (their registers are the scarce resource).
   */
  forwardRows: number;
}

let tiles: FlashAttentionTiles = { queryRows: 64, keyRows: 64, stage: 16, forwardRows: 0 };
/** Head dims up to 4x this compile with constant feature-loop bounds (faster; slow to compile above). */
const fixedD4 = 16;

/** Set tile sizes (powers of two); returns the previous ones. */
export function setFlashAttentionTiles(t: Partial<FlashAttentionTiles>): FlashAttentionTiles {
  const prev = tiles;
  const next = { ...tiles, ...t };
  for (const [name, v] of Object.entries(next)) {
    if (name === 'forwardRows') {
      if (![0, 1, 2, 4].includes(v)) throw new RangeArgumentError(`setFlashAttentionTiles: forwardRows must be 0 (by adapter), 1, 2 or 4, got ${v}`);
      continue;
    }
    // The forward kernel reads staged keys 8 at a time, so a stage holds at least 8.
    const [lo, hi] = name === 'stage' ? [8, 64] : [1, 256];
    if (!Number.isInteger(v) || v < lo || (v & (v - 1)) !== 0 || v > hi) {
      throw new RangeArgumentError(`setFlashAttentionTiles: ${name} must be a power of two in [${lo}, ${hi}], got ${v}`);
    }
  }
  tiles = next;
  return prev;
}

/** The largest head dim the kernels handle (their register arrays hold 32 vec4). */
export const FLASH_ATTENTION_MAX_DIM = 128;

/** The masked-score value of the composed path, so a fully masked row is uniform there and here. */
function fillValue(dtype: DType): number {
  return dtype === 'f16' ? -6e4 : -1e30;
}

/** A handle whose feature dim is contiguous (a copy only when needed) and its (offset, sB, sH, sT). */
function rows(t: Tensor): { t: Tensor; copied: boolean; words: number[] } {
  let u = t;
  let copied = false;
  if (t.shape[3] > 1 && t.strides[3] !== 1) {
    u = t.engine.noGrad(() => t.contiguous());
    copied = true;
  }
  return { t: u, copied, words: [u.offset, u.strides[0], u.strides[1], u.strides[2]] };
}

/**
 * softmax(q k^T * scale + mask) v as one fused kernel, with gradients for q, k and v through fused
 * backward kernels. Masked scores (causal, integer mask == 0) get the same large finite negative as
 * the composed path, so a fully masked row attends uniformly instead of producing NaN.
 */
export function flashAttention(q: Tensor, k: Tensor, v: Tensor, options: FlashAttentionOptions = {}): Tensor {
  const op = 'flashAttention';
  const mask = options.mask ?? null;
  q.assertLive(op, k, v, mask);
  requireFloat(op, q, k, v);
  const shapes = `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`;
  if (q.dtype !== k.dtype || q.dtype !== v.dtype) throw new DTypeError(`${op}: q, k, v dtypes differ (${q.dtype}, ${k.dtype}, ${v.dtype}) for ${shapes}`);
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4) throw new ShapeError(`${op}: expected q (B, H, Tq, D), k and v (B, H, Tk, D), got ${shapes}`);
  const [B, H, Tq, D] = q.shape;
  const Tk = k.shape[2];
  if (k.shape[0] !== B || k.shape[1] !== H || k.shape[3] !== D || v.shape[0] !== B || v.shape[1] !== H || v.shape[2] !== Tk || v.shape[3] !== D) {
    throw new ShapeError(`${op}: k and v must be (B, H, Tk, D) = (${B}, ${H}, Tk, ${D}) with the same Tk as each other, got ${shapes}`);
  }
  if (D < 1 || D > FLASH_ATTENTION_MAX_DIM) throw new ShapeError(`${op}: head dim ${D} is outside [1, ${FLASH_ATTENTION_MAX_DIM}] (${shapes})`);
  if (Tk < 1) throw new ShapeError(`${op}: there are no keys (${shapes})`);
  const causal = !!options.causal;
  if (causal && Tq > Tk) throw new ShapeError(`${op}: causal attention needs Tq <= Tk, got ${shapes}`);
  const scale = options.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new RangeArgumentError(`${op}: scale must be finite, got ${scale} (${shapes})`);

  // Mask: mode 1 keep (integer), 2 additive (float); strides over the broadcast (B, H, Tq, Tk).
  let maskMode = 0;
  let maskType: WgslScalar = 'u32';
  let maskWords = [0, 0, 0, 0, 0];
  if (mask) {
    if (mask.dtype === 'f16' || mask.dtype === 'f32') maskMode = 2;
    else maskMode = 1;
    maskType = mask.dtype;
    const target = [B, H, Tq, Tk];
    if (mask.ndim > 4) throw new ShapeError(`${op}: mask ${fmtShape(mask.shape)} does not broadcast to (B, H, Tq, Tk) = ${fmtShape(target)}`);
    const st = target.map((n, d) => {
      const md = d - (4 - mask.ndim);
      if (md < 0) return 0;
      const m = mask.shape[md];
      if (m === n) return n === 1 ? 0 : mask.strides[md];
      if (m === 1) return 0;
      throw new ShapeError(`${op}: mask ${fmtShape(mask.shape)} does not broadcast to (B, H, Tq, Tk) = ${fmtShape(target)}`);
    });
    maskWords = [mask.offset, ...st];
  }

  const engine = q.engine;
  const fill = fillValue(q.dtype);
  const skip = causal && maskMode !== 1; // no row can be fully masked, so skipped tiles hold only zeros of P
  const d4 = Math.ceil(D / 4);
  const stageCap = engine.caps.limits.maxComputeWorkgroupStorageSize || 16384;
  // Two staged tiles of `stage` rows of d4 vec4<f32> (plus three f32 per row in the dK/dV kernel).
  // 8 rows always fit: 2 * 8 * (32 * 16 + 8) bytes at D = 128 is far below WebGPU's 16 KiB minimum.
  let stage = tiles.stage;
  while (stage > 8 && 2 * stage * (d4 * 16 + 8) > stageCap) stage /= 2;
  // Two workgroup sizes per kernel at most (each is a pipeline to compile): 16 for short sequences.
  // On software adapters "short" reaches 128: with 16-row workgroups a (32, 4, 44, 16) causal
  // forward + backward took 20-25 ms of kernels against 57 ms with 64 rows, (16, 4, 64, 16) 15 vs
  // 43 ms (lavapipe, min of 7; 64-row workgroups leave lanes idle past Tq and stage more per barrier).
  const short = engine.caps.isSoftware ? 128 : 16;
  const qRows = Tq <= short ? Math.min(16, tiles.queryRows) : tiles.queryRows;
  const kRows = Tk <= short ? Math.min(16, tiles.keyRows) : tiles.keyRows;
  // Constant feature-loop bounds run faster but take lavapipe seconds to compile: only for big problems.
  const fixed = d4 <= fixedD4 && B * H * Tq * Tk >= 1 << 16;
  const constants = { D4: d4, FIXED_D: fixed, CAUSAL: causal, SKIP: skip, MASK_MODE: maskMode };
  const types = { T: q.dtype as WgslScalar, M: maskType };

  const qr = rows(q);
  const kr = rows(k);
  const vr = rows(v);
  const head = () =>
    new Params()
      .u32(B).u32(H).u32(Tq).u32(Tk)
      .u32(D).u32(Tk - Tq).f32(scale).f32(fill);
  const common = (p: Params) => {
    for (const w of [...qr.words, ...kr.words, ...vr.words, ...maskWords]) p.u32(w);
    return p;
  };

  const out = empty(engine, [B, H, Tq, D], q.dtype);
  const stats = empty(engine, [B, H, Tq, 2], 'f32'); // per row: max m, log of the sum l
  // On a software adapter every row per invocation past the first reuses each staged element it
  // loads (2.1x at T=512 on lavapipe with 4), but a workgroup's qRows * R rows should not outnumber
  // the sequence's, or lanes idle: measured best R was 1 at T=64, 2 at 128 and 4 from 256 up.
  const autoRows = engine.caps.isSoftware ? ([4, 2].find((r) => qRows * r <= Tq) ?? 1) : 1;
  const forwardRows = tiles.forwardRows || autoRows;
  const fwdTiles = Math.ceil(Tq / (qRows * forwardRows));
  if (B * H * fwdTiles > 0) {
    engine.run({
      shader: 'attention',
      types,
      constants: { ...constants, WG: qRows, BK: stage, R: forwardRows },
      params: common(head()).u32(fwdTiles).finish(),
      buffers: [qr.t.storage.buffer, kr.t.storage.buffer, vr.t.storage.buffer, (mask ?? qr.t).storage.buffer, out.storage.buffer, stats.storage.buffer],
      grid: gridRows(engine, B * H * fwdTiles),
    });
  }

  const saved = [qr.t, kr.t, vr.t, out, stats, ...(mask ? [mask] : [])];
  const result = record(engine, op, [q, k, v], out, saved, (g, [qs, ks, vs, os, ss, ms]) => {
    const gr = rows(g);
    const needQ = q.requiresGrad;
    const needKV = k.requiresGrad || v.requiresGrad;
    const common2 = (p: Params) => {
      for (const w of [qs.offset, qs.strides[0], qs.strides[1], qs.strides[2], ks.offset, ks.strides[0], ks.strides[1], ks.strides[2],
        vs.offset, vs.strides[0], vs.strides[1], vs.strides[2], ...maskWords]) p.u32(w);
      return p;
    };
    const maskBuf = (ms ?? qs).storage.buffer;
    // Dr = rowsum(dO * O), once per query row.
    const dr = empty(engine, [B, H, Tq], 'f32');
    const nRows = B * H * Tq;
    if (nRows > 0) {
      engine.run({
        shader: 'attentionBwdPre',
        types: { T: q.dtype as WgslScalar },
        constants: { WG: 64 },
        params: new Params().u32(B).u32(H).u32(Tq).u32(D).u32(gr.words[0]).u32(gr.words[1]).u32(gr.words[2]).u32(gr.words[3]).finish(),
        buffers: [os.storage.buffer, gr.t.storage.buffer, dr.storage.buffer],
        grid: grid1d(engine, nRows, 64),
      });
    }
    let dq: Tensor | null = null;
    if (needQ) {
      dq = empty(engine, [B, H, Tq, D], q.dtype);
      const qTiles = Math.ceil(Tq / qRows); // one query row per dQ invocation
      const groups = B * H * qTiles;
      if (groups > 0) {
        engine.run({
          shader: 'attentionBwdDq',
          types,
          constants: { ...constants, WG: qRows, BK: stage },
          params: common2(head()).u32(qTiles).u32(gr.words[0]).u32(gr.words[1]).u32(gr.words[2]).u32(gr.words[3]).finish(),
          buffers: [qs.storage.buffer, ks.storage.buffer, vs.storage.buffer, maskBuf, gr.t.storage.buffer, ss.storage.buffer, dr.storage.buffer, dq.storage.buffer],
          grid: gridRows(engine, groups),
        });
      }
    }
    let dk: Tensor | null = null;
    let dv: Tensor | null = null;
    if (needKV) {
      const n = B * H * Tk * D;
      const dkv = empty(engine, [2, B, H, Tk, D], q.dtype); // dK then dV: one binding for both
      const kTiles = Math.ceil(Tk / kRows);
      const kGroups = B * H * kTiles;
      if (kGroups > 0) {
        engine.run({
          shader: 'attentionBwdDkv',
          types,
          constants: { ...constants, WG: kRows, BQ: stage },
          params: common2(head()).u32(kTiles).u32(gr.words[0]).u32(gr.words[1]).u32(gr.words[2]).u32(gr.words[3]).u32(n).finish(),
          buffers: [qs.storage.buffer, ks.storage.buffer, vs.storage.buffer, maskBuf, gr.t.storage.buffer, ss.storage.buffer, dr.storage.buffer, dkv.storage.buffer],
          grid: gridRows(engine, kGroups),
        });
      }
      dk = dkv.view_([B, H, Tk, D], dkv.strides.slice(1), 0);
      dv = dkv.view_([B, H, Tk, D], dkv.strides.slice(1), n);
      dkv.dispose();
    }
    dr.dispose();
    if (gr.copied) gr.t.dispose();
    // Nodes without a rule: the fused backward has no second derivative.
    const bw = (t: Tensor | null) => (t ? record(engine, `${op}Backward`, [g, qs, ks, vs], t, [], null) : null);
    return [bw(dq), bw(dk), bw(dv)];
  });
  if (qr.copied) qr.t.dispose();
  if (kr.copied) kr.t.dispose();
  if (vr.copied) vr.t.dispose();
  stats.dispose();
  return result;
}
