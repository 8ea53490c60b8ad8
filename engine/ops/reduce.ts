// Reductions over any set of axes: the reduced axes are permuted last and made contiguous, then one
// row-reduction kernel runs over [rows, cols]. mean, var and std are compositions.
import { record } from '../autograd.js';
import type { DType } from '../dtype.js';
import { isFloat } from '../dtype.js';
import { DTypeError, KilnError, ShapeError, fmtShape } from '../errors.js';
import { Params } from '../params.js';
import { normAxes, normAxis, viewStrides } from '../shape.js';
import { Tensor } from '../tensor.js';
import { computeType, empty, gridRows, grid1d, requireFloat } from './util.js';

const OPS = { sum: 0, max: 1, min: 2, argmax: 3, argmin: 4, logsumexp: 5, sumOfSquares: 6 } as const;
type ReduceKind = keyof typeof OPS;

interface Plan {
  /** Output shape with keepdim. */
  kept: number[];
  /** Output shape as returned. */
  out: number[];
  rows: number;
  cols: number;
  /** Input permuted so the reduced axes come last. */
  perm: number[];
  /** The reduced axes. */
  axes: number[];
}

function plan(op: string, x: Tensor, dims: number | readonly number[] | undefined, keepdim: boolean): Plan {
  const axes = normAxes(op, dims, x.shape);
  const rest = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = keepdim ? kept : rest.map((i) => x.shape[i]);
  const cols = axes.reduce((p, i) => p * x.shape[i], 1);
  const rows = rest.reduce((p, i) => p * x.shape[i], 1);
  return { kept, out, rows, cols, perm: [...rest, ...axes], axes };
}

/** Run the row-reduction kernel; returns the result in the `kept` (keepdim) shape. No autograd. */
function reduceKernel(kind: ReduceKind, x: Tensor, p: Plan): Tensor {
  const engine = x.engine;
  const outDtype: DType = kind === 'argmax' || kind === 'argmin' ? 'i32' : x.dtype;
  const out = empty(engine, p.kept, outDtype);
  if (p.rows === 0) return out;
  if (p.cols === 0) {
    if (kind !== 'sum') throw new ShapeError(`${kind}: cannot reduce over an empty dimension of ${fmtShape(x.shape)}`);
    out.dispose();
    return engine.zeros(p.kept, { dtype: x.dtype });
  }
  const identityPerm = p.perm.every((d, i) => d === i);
  const permuted = identityPerm ? x : engine.noGrad(() => x.permute(p.perm));
  // Read in place when the permuted view is a strided [rows, cols] matrix (always true for one
  // reduced axis of a contiguous tensor, e.g. a bias gradient's sum over rows); copy otherwise.
  const inPlace = viewStrides(permuted.shape, permuted.strides, [p.rows, p.cols]);
  const src = inPlace || permuted.isContiguous() ? permuted : engine.noGrad(() => permuted.contiguous());
  const [rowStride, colStride] = inPlace ?? [p.cols, 1];
  // Short rows: one invocation per row; long rows: a workgroup per row.
  const serial = p.cols <= 32 || (p.rows >= 4096 && p.cols <= 256);
  const wg = 64;
  engine.run({
    shader: 'reduce',
    types: { T: x.dtype, C: computeType(x.dtype), O: outDtype },
    constants: { OP: OPS[kind], SERIAL: serial, WG: wg },
    params: new Params().u32(p.rows).u32(p.cols).u32(src.offset).u32(rowStride).u32(colStride).u32(0).finish(),
    buffers: [src.storage.buffer, out.storage.buffer],
    grid: serial ? grid1d(engine, p.rows, wg) : gridRows(engine, p.rows),
  });
  if (src !== permuted) src.dispose();
  if (permuted !== x) permuted.dispose();
  return out;
}

function finishShape(t: Tensor, p: Plan): Tensor {
  if (p.out.length === p.kept.length) return t;
  const r = t.reshape(p.out);
  t.dispose();
  return r;
}

export function sum(x: Tensor, dim?: number | number[], keepdim = false): Tensor {
  x.assertLive('sum');
  const p = plan('sum', x, dim, keepdim);
  const y = finishShape(reduceKernel('sum', x, p), p);
  const shape = [...x.shape];
  return record(x.engine, 'sum', [x], y, [], (g) => [g.reshape(p.kept).expand(shape)]);
}

export function mean(x: Tensor, dim?: number | number[], keepdim = false): Tensor {
  requireFloat('mean', x);
  const p = plan('mean', x, dim, keepdim);
  return sum(x, dim, keepdim).mul(1 / p.cols);
}

function extremum(kind: 'max' | 'min', x: Tensor, dim: number | number[] | undefined, keepdim: boolean): Tensor {
  x.assertLive(kind);
  const p = plan(kind, x, dim, keepdim);
  const y = finishShape(reduceKernel(kind, x, p), p);
  const shape = [...x.shape];
  // The gradient is shared evenly among the elements equal to the extremum.
  return record(x.engine, kind, [x], y, [x, y], (g, [x, y]) => {
    const mask = x.eq(y.reshape(p.kept)).to(g.dtype);
    const count = mask.sum(p.axes, true);
    return [mask.div(count).mul(g.reshape(p.kept).expand(shape))];
  });
}

