// Indexing: gather, indexSelect, scatterAdd, embedding, oneHot, topk, cumsum.
import type { Tensor } from '../tensor.js';
import { notImplemented } from './pending.js';

export function gather(x: Tensor, dim: number, index: Tensor): Tensor { void x; void dim; void index; return notImplemented('gather'); }
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor { void x; void dim; void index; return notImplemented('indexSelect'); }
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor { void x; void dim; void index; void src; return notImplemented('scatterAdd'); }
export function embedding(indices: Tensor, weight: Tensor): Tensor { void indices; void weight; return notImplemented('embedding'); }
export function oneHot(indices: Tensor, numClasses: number): Tensor { void indices; void numClasses; return notImplemented('oneHot'); }
export function topk(x: Tensor, k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } { void x; void k; void dim; void largest; return notImplemented('topk'); }
export function cumsum(x: Tensor, dim: number): Tensor { void x; void dim; return notImplemented('cumsum'); }
