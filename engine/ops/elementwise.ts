// Unary and binary elementwise ops, where, cast, clamp, comparisons — each one kernel launch over a
// strided (possibly broadcast) view. What each op computes, its backward and its reference are rows
// of elementwise-table.ts; this file launches the kernels and records the autograd nodes.
import { record } from '../autograd.js';
import type { DType } from '../dtype.js';
import { isFloat } from '../dtype.js';
import { DTypeError } from '../errors.js';
import { Params } from '../params.js';
import { broadcastShapes, sameShape } from '../shape.js';
import { Tensor, type TensorOrScalar } from '../tensor.js';
import { requireF16 } from './creation.js';
import { BINARY_CODE, FUSED_GRAD_CODE, UNARY, UNARY_CODE, type BinaryName, type UnaryName, type UnaryRow } from './elementwise-table.js';
import { broadcastStrides, computeType, elementwiseGrid, empty, requireFloat, requireRank, requireSameDtype, unbroadcast } from './util.js';

/** Launch the unary kernel: out = f(x) elementwise, contiguous. */
function unaryKernel(x: Tensor, code: number, alpha = 0, beta = 0, outDtype: DType = x.dtype): Tensor {
  requireRank('unary', x);
  const engine = x.engine;
  const out = empty(engine, x.shape, outDtype);
  if (out.size > 0) {
    engine.run({
      shader: 'unary',
      types: { T: x.dtype, O: outDtype },
      // Four elements (one vec4) per invocation, as elementwiseGrid sizes it.
      constants: { OP: code, ALIGNED: x.isContiguous() && x.offset % 4 === 0, RANK: x.ndim },
      params: new Params().vec4u(x.shape).vec4u(x.strides).u32(out.size).u32(x.offset).f32(alpha).f32(beta).finish(),
      buffers: [x.storage.buffer, out.storage.buffer],
      grid: elementwiseGrid(engine, out.size),
    });
  }
  return out;
}

/** Launch the binary kernel with broadcasting. */
function binaryKernel(op: string, a: Tensor, b: Tensor, code: number, alpha = 1, beta = 0, outDtype: DType = a.dtype): Tensor {
  requireRank(op, a);
  requireRank(op, b);
  const engine = a.engine;
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = empty(engine, shape, outDtype);
  if (out.size > 0) {
    const aligned = sameShape(a.shape, b.shape) && a.isContiguous() && b.isContiguous() && a.offset % 4 === 0 && b.offset % 4 === 0;
    engine.run({
      shader: 'binary',
      types: { T: a.dtype, C: computeType(a.dtype), O: outDtype },
      // Four elements (one vec4) per invocation, as elementwiseGrid sizes it.
      constants: { OP: code, ALIGNED: aligned, RANK: shape.length },
      params: new Params()
        .vec4u(shape)
        .vec4u(broadcastStrides(a, shape))
        .vec4u(broadcastStrides(b, shape))
        .u32(out.size)
        .u32(a.offset)
        .u32(b.offset)
        .f32(alpha)
        .f32(beta)
        .finish(),
      buffers: [a.storage.buffer, b.storage.buffer, out.storage.buffer],
      grid: elementwiseGrid(engine, out.size),
    });
  }
  return out;
}

/** @internal A contiguous copy without autograd (contiguous, clone). */
export function identityCopy(x: Tensor): Tensor {
  return unaryKernel(x, 0);
}

// ------------------------------------------------------------------ unary

/** One row of the table on `x`, with its scalars: the kernel launch and the autograd node. */
export function unaryOp(op: UnaryName, x: Tensor, alpha = 0, beta = 0, name: string = op): Tensor {
  x.assertLive(name);
  const row: UnaryRow = UNARY[op];
  if (row.dtypes === 'float') requireFloat(name, x);
  const y = unaryKernel(x, UNARY_CODE[op], alpha, beta);
  const backward = row.backward;
  if (backward === 'not differentiable') return y;
  if ('fused' in backward) return record(x.engine, name, [x], y, [x], (g, [xs]) => [fusedGrad(op, xs, g, alpha, beta)]);
  return record(x.engine, name, [x], y, [x, y], (g, [xs, ys]) => [backward.rule({ g, x: xs, y: ys, alpha, beta, affine })]);
}

/**
 * g' = f'(x) * g for a row with a fused gradient, in one launch of the binary kernel. It has no
 * backward rule of its own: a second derivative through it (createGraph) raises a named AutogradError.
 */
function fusedGrad(op: UnaryName, x: Tensor, g: Tensor, alpha: number, beta: number): Tensor {
  const name = `${op}Grad`; // e.g. reluGrad: what a second-derivative error names
  return record(x.engine, name, [x, g], binaryKernel(name, x, g, FUSED_GRAD_CODE[op]!, alpha, beta, g.dtype), [], null);
}

