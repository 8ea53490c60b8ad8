// Op-table cases for indexing and joining ops: odd shapes, non-contiguous inputs and indices,
// repeated indices (their gradients are deterministic sums), ties for topk.
import { embedding, oneHot, pad } from '../../engine/index.js';
import { map } from '../reference/core.js';
import * as R from '../reference/indexing.js';
import type { InputSpec, OpCase } from './harness.js';

const idx = (shape: number[], hi: number, extra: Partial<InputSpec> = {}): InputSpec => ({ shape, values: { int: [0, hi] }, dtype: 'i32', ...extra });
const uidx = (shape: number[], hi: number, extra: Partial<InputSpec> = {}): InputSpec => ({ shape, values: { int: [0, hi] }, dtype: 'u32', ...extra });

// cumsum accumulates sequentially in f32: over 257 terms of size ~1 the rounding error is about
// sqrt(n) * eps * max|partial| ~ 2e-5, above the default atol of 2e-6 where a partial sum is near 0.
const LONG_SUM_TOL = { rtol: 2e-5, atol: 3e-5 };

export const indexingCases = {
  gather: [
    { inputs: [{ shape: [7] }, idx([5], 7)], run: (_e, x, i) => x.gather(0, i), ref: (x, i) => R.gather(x, 0, i) },
    // index longer than x along dim: repeated indices, the gradient sums them
    { inputs: [{ shape: [4, 6] }, idx([4, 9], 6)], run: (_e, x, i) => x.gather(1, i), ref: (x, i) => R.gather(x, 1, i) },
    { inputs: [{ shape: [5, 6], layout: 'transposed' }, idx([3, 6], 5)], run: (_e, x, i) => x.gather(0, i), ref: (x, i) => R.gather(x, 0, i) },
    { inputs: [{ shape: [3, 1, 257] }, idx([3, 1, 20], 257)], run: (_e, x, i) => x.gather(-1, i), ref: (x, i) => R.gather(x, 2, i) },
    { inputs: [{ shape: [45, 65] }, idx([45, 65], 45)], grad: false, run: (_e, x, i) => x.gather(0, i), ref: (x, i) => R.gather(x, 0, i) },
    // index smaller than x outside dim; strided x; transposed (non-contiguous) index
    { inputs: [{ shape: [4, 9], layout: 'strided' }, idx([2, 5], 9)], run: (_e, x, i) => x.gather(1, i), ref: (x, i) => R.gather(x, 1, i) },
    { inputs: [{ shape: [6, 4], layout: 'offset' }, idx([6, 4], 6, { layout: 'transposed' })], run: (_e, x, i) => x.gather(0, i), ref: (x, i) => R.gather(x, 0, i) },
    { inputs: [{ shape: [1] }, uidx([3], 1)], run: (_e, x, i) => x.gather(0, i), ref: (x, i) => R.gather(x, 0, i) },
    { inputs: [{ shape: [3, 4], values: { int: [-50, 50] }, dtype: 'i32' }, idx([3, 2], 4)], run: (_e, x, i) => x.gather(1, i), ref: (x, i) => R.gather(x, 1, i) },
  ],
  indexSelect: [
    { inputs: [{ shape: [7] }, idx([10], 7)], run: (_e, x, i) => x.indexSelect(0, i), ref: (x, i) => R.indexSelect(x, 0, i) },
    { inputs: [{ shape: [5, 6], layout: 'transposed' }, idx([4], 6)], run: (_e, x, i) => x.indexSelect(1, i), ref: (x, i) => R.indexSelect(x, 1, i) },
    { inputs: [{ shape: [3, 1, 257] }, idx([9], 257)], run: (_e, x, i) => x.indexSelect(2, i), ref: (x, i) => R.indexSelect(x, 2, i) },
    { inputs: [{ shape: [45, 65] }, idx([30], 45)], grad: false, run: (_e, x, i) => x.indexSelect(0, i), ref: (x, i) => R.indexSelect(x, 0, i) },
    { inputs: [{ shape: [4, 9], layout: 'strided' }, uidx([12], 9)], run: (_e, x, i) => x.indexSelect(-1, i), ref: (x, i) => R.indexSelect(x, 1, i) },
    // middle dim, repeated indices, a non-contiguous index
    { inputs: [{ shape: [2, 3, 4], layout: 'offset' }, idx([6], 3, { layout: 'strided' })], run: (_e, x, i) => x.indexSelect(1, i), ref: (x, i) => R.indexSelect(x, 1, i) },
  ],
  scatterAdd: [
    { inputs: [{ shape: [7] }, idx([12], 7), { shape: [12] }], run: (_e, x, i, s) => x.scatterAdd(0, i, s), ref: (x, i, s) => R.scatterAdd(x, 0, i, s) },
    { inputs: [{ shape: [4, 5] }, idx([6, 5], 4), { shape: [6, 5] }], run: (_e, x, i, s) => x.scatterAdd(0, i, s), ref: (x, i, s) => R.scatterAdd(x, 0, i, s) },
    // src larger than the index: only the covered part counts (its gradient is zero elsewhere)
    { inputs: [{ shape: [4, 5] }, idx([3, 4], 5), { shape: [5, 6] }], run: (_e, x, i, s) => x.scatterAdd(1, i, s), ref: (x, i, s) => R.scatterAdd(x, 1, i, s) },
    { inputs: [{ shape: [3, 1, 257] }, idx([3, 1, 257], 257), { shape: [3, 1, 257] }], run: (_e, x, i, s) => x.scatterAdd(-1, i, s), ref: (x, i, s) => R.scatterAdd(x, 2, i, s) },
    { inputs: [{ shape: [45, 65] }, idx([45, 65], 45), { shape: [45, 65] }], grad: false, run: (_e, x, i, s) => x.scatterAdd(0, i, s), ref: (x, i, s) => R.scatterAdd(x, 0, i, s) },
    { inputs: [{ shape: [5, 6], layout: 'transposed' }, idx([5, 6], 5, { layout: 'transposed' }), { shape: [5, 6], layout: 'strided' }], run: (_e, x, i, s) => x.scatterAdd(0, i, s), ref: (x, i, s) => R.scatterAdd(x, 0, i, s) },
    // one target for 200 sources: one long segment summed in order
    { inputs: [{ shape: [3] }, uidx([200], 2, { values: { int: [1, 2] } }), { shape: [200] }], run: (_e, x, i, s) => x.scatterAdd(0, i, s), ref: (x, i, s) => R.scatterAdd(x, 0, i, s) },
    { inputs: [{ shape: [6], values: { int: [-9, 9] }, dtype: 'i32' }, idx([10], 6), { shape: [10], values: { int: [-9, 9] }, dtype: 'i32' }], run: (_e, x, i, s) => x.scatterAdd(0, i, s), ref: (x, i, s) => R.scatterAdd(x, 0, i, s) },
  ],
  embedding: [
    { inputs: [idx([7], 5), { shape: [5, 3] }], run: (_e, i, w) => embedding(i, w), ref: (i, w) => R.embedding(i, w) },
    { inputs: [idx([2, 3], 4), { shape: [4, 8], layout: 'transposed' }], run: (_e, i, w) => embedding(i, w), ref: (i, w) => R.embedding(i, w) },
    { inputs: [idx([4, 9], 10, { layout: 'strided' }), { shape: [10, 6] }], run: (_e, i, w) => embedding(i, w), ref: (i, w) => R.embedding(i, w) },
    { inputs: [uidx([3, 1, 5], 7), { shape: [7, 257] }], run: (_e, i, w) => embedding(i, w), ref: (i, w) => R.embedding(i, w) },
    { inputs: [idx([45, 65], 50), { shape: [50, 16] }], grad: false, run: (_e, i, w) => embedding(i, w), ref: (i, w) => R.embedding(i, w) },
    { inputs: [idx([], 3), { shape: [3, 4], layout: 'offset' }], run: (_e, i, w) => embedding(i, w), ref: (i, w) => R.embedding(i, w) },
    // 30 lookups of 3 rows: every row's gradient is a sum of about 10 output rows
    { inputs: [idx([30], 3), { shape: [3, 5] }], run: (_e, i, w) => embedding(i, w), ref: (i, w) => R.embedding(i, w) },
  ],
  oneHot: [
    { inputs: [idx([7], 5)], run: (_e, i) => oneHot(i, 5), ref: (i) => R.oneHot(i, 5) },
    { inputs: [uidx([3, 4], 10)], run: (_e, i) => oneHot(i, 10), ref: (i) => R.oneHot(i, 10) },
    { inputs: [idx([4, 9], 3, { layout: 'strided' })], run: (_e, i) => oneHot(i, 4), ref: (i) => R.oneHot(i, 4) },
    { inputs: [idx([], 3)], run: (_e, i) => oneHot(i, 3), ref: (i) => R.oneHot(i, 3) },
  ],
  topk: [
    { inputs: [{ shape: [7], values: 'distinct' }], run: (_e, x) => x.topk(3).values, ref: (x) => R.topk(x, 3).values },
    { inputs: [{ shape: [7], values: 'distinct' }], grad: false, run: (_e, x) => x.topk(3).indices, ref: (x) => R.topk(x, 3).indices },
    { inputs: [{ shape: [1] }], run: (_e, x) => x.topk(1).values, ref: (x) => R.topk(x, 1).values },
    { inputs: [{ shape: [3, 1, 257], values: 'distinct' }], run: (_e, x) => x.topk(5, -1).values, ref: (x) => R.topk(x, 5, -1).values },
    { inputs: [{ shape: [3, 1, 257], values: 'distinct' }], grad: false, run: (_e, x) => x.topk(2, 0, false).indices, ref: (x) => R.topk(x, 2, 0, false).indices, label: '[3,1,257] k=2 dim=0 smallest indices' },
    { inputs: [{ shape: [45, 65], values: 'distinct' }], grad: false, run: (_e, x) => x.topk(10, 0).values, ref: (x) => R.topk(x, 10, 0).values },
    { inputs: [{ shape: [45, 65], values: 'distinct' }], grad: false, run: (_e, x) => x.topk(10, 1).indices, ref: (x) => R.topk(x, 10, 1).indices },
    { inputs: [{ shape: [5, 6], values: 'distinct', layout: 'transposed' }], run: (_e, x) => x.topk(6, 1, false).values, ref: (x) => R.topk(x, 6, 1, false).values },
    { inputs: [{ shape: [6, 4], values: 'distinct', layout: 'strided' }], run: (_e, x) => x.topk(2, 0).values, ref: (x) => R.topk(x, 2, 0).values },
    // ties: integer values in a small range; the lower index comes first (largest and smallest)
    { inputs: [{ shape: [4, 9], values: { int: [-2, 3] } }], grad: false, run: (_e, x) => x.topk(4).indices, ref: (x) => R.topk(x, 4).indices, label: '[4,9] ties k=4 indices' },
    { inputs: [{ shape: [4, 9], values: { int: [-2, 3] } }], grad: false, run: (_e, x) => x.topk(9, 1, false).indices, ref: (x) => R.topk(x, 9, 1, false).indices, label: '[4,9] ties k=9 smallest indices' },
    { inputs: [{ shape: [4, 9], values: { fixed: [0, -0, 1, -1, 0, 2, -2, -0, 1] } }], grad: false, run: (_e, x) => x.topk(9).indices, ref: (x) => R.topk(x, 9).indices, label: '[4,9] signed zeros tie' },
    { inputs: [{ shape: [3, 8], values: { int: [-3, 3] }, dtype: 'i32' }], run: (_e, x) => x.topk(5, 1).indices, ref: (x) => R.topk(x, 5, 1).indices },
    { inputs: [{ shape: [3, 8], values: { int: [0, 4] }, dtype: 'u32' }], run: (_e, x) => x.topk(5, 1, false).values, ref: (x) => R.topk(x, 5, 1, false).values },
    // rows longer than one sort block (512): global bitonic steps
    { inputs: [{ shape: [2, 1000], values: 'distinct' }], grad: false, run: (_e, x) => x.topk(7, 1).indices, ref: (x) => R.topk(x, 7, 1).indices },
  ],
  cumsum: [
    { inputs: [{ shape: [7] }], run: (_e, x) => x.cumsum(0), ref: (x) => R.cumsum(x, 0) },
    { inputs: [{ shape: [1] }], run: (_e, x) => x.cumsum(-1), ref: (x) => R.cumsum(x, 0) },
    // f16 storage rounds each of 257 inputs and outputs: the error outgrows the shared f16 tolerance
    { inputs: [{ shape: [3, 1, 257] }], tol: LONG_SUM_TOL, f16: false, run: (_e, x) => x.cumsum(-1), ref: (x) => R.cumsum(x, 2) },
    { inputs: [{ shape: [45, 65] }], grad: false, tol: LONG_SUM_TOL, run: (_e, x) => x.cumsum(0), ref: (x) => R.cumsum(x, 0) },
    { inputs: [{ shape: [5, 6], layout: 'transposed' }], run: (_e, x) => x.cumsum(1), ref: (x) => R.cumsum(x, 1) },
    { inputs: [{ shape: [4, 9], layout: 'strided' }], run: (_e, x) => x.cumsum(0), ref: (x) => R.cumsum(x, 0) },
    { inputs: [{ shape: [2, 3, 4], layout: 'offset' }], run: (_e, x) => x.cumsum(1), ref: (x) => R.cumsum(x, 1) },
    { inputs: [{ shape: [3, 5], values: { int: [-9, 9] }, dtype: 'i32' }], run: (_e, x) => x.cumsum(1), ref: (x) => R.cumsum(x, 1) },
    { inputs: [{ shape: [] }], run: (_e, x) => x.cumsum(0), ref: (x) => x },
  ],

  cat: [
    { inputs: [{ shape: [2, 3] }, { shape: [4, 3], layout: 'transposed' }, { shape: [1, 3] }], run: (e, a, b, c) => e.cat([a, b, c], 0), ref: (a, b, c) => R.cat([a, b, c], 0) },
    { inputs: [{ shape: [3, 2] }, { shape: [3, 5], layout: 'strided' }, { shape: [3, 1], layout: 'offset' }], run: (e, a, b, c) => e.cat([a, b, c], -1), ref: (a, b, c) => R.cat([a, b, c], 1) },
    { inputs: [{ shape: [3, 1, 257] }, { shape: [3, 1, 257] }], run: (e, a, b) => e.cat([a, b], 1), ref: (a, b) => R.cat([a, b], 1) },
    { inputs: [{ shape: [45, 65] }, { shape: [7, 65] }], grad: false, run: (e, a, b) => e.cat([a, b], 0), ref: (a, b) => R.cat([a, b], 0) },
    { inputs: [{ shape: [7] }], run: (e, a) => e.cat([a], 0), ref: (a) => R.cat([a], 0) },
    // the same tensor twice: its gradient is the sum of both parts
    { inputs: [{ shape: [2, 3] }], run: (e, a) => e.cat([a, a], -2), ref: (a) => R.cat([a, a], 0) },
    { inputs: [{ shape: [2, 2], values: { int: [-9, 9] }, dtype: 'i32' }, { shape: [1, 2], values: { int: [-9, 9] }, dtype: 'i32' }], run: (e, a, b) => e.cat([a, b], 0), ref: (a, b) => R.cat([a, b], 0) },
  ],
  stack: [
    { inputs: [{ shape: [3, 4] }, { shape: [3, 4] }, { shape: [3, 4] }], run: (e, a, b, c) => e.stack([a, b, c], 0), ref: (a, b, c) => R.stack([a, b, c], 0) },
    { inputs: [{ shape: [5, 6], layout: 'transposed' }, { shape: [5, 6], layout: 'strided' }], run: (e, a, b) => e.stack([a, b], -1), ref: (a, b) => R.stack([a, b], 2) },
    { inputs: [{ shape: [7] }, { shape: [7] }], run: (e, a, b) => e.stack([a, b], 1), ref: (a, b) => R.stack([a, b], 1) },
    { inputs: [{ shape: [45, 65] }, { shape: [45, 65] }], grad: false, run: (e, a, b) => e.stack([a, b], 1), ref: (a, b) => R.stack([a, b], 1) },
  ],
  split: [
    { inputs: [{ shape: [6, 7] }], run: (_e, x) => x.split(2, 1)[1], ref: (x) => R.narrow(x, 1, 2, 2) },
    // the last piece of a split by size is shorter
    { inputs: [{ shape: [6, 7] }], run: (_e, x) => x.split(3, -1)[2], ref: (x) => R.narrow(x, 1, 6, 1) },
    { inputs: [{ shape: [6, 4], layout: 'transposed' }], run: (_e, x) => x.split([1, 3, 2], 0)[1], ref: (x) => R.narrow(x, 0, 1, 3) },
    // every piece, reassembled in reverse order
    { inputs: [{ shape: [4, 9], layout: 'strided' }], run: (e, x) => e.cat(x.split([4, 0, 5], 1).reverse(), 1), ref: (x) => R.cat([R.narrow(x, 1, 4, 5), R.narrow(x, 1, 0, 4)], 1) },
    { inputs: [{ shape: [3, 1, 257] }], run: (_e, x) => x.split(100, -1)[2].mul(2), ref: (x) => map(R.narrow(x, 2, 200, 57), (v) => 2 * v) },
    { inputs: [{ shape: [10, 3] }], run: (_e, x) => x.chunk(3, 0)[2], ref: (x) => R.narrow(x, 0, 8, 2) },
  ],
  pad: [
    { inputs: [{ shape: [4, 5] }], run: (_e, x) => pad(x, [1, 2]), ref: (x) => R.pad(x, [1, 2]) },
    { inputs: [{ shape: [4, 5] }], run: (_e, x) => pad(x, [1, 2, 3, 0], 2.5), ref: (x) => R.pad(x, [1, 2, 3, 0], 2.5) },
    { inputs: [{ shape: [4, 5] }], run: (_e, x) => pad(x, [-1, 2, 0, -2]), ref: (x) => R.pad(x, [-1, 2, 0, -2]) },
    { inputs: [{ shape: [3, 1, 257] }], run: (_e, x) => pad(x, [0, 0, 1, 1, 2, 0], -1), ref: (x) => R.pad(x, [0, 0, 1, 1, 2, 0], -1) },
    { inputs: [{ shape: [5, 6], layout: 'transposed' }], run: (_e, x) => pad(x, [2, -3]), ref: (x) => R.pad(x, [2, -3]) },
    { inputs: [{ shape: [4, 9], layout: 'strided' }], run: (_e, x) => pad(x, [-1, -1, -1, 1]), ref: (x) => R.pad(x, [-1, -1, -1, 1]) },
    // everything cropped away along the last dim: only the fill value remains
    { inputs: [{ shape: [4, 5] }], run: (_e, x) => pad(x, [-5, 1], 3), ref: (x) => R.pad(x, [-5, 1], 3) },
    { inputs: [{ shape: [45, 65] }], grad: false, run: (_e, x) => pad(x, [3, -4, -2, 1]), ref: (x) => R.pad(x, [3, -4, -2, 1]) },
    { inputs: [{ shape: [2, 3], values: { int: [-9, 9] }, dtype: 'i32' }], run: (_e, x) => pad(x, [1, 1], 7), ref: (x) => R.pad(x, [1, 1], 7) },
  ],
} satisfies Record<string, OpCase[]>;
