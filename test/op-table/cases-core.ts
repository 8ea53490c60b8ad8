// Op-table cases for creation, views, elementwise ops, reductions and casts.
import type { Tensor } from '../../engine/index.js';
import { Ref, map, permute as refPermute, reduce, reshape as refReshape, stridesOf, unravel, zip, zip3 } from '../reference/core.js';
import { BINARY, UNARY, UNARY_METHODS, type UnaryMethodName, type UnaryName, type UnaryRow } from '../../engine/ops/elementwise-table.js';
import type { InputSpec, OpCase, Values } from './harness.js';

type Cases = OpCase[];

/** Odd shapes and layouts for one-input ops; the big ones are forward-only (finite differences are O(n^2)). */
function oneInput(values: Values = 'normal', avoid?: number[]): { inputs: InputSpec[]; grad?: boolean }[] {
  return [
    { inputs: [{ shape: [1], values, avoid }] },
    { inputs: [{ shape: [7], values, avoid }] },
    { inputs: [{ shape: [3, 1, 257], values, avoid }] },
    { inputs: [{ shape: [45, 65], values, avoid }], grad: false },
    { inputs: [{ shape: [5, 6], values, avoid, layout: 'transposed' }] },
    { inputs: [{ shape: [4, 9], values, avoid, layout: 'strided' }] },
    { inputs: [{ shape: [4, 5], values, avoid, layout: 'offset' }] },
    { inputs: [{ shape: [], values, avoid }] },
  ];
}

function unary(f: (t: Tensor) => Tensor, r: (x: number) => number, values: Values = 'normal', extra: Partial<OpCase> = {}, avoid?: number[]): Cases {
  return oneInput(values, avoid).map((c) => ({ ...c, run: (_e, x) => f(x), ref: (x) => map(x, r), ...extra }));
}

const S1 = { alpha: 1, beta: 0 }; // the scalars of a plain binary op (add's alpha = 1)

/** Generic broadcast cases of a binary table row, through the Tensor method of the same name. */
function tableBinary(op: 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum', va: Values = 'normal', vb: Values = 'normal'): Cases {
  return binary((a, b) => a[op](b), (x, y) => BINARY[op].reference(x, y, S1), va, vb);
}

/** Cases of a table row (its test values, kinks, tolerance and scalars) run through `f`. */
function tableUnary(op: UnaryName, f: (t: Tensor) => Tensor): Cases {
  const row: UnaryRow = UNARY[op];
  const t = row.test ?? {};
  const s = t.scalars ?? { alpha: 0, beta: 0 };
  return unary(f, (x) => row.reference(x, s), t.values ?? 'normal', t.tol ? { tol: t.tol } : {}, t.avoid);
}

/** Every option-free unary Tensor method of the table, as x.name(). */
function unaryMethodCases(): Record<UnaryMethodName, Cases> {
  return Object.fromEntries(UNARY_METHODS.map((op) => [op, tableUnary(op, (x) => x[op]())])) as Record<UnaryMethodName, Cases>;
}

/** Pairs of shapes for binary ops: equal, broadcast both ways, scalar, non-contiguous. */
function twoInputs(va: Values = 'normal', vb: Values = 'normal'): { inputs: InputSpec[]; grad?: boolean }[] {
  return [
    { inputs: [{ shape: [7], values: va }, { shape: [7], values: vb }] },
    { inputs: [{ shape: [45, 65], values: va }, { shape: [65], values: vb }], grad: false },
    { inputs: [{ shape: [3, 1, 257], values: va }, { shape: [4, 1], values: vb }], grad: false },
    { inputs: [{ shape: [3, 1, 7], values: va }, { shape: [4, 1], values: vb }] },
    { inputs: [{ shape: [5, 1], values: va }, { shape: [1, 6], values: vb }] },
    { inputs: [{ shape: [], values: va }, { shape: [2, 3], values: vb }] },
    { inputs: [{ shape: [5, 6], values: va, layout: 'transposed' }, { shape: [5, 6], values: vb, layout: 'strided' }] },
    { inputs: [{ shape: [4, 5], values: va, layout: 'offset' }, { shape: [1], values: vb }] },
  ];
}

