// generateSeq2Seq: cached greedy decoding (encoder once, decoder self-attention KV cache, cross-attention
// keys/values projected once) equals step-by-step argmax of full encoder-decoder forwards without a
// cache, on a batch with padded sources and a vector prefix; finished rows emit pad; the result does
// not depend on what the padded positions hold; the encoder prefix and target padding masks are
// honoured end to end.
import { expect } from 'chai';
import { RangeArgumentError, type Engine, type Tensor } from '../engine/index.js';
import { Transformer, cutAtEos, generateSeq2Seq, headKeyMask, type Seq2SeqModel, type TransformerCache, type TransformerConfigInput } from '../nn/index.js';
import { assertClose } from './helpers/compare.js';
import { gpuEngine, itNoLeak as itNoLeakOn } from './helpers/gpu.js';
import { values } from './helpers/tensors.js';
import { hostRandom } from './nn-layers.test.js';

const V = 13;
const D = 16;
const CFG: TransformerConfigInput = { srcVocabSize: V, tgtVocabSize: V, dModel: D, nHeads: 2, dFF: 32, nEncoderLayers: 2, nDecoderLayers: 2, maxSeqLen: 16, initStd: 0.6 };
const BOS = 1;
const PAD = 0;
// Rows of different lengths, right-padded with PAD (the first row has the full length).
const SRC = [
  [3, 4, 5, 6, 7],
  [8, 9, 2, 0, 0],
  [5, 5, 0, 0, 0],
];
const srcPad = SRC.map((r, i) => r.map((_, j) => (j >= [5, 3, 2][i] ? 1 : 0)));

