// The op table: each case builds inputs on deliberately odd shapes and layouts, runs the GPU op, and
// compares with the float64 reference (forward) and with central finite differences of the reference
// (backward, through L = sum(w * op(x)) with random w).
import type { DType, Engine, Tensor } from '../../engine/index.js';
import { assertClose, type Tolerance } from '../helpers/compare.js';
import { Ref, zip } from '../reference/core.js';

export type Values = 'normal' | 'positive' | 'unit' | 'distinct' | { int: [number, number] } | { fixed: number[] };

export interface InputSpec {
  shape: number[];
  values?: Values;
  dtype?: DType;
  /**
   * How the tensor is laid out: contiguous (default); `transposed` (a transposed view of a
   * contiguous tensor); `strided` (every second element of a larger tensor along the last dim);
   * `offset` (a narrow view that starts past element 0).
   */
  layout?: 'contiguous' | 'transposed' | 'strided' | 'offset';
  /** Check the gradient of this input (default: every float input when the case has grad). */
  grad?: boolean;
  /** Kinks of the op (relu at 0, clamp bounds): values are kept 0.01 away so finite differences stay on one side. */
  avoid?: number[];
}

export interface OpCase {
  label?: string;
  inputs: InputSpec[];
  run: (engine: Engine, ...xs: Tensor[]) => Tensor;
  ref: (...xs: Ref[]) => Ref;
  /** Check gradients (default true when some input is float). */
  grad?: boolean;
  /** Forward tolerance (default F32). */
  tol?: Partial<Tolerance>;
  /** Gradient tolerance (default rtol 2e-3, atol 2e-4). */
  gradTol?: Partial<Tolerance>;
  /** Also run forward with f16 float inputs (default true when some input is float). */
  f16?: boolean;
}

export const FWD_TOL: Tolerance = { rtol: 2e-5, atol: 2e-6 };
export const GRAD_TOL: Tolerance = { rtol: 2e-3, atol: 2e-4 };
export const F16_TOL: Tolerance = { rtol: 1e-2, atol: 1e-2 };

/** mulberry32: a small seeded generator so every case sees the same inputs each run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function gaussian(rand: () => number): number {
  const u = 1 - rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

export function isFloatSpec(s: InputSpec): boolean {
  return (s.dtype ?? 'f32') === 'f32' || s.dtype === 'f16';
}

/** Host values for one input, already rounded to f32 so the reference sees what the GPU sees. */
export function makeValues(spec: InputSpec, rand: () => number): Float64Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const v = spec.values ?? 'normal';
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x: number;
    if (typeof v === 'object' && 'fixed' in v) x = v.fixed[i % v.fixed.length];
    else if (typeof v === 'object') x = v.int[0] + Math.floor(rand() * (v.int[1] - v.int[0]));
    else if (v === 'positive') x = 0.5 + 1.5 * rand();
    else if (v === 'unit') x = -0.9 + 1.8 * rand();
    else if (v === 'distinct') x = i * 0.37 + 0.1 * rand(); // no ties (max, topk); shuffled below
    else x = gaussian(rand);
    for (const k of spec.avoid ?? []) if (Math.abs(x - k) < 0.01) x = k + (x < k ? -0.01 : 0.01);
    out[i] = Math.fround(x);
  }
  if (v === 'distinct') {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
  }
  return out;
}

/** Upload `values` (logical shape spec.shape) with the requested layout. */
export function makeInput(engine: Engine, spec: InputSpec, values: Float64Array, floatDtype: DType): Tensor {
  const dtype = isFloatSpec(spec) ? floatDtype : spec.dtype!;
  const shape = spec.shape;
  const layout = spec.layout ?? 'contiguous';
  if (layout === 'contiguous' || shape.length === 0) return engine.tensor(Array.from(values), shape, { dtype });
  if (layout === 'transposed') {
    if (shape.length < 2) throw new Error('transposed layout needs rank >= 2');
    const r = shape.length;
    const tShape = [...shape];
    [tShape[r - 2], tShape[r - 1]] = [tShape[r - 1], tShape[r - 2]];
    const tr = zipTranspose(values, shape);
    const base = engine.tensor(Array.from(tr), tShape, { dtype });
    const v = base.transpose(-1, -2);
    base.dispose();
    return v;
  }
  if (layout === 'strided') {
    const last = shape[shape.length - 1];
    const big = [...shape.slice(0, -1), 2 * last];
    const host = new Float64Array(big.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) {
      const row = Math.floor(i / last);
      host[row * 2 * last + 2 * (i % last)] = values[i];
    }
    const base = engine.tensor(Array.from(host), big, { dtype });
    const v = base.slice(-1, 0, undefined, 2);
    base.dispose();
    return v;
  }
  // offset: prepend 3 junk rows along dim 0 and narrow them away
  const big = [shape[0] + 3, ...shape.slice(1)];
  const rowSize = shape.slice(1).reduce((a, b) => a * b, 1);
  const host = new Float64Array(big.reduce((a, b) => a * b, 1)).fill(123);
  host.set(values, 3 * rowSize);
  const base = engine.tensor(Array.from(host), big, { dtype });
  const v = base.narrow(0, 3, shape[0]);
  base.dispose();
  return v;
}