function binary(f: (a: Tensor, b: Tensor) => Tensor, r: (x: number, y: number) => number, va: Values = 'normal', vb: Values = 'normal', extra: Partial<OpCase> = {}): Cases {
  return twoInputs(va, vb).map((c) => ({ ...c, run: (_e, a, b) => f(a, b), ref: (a, b) => zip(a, b, r), ...extra }));
}

/** Comparisons: integers in a small range so ties occur; no gradient. */
function comparison(f: (a: Tensor, b: Tensor) => Tensor, r: (x: number, y: number) => boolean): Cases {
  return binary((a, b) => f(a, b), (x, y) => (r(x, y) ? 1 : 0), { int: [-2, 3] }, { int: [-2, 3] }, { grad: false, f16: true }).concat([
    { inputs: [{ shape: [3, 4], values: { int: [-2, 3] }, dtype: 'i32' }, { shape: [4], values: { int: [-2, 3] }, dtype: 'i32' }], run: (_e, a, b) => f(a, b), ref: (a, b) => zip(a, b, (x, y) => (r(x, y) ? 1 : 0)) },
  ]);
}

/** Reduction cases over several axis choices; `r` reduces one group of values. */
function reduction(f: (t: Tensor, dim: number | number[] | undefined, keepdim: boolean) => Tensor, r: (v: number[]) => number, values: Values = 'normal', extra: Partial<OpCase> = {}): Cases {
  const cases: [number[], number | number[] | undefined, boolean, boolean, InputSpec['layout']?][] = [
    [[7], undefined, false, true],
    [[1], 0, true, true],
    [[45, 65], 1, false, false],
    [[45, 65], 0, true, false],
    [[3, 1, 257], -1, false, true],
    [[3, 1, 257], [0, 2], true, true],
    [[4, 5, 6], [0, 2], false, true],
    [[6, 5], 0, false, true, 'transposed'],
    [[3, 8], 1, true, true, 'strided'],
    [[300, 3], 1, false, false],
  ];
  return cases.map(([shape, dim, keepdim, grad, layout]) => ({
    label: `[${shape}] dim=${JSON.stringify(dim)} keepdim=${keepdim}${layout ? ` ${layout}` : ''}`,
    inputs: [{ shape, values, layout }],
    grad,
    run: (_e, x) => f(x, dim, keepdim),
    ref: (x) => reduce(x, dim, keepdim, r),
    ...extra,
  }));
}

const sumOf = (v: number[]) => v.reduce((a, b) => a + b, 0);
const logsumexpOf = (v: number[]) => {
  const m = Math.max(...v);
  return m + Math.log(sumOf(v.map((x) => Math.exp(x - m))));
};
const argOf = (v: number[], better: (a: number, b: number) => boolean) => {
  let bi = 0;
  for (let i = 1; i < v.length; i++) if (better(v[i], v[bi])) bi = i;
  return bi;
};

function constant(run: OpCase['run'], expected: () => Ref, f16 = false): OpCase {
  return { inputs: [], run, ref: () => expected(), grad: false, f16 };
}

const values = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

