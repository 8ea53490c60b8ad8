// nn layers: LayerNorm, RMSNorm, Dropout, MLP, SwiGLU, Conv1d against float64 host references, and
// their gradients (input and parameters) against central finite differences of those references.
import { expect } from 'chai';
import type { Engine, Tensor } from '../engine/index.js';
import { Conv1d, Dropout, LayerNorm, Linear, MLP, RMSNorm, SwiGLU, type Module } from '../nn/index.js';
import { gelu as geluRef, silu as siluRef } from './reference/elementwise.js';
import { assertClose } from './helpers/compare.js';
import { gpuEngine, itNoLeak as itNoLeakOn } from './helpers/gpu.js';
import { disposeAll, values } from './helpers/tensors.js';

const FWD = { rtol: 1e-4, atol: 1e-5 };
const GRAD = { rtol: 2e-3, atol: 2e-4 };

/** Deterministic pseudo-random numbers in [-1, 1) (host side, so references see the same values); mulberry32, so nearby seeds give unrelated streams. */
export function hostRandom(n: number, seed: number): number[] {
  let a = (seed * 0x9e3779b9) >>> 0;
  return Array.from({ length: n }, () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * 2 - 1;
  });
}

// ------------------------------------------------------------------ float64 references on flat arrays

/** rows (N, in) @ W^T (out, in) + b -> (N, out) */
function linearRef(x: number[], n: number, w: number[], b: number[] | null, inF: number, outF: number): number[] {
  const y = new Array<number>(n * outF).fill(0);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < outF; o++) {
      let acc = b ? b[o] : 0;
      for (let i = 0; i < inF; i++) acc += x[r * inF + i] * w[o * inF + i];
      y[r * outF + o] = acc;
    }
  }
  return y;
}

function normRef(x: number[], d: number, w: number[] | null, b: number[] | null, eps: number, rms: boolean): number[] {
  const y = new Array<number>(x.length);
  for (let r = 0; r < x.length / d; r++) {
    const row = x.slice(r * d, (r + 1) * d);
    const mean = rms ? 0 : row.reduce((a, v) => a + v, 0) / d;
    const v = row.reduce((a, u) => a + (u - mean) ** 2, 0) / d;
    const rstd = 1 / Math.sqrt(v + eps);
    for (let i = 0; i < d; i++) y[r * d + i] = (row[i] - mean) * rstd * (w ? w[i] : 1) + (b ? b[i] : 0);
  }
  return y;
}

/** (B, C, L) conv with weight (O, C, K), a direct loop. */
function conv1dRef(x: number[], [B, C, L]: number[], w: number[], bias: number[] | null, O: number, K: number, stride: number, padding: number, dilation: number): number[] {
  const Lout = Math.floor((L + 2 * padding - dilation * (K - 1) - 1) / stride) + 1;
  const y = new Array<number>(B * O * Lout).fill(0);
  for (let b = 0; b < B; b++)
    for (let o = 0; o < O; o++)
      for (let t = 0; t < Lout; t++) {
        let acc = bias ? bias[o] : 0;
        for (let c = 0; c < C; c++)
          for (let k = 0; k < K; k++) {
            const pos = t * stride + k * dilation - padding;
            if (pos >= 0 && pos < L) acc += w[(o * C + c) * K + k] * x[(b * C + c) * L + pos];
          }
        y[(b * O + o) * Lout + t] = acc;
      }
  return y;
}

/** Central differences of a scalar host function of several flat arrays, w.r.t. array `which`. */
function fdGrad(f: (args: number[][]) => number, args: number[][], which: number, h = 1e-6): number[] {
  return args[which].map((_, i) => {
    const plus = args.map((a) => [...a]);
    const minus = args.map((a) => [...a]);
    plus[which][i] += h;
    minus[which][i] -= h;
    return (f(plus) - f(minus)) / (2 * h);
  });
}

