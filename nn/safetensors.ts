// The safetensors file format (https://github.com/huggingface/safetensors), web-standard code only:
//   [8 bytes: header length N, unsigned little-endian]
//   [N bytes: UTF-8 JSON { "__metadata__"?: {string: string}, name: { dtype, shape, data_offsets: [begin, end] } }]
//   [tensor bytes, little-endian, row-major; offsets relative to the end of the header]
// The header is padded with spaces to a multiple of 8 so the data starts 8-byte aligned. Decoding
// validates everything before it returns, so a truncated or corrupt file is a SafetensorsError with
// the reason, never a silently wrong tensor.
import { KilnError, type DType, type Engine, type Tensor } from '../engine/index.js';

/** A truncated, corrupt or unsupported safetensors file, or tensors that cannot be encoded. */
export class SafetensorsError extends KilnError {
  override name = 'SafetensorsError';
}

/**
 * Host-side tensor. `data` holds the elements in row-major order: Float32Array for f32, Int32Array for
 * i32, Uint32Array for u32, and for f16 the raw bits as a Uint16Array (a Float32Array of values is
 * accepted when encoding and rounded to nearest-even).
 */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: Float32Array | Int32Array | Uint32Array | Uint16Array;
}

export interface Decoded {
  tensors: Record<string, HostTensor>;
  metadata: Record<string, string>;
}

const CODES: Record<DType, string> = { f32: 'F32', f16: 'F16', i32: 'I32', u32: 'U32' };
const FROM_CODE: Record<string, DType> = { F32: 'f32', F16: 'f16', I32: 'i32', U32: 'u32' };
const ITEMSIZE: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u32: 4 };
const ARRAY = { f32: Float32Array, i32: Int32Array, u32: Uint32Array } as const;
/** The reference implementation refuses headers over 100 MB; so do we (it also bounds a corrupt length). */
const MAX_HEADER = 100_000_000;

// Typed arrays use the platform's byte order; safetensors is little-endian. Every platform kiln runs
// on is little-endian, so refuse loudly rather than write swapped files elsewhere.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function assertLittleEndian(): void {
  if (!LITTLE_ENDIAN) throw new SafetensorsError('safetensors: big-endian platforms are not supported');
}

// ------------------------------------------------------------------ f16 bits

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of a number, rounded to nearest-even (NaN stays NaN, overflow goes to ±inf). */
export function f16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // inf / NaN (quiet, payload kept)
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // underflows to ±0
    mant |= 0x800000; // subnormal half: shift the implicit bit in, then round
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++; // may carry into the exponent: still correct
  return sign | h;
}

/** The number an IEEE binary16 bit pattern stands for. */
export function f16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) {
    if (!mant) return sign * Infinity;
    u32[0] = ((bits & 0x8000) << 16) | 0x7f800000 | (mant << 13); // keep the NaN payload
    return f32[0];
  }
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// ------------------------------------------------------------------ encode

