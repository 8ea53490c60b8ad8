// Float64 reference for matrix products, with torch.matmul's rules written out plainly.
import { broadcastShape, Ref } from './core.js';

/**
 * torch.matmul: 1-D @ 1-D is a dot product (a scalar); a 1-D left operand is a row (the dim is
 * dropped from the result), a 1-D right operand a column; otherwise batch dims broadcast.
 */
export function matmul(a: Ref, b: Ref): Ref {
  if (a.shape.length === 0 || b.shape.length === 0) throw new Error('ref matmul: scalar operand');
  const sa = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  const sb = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
  const M = sa[sa.length - 2];
  const K = sa[sa.length - 1];
  const N = sb[sb.length - 1];
  if (sb[sb.length - 2] !== K) throw new Error(`ref matmul: [${a.shape}] @ [${b.shape}]`);
  const batchA = sa.slice(0, -2);
  const batchB = sb.slice(0, -2);
  const batch = broadcastShape(batchA, batchB);
  const count = batch.reduce((p, d) => p * d, 1);
  const out = new Float64Array(count * M * N);
  for (let bi = 0; bi < count; bi++) {
    const ia = batchIndex(bi, batch, batchA) * M * K;
    const ib = batchIndex(bi, batch, batchB) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a.data[ia + i * K + k] * b.data[ib + k * N + j];
        out[(bi * M + i) * N + j] = s;
      }
    }
  }
  const shape = [...batch];
  if (a.shape.length > 1) shape.push(M);
  if (b.shape.length > 1) shape.push(N);
  return new Ref(shape, out);
}

/** Flat index into an operand's batch (shape `own`, right-aligned) of output batch index `bi`. */
function batchIndex(bi: number, batch: number[], own: number[]): number {
  const lead = batch.length - own.length;
  let idx = 0;
  let rem = bi;
  let stride = 1;
  for (let d = batch.length - 1; d >= 0; d--) {
    const c = rem % batch[d];
    rem = Math.floor(rem / batch[d]);
    if (d >= lead) {
      const size = own[d - lead];
      if (size !== 1) idx += c * stride;
      stride *= size;
    }
  }
  return idx;
}