function zipTranspose(values: Float64Array, shape: number[]): Float64Array {
  const r = shape.length;
  const rows = shape[r - 2];
  const cols = shape[r - 1];
  const batch = values.length / (rows * cols);
  const out = new Float64Array(values.length);
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[b * rows * cols + j * rows + i] = values[b * rows * cols + i * cols + j];
  return out;
}

export function caseSeed(op: string, index: number): () => number {
  return seededRandom(hashString(`${op}#${index}`));
}

function sameShapeOrThrow(actual: readonly number[], expected: readonly number[], what: string): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new Error(`${what}: shape [${actual}] differs from the reference [${expected}]`);
  }
}

export async function checkForward(engine: Engine, op: string, index: number, c: OpCase, floatDtype: DType = 'f32'): Promise<void> {
  const rand = caseSeed(op, index);
  const host = c.inputs.map((s) => makeValues(s, rand));
  const expected = c.ref(...c.inputs.map((s, i) => new Ref([...s.shape], host[i])));
  const tol = floatDtype === 'f16' ? F16_TOL : { ...FWD_TOL, ...c.tol };
  const out = engine.tidy(() => {
    const xs = c.inputs.map((s, i) => makeInput(engine, s, host[i], floatDtype));
    return c.run(engine, ...xs);
  });
  try {
    const data = await out.data();
    assertNoDeviceErrors(engine, `${op} forward`);
    sameShapeOrThrow(out.shape, expected.shape, `${op} forward`);
    assertClose(data, expected.data, tol, `${op} forward`);
  } finally {
    out.dispose();
  }
}

/** A shader that fails validation writes nothing: say so instead of reporting a value mismatch. */
function assertNoDeviceErrors(engine: Engine, what: string): void {
  if (engine.deviceErrors.length) throw new Error(`${what}: WebGPU reported: ${engine.deviceErrors.splice(0).join(' | ')}`);
}

/** Gradient of L = sum(w * ref(xs)) with respect to input k, by central differences in float64. */
export function finiteDifference(c: OpCase, host: Float64Array[], shapes: number[][], w: Ref, k: number, h = 1e-3): Float64Array {
  const loss = (xs: Float64Array[]) => {
    const y = c.ref(...xs.map((d, i) => new Ref([...shapes[i]], d)));
    const prod = zip(y, w, (a, b) => a * b);
    let s = 0;
    for (const v of prod.data) s += v;
    return s;
  };
  const g = new Float64Array(host[k].length);
  for (let j = 0; j < g.length; j++) {
    const plus = host.map((d) => d.slice());
    const minus = host.map((d) => d.slice());
    plus[k][j] += h;
    minus[k][j] -= h;
    g[j] = (loss(plus) - loss(minus)) / (2 * h);
  }
  return g;
}

export async function checkBackward(engine: Engine, op: string, index: number, c: OpCase): Promise<void> {
  const rand = caseSeed(op, index);
  const host = c.inputs.map((s) => makeValues(s, rand));
  const shapes = c.inputs.map((s) => [...s.shape]);
  const outRef = c.ref(...c.inputs.map((s, i) => new Ref([...s.shape], host[i])));
  const w = new Ref([...outRef.shape], makeValues({ shape: outRef.shape }, seededRandom(hashString(`${op}#${index}#w`))));
  const checked = c.inputs.map((s) => s.grad ?? isFloatSpec(s));
  const leaves: Tensor[] = [];
  const grads = await (async () => {
    const loss = engine.tidy(() => {
      const xs = c.inputs.map((s, i) => {
        const t = makeInput(engine, s, host[i], 'f32');
        if (!checked[i]) return t;
        const leaf = engine.keep(t.detach().requiresGrad_());
        leaves.push(leaf);
        return leaf;
      });
      const y = c.run(engine, ...xs);
      const wt = engine.tensor(Array.from(w.data), w.shape);
      return y.mul(wt).sum();
    });
    loss.backward();
    loss.dispose();
    const out: Float64Array[] = [];
    for (const leaf of leaves) {
      if (!leaf.grad) throw new Error(`${op} backward: an input that requires grad got no gradient`);
      out.push(Float64Array.from(await leaf.grad.data()));
      leaf.dispose();
    }
    return out;
  })();
  assertNoDeviceErrors(engine, `${op} backward`);
  const tol = { ...GRAD_TOL, ...c.gradTol };
  let g = 0;
  c.inputs.forEach((_, k) => {
    if (!checked[k]) return;
    const fd = finiteDifference(c, host, shapes, w, k);
    assertClose(grads[g++], fd, tol, `${op} gradient of input ${k}`);
  });
}
