// Attention read-out and per-head masking (nn/attention.ts): the `weights` hook site of
// MultiheadAttention hands out softmax(q k^T / sqrt(Dh) + masks) equal to a float64 host reference,
// rows summing to 1 and zero on padded keys, while the layer's output stays the fused kernel's;
// without a hook the fused kernel runs (no weights computed). headKeyMask stops the chosen heads
// from attending to a key span (weights exactly 0 there, renormalised elsewhere), fused and composed
// agree under it, and it reaches every encoder layer through Transformer.encode's attnMask.
import { expect } from 'chai';
import { RangeArgumentError, type Engine, type Tensor } from '../engine/index.js';
import { MultiheadAttention, Transformer, attentionProbabilities, headKeyMask, setAttentionImplementation } from '../nn/index.js';
import { assertClose } from './helpers/compare.js';
import { gpuEngine, itNoLeak as itNoLeakOn } from './helpers/gpu.js';
import { disposeAll, values } from './helpers/tensors.js';
import { hostRandom } from './nn-layers.test.js';

const B = 2, T = 5, DIM = 12, H = 3, DH = 4;

/** Float64 softmax(q k^T * scale + keep-mask) of (B, H, T, DH) host arrays; keep(b, h, i, j). */
function referenceWeights(q: number[], k: number[], keep: (b: number, h: number, i: number, j: number) => boolean): number[] {
  const out: number[] = [];
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) {
    const s: number[] = [];
    for (let j = 0; j < T; j++) {
      let dot = 0;
      for (let d = 0; d < DH; d++) dot += q[((b * H + h) * T + i) * DH + d] * k[((b * H + h) * T + j) * DH + d];
      s.push(keep(b, h, i, j) ? dot / Math.sqrt(DH) : -Infinity);
    }
    const m = Math.max(...s);
    const e = s.map((x) => Math.exp(x - m));
    const z = e.reduce((a, x) => a + x, 0);
    out.push(...e.map((x) => x / z));
  }
  return out;
}

