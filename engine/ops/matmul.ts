// Matrix products with torch.matmul semantics. 1-D operands are promoted to matrices and the added
// dim dropped again; the batched core runs one kernel over broadcast batch dims, reading A and B
// through their strides (transposes are free), and its backward rule is two more batched products
// over transposed views, summed over the batch dims an operand was broadcast along.
import { record } from '../autograd.js';
import { fmtShape, ShapeError } from '../errors.js';
import { Params } from '../params.js';
import { broadcastShapes, viewStrides } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { broadcastStrides, empty, grid1d, requireFloat, requireSameDtype, unbroadcast } from './util.js';

/** Which kernel runs: `register` (barrier-free, a 4x4 to 8x8 block per invocation, best on CPU implementations),
 * `tiled` (workgroup-memory 128x64 tiles, for real GPUs), or `auto` (chosen from the capabilities). */
export type MatmulVariant = 'auto' | 'register' | 'tiled';

export interface MatmulOptions {
  /** Force a kernel variant (default: the engine-wide setting, normally 'auto'). */
  variant?: MatmulVariant;
}

let defaultVariant: MatmulVariant = 'auto';

/** Set the variant used when a call does not name one; returns the previous setting. */
export function setMatmulVariant(variant: MatmulVariant): MatmulVariant {
  const prev = defaultVariant;
  defaultVariant = variant;
  return prev;
}

/** Batch dims the kernels index directly; more are merged or, failing that, copied. */
const MAX_BATCH_DIMS = 4;

