// The engine's device "error word": a few u32 in one storage buffer that kernels reading an index
// bind as their last binding, `err: array<atomic<u32>>`. A kernel that meets an out-of-range index
// still clamps it (memory stays in bounds) and records the first violation:
//   [0] 1 once set (atomicOr: the invocation that sees 0 wins and writes the rest),
//   [1] the op code (a uniform field, so one shader reports for several ops), [2] the index bits,
//   [3] the size of the indexed dim, [4] 1 when the index is negative (a signed index).
// Words 5..7 belong to anomaly detection (engine/anomaly.ts, shaders/check_finite.wgsl): the check
// number, the lowest offending element with its kind, and the label of the op that produced it.
// Engine.read copies the words into the same staging buffer as the tensor bytes and clears them in
// the same command buffer, so the readback the user already does reports it: no extra round trip.
import { AnomalyError, RangeArgumentError, type KilnError } from './errors.js';

export const ERROR_WORDS = 8;
export const ERROR_WORD_BYTES = ERROR_WORDS * 4;

/** The ops whose kernels check an index, by the code their kernels write into word 1. */
export const CHECK_CODES = {
  gather: 1,
  indexSelect: 2,
  embedding: 3,
  scatterAdd: 4,
  'gather backward': 5,
  'indexSelect backward': 6,
  'embedding backward': 7,
  oneHot: 8,
  crossEntropy: 9,
  'crossEntropy backward': 10,
  expertFFN: 11,
  'topkRouter backward': 12,
} as const;

export type CheckedOp = keyof typeof CHECK_CODES;

/** What the index is, its range, and what the kernel did with it, in each op's words. */
function describe(op: CheckedOp, value: number, size: number): string {
  const valid = `(valid 0..${size - 1})`;
  switch (op) {
    case 'crossEntropy':
    case 'crossEntropy backward':
      return `target ${value} is out of range for ${size} classes ${valid} and is not ignoreIndex; that row's loss and gradient are NaN`;
    case 'expertFFN':
    case 'topkRouter backward':
      return `expert index ${value} is out of range for ${size} experts ${valid}; the kernel clamped it, so the result is wrong`;
    case 'oneHot':
      return `index ${value} is out of range for numClasses ${size} ${valid}; its row is all zeros`;
    default:
      return `index ${value} is out of range for a dim of size ${size} ${valid}; the kernel clamped it, so the result is wrong`;
  }
}

const KINDS = ['NaN', '+Inf', '-Inf'] as const;

/** The anomaly words 5..7 describe (labels: the host's names for check labels, 1-based), or null. */
export function decodeAnomaly(words: Uint32Array, labels: readonly string[]): AnomalyError | null {
  if (words[5] === 0) return null;
  const label = labels[words[7] - 1] ?? `an op (unknown label ${words[7]})`;
  const element = 0x3fffffff - (words[6] >>> 2);
  const kind = KINDS[(words[6] & 3) - 1] ?? 'NaN';
  return new AnomalyError(
    `anomaly detection: ${label} produced ${kind} at element ${element} (the first non-finite value ` +
      `found on the GPU since the last readback, by check ${words[5]})`,
    label,
    element,
    kind,
  );
}

/** The error the words describe, or null when no kernel reported one. An index error comes first. */
export function decodeErrorWords(words: Uint32Array, labels: readonly string[] = []): KilnError | null {
  const anomaly = decodeAnomaly(words, labels);
  if (words[0] === 0) return anomaly;
  const code = words[1];
  const op = (Object.keys(CHECK_CODES) as CheckedOp[]).find((k) => CHECK_CODES[k] === code);
  const value = words[4] ? words[2] | 0 : words[2];
  const size = words[3];
  const what = op ? describe(op, value, size) : `index ${value} is out of range for size ${size} (unknown op code ${code})`;
  const also = anomaly ? `; anomaly detection also found: ${anomaly.message}` : '';
  return new RangeArgumentError(`${op ?? 'kernel'}: ${what} (found on the GPU by a kernel run since the last readback)${also}`);
}
