// Op-table cases for softmax, logSoftmax, layerNorm, rmsNorm, crossEntropy, mseLoss and
// binaryCrossEntropyWithLogits. dropout draws random
// masks and is tested by its properties in test/random.test.ts.
import { binaryCrossEntropyWithLogits, crossEntropy, layerNorm, mseLoss, rmsNorm, type LossReduction, type Tensor } from '../../engine/index.js';
import type { Ref } from '../reference/core.js';
import * as N from '../reference/nn.js';
import type { InputSpec, OpCase } from './harness.js';

type Cases = OpCase[];

// Values of both signs near ±100: exp overflows f32 without the max subtraction.
const LARGE = { fixed: [100, -100, 99.5, 0.25, -99, 98, 3, -100, 100, 1] };

/** Softmax-like ops along a dim: odd sizes, layouts, dims other than the last, extreme values. */
function alongDim(f: (x: Tensor, dim: number) => Tensor, r: (x: Ref, dim: number) => Ref): Cases {
  const cases: [InputSpec, number, boolean?][] = [
    [{ shape: [1] }, -1],
    [{ shape: [7] }, 0],
    [{ shape: [3, 1, 257] }, -1],
    [{ shape: [3, 1, 257] }, 0],
    [{ shape: [45, 65] }, 1, false],
    [{ shape: [3, 2000] }, -1, false], // several elements per invocation at the largest workgroup
    // Rows of a multiple of 4 take the vec4 kernel: one vec4, several per invocation, a permuted dim.
    [{ shape: [5, 4] }, -1],
    [{ shape: [2, 3, 1024] }, -1, false],
    [{ shape: [8, 3] }, 0],
    [{ shape: [3, 8], values: LARGE }, -1],
    [{ shape: [6, 5] }, 0],
    [{ shape: [2, 3, 4] }, 1],
    [{ shape: [5, 6], layout: 'transposed' }, -1],
    [{ shape: [5, 6], layout: 'transposed' }, 0],
    [{ shape: [4, 9], layout: 'strided' }, -1],
    [{ shape: [4, 5], layout: 'offset' }, 1],
    [{ shape: [2, 5], values: LARGE }, -1],
    [{ shape: [5, 2], values: LARGE }, 0],
    [{ shape: [] }, 0],
  ];
  return cases.map(([input, dim, grad]) => ({
    label: `[${input.shape}]${input.layout ? ` ${input.layout}` : ''}${input.values === LARGE ? ' ±100' : ''} dim=${dim}`,
    inputs: [input],
    grad,
    run: (_e, x) => f(x, dim),
    ref: (x) => r(x, dim),
  }));
}

interface NormCase {
  x: InputSpec;
  ns: number[];
  weight?: boolean;
  bias?: boolean;
  grad?: boolean;
  f16?: boolean;
  eps?: number;
}

function norm(kind: 'layerNorm' | 'rmsNorm', list: NormCase[]): Cases {
  return list.map((c) => {
    const inputs: InputSpec[] = [c.x];
    if (c.weight) inputs.push({ shape: c.ns });
    if (c.bias) inputs.push({ shape: c.ns });
    const wi = c.weight ? 1 : -1;
    const bi = c.bias ? (c.weight ? 2 : 1) : -1;
    return {
      label: `[${c.x.shape}]${c.x.layout ? ` ${c.x.layout}` : ''} over [${c.ns}]${c.weight ? ' weight' : ''}${c.bias ? ' bias' : ''}${c.eps !== undefined ? ` eps=${c.eps}` : ''}`,
      inputs,
      grad: c.grad,
      f16: c.f16,
      run: (_e, ...xs) =>
        kind === 'layerNorm'
          ? layerNorm(xs[0], c.ns, xs[wi] ?? null, xs[bi] ?? null, c.eps)
          : rmsNorm(xs[0], c.ns, xs[wi] ?? null, c.eps),
      ref: (...xs) =>
        kind === 'layerNorm'
          ? N.layerNorm(xs[0], c.ns, xs[wi] ?? null, xs[bi] ?? null, c.eps)
          : N.rmsNorm(xs[0], c.ns, xs[wi] ?? null, c.eps),
    } satisfies OpCase;
  });
}

