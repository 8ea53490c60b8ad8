// Tensors from host data, constants, ranges and random numbers.
import type { DType, TypedArray } from '../dtype.js';
import type { Engine } from '../engine.js';
import { DTypeError, RangeArgumentError, ShapeError, fmtShape } from '../errors.js';
import { Params } from '../params.js';
import { numel, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { cast } from './elementwise.js';
import { ELEMENTS_PER_INVOCATION, elementwiseGrid, empty, grid1d } from './util.js';

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

export type NestedArray = number | boolean | readonly NestedArray[];

function checkShape(op: string, shape: Shape): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`${op}: invalid shape ${Array.isArray(shape) ? fmtShape(shape) : String(shape)}`);
  }
}

function finish(t: Tensor, opts: TensorOptions | undefined): Tensor {
  if (opts?.requiresGrad) {
    if (t.dtype !== 'f32' && t.dtype !== 'f16') {
      const dtype = t.dtype;
      const shape = fmtShape(t.shape);
      t.dispose();
      throw new DTypeError(`requiresGrad needs a floating-point dtype, got ${dtype} of shape ${shape}`);
    }
    t.requiresGrad = true;
  }
  return t;
}

/** Flatten nested arrays, checking that they are rectangular. */
function flattenNested(data: NestedArray): { values: number[]; shape: number[] } {
  const shape: number[] = [];
  let probe: NestedArray = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0] as NestedArray;
  }
  const values: number[] = [];
  const walk = (x: NestedArray, dim: number): void => {
    if (dim === shape.length) {
      if (Array.isArray(x)) throw new ShapeError(`tensor: nested arrays are ragged: an array of ${x.length} where a number was expected at depth ${dim}`);
      values.push(Number(x));
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[dim]) {
      const got = Array.isArray(x) ? `${x.length} elements` : 'a number';
      throw new ShapeError(`tensor: nested arrays are ragged: ${got} where ${shape[dim]} were expected at depth ${dim}`);
    }
    for (const y of x) walk(y, dim + 1);
  };
  walk(data, 0);
  return { values, shape };
}

export function tensor(engine: Engine, data: NestedArray | TypedArray | ArrayLike<number>, shape?: Shape, opts?: TensorOptions): Tensor {
  let values: ArrayLike<number>;
  let inferred: number[];
  let dtype: DType | undefined = opts?.dtype;
  if (ArrayBuffer.isView(data)) {
    values = data as TypedArray;
    inferred = [values.length];
    if (!dtype) dtype = data instanceof Int32Array ? 'i32' : data instanceof Uint32Array ? 'u32' : 'f32';
  } else if (typeof data === 'number' || typeof data === 'boolean' || Array.isArray(data)) {
    const flat = flattenNested(data as NestedArray);
    values = flat.values;
    inferred = flat.shape;
  } else {
    values = Array.from(data as ArrayLike<number>);
    inferred = [values.length];
  }
  dtype ??= 'f32';
  const finalShape = shape ? [...shape] : inferred;
  checkShape('tensor', finalShape);
  if (numel(finalShape) !== values.length) {
    throw new ShapeError(`tensor: ${values.length} values do not fill shape ${fmtShape(finalShape)}`);
  }
  const uploadType: DType = dtype === 'f16' ? 'f32' : dtype;
  const host =
    uploadType === 'f32' ? Float32Array.from(values) : uploadType === 'i32' ? Int32Array.from(values) : Uint32Array.from(values);
  if (dtype === 'f16') requireF16(engine, 'tensor');
  const t = empty(engine, finalShape, uploadType);
  if (host.length > 0) engine.write(t.storage.buffer, host);
  if (dtype === 'f16') {
    const h = engine.noGrad(() => cast(t, 'f16'));
    t.dispose();
    return finish(h, opts);
  }
  return finish(t, opts);
}

export function requireF16(engine: Engine, op: string): void {
  if (!engine.caps.shaderF16) throw new DTypeError(`${op}: f16 needs the device feature shader-f16, which this adapter lacks`);
}

