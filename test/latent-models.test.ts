// Shared pieces of the causal-world-model method: GroupedLinear against a float64 per-group loop
// (forward and weight/input gradients), the diagonal-Gaussian KL against its closed form and a Monte
// Carlo estimate, the log-density against float64, reparameterised samples' moments, and slot-constrained
// greedy decoding against a step-by-step reference on a small TransformerLM.
import { expect } from 'chai';
import { ShapeError, RangeArgumentError, type Engine } from '../engine/index.js';
import { GroupedLinear, SeededRng, TransformerLM, greedyDecodeInRanges, normalKL, normalLogProb, reparameterize, standardNormalKL } from '../nn/index.js';
import { assertClose } from './helpers/compare.js';
import { gpuEngine } from './helpers/gpu.js';
import { disposeAll, values } from './helpers/tensors.js';

const randoms = (n: number, rng: SeededRng, scale = 1) => Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);

describe('latent models: GroupedLinear, Gaussian KL, constrained decoding', function () {
  this.timeout(60_000);
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('GroupedLinear: y[g] = x[g] W[g] + b[g] and its gradients match a float64 per-group loop; a shared (B, in) input', async function () {
    const rng = new SeededRng('grouped');
    const G = 3, B = 5, I = 7, O = 4;
    const layer = new GroupedLinear(engine, G, I, O);
    const xs = randoms(G * B * I, rng), r = randoms(G * B * O, rng);
    const x = engine.tensor(xs, [G, B, I]).requiresGrad_(true);
    const y = layer.forward(x);
    const loss = y.mul(engine.tensor(r, [G, B, O])).sum();
    loss.backward();
    const W = await values(layer.weight), b = await values(layer.bias!);
    const ref = new Float64Array(G * B * O), dW = new Float64Array(G * I * O), dX = new Float64Array(G * B * I), dB = new Float64Array(G * O);
    for (let g = 0; g < G; g++) for (let i = 0; i < B; i++) for (let o = 0; o < O; o++) {
      let s = b[g * O + o];
      for (let k = 0; k < I; k++) s += xs[(g * B + i) * I + k] * W[(g * I + k) * O + o];
      ref[(g * B + i) * O + o] = s;
      const ro = r[(g * B + i) * O + o];
      dB[g * O + o] += ro;
      for (let k = 0; k < I; k++) {
        dW[(g * I + k) * O + o] += xs[(g * B + i) * I + k] * ro;
        dX[(g * B + i) * I + k] += W[(g * I + k) * O + o] * ro;
      }
    }
    assertClose(await values(y), ref, { rtol: 1e-5, atol: 1e-5 }, 'forward');
    assertClose(await values(layer.weight.grad!), dW, { rtol: 1e-5, atol: 1e-5 }, 'dW');
    assertClose(await values(layer.bias!.grad!), dB, { rtol: 1e-5, atol: 1e-5 }, 'db');
    assertClose(await values(x.grad!), dX, { rtol: 1e-5, atol: 1e-5 }, 'dx');
    // A (B, in) input is shared by every group: the same as stacking it G times.
    const shared = engine.tensor(xs.slice(0, B * I), [B, I]);
    const ys = await values(layer.forward(shared));
    const yStack = await values(layer.forward(shared.unsqueeze(0).expand(G, B, I)));
    assertClose(ys, yStack, { rtol: 1e-6, atol: 1e-6 }, 'shared input');
    expect(() => layer.forward(engine.zeros([2, B, I]))).to.throw(ShapeError, /GroupedLinear.forward: input \[2, 5, 7\] must be \(3, B, 7\)/);
    const zero = new GroupedLinear(engine, G, 1, O, { zeroInit: true });
    expect((await values(zero.weight)).every((v) => v === 0)).to.equal(true);
    disposeAll(x, y, loss, shared);
    layer.dispose();
    zero.dispose();
  });

  it('normalKL equals the float64 closed form and a Monte Carlo estimate; standardNormalKL is the N(0, 1) case; KL(p‖p) = 0', async function () {
    const rng = new SeededRng('kl');
    const n = 6;
    const mq = randoms(n, rng, 2), sq = randoms(n, rng, 1), mp = randoms(n, rng, 2), sp = randoms(n, rng, 1);
    const t = (a: number[]) => engine.tensor(a, [n]);
    const kl = await values(normalKL(t(mq), t(sq), t(mp), t(sp)));
    const closed = mq.map((_, i) => sp[i] - sq[i] + (Math.exp(2 * sq[i]) + (mq[i] - mp[i]) ** 2) / (2 * Math.exp(2 * sp[i])) - 0.5);
    assertClose(kl, closed, { rtol: 1e-5, atol: 1e-5 }, 'closed form');
    // Monte Carlo: E_q[log q − log p] from 200k float64 draws per element (standard error well under 0.02 here).
    const normal = () => Math.sqrt(-2 * Math.log(rng.next() || 1e-12)) * Math.cos(2 * Math.PI * rng.next());
    const logN = (x: number, m: number, s: number) => -0.5 * ((x - m) / Math.exp(s)) ** 2 - s - 0.5 * Math.log(2 * Math.PI);
    for (let i = 0; i < n; i++) {
      let acc = 0;
      const M = 200_000;
      for (let k = 0; k < M; k++) {
        const x = mq[i] + Math.exp(sq[i]) * normal();
        acc += logN(x, mq[i], sq[i]) - logN(x, mp[i], sp[i]);
      }
      expect(acc / M, `element ${i}`).to.be.closeTo(closed[i], 0.05 + 0.01 * closed[i]);
    }
    const std = await values(standardNormalKL(t(mq), t(sq)));
    assertClose(std, await values(normalKL(t(mq), t(sq), engine.zeros([n]), engine.zeros([n]))), { rtol: 1e-5, atol: 1e-6 }, 'standard normal');
    assertClose(await values(normalKL(t(mq), t(sq), t(mq), t(sq))), new Array(n).fill(0), { rtol: 0, atol: 1e-6 }, 'KL(p‖p)');
    expect(() => normalKL(engine.zeros([2]), engine.zeros([3]), engine.zeros([2]), engine.zeros([2]))).to.throw(ShapeError, /normalKL: shapes \[2\], \[3\], \[2\], \[2\] do not broadcast/);
  });

  it('normalLogProb matches float64; reparameterize draws have the asked mean and std and pass gradients to both', async function () {
    const rng = new SeededRng('logp');
    const n = 5;
    const x = randoms(n, rng, 3), m = randoms(n, rng, 1), s = randoms(n, rng, 1);
    const lp = await values(normalLogProb(engine.tensor(x, [n]), engine.tensor(m, [n]), engine.tensor(s, [n])));
    assertClose(lp, x.map((v, i) => -0.5 * ((v - m[i]) / Math.exp(s[i])) ** 2 - s[i] - 0.5 * Math.log(2 * Math.PI)), { rtol: 1e-5, atol: 1e-5 });
    engine.manualSeed(3);
    const N = 40_000;
    const mu = engine.full([N], 1.5).requiresGrad_(true), ls = engine.full([N], Math.log(0.5)).requiresGrad_(true);
    const z = reparameterize(mu, ls);
    const zs = await values(z);
    const mean = zs.reduce((a, v) => a + v, 0) / N;
    const sd = Math.sqrt(zs.reduce((a, v) => a + (v - mean) ** 2, 0) / (N - 1));
    expect(mean).to.be.closeTo(1.5, 0.02);
    expect(sd).to.be.closeTo(0.5, 0.02);
    z.sum().backward();
    expect((await values(mu.grad!)).every((g) => Math.abs(g - 1) < 1e-6)).to.equal(true);
    // d z / d logStd = σ ε = z − mu.
    assertClose(await values(ls.grad!), zs.map((v) => v - 1.5), { rtol: 1e-4, atol: 1e-5 }, 'dz/dlogStd');
    disposeAll(mu, ls, z);
  });

  it('greedyDecodeInRanges: each token is the argmax of its range, step by step as a reference loop; bad ranges are named', async function () {
    engine.manualSeed(11);
    const lm = new TransformerLM(engine, { vocabSize: 20, dModel: 16, nLayers: 1, nHeads: 2, dFF: 32, maxSeqLen: 12, dropout: 0 });
    lm.train(false);
    const prompt = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 9, 0, 1]];
    const ranges: [number, number][] = [[0, 5], [5, 12], [12, 20], [3, 4]];
    const out = greedyDecodeInRanges(lm, engine.tensor(Int32Array.from(prompt.flat()), [3, 4], { dtype: 'i32' }), ranges);
    expect(out.shape).to.deep.equal([3, 4]);
    const got = await values(out);
    // Reference: one sequence at a time, argmax over the range of the last position's logits (ties to the lower id).
    for (let b = 0; b < 3; b++) {
      const seq = prompt[b].slice();
      for (const [lo, hi] of ranges) {
        const logits = await values(engine.noGrad(() => lm.forward(engine.tensor(Int32Array.from(seq), [1, seq.length], { dtype: 'i32' }))));
        const last = logits.slice((seq.length - 1) * 20, seq.length * 20);
        let best = lo;
        for (let v = lo + 1; v < hi; v++) if (last[v] > last[best]) best = v;
        seq.push(best);
      }
      expect(got.slice(b * 4, b * 4 + 4), `row ${b}`).to.deep.equal(seq.slice(4));
    }
    expect(() => greedyDecodeInRanges(lm, engine.tensor(Int32Array.from([1, 2]), [1, 2], { dtype: 'i32' }), [[3, 30]])).to.throw(RangeArgumentError, /range \[3, 30\) is not inside the vocabulary of 20 tokens/);
    expect(() => greedyDecodeInRanges(lm, engine.zeros([1, 2]), [[0, 3]])).to.throw(ShapeError, /prompt must be \(B, T\) i32/);
    out.dispose();
    lm.dispose();
  });
});