function numelOf(shape: readonly number[], name: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new SafetensorsError(`safetensors: tensor "${name}" has an invalid shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

/** The little-endian bytes of a host tensor (f16 values are converted to bits). */
function tensorBytes(name: string, t: HostTensor): Uint8Array {
  const n = numelOf(t.shape, name);
  if (!(t.dtype in CODES)) throw new SafetensorsError(`safetensors: tensor "${name}" has unsupported dtype ${String(t.dtype)}`);
  if (t.data.length !== n) {
    throw new SafetensorsError(`safetensors: tensor "${name}" has ${t.data.length} elements, its shape [${t.shape.join(', ')}] needs ${n}`);
  }
  let view: Float32Array | Int32Array | Uint32Array | Uint16Array = t.data;
  if (t.dtype === 'f16' && !(t.data instanceof Uint16Array)) {
    const bits = new Uint16Array(n);
    for (let i = 0; i < n; i++) bits[i] = f16Bits(t.data[i]);
    view = bits;
  } else if (t.dtype !== 'f16' && !(view instanceof ARRAY[t.dtype])) {
    throw new SafetensorsError(`safetensors: tensor "${name}" is ${t.dtype} but its data is a ${view.constructor.name}`);
  }
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Serialise tensors (in insertion order, contiguous) and an optional string→string metadata map. */
export function encodeSafetensors(tensors: Record<string, HostTensor>, metadata?: Record<string, string>): Uint8Array {
  assertLittleEndian();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`safetensors: metadata "${k}" must be a string, got ${typeof v}`);
    }
    header.__metadata__ = metadata;
  }
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new SafetensorsError('safetensors: "__metadata__" is reserved and cannot name a tensor');
    const bytes = tensorBytes(name, t);
    header[name] = { dtype: CODES[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20); // spaces: still valid JSON
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.byteLength + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, json.byteLength, true);
  dv.setUint32(4, Math.floor(json.byteLength / 2 ** 32), true);
  out.set(json, 8);
  let at = 8 + json.byteLength;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

// ------------------------------------------------------------------ decode

/**
 * Parse and validate a safetensors file. `bytes` may be any Uint8Array view (a Node Buffer from
 * readFileSync included). The returned arrays are copies (aligned, independent of `bytes`).
 */
export function decodeSafetensors(bytes: Uint8Array): Decoded {
  assertLittleEndian();
  if (bytes.byteLength < 8) throw new SafetensorsError(`safetensors: file truncated: ${bytes.byteLength} bytes, the header length alone takes 8`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
  if (n > bytes.byteLength - 8) {
    throw new SafetensorsError(`safetensors: header length ${n} runs past the end of the file (${bytes.byteLength} bytes): truncated or not a safetensors file`);
  }
  if (n > MAX_HEADER) throw new SafetensorsError(`safetensors: header length ${n} exceeds the ${MAX_HEADER}-byte limit`);
  if (n < 2) throw new SafetensorsError(`safetensors: header length ${n} is too short for a JSON object`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new SafetensorsError(`safetensors: the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError('safetensors: the header must be a JSON object');
  }
  const dataStart = 8 + n;
  const dataLength = bytes.byteLength - dataStart;

  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SafetensorsError('safetensors: __metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw new SafetensorsError(`safetensors: __metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof raw !== 'object' || raw === null) throw new SafetensorsError(`safetensors: tensor "${name}": entry must be an object`);
    const { dtype: code, shape, data_offsets: offs } = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof code !== 'string' || !(code in FROM_CODE)) {
      throw new SafetensorsError(`safetensors: tensor "${name}": unsupported dtype ${JSON.stringify(code)} (kiln reads ${Object.keys(FROM_CODE).join(', ')})`);
    }
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new SafetensorsError(`safetensors: tensor "${name}": shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((o) => !Number.isSafeInteger(o) || o < 0) || offs[0] > offs[1]) {
      throw new SafetensorsError(`safetensors: tensor "${name}": data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offs)}`);
    }
    const dtype = FROM_CODE[code];
    const [begin, end] = offs as [number, number];
    const expected = numelOf(shape as number[], name) * ITEMSIZE[dtype];
    if (end - begin !== expected) {
      throw new SafetensorsError(
        `safetensors: tensor "${name}": data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${code} of shape [${shape.join(', ')}] needs ${expected}`,
      );
    }
    if (end > dataLength) {
      throw new SafetensorsError(`safetensors: tensor "${name}" ends at byte ${end} of the data, but the file holds only ${dataLength}: truncated`);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // The buffer must be covered exactly: in offset order, each tensor starts where the last ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev = '';
  for (const e of sorted) {
    if (e.begin < cursor) throw new SafetensorsError(`safetensors: tensors "${prev}" and "${e.name}" overlap (byte ${e.begin} < ${cursor})`);
    if (e.begin > cursor) throw new SafetensorsError(`safetensors: a gap of unindexed bytes ${cursor}..${e.begin} before tensor "${e.name}"`);
    cursor = e.end;
    prev = e.name;
  }
  if (cursor !== dataLength) {
    throw new SafetensorsError(`safetensors: ${dataLength - cursor} trailing bytes after the last tensor (data is ${dataLength} bytes, tensors cover ${cursor})`);
  }

  const tensors: Record<string, HostTensor> = {};
  for (const e of entries) {
    // Copy into a fresh, aligned buffer: the data may sit at any byte offset, and `bytes` may be a
    // view into a larger buffer (a Node Buffer's slice() is such a view, so slice().buffer would not do).
    const buf = new ArrayBuffer(e.end - e.begin);
    new Uint8Array(buf).set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    const data =
      e.dtype === 'f32' ? new Float32Array(buf) : e.dtype === 'i32' ? new Int32Array(buf) : e.dtype === 'u32' ? new Uint32Array(buf) : new Uint16Array(buf);
    tensors[e.name] = { dtype: e.dtype, shape: e.shape, data };
  }
  return { tensors, metadata };
}

// ------------------------------------------------------------------ engine tensors

/** Read tensors back from the GPU (all reads in flight together) as host tensors. */
export async function toHost(tensors: Record<string, Tensor>): Promise<Record<string, HostTensor>> {
  const names = Object.keys(tensors);
  const datas = await Promise.all(names.map((k) => tensors[k].data()));
  const out: Record<string, HostTensor> = {};
  names.forEach((k, i) => {
    const t = tensors[k];
    const d = datas[i];
    // data() widens f16 to f32; those values are exactly representable, so rounding back is exact.
    out[k] = { dtype: t.dtype, shape: [...t.shape], data: t.dtype === 'f16' ? Uint16Array.from(d, f16Bits) : d };
  });
  return out;
}

/** A new engine tensor from a host tensor (the caller owns it). */
export function fromHost(engine: Engine, t: HostTensor): Tensor {
  const data = t.dtype === 'f16' ? Float32Array.from(t.data as Uint16Array, f16Value) : (t.data as Float32Array | Int32Array | Uint32Array);
  return engine.tensor(data, t.shape, { dtype: t.dtype });
}

/** Engine tensors → safetensors bytes. */
export async function saveSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Promise<Uint8Array> {
  return encodeSafetensors(await toHost(tensors), metadata);
}

/** Safetensors bytes → new engine tensors (validated first; the caller owns and disposes them). */
export function loadSafetensors(engine: Engine, bytes: Uint8Array): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const { tensors, metadata } = decodeSafetensors(bytes);
  const out: Record<string, Tensor> = {};
  try {
    for (const [k, t] of Object.entries(tensors)) out[k] = engine.keep(fromHost(engine, t));
  } catch (e) {
    for (const t of Object.values(out)) t.dispose();
    throw e;
  }
  return { tensors: out, metadata };
}
