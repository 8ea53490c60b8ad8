// Indexing: gather, indexSelect, scatterAdd, embedding, oneHot, topk, cumsum.
//
// gather, indexSelect and embedding are one strided gather kernel (shaders/gather.wgsl). Their
// backward passes, and scatterAdd itself, are a deterministic scatter-add: WGSL has no float atomics,
// so every source position becomes a (target, position) key pair, the pairs are bitonic-sorted on the
// GPU, and the invocation at the head of each target's run sums the run in position order
// (shaders/scatter_keys.wgsl, bitonic_sort.wgsl, segment_sum.wgsl). topk sorts each row with the same
// bitonic kernel. An out-of-range index is clamped to [0, size - 1] on the GPU, so memory always
// stays in bounds, and recorded in the engine's error word under the op's name
// (engine/device-checks.ts): the next readback (or engine.checkErrors()) throws RangeArgumentError,
// without a host sync per op.
import { record } from '../autograd.js';
import { CHECK_CODES, type CheckedOp } from '../device-checks.js';
import type { Engine } from '../engine.js';
import { DTypeError, fmtShape, RangeArgumentError, ShapeError } from '../errors.js';
import { MAX_RANK, Params } from '../params.js';
import { contiguousStrides, normAxis, numel, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { zeros } from './creation.js';
import { identityCopy } from './elementwise.js';
import { pad } from './shape-ops.js';
import { computeType, empty, grid1d, gridRows, requireSameDtype } from './util.js';

// ------------------------------------------------------------------ checks

function requireIndex(op: string, x: Tensor, index: Tensor): void {
  if (index.dtype !== 'i32' && index.dtype !== 'u32') {
    throw new DTypeError(`${op}: the index must be i32 or u32, got ${index.dtype} (input ${fmtShape(x.shape)}, index ${fmtShape(index.shape)})`);
  }
}

function requireMaxRank(op: string, rank: number, ...ts: Tensor[]): void {
  if (rank > MAX_RANK) {
    throw new ShapeError(`${op}: rank above ${MAX_RANK} is not supported (shapes ${ts.map((t) => fmtShape(t.shape)).join(', ')})`);
  }
}

const withDim = (values: readonly number[], d: number, v: number) => values.map((x, i) => (i === d ? v : x));

function nextPow2(n: number): number {
  let p = 2;
  while (p < n) p *= 2;
  return p;
}

// ------------------------------------------------------------------ gather kernel

interface GatherPlan {
  outShape: number[];
  /** x strides per output dim, 0 on the gathered dim (and on dims x does not have). */
  xStrides: number[];
  /** index strides per output dim, 0 where the index does not vary. */
  idxStrides: number[];
  dimSize: number;
  dimStride: number;
}

/** out[c] = x[c with the gathered coordinate = clamp(index[c])], a bad index reported as `op`; no autograd. */
function gatherKernel(op: CheckedOp, x: Tensor, index: Tensor, plan: GatherPlan): Tensor {
  const engine = x.engine;
  const out = empty(engine, plan.outShape, x.dtype);
  const n = out.size;
  if (n > 0) {
    engine.run({
      shader: 'gather',
      types: { T: x.dtype, I: index.dtype },
      params: new Params()
        .vec4u(plan.outShape)
        .vec4u(plan.xStrides)
        .vec4u(plan.idxStrides)
        .u32(n)
        .u32(plan.outShape.length)
        .u32(x.offset)
        .u32(index.offset)
        .u32(plan.dimSize)
        .u32(plan.dimStride)
        .u32(CHECK_CODES[op])
        .finish(),
      buffers: [x.storage.buffer, index.storage.buffer, out.storage.buffer, engine.errorBuffer],
      grid: grid1d(engine, n),
    });
  }
  return out;
}

// ------------------------------------------------------------------ sort and scatter machinery

/** Elements a workgroup sorts in workgroup memory (256 invocations, two elements each). */
const SORT_BLOCK = 512;

/**
 * Sort `n` (a power of two) u32 (key, value) pairs held in `pairs` (u32, 2n words) into ascending
 * (key, value) order, independently within aligned segments of `seg` (a power of two dividing n).
 * Dispatches: one local sort, then per stage k > block its global steps (distance >= block) and one
 * local merge: for n = seg = 4096, 1 + (1+1) + (2+1) + (3+1) = 10.
 */
function sortPairs(engine: Engine, pairs: Tensor, n: number, seg: number): void {
  const block = Math.min(SORT_BLOCK, seg);
  const buffers = [pairs.storage.buffer];
  const local = (kFirst: number, kLast: number) =>
    engine.run({
      shader: 'bitonicSort',
      constants: { LOCAL: true, WG: block / 2, BLOCK: block },
      params: new Params().u32(n).u32(seg).u32(kFirst).u32(kLast).finish(),
      buffers,
      grid: gridRows(engine, n / block),
    });
  local(2, block);
  for (let k = 2 * block; k <= seg; k *= 2) {
    for (let j = k / 2; j >= block; j /= 2) {
      engine.run({
        shader: 'bitonicSort',
        constants: { LOCAL: false, WG: 64 },
        params: new Params().u32(n).u32(seg).u32(k).u32(j).finish(),
        buffers,
        grid: grid1d(engine, n / 2, 64),
      });
    }
    local(k, k);
  }
}

function pairBuffer(op: string, engine: Engine, n: number, shapes: string): Tensor {
  const limit = engine.caps.limits.maxStorageBufferBindingSize;
  if (n * 8 > limit) throw new ShapeError(`${op}: ${n} sort keys need ${n * 8} bytes, above the device's binding limit of ${limit} (shapes ${shapes})`);
  return empty(engine, [2 * n], 'u32');
}

interface ScatterPlan {
  /** Positions are the index's elements in row-major order. */
  index: Tensor;
  /** Target strides per index dim (0 on the scattered dim). */
  targetStrides: number[];
  dimSize: number;
  dimStride: number;
  /** Elements per position: out rows of `width` (1 for elementwise scatters). */
  width: number;
}

/**
 * out[target(p) * width + d] += src[src.offset + p * width + d] for every position p, summed per
 * target in position order (deterministic). `out` is fresh, contiguous and initialised; `src` is
 * contiguous. No autograd.
 */
function scatterInto(op: CheckedOp, out: Tensor, src: Tensor, plan: ScatterPlan): void {
  const { index, width } = plan;
  const n = index.size;
  if (n === 0 || width === 0) return;
  const engine = out.engine;
  const padded = nextPow2(n);
  const pairs = pairBuffer(op, engine, padded, `${fmtShape(out.shape)}, ${fmtShape(index.shape)}, ${fmtShape(src.shape)}`);
  engine.run({
    shader: 'scatterKeys',
    types: { I: index.dtype },
    params: new Params()
      .vec4u(index.shape)
      .vec4u(index.strides)
      .vec4u(plan.targetStrides)
      .u32(n)
      .u32(index.ndim)
      .u32(index.offset)
      .u32(padded)
      .u32(plan.dimSize)
      .u32(plan.dimStride)
      .u32(CHECK_CODES[op])
      .finish(),
    buffers: [index.storage.buffer, pairs.storage.buffer, engine.errorBuffer],
    grid: grid1d(engine, padded),
  });
  sortPairs(engine, pairs, padded, padded);
  engine.run({
    shader: 'segmentSum',
    types: { T: out.dtype, C: computeType(out.dtype) },
    params: new Params().u32(n).u32(width).u32(src.offset).finish(),
    buffers: [pairs.storage.buffer, src.storage.buffer, out.storage.buffer],
    grid: grid1d(engine, n * width),
  });
  pairs.dispose();
}

/**
 * out (rows, W) = zeros with row index[p] += src row p, for src of shape [...index.shape, W]
 * (embedding and indexSelect backward, reporting a bad index as `op`). Differentiable in src: its
 * gradient is an embedding lookup.
 */
function indexAddRows(op: 'embedding backward' | 'indexSelect backward', rows: number, index: Tensor, src: Tensor): Tensor {
  const engine = src.engine;
  const width = src.shape[src.ndim - 1];
  const out = zeros(engine, [rows, width], { dtype: src.dtype });
  const s = src.isContiguous() ? src : identityCopy(src);
  scatterInto(op, out, s, { index, targetStrides: index.shape.map(() => 0), dimSize: rows, dimStride: 1, width });
  if (s !== src) s.dispose();
  return record(engine, 'indexAddRows', [null, src], out, [index], (g, [idx]) => [null, embedding(idx, g)]);
}

/** scatterAdd into a copy of x (or into zeros of `shape` when x is null, for gather's backward). */
function scatterAddImpl(op: 'scatterAdd' | 'gather backward', x: Tensor | null, shape: Shape, d: number, index: Tensor, src: Tensor): Tensor {
  const engine = src.engine;
  const out = x ? identityCopy(x) : zeros(engine, shape, { dtype: src.dtype });
  // Only the part of src that the index covers takes part, as in torch.
  const part = src.view_(index.shape, src.strides, src.offset);
  const s = part.isContiguous() ? part : identityCopy(part);
  const outStrides = contiguousStrides(shape);
  scatterInto(op, out, s, {
    index,
    targetStrides: withDim(outStrides, d, 0),
    dimSize: shape[d],
    dimStride: outStrides[d],
    width: 1,
  });
  if (s !== part) s.dispose();
  part.dispose();
  const srcShape = [...src.shape];
  return record(engine, 'scatterAdd', [x, null, src], out, [index], (g, [idx]) => {
    const gs = gather(g, d, idx);
    if (idx.shape.every((v, i) => v === srcShape[i])) return [x ? g : null, null, gs];
    // src positions outside the index's extent did not contribute: zero gradient there.
    const pads: number[] = [];
    for (let k = srcShape.length - 1; k >= 0; k--) pads.push(0, srcShape[k] - idx.shape[k]);
    return [x ? g : null, null, pad(gs, pads)];
  });
}

// ------------------------------------------------------------------ public ops

/** torch.gather: out[c] = x[c with c[dim] = index[c]]; out has the index's shape. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  x.assertLive('gather', index);
  requireIndex('gather', x, index);
  if (x.ndim === 0 || index.ndim !== x.ndim) {
    throw new ShapeError(`gather: the index ${fmtShape(index.shape)} must have the same rank as the input ${fmtShape(x.shape)} (at least 1)`);
  }
  requireMaxRank('gather', x.ndim, x, index);
  const d = normAxis('gather', dim, x.shape);
  if (index.shape.some((s, k) => k !== d && s > x.shape[k]) || (x.shape[d] === 0 && index.size > 0)) {
    throw new ShapeError(`gather: index ${fmtShape(index.shape)} exceeds input ${fmtShape(x.shape)} outside dim ${d} (or dim ${d} is empty)`);
  }
  const out = gatherKernel('gather', x, index, {
    outShape: [...index.shape],
    xStrides: withDim(x.strides, d, 0),
    idxStrides: [...index.strides],
    dimSize: x.shape[d],
    dimStride: x.strides[d],
  });
  const xShape = [...x.shape];
  return record(x.engine, 'gather', [x, null], out, [index], (g, [idx]) => [scatterAddImpl('gather backward', null, xShape, d, idx, g), null]);
}

/** torch.index_select: the slices index[0], index[1], … of dim `dim` (index 1-D, or 0-D as one element). */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  x.assertLive('indexSelect', index);
  requireIndex('indexSelect', x, index);
  if (x.ndim === 0 || index.ndim > 1) {
    throw new ShapeError(`indexSelect: expected an input of rank >= 1 and a 1-D index, got input ${fmtShape(x.shape)} and index ${fmtShape(index.shape)}`);
  }
  requireMaxRank('indexSelect', x.ndim, x, index);
  const d = normAxis('indexSelect', dim, x.shape);
  const n = index.size;
  if (x.shape[d] === 0 && n > 0) throw new ShapeError(`indexSelect: dim ${d} of input ${fmtShape(x.shape)} is empty (index ${fmtShape(index.shape)})`);
  const out = gatherKernel('indexSelect', x, index, {
    outShape: withDim(x.shape, d, n),
    xStrides: withDim(x.strides, d, 0),
    idxStrides: withDim(x.shape.map(() => 0), d, index.ndim === 1 ? index.strides[0] : 0),
    dimSize: x.shape[d],
    dimStride: x.strides[d],
  });
  const size = x.shape[d];
  return record(x.engine, 'indexSelect', [x, null], out, [index], (g, [idx]) => {
    // Move dim to the front so each selected slice is one row: (n, rest) rows added into (size, rest).
    const perm = [d, ...g.shape.map((_, i) => i).filter((i) => i !== d)];
    const inverse = new Array<number>(perm.length);
    perm.forEach((p, i) => (inverse[p] = i));
    const gp = g.permute(perm);
    const rest = gp.shape.slice(1);
    const rows = indexAddRows('indexSelect backward', size, idx.reshape([n]), gp.reshape([n, numel(rest)])); // (size, W)
    return [rows.reshape([size, ...rest]).permute(inverse), null];
  });
}

