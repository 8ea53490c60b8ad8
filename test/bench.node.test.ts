// bench/ helpers: the ONNX protobuf writer and the attention subgraph (checked against ONNX Runtime's
// CPU provider, which parses the bytes), the row formatting and --filter matcher, and the TF.js
// transformer of the `train step dense LM` row (on TF.js's CPU backend) against kiln's model on the
// test GPU: same parameters, same loss, same AdamW step.
import { expect } from 'chai';
import { createRequire } from 'node:module';
import type { Engine, Tensor } from '../engine/index.js';
import { AdamW, TransformerLM, transformerLMConfig } from '../nn/index.js';
import { fmt, formatTable, median, ratio, rowMatcher, type Row } from '../bench/format.js';
import { attentionModel, onnxModel, Pb } from '../bench/onnx.js';
import { lmParameterShapes, TfjsTransformerLM } from '../bench/peers/tfjs-transformer.js';
import { LM_CONFIG, STEP_ADAMW } from '../bench/steps.js';
import { gpuEngine } from './helpers/gpu.js';

/** Deterministic values in [-1, 1) (a small LCG), so failures reproduce. */
function lcg(n: number, seed: number): Float32Array {
  let x = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 31 - 1;
  });
}

/** softmax(q k^T / sqrt(D) + causal) v in float64, q/k/v (B, H, T, D) flat. */
function attentionReference(q: Float32Array, k: Float32Array, v: Float32Array, [B, H, T, D]: number[]): Float64Array {
  const o = new Float64Array(B * H * T * D);
  const s = new Float64Array(T);
  for (let bh = 0; bh < B * H; bh++) {
    const base = bh * T * D;
    for (let i = 0; i < T; i++) {
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        for (let e = 0; e < D; e++) dot += q[base + i * D + e] * k[base + j * D + e];
        s[j] = dot / Math.sqrt(D);
        max = Math.max(max, s[j]);
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) sum += (s[j] = Math.exp(s[j] - max));
      for (let e = 0; e < D; e++) {
        let acc = 0;
        for (let j = 0; j <= i; j++) acc += s[j] * v[base + j * D + e];
        o[base + i * D + e] = acc / sum;
      }
    }
  }
  return o;
}

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

  it('builds the causal attention subgraph (Transpose, MatMul, Mul, Add, Softmax, MatMul) that matches a float64 reference', async function () {
    let ort: typeof import('onnxruntime-node');
    try {
      ort = createRequire(import.meta.url)('onnxruntime-node');
    } catch {
      this.skip();
    }
    for (const shape of [
      [1, 2, 5, 3],
      [2, 3, 17, 8],
      [1, 4, 64, 64], // the bench's head dim
    ]) {
      const [B, H, T, D] = shape;
      const n = B * H * T * D;
      const [q, k, v] = [lcg(n, 1 + T), lcg(n, 2 + T), lcg(n, 3 + T)].map((x) => x.map((y) => 2 * y));
      const s = await ort.InferenceSession.create(attentionModel(B, H, T, D), { executionProviders: ['cpu'] });
      const t = (x: Float32Array) => new ort.Tensor('float32', x, shape);
      const r = await s.run({ q: t(q), k: t(k), v: t(v) });
      expect(r.o.dims).to.deep.equal(shape);
      const got = r.o.data as Float32Array;
      const want = attentionReference(q, k, v, shape);
      let err = 0;
      for (let i = 0; i < n; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
      expect(err, `max |ort - f64| at ${shape}`).to.be.below(1e-5);
      await s.release();
    }
  });
});

