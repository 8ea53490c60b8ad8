// Ops whose kernels are still to be written. Each throws a clear error until it lands.
import { KilnError } from '../errors.js';

export function notImplemented(op: string): never {
  throw new KilnError(`${op}: not implemented yet`);
}
