// safetensors encode/decode: bit-exact round trips for every dtype, the byte layout the spec describes,
// and a named SafetensorsError (with the reason) for each kind of damaged file. Runs under Node and Deno.
import { expect } from 'chai';
import type { Engine } from '../engine/index.js';
import {
  SafetensorsError, decodeSafetensors, encodeSafetensors, f16Bits, f16Value, loadSafetensors, saveSafetensors, type HostTensor,
} from '../nn/index.js';
import { gpuEngine } from './helpers/gpu.js';

const enc = new TextEncoder();

/** Build a file by hand: 8-byte LE length, the header text as given (no padding added), then data. */
function handBuilt(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = enc.encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function expectError(fn: () => unknown, re: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected a SafetensorsError matching ${re}`).to.be.instanceOf(SafetensorsError);
  expect((err as Error).name).to.equal('SafetensorsError');
  expect((err as Error).message).to.match(re);
}

const sample = (): Record<string, HostTensor> => ({
  w: { dtype: 'f32', shape: [2, 3], data: Float32Array.from([1.5, -0, NaN, Infinity, -3.25e-39, 3.4028234e38]) },
  h: { dtype: 'f16', shape: [5], data: Uint16Array.from([0x3c00, 0x8000, 0x7e01, 0x0001, 0xfbff]) },
  i: { dtype: 'i32', shape: [3], data: Int32Array.from([-2147483648, 0, 2147483647]) },
  u: { dtype: 'u32', shape: [1, 2], data: Uint32Array.from([0, 4294967295]) },
  scalar: { dtype: 'f32', shape: [], data: Float32Array.from([7]) },
  empty: { dtype: 'i32', shape: [0, 4], data: new Int32Array(0) },
  empty16: { dtype: 'f16', shape: [3, 0], data: new Uint16Array(0) },
});

describe('safetensors: format', function () {
  it('round-trips every dtype bit-exactly (f16 bits, NaN payloads, -0, 0-d and empty tensors) with metadata', function () {
    const src = sample();
    const file = encodeSafetensors(src, { format: 'pt', note: 'héllo' });
    const { tensors, metadata } = decodeSafetensors(file);
    expect(metadata).to.deep.equal({ format: 'pt', note: 'héllo' });
    expect(Object.keys(tensors)).to.deep.equal(Object.keys(src));
    for (const [k, t] of Object.entries(src)) {
      expect(tensors[k].dtype, k).to.equal(t.dtype);
      expect(tensors[k].shape, k).to.deep.equal(t.shape);
      expect(tensors[k].data.constructor, k).to.equal(t.data.constructor);
      expect(Array.from(bytesOf(tensors[k].data)), k).to.deep.equal(Array.from(bytesOf(t.data)));
    }
  });

  it('decodes a file held in a view into a larger buffer (any byteOffset, bytes around it)', function () {
    const file = encodeSafetensors(sample());
    for (const at of [1, 3, 8]) {
      const host = new Uint8Array(at + file.length + 5).fill(0xab);
      host.set(file, at);
      const { tensors } = decodeSafetensors(host.subarray(at, at + file.length));
      for (const [k, t] of Object.entries(sample())) expect(Array.from(bytesOf(tensors[k].data)), `${k} at offset ${at}`).to.deep.equal(Array.from(bytesOf(t.data)));
    }
  });

  it('lays the file out as the spec says: LE length, space-padded JSON to 8 bytes, contiguous data in order', function () {
    const file = encodeSafetensors({
      a: { dtype: 'f32', shape: [2], data: Float32Array.from([1, 2]) },
      b: { dtype: 'u32', shape: [1], data: Uint32Array.from([0xdeadbeef]) },
    });
    const dv = new DataView(file.buffer, file.byteOffset);
    const n = dv.getUint32(0, true);
    expect(dv.getUint32(4, true)).to.equal(0);
    expect(n % 8).to.equal(0);
    const text = new TextDecoder().decode(file.subarray(8, 8 + n));
    expect(text.trimEnd()).to.equal('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U32","shape":[1],"data_offsets":[8,12]}}');
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).to.equal(true);
    expect(file.byteLength).to.equal(8 + n + 12);
    expect(dv.getFloat32(8 + n, true)).to.equal(1);
    expect(dv.getFloat32(8 + n + 4, true)).to.equal(2);
    expect(dv.getUint32(8 + n + 8, true)).to.equal(0xdeadbeef);
  });

  it('decodes a hand-built file (unpadded header, metadata last, entries out of offset order)', function () {
    const data = new Uint8Array(4 + 2 * 2 + 4);
    const dv = new DataView(data.buffer);
    dv.setInt32(0, -5, true); // "x": I32 scalar at [0, 4]
    dv.setUint16(4, 0x3800, true); // "y": F16 [2] at [4, 8]: 0.5, -2
    dv.setUint16(6, 0xc000, true);
    dv.setFloat32(8, 0.25, true); // "z": F32 [1, 1] at [8, 12]
    const file = handBuilt(
      '{"z":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]},"x":{"dtype":"I32","shape":[],"data_offsets":[0,4]},' +
        '"y":{"dtype":"F16","shape":[2],"data_offsets":[4,8]},"__metadata__":{"format":"pt"}}',
      data,
    );
    const { tensors, metadata } = decodeSafetensors(file);
    expect(metadata).to.deep.equal({ format: 'pt' });
    expect(tensors.x).to.deep.include({ dtype: 'i32', shape: [] });
    expect(Array.from(tensors.x.data)).to.deep.equal([-5]);
    expect(Array.from(tensors.y.data, f16Value)).to.deep.equal([0.5, -2]);
    expect(tensors.z.shape).to.deep.equal([1, 1]);
    expect(Array.from(tensors.z.data)).to.deep.equal([0.25]);
  });

  it('converts f16 with round-to-nearest-even, subnormals, overflow and NaN', function () {
    const cases: [number, number][] = [
      [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [-Infinity, 0xfc00],
      [2 ** -24, 0x0001], [2 ** -25, 0x0000], [1.5 * 2 ** -25, 0x0001], [2 ** -14, 0x0400], [-0, 0x8000],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [0.1, 0x2e66],
    ];
    for (const [v, bits] of cases) expect(f16Bits(v), String(v)).to.equal(bits);
    for (let b = 0; b < 0x10000; b++) {
      const v = f16Value(b);
      if (Number.isNaN(v)) expect(Number.isNaN(f16Value(f16Bits(v)))).to.equal(true);
      else expect(f16Bits(v), `bits ${b.toString(16)}`).to.equal(b);
    }
  });

  it('rejects tensors it cannot encode', function () {
    expectError(() => encodeSafetensors({ a: { dtype: 'f32', shape: [3], data: new Float32Array(2) } }), /2 elements.*needs 3/);
    expectError(() => encodeSafetensors({ a: { dtype: 'i32', shape: [1], data: new Float32Array(1) } as unknown as HostTensor }), /i32 but its data is a Float32Array/);
    expectError(() => encodeSafetensors({ a: { dtype: 'f64', shape: [1], data: new Float32Array(1) } as unknown as HostTensor }), /unsupported dtype/);
    expectError(() => encodeSafetensors({ __metadata__: { dtype: 'f32', shape: [], data: new Float32Array(1) } }), /reserved/);
  });
});

describe('safetensors: damaged files', function () {
  const good = () => encodeSafetensors(sample(), { k: 'v' });

  it('a file shorter than the length field', function () {
    expectError(() => decodeSafetensors(new Uint8Array(5)), /truncated/);
  });

  it('a header length past the end of the file', function () {
    const f = good();
    new DataView(f.buffer).setUint32(0, f.byteLength, true);
    expectError(() => decodeSafetensors(f), /header length \d+ runs past the end of the file/);
    const huge = good();
    new DataView(huge.buffer).setUint32(4, 1, true);
    expectError(() => decodeSafetensors(huge), /runs past the end/);
  });

  it('truncated anywhere: in the header or in the data', function () {
    const f = good();
    const n = new DataView(f.buffer).getUint32(0, true);
    for (const cut of [8, 8 + Math.floor(n / 2), 8 + n + 1, f.byteLength - 1]) {
      expectError(() => decodeSafetensors(f.slice(0, cut)), /truncated|runs past|trailing|gap/);
    }
    expectError(() => decodeSafetensors(f.slice(0, f.byteLength - 4)), /ends at byte \d+ of the data, but the file holds only \d+: truncated/);
  });

  it('a header that is not JSON, or not an object', function () {
    expectError(() => decodeSafetensors(handBuilt('{"a": {"dtype": "F3')), /not valid UTF-8 JSON/);
    expectError(() => decodeSafetensors(handBuilt('[1, 2, 3]')), /must be a JSON object/);
    const bad = handBuilt('{"a":1}    ');
    bad[10] = 0xff; // invalid UTF-8
    expectError(() => decodeSafetensors(bad), /not valid UTF-8 JSON/);
    expectError(() => decodeSafetensors(handBuilt('{"__metadata__":{"k":1}}')), /__metadata__\.k must be a string/);
  });

  it('overlapping, gapped or out-of-bounds offsets', function () {
    const d8 = new Uint8Array(8);
    expectError(
      () => decodeSafetensors(handBuilt('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', d8)),
      /"a" and "b" overlap/,
    );
    expectError(() => decodeSafetensors(handBuilt('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', d8)), /gap/);
    expectError(() => decodeSafetensors(handBuilt('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', d8)), /4 trailing bytes/);
    expectError(() => decodeSafetensors(handBuilt('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', d8)), /truncated/);
    expectError(() => decodeSafetensors(handBuilt('{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}', d8)), /data_offsets must be/);
    expectError(() => decodeSafetensors(handBuilt('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', d8)), /data_offsets must be/);
  });

  it('an unknown dtype, a bad shape, or a byte size that does not match the shape', function () {
    const d8 = new Uint8Array(8);
    expectError(() => decodeSafetensors(handBuilt('{"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}}', d8)), /unsupported dtype "BF16"/);
    expectError(() => decodeSafetensors(handBuilt('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', d8)), /shape must be/);
    expectError(() => decodeSafetensors(handBuilt('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', d8)), /hold 8 bytes, but F32 of shape \[3\] needs 12/);
    expectError(() => decodeSafetensors(handBuilt('{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}', d8)), /needs 4/);
  });
});

describe('safetensors: engine tensors', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('engine → file → engine is bit-exact for f32, i32, u32 (and f16 where the device has it)', async function () {
    const f = Float32Array.from([1.5, -0, 3.4028234e38, 1e-40, -7.25, 0.1]);
    const src: Record<string, ReturnType<Engine['tensor']>> = {
      f: engine.tensor(f, [2, 3]),
      i: engine.tensor(Int32Array.from([-2147483648, 2147483647, 5]), [3], { dtype: 'i32' }),
      u: engine.tensor(Uint32Array.from([4294967295, 0]), [2], { dtype: 'u32' }),
      s: engine.tensor([42], [], { dtype: 'f32' }),
      e: engine.zeros([0, 3]),
    };
    if (engine.caps.shaderF16) src.h = engine.tensor([0.5, -65504, 6.1035156e-5, 5.9604645e-8], [4], { dtype: 'f16' });
    try {
      const file = await saveSafetensors(src, { by: 'kiln' });
      const raw = decodeSafetensors(file);
      if (src.h) expect(Array.from(raw.tensors.h.data)).to.deep.equal([0x3800, 0xfbff, 0x0400, 0x0001]);
      const { tensors, metadata } = loadSafetensors(engine, file);
      expect(metadata).to.deep.equal({ by: 'kiln' });
      try {
        for (const [k, t] of Object.entries(src)) {
          expect(tensors[k].dtype, k).to.equal(t.dtype);
          expect(tensors[k].shape, k).to.deep.equal(t.shape);
          expect(Array.from(bytesOf(await tensors[k].data())), k).to.deep.equal(Array.from(bytesOf(await t.data())));
        }
      } finally {
        for (const t of Object.values(tensors)) t.dispose();
      }
    } finally {
      for (const t of Object.values(src)) t.dispose();
    }
  });
});
