// Neural-network functionals: softmax, logSoftmax, layerNorm, rmsNorm, crossEntropy, dropout.
import type { Tensor } from '../tensor.js';
import { notImplemented } from './pending.js';

export function softmax(x: Tensor, dim = -1): Tensor { void x; void dim; return notImplemented('softmax'); }
export function logSoftmax(x: Tensor, dim = -1): Tensor { void x; void dim; return notImplemented('logSoftmax'); }
export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  void x; void normalizedShape; void weight; void bias; void eps; return notImplemented('layerNorm');
}
export function rmsNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, eps = 1e-6): Tensor {
  void x; void normalizedShape; void weight; void eps; return notImplemented('rmsNorm');
}
export interface CrossEntropyOptions {
  ignoreIndex?: number;
  labelSmoothing?: number;
  reduction?: 'mean' | 'sum' | 'none';
}
export function crossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  void logits; void target; void options; return notImplemented('crossEntropy');
}
export function dropout(x: Tensor, p = 0.5, training = true): Tensor { void x; void p; void training; return notImplemented('dropout'); }
