// Host readback. Views, f16 and offsets are first copied into a fresh contiguous f32/i32/u32 tensor.
import type { TypedArray } from '../dtype.js';
import { KilnError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor.js';

export async function readData(t: Tensor): Promise<TypedArray> {
  t.assertLive('data');
  const engine = t.engine;
  const direct = t.isContiguous() && t.dtype !== 'f16';
  const src = direct ? t : engine.noGrad(() => engine.keep(t.dtype === 'f16' ? t.to('f32') : t.contiguous()));
  try {
    const bytes = await engine.read(src.storage.buffer, src.offset * 4, src.size * 4);
    if (src.dtype === 'i32') return new Int32Array(bytes);
    if (src.dtype === 'u32') return new Uint32Array(bytes);
    return new Float32Array(bytes);
  } finally {
    if (src !== t) src.dispose();
  }
}

export async function readItem(t: Tensor): Promise<number> {
  if (t.size !== 1) throw new KilnError(`item: only one-element tensors have an item, got shape ${fmtShape(t.shape)}`);
  return (await readData(t))[0];
}
