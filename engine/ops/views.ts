// O(1) views (reshape, permute, expand, squeeze, narrow, slice, select) and the copies that
// materialise them (contiguous, clone, copyInto).
import { record } from '../autograd.js';
import { DTypeError, fmtShape, RangeArgumentError, ShapeError } from '../errors.js';
import { Params, MAX_RANK } from '../params.js';
import { contiguousStrides, inferReshape, normAxis, viewStrides, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { identityCopy } from './elementwise.js';
import { ELEMENTS_PER_INVOCATION, elementwiseGrid, unbroadcast } from './util.js';

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  x.assertLive('reshape');
  const to = inferReshape('reshape', x.shape, shape);
  const strides = viewStrides(x.shape, x.strides, to);
  if (!strides) {
    const c = contiguous(x);
    const r = reshape(c, to);
    c.dispose();
    return r;
  }
  const from = [...x.shape];
  return record(x.engine, 'reshape', [x], x.view_(to, strides, x.offset), [], (g) => [g.reshape(from)]);
}

/** Like reshape, but never copies: throws when the layout does not allow a view. */
export function view(x: Tensor, shape: readonly number[]): Tensor {
  x.assertLive('view');
  const to = inferReshape('view', x.shape, shape);
  const strides = viewStrides(x.shape, x.strides, to);
  if (!strides) {
    throw new ShapeError(`view: a tensor of shape ${fmtShape(x.shape)} and strides ${fmtShape(x.strides)} cannot be viewed as ${fmtShape(to)}; use reshape (which copies)`);
  }
  return reshape(x, to);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normAxis('flatten', startDim, x.shape);
  const e = normAxis('flatten', endDim, x.shape);
  if (s > e) throw new ShapeError(`flatten: startDim ${startDim} comes after endDim ${endDim} for shape ${fmtShape(x.shape)}`);
  const mid = x.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
  return reshape(x, [...x.shape.slice(0, s), mid, ...x.shape.slice(e + 1)]);
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  x.assertLive('permute');
  const r = x.ndim;
  const norm = dims.map((d) => normAxis('permute', d, x.shape));
  if (norm.length !== r || new Set(norm).size !== r) {
    throw new ShapeError(`permute: [${dims.join(', ')}] is not a permutation of the ${r} dims of ${fmtShape(x.shape)}`);
  }
  const inverse = new Array<number>(r);
  norm.forEach((d, i) => (inverse[d] = i));
  const out = x.view_(norm.map((d) => x.shape[d]), norm.map((d) => x.strides[d]), x.offset);
  return record(x.engine, 'permute', [x], out, [], (g) => [g.permute(inverse)]);
}

export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const r = x.ndim;
  const a = normAxis('transpose', dim0, x.shape);
  const b = normAxis('transpose', dim1, x.shape);
  const dims = Array.from({ length: r }, (_, i) => i);
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

/** Broadcast to `shape` without copying (-1 keeps a dim; new dims may lead). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  x.assertLive('expand');
  const lead = shape.length - x.ndim;
  if (lead < 0) throw new ShapeError(`expand: target ${fmtShape(shape)} has fewer dims than ${fmtShape(x.shape)}`);
  const outShape: number[] = [];
  const strides: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    const want = shape[i];
    if (i < lead) {
      if (want < 0) throw new ShapeError(`expand: -1 is not allowed for a new leading dim (target ${fmtShape(shape)})`);
      outShape.push(want);
      strides.push(0);
      continue;
    }
    const have = x.shape[i - lead];
    const d = want === -1 ? have : want;
    if (d !== have && have !== 1) {
      throw new ShapeError(`expand: cannot expand ${fmtShape(x.shape)} to ${fmtShape(shape)} (dim ${i} has size ${have}, not 1)`);
    }
    outShape.push(d);
    strides.push(d === have ? x.strides[i - lead] : 0);
  }
  const from = [...x.shape];
  return record(x.engine, 'expand', [x], x.view_(outShape, strides, x.offset), [], (g) => [unbroadcast(g, from)]);
}

export function squeeze(x: Tensor, dim?: number | number[]): Tensor {
  x.assertLive('squeeze');
  const dims =
    dim === undefined
      ? x.shape.map((_, i) => i)
      : (typeof dim === 'number' ? [dim] : dim).map((d) => normAxis('squeeze', d, x.shape));
  const keep = x.shape.map((d, i) => !(dims.includes(i) && d === 1));
  return reshape(x, x.shape.filter((_, i) => keep[i]));
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  x.assertLive('unsqueeze');
  const d = normAxis('unsqueeze', dim, x.shape, 1);
  return reshape(x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

/** Elements [start, start + length) along `dim`, as a view. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  x.assertLive('narrow');
  const d = normAxis('narrow', dim, x.shape);
  const size = x.shape[d];
  const s = start < 0 ? start + size : start;
  if (!Number.isInteger(s) || !Number.isInteger(length) || s < 0 || length < 0 || s + length > size) {
    throw new RangeArgumentError(`narrow: start ${start} and length ${length} do not fit dim ${d} of size ${size} in ${fmtShape(x.shape)}`);
  }
  return stridedSlice(x, d, s, length, 1);
}

/** Python-style slice [start:end:step] along `dim` (clamped like Python). */
export function slice(x: Tensor, dim: number, start?: number, end?: number, step = 1): Tensor {
  x.assertLive('slice');
  const d = normAxis('slice', dim, x.shape);
  if (!Number.isInteger(step) || step <= 0) {
    throw new RangeArgumentError(`slice: step must be a positive integer, got ${step} (tensor of shape ${fmtShape(x.shape)})`);
  }
  const size = x.shape[d];
  const clampIdx = (v: number) => Math.min(Math.max(v < 0 ? v + size : v, 0), size);
  const s = start === undefined ? 0 : clampIdx(start);
  const e = end === undefined ? size : clampIdx(end);
  const len = Math.max(0, Math.ceil((e - s) / step));
  return stridedSlice(x, d, s, len, step);
}

