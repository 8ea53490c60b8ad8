// Pure shape arithmetic shared by ops, references and tests. No GPU here.
import { fmtShape, ShapeError, RangeArgumentError } from './errors.js';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a contiguous tensor, in elements. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== s) return false;
    s *= shape[i];
  }
  return true;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** NumPy broadcasting of any number of shapes; throws naming the op. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i];
      if (d === out[o] || d === 1) continue;
      if (out[o] === 1) out[o] = d;
      else throw new ShapeError(`${op}: shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together`);
    }
  }
  return out;
}

/**
 * Normalise a possibly negative axis of a tensor of shape `shape`; throws naming the op and the shape.
 * `extra` widens the range for ops that insert a dim (unsqueeze, stack).
 */
export function normAxis(op: string, axis: number, shape: Shape, extra = 0): number {
  const rank = shape.length + extra;
  if (!Number.isInteger(axis) || axis < -Math.max(rank, 1) || axis >= Math.max(rank, 1)) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for a tensor of shape ${fmtShape(shape)}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalise a list of axes (undefined = all), sorted and unique. */
export function normAxes(op: string, axes: number | readonly number[] | undefined, shape: Shape): number[] {
  if (axes === undefined) return Array.from({ length: shape.length }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = [...new Set(list.map((a) => normAxis(op, a, shape)))].sort((x, y) => x - y);
  if (out.length !== list.length) throw new ShapeError(`${op}: repeated axis in [${list.join(', ')}] for shape ${fmtShape(shape)}`);
  return out;
}

/** Resolve one -1 in a reshape target. */
export function inferReshape(op: string, from: Shape, to: readonly number[]): number[] {
  const n = numel(from);
  const free = to.filter((d) => d === -1).length;
  if (free > 1 || to.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new ShapeError(`${op}: invalid target shape ${fmtShape(to)}`);
  }
  const known = to.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const out = to.map((d) => (d === -1 ? (known === 0 ? 0 : n / known) : d));
  if (numel(out) !== n || out.some((d) => !Number.isInteger(d))) {
    throw new ShapeError(`${op}: cannot reshape ${fmtShape(from)} (${n} elements) to ${fmtShape(to)}`);
  }
  return out;
}

/**
 * Strides for viewing (shape, strides) as `to` without a copy, or null when the memory layout forbids
 * it (then reshape copies). Walks runs of mutually contiguous source dims from the innermost out, and
 * requires each run to be covered exactly by a run of target dims.
 */
export function viewStrides(shape: Shape, strides: readonly number[], to: Shape): number[] | null {
  if (numel(shape) === 0 || shape.length === 0) return contiguousStrides(to);
  const out = new Array<number>(to.length);
  let ti = to.length - 1;
  let chunkStride = strides[strides.length - 1];
  let srcNumel = 1;
  let dstNumel = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    srcNumel *= shape[d];
    const runEnds = d === 0 || (shape[d - 1] !== 1 && strides[d - 1] !== srcNumel * chunkStride);
    if (!runEnds) continue;
    while (ti >= 0 && (dstNumel < srcNumel || to[ti] === 1)) {
      out[ti] = dstNumel * chunkStride;
      dstNumel *= to[ti];
      ti--;
    }
    if (dstNumel !== srcNumel) return null;
    if (d > 0) {
      chunkStride = strides[d - 1];
      srcNumel = 1;
      dstNumel = 1;
    }
  }
  return ti === -1 ? out : null;
}

export function checkIndexInt(op: string, name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeArgumentError(`${op}: ${name} ${v} is out of range [${lo}, ${hi}]`);
  }
  return v;
}
