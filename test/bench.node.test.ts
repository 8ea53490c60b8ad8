// bench/ helpers that need no GPU: the ONNX protobuf writer (checked against ONNX Runtime's CPU
// provider, which parses the bytes) and the row formatting and --filter matcher.
import { expect } from 'chai';
import { createRequire } from 'node:module';
import { fmt, formatTable, median, ratio, rowMatcher, type Row } from '../bench/format.js';
import { onnxModel, Pb } from '../bench/onnx.js';

describe('bench: protobuf writer', function () {
  it('encodes varints, negative int64, strings and floats', function () {
    expect([...new Pb().int(1, 300).finish()]).to.deep.equal([0x08, 0xac, 0x02]);
    const neg = new Pb().int(3, -1).finish();
    expect(neg.length).to.equal(11); // key + 10-byte two's complement
    expect([...new Pb().str(2, 'ab').finish()]).to.deep.equal([0x12, 2, 0x61, 0x62]);
    expect([...new Pb().float(2, 1).finish()]).to.deep.equal([0x15, 0, 0, 0x80, 0x3f]);
  });

  it('builds one-node models that ONNX Runtime runs (CPU provider)', async function () {
    let ort: typeof import('onnxruntime-node');
    try {
      ort = createRequire(import.meta.url)('onnxruntime-node');
    } catch {
      this.skip();
    }
    const mm = onnxModel([{ opType: 'MatMul', inputs: ['a', 'b'], outputs: ['c'] }], [{ name: 'a', shape: [2, 3] }, { name: 'b', shape: [3, 2] }], [{ name: 'c', shape: [2, 2] }]);
    const s = await ort.InferenceSession.create(mm, { executionProviders: ['cpu'] });
    const a = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const b = new ort.Tensor('float32', Float32Array.from([1, 0, 0, 1, 1, 1]), [3, 2]);
    expect([...((await s.run({ a, b })).c.data as Float32Array)]).to.deep.equal([4, 5, 10, 11]);
    await s.release();

    const ln = onnxModel(
      [{ opType: 'LayerNormalization', inputs: ['x', 'g', 'b'], outputs: ['y'], attrs: { axis: { i: -1 }, epsilon: { f: 1e-5 } } }],
      [{ name: 'x', shape: [1, 2] }, { name: 'g', shape: [2] }, { name: 'b', shape: [2] }],
      [{ name: 'y', shape: [1, 2] }],
    );
    const s2 = await ort.InferenceSession.create(ln, { executionProviders: ['cpu'] });
    const f = (v: number[], shape: number[]) => new ort.Tensor('float32', Float32Array.from(v), shape);
    const y = (await s2.run({ x: f([1, 3], [1, 2]), g: f([1, 1], [2]), b: f([0, 0], [2]) })).y.data as Float32Array;
    expect(y[0]).to.be.closeTo(-1, 1e-4);
    expect(y[1]).to.be.closeTo(1, 1e-4);
    await s2.release();
  });
});

describe('bench: rows', function () {
  const row: Row = { name: 'matmul 1024', unit: 'GFLOP/s', kiln: 6, tfjs: 2, ort: 0, ceiling: 12, shape: '1024x1024x1024' };

  it('computes kiln/peer ratios, ignoring missing or zero peers', function () {
    expect(ratio(row, 'tfjs')).to.equal(3);
    expect(ratio(row, 'ort')).to.equal(undefined);
    expect(ratio(row, 'jaxjs')).to.equal(undefined);
  });

  it('formats the table with % of ceiling and ratios', function () {
    const t = formatTable([row]).split('\n');
    expect(t).to.have.length(2);
    expect(t[1]).to.match(/50%/);
    expect(t[1]).to.match(/3\.00x/);
    expect(fmt(undefined)).to.equal('-');
    expect(fmt(1234.5)).to.equal('1235');
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 2, 3])).to.equal(2.5);
  });

  it('--filter matches substrings case-insensitively, or regexes', function () {
    expect(rowMatcher('Softmax')('softmax 4096x4096')).to.equal(true);
    expect(rowMatcher('softmax')('matmul 256')).to.equal(false);
    expect(rowMatcher('matmul (256|512)$')('matmul 512')).to.equal(true);
    expect(rowMatcher('matmul (256|512)$')('matmul 1024')).to.equal(false);
    expect(rowMatcher('/^router/')('router fused E=8')).to.equal(true);
    expect(rowMatcher('/^router/')('moe router')).to.equal(false);
    expect(rowMatcher('E=8 (')('router fused E=8 (x')).to.equal(true); // invalid regex: substring
    expect(rowMatcher(undefined)('anything')).to.equal(true);
  });
});
