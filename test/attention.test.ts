// Fused attention (engine flashAttention) against the composed path (nn composedAttention) it
// replaces: forward and dq, dk, dv over masks (none, causal, key padding, both, additive, fully
// masked rows), odd and unequal lengths, head dims 6..128, strided inputs, f16, and the nn stack.
import { expect } from 'chai';
import { flashAttention, setFlashAttentionTiles, type Engine, type Tensor } from '../engine/index.js';
import {
  TransformerLM, composedAttention, scaledDotProductAttention, setAttentionImplementation, type AttentionOptions,
} from '../nn/index.js';
import { assertClose, type Tolerance } from './helpers/compare.js';
import { gpuEngine, itNoLeak as itNoLeakOn } from './helpers/gpu.js';
import { disposeAll, values } from './helpers/tensors.js';
import { hostRandom } from './nn-layers.test.js';

const FWD: Tolerance = { rtol: 1e-4, atol: 2e-5 };
const BWD: Tolerance = { rtol: 1e-3, atol: 1e-4 };

interface Case {
  B: number;
  H: number;
  Tq: number;
  Tk: number;
  D: number;
  causal?: boolean;
  /** Per batch, 1 = padded key (ignored). */
  pad?: number[][];
  /** An additive (Tq, Tk) float mask. */
  additive?: boolean;
}

/** Padding rows: batch b pads its last b + 1 keys (all of them when b + 1 >= Tk). */
const padRows = (B: number, Tk: number) => Array.from({ length: B }, (_, b) => Array.from({ length: Tk }, (_, j) => (j >= Tk - (b + 1) ? 1 : 0)));