/** start + i * step in every element (step 0: a constant). */
function fillKernel(engine: Engine, shape: Shape, dtype: DType, start: number, step: number): Tensor {
  if (dtype === 'f16') requireF16(engine, 'full');
  const t = empty(engine, shape, dtype);
  const n = t.size;
  if (n > 0) {
    engine.run({
      shader: 'fill',
      types: { T: dtype },
      constants: { ELEMS: ELEMENTS_PER_INVOCATION },
      params: new Params().u32(n).f32(start).f32(step).finish(),
      buffers: [t.storage.buffer],
      grid: elementwiseGrid(engine, n),
    });
  }
  return t;
}

export function full(engine: Engine, shape: Shape, value: number, opts?: TensorOptions): Tensor {
  checkShape('full', shape);
  return finish(fillKernel(engine, shape, opts?.dtype ?? 'f32', value, 0), opts);
}

export function zeros(engine: Engine, shape: Shape, opts?: TensorOptions): Tensor {
  return full(engine, shape, 0, opts);
}

export function ones(engine: Engine, shape: Shape, opts?: TensorOptions): Tensor {
  return full(engine, shape, 1, opts);
}

/** Values start, start + step, … below end (PyTorch's arange(end) / arange(start, end, step)). */
export function arange(engine: Engine, startOrEnd: number, end?: number, step = 1, opts?: TensorOptions): Tensor {
  const start = end === undefined ? 0 : startOrEnd;
  const stop = end === undefined ? startOrEnd : end;
  if (step === 0 || !Number.isFinite(step)) throw new RangeArgumentError(`arange: step must be a finite non-zero number, got ${step}`);
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const allInt = [start, stop, step].every(Number.isInteger);
  const dtype = opts?.dtype ?? (allInt ? 'i32' : 'f32');
  return finish(fillKernel(engine, [n], dtype, start, step), opts);
}

/** Identity matrix n × m (m defaults to n). */
export function eye(engine: Engine, n: number, m = n, opts?: TensorOptions): Tensor {
  checkShape('eye', [n, m]);
  const dtype = opts?.dtype ?? 'f32';
  const t = engine.noGrad(() => {
    const rows = arange(engine, n).reshape([n, 1]);
    const cols = arange(engine, m).reshape([1, m]);
    const mask = rows.eq(cols);
    const out = mask.to(dtype);
    rows.dispose();
    cols.dispose();
    mask.dispose();
    return out;
  });
  return finish(t, opts);
}

function randomKernel(engine: Engine, op: string, shape: Shape, dist: 0 | 1 | 2, a: number, b: number, dtype: DType): Tensor {
  checkShape(op, shape);
  if (dtype !== 'f32' && dtype !== 'f16') throw new DTypeError(`${op}: expected a floating-point dtype, got ${dtype}`);
  if (dtype === 'f16') requireF16(engine, op);
  const t = empty(engine, shape, dtype);
  const n = t.size;
  const { seed, offset } = engine.nextRandom(2 * n);
  if (n > 0) {
    engine.run({
      shader: 'random',
      types: { T: dtype },
      constants: { DIST: dist },
      params: new Params().u32(n).u32(seed).u32(offset).f32(a).f32(b).finish(),
      buffers: [t.storage.buffer],
      grid: grid1d(engine, n),
    });
  }
  return t;
}

/** Uniform on [low, high) (default [0, 1)), from the engine's seeded generator. */
export function rand(engine: Engine, shape: Shape, opts?: TensorOptions & { low?: number; high?: number }): Tensor {
  return finish(randomKernel(engine, 'rand', shape, 0, opts?.low ?? 0, opts?.high ?? 1, opts?.dtype ?? 'f32'), opts);
}

/** Normal with the given mean and std (default 0, 1). */
export function randn(engine: Engine, shape: Shape, opts?: TensorOptions & { mean?: number; std?: number }): Tensor {
  return finish(randomKernel(engine, 'randn', shape, 1, opts?.mean ?? 0, opts?.std ?? 1, opts?.dtype ?? 'f32'), opts);
}

/** 1 with probability p, else 0. */
export function bernoulli(engine: Engine, shape: Shape, p: number, dtype: DType = 'f32'): Tensor {
  if (!(p >= 0 && p <= 1)) throw new RangeArgumentError(`bernoulli: probability ${p} is outside [0, 1]`);
  return randomKernel(engine, 'bernoulli', shape, 2, p, 0, dtype);
}
