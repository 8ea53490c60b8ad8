/** Element types a tensor can hold. `f16` needs the device's `shader-f16` feature. */
export type DType = 'f32' | 'f16' | 'i32' | 'u32';

export const DTYPES: readonly DType[] = ['f32', 'f16', 'i32', 'u32'];

export const BYTES_PER_ELEMENT: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u32: 4 };

export function isFloat(dtype: DType): boolean {
  return dtype === 'f32' || dtype === 'f16';
}

/** The typed array `data()` returns for each dtype (f16 reads back widened to f32). */
export type DataFor<D extends DType> = D extends 'i32' ? Int32Array : D extends 'u32' ? Uint32Array : Float32Array;
export type TypedArray = Float32Array | Int32Array | Uint32Array;