describe('fused attention', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });
  const itNoLeak = (title: string, fn: () => Promise<void> | void) => itNoLeakOn(() => engine, title, fn);

  /** Forward and gradients (of sum(O * W), W random) through fused and composed, compared. */
  async function compare(c: Case, seed: number, opts: { strided?: boolean } = {}): Promise<void> {
    const { B, H, Tq, Tk, D } = c;
    const mk = (t: number, s: number) => {
      if (!opts.strided) return engine.tensor(hostRandom(B * H * t * D, s), [B, H, t, D]);
      // The layout multi-head attention makes: (B, T, H, D) viewed as (B, H, T, D).
      const base = engine.tensor(hostRandom(B * H * t * D, s), [B, t, H, D]);
      const view = base.permute(0, 2, 1, 3);
      base.dispose();
      return view;
    };
    const q = mk(Tq, seed);
    const k = mk(Tk, seed + 1);
    const v = mk(Tk, seed + 2);
    const w = engine.tensor(hostRandom(B * H * Tq * D, seed + 3), [B, H, Tq, D]);
    let mask: Tensor | null = null;
    if (c.pad) mask = engine.tidy(() => engine.tensor(c.pad!, undefined, { dtype: 'u32' }).eq(0).reshape([B, 1, 1, Tk]));
    if (c.additive) mask = engine.tensor(hostRandom(Tq * Tk, seed + 4), [Tq, Tk]);
    const options: AttentionOptions = { causal: c.causal, mask };
    const run = async (fn: (q: Tensor, k: Tensor, v: Tensor) => Tensor) => {
      const { value, grads } = engine.valueAndGrad((a, b, d) => fn(a, b, d).mul(w).sum())(q, k, v);
      const o = engine.noGrad(() => engine.tidy(() => fn(q, k, v)));
      const r = { o: await values(o), grads: await Promise.all(grads.map(values)), loss: await value.item() };
      disposeAll(o, value, grads);
      return r;
    };
    const fused = await run((a, b, d) => flashAttention(a, b, d, options));
    const ref = await run((a, b, d) => composedAttention(a, b, d, options));
    const what = JSON.stringify({ ...c, pad: c.pad ? 'yes' : undefined });
    for (const x of fused.o) expect(Number.isFinite(x), `${what}: finite output`).to.equal(true);
    assertClose(fused.o, ref.o, FWD, `${what} O`);
    ['dq', 'dk', 'dv'].forEach((n, i) => assertClose(fused.grads[i], ref.grads[i], BWD, `${what} ${n}`));
    disposeAll(q, k, v, w, mask);
  }

  itNoLeak('matches the composed path: no mask, causal, key padding, causal + padding (odd lengths)', async () => {
    let seed = 10;
    for (const causal of [false, true]) {
      for (const padded of [false, true]) {
        await compare({ B: 2, H: 2, Tq: 7, Tk: 7, D: 16, causal, pad: padded ? padRows(2, 7) : undefined }, seed++);
      }
    }
  });

  itNoLeak('matches the composed path for Tq, Tk in {1, 7, 33, 65} (self and cross attention)', async () => {
    let seed = 20;
    for (const [Tq, Tk] of [[1, 1], [33, 33], [65, 65], [7, 33], [33, 7], [1, 65], [65, 1], [33, 65]]) {
      await compare({ B: 1, H: 2, Tq, Tk, D: 16, causal: Tq <= Tk && Tq !== 33 }, seed++);
    }
    await compare({ B: 2, H: 1, Tq: 7, Tk: 65, D: 8, causal: true, pad: padRows(2, 65) }, seed++);
  });

  itNoLeak('matches the composed path for head dims 6, 16, 32, 64, 128 with batch and heads > 1', async () => {
    let seed = 40;
    for (const D of [6, 16, 32, 64, 128]) await compare({ B: 2, H: 3, Tq: 9, Tk: 9, D, causal: D % 32 === 0 }, seed++);
  });

  itNoLeak('matches the composed path with an additive float mask and with strided (permuted) inputs', async () => {
    await compare({ B: 2, H: 2, Tq: 5, Tk: 11, D: 8, additive: true }, 60);
    await compare({ B: 2, H: 3, Tq: 13, Tk: 13, D: 12, causal: true, pad: padRows(2, 13) }, 61, { strided: true });
  });

  itNoLeak('fully masked rows are uniform (no NaN) in the forward and the backward, as in the composed path', async () => {
    // Batch 1 pads every key; with causal + padding of key 0, the first query of batch 0 sees nothing.
    await compare({ B: 2, H: 2, Tq: 6, Tk: 6, D: 8, pad: [[0, 0, 1, 0, 1, 0], [1, 1, 1, 1, 1, 1]] }, 70);
    await compare({ B: 2, H: 1, Tq: 6, Tk: 6, D: 8, causal: true, pad: [[1, 0, 0, 0, 0, 1], [1, 1, 1, 0, 0, 0]] }, 71);
  });

  itNoLeak('tile sizes do not change the result', async () => {
    const prev = setFlashAttentionTiles({ queryRows: 8, keyRows: 16, stage: 8 });
    try {
      await compare({ B: 1, H: 2, Tq: 21, Tk: 37, D: 16, causal: true }, 80);
    } finally {
      setFlashAttentionTiles(prev);
    }
    expect(() => setFlashAttentionTiles({ stage: 4 })).to.throw(/stage must be a power of two in \[8, 64\], got 4/);
  });

  itNoLeak('forward rows per invocation (1, 2, 4) do not change the result, with ragged tiles and every mask kind', async () => {
    let seed = 85;
    for (const forwardRows of [1, 2, 4]) {
      // 8-row workgroups: 37 queries leave a ragged last tile of every row count.
      const prev = setFlashAttentionTiles({ queryRows: 8, forwardRows });
      try {
        // Each case compiles its own pipelines (seconds each on lavapipe): one per mask kind spread over R.
        if (forwardRows !== 2) await compare({ B: 2, H: 2, Tq: 37, Tk: 37, D: 16, causal: true, pad: padRows(2, 37) }, seed++);
        if (forwardRows !== 1) await compare({ B: 1, H: 2, Tq: 21, Tk: 45, D: 12, causal: true }, seed++);
        if (forwardRows === 4) await compare({ B: 1, H: 1, Tq: 29, Tk: 19, D: 8, additive: true }, seed++);
      } finally {
        setFlashAttentionTiles(prev);
      }
    }
    expect(() => setFlashAttentionTiles({ forwardRows: 3 })).to.throw(/forwardRows must be 0 \(by adapter\), 1, 2 or 4, got 3/);
  });

  itNoLeak('f16 forward matches the f32 composed path within f16 tolerance', async function () {
    if (!engine.caps.shaderF16) return;
    const [B, H, T, D] = [2, 2, 17, 32];
    const mk = (s: number) => engine.tensor(hostRandom(B * H * T * D, s), [B, H, T, D]);
    const q = mk(90);
    const k = mk(91);
    const v = mk(92);
    const o16 = engine.tidy(() => flashAttention(q.half(), k.half(), v.half(), { causal: true }));
    const o32 = engine.tidy(() => composedAttention(q, k, v, { causal: true }));
    expect(o16.dtype).to.equal('f16');
    assertClose(await values(o16), await values(o32), { rtol: 1e-2, atol: 4e-3 }, 'f16 O');
    disposeAll(q, k, v, o16, o32);
  });

  it('rejects bad input with the op name and the shapes', () => {
    const q = engine.zeros([1, 2, 3, 4]);
    const k = engine.zeros([1, 2, 5, 4]);
    const bad = engine.zeros([1, 2, 5, 6]);
    const big = engine.zeros([1, 1, 2, 130]);
    try {
      expect(() => flashAttention(q, bad, bad)).to.throw(/flashAttention.*\[1, 2, 5, 6\]/);
      expect(() => flashAttention(q.reshape([2, 3, 4]), k, k)).to.throw(/flashAttention/);
      expect(() => flashAttention(k, q, q, { causal: true })).to.throw(/flashAttention: causal.*Tq <= Tk/);
      expect(() => flashAttention(big, big, big)).to.throw(/head dim 130/);
      const m = engine.zeros([4, 5], { dtype: 'u32' });
      expect(() => flashAttention(q, k, k, { mask: m })).to.throw(/mask \[4, 5\] does not broadcast/);
      m.dispose();
    } finally {
      disposeAll(q, k, bad, big);
    }
  });

  itNoLeak('scaledDotProductAttention uses the fused kernel by default and the composed path on request', async () => {
    const q = engine.tensor(hostRandom(2 * 4 * 8, 100), [1, 2, 4, 8]).requiresGrad_();
    const ops = engine.tidy(() => {
      const fused = scaledDotProductAttention(q, q, q, { causal: true }).gradFn?.op;
      const prev = setAttentionImplementation('composed');
      const composed = scaledDotProductAttention(q, q, q, { causal: true }).gradFn?.op;
      setAttentionImplementation(prev);
      // Dropout in training falls back to the composed path.
      const dropped = scaledDotProductAttention(q, q, q, { dropoutP: 0.5, training: true }).gradFn?.op;
      return { fused, composed, dropped };
    });
    expect(ops.fused).to.equal('flashAttention');
    expect(ops.composed).to.not.equal('flashAttention');
    expect(ops.dropped).to.not.equal('flashAttention');
    q.dispose();
  });

  itNoLeak('TransformerLM logits and parameter gradients agree with the fused and the composed core', async () => {
    engine.manualSeed(5);
    const model = new TransformerLM(engine, { vocabSize: 13, dModel: 16, nLayers: 2, nHeads: 2, dFF: 32, maxSeqLen: 16 }).eval();
    const idv = Array.from({ length: 2 }, (_, r) => hostRandom(9, 110 + r).map((x) => Math.floor(((x + 1) / 2) * 13)));
    const ids = engine.tensor(idv, undefined, { dtype: 'i32' });
    const kpm = engine.tensor([[0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1, 1]], undefined, { dtype: 'u32' });
    const run = async (impl: 'fused' | 'composed') => {
      const prev = setAttentionImplementation(impl);
      try {
        const logits = engine.tidy(() => model.forward(ids, { keyPaddingMask: kpm }));
        const loss = engine.tidy(() => logits.square().mean());
        loss.backward();
        const grads = await Promise.all(model.parameters().map((p) => values(p.grad!)));
        for (const p of model.parameters()) {
          p.grad?.dispose();
          p.grad = null;
        }
        const r = { logits: await values(logits), grads };
        disposeAll(logits, loss);
        return r;
      } finally {
        setAttentionImplementation(prev);
      }
    };
    const fused = await run('fused');
    const composed = await run('composed');
    assertClose(fused.logits, composed.logits, FWD, 'logits');
    fused.grads.forEach((g, i) => assertClose(g, composed.grads[i], BWD, `parameter ${i} gradient`));
    disposeAll(ids, kpm);
    model.dispose();
  });
});