/** One index along `dim`, dropping the dim. */
export function select(x: Tensor, dim: number, index: number): Tensor {
  x.assertLive('select');
  const d = normAxis('select', dim, x.shape);
  const size = x.shape[d];
  const i = index < 0 ? index + size : index;
  if (!Number.isInteger(i) || i < 0 || i >= size) {
    throw new RangeArgumentError(`select: index ${index} is out of range for dim ${d} of size ${size} in ${fmtShape(x.shape)}`);
  }
  const s = stridedSlice(x, d, i, 1, 1);
  const r = squeeze(s, d);
  s.dispose();
  return r;
}

function stridedSlice(x: Tensor, d: number, start: number, length: number, step: number): Tensor {
  const shape = [...x.shape];
  shape[d] = length;
  const strides = [...x.strides];
  strides[d] = x.strides[d] * step;
  const offset = x.offset + (length > 0 ? start * x.strides[d] : 0);
  const from = [...x.shape];
  return record(x.engine, 'slice', [x], x.view_(shape, strides, offset), [], (g) => [sliceBackward(g, from, d, start, step)]);
}

/** Zeros of `shape` with `g` written into the slice [start::step] of dim `d`. */
function sliceBackward(g: Tensor, shape: Shape, d: number, start: number, step: number): Tensor {
  const out = g.engine.zeros(shape, { dtype: g.dtype });
  const strides = contiguousStrides(shape);
  const dstStrides = [...strides];
  dstStrides[d] *= step;
  copyInto(out.view_(g.shape, dstStrides, start * strides[d]), g, true);
  return out;
}

/**
 * Write `src` (any layout) into the view `dst`, in stream order. No autograd: used to build fresh
 * outputs (cat, pad, slice gradients). `disposeDst` drops the dst view handle afterwards.
 */
export function copyInto(dst: Tensor, src: Tensor, disposeDst = false): void {
  src.assertLive('copyInto', dst);
  if (dst.shape.length !== src.shape.length || dst.shape.some((v, i) => v !== src.shape[i])) {
    throw new ShapeError(`copyInto: shapes ${fmtShape(dst.shape)} and ${fmtShape(src.shape)} differ`);
  }
  if (src.ndim > MAX_RANK) throw new ShapeError(`copyInto: rank above ${MAX_RANK}`);
  const n = src.size;
  if (n > 0) {
    const engine = src.engine;
    engine.run({
      shader: 'copy',
      types: { T: src.dtype },
      constants: { ELEMS: ELEMENTS_PER_INVOCATION },
      params: new Params()
        .vec4u(src.shape)
        .vec4u(src.strides)
        .vec4u(dst.strides)
        .u32(n)
        .u32(src.ndim)
        .u32(src.offset)
        .u32(dst.offset)
        .finish(),
      buffers: [src.storage.buffer, dst.storage.buffer],
      grid: elementwiseGrid(engine, n),
    });
  }
  if (disposeDst) dst.dispose();
}

/** A contiguous tensor with the same values (a new handle on the same storage if already contiguous). */
export function contiguous(x: Tensor): Tensor {
  x.assertLive('contiguous');
  const out = x.isContiguous() ? x.view_(x.shape, contiguousStrides(x.shape), x.offset) : identityCopy(x);
  return record(x.engine, 'contiguous', [x], out, [], (g) => [g]);
}

/** A copy in fresh memory. */
export function clone(x: Tensor): Tensor {
  x.assertLive('clone');
  return record(x.engine, 'clone', [x], identityCopy(x), [], (g) => [g]);
}


/** dst <- src broadcast to dst's shape (dst may be any view). No autograd. */
export function copyInPlace(dst: Tensor, src: Tensor): void {
  dst.assertLive('copy_', src);
  if (dst.dtype !== src.dtype) {
    throw new DTypeError(`copy_: dtypes differ: ${dst.dtype} of shape ${fmtShape(dst.shape)} and ${src.dtype} of shape ${fmtShape(src.shape)}`);
  }
  const b = src.engine.noGrad(() => src.expand([...dst.shape]));
  const target = dst.view_(dst.shape, dst.strides, dst.offset);
  copyInto(target, b, true);
  b.dispose();
}
