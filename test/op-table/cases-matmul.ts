// Op-table cases for matmul (filled in with the kernel).
import type { OpCase } from './harness.js';

export const matmulCases = {
  matmul: [],
} satisfies Record<string, OpCase[]>;
