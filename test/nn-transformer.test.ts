// transformer: attention core and MultiheadAttention against float64 references (causal, padding,
// additive masks, cross-attention), rotary positions, KV-cache decoding, hooks (head ablation,
// gradients at a hooked activation), a tiny LM overfitting one batch, the encoder-decoder model,
// state-dict and config round-trips.
import { expect } from 'chai';
import { crossEntropy, setMatmulVariant, type Engine, type Tensor } from '../engine/index.js';
import {
  AdamW, MultiheadAttention, clipGradNorm, setAttentionImplementation, RotaryEmbedding, Transformer, TransformerLM, scaledDotProductAttention,
  type TransformerLMConfigInput,
} from '../nn/index.js';
import { assertClose } from './helpers/compare.js';
import { gpuEngine, itNoLeak as itNoLeakOn } from './helpers/gpu.js';
import { disposeAll, values } from './helpers/tensors.js';
import { hostRandom } from './nn-layers.test.js';

const TOL = { rtol: 1e-4, atol: 1e-5 };

/**
 * float64 attention on flat (BH, Tq, D) arrays; keep(bh, i, j) false = masked, add(bh, i, j) added
 * to the score. Causal is bottom-right aligned.
 */
function attentionRef(
  q: number[], k: number[], v: number[], bh: number, tq: number, tk: number, d: number, dv: number,
  opts: { causal?: boolean; keep?: (b: number, i: number, j: number) => boolean; add?: (b: number, i: number, j: number) => number } = {},
): number[] {
  const out = new Array<number>(bh * tq * dv).fill(0);
  const scale = 1 / Math.sqrt(d);
  for (let b = 0; b < bh; b++)
    for (let i = 0; i < tq; i++) {
      const s: number[] = [];
      for (let j = 0; j < tk; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[(b * tq + i) * d + c] * k[(b * tk + j) * d + c];
        let val = dot * scale + (opts.add ? opts.add(b, i, j) : 0);
        if ((opts.causal && j > i + tk - tq) || (opts.keep && !opts.keep(b, i, j))) val = -Infinity;
        s.push(val);
      }
      const m = Math.max(...s);
      const e = s.map((x) => Math.exp(x - m));
      const z = e.reduce((a, x) => a + x, 0);
      for (let j = 0; j < tk; j++) for (let c = 0; c < dv; c++) out[(b * tq + i) * dv + c] += (e[j] / z) * v[(b * tk + j) * dv + c];
    }
  return out;
}

const LM_BASE: TransformerLMConfigInput = { vocabSize: 13, dModel: 16, nLayers: 2, nHeads: 2, dFF: 32, maxSeqLen: 16 };

