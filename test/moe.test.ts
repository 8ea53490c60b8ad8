// moe layer: the MoE FFN against a float64 dense reference (forward and finite-difference gradients),
// both implementations; load-balancing-loss identities for the micro, global and buffer scopes
// (Qiu et al. 2025, method spec §1(d) assertions 1a-1f), including two simulated data-parallel
// replicas; the z-loss; shared experts; routing statistics per domain; an MoE TransformerLM that
// trains; config round-trips; every test checks for leaked GPU buffers.
import { expect } from 'chai';
import type { Engine, Tensor } from '../engine/index.js';
import {
  AdamW, LoadBalancer, MoE, RoutingMonitor, TransformerLM, moeExperts, moeRouter,
  type MoEConfigInput, type MoEImplementation, type TransformerLMConfigInput,
} from '../nn/index.js';
import { assertClose } from './helpers/compare.js';
import { gpuEngine, itNoLeak as itNoLeakOn } from './helpers/gpu.js';
import { disposeAll, values } from './helpers/tensors.js';
import { hostRandom } from './nn-layers.test.js';
import { gelu } from './reference/elementwise.js';

const FWD = { rtol: 1e-4, atol: 1e-5 };
const GRAD = { rtol: 2e-3, atol: 2e-4 };

interface RefCfg {
  E: number;
  k: number;
  D: number;
  F: number;
  scoring: 'softmax' | 'sigmoid';
  renormalize: boolean;
  activation: 'gelu' | 'swiglu';
}

interface RefWeights {
  wr: number[]; // (E, D)
  w1: number[]; // (E, D, F)
  w2: number[]; // (E, F, D)
  w3: number[] | null;
}

const softmaxRow = (z: number[]) => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const sigm = (v: number) => 1 / (1 + Math.exp(-v));
const silu = (v: number) => v * sigm(v);
const lse = (z: number[]) => {
  const m = Math.max(...z);
  return m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
};
/** Top-k indices, best first, ties to the lower index. */
const topkIdx = (s: number[], k: number) => s.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map((p) => p[1]);

/** float64 MoE on x (N, D): y (N, D), plus each token's scores and selection. */
function moeRef(x: number[], N: number, w: RefWeights, c: RefCfg): { y: number[]; scores: number[][]; sel: number[][] } {
  const { E, k, D, F } = c;
  const y = new Array<number>(N * D).fill(0);
  const scores: number[][] = [];
  const sel: number[][] = [];
  for (let n = 0; n < N; n++) {
    const z = Array.from({ length: E }, (_, e) => {
      let s = 0;
      for (let d = 0; d < D; d++) s += x[n * D + d] * w.wr[e * D + d];
      return s;
    });
    const s = c.scoring === 'softmax' ? softmaxRow(z) : z.map(sigm);
    const idx = topkIdx(s, k);
    let gw = idx.map((i) => s[i]);
    if (c.renormalize) {
      const t = gw.reduce((a, b) => a + b, 0);
      gw = gw.map((v) => v / t);
    }
    scores.push(s);
    sel.push(idx);
    idx.forEach((e, j) => {
      const a = new Array<number>(F).fill(0);
      for (let f = 0; f < F; f++) {
        let h1 = 0;
        let h3 = 0;
        for (let d = 0; d < D; d++) {
          h1 += x[n * D + d] * w.w1[(e * D + d) * F + f];
          if (w.w3) h3 += x[n * D + d] * w.w3[(e * D + d) * F + f];
        }
        a[f] = c.activation === 'swiglu' ? silu(h1) * h3 : gelu(h1);
      }
      for (let d = 0; d < D; d++) {
        let o = 0;
        for (let f = 0; f < F; f++) o += a[f] * w.w2[(e * F + f) * D + d];
        y[n * D + d] += gw[j] * o;
      }
    });
  }
  return { y, scores, sel };
}

