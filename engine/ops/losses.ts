// Regression and binary-classification losses with PyTorch's names and options, composed of
// elementwise ops and reductions: their gradients come from those ops' rules (crossEntropy, the
// multi-class loss, is a fused kernel in nn.ts).
import { RangeArgumentError, ShapeError, fmtShape } from '../errors.js';
import { broadcastShapes } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { requireFloat } from './util.js';

export type LossReduction = 'mean' | 'sum' | 'none';

export interface MSELossOptions {
  reduction?: LossReduction;
}

export interface BCEWithLogitsOptions {
  /** Rescales each element's loss; broadcast against the input (torch's `weight`). */
  weight?: Tensor;
  /** Weight of the positive term, broadcast along the last dim (torch's `pos_weight`, one per class). */
  posWeight?: Tensor;
  reduction?: LossReduction;
}

function requireReduction(op: string, reduction: LossReduction): void {
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new RangeArgumentError(`${op}: reduction must be 'mean', 'sum' or 'none', got ${JSON.stringify(reduction)}`);
  }
}

function reduce(loss: Tensor, reduction: LossReduction): Tensor {
  return reduction === 'none' ? loss : reduction === 'sum' ? loss.sum() : loss.mean();
}

/** Input and target of one shape, as PyTorch requires for these losses (a broadcast here is almost always a bug). */
function requireSameShape(op: string, input: Tensor, target: Tensor): void {
  if (input.shape.length !== target.shape.length || input.shape.some((d, i) => d !== target.shape[i])) {
    throw new ShapeError(`${op}: input ${fmtShape(input.shape)} and target ${fmtShape(target.shape)} must have the same shape`);
  }
}

function requireBroadcastsTo(op: string, name: string, t: Tensor, shape: readonly number[]): void {
  let out: number[] | null = null;
  try {
    out = broadcastShapes(op, t.shape, shape);
  } catch {
    // reported below, naming the argument
  }
  if (!out || out.length !== shape.length || out.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`${op}: ${name} ${fmtShape(t.shape)} does not broadcast to the input ${fmtShape(shape)}`);
  }
}

/** Mean squared error (x - y)^2, as torch.nn.functional.mse_loss. */
export function mseLoss(input: Tensor, target: Tensor, options: MSELossOptions = {}): Tensor {
  const op = 'mseLoss';
  input.assertLive(op, target);
  requireFloat(op, input, target);
  requireSameShape(op, input, target);
  const reduction = options.reduction ?? 'mean';
  requireReduction(op, reduction);
  return input.engine.tidy(() => {
    const d = input.sub(target);
    return reduce(d.mul(d), reduction);
  });
}

/**
 * Sigmoid and binary cross-entropy in one stable expression, as
 * torch.nn.functional.binary_cross_entropy_with_logits: with targets y in [0, 1] and pos_weight p,
 *   loss = (1 - y) x + (1 + (p - 1) y) softplus(-x)
 * which is -[p y log σ(x) + (1 - y) log(1 - σ(x))] without evaluating log σ of a saturated sigmoid
 * (softplus(-x) = -log σ(x) is finite for every finite x). Its gradient in x is σ(x)(1 + (p-1)y) - p y.
 */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, options: BCEWithLogitsOptions = {}): Tensor {
  const op = 'binaryCrossEntropyWithLogits';
  const { weight, posWeight } = options;
  input.assertLive(op, target, weight, posWeight);
  requireFloat(op, input, target, ...(weight ? [weight] : []), ...(posWeight ? [posWeight] : []));
  requireSameShape(op, input, target);
  if (weight) requireBroadcastsTo(op, 'weight', weight, input.shape);
  if (posWeight) requireBroadcastsTo(op, 'posWeight', posWeight, input.shape);
  const reduction = options.reduction ?? 'mean';
  requireReduction(op, reduction);
  return input.engine.tidy(() => {
    const negTerm = input.neg().softplus(); // -log σ(x)
    // (1 + (p - 1) y): the weight of the positive term's -log σ(x).
    const logWeight = posWeight ? posWeight.sub(1).mul(target).add(1) : null;
    let loss = input.mul(target.neg().add(1)).add(logWeight ? negTerm.mul(logWeight) : negTerm);
    if (weight) loss = loss.mul(weight);
    return reduce(loss, reduction);
  });
}