/** torch.scatter_add, out of place: x with src[c] added at c with c[dim] = index[c] (deterministic order). */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  x.assertLive('scatterAdd', index, src);
  requireIndex('scatterAdd', x, index);
  requireSameDtype('scatterAdd', x, src);
  const shapes = `input ${fmtShape(x.shape)}, index ${fmtShape(index.shape)}, src ${fmtShape(src.shape)}`;
  if (x.ndim === 0 || index.ndim !== x.ndim || src.ndim !== x.ndim) throw new ShapeError(`scatterAdd: ranks differ (or are 0): ${shapes}`);
  requireMaxRank('scatterAdd', x.ndim, x, index, src);
  const d = normAxis('scatterAdd', dim, x.shape);
  if (index.shape.some((s, k) => s > src.shape[k] || (k !== d && s > x.shape[k])) || (x.shape[d] === 0 && index.size > 0)) {
    throw new ShapeError(`scatterAdd: the index must fit in src, and in the input outside dim ${d}: ${shapes}`);
  }
  return scatterAddImpl('scatterAdd', x, x.shape, d, index, src);
}

/** F.embedding: rows of weight (num, dim) picked by indices of any shape → (...indices.shape, dim). */
export function embedding(indices: Tensor, weight: Tensor): Tensor {
  weight.assertLive('embedding', indices);
  requireIndex('embedding', weight, indices);
  if (weight.ndim !== 2) throw new ShapeError(`embedding: the weight must be 2-D (num, dim), got ${fmtShape(weight.shape)} (indices ${fmtShape(indices.shape)})`);
  requireMaxRank('embedding', indices.ndim + 1, indices, weight);
  const [rows, width] = weight.shape;
  if (rows === 0 && indices.size > 0) throw new ShapeError(`embedding: the weight ${fmtShape(weight.shape)} has no rows (indices ${fmtShape(indices.shape)})`);
  const out = gatherKernel('embedding', weight, indices, {
    outShape: [...indices.shape, width], // (...indices, dim)
    xStrides: [...indices.shape.map(() => 0), weight.strides[1]],
    idxStrides: [...indices.strides, 0],
    dimSize: rows,
    dimStride: weight.strides[0],
  });
  return record(weight.engine, 'embedding', [null, weight], out, [indices], (g, [idx]) => [null, indexAddRows('embedding backward', rows, idx, g)]);
}