/** GELU, exact (erf) by default or the tanh approximation. */
export function gelu(x: Tensor, options: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  return unaryOp(options.approximate === 'tanh' ? 'geluTanh' : 'gelu', x, 0, 0, 'gelu');
}

/** log(1 + exp(beta x)) / beta, linear above `threshold` (PyTorch's defaults: beta 1, threshold 20). */
export function softplus(x: Tensor, options: { beta?: number; threshold?: number } = {}): Tensor {
  return unaryOp('softplus', x, options.beta ?? 1, options.threshold ?? 20);
}

const F32_MAX = 3.4028234663852886e38;

export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  if (min == null && max == null) throw new DTypeError('clamp: at least one of min and max must be given');
  return unaryOp('clamp', x, min ?? -F32_MAX, max ?? F32_MAX);
}

/** alpha * x + beta in one launch; `op` is the name autograd (and anomaly detection) gives it. */
export function affine(x: Tensor, alpha: number, beta: number, op = 'affine'): Tensor {
  return unaryOp('affine', x, alpha, beta, op);
}

/** Convert to `dtype`; float → int truncates toward zero. */
export function cast(x: Tensor, dtype: DType): Tensor {
  x.assertLive('cast');
  if (dtype === 'f16') requireF16(x.engine, 'cast');
  if (dtype === x.dtype) {
    return record(x.engine, 'cast', [x], x.view_(x.shape, x.strides, x.offset), [], (g) => [g]);
  }
  const out = unaryKernel(x, 0, 0, 0, dtype);
  if (!isFloat(x.dtype) || !isFloat(dtype)) return out;
  const from = x.dtype;
  return record(x.engine, 'cast', [x], out, [], (g) => [g.to(from)]);
}

// ------------------------------------------------------------------ binary

function scalarLike(x: Tensor, v: number): Tensor {
  return x.engine.full([], v, { dtype: x.dtype });
}

function asTensor(op: string, a: Tensor, b: TensorOrScalar): Tensor {
  if (typeof b === 'number') return scalarLike(a, b);
  a.assertLive(op, b);
  requireSameDtype(op, a, b);
  return b;
}

export function add(a: Tensor, b: TensorOrScalar, alpha = 1): Tensor {
  a.assertLive('add');
  if (typeof b === 'number') return affine(a, 1, alpha * b, 'add');
  a.assertLive('add', b);
  requireSameDtype('add', a, b);
  const out = binaryKernel('add', a, b, BINARY_CODE.add, alpha);
  const sa = [...a.shape];
  const sb = [...b.shape];
  return record(a.engine, 'add', [a, b], out, [], (g) => [unbroadcast(g, sa), unbroadcast(alpha === 1 ? g : g.mul(alpha), sb)]);
}

export function sub(a: Tensor, b: TensorOrScalar, alpha = 1): Tensor {
  a.assertLive('sub');
  if (typeof b === 'number') return affine(a, 1, -alpha * b, 'sub');
  a.assertLive('sub', b);
  requireSameDtype('sub', a, b);
  const out = binaryKernel('sub', a, b, BINARY_CODE.sub, alpha);
  const sa = [...a.shape];
  const sb = [...b.shape];
  return record(a.engine, 'sub', [a, b], out, [], (g) => [unbroadcast(g, sa), unbroadcast(g.mul(-alpha), sb)]);
}

export function mul(a: Tensor, b: TensorOrScalar): Tensor {
  a.assertLive('mul');
  if (typeof b === 'number') return affine(a, b, 0, 'mul');
  a.assertLive('mul', b);
  requireSameDtype('mul', a, b);
  const out = binaryKernel('mul', a, b, BINARY_CODE.mul);
  const sa = [...a.shape];
  const sb = [...b.shape];
  return record(a.engine, 'mul', [a, b], out, [a, b], (g, [a, b]) => [unbroadcast(g.mul(b), sa), unbroadcast(g.mul(a), sb)]);
}

export function div(a: Tensor, b: TensorOrScalar): Tensor {
  a.assertLive('div');
  if (typeof b === 'number') {
    if (isFloat(a.dtype)) return affine(a, 1 / b, 0, 'div');
    b = scalarLike(a, b);
  }
  a.assertLive('div', b);
  requireSameDtype('div', a, b);
  const out = binaryKernel('div', a, b, BINARY_CODE.div);
  const sa = [...a.shape];
  const sb = [...b.shape];
  return record(a.engine, 'div', [a, b], out, [b, out], (g, [b, y]) => [unbroadcast(g.div(b), sa), unbroadcast(g.mul(y).div(b).neg(), sb)]);
}