describe('bench: TF.js transformer (train step dense LM)', function () {
  let tf: typeof import('@tensorflow/tfjs-core');
  let engine: Engine;
  const cfg = transformerLMConfig(LM_CONFIG);

  before(async function () {
    try {
      tf = await import('@tensorflow/tfjs-core');
      await import('../bench/peers/tfjs-gradients.js');
      await import('@tensorflow/tfjs-backend-cpu');
    } catch {
      this.skip();
    }
    // The CPU backend: exact enough to compare with kiln, and no second WebGPU user in the test process.
    if (!(await tf.setBackend('cpu'))) throw new Error('tf.setBackend("cpu") failed');
    engine = await gpuEngine(this);
  });

  it('has the names, shapes and count of kiln\'s parameters', function () {
    engine.manualSeed(0);
    const kiln = new TransformerLM(engine, LM_CONFIG);
    const model = new TfjsTransformerLM(tf, cfg);
    try {
      const kilnShapes = kiln.namedParameters().map(([n, p]) => [n, [...p.shape]]);
      expect(lmParameterShapes(cfg)).to.deep.equal(kilnShapes);
      expect(model.numParameters()).to.equal(kiln.numParameters());
      expect(model.numParameters()).to.be.above(100_000); // the demo-sized LM, not an empty one
    } finally {
      model.dispose();
      kiln.dispose();
    }
  });

  it('computes kiln\'s loss and AdamW step on kiln\'s weights', async function () {
    const [B, T] = [3, 16];
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7919 + 104729) % cfg.vocabSize);
    const targets = Int32Array.from({ length: B * T }, (_, i) => (i * 7919 + 2 * 104729) % cfg.vocabSize);
    engine.manualSeed(1);
    const kiln = new TransformerLM(engine, LM_CONFIG);
    const opt = new AdamW(kiln.parameters(), STEP_ADAMW);
    const model = new TfjsTransformerLM(tf, cfg, STEP_ADAMW);
    const x = engine.tensor(ids, [B, T], { dtype: 'i32' });
    const y = engine.tensor(targets, [B, T], { dtype: 'i32' });
    const tx = tf.tensor(ids, [B, T], 'int32');
    const ty = tf.tensor(targets, [B, T], 'int32');
    const read = async () => Object.fromEntries(await Promise.all(kiln.namedParameters().map(async ([n, p]) => [n, (await p.data()) as Float32Array] as const)));
    try {
      model.load(await read());
      const kilnStep = async (): Promise<number> => {
        const loss = engine.tidy((): Tensor => {
          opt.zeroGrad();
          const ce = kiln.loss(x, y);
          ce.backward();
          opt.step();
          return ce;
        });
        const v = (await loss.data())[0];
        loss.dispose();
        return v;
      };
      // Two steps: the first moves every parameter by about lr; the second uses moments from both.
      for (let s = 0; s < 2; s++) {
        const kl = await kilnStep();
        const tl = model.step(tx, ty);
        const tv = (await tl.data())[0];
        tl.dispose();
        expect(tv, `loss before step ${s + 1}`).to.be.closeTo(kl, 2e-5 * Math.abs(kl));
        const after = await read();
        let worst = { name: '', err: 0 };
        let [sum, count] = [0, 0];
        for (const [name, v] of model.params) {
          const a = (await v.data()) as Float32Array;
          const b = after[name];
          for (let i = 0; i < a.length; i++) {
            const err = Math.abs(a[i] - b[i]);
            sum += err;
            count++;
            if (err > worst.err) worst = { name, err };
          }
        }
        // An Adam step moves an element by about lr whatever its gradient's size, so where a gradient
        // is float noise (attention keys at initialisation) the two libraries may move it differently
        // by up to ~2 lr; the bulk agrees far closer (measured: worst 1.4e-4, in kProj).
        expect(worst.err, `parameters after step ${s + 1} (worst: ${worst.name})`).to.be.below(STEP_ADAMW.lr);
        expect(sum / count, `mean |kiln - tfjs| after step ${s + 1}`).to.be.below(1e-6);
      }
      const kl = await kilnStep();
      const tl = model.step(tx, ty);
      expect((await tl.data())[0], 'loss after two steps').to.be.closeTo(kl, 1e-4 * Math.abs(kl));
      tl.dispose();
    } finally {
      opt.dispose();
      kiln.dispose();
      model.dispose();
      x.dispose();
      y.dispose();
      tf.dispose([tx, ty]);
    }
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
    expect(t[0]).to.match(/kiln gpu/);
    expect(formatTable([{ ...row, gpu: 7.25 }]).split('\n')[1]).to.match(/ 7\.25 /); // the GPU-timestamp rate
    expect(t[0]).to.match(/peak MiB/);
    expect(formatTable([{ ...row, peakMiB: 48.5 }]).split('\n')[1]).to.match(/ 48\.50 /);
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