/**
 * One-hot i32 of shape (...indices.shape, numClasses). An out-of-range index gives a row of zeros and
 * is reported by the next readback (RangeArgumentError naming oneHot, the index and numClasses).
 */
export function oneHot(indices: Tensor, numClasses: number): Tensor {
  indices.assertLive('oneHot');
  if (indices.dtype !== 'i32' && indices.dtype !== 'u32') {
    throw new DTypeError(`oneHot: the indices must be i32 or u32, got ${indices.dtype} of shape ${fmtShape(indices.shape)}`);
  }
  if (!Number.isInteger(numClasses) || numClasses <= 0) {
    throw new RangeArgumentError(`oneHot: numClasses must be a positive integer, got ${numClasses} (indices ${fmtShape(indices.shape)})`);
  }
  requireMaxRank('oneHot', indices.ndim + 1, indices);
  const engine = indices.engine;
  const idx = indices.isContiguous() ? indices : engine.noGrad(() => indices.contiguous());
  const out = empty(engine, [...indices.shape, numClasses], 'i32');
  const n = out.size;
  if (n > 0) {
    engine.run({
      shader: 'oneHot',
      types: { I: idx.dtype },
      params: new Params().u32(n).u32(numClasses).u32(idx.offset).u32(CHECK_CODES.oneHot).finish(),
      buffers: [idx.storage.buffer, out.storage.buffer, engine.errorBuffer],
      grid: grid1d(engine, n),
    });
  }
  if (idx !== indices) idx.dispose();
  return out;
}

