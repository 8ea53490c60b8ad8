// Tensor = pooled storage + shape + strides + offset + dtype. Views share storage; only contiguous()
// and ops copy. Methods are thin wrappers over the functions in ops/, named as in PyTorch.
import { runBackward, type BackwardOptions, type Node } from './autograd.js';
import { BYTES_PER_ELEMENT, type DType, type TypedArray } from './dtype.js';
import type { Engine } from './engine.js';
import { DisposedTensorError, DTypeError, EngineMismatchError, fmtShape } from './errors.js';
import { contiguousStrides, isContiguous, numel, type Shape } from './shape.js';
import * as ops from './ops/index.js';
import { UNARY_METHODS, type UnaryMethodName } from './ops/elementwise-table.js';

/** A reference-counted GPU buffer shared by a tensor and its views. */
export class Storage {
  private refs = 1;
  constructor(
    readonly engine: Engine,
    readonly buffer: GPUBuffer,
  ) {}
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (--this.refs === 0) this.engine.pool.release(this.buffer);
  }
}

export type Scalar = number;
export type TensorOrScalar = Tensor | number;

/** The option-free unary methods, one per op-table row marked `method` (x.exp(), x.relu(), …). */
type UnaryMethods = { [K in UnaryMethodName]: () => Tensor };
// Declaration merging: the class below gets these methods from the table at module load.
export interface Tensor extends UnaryMethods {}

export class Tensor {
  readonly isKilnTensor = true;
  requiresGrad = false;
  /** Accumulated gradient of a leaf after `backward()`. */
  grad: Tensor | null = null;
  /** The autograd node that produced this tensor (null for leaves and tensors made without grad). */
  gradFn: Node | null = null;
  /** @internal The gradFn reference is not counted (an op's saved copy of its own output). */
  weakGradFn = false;
  /** @internal For a saved copy of a leaf: the leaf whose `.grad` receives gradients. */
  gradLeaf: Tensor | null = null;
  disposed = false;
  readonly size: number;
  private shownValues: { version: number; values: string } | null = null;

  /** @internal Use engine factories or ops. Takes over one reference to `storage`. */
  constructor(
    readonly engine: Engine,
    readonly storage: Storage,
    readonly shape: readonly number[],
    readonly strides: readonly number[],
    /** Offset of element [0, …, 0] in the storage, in elements. */
    readonly offset: number,
    readonly dtype: DType,
  ) {
    this.size = numel(shape);
    engine.track(this);
  }

  /** @internal A new contiguous, uninitialised tensor. */
  static empty(engine: Engine, shape: Shape, dtype: DType): Tensor {
    const bytes = Math.max(4, numel(shape) * BYTES_PER_ELEMENT[dtype]);
    const storage = new Storage(engine, engine.pool.acquire(bytes, () => `a ${dtype} tensor of shape ${fmtShape(shape)}`));
    return new Tensor(engine, storage, [...shape], contiguousStrides(shape), 0, dtype);
  }

  get ndim(): number {
    return this.shape.length;
  }
  /** PyTorch's size(dim) is `shape[dim]`; `numel()` is this. */
  numel(): number {
    return this.size;
  }

  isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /** @internal A new tensor object on the same storage, with the given layout and no history. */
  view_(shape: Shape, strides: readonly number[], offset: number): Tensor {
    this.assertLive('view');
    this.storage.retain();
    return new Tensor(this.engine, this.storage, [...shape], [...strides], offset, this.dtype);
  }

  /** @internal Same layout and storage, no autograd history, not tracked by tidy. */
  alias(): Tensor {
    const t = this.view_(this.shape, this.strides, this.offset);
    this.engine.keep(t);
    return t;
  }

  /**
   * @internal An alias that keeps this tensor's place in the graph (same gradFn, or the same leaf),
   * so backward rules that use saved tensors can themselves be differentiated (createGraph).
   */
  linkedAlias(): Tensor {
    const t = this.alias();
    t.requiresGrad = this.requiresGrad;
    if (this.gradFn) {
      t.gradFn = this.gradFn;
      this.gradFn.refs++;
    } else if (this.requiresGrad) {
      t.gradLeaf = this.gradLeaf ?? this;
    }
    return t;
  }

