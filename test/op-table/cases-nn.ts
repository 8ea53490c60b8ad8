// Op-table cases for softmax, logSoftmax, layerNorm, rmsNorm, crossEntropy (filled in with the kernels).
import type { OpCase } from './harness.js';

export const nnCases = {
  softmax: [], logSoftmax: [], layerNorm: [], rmsNorm: [], crossEntropy: [], dropout: [],
} satisfies Record<string, OpCase[]>;
