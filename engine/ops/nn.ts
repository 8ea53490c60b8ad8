// Neural-network functionals: softmax, logSoftmax, layerNorm, rmsNorm, crossEntropy, dropout.
// The row ops share one layout: the dim (or trailing dims) they work over is made the contiguous last
// dim, one workgroup handles one row, and each is a single autograd node with a fused backward kernel.
import { record } from '../autograd.js';
import { CHECK_CODES } from '../device-checks.js';
import { DTypeError, RangeArgumentError, ShapeError, fmtShape } from '../errors.js';
import { Params } from '../params.js';
import { normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import type { Engine } from '../engine.js';
import { bernoulli } from './creation.js';
import { empty, grid1d, gridRows, requireFloat, requireSameDtype } from './util.js';

/** Workgroup size for rows of `cols` elements: a power of two (the kernels' trees halve it) near cols / 4, in [4, 256]. */
function rowWorkgroup(cols: number): number {
  let wg = 4;
  while (wg < 256 && wg * 4 < cols) wg *= 2;
  return wg;
}

/**
 * The workgroup of a vec4 row kernel (cols % 4 == 0). On software adapters at most 16: there a
 * barrier ends a SIMD batch, so wide workgroups pay for the tree (1024x4096 softmax: WG 256 0.38 GB/s,
 * WG 16 with vec4 2.3).
 */
function rowWorkgroupVec4(engine: Engine, cols: number): number {
  return Math.min(rowWorkgroup(cols / 4), engine.caps.isSoftware ? 16 : 256);
}

/** The permutation that moves dim `d` last, and its inverse. */
function lastPerm(ndim: number, d: number): { perm: number[]; inv: number[] } {
  const perm = [...Array(ndim).keys()].filter((i) => i !== d).concat(d);
  const inv = new Array<number>(ndim);
  perm.forEach((p, i) => (inv[p] = i));
  return { perm, inv };
}

/** `t` permuted by `perm` and made contiguous (a copy only when needed); the caller disposes it. No autograd. */
function contiguousPermuted(t: Tensor, perm: number[]): Tensor {
  return t.engine.noGrad(() => {
    const v = t.permute(perm);
    const c = v.contiguous();
    v.dispose();
    return c;
  });
}

/** A contiguous handle on `t` (a copy only when needed) without autograd; the caller disposes it. */
function contig(t: Tensor): Tensor {
  return t.engine.noGrad(() => t.contiguous());
}

/** The fresh contiguous `rowsOut` (in the permuted layout) viewed back in the original dim order. */
function unpermute(rowsOut: Tensor, inv: number[], shape: readonly number[]): Tensor {
  return rowsOut.engine.noGrad(() => {
    const v = rowsOut.permute(inv);
    rowsOut.dispose();
    if (v.ndim === shape.length) return v;
    const r = v.reshape([...shape]);
    v.dispose();
    return r;
  });
}

// ------------------------------------------------------------------ softmax

function softmaxOp(op: 'softmax' | 'logSoftmax', x: Tensor, dim: number): Tensor {
  x.assertLive(op);
  requireFloat(op, x);
  const engine = x.engine;
  const d = normAxis(op, dim, x.shape);
  const log = op === 'logSoftmax';
  // A 0-d tensor is one row of one element.
  const xs = x.ndim === 0 ? engine.noGrad(() => x.reshape([1])) : x;
  const { perm, inv } = lastPerm(xs.ndim, d);
  const src = contiguousPermuted(xs, perm);
  const cols = xs.shape[d];
  const rows = cols === 0 ? 0 : src.size / cols;
  const out = empty(engine, src.shape, x.dtype);
  if (rows > 0) {
    // Rows that start on a multiple of 4 elements are read and written as vec4 (~2x on lavapipe,
    // where small workgroups also beat wide ones: a barrier there ends a SIMD batch).
    const vec4 = cols % 4 === 0 && src.offset % 4 === 0;
    const wg = vec4 ? rowWorkgroupVec4(engine, cols) : rowWorkgroup(cols);
    engine.run({
      shader: vec4 ? 'softmaxVec4' : 'softmax',
      types: { T: x.dtype },
      constants: { WG: wg, LOG: log },
      params: new Params().u32(rows).u32(cols).u32(src.offset).finish(),
      buffers: [src.storage.buffer, out.storage.buffer],
      grid: gridRows(engine, rows),
    });
  }
  src.dispose();
  if (xs !== x) xs.dispose();
  const y = unpermute(out, inv, x.shape);
  return record(engine, op, [x], y, [y], (g, [ys]) => [softmaxBackward(op, g, ys, d, log)]);
}

/** dx from the output gradient and the saved output, with the fused kernel (a node without a rule: no second derivative). */
function softmaxBackward(op: string, g: Tensor, y: Tensor, d: number, log: boolean): Tensor {
  const engine = g.engine;
  const shape = [...y.shape];
  const gs = g.ndim === 0 ? g.reshape([1]) : g;
  const ys = y.ndim === 0 ? y.reshape([1]) : y;
  const { perm, inv } = lastPerm(ys.ndim, d);
  const yc = contiguousPermuted(ys, perm);
  const gc = contiguousPermuted(gs, perm);
  const cols = ys.shape[d];
  const rows = cols === 0 ? 0 : yc.size / cols;
  const out = empty(engine, yc.shape, g.dtype);
  if (rows > 0) {
    engine.run({
      shader: 'softmaxBackward',
      types: { T: g.dtype },
      constants: { WG: rowWorkgroup(cols), LOG: log },
      params: new Params().u32(rows).u32(cols).u32(yc.offset).u32(gc.offset).finish(),
      buffers: [yc.storage.buffer, gc.storage.buffer, out.storage.buffer],
      grid: gridRows(engine, rows),
    });
  }
  yc.dispose();
  gc.dispose();
  const dx = unpermute(out, inv, shape);
  return record(engine, `${op}Backward`, [g, y], dx, [], null);
}

/** softmax along `dim`: exp(x - max) / sum(exp(x - max)), stable for any finite input. */
export function softmax(x: Tensor, dim = -1): Tensor {
  return softmaxOp('softmax', x, dim);
}

/** log(softmax(x)) along `dim`, computed as x - logsumexp(x) (no log of a rounded-to-zero probability). */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return softmaxOp('logSoftmax', x, dim);
}