  /** @internal Throw if disposed or (given) from another engine. */
  assertLive(op: string, ...others: (Tensor | null | undefined)[]): void {
    if (this.disposed) throw new DisposedTensorError(`${op}: tensor of shape ${fmtShape(this.shape)} was disposed`);
    for (const o of others) {
      if (!o) continue;
      if (o.disposed) throw new DisposedTensorError(`${op}: tensor of shape ${fmtShape(o.shape)} was disposed`);
      if (o.engine !== this.engine) {
        throw new EngineMismatchError(`${op}: tensors of shapes ${fmtShape(this.shape)} and ${fmtShape(o.shape)} belong to different engines`);
      }
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage.release();
    this.grad?.dispose();
    this.grad = null;
    const node = this.gradFn;
    this.gradFn = null;
    if (!this.weakGradFn) node?.decref();
    for (const s of this.engine.scopes) s.delete(this);
  }

  // ------------------------------------------------------------ readback

  /** Copy the elements to the host, in row-major order (f16 is widened to f32). */
  async data(): Promise<TypedArray> {
    return ops.readData(this);
  }
  /** Nested arrays, like PyTorch's tolist(). */
  async array(): Promise<unknown> {
    const d = Array.from(await this.data());
    const build = (dim: number, off: number): unknown => {
      if (dim === this.shape.length) return d[off];
      const stride = this.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, off + i * stride));
    };
    return build(0, 0);
  }
  /** The value of a one-element tensor. */
  async item(): Promise<number> {
    return ops.readItem(this);
  }
  /** A printable preview such as `tensor([[1, 2], [3, 4]], dtype=f32)`, read from the GPU now. */
  async print(): Promise<string> {
    await this.data(); // remembers the values it read
    return `tensor(${this.shownValues!.values}, dtype=${this.dtype}${this.flagText()})`;
  }
  /**
   * Shape, dtype and flags, with the values of the last readback (`data`, `item`, `print`…) while the
   * storage has not been written since; reading a GPU tensor cannot be synchronous, so a tensor
   * never read shows `await t.print()` instead. What console.log shows in Node and Deno.
   */
  toString(): string {
    const flags = this.flagText();
    if (this.disposed) return `Tensor(shape=${fmtShape(this.shape)}, dtype=${this.dtype}, disposed)`;
    const shown = this.shownValues;
    if (shown && shown.version === this.engine.writeVersion(this.storage.buffer)) {
      return `tensor(${shown.values}, dtype=${this.dtype}${flags})`;
    }
    return `Tensor(shape=${fmtShape(this.shape)}, dtype=${this.dtype}${flags}) [values on the GPU: await t.print()]`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
  [Symbol.for('Deno.customInspect')](): string {
    return this.toString();
  }
  private flagText(): string {
    return `${this.requiresGrad ? ', requiresGrad=true' : ''}${this.gradFn ? `, gradFn=${this.gradFn.op}` : ''}`;
  }
  /** @internal Remember the values a readback showed, at the storage's write version it read. */
  rememberValues(version: number, values: string): void {
    this.shownValues = { version, values };
  }

  // ------------------------------------------------------------ autograd

  /** Mark a leaf as requiring a gradient (in place, like requires_grad_()). */
  requiresGrad_(flag = true): this {
    if (flag && this.dtype !== 'f32' && this.dtype !== 'f16') {
      throw new DTypeError(`requiresGrad needs a floating-point dtype, got ${this.dtype} of shape ${fmtShape(this.shape)}`);
    }
    this.requiresGrad = flag;
    return this;
  }
  /** Backpropagate from this tensor; gradients accumulate into leaves' `.grad`. */
  backward(gradient?: Tensor, options: Omit<BackwardOptions, 'inputs'> = {}): void {
    // options: retainGraph (backward again later), createGraph (differentiate the gradients again)
    this.assertLive('backward', gradient);
    runBackward(this.engine, this, gradient, options);
  }
  /** The same data with no autograd history. */
  detach(): Tensor {
    return this.view_(this.shape, this.strides, this.offset);
  }

  // ------------------------------------------------------------ views

  reshape(...shape: (number | number[])[]): Tensor {
    return ops.reshape(this, flatArgs(shape));
  }
  view(...shape: (number | number[])[]): Tensor {
    return ops.view(this, flatArgs(shape));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return ops.flatten(this, startDim, endDim);
  }
  permute(...dims: (number | number[])[]): Tensor {
    return ops.permute(this, flatArgs(dims));
  }
  transpose(dim0: number, dim1: number): Tensor {
    return ops.transpose(this, dim0, dim1);
  }
  /** Transpose of a 2-D tensor (PyTorch's t()). */
  t(): Tensor {
    return ops.transpose(this, 0, 1);
  }
  /** Swap the last two dims (PyTorch's mT). */
  get mT(): Tensor {
    return ops.transpose(this, -2, -1);
  }
  expand(...shape: (number | number[])[]): Tensor {
    return ops.expand(this, flatArgs(shape));
  }
  expandAs(other: Tensor): Tensor {
    return ops.expand(this, [...other.shape]);
  }
  squeeze(dim?: number | number[]): Tensor {
    return ops.squeeze(this, dim);
  }
  unsqueeze(dim: number): Tensor {
    return ops.unsqueeze(this, dim);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return ops.narrow(this, dim, start, length);
  }
  /** Python-style slice along one dim: start (inclusive), end (exclusive), step > 0; negatives count from the end. */
  slice(dim: number, start?: number, end?: number, step = 1): Tensor {
    return ops.slice(this, dim, start, end, step);
  }
  /** Select one index along a dim, dropping it (PyTorch's select). */
  select(dim: number, index: number): Tensor {
    return ops.select(this, dim, index);
  }
  contiguous(): Tensor {
    return ops.contiguous(this);
  }
  /** Convert to another dtype (a copy; the same tensor if the dtype matches). */
  to(dtype: DType): Tensor {
    return ops.cast(this, dtype);
  }
  cast(dtype: DType): Tensor {
    return ops.cast(this, dtype);
  }
  float(): Tensor {
    return ops.cast(this, 'f32');
  }
  half(): Tensor {
    return ops.cast(this, 'f16');
  }
  int(): Tensor {
    return ops.cast(this, 'i32');
  }
  clone(): Tensor {
    return ops.clone(this);
  }
  /**
   * Overwrite this tensor's elements with `src` (broadcast to this shape, same dtype), in stream
   * order, like PyTorch's copy_. Not recorded by autograd: for optimizer updates and buffers.
   */
  copy_(src: Tensor): this {
    ops.copyInPlace(this, src);
    return this;
  }

  // ------------------------------------------------------------ elementwise

  // neg, abs, exp, log, sqrt, rsqrt, sin, cos, tanh, sigmoid, relu, silu: installed below from the op
  // table (ops/elementwise-table.ts rows with `method: true`).
  gelu(options?: { approximate?: 'none' | 'tanh' }): Tensor { return ops.gelu(this, options); }
  softplus(options?: { beta?: number; threshold?: number }): Tensor { return ops.softplus(this, options); }
  square(): Tensor { return ops.mul(this, this); }
  clamp(min?: number | null, max?: number | null): Tensor { return ops.clamp(this, min, max); }

  add(other: TensorOrScalar, alpha?: number): Tensor { return ops.add(this, other, alpha); }
  sub(other: TensorOrScalar, alpha?: number): Tensor { return ops.sub(this, other, alpha); }
  mul(other: TensorOrScalar): Tensor { return ops.mul(this, other); }
  div(other: TensorOrScalar): Tensor { return ops.div(this, other); }
  pow(exponent: TensorOrScalar): Tensor { return ops.pow(this, exponent); }
  maximum(other: TensorOrScalar): Tensor { return ops.maximum(this, other); }
  minimum(other: TensorOrScalar): Tensor { return ops.minimum(this, other); }
  eq(other: TensorOrScalar): Tensor { return ops.eq(this, other); }
  ne(other: TensorOrScalar): Tensor { return ops.ne(this, other); }
  lt(other: TensorOrScalar): Tensor { return ops.lt(this, other); }
  le(other: TensorOrScalar): Tensor { return ops.le(this, other); }
  gt(other: TensorOrScalar): Tensor { return ops.gt(this, other); }
  ge(other: TensorOrScalar): Tensor { return ops.ge(this, other); }
  /** `cond ? this : other`, elementwise with broadcasting (PyTorch's x.where(cond, y)). */
  where(condition: Tensor, other: TensorOrScalar): Tensor { return ops.where(condition, this, other); }

  // ------------------------------------------------------------ reductions

  sum(dim?: number | number[], keepdim = false): Tensor { return ops.sum(this, dim, keepdim); }
  mean(dim?: number | number[], keepdim = false): Tensor { return ops.mean(this, dim, keepdim); }
  /** Maximum over dims (values only, like PyTorch's amax). */
  max(dim?: number | number[], keepdim = false): Tensor { return ops.max(this, dim, keepdim); }
  min(dim?: number | number[], keepdim = false): Tensor { return ops.min(this, dim, keepdim); }
  argmax(dim?: number, keepdim = false): Tensor { return ops.argmax(this, dim, keepdim); }
  argmin(dim?: number, keepdim = false): Tensor { return ops.argmin(this, dim, keepdim); }
  logsumexp(dim?: number | number[], keepdim = false): Tensor { return ops.logsumexp(this, dim, keepdim); }
  /** Variance with Bessel's correction by default (correction = 1), as PyTorch. */
  var(dim?: number | number[], options?: { correction?: number; keepdim?: boolean }): Tensor { return ops.variance(this, dim, options); }
  std(dim?: number | number[], options?: { correction?: number; keepdim?: boolean }): Tensor { return ops.std(this, dim, options); }

  // ------------------------------------------------------------ linear algebra, normalisation

  matmul(other: Tensor): Tensor { return ops.matmul(this, other); }
  softmax(dim = -1): Tensor { return ops.softmax(this, dim); }
  logSoftmax(dim = -1): Tensor { return ops.logSoftmax(this, dim); }

  // ------------------------------------------------------------ indexing and shape

  gather(dim: number, index: Tensor): Tensor { return ops.gather(this, dim, index); }
  indexSelect(dim: number, index: Tensor): Tensor { return ops.indexSelect(this, dim, index); }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return ops.scatterAdd(this, dim, index, src); }
  split(splitSizeOrSections: number | number[], dim = 0): Tensor[] { return ops.split(this, splitSizeOrSections, dim); }
  chunk(chunks: number, dim = 0): Tensor[] { return ops.chunk(this, chunks, dim); }
  cumsum(dim: number): Tensor { return ops.cumsum(this, dim); }
  topk(k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } { return ops.topk(this, k, dim, largest); }
}

function flatArgs(args: (number | number[])[]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...args[0]] : (args as number[]);
}

for (const name of UNARY_METHODS) {
  Object.defineProperty(Tensor.prototype, name, {
    value(this: Tensor): Tensor {
      return ops.unaryOp(name, this);
    },
    writable: true,
    configurable: true,
  });
}