/** Batched matrix product with broadcast batch dims, as torch.matmul. */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  a.assertLive('matmul', b);
  requireSameDtype('matmul', a, b);
  requireFloat('matmul', a, b);
  const shapes = `${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`;
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: both operands need at least one dim, got ${shapes}`);
  const ka = a.shape[a.ndim - 1];
  const kb = b.shape[b.ndim === 1 ? 0 : b.ndim - 2];
  if (ka !== kb) throw new ShapeError(`matmul: inner dimensions differ: ${shapes} (${ka} vs ${kb})`);
  const variant = options.variant ?? defaultVariant;
  if (a.ndim >= 2 && b.ndim >= 2) return batchedMatmul(a, b, variant, shapes);
  // (K) -> (1, K) on the left, (K) -> (K, 1) on the right; the added dims are squeezed away after.
  const a2 = a.ndim === 1 ? a.unsqueeze(0) : a;
  const b2 = b.ndim === 1 ? b.unsqueeze(1) : b;
  const c2 = batchedMatmul(a2, b2, variant, shapes); // (..., M or 1, N or 1)
  const drop = [...(a.ndim === 1 ? [c2.ndim - 2] : []), ...(b.ndim === 1 ? [c2.ndim - 1] : [])];
  const c = c2.squeeze(drop);
  for (const t of [a2, b2, c2]) if (t !== a && t !== b) t.dispose();
  return c;
}

/** (..., M, K) @ (..., K, N) -> (broadcast batch..., M, N), both operands of rank >= 2. */
function batchedMatmul(a: Tensor, b: Tensor, variant: MatmulVariant, shapes: string): Tensor {
  const M = a.shape[a.ndim - 2];
  const K = a.shape[a.ndim - 1];
  const N = b.shape[b.ndim - 1];
  if (b.shape[b.ndim - 2] !== K) throw new ShapeError(`matmul: inner dimensions differ: ${shapes} (${K} vs ${b.shape[b.ndim - 2]})`);
  const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const out = matmulKernel(a, b, batch, M, K, N, variant);
  const shapeA = [...a.shape];
  const shapeB = [...b.shape];
  const needA = a.requiresGrad;
  const needB = b.requiresGrad;
  return record(a.engine, 'matmul', [a, b], out, [a, b], (g, [a, b]) => [
    // dA = g @ B^T: (batch..., M, N) @ (..., N, K) -> (batch..., M, K), summed to A's shape
    needA ? unbroadcast(batchedMatmul(g, b.mT, variant, shapes), shapeA) : null,
    needB ? gradB(a, g, b, shapeB, variant, shapes) : null,
  ]);
}

/**
 * dB = A^T @ g, summed over the batch dims B was broadcast along. For B = W^T of a row-major weight
 * W (N, K) (Linear's x @ W^T), dB is computed as (g^T @ A)^T: the product writes W's own layout, so
 * W.grad arrives contiguous instead of as a transposed view that the leaf and the optimizer copy.
 */
function gradB(a: Tensor, g: Tensor, b: Tensor, shapeB: number[], variant: MatmulVariant, shapes: string): Tensor {
  const K = a.shape[a.ndim - 1];
  const N = g.shape[g.ndim - 1];
  const transposedB = shapeB.length === 2 && N > 1 && K > 1 && b.strides[0] === 1 && b.strides[1] === K;
  if (shapeB.length === 2 && g.ndim >= 2) {
    // A shared weight matrix: fold the batch into the rows, one (K, batch*M) @ (batch*M, N)
    // product instead of a batched one and a reduction, when both fold without a copy.
    const rows = g.size / N;
    const ea = g.ndim > 2 ? a.expand([...g.shape.slice(0, -1), K]) : a; // (batch..., M, K)
    if (viewStrides(ea.shape, ea.strides, [rows, K]) && viewStrides(g.shape, g.strides, [rows, N])) {
      const a2 = ea.reshape([rows, K]);
      const g2 = g.reshape([rows, N]);
      // (N, rows) @ (rows, K) -> (N, K), seen as (K, N); or (K, rows) @ (rows, N) -> (K, N)
      return transposedB ? batchedMatmul(g2.mT, a2, variant, shapes).mT : batchedMatmul(a2.mT, g2, variant, shapes);
    }
  }
  // (..., K, M) @ (batch..., M, N) -> (batch..., K, N)
  return unbroadcast(batchedMatmul(a.mT, g, variant, shapes), shapeB);
}

function chooseVariant(a: Tensor, variant: MatmulVariant): 'register' | 'tiled' {
  if (variant !== 'auto') return variant;
  return a.engine.caps.isSoftware ? 'register' : 'tiled';
}

/** Launch the kernel; `out` is a fresh contiguous (batch..., M, N). No autograd. */
function matmulKernel(a: Tensor, b: Tensor, batch: number[], M: number, K: number, N: number, variant: MatmulVariant): Tensor {
  const engine = a.engine;
  if (K === 0) return engine.zeros([...batch, M, N], { dtype: a.dtype });
  const out = empty(engine, [...batch, M, N], a.dtype);
  if (out.size === 0) return out;

  // Per-operand batch strides (0 where broadcast), then dims merged where both operands allow it.
  const full = (t: Tensor) => [...batch, t.shape[t.ndim - 2], t.shape[t.ndim - 1]];
  let dims = mergeBatchDims(batch, broadcastStrides(a, full(a)).slice(0, -2), broadcastStrides(b, full(b)).slice(0, -2));
  let srcA = a;
  let srcB = b;
  let rowsA = M;
  let [strideAm, strideAk] = a.strides.slice(-2);
  const batchCount = batch.reduce((p, d) => p * d, 1);
  const folded = b.ndim === 2 && dims.shape.length > 0 ? viewStrides(a.shape, a.strides, [batchCount * M, K]) : null;
  if (folded) {
    // B is shared by every batch and A's batch dims fold into its rows: one (batch*M, K) @ (K, N)
    // product writes the same contiguous output, in fewer, fuller tiles.
    rowsA = batchCount * M;
    [strideAm, strideAk] = folded;
    dims = { shape: [], a: [], b: [] };
  } else if (dims.shape.length > MAX_BATCH_DIMS) {
    // Rare: more than 4 batch dims that cannot merge. Materialise both at the full batch shape,
    // after which all batch dims merge into one.
    srcA = engine.noGrad(() => a.expand(full(a)).contiguous());
    srcB = engine.noGrad(() => b.expand(full(b)).contiguous());
    dims = mergeBatchDims(batch, srcA.strides.slice(0, -2), srcB.strides.slice(0, -2));
    [strideAm, strideAk] = srcA.strides.slice(-2);
  }
  const kernelBatch = folded ? 1 : batchCount;

  const kind = chooseVariant(a, variant);
  if (kind === 'register' && srcB === b && b.ndim === 2 && b.strides[1] !== 1 && N % 4 === 0 && rowsA >= 64) {
    // B = W^T of a row-major weight (x @ W^T): a (K, N) row-major copy, small beside the product,
    // lets B and C move as vec4 (measured 1.2-1.5x on Linear's forward shapes on lavapipe).
    srcB = engine.noGrad(() => b.contiguous());
  }
  let constants: Record<string, number | boolean> = {};
  let tileM = 128;
  let tileN = 64;
  if (kind === 'register') {
    // A thin workgroup for matrix-vector shapes, so fewer invocations compute clamped duplicates;
    // 8-row / 8-col blocks per invocation where the product is big enough to fill them.
    const [wgx, wgy] = N <= 4 ? [1, 64] : rowsA <= 4 ? [64, 1] : [8, 8];
    const tall = wgy > 1 && rowsA >= 8 * wgy;
    const wide = wgx > 1 && N >= 8 * wgx;
    constants = { WGX: wgx, WGY: wgy, TALL: tall, WIDE: wide };
    tileM = (tall ? 8 : 4) * wgy;
    tileN = (wide ? 8 : 4) * wgx;
  }
  // B rows contiguous and 4-aligned (every B offset a multiple of 4): B and C move as vec4.
  const [strideBk, strideBn] = [srcB.strides[srcB.ndim - 2], srcB.strides[srcB.ndim - 1]];
  const groups = kernelBatch * Math.ceil(rowsA / tileM) * Math.ceil(N / tileN);
  const batchDims = MAX_BATCH_DIMS - dims.shape.length;
  const lead = (v: number, xs: number[]) => [...new Array<number>(batchDims).fill(v), ...xs];
  const vec4 = kind === 'register' && strideBn === 1 && N % 4 === 0 && [srcB.offset, strideBk, ...dims.b].every((v) => v % 4 === 0);
  engine.run({
    shader: kind === 'register' ? (vec4 ? 'matmulVec4' : 'matmul') : 'matmulTiled',
    types: { T: a.dtype },
    constants,
    params: new Params()
      .vec4u(lead(1, dims.shape), 1)
      .vec4u(lead(0, dims.a), 1)
      .vec4u(lead(0, dims.b), 1)
      .u32(rowsA)
      .u32(N)
      .u32(K)
      .u32(kernelBatch)
      .u32(strideAm)
      .u32(strideAk)
      .u32(strideBk)
      .u32(strideBn)
      .u32(srcA.offset)
      .u32(srcB.offset)
      .finish(),
    buffers: [srcA.storage.buffer, srcB.storage.buffer, out.storage.buffer],
    grid: grid1d(engine, groups, 1),
  });
  if (srcA !== a) srcA.dispose();
  if (srcB !== b) srcB.dispose();
  return out;
}

/** Drop size-1 batch dims and merge neighbours whose strides line up in both operands. */
export function mergeBatchDims(shape: readonly number[], sa: readonly number[], sb: readonly number[]): { shape: number[]; a: number[]; b: number[] } {
  const out = { shape: [] as number[], a: [] as number[], b: [] as number[] };
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = out.shape.length - 1;
    // dim i folds into the previous kept dim p when stride_p == stride_i * size_i for both operands.
    if (last >= 0 && out.a[last] === sa[i] * shape[i] && out.b[last] === sb[i] * shape[i]) {
      out.shape[last] *= shape[i];
      out.a[last] = sa[i];
      out.b[last] = sb[i];
      continue;
    }
    out.shape.push(shape[i]);
    out.a.push(sa[i]);
    out.b.push(sb[i]);
  }
  return out;
}