// ------------------------------------------------------------------ layer norm, RMS norm

function normOp(op: 'layerNorm' | 'rmsNorm', x: Tensor, normalizedShape: number | readonly number[], weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  x.assertLive(op, weight, bias);
  requireFloat(op, x);
  const engine = x.engine;
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  const trailing = x.shape.slice(x.ndim - ns.length);
  if (ns.length === 0 || ns.length > x.ndim || ns.some((v, i) => v !== trailing[i])) {
    throw new ShapeError(`${op}: normalizedShape ${fmtShape(ns)} must be non-empty and equal the trailing dims of the input ${fmtShape(x.shape)}`);
  }
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (!t) continue;
    requireSameDtype(op, x, t);
    if (t.ndim !== ns.length || t.shape.some((v, i) => v !== ns[i])) {
      throw new ShapeError(`${op}: ${name} has shape ${fmtShape(t.shape)}, expected the normalizedShape ${fmtShape(ns)} (input ${fmtShape(x.shape)})`);
    }
  }
  if (!(eps >= 0)) throw new RangeArgumentError(`${op}: eps must be a non-negative number, got ${eps}`);
  const rms = op === 'rmsNorm';
  const cols = ns.reduce((a, b) => a * b, 1);
  const rows = cols === 0 ? 0 : x.size / cols;
  const xc = contig(x);
  const wc = weight ? contig(weight) : null;
  const bc = bias ? contig(bias) : null;
  const y = empty(engine, x.shape, x.dtype);
  // Per row: mean (0 for RMS) and rstd, in f32.
  const stats = empty(engine, [rows, 2], 'f32');
  if (rows > 0) {
    // vec4 loads where every row, the weight and the bias start on a multiple of 4 (as in softmax).
    const vec4 = cols % 4 === 0 && [xc, wc, bc].every((t) => !t || t.offset % 4 === 0);
    engine.run({
      shader: vec4 ? 'normVec4' : 'norm',
      types: { T: x.dtype },
      constants: { WG: vec4 ? rowWorkgroupVec4(engine, cols) : rowWorkgroup(cols), RMS: rms, HAS_WEIGHT: !!wc, HAS_BIAS: !!bc },
      params: new Params().u32(rows).u32(cols).u32(xc.offset).u32(wc?.offset ?? 0).u32(bc?.offset ?? 0).f32(eps).finish(),
      buffers: [xc.storage.buffer, (wc ?? xc).storage.buffer, (bc ?? xc).storage.buffer, y.storage.buffer, stats.storage.buffer],
      grid: gridRows(engine, rows),
    });
  }
  const saved = wc ? [xc, stats, wc] : [xc, stats];
  const needWeight = !!weight?.requiresGrad;
  const needBias = !!bias?.requiresGrad;
  const out = record(engine, op, [x, weight, bias], y, saved, (g, [xs, st, ws]) => {
    const gc = contig(g);
    const dx = empty(engine, xs.shape, g.dtype);
    const gxh = empty(engine, needWeight ? xs.shape : [1], g.dtype);
    if (rows > 0) {
      engine.run({
        shader: 'normBackward',
        types: { T: g.dtype },
        constants: { WG: rowWorkgroup(cols), RMS: rms, HAS_WEIGHT: !!ws, WRITE_GXH: needWeight },
        params: new Params().u32(rows).u32(cols).u32(xs.offset).u32(ws?.offset ?? 0).u32(gc.offset).finish(),
        buffers: [xs.storage.buffer, (ws ?? xs).storage.buffer, gc.storage.buffer, st.storage.buffer, dx.storage.buffer, gxh.storage.buffer],
        grid: gridRows(engine, rows),
      });
    }
    // The weight and bias gradients reduce over the leading (row) dims.
    const dw = needWeight ? gxh.reshape([rows, cols]).sum(0).reshape(ns) : null;
    const db = needBias ? gc.reshape([rows, cols]).sum(0).reshape(ns) : null;
    const dxr = record(engine, `${op}Backward`, [g, xs, ws ?? null], dx, [], null);
    return [dxr, dw, db];
  });
  xc.dispose();
  wc?.dispose();
  bc?.dispose();
  stats.dispose();
  return out;
}

