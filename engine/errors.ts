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

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
