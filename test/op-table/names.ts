import { BINARY, UNARY_METHODS, type BinaryName, type UnaryMethodName } from '../../engine/ops/elementwise-table.js';

// Every op the engine promises. The table in table.ts is checked against this list at compile time
// (a missing op is a type error) and at run time (ops.test.ts).
const OTHER_NAMES = [
  // creation
  'tensor', 'zeros', 'ones', 'full', 'arange', 'eye', 'rand', 'randn',
  // views
  'reshape', 'view', 'permute', 'transpose', 'expand', 'squeeze', 'unsqueeze', 'narrow', 'slice', 'contiguous',
  // unary and binary ops beyond the elementwise table's own (below)
  'gelu', 'geluTanh', 'softplus', 'clamp', 'where',
  // reductions
  'sum', 'mean', 'max', 'min', 'argmax', 'argmin', 'logsumexp', 'var',
  // linear algebra and nn
  'matmul', 'softmax', 'logSoftmax', 'layerNorm', 'rmsNorm', 'crossEntropy', 'dropout', 'mseLoss', 'binaryCrossEntropyWithLogits',
  // indexing and shape
  'embedding', 'gather', 'indexSelect', 'scatterAdd', 'cat', 'stack', 'split', 'pad', 'cumsum', 'topk', 'oneHot', 'cast',
] as const;

/** Every op: the elementwise table's Tensor-method unaries and binaries, and the rest. */
export type OpName = (typeof OTHER_NAMES)[number] | UnaryMethodName | BinaryName;
export const OP_NAMES: readonly OpName[] = [...UNARY_METHODS, ...(Object.keys(BINARY) as BinaryName[]), ...OTHER_NAMES];