export const max = (x: Tensor, dim?: number | number[], keepdim = false) => extremum('max', x, dim, keepdim);
export const min = (x: Tensor, dim?: number | number[], keepdim = false) => extremum('min', x, dim, keepdim);

function argExtremum(kind: 'argmax' | 'argmin', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  x.assertLive(kind);
  if (dim === undefined) {
    const flat = x.reshape([-1]);
    const r = argExtremum(kind, flat, 0, false);
    flat.dispose();
    if (!keepdim) return r;
    const k = r.reshape(x.shape.map(() => 1));
    r.dispose();
    return k;
  }
  const d = normAxis(kind, dim, x.shape);
  const p = plan(kind, x, d, keepdim);
  return finishShape(reduceKernel(kind, x, p), p);
}

/** Index of the largest element along `dim` (of the flattened tensor if omitted); ties go to the lower index. */
export const argmax = (x: Tensor, dim?: number, keepdim = false) => argExtremum('argmax', x, dim, keepdim);
export const argmin = (x: Tensor, dim?: number, keepdim = false) => argExtremum('argmin', x, dim, keepdim);

export function logsumexp(x: Tensor, dim?: number | number[], keepdim = false): Tensor {
  x.assertLive('logsumexp');
  requireFloat('logsumexp', x);
  const p = plan('logsumexp', x, dim, keepdim);
  const y = finishShape(reduceKernel('logsumexp', x, p), p);
  const shape = [...x.shape];
  return record(x.engine, 'logsumexp', [x], y, [x, y], (g, [x, y]) => [x.sub(y.reshape(p.kept)).exp().mul(g.reshape(p.kept).expand(shape))]);
}

export interface VarOptions {
  /** Subtracted from the count in the denominator (1 = Bessel's correction, PyTorch's default). */
  correction?: number;
  keepdim?: boolean;
}

export function variance(x: Tensor, dim?: number | number[], options: VarOptions = {}): Tensor {
  x.assertLive('var');
  if (!isFloat(x.dtype)) throw new DTypeError(`var: expected a floating-point tensor, got ${x.dtype}`);
  const keepdim = options.keepdim ?? false;
  const correction = options.correction ?? 1;
  const p = plan('var', x, dim, keepdim);
  const centered = x.sub(x.mean(dim, true));
  const ss = centered.mul(centered).sum(dim, keepdim);
  return ss.div(Math.max(0, p.cols - correction));
}

export function std(x: Tensor, dim?: number | number[], options: VarOptions = {}): Tensor {
  return variance(x, dim, options).sqrt();
}

/**
 * Σ x² of each tensor (PyTorch: torch._foreach_norm's squares, before the root), as one f32 vector
 * (P): one dispatch per tensor, each writing its slot, with no per-tensor intermediate (square, sum,
 * stack would be three). Summed as sum() sums (same partials, same tree), so
 * `foreachSumOfSquares(ts)` equals `stack(ts.map((t) => t.to('f32').square().sum()))` exactly.
 * Float tensors of one engine; no autograd (clipGradNorm's use).
 */
export function foreachSumOfSquares(tensors: readonly Tensor[]): Tensor {
  const op = 'foreachSumOfSquares';
  if (tensors.length === 0) throw new ShapeError(`${op}: got no tensors`);
  const engine = tensors[0].engine;
  for (const t of tensors) {
    t.assertLive(op);
    if (t.engine !== engine) throw new KilnError(`${op}: the tensors belong to different engines`);
    if (!isFloat(t.dtype)) throw new DTypeError(`${op}: expected floating-point tensors, got ${t.dtype} of shape ${fmtShape(t.shape)}`);
  }
  const out = engine.zeros([tensors.length], { dtype: 'f32' });
  tensors.forEach((t, i) => {
    const n = t.size;
    if (n === 0) return; // its slot stays 0
    // f32 in: x² is formed in f32 as square() of the f32 tensor forms it; f16 is widened first.
    const x = t.dtype === 'f32' ? t : engine.noGrad(() => t.to('f32'));
    const inPlace = viewStrides(x.shape, x.strides, [1, n]);
    const src = inPlace ? x : engine.noGrad(() => x.contiguous());
    const colStride = inPlace ? inPlace[1] : 1;
    const serial = n <= 32;
    engine.run({
      shader: 'reduce',
      types: { T: 'f32', C: 'f32', O: 'f32' },
      constants: { OP: OPS.sumOfSquares, SERIAL: serial, WG: 64 },
      params: new Params().u32(1).u32(n).u32(src.offset).u32(n * colStride).u32(colStride).u32(i).finish(),
      buffers: [src.storage.buffer, out.storage.buffer],
      grid: serial ? grid1d(engine, 1, 64) : gridRows(engine, 1),
    });
    if (src !== x) src.dispose();
    if (x !== t) x.dispose();
  });
  return out;
}