/** x ** exponent; a number exponent runs in one launch (negative bases allowed for integer exponents). */
export function pow(a: Tensor, exponent: TensorOrScalar): Tensor {
  a.assertLive('pow');
  requireFloat('pow', a);
  if (typeof exponent === 'number') return unaryOp('powScalar', a, exponent, 0, 'pow');
  const b = asTensor('pow', a, exponent);
  const out = binaryKernel('pow', a, b, BINARY_CODE.pow);
  const sa = [...a.shape];
  const sb = [...b.shape];
  return record(a.engine, 'pow', [a, b], out, [a, b, out], (g, [a, b, y]) => [
    unbroadcast(g.mul(b).mul(a.pow(b.sub(1))), sa),
    unbroadcast(g.mul(y).mul(a.log()), sb),
  ]);
}

/** base ** x for a number base (PyTorch's torch.pow(scalar, tensor)). */
export function rpow(base: number, x: Tensor): Tensor {
  return unaryOp('rpow', x, base, 0, 'pow');
}

function extremum(op: 'maximum' | 'minimum', a: Tensor, other: TensorOrScalar): Tensor {
  a.assertLive(op);
  const b = asTensor(op, a, other);
  const out = binaryKernel(op, a, b, BINARY_CODE[op]);
  const sa = [...a.shape];
  const sb = [...b.shape];
  const wins = op === 'maximum' ? BINARY_CODE.gt : BINARY_CODE.lt;
  // Ties split the gradient evenly, as PyTorch does.
  return record(a.engine, op, [a, b], out, [a, b], (g, [a, b]) => {
    const winA = binaryKernel(op, a, b, wins, 1, 0, g.dtype);
    const tie = binaryKernel(op, a, b, BINARY_CODE.eq, 1, 0, g.dtype);
    const shareA = winA.add(tie.mul(0.5));
    const ga = g.mul(shareA);
    return [unbroadcast(ga, sa), unbroadcast(g.sub(ga), sb)];
  });
}

export const maximum = (a: Tensor, b: TensorOrScalar) => extremum('maximum', a, b);
export const minimum = (a: Tensor, b: TensorOrScalar) => extremum('minimum', a, b);

function compare(op: BinaryName, a: Tensor, other: TensorOrScalar): Tensor {
  a.assertLive(op);
  const b = asTensor(op, a, other);
  return binaryKernel(op, a, b, BINARY_CODE[op], 1, 0, 'u32');
}

/** Comparisons return u32 masks of 0 and 1 (kiln's stand-in for bool). */
export const eq = (a: Tensor, b: TensorOrScalar) => compare('eq', a, b);
export const ne = (a: Tensor, b: TensorOrScalar) => compare('ne', a, b);
export const lt = (a: Tensor, b: TensorOrScalar) => compare('lt', a, b);
export const le = (a: Tensor, b: TensorOrScalar) => compare('le', a, b);
export const gt = (a: Tensor, b: TensorOrScalar) => compare('gt', a, b);
export const ge = (a: Tensor, b: TensorOrScalar) => compare('ge', a, b);

/** condition ? a : b elementwise, all three broadcast; the condition may have any dtype (non-zero = true). */
export function where(condition: Tensor, a: TensorOrScalar, b: TensorOrScalar): Tensor {
  condition.assertLive('where');
  const ref = typeof a === 'number' ? (typeof b === 'number' ? null : b) : a;
  if (!ref) throw new DTypeError('where: at least one of the two value arguments must be a tensor');
  const ta = typeof a === 'number' ? scalarLike(ref, a) : a;
  const tb = typeof b === 'number' ? scalarLike(ref, b) : b;
  condition.assertLive('where', ta, tb);
  requireSameDtype('where', ta, tb);
  for (const t of [condition, ta, tb]) requireRank('where', t);
  const engine = condition.engine;
  const shape = broadcastShapes('where', condition.shape, ta.shape, tb.shape);
  const out = empty(engine, shape, ta.dtype);
  if (out.size > 0) {
    const full = (t: Tensor) => sameShape(t.shape, shape) && t.isContiguous();
    const aligned = full(condition) && full(ta) && full(tb) && ta.offset % 4 === 0 && tb.offset % 4 === 0;
    engine.run({
      shader: 'where',
      types: { T: ta.dtype, K: condition.dtype },
      // Four elements (one vec4) per invocation, as elementwiseGrid sizes it.
      constants: { ALIGNED: aligned, RANK: shape.length },
      params: new Params()
        .vec4u(shape)
        .vec4u(broadcastStrides(condition, shape))
        .vec4u(broadcastStrides(ta, shape))
        .vec4u(broadcastStrides(tb, shape))
        .u32(out.size)
        .u32(condition.offset)
        .u32(ta.offset)
        .u32(tb.offset)
        .finish(),
      buffers: [condition.storage.buffer, ta.storage.buffer, tb.storage.buffer, out.storage.buffer],
      grid: elementwiseGrid(engine, out.size),
    });
  }
  const sa = [...ta.shape];
  const sb = [...tb.shape];
  return record(engine, 'where', [null, ta, tb], out, [condition], (g, [c]) => {
    const zero = scalarLike(g, 0);
    return [null, unbroadcast(where(c, g, zero), sa), unbroadcast(where(c, zero, g), sb)];
  });
}