export const coreCases = {
  tensor: [
    constant((e) => e.tensor([[1, 2, 3], [4, 5, 6]]), () => Ref.of([2, 3], [1, 2, 3, 4, 5, 6])),
    constant((e) => e.tensor(new Int32Array([-3, 0, 7])), () => Ref.of([3], [-3, 0, 7])),
    constant((e) => e.tensor([0.5, -1.25, 3, 4], [2, 1, 2]), () => Ref.of([2, 1, 2], [0.5, -1.25, 3, 4])),
    constant((e) => e.tensor(7), () => Ref.scalar(7)),
  ],
  zeros: [constant((e) => e.zeros([3, 1, 257]), () => Ref.zeros([3, 1, 257]))],
  ones: [constant((e) => e.ones([45, 65]), () => Ref.of([45, 65], values(45 * 65, () => 1)))],
  full: [
    constant((e) => e.full([7], -2.5), () => Ref.of([7], values(7, () => -2.5))),
    constant((e) => e.full([2, 2], 9, { dtype: 'i32' }), () => Ref.of([2, 2], [9, 9, 9, 9])),
  ],
  arange: [
    constant((e) => e.arange(7), () => Ref.of([7], values(7, (i) => i))),
    constant((e) => e.arange(-3, 10, 4), () => Ref.of([4], [-3, 1, 5, 9])),
    constant((e) => e.arange(0, 1, 0.25), () => Ref.of([4], [0, 0.25, 0.5, 0.75])),
    constant((e) => e.arange(5, 0, -2), () => Ref.of([3], [5, 3, 1])),
  ],
  eye: [
    constant((e) => e.eye(3), () => Ref.of([3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1])),
    constant((e) => e.eye(2, 3), () => Ref.of([2, 3], [1, 0, 0, 0, 1, 0])),
  ],
  rand: [], // statistical: test/random.test.ts
  randn: [], // statistical: test/random.test.ts

  reshape: [
    { inputs: [{ shape: [45, 65] }], grad: false, run: (_e, x) => x.reshape([65, -1]), ref: (x) => refReshape(x, [65, 45]) },
    { inputs: [{ shape: [3, 1, 7] }], run: (_e, x) => x.reshape(7, 3), ref: (x) => refReshape(x, [7, 3]) },
    // a transposed view cannot be viewed flat: reshape copies
    { inputs: [{ shape: [5, 6], layout: 'transposed' }], run: (_e, x) => x.reshape([30]), ref: (x) => refReshape(x, [30]) },
    { inputs: [{ shape: [4, 6], layout: 'offset' }], run: (_e, x) => x.reshape([2, 2, 6]), ref: (x) => refReshape(x, [2, 2, 6]) },
  ],
  view: [
    { inputs: [{ shape: [4, 6] }], run: (_e, x) => x.view(2, 12), ref: (x) => refReshape(x, [2, 12]) },
    { inputs: [{ shape: [3, 1, 7] }], run: (_e, x) => x.flatten(), ref: (x) => refReshape(x, [21]) },
  ],
  permute: [
    { inputs: [{ shape: [2, 3, 4] }], run: (_e, x) => x.permute(2, 0, 1).contiguous(), ref: (x) => refPermute(x, [2, 0, 1]) },
    { inputs: [{ shape: [3, 1, 257] }], grad: false, run: (_e, x) => x.permute([1, 2, 0]), ref: (x) => refPermute(x, [1, 2, 0]) },
  ],
  transpose: [
    { inputs: [{ shape: [45, 65] }], grad: false, run: (_e, x) => x.t(), ref: (x) => refPermute(x, [1, 0]) },
    { inputs: [{ shape: [2, 3, 4] }], run: (_e, x) => x.transpose(0, 2).mul(2), ref: (x) => map(refPermute(x, [2, 1, 0]), (v) => 2 * v) },
  ],
  expand: [
    { inputs: [{ shape: [3, 1] }], run: (_e, x) => x.expand(2, 3, 4), ref: (x) => zip(x, Ref.zeros([2, 3, 4]), (a) => a) },
    { inputs: [{ shape: [1, 7] }], run: (_e, x) => x.expand([5, -1]).exp(), ref: (x) => zip(x, Ref.zeros([5, 7]), (a) => Math.exp(a)) },
  ],
  squeeze: [
    { inputs: [{ shape: [3, 1, 7] }], run: (_e, x) => x.squeeze(), ref: (x) => refReshape(x, [3, 7]) },
    { inputs: [{ shape: [1, 4, 1] }], run: (_e, x) => x.squeeze(-1), ref: (x) => refReshape(x, [1, 4]) },
  ],
  unsqueeze: [
    { inputs: [{ shape: [7] }], run: (_e, x) => x.unsqueeze(0), ref: (x) => refReshape(x, [1, 7]) },
    { inputs: [{ shape: [5, 6], layout: 'transposed' }], run: (_e, x) => x.unsqueeze(-1), ref: (x) => refReshape(x, [5, 6, 1]) },
  ],
  narrow: [
    { inputs: [{ shape: [6, 7] }], run: (_e, x) => x.narrow(1, 2, 3), ref: (x) => sliceRef(x, 1, 2, 5, 1) },
    { inputs: [{ shape: [9] }], run: (_e, x) => x.narrow(0, -4, 4), ref: (x) => sliceRef(x, 0, 5, 9, 1) },
  ],
  slice: [
    { inputs: [{ shape: [6, 7] }], run: (_e, x) => x.slice(1, 1, undefined, 3), ref: (x) => sliceRef(x, 1, 1, 7, 3) },
    { inputs: [{ shape: [10, 3] }], run: (_e, x) => x.slice(0, -7, -1, 2), ref: (x) => sliceRef(x, 0, 3, 9, 2) },
    { inputs: [{ shape: [4, 5] }], run: (_e, x) => x.select(0, 2), ref: (x) => refReshape(sliceRef(x, 0, 2, 3, 1), [5]) },
  ],
  contiguous: [
    { inputs: [{ shape: [5, 6], layout: 'transposed' }], run: (_e, x) => x.contiguous(), ref: (x) => x },
    { inputs: [{ shape: [4, 9], layout: 'strided' }], run: (_e, x) => x.clone(), ref: (x) => x },
  ],

  // The option-free unary methods, from their table rows (engine/ops/elementwise-table.ts).
  ...unaryMethodCases(),
  gelu: tableUnary('gelu', (x) => x.gelu()),
  geluTanh: tableUnary('geluTanh', (x) => x.gelu({ approximate: 'tanh' })),
  softplus: [
    ...tableUnary('softplus', (x) => x.softplus()),
    { inputs: [{ shape: [9], values: { fixed: [-30, -12, -1, 0, 0.5, 4, 9.5, 10.5, 40] } }], run: (_e, x) => x.softplus({ beta: 2, threshold: 20 }), ref: (x) => map(x, (v) => UNARY.softplus.reference(v, { alpha: 2, beta: 20 })) },
  ],
  clamp: [
    ...tableUnary('clamp', (x) => x.clamp(-0.5, 0.7)),
    { inputs: [{ shape: [7], avoid: [0.1] }], run: (_e, x) => x.clamp(null, 0.1), ref: (x) => map(x, (v) => Math.min(v, 0.1)) },
    { inputs: [{ shape: [2, 3], values: { int: [-5, 5] }, dtype: 'i32' }], run: (_e, x) => x.clamp(-2, 2), ref: (x) => map(x, (v) => Math.min(Math.max(v, -2), 2)) },
  ],

  add: [
    ...tableBinary('add'),
    { inputs: [{ shape: [3, 4] }, { shape: [4] }], run: (_e, a, b) => a.add(b, 2.5), ref: (a, b) => zip(a, b, (x, y) => x + 2.5 * y) },
    { inputs: [{ shape: [3, 4] }], run: (_e, a) => a.add(1.5), ref: (a) => map(a, (x) => x + 1.5) },
    { inputs: [{ shape: [3, 4], values: { int: [-100, 100] }, dtype: 'i32' }, { shape: [4], values: { int: [-100, 100] }, dtype: 'i32' }], run: (_e, a, b) => a.add(b), ref: (a, b) => zip(a, b, (x, y) => x + y) },
  ],
  sub: [
    ...tableBinary('sub'),
    { inputs: [{ shape: [5] }], run: (_e, a) => a.sub(0.25), ref: (a) => map(a, (x) => x - 0.25) },
  ],
  mul: [
    ...tableBinary('mul'),
    { inputs: [{ shape: [5] }], run: (_e, a) => a.mul(-3), ref: (a) => map(a, (x) => -3 * x) },
    { inputs: [{ shape: [2, 3], values: { int: [-9, 9] }, dtype: 'i32' }, { shape: [2, 3], values: { int: [-9, 9] }, dtype: 'i32' }], run: (_e, a, b) => a.mul(b), ref: (a, b) => zip(a, b, (x, y) => x * y) },
  ],
  div: [
    ...tableBinary('div', 'normal', 'positive'),
    { inputs: [{ shape: [5] }], run: (_e, a) => a.div(4), ref: (a) => map(a, (x) => x / 4) },
  ],
  pow: [
    ...tableBinary('pow', 'positive', 'normal'),
    ...unary((x) => x.pow(3), (x) => x ** 3),
    { inputs: [{ shape: [7] }], run: (_e, x) => x.pow(2), ref: (x) => map(x, (v) => v * v) },
    { inputs: [{ shape: [7], values: 'positive' }], run: (_e, x) => x.pow(-1.5), ref: (x) => map(x, (v) => v ** -1.5) },
  ],
  maximum: [
    ...tableBinary('maximum'),
    { inputs: [{ shape: [6] }], run: (_e, a) => a.maximum(0.2), ref: (a) => map(a, (x) => Math.max(x, 0.2)) },
  ],
  minimum: tableBinary('minimum'),
  where: [
    { inputs: [{ shape: [3, 4], values: { int: [0, 2] }, dtype: 'u32' }, { shape: [3, 4] }, { shape: [4] }], run: (e, c, a, b) => e.where(c, a, b), ref: (c, a, b) => zip3(c, a, b, (k, x, y) => (k ? x : y)) },
    { inputs: [{ shape: [5, 1], values: { int: [0, 2] }, dtype: 'i32' }, { shape: [1, 6] }, { shape: [] }], run: (e, c, a, b) => e.where(c, a, b), ref: (c, a, b) => zip3(c, a, b, (k, x, y) => (k ? x : y)) },
    { inputs: [{ shape: [45, 65] }, { shape: [45, 65] }], grad: false, run: (e, a, b) => e.where(a.gt(0), a, b), ref: (a, b) => zip(a, b, (x, y) => (x > 0 ? x : y)) },
    { inputs: [{ shape: [4, 5] }], run: (e, a) => a.where(a.lt(0.3), 0), ref: (a) => map(a, (x) => (x < 0.3 ? x : 0)) },
    // The kernel's paths: rows of 7 cross vec4 lanes (an attention mask's broadcast), strided and
    // offset views, all contiguous (whole vec4 loads; 15 elements leave lanes past n), a last dim < 4.
    { inputs: [{ shape: [1, 1, 5, 7], values: { int: [0, 2] }, dtype: 'u32' }, { shape: [2, 3, 5, 7] }, { shape: [] }], run: (e, c, a, b) => e.where(c, a, b), ref: (c, a, b) => zip3(c, a, b, (k, x, y) => (k ? x : y)) },
    { inputs: [{ shape: [5, 6], values: { int: [0, 2] }, dtype: 'i32', layout: 'offset' }, { shape: [5, 6], layout: 'transposed' }, { shape: [5, 6], layout: 'strided' }], run: (e, c, a, b) => e.where(c, a, b), ref: (c, a, b) => zip3(c, a, b, (k, x, y) => (k ? x : y)) },
    { inputs: [{ shape: [3, 5], values: { int: [0, 2] }, dtype: 'u32' }, { shape: [3, 5] }, { shape: [3, 5] }], run: (e, c, a, b) => e.where(c, a, b), ref: (c, a, b) => zip3(c, a, b, (k, x, y) => (k ? x : y)) },
    { inputs: [{ shape: [6, 1], values: { int: [0, 2] }, dtype: 'u32' }, { shape: [6, 3] }, { shape: [3] }], run: (e, c, a, b) => e.where(c, a, b), ref: (c, a, b) => zip3(c, a, b, (k, x, y) => (k ? x : y)) },
  ],
  eq: comparison((a, b) => a.eq(b), (x, y) => BINARY.eq.reference(x, y) === 1),
  ne: comparison((a, b) => a.ne(b), (x, y) => BINARY.ne.reference(x, y) === 1),
  lt: comparison((a, b) => a.lt(b), (x, y) => BINARY.lt.reference(x, y) === 1),
  le: comparison((a, b) => a.le(b), (x, y) => BINARY.le.reference(x, y) === 1),
  gt: comparison((a, b) => a.gt(b), (x, y) => BINARY.gt.reference(x, y) === 1),
  ge: comparison((a, b) => a.ge(b), (x, y) => BINARY.ge.reference(x, y) === 1),

  sum: [
    ...reduction((x, d, k) => x.sum(d, k), sumOf),
    { inputs: [{ shape: [5, 7], values: { int: [-50, 50] }, dtype: 'i32' }], run: (_e, x) => x.sum(1), ref: (x) => reduce(x, 1, false, sumOf) },
  ],
  mean: reduction((x, d, k) => x.mean(d, k), (v) => sumOf(v) / v.length),
  max: reduction((x, d, k) => x.max(d, k), (v) => Math.max(...v), 'distinct'),
  min: reduction((x, d, k) => x.min(d, k), (v) => Math.min(...v), 'distinct'),
  argmax: [
    ...reduction((x, d, k) => x.argmax(typeof d === 'number' ? d : undefined, k), (v) => argOf(v, (a, b) => a > b), { int: [-3, 3] }, { grad: false }).filter((c) => !c.label!.includes('[0,2]')),
    { inputs: [{ shape: [4, 6], values: { int: [0, 3] } }], grad: false, run: (_e, x) => x.argmax(), ref: (x) => Ref.scalar(argOf(Array.from(x.data), (a, b) => a > b)) },
  ],
  argmin: reduction((x, d, k) => x.argmin(typeof d === 'number' ? d : undefined, k), (v) => argOf(v, (a, b) => a < b), { int: [-3, 3] }, { grad: false }).filter((c) => !c.label!.includes('[0,2]')),
  logsumexp: [
    ...reduction((x, d, k) => x.logsumexp(d, k), logsumexpOf),
    { inputs: [{ shape: [2, 3], values: { fixed: [100, 101, 99, -100, -101, -99] } }], run: (_e, x) => x.logsumexp(1), ref: (x) => reduce(x, 1, false, logsumexpOf) },
  ],
  var: [
    ...reduction((x, d, k) => x.var(d, { keepdim: k }), (v) => {
      const m = sumOf(v) / v.length;
      return sumOf(v.map((x) => (x - m) ** 2)) / (v.length - 1);
    }).filter((c) => !c.label!.startsWith('[1]')),
    { inputs: [{ shape: [4, 9] }], run: (_e, x) => x.var(1, { correction: 0 }), ref: (x) => reduce(x, 1, false, (v) => { const m = sumOf(v) / v.length; return sumOf(v.map((y) => (y - m) ** 2)) / v.length; }) },
    { inputs: [{ shape: [4, 9] }], run: (_e, x) => x.std(0), ref: (x) => reduce(x, 0, false, (v) => { const m = sumOf(v) / v.length; return Math.sqrt(sumOf(v.map((y) => (y - m) ** 2)) / (v.length - 1)); }) },
  ],

  cast: [
    { inputs: [{ shape: [7], values: { fixed: [-2.7, -0.5, 0, 0.4, 1.9, 3, 1e6] } }], run: (_e, x) => x.to('i32'), ref: (x) => map(x, Math.trunc), f16: false, grad: false },
    { inputs: [{ shape: [5], values: { int: [-9, 9] }, dtype: 'i32' }], run: (_e, x) => x.to('f32'), ref: (x) => x },
    { inputs: [{ shape: [5], values: { int: [0, 9] }, dtype: 'u32' }], run: (_e, x) => x.to('i32'), ref: (x) => x },
    { inputs: [{ shape: [3, 1, 257] }], run: (_e, x) => x.to('f32').mul(2), ref: (x) => map(x, (v) => 2 * v) },
  ],
} satisfies Record<string, Cases>;

/** Reference of x[start:end:step] along dim. */
export function sliceRef(x: Ref, dim: number, start: number, end: number, step: number): Ref {
  const len = Math.max(0, Math.ceil((end - start) / step));
  const shape = [...x.shape];
  shape[dim] = len;
  const out = Ref.zeros(shape);
  const st = stridesOf(x.shape);
  for (let i = 0; i < out.size; i++) {
    const idx = unravel(i, shape);
    idx[dim] = start + idx[dim] * step;
    out.data[i] = x.data[idx.reduce((a, v, d) => a + v * st[d], 0)];
  }
  return out;
}