/** torch.nn.functional.layer_norm: normalise over the trailing `normalizedShape` dims, then scale and shift. */
export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return normOp('layerNorm', x, normalizedShape, weight ?? null, bias ?? null, eps);
}

/** torch.nn.functional.rms_norm: x / sqrt(mean(x^2) + eps) over the trailing `normalizedShape` dims, times weight. */
export function rmsNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, eps = 1e-6): Tensor {
  return normOp('rmsNorm', x, normalizedShape, weight ?? null, null, eps);
}

// ------------------------------------------------------------------ cross-entropy

export interface CrossEntropyOptions {
  ignoreIndex?: number;
  labelSmoothing?: number;
  reduction?: 'mean' | 'sum' | 'none';
}

const NAN = Number.NaN;

/**
 * Softmax cross-entropy of `logits` (..., C) (classes last) against integer class indices `target`
 * (...) of dtype i32 or u32, as torch.nn.functional.cross_entropy with class indices. 'mean' divides
 * by the number of targets that are not `ignoreIndex` (counted on the GPU; NaN when all are ignored,
 * as PyTorch). A target outside [0, C) other than ignoreIndex (negative ones included) makes that
 * row's loss and gradient NaN, reads no memory, and is recorded on the GPU: the next readback throws
 * RangeArgumentError naming crossEntropy, the target and C (no host sync here).
 */