describe('generateSeq2Seq', function () {
  let engine: Engine;
  let model: Transformer;
  let prefix: Tensor;
  let live0 = 0;

  before(async function () {
    engine = await gpuEngine(this);
    live0 = engine.memory().liveBuffers;
    engine.manualSeed(5);
    model = new Transformer(engine, CFG);
    prefix = engine.keep(engine.tensor(hostRandom(2 * D, 9), [1, 2, D])); // (1, P=2, dModel), shared by the batch
  });

  const itNoLeak = (title: string, fn: () => Promise<void> | void) => itNoLeakOn(() => engine, title, fn);

  after(function () {
    if (!model) return;
    model.dispose();
    prefix.dispose();
    expect(engine.memory().liveBuffers, 'GPU buffers left alive by the suite').to.equal(live0);
  });

  /** The padding mask over prefix + source (the prefix is never padded). */
  const maskWithPrefix = (pads: number[][], p: number) => engine.tensor(pads.map((r) => [...Array(p).fill(0), ...r]), undefined, { dtype: 'i32' });

  /** Greedy reference: re-run the whole model on bos + tokens so far at every step, no cache. */
  async function reference(src: number[][], pads: number[][], n: number, withPrefix: boolean): Promise<{ tokens: number[][]; logits: number[][][] }> {
    const rows = src.map(() => [BOS]);
    const stepLogits: number[][][] = src.map(() => []);
    const was = model.training;
    model.eval();
    for (let i = 0; i < n; i++) {
      const s = engine.tensor(src, undefined, { dtype: 'i32' });
      const t = engine.tensor(rows, undefined, { dtype: 'i32' });
      const m = withPrefix ? maskWithPrefix(pads, 2) : engine.tensor(pads, undefined, { dtype: 'i32' });
      const last = engine.noGrad(() => engine.tidy(() => model.forward(s, t, { srcPaddingMask: m, prefix: withPrefix ? prefix : null }).select(1, i))); // (B, V)
      const v = await values(last);
      for (const u of [s, t, m, last]) u.dispose();
      rows.forEach((r, b) => {
        const l = v.slice(b * V, (b + 1) * V);
        stepLogits[b].push(l);
        r.push(l.reduce((bi, x, j) => (x > l[bi] ? j : bi), 0));
      });
    }
    model.train(was);
    return { tokens: rows.map((r) => r.slice(1)), logits: stepLogits };
  }

  const logSoftmax = (a: number[]) => {
    const m = Math.max(...a);
    const z = Math.log(a.reduce((s, x) => s + Math.exp(x - m), 0)) + m;
    return a.map((x) => x - z);
  };

  itNoLeak('greedy with the cache equals step-by-step full forwards (padded sources, a prefix), log-probs included', async () => {
    const n = 7;
    const ref = await reference(SRC, srcPad, n, true);
    const m = maskWithPrefix(srcPad, 2);
    const r = await generateSeq2Seq(model, SRC, { maxNewTokens: n, bos: BOS, srcPaddingMask: m, prefix });
    m.dispose();
    expect(r.raw).to.deep.equal(ref.tokens);
    expect(r.steps).to.equal(n);
    const expectLp = ref.logits.flatMap((rows, b) => rows.map((l, i) => logSoftmax(l)[ref.tokens[b][i]]));
    assertClose(r.logProbs.flat(), expectLp, { rtol: 1e-4, atol: 1e-4 }, 'log-probs');
    expect(model.training, 'train mode restored').to.equal(true);
  });

  itNoLeak('finished rows emit pad after EOS; tokens are cut after the first EOS; early stop when all are done', async () => {
    const n = 6;
    const ref = await reference(SRC, srcPad, n, false);
    // Declare the token the first row emits at step 2 the EOS: that row must pad from step 3 on.
    const eos = ref.tokens[0][1];
    const m = engine.tensor(srcPad, undefined, { dtype: 'i32' });
    const r = await generateSeq2Seq(model, SRC, { maxNewTokens: n, bos: BOS, eos, pad: PAD, srcPaddingMask: m, checkEvery: 1 });
    m.dispose();
    ref.tokens.forEach((row, b) => {
      const k = row.indexOf(eos);
      const expected = k < 0 ? row : [...row.slice(0, k + 1), ...Array(row.length - k - 1).fill(PAD)];
      expect(r.raw[b].slice(0, expected.length)).to.deep.equal(expected.slice(0, r.raw[b].length));
      expect(r.tokens[b]).to.deep.equal(k < 0 ? row.slice(0, r.steps) : row.slice(0, k + 1));
    });
    const allDone = ref.tokens.every((row) => row.indexOf(eos) >= 0);
    if (allDone) expect(r.steps).to.equal(Math.max(...ref.tokens.map((row) => row.indexOf(eos) + 1)));
    else expect(r.steps).to.equal(n);
    expect(cutAtEos([[4, 2, 9, 2]], 2)).to.deep.equal([[4, 2]]);
  });

  itNoLeak('encoderAttnMask reaches every encoder layer: the same tokens as a model whose encode applies the mask itself', async () => {
    const m = maskWithPrefix(srcPad, 2);
    // Layer 1, head 0 may not look at the prefix (keys 0, 1 of the P + S = 7).
    const block = headKeyMask(engine, { numHeads: 2, heads: [0], keyCount: 2, tk: 7 });
    const layers: number[] = [];
    const perLayer = (layer: number) => (layers.push(layer), layer === 1 ? block : null);
    const masked = await generateSeq2Seq(model, SRC, { maxNewTokens: 6, bos: BOS, srcPaddingMask: m, prefix, encoderAttnMask: perLayer });
    expect(layers).to.deep.equal([0, 1]);
    const t = model;
    const wrapped: Seq2SeqModel<TransformerCache> = {
      engine, config: t.config, get training() { return t.training; }, train: (f?: boolean) => t.train(f),
      encode: (src, o) => t.encode(src, { ...o, attnMask: (layer) => (layer === 1 ? block : null) }), decode: (x, mem, o) => t.decode(x, mem, o), newCache: (n, len) => t.newCache(n, len),
    };
    const ref = await generateSeq2Seq(wrapped, SRC, { maxNewTokens: 6, bos: BOS, srcPaddingMask: m, prefix });
    expect(masked.raw).to.deep.equal(ref.raw);
    assertClose(masked.logProbs.flat(), ref.logProbs.flat(), { rtol: 0, atol: 0 }, 'log-probs');
    // And the mask does something: the log-probs differ from unmasked decoding.
    const plain = await generateSeq2Seq(model, SRC, { maxNewTokens: 6, bos: BOS, srcPaddingMask: m, prefix });
    expect(plain.logProbs.flat()).to.not.deep.equal(masked.logProbs.flat());
    m.dispose();
    block.dispose();
  });

  itNoLeak('the output does not depend on what padded source positions hold', async () => {
    const other = SRC.map((r, i) => r.map((x, j) => (srcPad[i][j] ? 11 - j : x)));
    const out: number[][][] = [];
    for (const src of [SRC, other]) {
      const m = engine.tensor(srcPad, undefined, { dtype: 'i32' });
      out.push((await generateSeq2Seq(model, src, { maxNewTokens: 5, bos: BOS, srcPaddingMask: m })).raw);
      m.dispose();
    }
    expect(out[1]).to.deep.equal(out[0]);
  });

  itNoLeak('target padding mask: logits at real target positions ignore what padded targets hold', async () => {
    const s = engine.tensor(SRC, undefined, { dtype: 'i32' });
    const sm = engine.tensor(srcPad, undefined, { dtype: 'i32' });
    const tPad = [[0, 0, 0, 0], [0, 0, 1, 1], [0, 1, 1, 1]];
    const tm = engine.tensor(tPad, undefined, { dtype: 'i32' });
    const run = async (tgt: number[][]) => {
      const t = engine.tensor(tgt, undefined, { dtype: 'i32' });
      const l = engine.noGrad(() => engine.tidy(() => model.forward(s, t, { srcPaddingMask: sm, tgtPaddingMask: tm })));
      const v = await values(l);
      t.dispose();
      l.dispose();
      return v;
    };
    const a = await run([[1, 3, 4, 5], [1, 6, 7, 8], [1, 9, 10, 11]]);
    const b = await run([[1, 3, 4, 5], [1, 6, 2, 2], [1, 12, 12, 3]]);
    for (const u of [s, sm, tm]) u.dispose();
    const real = (v: number[]) => v.filter((_, i) => tPad[Math.floor(i / (4 * V))][Math.floor(i / V) % 4] === 0);
    assertClose(real(b), real(a), { rtol: 1e-5, atol: 1e-5 }, 'real-position logits');
  });

  itNoLeak('prefix: a (1, P, d) prefix equals the same prefix repeated per row; bad shapes are rejected with the op name', async () => {
    const s = engine.tensor(SRC, undefined, { dtype: 'i32' });
    const rep = engine.tidy(() => engine.cat([prefix, prefix, prefix], 0)); // (3, P, d)
    const a = engine.noGrad(() => engine.tidy(() => model.encode(s, { prefix })));
    const b = engine.noGrad(() => engine.tidy(() => model.encode(s, { prefix: rep })));
    expect(a.shape).to.deep.equal([3, 2 + 5, D]);
    assertClose(await values(b), await values(a), { rtol: 1e-6, atol: 1e-6 }, 'memory');
    const bad = engine.zeros([2, 2, D]);
    expect(() => engine.tidy(() => model.encode(s, { prefix: bad }))).to.throw(/Transformer.encode: prefix \[2, 2, 16\]/);
    for (const u of [s, rep, a, b, bad]) u.dispose();
    await generateSeq2Seq(model, SRC, { maxNewTokens: 0, bos: BOS }).then(
      () => expect.fail('maxNewTokens 0 must be rejected'),
      (e) => expect(e).to.be.instanceOf(RangeArgumentError),
    );
  });
});