/**
 * The k largest (or smallest) elements along `dim`, sorted, with their i32 indices; ties go to the
 * lower index. Each row is bitonic-sorted on the GPU by (order key, column); values are a gather of
 * x at the indices, so their gradient scatters g back to the selected positions.
 */
export function topk(x: Tensor, k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } {
  x.assertLive('topk');
  if (x.ndim === 0) throw new ShapeError('topk: expected a tensor of rank >= 1, got shape []');
  requireMaxRank('topk', x.ndim, x);
  const d = normAxis('topk', dim, x.shape);
  const len = x.shape[d];
  if (!Number.isInteger(k) || k < 0 || k > len) {
    throw new RangeArgumentError(`topk: k = ${k} is out of range for dim ${d} of size ${len} in ${fmtShape(x.shape)}`);
  }
  const engine = x.engine;
  const outShape = withDim(x.shape, d, k);
  const indices = engine.noGrad(() => {
    if (numel(outShape) === 0) return empty(engine, outShape, 'i32');
    // Rows along the last dim: permute dim last, contiguous [rows, len].
    const perm = [...x.shape.map((_, i) => i).filter((i) => i !== d), d];
    const xp = x.permute(perm);
    const src = xp.isContiguous() ? xp : xp.contiguous();
    const rows = src.size / len;
    const seg = nextPow2(len);
    const pairs = pairBuffer('topk', engine, rows * seg, fmtShape(x.shape));
    engine.run({
      shader: 'topkKeys',
      types: { T: x.dtype },
      constants: { LARGEST: largest, KIND: x.dtype === 'i32' ? 1 : x.dtype === 'u32' ? 2 : 0 },
      params: new Params().u32(rows).u32(len).u32(seg).u32(src.offset).finish(),
      buffers: [src.storage.buffer, pairs.storage.buffer],
      grid: grid1d(engine, rows * seg),
    });
    sortPairs(engine, pairs, rows * seg, seg);
    // The first k columns (second word of each pair) of every sorted row.
    const cols = pairs.view_([rows, k], [2 * seg, 2], 1);
    const flat = cols.to('i32'); // (rows, k)
    const permShape = [...perm.slice(0, -1).map((i) => x.shape[i]), k];
    const shaped = flat.reshape(permShape);
    let result = shaped;
    if (perm.some((p, i) => p !== i)) {
      const inverse = new Array<number>(perm.length);
      perm.forEach((p, i) => (inverse[p] = i));
      const back = shaped.permute(inverse);
      result = back.contiguous();
      back.dispose();
      shaped.dispose();
    }
    for (const t of [cols, flat, pairs, src, xp]) if (t !== result) t.dispose();
    return result;
  });
  const values = gather(x, d, indices);
  return { values, indices };
}

