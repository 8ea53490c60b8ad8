// Device snapshots of a model and its optimizer (nn/snapshot.ts) and flat parameter/gradient vectors
// (nn/vector.ts): restore gives back the exact values (bit for bit) and a fresh optimizer where the
// snapshot was taken before any step; training on after a restore repeats the same losses exactly;
// vectors match the host concatenation; no readback is needed and nothing leaks.
import { expect } from 'chai';
import type { Engine, Tensor } from '../engine/index.js';
import {
  AdamW, Linear, Module, ModuleSnapshot, OptimizerSnapshot, SGD, TrainingSnapshot, gradientsToVector, parametersToVector, vectorToParameters,
} from '../nn/index.js';
import { assertClose, assertEqualArrays } from './helpers/compare.js';
import { gpuEngine } from './helpers/gpu.js';
import { disposeAll, values } from './helpers/tensors.js';

class TwoLayer extends Module {
  readonly a: Linear;
  readonly b: Linear;
  constructor(engine: Engine) {
    super(engine);
    this.a = this.registerModule('a', new Linear(engine, 5, 7));
    this.b = this.registerModule('b', new Linear(engine, 7, 3, { bias: false }));
  }
  forward(x: Tensor): Tensor {
    return this.b.forward(this.a.forward(x).tanh());
  }
}

