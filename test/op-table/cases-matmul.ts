// Op-table cases for matmul: torch.matmul's 1-D rules, broadcast batch dims, odd sizes around the
// kernels' tile edges, and non-contiguous layouts (read through strides, never copied). Every shape
// runs through both kernel variants; the `auto` cases go through Tensor.matmul.
import { matmul, type MatmulVariant } from '../../engine/ops/matmul.js';
import { matmul as refMatmul } from '../reference/linalg.js';
import type { InputSpec, OpCase } from './harness.js';

type Pair = { a: InputSpec; b: InputSpec; grad?: boolean; note?: string };

const s = (shape: number[], layout?: InputSpec['layout']): InputSpec => ({ shape, layout });

const PAIRS: Pair[] = [
  { a: s([1, 1]), b: s([1, 1]) },
  { a: s([1]), b: s([1]), note: 'dot' },
  { a: s([7]), b: s([7]), note: 'dot' },
  { a: s([7]), b: s([7, 5]), note: 'vector @ matrix' },
  { a: s([5, 7]), b: s([7]), note: 'matrix @ vector' },
  { a: s([7]), b: s([3, 7, 4]), note: 'vector @ batch' },
  { a: s([3, 5, 7]), b: s([7]), note: 'batch @ vector' },
  { a: s([7, 7]), b: s([7, 7]) },
  { a: s([45, 65]), b: s([65, 33]), grad: false },
  { a: s([3, 1, 5, 7]), b: s([4, 7, 6]), note: 'batch broadcast' },
  { a: s([2, 3, 4]), b: s([4, 5]), note: 'shared B (batch folded into rows)' },
  { a: s([4, 5]), b: s([2, 5, 3]), note: 'shared A' },
  { a: s([3, 1, 257]), b: s([257, 2]) },
  { a: s([6, 1]), b: s([1, 5]), note: 'K=1' },
  { a: s([1, 9]), b: s([9, 5]), note: 'M=1' },
  { a: s([5, 9]), b: s([9, 1]), note: 'N=1' },
  { a: s([5, 6], 'transposed'), b: s([6, 4]) },
  { a: s([5, 6]), b: s([6, 4], 'transposed') },
  { a: s([2, 5, 6], 'transposed'), b: s([2, 6, 3], 'transposed') },
  { a: s([3, 4, 5], 'transposed'), b: s([5, 2]), note: 'shared B, A not foldable' },
  { a: s([4, 9], 'strided'), b: s([9, 3], 'strided') },
  { a: s([4, 5], 'offset'), b: s([5, 3], 'offset') },
  { a: s([9], 'strided'), b: s([9, 4], 'offset') },
  { a: s([3, 2, 9], 'offset'), b: s([3, 9, 5], 'strided') },
  // Five batch dims that cannot merge: beyond the kernels' four, so both operands are materialised.
  { a: s([2, 1, 2, 1, 2, 2, 3]), b: s([1, 2, 1, 2, 1, 3, 2]), note: '5 batch dims' },
  // Crosses the tiled variant's 128x64 tile and the register variant's 64x64 tile (8x8 blocks) in both dims.
  { a: s([130, 20]), b: s([20, 70]), grad: false },
  // The register variant's other blocks: 8 rows x 4 cols, 4 x 8, and the thin workgroups' long blocks.
  { a: s([70, 9]), b: s([9, 40]), grad: false, note: 'tall block' },
  { a: s([40, 9]), b: s([9, 70], 'transposed'), grad: false, note: 'wide block' },
  { a: s([3, 6]), b: s([6, 530]), grad: false, note: 'thin rows, wide block' },
  { a: s([515, 6], 'strided'), b: s([6, 3]), grad: false, note: 'thin cols, tall block' },
  // Row-contiguous B with N % 4 == 0 takes the vec4 kernel: small, every block shape, the N edge
  // inside a wide block (68), broadcast batch strides, and the thin workgroups.
  { a: s([5, 7]), b: s([7, 8]), note: 'vec4 B' },
  { a: s([130, 20]), b: s([20, 72]), grad: false, note: 'vec4 B' },
  { a: s([70, 9], 'transposed'), b: s([9, 68]), grad: false, note: 'vec4 B, N edge' },
  { a: s([3, 1, 5, 7]), b: s([4, 7, 8]), note: 'vec4 B, batch broadcast' },
  { a: s([2, 6]), b: s([6, 520]), grad: false, note: 'vec4 B, thin rows' },
  { a: s([515, 6]), b: s([6, 4]), grad: false, note: 'vec4 B, thin cols' },
  { a: s([2, 33, 17], 'transposed'), b: s([17, 65], 'strided'), grad: false },
];

function label(p: Pair, variant: MatmulVariant): string {
  const one = (x: InputSpec) => `[${x.shape}]${x.layout ? ` ${x.layout}` : ''}`;
  return `${one(p.a)} @ ${one(p.b)}${p.note ? ` (${p.note})` : ''} ${variant}`;
}

function cases(variant: MatmulVariant, pairs: Pair[]): OpCase[] {
  return pairs.map((p) => ({
    label: label(p, variant),
    inputs: [p.a, p.b],
    grad: p.grad,
    run: variant === 'auto' ? (_e, a, b) => a.matmul(b) : (_e, a, b) => matmul(a, b, { variant }),
    ref: (a, b) => refMatmul(a, b),
  }));
}

export const matmulCases = {
  matmul: [...cases('register', PAIRS), ...cases('tiled', PAIRS), ...cases('auto', PAIRS.slice(0, 12))],
} satisfies Record<string, OpCase[]>;