describe('attention probes and head masks', function () {
  let engine: Engine;
  let attn: MultiheadAttention;
  let x: Tensor;
  let pad: Tensor;
  const PADS = [[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]];
  before(async function () {
    engine = await gpuEngine(this);
    engine.manualSeed(3);
    attn = new MultiheadAttention(engine, DIM, H);
    x = engine.keep(engine.tensor(hostRandom(B * T * DIM, 4), [B, T, DIM]));
    pad = engine.keep(engine.tensor(PADS, undefined, { dtype: 'i32' }));
  });
  after(() => {
    attn?.dispose();
    disposeAll(x, pad);
  });
  const itNoLeak = (title: string, fn: () => Promise<void> | void) => itNoLeakOn(() => engine, title, fn);

  /** q, k (B, H, T, DH) as this layer projects them, read back. */
  async function projected(): Promise<{ q: number[]; k: number[] }> {
    const split = (t: Tensor) => t.reshape([B, T, H, DH]).permute(0, 2, 1, 3).contiguous();
    const [q, k] = engine.noGrad(() => engine.tidy(() => [split(attn.qProj.forward(x)), split(attn.kProj.forward(x))]));
    const r = { q: await values(q), k: await values(k) };
    disposeAll(q, k);
    return r;
  }

  itNoLeak('the weights hook equals the float64 reference (padding, causal); the output equals the fused path', async () => {
    const { q, k } = await projected();
    for (const causal of [false, true]) {
      const reads: Promise<number[]>[] = [];
      const remove = attn.registerHook('weights', (w) => {
        expect(w.shape).to.deep.equal([B, H, T, T]);
        reads.push(values(w));
      });
      const probed = engine.noGrad(() => engine.tidy(() => attn.forward(x, { keyPaddingMask: pad, causal })));
      remove();
      const fused = engine.noGrad(() => engine.tidy(() => attn.forward(x, { keyPaddingMask: pad, causal })));
      const [pv, fv] = [await values(probed), await values(fused)];
      disposeAll(probed, fused);
      const seen = await Promise.all(reads);
      const ref = referenceWeights(q, k, (b, _h, i, j) => PADS[b][j] === 0 && (!causal || j <= i));
      expect(seen).to.have.length(1);
      assertClose(seen[0], ref, { rtol: 1e-4, atol: 1e-6 }, `weights (causal ${causal})`);
      for (let r = 0; r < B * H * T; r++) expect(seen[0].slice(r * T, (r + 1) * T).reduce((a, v) => a + v, 0)).to.be.closeTo(1, 1e-5);
      assertClose(pv, fv, { rtol: 1e-4, atol: 2e-5 }, 'output with probe vs fused');
    }
  });

  itNoLeak('headKeyMask: masked heads put zero weight on the span and renormalise; fused = composed under it', async () => {
    const { q, k } = await projected();
    const mask = headKeyMask(engine, { numHeads: H, heads: [0, 2], keyStart: 1, keyCount: 2, tk: T });
    expect(mask.shape).to.deep.equal([1, H, 1, T]);
    let read: Promise<number[]> | null = null;
    const remove = attn.registerHook('weights', (p) => void (read = values(p)));
    const probed = engine.noGrad(() => engine.tidy(() => attn.forward(x, { keyPaddingMask: pad, attnMask: mask })));
    remove();
    const fused = engine.noGrad(() => engine.tidy(() => attn.forward(x, { keyPaddingMask: pad, attnMask: mask })));
    const prev = setAttentionImplementation('composed');
    const composed = engine.noGrad(() => engine.tidy(() => attn.forward(x, { keyPaddingMask: pad, attnMask: mask })));
    setAttentionImplementation(prev);
    const [pv, fv, cv] = [await values(probed), await values(fused), await values(composed)];
    const w = await read!;
    disposeAll(mask, probed, fused, composed);
    const masked = (h: number, j: number) => (h === 0 || h === 2) && j >= 1 && j < 3;
    assertClose(w, referenceWeights(q, k, (b, h, _i, j) => PADS[b][j] === 0 && !masked(h, j)), { rtol: 1e-4, atol: 1e-6 }, 'masked weights');
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) for (const j of [1, 2]) {
      const v = w[((b * H + h) * T + i) * T + j];
      if (h !== 1) expect(v).to.equal(0);
      else expect(v).to.be.greaterThan(0);
    }
    assertClose(fv, cv, { rtol: 1e-4, atol: 2e-5 }, 'fused vs composed under the head mask');
    assertClose(pv, cv, { rtol: 1e-4, atol: 2e-5 }, 'probed vs composed');
    expect(() => headKeyMask(engine, { numHeads: H, heads: [3], keyCount: 1, tk: T })).to.throw(RangeArgumentError, /headKeyMask: head 3/);
    const [q2, k2] = [engine.zeros([2, 3]), engine.zeros([2, 4])];
    expect(() => attentionProbabilities(q2, k2)).to.throw(/attentionProbabilities/);
    disposeAll(q2, k2);
  });

  itNoLeak('Transformer.encode passes attnMask to every encoder layer (per layer with a function)', async () => {
    engine.manualSeed(8);
    const m = new Transformer(engine, { srcVocabSize: 9, tgtVocabSize: 9, dModel: DIM, nHeads: H, dFF: 16, maxSeqLen: 8 });
    const src = engine.tensor([[1, 2, 3, 4]], undefined, { dtype: 'i32' });
    const mask = headKeyMask(engine, { numHeads: H, heads: [0, 1, 2], keyStart: 0, keyCount: 1, tk: 4 });
    const reads: Promise<number[]>[][] = [[], []];
    const removers = [0, 1].map((l) => m.registerHook(`encoder.layers.${l}.attn.weights`, (p) => void reads[l].push(values(p))));
    const outs = [engine.noGrad(() => engine.tidy(() => m.encode(src, { attnMask: mask }))), engine.noGrad(() => engine.tidy(() => m.encode(src, { attnMask: (l) => (l === 1 ? mask : null) })))];
    removers.forEach((r) => r());
    const seen = await Promise.all(reads.map(async (r) => (await Promise.all(r)).flat()));
    disposeAll(...outs, src, mask);
    m.dispose();
    // Run 1: both layers masked; run 2: only layer 1. Key 0 gets weight 0 exactly where masked.
    const key0 = (v: number[], run: number) => Array.from({ length: H * 4 }, (_, r) => v[run * H * 16 + r * 4]);
    expect(key0(seen[0], 0).every((v) => v === 0)).to.equal(true);
    expect(key0(seen[1], 0).every((v) => v === 0)).to.equal(true);
    expect(key0(seen[0], 1).every((v) => v > 0)).to.equal(true);
    expect(key0(seen[1], 1).every((v) => v === 0)).to.equal(true);
  });
});