describe('snapshots and parameter vectors', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  const hostData = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.37));
  const batch = (seed: number) => engine.tensor(hostData(4 * 5, seed), [4, 5]);
  /** One training step on batch `seed`; returns the loss (kept). */
  const step = (m: TwoLayer, opt: AdamW | SGD, seed: number): Tensor =>
    engine.keep(engine.tidy(() => {
      opt.zeroGrad();
      const x = batch(seed);
      const loss = m.forward(x).square().mean();
      loss.backward();
      opt.step();
      return loss.detach();
    }));
  const snapshotValues = async (m: Module) => Promise.all(m.parameters().map((p) => values(p)));

  it('ModuleSnapshot.restore puts back the exact parameters in the same tensors and drops gradients', async function () {
    engine.manualSeed(1);
    const m = new TwoLayer(engine);
    const opt = new SGD(m.parameters(), { lr: 0.1 });
    const before = await snapshotValues(m);
    const objects = m.parameters();
    const snap = new ModuleSnapshot(m);
    for (let s = 0; s < 3; s++) step(m, opt, s).dispose();
    const moved = await snapshotValues(m);
    expect(moved.some((v, i) => v.some((x, j) => x !== before[i][j])), 'training moved the parameters').to.equal(true);
    snap.restore();
    const after = await snapshotValues(m);
    after.forEach((v, i) => assertEqualArrays(v, before[i], `parameter ${i}`));
    m.parameters().forEach((p, i) => {
      expect(p).to.equal(objects[i]);
      expect(p.grad).to.equal(null);
    });
    expect(Object.keys(snap.state)).to.deep.equal(Object.keys(m.stateDict()));
    snap.dispose();
    expect(() => snap.restore()).to.throw(/snapshot: restore after dispose/);
    opt.dispose();
    m.dispose();
  });

  it('TrainingSnapshot (model + AdamW): training on after a restore repeats the same losses bit for bit', async function () {
    engine.manualSeed(2);
    const m = new TwoLayer(engine);
    const opt = new AdamW(m.parameters(), { lr: 0.05, weightDecay: 0.01 });
    step(m, opt, 0).dispose();
    step(m, opt, 1).dispose();
    const snap = new TrainingSnapshot(m, opt);
    const run = async () => {
      const ls = [2, 3, 4].map((s) => step(m, opt, s));
      const out = await Promise.all(ls.map((l) => l.item()));
      disposeAll(ls);
      return out;
    };
    const first = await run();
    const stepsAfter = opt.stepCount(m.parameters()[0]);
    snap.restore();
    expect(opt.stepCount(m.parameters()[0]), 'step count restored').to.equal(stepsAfter - 3);
    const second = await run();
    assertEqualArrays(second, first, 'losses after restore');
    snap.dispose();
    opt.dispose();
    m.dispose();
  });

  it('an OptimizerSnapshot taken before the first step makes the optimizer fresh again', async function () {
    engine.manualSeed(3);
    const m = new TwoLayer(engine);
    const init = new ModuleSnapshot(m);
    const opt = new AdamW(m.parameters(), { lr: 0.05 });
    const fresh = new OptimizerSnapshot(opt);
    const run = async () => {
      const ls = [0, 1, 2].map((s) => step(m, opt, s));
      const out = await Promise.all(ls.map((l) => l.item()));
      disposeAll(ls);
      return out;
    };
    const first = await run();
    init.restore();
    fresh.restore();
    expect(opt.stepCount(m.parameters()[0])).to.equal(0);
    assertEqualArrays(await run(), first, 'losses of a second run from the same start');
    init.dispose();
    fresh.dispose();
    opt.dispose();
    m.dispose();
  });

  it('snapshots hold their own copies and free them on dispose (no leak)', async function () {
    engine.manualSeed(4);
    const m = new TwoLayer(engine);
    const opt = new AdamW(m.parameters(), { lr: 0.05 });
    step(m, opt, 0).dispose();
    await engine.sync();
    const live = engine.memory().liveBuffers;
    const snap = new TrainingSnapshot(m, opt);
    // 3 parameters + 2 moments each
    expect(engine.memory().liveBuffers - live).to.equal(3 + 6);
    // Changing the model does not change the copy.
    engine.noGrad(() => engine.tidy(() => void m.parameters()[0].copy_(engine.zeros([7, 5]))));
    expect(await values(snap.model.state['a.weight'])).to.not.deep.equal(new Array(35).fill(0));
    snap.dispose();
    expect(engine.memory().liveBuffers).to.equal(live);
    opt.dispose();
    m.dispose();
  });

  it('parametersToVector / gradientsToVector concatenate in order; vectorToParameters inverts it', async function () {
    engine.manualSeed(5);
    const m = new TwoLayer(engine);
    const ps = m.parameters();
    const host = (await Promise.all(ps.map((p) => values(p)))).flat();
    const v = parametersToVector(ps);
    expect(v.shape).to.deep.equal([5 * 7 + 7 + 7 * 3]);
    assertEqualArrays(await values(v), host, 'parametersToVector');

    // Gradients: b's weight only takes part through the loss; a parameter without a grad gives zeros.
    engine.tidy(() => m.forward(batch(0)).sum().backward());
    const grads = (await Promise.all(ps.map((p) => values(p.grad!)))).flat();
    const g = gradientsToVector(ps);
    assertEqualArrays(await values(g), grads, 'gradientsToVector');
    ps[1].grad!.dispose();
    ps[1].grad = null;
    const g2 = gradientsToVector(ps);
    const expected = grads.map((x, i) => (i >= 35 && i < 42 ? 0 : x));
    assertEqualArrays(await values(g2), expected, 'a missing grad is zeros');

    // Dot and norm on the device against the host.
    const dot = await engine.tidy(() => g.mul(g2).sum()).item();
    assertClose([dot], [grads.reduce((a, x, i) => a + x * expected[i], 0)], { rtol: 1e-5, atol: 1e-6 });

    const shifted = engine.tidy(() => v.add(1));
    vectorToParameters(shifted, ps);
    assertClose((await Promise.all(ps.map((p) => values(p)))).flat(), host.map((x) => x + 1), { rtol: 0, atol: 1e-6 });
    const bad = engine.zeros([3]);
    expect(() => vectorToParameters(bad, ps)).to.throw(/vectorToParameters: vector of shape \[3\] for parameters of 63 elements/);
    bad.dispose();
    disposeAll(v, g, g2, shifted);
    m.zeroGrad();
    m.dispose();
  });
});