describe('transformer', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  const itNoLeak = (title: string, fn: () => Promise<void> | void) => itNoLeakOn(() => engine, title, fn);

  const ids = (rows: number[][]) => engine.tensor(rows, undefined, { dtype: 'i32' });
  const randIds = (b: number, t: number, v: number, seed: number) =>
    Array.from({ length: b }, (_, r) => hostRandom(t, seed + r).map((x) => Math.floor(((x + 1) / 2) * v)));

  // ---------------------------------------------------------------- attention core

  itNoLeak('scaledDotProductAttention matches float64 with causal, boolean and additive masks, Tq != Tk', async () => {
    const [B, H, Tq, Tk, D] = [2, 2, 3, 5, 4];
    const qv = hostRandom(B * H * Tq * D, 1);
    const kv = hostRandom(B * H * Tk * D, 2);
    const vv = hostRandom(B * H * Tk * D, 3);
    const q = engine.tensor(qv, [B, H, Tq, D]);
    const k = engine.tensor(kv, [B, H, Tk, D]);
    const v = engine.tensor(vv, [B, H, Tk, D]);
    const run = async (opts: Parameters<typeof scaledDotProductAttention>[3]) => {
      const o = engine.tidy(() => scaledDotProductAttention(q, k, v, opts));
      const r = await values(o);
      o.dispose();
      return r;
    };
    assertClose(await run({}), attentionRef(qv, kv, vv, B * H, Tq, Tk, D, D), TOL, 'plain');
    assertClose(await run({ causal: true }), attentionRef(qv, kv, vv, B * H, Tq, Tk, D, D, { causal: true }), TOL, 'causal');
    // Boolean (u32) mask (B, 1, 1, Tk): batch 0 ignores key 1, batch 1 ignores keys 3, 4.
    const padded = [[0, 1, 0, 0, 0], [0, 0, 0, 1, 1]];
    const keepT = engine.tidy(() => engine.tensor(padded.map((r) => r.map((p) => 1 - p)), undefined, { dtype: 'u32' }).reshape([B, 1, 1, Tk]));
    const keep = (bh: number, _i: number, j: number) => padded[Math.floor(bh / H)][j] === 0;
    assertClose(await run({ mask: keepT, causal: true }), attentionRef(qv, kv, vv, B * H, Tq, Tk, D, D, { causal: true, keep }), TOL, 'causal + boolean');
    // Additive float mask (Tq, Tk).
    const addv = hostRandom(Tq * Tk, 4);
    const addT = engine.tensor(addv, [Tq, Tk]);
    assertClose(await run({ mask: addT }), attentionRef(qv, kv, vv, B * H, Tq, Tk, D, D, { add: (_b, i, j) => addv[i * Tk + j] }), TOL, 'additive');
    disposeAll(q, k, v, keepT, addT);
  });

  /** MHA weights read back, and a float64 multi-head forward with them. */
  async function mhaRef(mha: MultiheadAttention, x: number[], ctx: number[], B: number, T: number, S: number, opts: { causal?: boolean; pad?: number[][] }) {
    const s = mha.stateDict();
    const w: Record<string, number[]> = {};
    for (const [n, t] of Object.entries(s)) w[n] = await values(t);
    const D = mha.dim;
    const H = mha.numHeads;
    const Dh = D / H;
    const lin = (a: number[], rows: number, name: string) => {
      const y = new Array<number>(rows * D).fill(0);
      for (let r = 0; r < rows; r++)
        for (let o = 0; o < D; o++) {
          let acc = w[`${name}.bias`][o];
          for (let i = 0; i < D; i++) acc += a[r * D + i] * w[`${name}.weight`][o * D + i];
          y[r * D + o] = acc;
        }
      return y;
    };
    // (B, T, H, Dh) -> (B, H, T, Dh) flat
    const heads = (a: number[], t: number) => {
      const out = new Array<number>(a.length);
      for (let b = 0; b < B; b++) for (let i = 0; i < t; i++) for (let h = 0; h < H; h++) for (let c = 0; c < Dh; c++) out[((b * H + h) * t + i) * Dh + c] = a[((b * t + i) * H + h) * Dh + c];
      return out;
    };
    const q = heads(lin(x, B * T, 'qProj'), T);
    const k = heads(lin(ctx, B * S, 'kProj'), S);
    const v = heads(lin(ctx, B * S, 'vProj'), S);
    const keep = opts.pad ? (bh: number, _i: number, j: number) => opts.pad![Math.floor(bh / H)][j] === 0 : undefined;
    const o = attentionRef(q, k, v, B * H, T, S, Dh, Dh, { causal: opts.causal, keep });
    const merged = new Array<number>(B * T * D);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) for (let c = 0; c < Dh; c++) merged[((b * T + i) * H + h) * Dh + c] = o[((b * H + h) * T + i) * Dh + c];
    return lin(merged, B * T, 'outProj');
  }

  itNoLeak('MultiheadAttention self-attention (causal + key padding) and cross-attention (padding) match float64', async () => {
    const [B, T, S, D] = [2, 4, 5, 8];
    const mha = new MultiheadAttention(engine, D, 2);
    const xv = hostRandom(B * T * D, 7);
    const cv = hostRandom(B * S * D, 8);
    const x = engine.tensor(xv, [B, T, D]);
    const c = engine.tensor(cv, [B, S, D]);
    const padT = [[0, 0, 0, 1], [0, 0, 0, 0]];
    const padS = [[0, 0, 1, 1, 1], [0, 0, 0, 0, 1]];
    const kpmT = engine.tensor(padT, undefined, { dtype: 'u32' });
    const kpmS = engine.tensor(padS, undefined, { dtype: 'u32' });
    const self = engine.tidy(() => mha.forward(x, { causal: true, keyPaddingMask: kpmT }));
    assertClose(await values(self), await mhaRef(mha, xv, xv, B, T, T, { causal: true, pad: padT }), TOL, 'self');
    const cross = engine.tidy(() => mha.forward(x, { context: c, keyPaddingMask: kpmS }));
    assertClose(await values(cross), await mhaRef(mha, xv, cv, B, T, S, { pad: padS }), TOL, 'cross');
    // Padded context rows do not matter.
    const c2 = engine.tidy(() => engine.where(kpmS.reshape([B, S, 1]), 123, c));
    const cross2 = engine.tidy(() => mha.forward(x, { context: c2, keyPaddingMask: kpmS }));
    assertClose(await values(cross2), await values(cross), TOL, 'padded context ignored');
    disposeAll(x, c, c2, kpmT, kpmS, self, cross, cross2);
    mha.dispose();
  });

  // ---------------------------------------------------------------- rotary

  itNoLeak('RoPE preserves norms, matches the closed-form rotation, and scores depend only on relative position', async () => {
    const Dh = 8;
    const rope = new RotaryEmbedding(engine, Dh, 16);
    const qv = hostRandom(Dh, 51);
    const kv = hostRandom(Dh, 52);
    const q = engine.tensor(qv, [1, 1, 1, Dh]);
    const k = engine.tensor(kv, [1, 1, 1, Dh]);
    const rot = async (t: Tensor, pos: number) => {
      const r = engine.tidy(() => rope.apply(t, pos));
      const v = await values(r);
      r.dispose();
      return v;
    };
    const norm = (a: number[]) => Math.hypot(...a);
    const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
    for (const p of [0, 3, 11]) {
      const r = await rot(q, p);
      expect(norm(r)).to.be.closeTo(norm(qv), 1e-5);
      // Pair (i, i + Dh/2) rotated by p * 10000^(-2i/Dh).
      const ex = [...qv];
      for (let i = 0; i < Dh / 2; i++) {
        const a = p * Math.pow(10000, (-2 * i) / Dh);
        ex[i] = qv[i] * Math.cos(a) - qv[i + Dh / 2] * Math.sin(a);
        ex[i + Dh / 2] = qv[i + Dh / 2] * Math.cos(a) + qv[i] * Math.sin(a);
      }
      assertClose(r, ex, TOL, `rotation at ${p}`);
    }
    const s1 = dot(await rot(q, 5), await rot(k, 2));
    const s2 = dot(await rot(q, 12), await rot(k, 9));
    const s3 = dot(await rot(q, 4), await rot(k, 2));
    expect(s1).to.be.closeTo(s2, 1e-5);
    expect(Math.abs(s1 - s3)).to.be.above(1e-3);
    disposeAll(q, k);
    rope.dispose();
  });

  // ---------------------------------------------------------------- KV cache

  for (const variant of [
    { positions: 'learned', ffn: 'gelu', norm: 'layernorm', tiedEmbeddings: true },
    { positions: 'rotary', ffn: 'swiglu', norm: 'rmsnorm', tiedEmbeddings: false },
  ] as const) {
    itNoLeak(`KV-cache incremental logits equal the full-sequence logits (${variant.positions}, ${variant.ffn}, ${variant.norm})`, async () => {
      engine.manualSeed(3);
      const model = new TransformerLM(engine, { ...LM_BASE, ...variant }).eval();
      const seq = randIds(2, 7, LM_BASE.vocabSize, 60);
      const full = ids(seq);
      const ref = engine.tidy(() => model.forward(full));
      const expected = await values(ref);
      const cache = model.newCache(2, 7);
      // Prompt of 3, then one token, then a chunk of 2, then one.
      const got: number[][][] = [[], []]; // [b][t] rows of V
      let pos = 0;
      for (const len of [3, 1, 2, 1]) {
        const chunk = ids(seq.map((r) => r.slice(pos, pos + len)));
        const out = engine.noGrad(() => engine.tidy(() => model.forward(chunk, { cache })));
        expect(cache.length).to.equal(pos + len);
        const v = await values(out);
        for (let b = 0; b < 2; b++) for (let t = 0; t < len; t++) got[b].push(v.slice((b * len + t) * 13, (b * len + t + 1) * 13));
        disposeAll(chunk, out);
        pos += len;
      }
      assertClose(got.flat(2), expected, TOL, 'cached logits');
      cache.dispose();
      disposeAll(full, ref);
      model.dispose();
    });
  }

  // ---------------------------------------------------------------- hooks

  itNoLeak('zeroing one head through the heads hook equals zeroing its input columns of the output projection', async () => {
    engine.manualSeed(4);
    const model = new TransformerLM(engine, { ...LM_BASE, nHeads: 4 }).eval();
    const x = ids(randIds(2, 6, 13, 70));
    const head = 2;
    const Dh = 4;
    const remove = model.registerHook('layers.1.attn.heads', (a) => {
      expect(a.shape).to.deep.equal([2, 6, 4, Dh]);
      const m = engine.tensor([1, 1, 0, 1], [4, 1]); // (H, 1) broadcast over (B, T, H, Dh)
      const r = a.mul(m);
      m.dispose();
      return r;
    });
    const hooked = engine.tidy(() => model.forward(x));
    remove();
    const plain = engine.tidy(() => model.forward(x));
    const w = (model.getSubmodule('layers.1.attn.outProj') as unknown as { weight: Tensor }).weight;
    const saved = engine.tidy(() => w.clone());
    engine.tidy(() => {
      const cols = w.narrow(1, head * Dh, Dh);
      cols.copy_(engine.zeros([16, Dh]));
    });
    const masked = engine.tidy(() => model.forward(x));
    w.copy_(saved);
    const hv = await values(hooked);
    assertClose(hv, await values(masked), TOL, 'hook vs masked weights');
    const pv = await values(plain);
    expect(Math.max(...hv.map((v, i) => Math.abs(v - pv[i])))).to.be.above(1e-4, 'the ablation changes the logits');
    disposeAll(x, hooked, plain, saved, masked);
    model.dispose();
  });

  itNoLeak('the gradient at a hooked activation (autogradGrad) matches finite differences', async () => {
    engine.manualSeed(5);
    const model = new TransformerLM(engine, LM_BASE).eval();
    const x = ids(randIds(2, 5, 13, 80));
    const y = ids(randIds(2, 5, 13, 90));
    for (const site of ['layers.0.attn.heads', 'layers.0.mlp.act', 'layers.1.resid']) {
      let captured: Tensor | null = null;
      let remove = model.registerHook(site, (a) => {
        captured = engine.keep(a);
      });
      const loss = engine.tidy(() => model.loss(x, y));
      remove();
      const act = captured! as Tensor;
      const [g] = engine.autogradGrad(loss, [act]);
      expect(g!.shape).to.deep.equal(act.shape);
      // Directional derivative along a random direction, by central differences through a replacing hook.
      const dirv = hostRandom(act.size, 91);
      const dir = engine.tensor(dirv, [...act.shape]);
      const gv = await values(g!);
      const analytic = gv.reduce((s, v, i) => s + v * dirv[i], 0);
      const h = 1e-2;
      const at = async (eps: number) => {
        remove = model.registerHook(site, (a) => a.add(dir.mul(eps)));
        const l = engine.noGrad(() => engine.tidy(() => model.loss(x, y)));
        remove();
        const v = await l.item();
        l.dispose();
        return v;
      };
      const numeric = ((await at(h)) - (await at(-h))) / (2 * h);
      // f32 loss noise over 2h is ~1e-5; truncation is O(h^2).
      expect(numeric, site).to.be.closeTo(analytic, 2e-2 * Math.abs(analytic) + 5e-5);
      expect(Math.abs(analytic), site).to.be.above(2e-4);
      disposeAll(loss, act, g, dir);
    }
    disposeAll(x, y);
    model.dispose();
  });

  // ---------------------------------------------------------------- training

  itNoLeak('a training step on the fast paths equals the composed one: loss, every clipped gradient, every AdamW update', async () => {
    // Fast: fused attention (16-row workgroups on software adapters), register matmuls (W^T copied
    // row-major for x @ W^T at >= 64 rows, weight gradients in W's layout), bias gradients summed in
    // place, clipGradNorm through foreachSumOfSquares. Reference: composed attention, the tiled
    // matmul, the clip norm from stack(square().sum()). Rows 5 x 15 = 75 reach the copy path.
    const cfg: TransformerLMConfigInput = { vocabSize: 13, dModel: 16, nLayers: 2, nHeads: 2, dFF: 32, maxSeqLen: 16, dropout: 0 };
    const seq = randIds(5, 16, 13, 300);
    const x = ids(seq.map((r) => r.slice(0, 15)));
    const y = ids(seq.map((r) => r.slice(1)));
    const run = async (fast: boolean) => {
      engine.manualSeed(21);
      const model = new TransformerLM(engine, cfg);
      const opt = new AdamW(model.parameters(), { lr: 1e-2 });
      const prevAttn = setAttentionImplementation(fast ? 'fused' : 'composed');
      const prevMm = setMatmulVariant(fast ? 'auto' : 'tiled');
      try {
        const loss = engine.tidy(() => {
          const l = model.loss(x, y);
          l.backward();
          return l.detach();
        });
        let norm: Tensor;
        if (fast) norm = clipGradNorm(model.parameters(), 0.2);
        else {
          // clipGradNorm's formula from composed ops.
          norm = engine.noGrad(() => engine.tidy(() => engine.stack(model.parameters().map((p) => p.grad!.square().sum())).sum().sqrt()));
          const coef = engine.noGrad(() => engine.tidy(() => engine.full([], 0.2).div(norm.add(1e-6)).clamp(null, 1)));
          for (const p of model.parameters()) {
            const old = p.grad!;
            p.grad = engine.keep(engine.noGrad(() => old.mul(coef)));
            old.dispose();
          }
          coef.dispose();
        }
        const grads = await Promise.all(model.parameters().map((p) => values(p.grad!)));
        opt.step();
        const params = await Promise.all(model.parameters().map((p) => values(p)));
        const out = { loss: await loss.item(), norm: await norm.item(), grads, params, names: [...model.namedParameters()].map(([n]) => n) };
        disposeAll(loss, norm);
        opt.dispose();
        model.dispose();
        return out;
      } finally {
        setAttentionImplementation(prevAttn);
        setMatmulVariant(prevMm);
      }
    };
    const fast = await run(true);
    const ref = await run(false);
    // The two differ only in the order f32 sums are taken (attention's online softmax, matmul tiling).
    const tol = { rtol: 1e-4, atol: 1e-5 };
    assertClose([fast.loss], [ref.loss], tol, 'loss');
    assertClose([fast.norm], [ref.norm], tol, 'gradient norm');
    expect(ref.norm).to.be.above(0.2); // the clip is active
    fast.grads.forEach((g, i) => assertClose(g, ref.grads[i], tol, `grad ${fast.names[i]}`));
    // The key bias adds q·b to every score of a row, which softmax ignores: its gradient is zero up to
    // rounding, and AdamW's first step turns any such noise into ±lr. Those are checked to be ~0 instead.
    fast.params.forEach((p, i) => {
      if (/kProj\.bias$/.test(fast.names[i])) {
        for (const g of [...fast.grads[i], ...ref.grads[i]]) expect(Math.abs(g)).to.be.below(1e-5);
      } else assertClose(p, ref.params[i], tol, `updated ${fast.names[i]}`);
    });
    disposeAll(x, y);
  });

  itNoLeak('a tiny LM overfits one batch to near-zero loss (AdamW)', async () => {
    engine.manualSeed(6);
    const V = 16;
    const model = new TransformerLM(engine, { vocabSize: V, dModel: 32, nLayers: 1, nHeads: 2, dFF: 64, maxSeqLen: 16, ffn: 'swiglu', norm: 'rmsnorm', positions: 'rotary' });
    const seq = randIds(2, 9, V, 100);
    const x = ids(seq.map((r) => r.slice(0, 8)));
    const y = ids(seq.map((r) => r.slice(1)));
    const opt = new AdamW(model.trainableParameters(), { lr: 1e-2, weightDecay: 0 });
    const first = engine.tidy(() => engine.noGrad(() => model.loss(x, y)));
    let last: Tensor | null = null;
    for (let step = 1; step <= 60; step++) {
      const loss = engine.tidy(() => model.loss(x, y));
      loss.backward();
      opt.step();
      opt.zeroGrad();
      // Read the loss every 10 steps, as a training loop would. 60 steps reach ~0.005 here.
      if (step % 10 === 0) expect(Number.isFinite(await loss.item())).to.equal(true);
      last?.dispose();
      last = loss.detach();
      loss.dispose();
    }
    const l0 = await first.item();
    const l1 = await last!.item();
    expect(l0).to.be.closeTo(Math.log(V), 0.5);
    expect(l1).to.be.below(0.05);
    disposeAll(first, last, x, y);
    opt.dispose();
    model.dispose();
  });

  // ---------------------------------------------------------------- encoder-decoder

  itNoLeak('encoder-decoder: shapes, cross-attention reads the source, padding and causality hold, cached decoding matches', async () => {
    engine.manualSeed(7);
    const model = new Transformer(engine, { srcVocabSize: 11, tgtVocabSize: 9, dModel: 16, nHeads: 2, dFF: 32, nEncoderLayers: 1, nDecoderLayers: 2, maxSeqLen: 16 }).eval();
    expect(model.namedParameters().some(([n]) => n === 'decoder.layers.1.crossAttn.qProj.weight')).to.equal(true);
    const srcRows = randIds(2, 5, 11, 110);
    const tgtRows = randIds(2, 4, 9, 120);
    const src = ids(srcRows);
    const tgt = ids(tgtRows);
    const pad = engine.tensor([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], undefined, { dtype: 'u32' });
    const run = async (s: Tensor, t: Tensor) => {
      const o = engine.tidy(() => model.forward(s, t, { srcPaddingMask: pad }));
      expect(o.shape).to.deep.equal([2, t.shape[1], 9]);
      const r = await values(o);
      o.dispose();
      return r;
    };
    const base = await run(src, tgt);
    // A different real source token changes the logits of every target position of that row.
    const src2 = ids(srcRows.map((r, b) => r.map((v, j) => (b === 1 && j === 0 ? (v + 1) % 11 : v))));
    const changed = await run(src2, tgt);
    const rowDiff = (a: number[], b: number[], row: number) => Math.max(...a.slice(row * 36, (row + 1) * 36).map((v, i) => Math.abs(v - b[row * 36 + i])));
    expect(rowDiff(base, changed, 1)).to.be.above(1e-4);
    expect(rowDiff(base, changed, 0)).to.equal(0);
    // A padded source token changes nothing.
    const src3 = ids(srcRows.map((r, b) => r.map((v, j) => (b === 0 && j === 4 ? (v + 3) % 11 : v))));
    assertClose(await run(src3, tgt), base, TOL, 'padded source');
    // Causal decoder: changing the last target token leaves earlier positions alone.
    const tgt2 = ids(tgtRows.map((r) => r.map((v, j) => (j === 3 ? (v + 1) % 9 : v))));
    const t2 = await run(src, tgt2);
    for (let b = 0; b < 2; b++) assertClose(t2.slice(b * 36, b * 36 + 27), base.slice(b * 36, b * 36 + 27), TOL, 'causal');
    // Cached decoding, one token at a time, with the encoder output computed once.
    const memory = engine.tidy(() => model.encode(src, { srcPaddingMask: pad }));
    const cache = model.newCache(2, 4);
    const got: number[][] = [[], []];
    for (let t = 0; t < 4; t++) {
      const step = ids(tgtRows.map((r) => [r[t]]));
      const o = engine.noGrad(() => engine.tidy(() => model.decode(step, memory, { srcPaddingMask: pad, cache })));
      const v = await values(o);
      for (let b = 0; b < 2; b++) got[b].push(...v.slice(b * 9, (b + 1) * 9));
      disposeAll(step, o);
    }
    assertClose(got.flat(), base, TOL, 'cached decode');
    cache.dispose();
    disposeAll(src, tgt, pad, src2, src3, tgt2, memory);
    model.dispose();
  });

  itNoLeak('encoder-decoder sharedEmbeddings: one table, the same logits as two equal tables, its gradient the sum of both uses', async () => {
    engine.manualSeed(17);
    const cfg = { srcVocabSize: 10, tgtVocabSize: 10, dModel: 16, nHeads: 2, dFF: 32, nEncoderLayers: 1, nDecoderLayers: 1, maxSeqLen: 16, positions: 'rotary' } as const;
    const shared = new Transformer(engine, { ...cfg, sharedEmbeddings: true });
    const twin = new Transformer(engine, cfg);
    expect(shared.srcEmb).to.equal(shared.tgtEmb);
    expect(shared.namedParameters().some(([n]) => n.startsWith('srcEmb'))).to.equal(false);
    expect(twin.numParameters() - shared.numParameters()).to.equal(10 * 16);
    // The reference: the unshared model with both tables set to the shared one.
    twin.loadStateDict({ ...shared.stateDict(), 'srcEmb.weight': shared.tgtEmb.weight });
    const src = ids(randIds(2, 5, 10, 170));
    const tgt = ids(randIds(2, 4, 10, 171));
    const gold = ids(randIds(2, 4, 10, 172));
    const lossOf = (m: Transformer) => engine.tidy(() => {
      const logits = m.forward(src, tgt); // (2, 4, 10)
      const loss = crossEntropy(logits.reshape([8, 10]), gold.reshape([8]));
      loss.backward();
      return loss.detach();
    });
    const la = lossOf(shared), lb = lossOf(twin);
    assertClose(await values(la), await values(lb), TOL, 'loss');
    const sum = engine.noGrad(() => twin.srcEmb.weight.grad!.add(twin.tgtEmb.weight.grad!));
    assertClose(await values(shared.tgtEmb.weight.grad!), await values(sum), TOL, 'shared gradient = source + target gradients');
    assertClose(await values(shared.encoder.layers.items[0].attn.qProj.weight.grad!), await values(twin.encoder.layers.items[0].attn.qProj.weight.grad!), TOL, 'other gradients');
    expect(() => new Transformer(engine, { ...cfg, tgtVocabSize: 9, sharedEmbeddings: true })).to.throw(/Transformer: sharedEmbeddings needs srcVocabSize = tgtVocabSize, got 10 and 9/);
    shared.zeroGrad();
    twin.zeroGrad();
    disposeAll(src, tgt, gold, la, lb, sum);
    shared.dispose();
    twin.dispose();
  });

  // ---------------------------------------------------------------- state

  itNoLeak('stateDict round-trip into a fresh model gives identical logits; config round-trips through JSON', async () => {
    engine.manualSeed(8);
    const cfg = { ...LM_BASE, positions: 'rotary', ffn: 'swiglu', tiedEmbeddings: false } as const;
    const a = new TransformerLM(engine, cfg).eval();
    const json = JSON.stringify(a.config);
    const parsed = JSON.parse(json);
    expect(parsed).to.deep.equal(a.config);
    engine.manualSeed(9);
    const b = new TransformerLM(engine, parsed).eval();
    expect(b.config).to.deep.equal(a.config);
    expect(Object.keys(b.stateDict())).to.deep.equal(Object.keys(a.stateDict()));
    const x = ids(randIds(2, 6, 13, 130));
    const la = engine.tidy(() => a.forward(x));
    const lb0 = engine.tidy(() => b.forward(x));
    const va = await values(la);
    expect(Math.max(...(await values(lb0)).map((v, i) => Math.abs(v - va[i])))).to.be.above(1e-4, 'different initialisations');
    b.loadStateDict(a.stateDict());
    const lb = engine.tidy(() => b.forward(x));
    assertClose(await values(lb), va, { rtol: 0, atol: 0 }, 'identical logits');
    expect(a.numParameters()).to.equal(b.numParameters());
    disposeAll(x, la, lb0, lb);
    a.dispose();
    b.dispose();
  });

  it('rejects bad configs with readable errors', () => {
    expect(() => new TransformerLM(engine, { ...LM_BASE, dModel: 15 })).to.throw(/divisible/);
    expect(() => new TransformerLM(engine, { ...LM_BASE, ffn: 'relu' as 'gelu' })).to.throw(/ffn/);
  });
});
