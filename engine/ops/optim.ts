// The optimizers' fused in-place updates (nn/optim.ts keeps the state and the schedule; these are
// the launches): one dispatch per parameter, no readback. Every derived scalar is computed here in
// float64 and rounded once to f32, as PyTorch's Python scalars are.
import { DTypeError, fmtShape, KilnError, ShapeError } from '../errors.js';
import { Params } from '../params.js';
import type { Tensor } from '../tensor.js';
import { empty, grid1d } from './util.js';

export interface AdamWStepOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** The step count after this update (1 on the first), for the bias corrections. */
  step: number;
}

/**
 * One AdamW update in place (PyTorch's single-tensor rule, amsgrad off): param, expAvg and expAvgSq
 * are overwritten. param and grad share shape and dtype and are contiguous; the moments are f32,
 * contiguous, unoffset, of param's size.
 */
export function adamwStep_(param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, o: AdamWStepOptions): void {
  const op = 'adamwStep_';
  checkUpdate(op, param, grad);
  checkState(op, param, expAvg, 'expAvg');
  checkState(op, param, expAvgSq, 'expAvgSq');
  if (!(Number.isInteger(o.step) && o.step >= 1)) throw new KilnError(`${op}: step must be a whole number >= 1, got ${o.step}`);
  const stepSize = o.lr / (1 - o.beta1 ** o.step);
  const bc2Sqrt = Math.sqrt(1 - o.beta2 ** o.step);
  param.engine.run({
    shader: 'adamw',
    types: { T: param.dtype },
    params: new Params()
      .u32(param.size).u32(param.offset).u32(grad.offset)
      .f32(o.beta2).f32(1 - o.beta1).f32(1 - o.beta2).f32(1 - o.lr * o.weightDecay).f32(stepSize).f32(bc2Sqrt).f32(o.eps)
      .finish(),
    buffers: [grad.storage.buffer, param.storage.buffer, expAvg.storage.buffer, expAvgSq.storage.buffer],
    grid: grid1d(param.engine, param.size),
  });
}

export interface SGDStepOptions {
  lr: number;
  weightDecay: number;
  /** 0: plain SGD (momentumBuffer may be null). */
  momentum: number;
  dampening: number;
  nesterov: boolean;
  /** The first update: the buffer takes the gradient itself (PyTorch's rule). */
  first: boolean;
}

/**
 * One SGD update in place (PyTorch's rule: L2 weight decay into the gradient, momentum with
 * dampening, optional Nesterov); with momentum, momentumBuffer (f32, contiguous, unoffset, param's
 * size) is overwritten too.
 */
export function sgdStep_(param: Tensor, grad: Tensor, momentumBuffer: Tensor | null, o: SGDStepOptions): void {
  const op = 'sgdStep_';
  checkUpdate(op, param, grad);
  const useMomentum = o.momentum !== 0;
  if (useMomentum && !momentumBuffer) throw new KilnError(`${op}: momentum ${o.momentum} needs a momentum buffer`);
  if (useMomentum) checkState(op, param, momentumBuffer!, 'momentumBuffer');
  const flags = (useMomentum ? 1 : 0) | (o.first ? 2 : 0) | (o.nesterov ? 4 : 0);
  const engine = param.engine;
  // Without momentum the kernel never touches its buffer binding: a pooled one-element stand-in.
  const buf = useMomentum ? momentumBuffer! : empty(engine, [1], 'f32');
  engine.run({
    shader: 'sgd',
    types: { T: param.dtype },
    params: new Params()
      .u32(param.size).u32(param.offset).u32(grad.offset).u32(flags)
      .f32(o.lr).f32(o.weightDecay).f32(o.momentum).f32(1 - o.dampening)
      .finish(),
    buffers: [grad.storage.buffer, param.storage.buffer, buf.storage.buffer],
    grid: grid1d(engine, param.size),
  });
  if (buf !== momentumBuffer) buf.dispose();
}

function checkUpdate(op: string, param: Tensor, grad: Tensor): void {
  if (grad.dtype !== param.dtype) throw new DTypeError(`${op}: gradient dtype ${grad.dtype} differs from the parameter's ${param.dtype}`);
  if (grad.engine !== param.engine) throw new KilnError(`${op}: the gradient belongs to another engine`);
  if (grad.ndim !== param.ndim || grad.shape.some((d, i) => d !== param.shape[i])) {
    throw new ShapeError(`${op}: gradient of shape ${fmtShape(grad.shape)} for a parameter of shape ${fmtShape(param.shape)}`);
  }
  if (!param.isContiguous() || !grad.isContiguous()) {
    throw new KilnError(`${op}: parameter and gradient must be contiguous (strides ${fmtShape(param.strides)} and ${fmtShape(grad.strides)})`);
  }
}

function checkState(op: string, param: Tensor, s: Tensor, name: string): void {
  if (s.dtype !== 'f32') throw new DTypeError(`${op}: ${name} must be f32, got ${s.dtype}`);
  if (s.engine !== param.engine) throw new KilnError(`${op}: ${name} belongs to another engine`);
  if (s.size !== param.size || !s.isContiguous() || s.offset !== 0) {
    throw new ShapeError(`${op}: ${name} must be contiguous, unoffset and of the parameter's ${param.size} elements (got shape ${fmtShape(s.shape)}, offset ${s.offset})`);
  }
}