export function crossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  logits.assertLive(op, target);
  requireFloat(op, logits);
  if (target.dtype !== 'i32' && target.dtype !== 'u32') {
    throw new DTypeError(`${op}: target must hold integer class indices (i32 or u32), got ${target.dtype} of shape ${fmtShape(target.shape)}`);
  }
  if (logits.ndim === 0) throw new ShapeError(`${op}: logits must have a class dim (last), got shape ${fmtShape(logits.shape)}`);
  const lead = logits.shape.slice(0, -1);
  const classes = logits.shape[logits.ndim - 1];
  if (target.ndim !== lead.length || target.shape.some((v, i) => v !== lead[i])) {
    throw new ShapeError(`${op}: target shape ${fmtShape(target.shape)} must equal the logits shape ${fmtShape(logits.shape)} without its class dim, ${fmtShape(lead)}`);
  }
  if (classes === 0) throw new ShapeError(`${op}: logits ${fmtShape(logits.shape)} have no classes`);
  const ignoreIndex = options.ignoreIndex ?? -100;
  const smoothing = options.labelSmoothing ?? 0;
  const reduction = options.reduction ?? 'mean';
  if (!Number.isInteger(ignoreIndex)) throw new RangeArgumentError(`${op}: ignoreIndex must be an integer, got ${ignoreIndex}`);
  if (!(smoothing >= 0 && smoothing <= 1)) throw new RangeArgumentError(`${op}: labelSmoothing ${smoothing} is outside [0, 1]`);
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new RangeArgumentError(`${op}: reduction must be 'mean', 'sum' or 'none', got ${String(reduction)}`);
  }
  const engine = logits.engine;
  const rows = logits.size / classes;
  const xc = contig(logits);
  const tc = contig(target);
  const rowLoss = empty(engine, lead, logits.dtype);
  const valid = empty(engine, [rows], logits.dtype);
  const lse = empty(engine, [rows], 'f32');
  if (rows > 0) {
    engine.run({
      shader: 'crossEntropy',
      types: { T: logits.dtype, I: target.dtype },
      constants: { WG: rowWorkgroup(classes) },
      params: new Params().u32(rows).u32(classes).u32(xc.offset).u32(tc.offset).i32(ignoreIndex).f32(smoothing).f32(NAN).u32(CHECK_CODES.crossEntropy).finish(),
      buffers: [xc.storage.buffer, tc.storage.buffer, rowLoss.storage.buffer, valid.storage.buffer, lse.storage.buffer, engine.errorBuffer],
      grid: gridRows(engine, rows),
    });
  }
  let out: Tensor;
  let count: Tensor | null = null;
  if (reduction === 'none') out = rowLoss;
  else {
    out = engine.noGrad(() => rowLoss.sum());
    rowLoss.dispose();
    if (reduction === 'mean') {
      count = engine.noGrad(() => valid.sum());
      const mean = engine.noGrad(() => out.div(count!));
      out.dispose();
      out = mean;
    }
  }
  valid.dispose();
  const saved = count ? [xc, tc, lse, count] : [xc, tc, lse];
  const result = record(engine, op, [logits], out, saved, (g, [xs, ts, ls, cnt]) => {
    // The per-row scale: g itself ('none'), or one value shared by every row.
    const scale = reduction === 'none' ? contig(g) : reduction === 'sum' ? g : g.div(cnt);
    const dx = empty(engine, xs.shape, g.dtype);
    const n = rows * classes;
    if (n > 0) {
      engine.run({
        shader: 'crossEntropyBackward',
        types: { T: g.dtype, I: ts.dtype },
        params: new Params()
          .u32(rows)
          .u32(classes)
          .u32(xs.offset)
          .u32(ts.offset)
          .u32(scale.offset)
          .u32(reduction === 'none' ? 1 : 0)
          .i32(ignoreIndex)
          .f32(smoothing)
          .f32(NAN)
          .u32(CHECK_CODES['crossEntropy backward'])
          .finish(),
        buffers: [xs.storage.buffer, ts.storage.buffer, ls.storage.buffer, scale.storage.buffer, dx.storage.buffer, engine.errorBuffer],
        grid: grid1d(engine, n),
      });
    }
    return [record(engine, `${op}Backward`, [g, xs], dx, [], null)];
  });
  xc.dispose();
  tc.dispose();
  lse.dispose();
  count?.dispose();
  return result;
}

// ------------------------------------------------------------------ dropout

/**
 * Zero each element with probability p and scale the rest by 1 / (1 - p), with a mask from the
 * engine's seeded counter-based generator; the gradient is g * mask / (1 - p). Identity (a view)
 * when !training or p == 0; zeros when p == 1.
 */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  x.assertLive('dropout');
  requireFloat('dropout', x);
  if (!(p >= 0 && p <= 1)) throw new RangeArgumentError(`dropout: probability p=${p} is outside [0, 1] (input ${fmtShape(x.shape)})`);
  if (!training || p === 0) return x.to(x.dtype);
  if (p === 1) return x.mul(0);
  const engine = x.engine;
  const scaled = engine.noGrad(() => {
    const mask = bernoulli(engine, x.shape, 1 - p, x.dtype);
    const s = mask.mul(1 / (1 - p));
    mask.dispose();
    return s;
  });
  // mul records the gradient g * scaled for x.
  const y = x.mul(scaled);
  scaled.dispose();
  return y;
}
