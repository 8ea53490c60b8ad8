/** Every error kiln throws for bad input or misuse is a KilnError, named by its kind. */
export class KilnError extends Error {
  override name = 'KilnError';
}
/** Shapes that do not fit the op (mismatch, broadcast failure, wrong rank, axis out of range). */
export class ShapeError extends KilnError {
  override name = 'ShapeError';
}
/** A dtype the op does not accept, or operands whose dtypes differ. */
export class DTypeError extends KilnError {
  override name = 'DTypeError';
}
/** An index or argument value out of range. */
export class RangeArgumentError extends KilnError {
  override name = 'RangeArgumentError';
}
/** A tensor used after `dispose()`. */
export class DisposedTensorError extends KilnError {
  override name = 'DisposedTensorError';
}
/** Tensors from two different engines (devices) in one op. */
export class EngineMismatchError extends KilnError {
  override name = 'EngineMismatchError';
}
/** Autograd misuse: backward on a non-scalar without a seed, an op without a backward rule, a freed graph. */
export class AutogradError extends KilnError {
  override name = 'AutogradError';
}
/** The device was lost or ran out of memory. */
export class DeviceError extends KilnError {
  override name = 'DeviceError';
}

/**
 * Anomaly detection (`engine.detectAnomaly(true)`) found a NaN or an infinity: `op` names the first op
 * whose output (or, as "backward of <op>", whose gradient) held one, `element` the lowest flat index
 * in that tensor, `kind` the value. Thrown at the next readback, like torch.autograd.detect_anomaly's
 * RuntimeError; a KilnError of its own kind, as it is neither bad input nor a device failure.
 */
export class AnomalyError extends KilnError {
  override name = 'AnomalyError';
  constructor(
    message: string,
    readonly op: string,
    readonly element: number,
    readonly kind: 'NaN' | '+Inf' | '-Inf',
  ) {
    super(message);
  }
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
