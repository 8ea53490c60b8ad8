import type { Tensor } from '../tensor.js';
import { notImplemented } from './pending.js';

/** Batched matrix product with broadcast batch dims, as torch.matmul. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  void a; void b;
  return notImplemented('matmul');
}
