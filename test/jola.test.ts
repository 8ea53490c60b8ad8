// JoLA's pieces (methods/jola/jola.ts): HardConcrete gates (training samples in [0, 1] with exact 0s
// and 1s, deterministic eval gates and the expected-L0 term in closed form), the per-head edit through
// nn's `layers.i.attn.heads` hook (its formula on a strided view, identity when the gates are closed),
// gradients reaching a, m and log α through the hook, and the trainable-parameter count of the spec.
import { expect } from 'chai';
import type { Engine, Tensor } from '../engine/index.js';
import { HARD_CONCRETE, JoLA, hardConcreteEval, hardConcreteOpenProb, hardConcreteSample } from '../methods/jola/jola.js';
import { hardConcreteRef } from './reference/hard-concrete.js';
import { TransformerLM } from '../nn/index.js';
import { assertClose, assertEqualArrays } from './helpers/compare.js';
import { gpuEngine, itNoLeak } from './helpers/gpu.js';
import { disposeAll, values } from './helpers/tensors.js';

describe('jola', () => {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  const shape = { nLayers: 2, nHeads: 2, headDim: 8 };
  const tinyLM = () => new TransformerLM(engine, { vocabSize: 11, dModel: 16, nLayers: 2, nHeads: 2, dFF: 32, maxSeqLen: 8 });
  const ids = () => engine.tensor([[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]], undefined, { dtype: 'i32' });
  const targets = () => engine.tensor([[2, 3, 4, 5, 6, 7], [5, 4, 3, 2, 1, 0]], undefined, { dtype: 'i32' });
  /** Overwrite every parameter of `m` matching `pick` with `f(shape)`. */
  const setParams = (j: JoLA, pick: (name: string) => boolean, f: (shape: number[]) => Tensor) => {
    for (const [name, p] of j.namedParameters()) {
      if (!pick(name)) continue;
      const v = f([...p.shape]);
      p.copy_(v);
      v.dispose();
    }
  };

  itNoLeak(() => engine, 'training-mode gates lie in [0, 1] and hit exact 0 and exact 1 (log α = 0: P ≈ 0.31 each)', async () => {
    engine.manualSeed(5);
    const la = engine.zeros([8192, 1]);
    const g = engine.noGrad(() => hardConcreteSample(la));
    const v = await values(g);
    expect(Math.min(...v)).to.equal(0);
    expect(Math.max(...v)).to.equal(1);
    const zeros = v.filter((x) => x === 0).length / v.length;
    const ones = v.filter((x) => x === 1).length / v.length;
    // P(g = 0) = P(s < −γ/(ζ−γ)) = σ(β·logit(1/12)) = 0.312, and P(g = 1) the same by symmetry.
    const p = 1 / (1 + Math.exp(-HARD_CONCRETE.temperature * Math.log(1 / 11)));
    expect(zeros).to.be.closeTo(p, 0.03);
    expect(ones).to.be.closeTo(p, 0.03);
    expect(v.some((x) => x > 0 && x < 1)).to.equal(true);
    disposeAll(la, g);
  });

  itNoLeak(() => engine, 'a fixed noise u gives the closed form of the training gate', async () => {
    const las = [-3, -0.5, 0, 0.4, 2];
    const la = engine.tensor(las, [5, 1]);
    const u = engine.tensor([0.5, 0.2, 0.9, 0.5, 0.01], [5, 1]);
    const g = engine.noGrad(() => hardConcreteSample(la, HARD_CONCRETE, u));
    const uv = await values(u);
    const want = las.map((a, i) => {
      const s = 1 / (1 + Math.exp(-(Math.log(uv[i]) - Math.log(1 - uv[i]) + a) / 0.33));
      return Math.min(1, Math.max(0, s * 1.2 - 0.1));
    });
    assertClose(await values(g), want, { rtol: 1e-5, atol: 1e-6 }, 'sampled gate');
    disposeAll(la, u, g);
  });

  itNoLeak(() => engine, 'eval gates and P(open) match their closed forms (no division by β; P(open | log α = 0) ≈ 0.69)', async () => {
    const las = [-8, -2.4, -1, -0.2, 0, 0.3, 1, 2.4, 8];
    const la = engine.tensor(las, [las.length, 1]);
    const [g, p] = engine.noGrad(() => [hardConcreteEval(la), hardConcreteOpenProb(la)]);
    const gv = await values(g);
    assertClose(gv, las.map((a) => hardConcreteRef.eval(a)), { rtol: 1e-5, atol: 1e-6 }, 'eval gate');
    assertClose(gv, las.map((a) => Math.min(1, Math.max(0, 1.2 / (1 + Math.exp(-a)) - 0.1))), { rtol: 1e-5, atol: 1e-6 }, 'eval gate, written out');
    expect(gv[0]).to.equal(0); // clamped: exact zeros at inference
    expect(gv[gv.length - 1]).to.equal(1);
    assertClose(await values(p), las.map((a) => 1 / (1 + Math.exp(-(a + 0.33 * Math.log(11))))), { rtol: 1e-5, atol: 1e-6 }, 'P(open)');
    expect(hardConcreteRef.openProb(0)).to.be.closeTo(0.688, 1e-3);
    disposeAll(la, g, p);
  });

  itNoLeak(() => engine, 'the edit computes (1 + g_m·m) ⊙ z + g_a·a per head on the strided heads view', async () => {
    engine.manualSeed(1);
    const j = new JoLA(engine, shape);
    setParams(j, (n) => /\.(a|m)$/.test(n), (s) => engine.randn(s));
    j.eval();
    const o = engine.randn([3, 2, 5, 8]); // (B, H, T, Dh)
    const z = o.permute(0, 2, 1, 3); // (B, T, H, Dh), as the attention module hands it over
    const y = engine.noGrad(() => engine.tidy(() => j.edit(1, z)));
    const e = j.layers.at(1);
    const zc = z.contiguous();
    const [zv, a, m, la, lm] = await Promise.all([values(zc), values(e.a!), values(e.m!), values(j.logAlphaA!), values(j.logAlphaM!)]);
    zc.dispose();
    const want = zv.map((v, i) => {
      const d = i % 8, h = Math.floor(i / 8) % 2;
      // log α is (L, H, 1): layer 1's gates are elements 2 and 3.
      const ga = hardConcreteRef.eval(la[2 + h]), gm = hardConcreteRef.eval(lm[2 + h]);
      return (1 + gm * m[h * 8 + d]) * v + ga * a[h * 8 + d];
    });
    assertClose(await values(y), want, { rtol: 1e-5, atol: 1e-5 }, 'edited heads');
    disposeAll(o, z, y);
    j.dispose();
  });

  itNoLeak(() => engine, 'draws each gate once per forward pass: shared by the batch and the positions, fresh on the next pass', async () => {
    engine.manualSeed(4);
    const j = new JoLA(engine, shape, { multiplicative: false });
    setParams(j, (n) => /\.a$/.test(n), (s) => engine.ones(s));
    setParams(j, (n) => n.includes('log_alpha'), (s) => engine.zeros(s));
    j.train();
    const z = engine.zeros([2, 3, 2, 8]); // (B, T, H, Dh): the output is g_h everywhere in head h
    const draws: string[] = [];
    for (let pass = 0; pass < 8; pass++) {
      const y = engine.noGrad(() => engine.tidy(() => j.edit(0, z)));
      const v = await values(y);
      y.dispose();
      const perHead = [0, 1].map((h) => v.filter((_, i) => Math.floor(i / 8) % 2 === h));
      for (const hv of perHead) expect(new Set(hv).size, 'one value per head within a pass').to.equal(1);
      draws.push(perHead.map((hv) => hv[0]).join(','));
    }
    expect(new Set(draws).size, 'passes draw afresh').to.be.greaterThan(1);
    z.dispose();
    j.dispose();
  });

  itNoLeak(() => engine, 'closed gates make the edit the identity (eval and training mode); open gates change the output', async () => {
    engine.manualSeed(2);
    const model = tinyLM();
    const x = ids();
    const y0 = engine.noGrad(() => engine.tidy(() => model.forward(x)));
    const plain = await values(y0);
    y0.dispose();
    const j = new JoLA(engine, shape);
    setParams(j, (n) => /\.(a|m)$/.test(n), (s) => engine.randn(s, { std: 2 }));
    setParams(j, (n) => n.includes('log_alpha'), (s) => engine.full(s, -30));
    const detach = j.attachTo(model);
    for (const mode of ['eval', 'train'] as const) {
      j.train(mode === 'train');
      const y = engine.noGrad(() => engine.tidy(() => model.forward(x)));
      assertEqualArrays(await values(y), plain, `logits with closed gates (${mode})`);
      y.dispose();
    }
    setParams(j, (n) => n.includes('log_alpha'), (s) => engine.full(s, 3));
    j.eval();
    const open = engine.noGrad(() => engine.tidy(() => model.forward(x)));
    const ov = await values(open);
    expect(Math.max(...ov.map((v, i) => Math.abs(v - plain[i]))), 'open gates edit the heads').to.be.greaterThan(1e-2);
    detach();
    const after = engine.noGrad(() => engine.tidy(() => model.forward(x)));
    assertEqualArrays(await values(after), plain, 'the remover detaches every hook');
    disposeAll(x, open, after);
    j.dispose();
    model.dispose();
  });

  itNoLeak(() => engine, 'gradients reach a, m and log α through the hooks (and match finite differences); the base stays frozen', async () => {
    engine.manualSeed(3);
    const model = tinyLM().freeze();
    const x = ids(), y = targets();
    const j = new JoLA(engine, shape);
    setParams(j, (n) => /\.(a|m)$/.test(n), (s) => engine.randn(s, { std: 0.5 }));
    setParams(j, (n) => n.includes('log_alpha'), (s) => engine.zeros(s));
    const detach = j.attachTo(model);
    // Training mode with u = 0.5: every gate is σ(0)·1.2 − 0.1 = 0.5, inside (0, 1) so the clamp passes the gradient.
    j.fixedNoise = engine.full([2, 2, 1], 0.5);
    j.train();
    engine.tidy(() => model.loss(x, y).add(j.penalty().mul(0.1)).backward());
    for (const [name, p] of j.namedParameters()) {
      expect(p.grad, `${name} has a gradient`).to.not.equal(null);
      expect(Math.max(...(await values(p.grad!)).map(Math.abs)), `${name}'s gradient is not zero`).to.be.greaterThan(1e-6);
    }
    for (const [name, p] of model.namedParameters()) expect(p.grad, `${name} is frozen`).to.equal(null);
    // Central differences on one log α (eval mode: the same gate function without noise).
    j.eval();
    j.zeroGrad();
    engine.tidy(() => model.loss(x, y).backward());
    const la = j.logAlphaA!;
    const g = (await values(la.grad!))[1]; // layer 0, head 1
    const h = 1e-2;
    const lossAt = async (v: number) => {
      const t = engine.tensor([0, v, 0, 0], [2, 2, 1]);
      la.copy_(t);
      t.dispose();
      const l = engine.noGrad(() => engine.tidy(() => model.loss(x, y)));
      const r = await l.item();
      l.dispose();
      return r;
    };
    const fd = ((await lossAt(h)) - (await lossAt(-h))) / (2 * h);
    expect(g).to.be.closeTo(fd, 0.05 * Math.abs(fd) + 2e-4);
    detach();
    disposeAll(x, y, j.fixedNoise);
    j.dispose();
    model.dispose();
  });

  itNoLeak(() => engine, 'counts 2·Dh + 2 trainable parameters per head (408 for 3 layers × 4 heads × Dh 16); ablations and a head mask count less', () => {
    const s = { nLayers: 3, nHeads: 4, headDim: 16 };
    const cases: [ConstructorParameters<typeof JoLA>[2], number][] = [
      [{}, 408],
      [{ gates: 'none' }, 384],
      [{ multiplicative: false }, 204],
      [{ additive: false }, 204],
      [{ gates: 'none', multiplicative: false, headMask: [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] }, 48],
    ];
    for (const [o, want] of cases) {
      const j = new JoLA(engine, s, o);
      expect(j.numTrainable(), JSON.stringify(o)).to.equal(want);
      if (!o?.headMask) expect(j.numParameters(true)).to.equal(want);
      j.dispose();
    }
  });

  itNoLeak(() => engine, 'the penalty is the mean of P(open) over the learned gates', async () => {
    const j = new JoLA(engine, shape);
    const las = await Promise.all(j.logAlphas().map(values));
    const want = las.flat().reduce((a, v) => a + hardConcreteRef.openProb(v), 0) / las.flat().length;
    const p = engine.noGrad(() => j.penalty());
    expect(await p.item()).to.be.closeTo(want, 1e-6);
    // xavier_uniform on (H, 1): within ±√(6 / (H + 1)).
    for (const v of las.flat()) expect(Math.abs(v)).to.be.at.most(Math.sqrt(6 / 3) + 1e-6);
    p.dispose();
    j.dispose();
  });
});
