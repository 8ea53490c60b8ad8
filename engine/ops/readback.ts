// Host readback. Views, f16 and offsets are first copied into a fresh contiguous f32/i32/u32 tensor.
import type { TypedArray } from '../dtype.js';
import { KilnError, fmtShape } from '../errors.js';
import { formatValues } from '../preview.js';
import type { Tensor } from '../tensor.js';

export async function readData(t: Tensor): Promise<TypedArray> {
  t.assertLive('data');
  const engine = t.engine;
  const direct = t.isContiguous() && t.dtype !== 'f16';
  const version = engine.writeVersion(t.storage.buffer); // the contents this read will see
  const src = direct ? t : engine.noGrad(() => engine.keep(t.dtype === 'f16' ? t.to('f32') : t.contiguous()));
  try {
    const bytes = await engine.read(src.storage.buffer, src.offset * 4, src.size * 4);
    const data = src.dtype === 'i32' ? new Int32Array(bytes) : src.dtype === 'u32' ? new Uint32Array(bytes) : new Float32Array(bytes);
    t.rememberValues(version, formatValues(t.shape, t.dtype, data));
    return data;
  } finally {
    if (src !== t) src.dispose();
  }
}

export async function readItem(t: Tensor): Promise<number> {
  if (t.size !== 1) throw new KilnError(`item: only one-element tensors have an item, got shape ${fmtShape(t.shape)}`);
  return (await readData(t))[0];
}
