// Every op the engine promises. The table in table.ts is checked against this list at compile time
// (a missing op is a type error) and at run time (ops.test.ts).
export const OP_NAMES = [
  // creation
  'tensor', 'zeros', 'ones', 'full', 'arange', 'eye', 'rand', 'randn',
  // views
  'reshape', 'view', 'permute', 'transpose', 'expand', 'squeeze', 'unsqueeze', 'narrow', 'slice', 'contiguous',
  // unary
  'neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'gelu', 'geluTanh', 'silu',
  'softplus', 'clamp',
  // binary
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'where', 'eq', 'ne', 'lt', 'le', 'gt', 'ge',
  // reductions
  'sum', 'mean', 'max', 'min', 'argmax', 'argmin', 'logsumexp', 'var',
  // linear algebra and nn
  'matmul', 'softmax', 'logSoftmax', 'layerNorm', 'rmsNorm', 'crossEntropy', 'dropout', 'mseLoss', 'binaryCrossEntropyWithLogits',
  // indexing and shape
  'embedding', 'gather', 'indexSelect', 'scatterAdd', 'cat', 'stack', 'split', 'pad', 'cumsum', 'topk', 'oneHot', 'cast',
] as const;

export type OpName = (typeof OP_NAMES)[number];
