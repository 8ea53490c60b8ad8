// Helpers shared by op implementations: grids, dtype checks, launching strided kernels.
import type { DType } from '../dtype.js';
import { isFloat } from '../dtype.js';
import type { Engine } from '../engine.js';
import { DTypeError, fmtShape } from '../errors.js';
import { MAX_RANK } from '../params.js';
import { broadcastShapes, type Shape } from '../shape.js';
import { ShapeError } from '../errors.js';
import type { WgslScalar } from '../shaders.js';
import { Tensor } from '../tensor.js';

/** Workgroups for `threads` invocations of `wg` each, folded into y past the per-dimension limit. */
export function grid1d(engine: Engine, threads: number, wg = 64): [number, number] {
  const groups = Math.ceil(threads / wg);
  const max = engine.caps.limits.maxComputeWorkgroupsPerDimension || 65535;
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}

/**
 * Elements each invocation of the elementwise kernels handles: the ELEMS override of where, copy and
 * fill, and the one vec4 of unary and binary (which have no ELEMS).
 */
export const ELEMENTS_PER_INVOCATION = 4;

/** Workgroups for the grid-stride elementwise kernels (unary, binary, where, copy, fill) over n elements. */
export function elementwiseGrid(engine: Engine, n: number): [number, number] {
  return grid1d(engine, Math.ceil(n / ELEMENTS_PER_INVOCATION));
}

/** Workgroups for one workgroup per row, folded the same way. */
export function gridRows(engine: Engine, rows: number): [number, number] {
  return grid1d(engine, rows, 1);
}

/** The type arithmetic runs in for a storage dtype. */
export function computeType(dtype: DType): WgslScalar {
  return dtype === 'f16' ? 'f32' : dtype;
}

export function requireFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (!isFloat(t.dtype)) throw new DTypeError(`${op}: expected a floating-point tensor, got ${t.dtype} of shape ${fmtShape(t.shape)}`);
  }
}

export function requireDtype(op: string, t: Tensor, ...allowed: DType[]): void {
  if (!allowed.includes(t.dtype)) {
    throw new DTypeError(`${op}: expected dtype ${allowed.join(' or ')}, got ${t.dtype} of shape ${fmtShape(t.shape)}`);
  }
}

export function requireSameDtype(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new DTypeError(`${op}: dtypes differ: ${a.dtype} of shape ${fmtShape(a.shape)} and ${b.dtype} of shape ${fmtShape(b.shape)}`);
  }
}

export function requireRank(op: string, t: Tensor): void {
  if (t.ndim > MAX_RANK) throw new ShapeError(`${op}: tensors of rank above ${MAX_RANK} are not supported (got ${fmtShape(t.shape)})`);
}

/** Strides of `t` viewed with broadcast shape `out` (0 on broadcast dims). */
export function broadcastStrides(t: Tensor, out: Shape): number[] {
  const lead = out.length - t.ndim;
  return out.map((d, i) => {
    if (i < lead) return 0;
    const k = i - lead;
    return t.shape[k] === 1 && d !== 1 ? 0 : t.strides[k];
  });
}

export function broadcastPair(op: string, a: Tensor, b: Tensor): number[] {
  return broadcastShapes(op, a.shape, b.shape);
}

/** Sum `g` down to `shape` over the dims broadcasting added or stretched (the gradient of a broadcast). */
export function unbroadcast(g: Tensor, shape: Shape): Tensor {
  if (g.ndim === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length ? g.sum(axes, true) : g;
  return summed.reshape([...shape]);
}

/** A fresh contiguous tensor. */
export function empty(engine: Engine, shape: Shape, dtype: DType): Tensor {
  return Tensor.empty(engine, shape, dtype);
}