/** One serial pass per lane along dim d (from the end when reverse); its gradient is the opposite scan. */
function scan(x: Tensor, d: number, reverse: boolean): Tensor {
  const engine = x.engine;
  const out = empty(engine, x.shape, x.dtype);
  const len = x.shape[d];
  const lanes = len === 0 ? 0 : x.size / len;
  if (lanes > 0) {
    engine.run({
      shader: 'cumsum',
      types: { T: x.dtype, C: computeType(x.dtype) },
      params: new Params()
        .vec4u(withDim(x.shape, d, 1))
        .vec4u(x.strides)
        .vec4u(contiguousStrides(x.shape))
        .u32(lanes)
        .u32(x.ndim)
        .u32(x.offset)
        .u32(len)
        .u32(d)
        .u32(reverse ? 1 : 0)
        .finish(),
      buffers: [x.storage.buffer, out.storage.buffer],
      grid: grid1d(engine, lanes),
    });
  }
  return record(engine, 'cumsum', [x], out, [], (g) => [scan(g, d, !reverse)]);
}

/** Inclusive prefix sum along `dim` (accumulated in f32 for floats). */
export function cumsum(x: Tensor, dim: number): Tensor {
  x.assertLive('cumsum');
  requireMaxRank('cumsum', x.ndim, x);
  const d = normAxis('cumsum', dim, x.shape);
  if (x.ndim === 0) {
    const one = x.reshape([1]);
    const r = scan(one, 0, false);
    const s = r.reshape([]);
    one.dispose();
    r.dispose();
    return s;
  }
  return scan(x, d, false);
}
