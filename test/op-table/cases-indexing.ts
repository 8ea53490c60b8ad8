// Op-table cases for indexing and joining ops (filled in with the kernels).
import type { OpCase } from './harness.js';

export const indexingCases = {
  embedding: [], gather: [], indexSelect: [], scatterAdd: [], cat: [], stack: [], split: [], pad: [], cumsum: [], topk: [], oneHot: [],
} satisfies Record<string, OpCase[]>;
