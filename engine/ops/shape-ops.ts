// Joining and splitting: cat, stack, split, chunk, pad.
import { record } from '../autograd.js';
import { fmtShape, RangeArgumentError, ShapeError } from '../errors.js';
import { normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { requireSameDtype } from './util.js';
import { copyInto, narrow } from './views.js';

export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('cat: expected a non-empty list of tensors');
  const first = tensors[0];
  first.assertLive('cat', ...tensors);
  const d = normAxis('cat', dim, first.shape);
  for (const t of tensors) {
    requireSameDtype('cat', first, t);
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i])) {
      throw new ShapeError(`cat: shapes ${tensors.map((x) => fmtShape(x.shape)).join(', ')} differ outside dim ${d}`);
    }
  }
  const engine = first.engine;
  const sizes = tensors.map((t) => t.shape[d]);
  const shape = [...first.shape];
  shape[d] = sizes.reduce((a, b) => a + b, 0);
  const out = engine.empty(shape, first.dtype);
  let off = 0;
  for (const t of tensors) {
    copyInto(out.view_(t.shape, out.strides, out.offset + off * out.strides[d]), t, true);
    off += t.shape[d];
  }
  return record(engine, 'cat', tensors, out, [], (g) => {
    let o = 0;
    return sizes.map((s) => {
      const part = g.narrow(d, o, s);
      o += s;
      return part;
    });
  });
}

export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('stack: expected a non-empty list of tensors');
  const d = normAxis('stack', dim, tensors[0].shape, 1);
  for (const t of tensors) {
    if (t.ndim !== tensors[0].ndim || t.shape.some((s, i) => s !== tensors[0].shape[i])) {
      throw new ShapeError(`stack: all tensors must have the same shape, got ${tensors.map((x) => fmtShape(x.shape)).join(', ')}`);
    }
  }
  const parts = tensors.map((t) => t.unsqueeze(d));
  const out = cat(parts, d);
  for (const p of parts) p.dispose();
  return out;
}

/** Views of consecutive pieces: equal pieces of `splitSize` (the last may be smaller), or the given sizes. */
export function split(x: Tensor, splitSizeOrSections: number | number[], dim = 0): Tensor[] {
  x.assertLive('split');
  const d = normAxis('split', dim, x.shape);
  const size = x.shape[d];
  let sizes: number[];
  if (typeof splitSizeOrSections === 'number') {
    const s = splitSizeOrSections;
    if (!Number.isInteger(s) || s <= 0) throw new RangeArgumentError(`split: split size must be a positive integer, got ${s}`);
    sizes = Array.from({ length: Math.max(1, Math.ceil(size / s)) }, (_, i) => Math.min(s, size - i * s));
  } else {
    sizes = splitSizeOrSections;
    if (sizes.reduce((a, b) => a + b, 0) !== size || sizes.some((s) => !Number.isInteger(s) || s < 0)) {
      throw new ShapeError(`split: sizes [${sizes.join(', ')}] do not add up to dim ${d} of ${fmtShape(x.shape)}`);
    }
  }
  let off = 0;
  return sizes.map((s) => {
    const v = narrow(x, d, off, s);
    off += s;
    return v;
  });
}

/** `chunks` pieces of ceil(size / chunks) (fewer if the dim is short), as PyTorch's chunk. */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  if (!Number.isInteger(chunks) || chunks <= 0) throw new RangeArgumentError(`chunk: chunks must be a positive integer, got ${chunks}`);
  const d = normAxis('chunk', dim, x.shape);
  return split(x, Math.max(1, Math.ceil(x.shape[d] / chunks)), d);
}

/**
 * Constant padding as PyTorch's F.pad: `pads` holds (before, after) pairs starting from the last dim.
 * Negative pads crop.
 */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  x.assertLive('pad');
  if (pads.length % 2 !== 0 || pads.length / 2 > x.ndim || pads.some((p) => !Number.isInteger(p))) {
    throw new ShapeError(`pad: pads [${pads.join(', ')}] must be integer (before, after) pairs for at most ${x.ndim} dims of ${fmtShape(x.shape)}`);
  }
  const before = x.shape.map(() => 0);
  const after = x.shape.map(() => 0);
  for (let i = 0; i < pads.length / 2; i++) {
    before[x.ndim - 1 - i] = pads[2 * i];
    after[x.ndim - 1 - i] = pads[2 * i + 1];
  }
  const shape = x.shape.map((s, i) => s + before[i] + after[i]);
  if (shape.some((s) => s < 0)) throw new ShapeError(`pad: pads [${pads.join(', ')}] crop ${fmtShape(x.shape)} below zero`);
  const engine = x.engine;
  // The part of x that survives cropping, and where it lands in the output.
  const srcStart = before.map((b) => Math.max(0, -b));
  const dstStart = before.map((b) => Math.max(0, b));
  const keep = x.shape.map((s, i) => Math.max(0, s - srcStart[i] - Math.max(0, -after[i])));
  const out = engine.full(shape, value, { dtype: x.dtype });
  if (keep.every((k) => k > 0)) {
    const src = x.view_(keep, x.strides, x.offset + srcStart.reduce((a, s, i) => a + s * x.strides[i], 0));
    const dstOff = out.offset + dstStart.reduce((a, s, i) => a + s * out.strides[i], 0);
    copyInto(out.view_(keep, out.strides, dstOff), src, true);
    src.dispose();
  }
  const xShape = [...x.shape];
  return record(engine, 'pad', [x], out, [], (g) => {
    const inner = g.engine.zeros(xShape, { dtype: g.dtype });
    if (keep.every((k) => k > 0)) {
      const gv = g.view_(keep, g.strides, g.offset + dstStart.reduce((a, s, i) => a + s * g.strides[i], 0));
      copyInto(inner.view_(keep, inner.strides, srcStart.reduce((a, s, i) => a + s * inner.strides[i], 0)), gv, true);
      gv.dispose();
    }
    return [inner];
  });
}