const LAYER_NORM: NormCase[] = [
  { x: { shape: [1] }, ns: [1], weight: true, bias: true },
  { x: { shape: [7] }, ns: [7] },
  { x: { shape: [3, 1, 257] }, ns: [257], weight: true, bias: true },
  { x: { shape: [45, 65] }, ns: [65], weight: true, bias: true, grad: false },
  { x: { shape: [3, 2000] }, ns: [2000], weight: true, grad: false },
  { x: { shape: [4, 3, 5] }, ns: [3, 5], weight: true, bias: true },
  { x: { shape: [2, 3, 5] }, ns: [2, 3, 5], bias: true },
  { x: { shape: [5, 6], layout: 'transposed' }, ns: [6], weight: true },
  { x: { shape: [4, 9], layout: 'strided' }, ns: [9], bias: true },
  { x: { shape: [4, 5], layout: 'offset' }, ns: [5], weight: true, bias: true, eps: 1e-2 },
  // A large common offset (exact in f32, mean exact): a one-pass E[x^2] - mean^2 variance in f32 would
  // lose the spread. No f16 run: f16 cannot hold these inputs to 0.25.
  { x: { shape: [3, 8], values: { fixed: [1000.5, 1001.25, 999.75, 1000, 1002, 998.5, 1000.25, 999.5] } }, ns: [8], weight: true, bias: true, f16: false },
  // Rows of a multiple of 4 take the vec4 kernel: with and without weight and bias, several vec4s per invocation.
  { x: { shape: [6, 4, 8] }, ns: [4, 8], weight: true, bias: true },
  { x: { shape: [3, 4] }, ns: [4] },
  { x: { shape: [2, 1024] }, ns: [1024], bias: true, grad: false },
];

const RMS_NORM: NormCase[] = [
  { x: { shape: [1] }, ns: [1], weight: true },
  { x: { shape: [7] }, ns: [7] },
  { x: { shape: [3, 1, 257] }, ns: [257], weight: true },
  { x: { shape: [45, 65] }, ns: [65], weight: true, grad: false },
  { x: { shape: [4, 3, 5] }, ns: [3, 5], weight: true },
  { x: { shape: [5, 6], layout: 'transposed' }, ns: [6], weight: true },
  { x: { shape: [4, 9], layout: 'strided' }, ns: [9] },
  { x: { shape: [4, 5], layout: 'offset' }, ns: [5], weight: true, eps: 1e-2 },
  { x: { shape: [3, 16] }, ns: [16], weight: true },
  { x: { shape: [5, 2, 4] }, ns: [2, 4] },
];

function ce(logits: InputSpec, target: InputSpec, options: N.CrossEntropyOptions = {}, extra: Partial<OpCase> = {}): OpCase {
  const opts = Object.entries(options).map(([k, v]) => `${k}=${v}`).join(' ');
  return {
    label: `[${logits.shape}]${logits.layout ? ` ${logits.layout}` : ''}${logits.values === LARGE ? ' ±100' : ''} target [${target.shape}] ${target.dtype}${target.values && 'fixed' in (target.values as object) ? ' fixed' : ''} ${opts}`,
    inputs: [logits, target],
    run: (_e, x, t) => crossEntropy(x, t, options),
    ref: (x, t) => N.crossEntropy(x, t, options),
    ...extra,
  };
}

const int = (shape: number[], hi: number): InputSpec => ({ shape, values: { int: [0, hi] }, dtype: 'i32' });
const fixed = (shape: number[], values: number[]): InputSpec => ({ shape, values: { fixed: values }, dtype: 'i32' });

const CROSS_ENTROPY: Cases = [
  ce({ shape: [7, 5] }, int([7], 5)),
  ce({ shape: [1, 1] }, int([1], 1)),
  ce({ shape: [7] }, int([], 7)),
  ce({ shape: [3, 1, 257] }, int([3, 1], 257), { reduction: 'sum' }),
  ce({ shape: [45, 65] }, int([45], 65), {}, { grad: false }),
  ce({ shape: [3, 2000] }, int([3], 2000), { labelSmoothing: 0.2 }, { grad: false }),
  ce({ shape: [3, 4, 6] }, int([3, 4], 6), { reduction: 'none' }),
  // ignored targets: the default -100, and a custom index that is also a valid class
  ce({ shape: [7, 5] }, fixed([7], [2, -100, 0, 4, -100, 1, 3])),
  ce({ shape: [7, 5] }, fixed([7], [2, -100, 0, 4, -100, 1, 3]), { reduction: 'none' }),
  ce({ shape: [6, 4] }, fixed([6], [3, 1, 3, 0, 2, 3]), { ignoreIndex: 3, reduction: 'sum' }),
  ce({ shape: [7, 5] }, fixed([7], [2, -100, 0, 4, -100, 1, 3]), { labelSmoothing: 0.1 }),
  ce({ shape: [4, 6] }, int([4], 6), { labelSmoothing: 0.3, reduction: 'none' }),
  ce({ shape: [4, 6] }, int([4], 6), { labelSmoothing: 1 }),
  ce({ shape: [5, 6], layout: 'transposed' }, int([5], 6)),
  ce({ shape: [4, 9], layout: 'strided' }, int([4], 9), { reduction: 'sum' }),
  ce({ shape: [4, 5], layout: 'offset' }, int([4], 5)),
  ce({ shape: [2, 5], values: LARGE }, fixed([2], [1, 4])),
  ce({ shape: [6, 5] }, { shape: [6], values: { int: [0, 5] }, dtype: 'u32' }),
];

