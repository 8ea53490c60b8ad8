// Small host-side helpers for GPU tests.
import type { Tensor } from '../../engine/index.js';

/** The tensor's elements as plain numbers (row-major). */
export async function values(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

/** Dispose every tensor given (nulls and already-disposed tensors are fine). */
export function disposeAll(...ts: (Tensor | null | undefined | (Tensor | null | undefined)[])[]): void {
  for (const t of ts.flat()) t?.dispose();
}

