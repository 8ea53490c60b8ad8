// Builds the words of a WGSL uniform `Params` struct. WGSL aligns scalars to 4 bytes and vec4 / arrays
// of vec4 to 16, and a struct's size rounds up to 16; the writer applies the same rules, so a field
// order in TypeScript that matches the WGSL struct gives the same layout.

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Maximum tensor rank handled by strided kernels (shapes and strides travel as two vec4<u32>). */
export const MAX_RANK = 8;

export class Params {
  private words: number[] = [];

  u32(v: number): this {
    this.words.push(v >>> 0);
    return this;
  }
  i32(v: number): this {
    this.words.push((v | 0) >>> 0);
    return this;
  }
  f32(v: number): this {
    f32Scratch[0] = v;
    this.words.push(u32Scratch[0]);
    return this;
  }
  /** An `array<vec4<u32>, N>` field holding `values` padded with zeros. */
  vec4u(values: readonly number[], vec4Count = MAX_RANK / 4): this {
    this.align(4);
    for (let i = 0; i < vec4Count * 4; i++) this.words.push((values[i] ?? 0) >>> 0);
    return this;
  }
  private align(words: number): void {
    while (this.words.length % words !== 0) this.words.push(0);
  }
  /** The struct's bytes, padded to a multiple of 16. */
  finish(): Uint32Array {
    this.align(4);
    if (this.words.length === 0) this.words.push(0, 0, 0, 0);
    return Uint32Array.from(this.words);
  }
}