describe('nn layers', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  const itNoLeak = (title: string, fn: () => Promise<void> | void) => itNoLeakOn(() => engine, title, fn);

  /** Overwrite a parameter with host values (so the reference knows them). */
  function setParam(p: Tensor, v: number[]): void {
    const t = engine.tensor(v, [...p.shape]);
    p.copy_(t);
    t.dispose();
  }

  /**
   * Forward against `ref` and gradients of sum(layer(x) * R) w.r.t. x and each named parameter
   * against central differences of sum(ref(...) * R) in float64.
   */
  async function checkLayer(
    layer: Module & { forward(x: Tensor): Tensor },
    xShape: number[],
    params: string[],
    ref: (x: number[], ps: number[][]) => number[],
    seed: number,
  ): Promise<void> {
    const n = xShape.reduce((a, b) => a * b, 1);
    const xv = hostRandom(n, seed).map((v) => 1.5 * v);
    const state = layer.stateDict();
    const pv = params.map((name, i) => {
      const v = hostRandom(state[name].size, seed + 17 * (i + 1));
      setParam(state[name], v);
      return v;
    });
    const expected = ref(xv, pv);
    const rv = hostRandom(expected.length, seed + 5);
    const x = engine.tensor(xv, xShape, { requiresGrad: true });
    const r = engine.tensor(rv, [expected.length]);
    layer.zeroGrad();
    const out = engine.tidy(() => layer.forward(x));
    assertClose(await values(out), expected, FWD, 'forward');
    const loss = engine.tidy(() => out.reshape([-1]).mul(r).sum());
    loss.backward();
    const f = (args: number[][]) => ref(args[0], args.slice(1)).reduce((a, v, i) => a + v * rv[i], 0);
    const all = [xv, ...pv];
    assertClose(await values(x.grad!), fdGrad(f, all, 0), GRAD, 'd/dx');
    for (let i = 0; i < params.length; i++) {
      assertClose(await values(state[params[i]].grad!), fdGrad(f, all, i + 1), GRAD, `d/d${params[i]}`);
    }
    layer.zeroGrad();
    disposeAll(x, r, out, loss);
  }

  itNoLeak('LayerNorm matches the float64 reference, with gradients for x, weight and bias', async () => {
    const ln = new LayerNorm(engine, 6);
    await checkLayer(ln, [2, 3, 6], ['weight', 'bias'], (x, [w, b]) => normRef(x, 6, w, b, 1e-5, false), 11);
    ln.dispose();
  });

  itNoLeak('LayerNorm without affine parameters normalises each row to mean 0, variance 1', async () => {
    const ln = new LayerNorm(engine, 5, { elementwiseAffine: false });
    expect(ln.parameters()).to.have.length(0);
    await checkLayer(ln, [4, 5], [], (x) => normRef(x, 5, null, null, 1e-5, false), 12);
    ln.dispose();
  });

  itNoLeak('RMSNorm matches the float64 reference, with gradients for x and weight', async () => {
    const rms = new RMSNorm(engine, 8);
    await checkLayer(rms, [3, 8], ['weight'], (x, [w]) => normRef(x, 8, w, null, 1e-6, true), 13);
    rms.dispose();
  });

  itNoLeak('Linear matches x W^T + b, with gradients', async () => {
    const lin = new Linear(engine, 5, 3);
    await checkLayer(lin, [2, 2, 5], ['weight', 'bias'], (x, [w, b]) => linearRef(x, 4, w, b, 5, 3), 14);
    lin.dispose();
  });

  itNoLeak('MLP is fc2(gelu(fc1 x)), with gradients for x and all four parameters; site act sees the GELU output', async () => {
    const mlp = new MLP(engine, 4, 8);
    const ref = (x: number[], [w1, b1, w2, b2]: number[][]) => {
      const h = linearRef(x, x.length / 4, w1, b1, 4, 8).map(geluRef);
      return linearRef(h, h.length / 8, w2, b2, 8, 4);
    };
    await checkLayer(mlp, [2, 3, 4], ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'], ref, 21);
    // The hook site `act`: (..., hidden) after the activation.
    let seen: number[] | null = null;
    const captured: Tensor[] = [];
    const remove = mlp.registerHook('act', (a) => {
      captured.push(engine.keep(a.detach()));
    });
    const xv = hostRandom(12, 3);
    const x = engine.tensor(xv, [3, 4]);
    const y = engine.tidy(() => mlp.forward(x));
    seen = await values(captured[0]);
    expect(captured[0].shape).to.deep.equal([3, 8]);
    const s = mlp.stateDict();
    const w1 = await values(s['fc1.weight']);
    const b1 = await values(s['fc1.bias']);
    assertClose(seen, linearRef(xv, 3, w1, b1, 4, 8).map(geluRef), FWD, 'act');
    remove();
    disposeAll(x, y, captured);
    mlp.dispose();
  });

  itNoLeak('SwiGLU is w2(silu(w1 x) * w3 x), with gradients', async () => {
    const sw = new SwiGLU(engine, 4, 6);
    expect(sw.namedParameters().map(([n]) => n)).to.deep.equal(['w1.weight', 'w3.weight', 'w2.weight']);
    const ref = (x: number[], [w1, w3, w2]: number[][]) => {
      const n = x.length / 4;
      const a = linearRef(x, n, w1, null, 4, 6);
      const b = linearRef(x, n, w3, null, 4, 6);
      return linearRef(a.map((v, i) => siluRef(v) * b[i]), n, w2, null, 6, 4);
    };
    await checkLayer(sw, [3, 4], ['w1.weight', 'w3.weight', 'w2.weight'], ref, 31);
    sw.dispose();
  });

  for (const cfg of [
    { C: 3, O: 4, K: 3, L: 9, stride: 1, padding: 0, dilation: 1 },
    { C: 2, O: 3, K: 3, L: 10, stride: 2, padding: 1, dilation: 1 },
    { C: 2, O: 2, K: 2, L: 9, stride: 1, padding: 2, dilation: 3 },
    { C: 1, O: 2, K: 1, L: 5, stride: 3, padding: 0, dilation: 1 },
  ]) {
    const name = `C${cfg.C} O${cfg.O} K${cfg.K} L${cfg.L} stride ${cfg.stride} padding ${cfg.padding} dilation ${cfg.dilation}`;
    itNoLeak(`Conv1d (${name}) matches a direct float64 loop, with gradients`, async () => {
      const conv = new Conv1d(engine, cfg.C, cfg.O, cfg.K, { stride: cfg.stride, padding: cfg.padding, dilation: cfg.dilation });
      const shape = [2, cfg.C, cfg.L];
      expect(conv.outputLength(cfg.L)).to.equal(Math.floor((cfg.L + 2 * cfg.padding - cfg.dilation * (cfg.K - 1) - 1) / cfg.stride) + 1);
      await checkLayer(conv, shape, ['weight', 'bias'], (x, [w, b]) => conv1dRef(x, shape, w, b, cfg.O, cfg.K, cfg.stride, cfg.padding, cfg.dilation), 41);
      conv.dispose();
    });
  }

  itNoLeak('Conv1d without bias, and output shape (B, C_out, L_out)', async () => {
    const conv = new Conv1d(engine, 2, 5, 4, { bias: false, stride: 2 });
    expect(conv.bias).to.equal(null);
    const x = engine.randn([3, 2, 11]);
    const y = engine.tidy(() => conv.forward(x));
    expect(y.shape).to.deep.equal([3, 5, 4]);
    expect(() => engine.tidy(() => conv.forward(engine.randn([3, 4, 11])))).to.throw(/Conv1d/);
    disposeAll(x, y);
    conv.dispose();
  });

  itNoLeak('Dropout is the identity in eval mode and inverted dropout in training', async () => {
    const drop = new Dropout(engine, 0.25);
    const xv = hostRandom(4000, 7).map((v) => v + 2); // all positive, away from 0
    const x = engine.tensor(xv, [40, 100], { requiresGrad: true });
    drop.eval();
    const y = engine.tidy(() => drop.forward(x));
    assertClose(await values(y), xv.map(Math.fround), { rtol: 0, atol: 0 }, 'eval output');
    drop.train();
    engine.manualSeed(123);
    const z = engine.tidy(() => drop.forward(x));
    const zv = await values(z);
    let zeros = 0;
    for (let i = 0; i < zv.length; i++) {
      if (zv[i] === 0) zeros++;
      else expect(Math.abs(zv[i] - xv[i] / 0.75)).to.be.below(1e-5);
    }
    // 1000 expected zeros, sd ~27: a 6-sigma band.
    expect(zeros).to.be.within(840, 1160);
    // Gradient: the same mask, scaled.
    const loss = engine.tidy(() => z.sum());
    loss.backward();
    const g = await values(x.grad!);
    g.forEach((v, i) => expect(v).to.be.closeTo(zv[i] === 0 ? 0 : 1 / 0.75, 1e-5));
    engine.manualSeed(123);
    const z2 = engine.tidy(() => drop.forward(x));
    assertClose(await values(z2), zv, { rtol: 0, atol: 0 }, 'same seed, same mask');
    disposeAll(x, y, z, z2, loss);
  });
});