/** Host LBL of one group: f from the selections, P from the scores; optionally with a given f. */
function hostF(sel: number[][], E: number): number[] {
  const f = new Array<number>(E).fill(0);
  for (const s of sel) for (const e of s) f[e] += 1;
  const tot = sel.length * sel[0].length;
  return f.map((v) => v / tot);
}
function hostP(scores: number[][], E: number): number[] {
  const p = new Array<number>(E).fill(0);
  for (const s of scores) s.forEach((v, e) => (p[e] += v / scores.length));
  return p;
}
const lblOf = (f: number[], p: number[]) => f.length * f.reduce((a, v, i) => a + v * p[i], 0);

describe('moe layer', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  const itNoLeak = (title: string, fn: () => Promise<void> | void) => itNoLeakOn(() => engine, title, fn);
  /** Runs for each implementation. */
  const itBoth = (title: string, fn: (impl: MoEImplementation) => Promise<void> | void) => {
    for (const impl of ['composed', 'fused'] as const) {
      it(`${title} [${impl}]`, async function () {
        const live0 = engine.memory().liveBuffers;
        await fn(impl);
        if (engine.memory().liveBuffers !== live0) throw new Error(`GPU buffers left alive by the test: ${engine.memory().liveBuffers - live0}`);
      });
    }
  };

  /** An MoE layer with host-random weights (also returned for the reference). */
  function makeMoE(cfg: MoEConfigInput, seed: number): { moe: MoE; w: RefWeights } {
    const moe = new MoE(engine, cfg);
    const { dModel: D, dFF: F, numExperts: E } = cfg;
    const w: RefWeights = {
      wr: hostRandom(E * D, seed).map((v) => v * 1.5),
      w1: hostRandom(E * D * F, seed + 1).map((v) => v * 0.6),
      w2: hostRandom(E * F * D, seed + 2).map((v) => v * 0.6),
      w3: moe.w3 ? hostRandom(E * D * F, seed + 3).map((v) => v * 0.6) : null,
    };
    engine.noGrad(() =>
      engine.tidy(() => {
        moe.router.weight.copy_(engine.tensor(w.wr, [E, D]));
        moe.w1.copy_(engine.tensor(w.w1, [E, D, F]));
        moe.w2.copy_(engine.tensor(w.w2, [E, F, D]));
        if (moe.w3) moe.w3.copy_(engine.tensor(w.w3!, [E, D, F]));
      }),
    );
    return { moe, w };
  }

  const refCfg = (c: MoEConfigInput): RefCfg => ({
    E: c.numExperts, k: c.topK ?? 2, D: c.dModel, F: c.dFF, scoring: c.scoring ?? 'softmax', renormalize: c.renormalize ?? false, activation: c.activation ?? 'gelu',
  });

  // ---------------------------------------------------------------- forward and gradients

  const VARIANTS: Partial<MoEConfigInput>[] = [
    { scoring: 'softmax', renormalize: false, activation: 'gelu', topK: 2 },
    { scoring: 'sigmoid', renormalize: true, activation: 'swiglu', topK: 3 },
  ];
  for (const v of VARIANTS) {
    itBoth(`MoE forward equals the float64 reference (${v.scoring}, renormalize ${v.renormalize}, ${v.activation}, top-${v.topK})`, async (impl) => {
      const cfg: MoEConfigInput = { dModel: 6, dFF: 5, numExperts: 4, ...v, implementation: impl };
      const { moe, w } = makeMoE(cfg, 11);
      const [B, T] = [2, 3];
      const xv = hostRandom(B * T * 6, 5);
      const x = engine.tensor(xv, [B, T, 6]);
      const y = engine.tidy(() => engine.noGrad(() => moe.forward(x)));
      expect(y.shape).to.deep.equal([B, T, 6]);
      assertClose(await values(y), moeRef(xv, B * T, w, refCfg(cfg)).y, FWD, 'moe forward');
      disposeAll(x, y);
      moe.dispose();
    });
  }

  itBoth('gradients through router and experts match float64 finite differences', async (impl) => {
    const cfg: MoEConfigInput = { dModel: 4, dFF: 3, numExperts: 4, topK: 2, activation: 'swiglu', scoring: 'softmax', renormalize: true, implementation: impl };
    const { moe, w } = makeMoE(cfg, 21);
    const N = 5;
    const xv = hostRandom(N * 4, 22);
    const rv = hostRandom(N * 4, 23);
    const rc = refCfg(cfg);
    const L = (xx: number[], ww: RefWeights) => moeRef(xx, N, ww, rc).y.reduce((a, v, i) => a + v * rv[i], 0);
    const x = engine.tensor(xv, [N, 4]).requiresGrad_(true);
    const r = engine.tensor(rv, [N, 4]);
    moe.loadBalancer.reset();
    const loss = engine.tidy(() => moe.forward(x).mul(r).sum());
    loss.backward();
    loss.dispose();
    moe.loadBalancer.reset(); // this test checks the FFN path only
    const fd = (get: () => number[], set: (v: number[]) => void) => {
      const base = get();
      return base.map((_, i) => {
        const h = 1e-5;
        const p = base.slice();
        p[i] += h;
        set(p);
        const up = L(xv, w);
        p[i] -= 2 * h;
        set(p);
        const dn = L(xv, w);
        set(base);
        return (up - dn) / (2 * h);
      });
    };
    const fdX = xv.map((_, i) => {
      const h = 1e-5;
      const p = xv.slice();
      p[i] += h;
      const up = L(p, w);
      p[i] -= 2 * h;
      return (up - L(p, w)) / (2 * h);
    });
    assertClose(await values(x.grad!), fdX, GRAD, 'dL/dx');
    const checks: [Tensor, keyof RefWeights][] = [[moe.router.weight, 'wr'], [moe.w1, 'w1'], [moe.w2, 'w2'], [moe.w3!, 'w3']];
    for (const [p, key] of checks) {
      const expected = fd(() => w[key]!, (v) => (w[key] = v));
      assertClose(await values(p.grad!), expected, GRAD, `dL/d${key}`);
    }
    moe.zeroGrad();
    disposeAll(x, x.grad, r);
    moe.dispose();
  });

  itBoth('shared experts add a dense MLP to the routed output; the router and act hook sites fire', async (impl) => {
    const cfg: MoEConfigInput = { dModel: 6, dFF: 5, numExperts: 4, topK: 2, sharedExperts: 1, implementation: impl };
    const { moe, w } = makeMoE(cfg, 31);
    const xv = hostRandom(4 * 6, 32);
    const x = engine.tensor(xv, [4, 6]);
    const seen: string[] = [];
    const off1 = moe.registerHook('router', (a, site) => void seen.push(`${site} ${a.shape.join('x')}`));
    const off2 = moe.registerHook('act', (a, site) => void seen.push(`${site} ${a.shape.join('x')}`));
    const [y, dense] = engine.tidy(() => engine.noGrad(() => [moe.forward(x), moe.shared!.at(0).forward(x)]));
    off1();
    off2();
    const routed = moeRef(xv, 4, w, refCfg(cfg)).y;
    const d = await values(dense);
    assertClose(await values(y), routed.map((v, i) => v + d[i]), FWD, 'routed + shared');
    expect(seen).to.include('router 4x4');
    if (impl === 'composed') expect(seen).to.include('act 4x4x5'); // (E, N, F)
    disposeAll(x, y, dense);
    moe.dispose();
  });

  // ---------------------------------------------------------------- load-balancing identities

  /** Route logits (N, E) and report them to `b` as layer `key` (LBL weight 1, z weight 1). */
  function report(b: LoadBalancer, key: object, logits: Tensor, k: number, impl: MoEImplementation): void {
    engine.tidy(() => {
      const r = moeRouter(logits, k, { scoring: 'softmax', renormalize: false }, impl);
      const z = r.lse.square().mean();
      b.record(key, { counts: r.counts, scoreSums: r.scoreSums, zLoss: z, tokens: logits.shape[0], numExperts: logits.shape[1], topK: k, lblWeight: 1, zLossWeight: 1 });
    });
  }
  const lblValue = async (b: LoadBalancer) => {
    const t = b.terms();
    const v = await t.lbl.item();
    disposeAll(t.lbl, t.zLoss, t.total);
    return v;
  };
  /** Rows of logits: huge negative outside `allowed`, small random inside. */
  const halfLogits = (N: number, E: number, allowed: number[], seed: number) => {
    const r = hostRandom(N * E, seed);
    return Array.from({ length: N }, (_, n) => Array.from({ length: E }, (_, e) => (allowed.includes(e) ? 0.01 * r[n * E + e] : -30)));
  };

  itBoth('uniform routing gives LBL = 1 (Megatron normalisation), through the MoE layer', async (impl) => {
    const { moe } = makeMoE({ dModel: 6, dFF: 5, numExperts: 4, topK: 2, implementation: impl }, 41);
    engine.tidy(() => engine.noGrad(() => void moe.router.weight.copy_(engine.zeros([4, 6])))); // logits 0: P uniform
    const x = engine.tensor(hostRandom(8 * 6, 42), [8, 6]);
    engine.tidy(() => void moe.forward(x));
    expect(await lblValue(moe.loadBalancer)).to.be.closeTo(1, 1e-6);
    // Round-robin top-1 assignments (f uniform) with non-uniform P: LBL = Σ P = 1 as well.
    const b = new LoadBalancer(engine);
    const rows = Array.from({ length: 8 }, (_, n) => Array.from({ length: 4 }, (_, e) => (e === n % 4 ? 2 : 0.3 * e)));
    const lg = engine.tensor(rows);
    report(b, moe, lg, 1, impl);
    expect(await lblValue(b)).to.be.closeTo(1, 1e-6);
    disposeAll(x, lg);
    b.dispose();
    moe.dispose();
  });

  itBoth('a single micro-batch gives micro = global = buffer = N_E Σ f P on the host', async (impl) => {
    const E = 6;
    const rows = Array.from({ length: 10 }, (_, n) => hostRandom(E, 50 + n).map((v) => 2 * v));
    const lg = engine.tensor(rows);
    const vals: number[] = [];
    for (const scope of ['micro', 'global', 'buffer'] as const) {
      const b = new LoadBalancer(engine, { scope });
      report(b, lg, lg, 2, impl);
      vals.push(await lblValue(b));
      b.dispose();
    }
    const scores = rows.map(softmaxRow);
    const expected = lblOf(hostF(scores.map((s) => topkIdx(s, 2)), E), hostP(scores, E));
    for (const v of vals) expect(v).to.be.closeTo(expected, 1e-5);
    lg.dispose();
  });

  itBoth('two micro-batches on disjoint halves of the experts: micro ≈ 2, global ≈ 1, buffer f ends at the global f', async (impl) => {
    const [N, E, k] = [6, 4, 2];
    const a = engine.tensor(halfLogits(N, E, [0, 1], 60));
    const c = engine.tensor(halfLogits(N, E, [2, 3], 61));
    const key = {};
    const micro = new LoadBalancer(engine, { scope: 'micro' });
    const global = new LoadBalancer(engine, { scope: 'global' });
    const buffer = new LoadBalancer(engine, { scope: 'buffer' });
    for (const b of [micro, global, buffer]) for (const lg of [a, c]) report(b, key, lg, k, impl);
    const fg = global.expertFractions(); // (1, E)
    const fGlobal = await values(fg);
    fg.dispose();
    const fb = buffer.expertFractions();
    const fBuffer = await values(fb);
    fb.dispose();
    assertClose(fGlobal, [0.25, 0.25, 0.25, 0.25], FWD, 'global f');
    assertClose(fBuffer, fGlobal, FWD, 'buffer f at the last micro-step');
    expect(await lblValue(micro)).to.be.closeTo(2, 1e-5);
    expect(await lblValue(global)).to.be.closeTo(1, 1e-5);
    // Buffer: micro-step 1 sees only itself (2), micro-step 2 sees both (1): mean 1.5.
    expect(await lblValue(buffer)).to.be.closeTo(1.5, 1e-5);
    // Loop with one loss per micro-step, then endStep() resets the buffer: micro-step 1 of the next step sees itself only.
    buffer.endStep();
    report(buffer, key, a, k, impl);
    expect(await lblValue(buffer)).to.be.closeTo(2, 1e-5);
    report(buffer, key, c, k, impl);
    expect(await lblValue(buffer)).to.be.closeTo(1, 1e-5);
    buffer.endStep();
    report(buffer, key, c, k, impl);
    const f1 = buffer.expertFractions();
    assertClose(await values(f1), [0, 0, 0.5, 0.5], FWD, 'buffer f after a reset');
    f1.dispose();
    for (const b of [micro, global, buffer]) b.dispose();
    disposeAll(a, c);
  });

  itBoth('global LBL over unequal micro-batches equals N_E Σ f̄ P̄ over all their tokens', async (impl) => {
    const E = 5;
    const rows = Array.from({ length: 9 }, (_, n) => hostRandom(E, 70 + n).map((v) => 3 * v));
    const parts = [engine.tensor(rows.slice(0, 3)), engine.tensor(rows.slice(3))];
    const all = engine.tensor(rows);
    const g = new LoadBalancer(engine, { scope: 'global' });
    for (const p of parts) report(g, g, p, 2, impl);
    const m = new LoadBalancer(engine, { scope: 'micro' });
    report(m, m, all, 2, impl);
    const [vg, vm] = [await lblValue(g), await lblValue(m)];
    expect(vg).to.be.closeTo(vm, 1e-5);
    disposeAll(parts, all);
    g.dispose();
    m.dispose();
  });

  itBoth('f carries no gradient: dLBL/dlogits = (N_E/N) s_nj (f_j - Σ_i f_i s_ni) with f constant (micro and global)', async (impl) => {
    const E = 4;
    const rowsA = Array.from({ length: 5 }, (_, n) => hostRandom(E, 80 + n).map((v) => 2 * v));
    const rowsB = Array.from({ length: 3 }, (_, n) => hostRandom(E, 90 + n).map((v) => 2 * v));
    for (const scope of ['micro', 'global'] as const) {
      const la = engine.tensor(rowsA).requiresGrad_(true);
      const lb = engine.tensor(rowsB).requiresGrad_(true);
      const b = new LoadBalancer(engine, { scope });
      report(b, b, la, 2, impl);
      report(b, b, lb, 2, impl);
      const t = b.terms();
      t.lbl.backward();
      const sa = rowsA.map(softmaxRow);
      const sb = rowsB.map(softmaxRow);
      const selA = sa.map((s) => topkIdx(s, 2));
      const selB = sb.map((s) => topkIdx(s, 2));
      const nTot = 8;
      // micro: LBL = Σ_j (N_j/N) LBL_j, so the factor for group j is (N_j/N)(N_E/N_j) = N_E/N with f_j local.
      const fA = scope === 'global' ? hostF([...selA, ...selB], E) : hostF(selA, E);
      const fB = scope === 'global' ? fA : hostF(selB, E);
      const expect1 = (s: number[][], f: number[]) => s.flatMap((row) => {
        const fs = row.reduce((acc, v, i) => acc + f[i] * v, 0);
        return row.map((v, j) => (E / nTot) * v * (f[j] - fs));
      });
      assertClose(await values(la.grad!), expect1(sa, fA), GRAD, `${scope}: dLBL/dlogits (group A)`);
      assertClose(await values(lb.grad!), expect1(sb, fB), GRAD, `${scope}: dLBL/dlogits (group B)`);
      disposeAll(t.lbl, t.zLoss, t.total, la.grad, lb.grad, la, lb);
      b.dispose();
    }
  });

  itBoth('global scope over two simulated data-parallel replicas: f̄ from the all-reduced counts, P local', async (impl) => {
    const E = 4;
    const rowsA = halfLogits(4, E, [0, 1], 100);
    const rowsB = halfLogits(4, E, [1, 2, 3], 101);
    const la = engine.tensor(rowsA);
    const lb = engine.tensor(rowsB);
    // Replica B's counts, as replica A's collective would deliver them.
    const countsB = engine.tidy(() => {
      const r = moeRouter(lb, 2, { scoring: 'softmax', renormalize: false }, impl);
      return r.counts.to('f32');
    });
    const calls: number[] = [];
    const replicaA = new LoadBalancer(engine, { scope: 'global', allReduce: (c) => (calls.push(c.size), c.add(countsB)) });
    report(replicaA, replicaA, la, 2, impl);
    const f = replicaA.expertFractions();
    const sa = rowsA.map(softmaxRow);
    const sb = rowsB.map(softmaxRow);
    const fBar = hostF([...sa, ...sb].map((s) => topkIdx(s, 2)), E);
    assertClose(await values(f), fBar, FWD, 'f̄ over both replicas');
    expect(await lblValue(replicaA)).to.be.closeTo(lblOf(fBar, hostP(sa, E)), 1e-5);
    expect(calls).to.deep.equal([E, E]);
    // The identity collective (one replica) gives the local f.
    const solo = new LoadBalancer(engine, { scope: 'global' });
    report(solo, solo, la, 2, impl);
    expect(await lblValue(solo)).to.be.closeTo(lblOf(hostF(sa.map((s) => topkIdx(s, 2)), E), hostP(sa, E)), 1e-5);
    disposeAll(la, lb, countsB, f);
    replicaA.dispose();
    solo.dispose();
  });

  itBoth('z-loss equals mean_n logsumexp(logits_n)² and enters the total with its weight', async (impl) => {
    const { moe, w } = makeMoE({ dModel: 6, dFF: 5, numExperts: 4, topK: 2, zLossWeight: 0.5, lblWeight: 0.1, implementation: impl }, 111);
    const N = 7;
    const xv = hostRandom(N * 6, 112);
    const x = engine.tensor(xv, [N, 6]);
    engine.tidy(() => void moe.forward(x));
    const t = moe.loadBalancer.terms();
    const logits = Array.from({ length: N }, (_, n) => Array.from({ length: 4 }, (_, e) => {
      let s = 0;
      for (let d = 0; d < 6; d++) s += xv[n * 6 + d] * w.wr[e * 6 + d];
      return s;
    }));
    const z = logits.reduce((a, r) => a + lse(r) ** 2, 0) / N;
    const scores = logits.map(softmaxRow);
    const lbl = lblOf(hostF(scores.map((s) => topkIdx(s, 2)), 4), hostP(scores, 4));
    expect(await t.zLoss.item()).to.be.closeTo(z, 1e-4 * Math.max(1, z));
    expect(await t.lbl.item()).to.be.closeTo(lbl, 1e-5);
    expect(await t.total.item()).to.be.closeTo(0.1 * lbl + 0.5 * z, 1e-4);
    disposeAll(t.lbl, t.zLoss, t.total, x);
    moe.dispose();
  });

  itNoLeak('evaluation and noGrad forwards record nothing; a loop that never takes the aux loss fails loudly', async () => {
    const { moe } = makeMoE({ dModel: 6, dFF: 5, numExperts: 4, implementation: 'composed' }, 121);
    const x = engine.tensor(hostRandom(12, 122), [2, 6]);
    engine.tidy(() => void engine.noGrad(() => moe.forward(x)));
    moe.eval();
    engine.tidy(() => void moe.forward(x));
    expect(moe.loadBalancer.pendingForwards).to.equal(0);
    moe.train();
    const small = new LoadBalancer(engine, { maxPending: 2 });
    moe.setLoadBalancer(small);
    engine.tidy(() => void moe.forward(x));
    engine.tidy(() => void moe.forward(x));
    expect(() => engine.tidy(() => void moe.forward(x))).to.throw(/auxLoss/);
    small.dispose();
    x.dispose();
    moe.dispose();
  });

  // ---------------------------------------------------------------- routing statistics

  itBoth('RoutingMonitor accumulates counts per layer and per domain on the GPU until read', async (impl) => {
    const { moe, w } = makeMoE({ dModel: 6, dFF: 5, numExperts: 4, topK: 2, implementation: impl }, 131);
    const [B, T] = [3, 4];
    const xv = hostRandom(B * T * 6, 132);
    const x = engine.tensor(xv, [B, T, 6]);
    const dom = engine.tensor([1, 0, 1], undefined, { dtype: 'i32' });
    const mon = new RoutingMonitor(engine, { numDomains: 2 });
    moe.setRoutingMonitor(mon);
    mon.setDomains(dom);
    engine.tidy(() => void engine.noGrad(() => moe.forward(x)));
    engine.tidy(() => void engine.noGrad(() => moe.forward(x))); // twice: counts double
    const { sel } = moeRef(xv, B * T, w, refCfg({ dModel: 6, dFF: 5, numExperts: 4 }));
    const counts = [0, 0, 0, 0];
    const byDom = [[0, 0, 0, 0], [0, 0, 0, 0]];
    sel.forEach((s, n) => s.forEach((e) => {
      counts[e] += 2;
      byDom[[1, 0, 1][Math.floor(n / T)]][e] += 2;
    }));
    const r = await mon.read();
    expect(r.layers.length).to.equal(1);
    assertClose(r.layers[0].counts, counts, FWD, 'counts');
    assertClose(r.layers[0].byDomain!.flat(), byDom.flat(), FWD, 'per-domain counts');
    assertClose(r.layers[0].domainTokens!, [2 * T, 4 * T], FWD, 'tokens per domain');
    mon.dispose();
    moe.setRoutingMonitor(null);
    disposeAll(x, dom);
    moe.dispose();
  });

  // ---------------------------------------------------------------- TransformerLM

  const LM: TransformerLMConfigInput = { vocabSize: 13, dModel: 16, nLayers: 2, nHeads: 2, dFF: 16, maxSeqLen: 16, ffn: 'moe', moe: { numExperts: 4, topK: 2, zLossWeight: 1e-3 } };

  itBoth('an MoE TransformerLM trains on a tiny batch (loss falls clearly) with the aux loss', async (impl) => {
    engine.manualSeed(7);
    const model = new TransformerLM(engine, { ...LM, moe: { ...LM.moe, implementation: impl } });
    expect(model.moeLayers.length).to.equal(2);
    const seq = Array.from({ length: 2 }, (_, r) => hostRandom(9, 140 + r).map((v) => Math.floor(((v + 1) / 2) * 13)));
    const x = engine.tensor(seq.map((r) => r.slice(0, 8)), undefined, { dtype: 'i32' });
    const y = engine.tensor(seq.map((r) => r.slice(1)), undefined, { dtype: 'i32' });
    const opt = new AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0 });
    const first = engine.tidy(() => engine.noGrad(() => model.loss(x, y)));
    let last: Tensor | null = null;
    let aux: Tensor | null = null;
    for (let step = 1; step <= 30; step++) {
      last?.dispose();
      aux?.dispose();
      [last, aux] = engine.tidy(() => {
        opt.zeroGrad();
        const ce = model.loss(x, y);
        const a = model.auxLoss();
        ce.add(a).backward();
        opt.step();
        return [ce.detach(), a.detach()];
      });
      if (step % 10 === 0) expect(Number.isFinite(await last.item())).to.equal(true);
    }
    const [l0, l1, a1] = [await first.item(), await last!.item(), await aux!.item()];
    expect(l1).to.be.lessThan(0.6 * l0);
    expect(a1).to.be.greaterThan(0); // α·LBL (≈ α at balance) + β·z
    expect(model.loadBalancer!.pendingForwards).to.equal(0);
    disposeAll(first, last, aux, x, y);
    opt.dispose();
    model.dispose();
  });

  itNoLeak('MoE TransformerLM: config round-trips through JSON, hook sites, auxLoss zero in eval, dense models unchanged', async () => {
    engine.manualSeed(8);
    const model = new TransformerLM(engine, LM);
    const json = JSON.parse(JSON.stringify(model.config));
    expect(json.moe).to.include({ numExperts: 4, topK: 2, dFF: 16, scoring: 'softmax', zLossWeight: 1e-3 });
    const twin = new TransformerLM(engine, json);
    expect(twin.config).to.deep.equal(model.config);
    twin.loadStateDict(model.stateDict());
    const ids = engine.tensor([[1, 2, 3, 4]], undefined, { dtype: 'i32' });
    const sites: string[] = [];
    const off = model.registerHook('layers.1.mlp.router', (a, s) => void sites.push(`${s} ${a.shape.join('x')}`));
    model.eval();
    twin.eval();
    const [a, b, aux] = engine.tidy(() => [model.forward(ids), twin.forward(ids), model.auxLoss()]);
    off();
    assertClose(await values(a), await values(b), FWD, 'twin logits');
    expect(sites).to.deep.equal(['layers.1.mlp.router 4x4']);
    expect(await aux.item()).to.equal(0);
    expect(Object.keys(model.stateDict())).to.include.members(['layers.0.mlp.router.weight', 'layers.0.mlp.w1', 'layers.0.mlp.w2']);
    const dense = new TransformerLM(engine, { ...LM, ffn: 'gelu', moe: undefined });
    expect(dense.moeLayers.length).to.equal(0);
    const z = dense.auxLoss();
    expect(await z.item()).to.equal(0);
    expect(() => new TransformerLM(engine, { ...LM, moe: { numExperts: 2, topK: 3 } })).to.throw(/topK/);
    disposeAll(a, b, aux, z, ids);
    for (const m of [model, twin, dense]) m.dispose();
  });

  it('moeExperts composed equals the fused kernel, values and gradients', async function () {
    const live0 = engine.memory().liveBuffers;
    const [N, D, F, E, k] = [9, 6, 5, 4, 2];
    const x = engine.tensor(hostRandom(N * D, 150), [N, D]).requiresGrad_(true);
    const w1 = engine.tensor(hostRandom(E * D * F, 151), [E, D, F]).requiresGrad_(true);
    const w2 = engine.tensor(hostRandom(E * F * D, 152), [E, F, D]).requiresGrad_(true);
    const logits = engine.tensor(hostRandom(N * E, 153), [N, E]).requiresGrad_(true);
    const out: number[][] = [];
    for (const impl of ['composed', 'fused'] as const) {
      const y = engine.tidy(() => {
        const r = moeRouter(logits, k, { scoring: 'softmax', renormalize: false }, impl);
        return moeExperts(x, r.indices, r.weights, w1, w2, { activation: 'gelu' }, impl).square().sum();
      });
      y.backward();
      out.push([await y.item(), ...(await values(x.grad!)), ...(await values(w1.grad!)), ...(await values(logits.grad!))]);
      for (const t of [x, w1, w2, logits]) {
        t.grad?.dispose();
        t.grad = null;
      }
      y.dispose();
    }
    assertClose(out[1], out[0], GRAD, 'fused vs composed');
    disposeAll(x, w1, w2, logits);
    expect(engine.memory().liveBuffers).to.equal(live0);
  });
});