const MSE: Cases = (
  [
    [{ shape: [7] }, 'mean'],
    [{ shape: [3, 5] }, 'sum'],
    [{ shape: [2, 3, 4] }, 'none'],
    [{ shape: [4, 5], layout: 'transposed' }, 'mean'],
    [{ shape: [] }, 'mean'],
  ] as [InputSpec, LossReduction][]
).map(([x, reduction]) => ({
  label: `[${x.shape}]${x.layout ? ` ${x.layout}` : ''} ${reduction}`,
  inputs: [x, { shape: x.shape }],
  run: (_e, a, b) => mseLoss(a, b, { reduction }),
  ref: (a, b) => N.mseLoss(a, b, { reduction }),
}));

/** Targets in [0, 1]: hard labels and soft ones. */
const probs = (shape: number[]): InputSpec => ({ shape, values: { fixed: [0, 1, 0.25, 0.8, 1, 0, 0.5] } });

interface BCECase {
  x: InputSpec;
  weight?: number[];
  posWeight?: number[];
  reduction?: LossReduction;
}

const BCE: Cases = (
  [
    { x: { shape: [7] } },
    { x: { shape: [3, 4] }, reduction: 'none' },
    { x: { shape: [2, 5], values: LARGE }, reduction: 'sum' }, // saturated sigmoids: finite, exact slopes
    { x: { shape: [3, 4] }, weight: [3, 4], posWeight: [4] },
    { x: { shape: [5, 3] }, posWeight: [3], reduction: 'sum' },
    { x: { shape: [4, 6], layout: 'strided' }, weight: [1, 6], reduction: 'none' },
  ] as BCECase[]
).map(({ x, weight, posWeight, reduction }) => {
  const inputs: InputSpec[] = [x, probs(x.shape)];
  if (weight) inputs.push({ shape: weight, values: 'positive' });
  if (posWeight) inputs.push({ shape: posWeight, values: 'positive' });
  const split = <T>(rest: T[]) => ({ w: weight ? rest[0] : undefined, p: posWeight ? rest[weight ? 1 : 0] : undefined });
  return {
    label: `[${x.shape}]${x.layout ? ` ${x.layout}` : ''}${x.values === LARGE ? ' ±100' : ''}${weight ? ` weight [${weight}]` : ''}${posWeight ? ` posWeight [${posWeight}]` : ''} ${reduction ?? 'mean'}`,
    inputs,
    run: (_e: unknown, a: Tensor, y: Tensor, ...rest: Tensor[]) => {
      const { w, p } = split(rest);
      return binaryCrossEntropyWithLogits(a, y, { weight: w, posWeight: p, reduction });
    },
    ref: (a: Ref, y: Ref, ...rest: Ref[]) => {
      const { w, p } = split(rest);
      return N.binaryCrossEntropyWithLogits(a, y, { weight: w, posWeight: p, reduction });
    },
  };
});

export const nnCases = {
  softmax: alongDim((x, d) => x.softmax(d), N.softmax),
  logSoftmax: alongDim((x, d) => x.logSoftmax(d), N.logSoftmax),
  layerNorm: norm('layerNorm', LAYER_NORM),
  rmsNorm: norm('rmsNorm', RMS_NORM),
  crossEntropy: CROSS_ENTROPY,
  dropout: [],
  mseLoss: MSE,
  binaryCrossEntropyWithLogits: BCE,
} satisfies Record<string, OpCase[]>;
