// The whole op table. `satisfies Record<OpName, …>` makes a missing op a compile error.
import { coreCases } from './cases-core.js';
import type { OpCase } from './harness.js';
import type { OpName } from './names.js';
import { indexingCases } from './cases-indexing.js';
import { matmulCases } from './cases-matmul.js';
import { nnCases } from './cases-nn.js';

/** Ops tested by property instead of by reference (random draws): where their test lives. */
export const STATISTICAL: Partial<Record<OpName, string>> = {
  rand: 'test/random.test.ts',
  randn: 'test/random.test.ts',
  dropout: 'test/random.test.ts',
};

export const OP_TABLE = {
  ...coreCases,
  ...matmulCases,
  ...nnCases,
  ...indexingCases,
} satisfies Record<OpName, OpCase[]>;
