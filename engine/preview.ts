// A PyTorch-like printable preview: the values part of tensor([[1., 2.], [3., 4.]], dtype=f32), eliding
// long dims (Tensor.print and toString wrap it).
import type { DType } from './dtype.js';

const EDGE = 3;
const MAX_FULL = 6;

/** The nested-bracket values of a contiguous host copy, long dims elided to their edges. */
export function formatValues(shape: readonly number[], dtype: DType, data: ArrayLike<number>): string {
  const isInt = dtype === 'i32' || dtype === 'u32';
  const fmt = (v: number) => {
    if (isInt) return String(v);
    if (Number.isNaN(v)) return 'nan';
    if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-4 || a >= 1e6)) return v.toExponential(4);
    return Number.isInteger(v) ? `${v}.` : v.toFixed(4);
  };
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((p, d) => p * d, 1));
  const render = (dim: number, off: number, indent: string): string => {
    if (dim === shape.length) return fmt(data[off]);
    const n = shape[dim];
    const idx = n > MAX_FULL ? [...Array(EDGE).keys(), -1, ...Array.from({ length: EDGE }, (_, i) => n - EDGE + i)] : [...Array(n).keys()];
    const parts = idx.map((i) => (i === -1 ? '...' : render(dim + 1, off + i * strides[dim], indent + ' ')));
    const sep = dim === shape.length - 1 ? ', ' : `,\n${indent} `;
    return `[${parts.join(sep)}]`;
  };
  return render(0, 0, '       '); // indented to sit after "tensor("
}
