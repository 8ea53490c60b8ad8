// Anomaly detection (issue 22 item 4; PyTorch: torch.autograd.set_detect_anomaly): off by default and
// then no check is dispatched; on, op outputs and backward gradients are checked on the GPU and the
// next readback throws AnomalyError naming the first op that produced a NaN or an infinity, the lowest
// element index and the value's kind, once. Ops downstream of a bad value are not blamed.
import { expect } from 'chai';
import { AnomalyError, crossEntropy, RangeArgumentError, indexSelect, type Engine, type KernelCall, type Tensor } from '../engine/index.js';
import { gpuEngine, itNoLeak } from './helpers/gpu.js';

/** `readback` rejects with AnomalyError whose op starts with `op`, at `element`, of `kind`. */
async function expectAnomaly(readback: Promise<unknown>, op: string, element: number, kind: 'NaN' | '+Inf' | '-Inf'): Promise<AnomalyError> {
  let thrown: unknown = null;
  try {
    await readback;
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `the readback did not throw (expected an anomaly in ${op})`).to.be.instanceOf(AnomalyError);
  const a = thrown as AnomalyError;
  expect(a.op.startsWith(op), `blames ${op}: ${a.message}`).to.equal(true);
  expect(a.element, a.message).to.equal(element);
  expect(a.kind, a.message).to.equal(kind);
  expect(a.message).to.include(`produced ${kind} at element ${element}`);
  return a;
}

/** The shaders `fn` dispatches (a spy on engine.run). */
function dispatched(engine: Engine, fn: () => void): string[] {
  const shaders: string[] = [];
  const run = engine.run;
  engine.run = (call: KernelCall) => {
    shaders.push(call.shader);
    run.call(engine, call);
  };
  try {
    fn();
  } finally {
    engine.run = run;
  }
  return shaders;
}

describe('anomaly detection (engine.detectAnomaly)', function () {
  let engine: Engine;
  const eng = () => engine;
  before(async function () {
    engine = await gpuEngine(this);
  });
  afterEach(function () {
    engine?.detectAnomaly(false);
  });

  itNoLeak(eng, 'off by default: no check is dispatched and a NaN reads back as NaN', async function () {
    expect(engine.detectAnomaly(false), 'the default').to.equal(false);
    const x = engine.tensor([1, -1, 4], [3], { requiresGrad: true });
    let y: Tensor | null = null;
    const shaders = dispatched(engine, () => {
      y = engine.tidy(() => {
        const out = x.log().mul(2);
        out.sum().backward();
        return out.detach();
      });
    });
    expect(shaders).to.not.include('checkFinite');
    const v = await y!.data();
    expect(Number.isNaN(v[1])).to.equal(true);
    expect(Array.from(await x.grad!.data())).to.deep.equal([2, -2, 0.5]);
    y!.dispose();
    x.dispose();
  });

  itNoLeak(eng, 'forward: the op that made the NaN is named (log), not the ops after it; reported once', async function () {
    expect(engine.detectAnomaly(true)).to.equal(false);
    const s = engine.tidy(() => {
      const x = engine.tensor([1, -1, 4], [3], { requiresGrad: true });
      return x.log().mul(2).sum();
    });
    const err = await expectAnomaly(s.item(), 'log', 1, 'NaN');
    expect(err).to.be.instanceOf(AnomalyError);
    expect(Number.isNaN(await s.item()), 'the next readback is clean and returns the value').to.equal(true);
    s.dispose();
  });

  itNoLeak(eng, 'the kind and the lowest element: +Inf, -Inf, NaN, and the lowest of several offenders across workgroups', async function () {
    engine.detectAnomaly(true);
    // x / 0: 1/0 = +Inf, -1/0 = -Inf, 0/0 = NaN.
    const cases: [number[], number, 'NaN' | '+Inf' | '-Inf'][] = [
      [[1, 2, -3], 0, '+Inf'],
      [[-2, 1], 0, '-Inf'],
      [[0, 5], 0, 'NaN'],
    ];
    for (const [v, element, kind] of cases) {
      const y = engine.tidy(() => engine.tensor(v, [v.length], { requiresGrad: true }).div(0));
      await expectAnomaly(y.data(), 'div', element, kind);
      y.dispose();
    }
    const n = 300;
    const divisor = Array.from({ length: n }, (_, i) => (i === 250 || i === 70 || i === 299 ? 0 : 1));
    const y = engine.tidy(() => engine.ones([n], { requiresGrad: true }).div(engine.tensor(divisor)));
    await expectAnomaly(y.data(), 'div [300]', 70, '+Inf');
    y.dispose();
  });

  itNoLeak(eng, 'an input that is already non-finite (a leaf, data) is named as that op\'s input, once', async function () {
    engine.detectAnomaly(true);
    const p = engine.tensor([1, NaN, 3], [3], { requiresGrad: true });
    const y = engine.tidy(() => p.mul(2).add(1).exp());
    const err = await expectAnomaly(y.data(), 'mul: its input 0 [3]', 1, 'NaN');
    expect(err.message).to.include('not produced by a checked op');
    y.dispose();
    p.dispose();
  });

  itNoLeak(eng, 'backward: a finite forward whose gradient is infinite blames "backward of sqrt", not the ops inside its rule', async function () {
    engine.detectAnomaly(true);
    const x = engine.tensor([0, 4], [2], { requiresGrad: true });
    const loss = engine.tidy(() => x.sqrt().mul(3).sum());
    loss.backward();
    await expectAnomaly(x.grad!.data(), 'backward of sqrt: the gradient for its input 0 [2]', 0, '+Inf');
    expect(Array.from(await x.grad!.data())).to.deep.equal([Infinity, 0.75]);
    expect(await loss.item(), 'the forward value').to.equal(6);
    loss.dispose();
    x.dispose();
  });

  itNoLeak(eng, 'gradients through engine.grad are checked too, with the rule named', async function () {
    engine.detectAnomaly(true);
    const u = engine.tensor([2, 0], [2]);
    const v = engine.tensor([3, 0], [2]);
    const [g] = engine.grad((a: Tensor) => a.log().sum())(u);
    // d log(x) / dx = 1 / x: +Inf at x = 0; the forward's -Inf is found first.
    await expectAnomaly(g.data(), 'log', 1, '-Inf');
    g.dispose();
    const [h] = engine.grad((a: Tensor) => a.mul(a).sqrt().sum())(v);
    await expectAnomaly(h.data(), 'backward of sqrt', 1, '+Inf');
    for (const t of [h, u, v]) t.dispose();
  });

  itNoLeak(eng, 'nanOnly: -Inf masks pass (crossEntropy over masked logits), NaN is still found', async function () {
    engine.detectAnomaly(true, { nanOnly: true });
    const logits = engine.tensor([[1, 2, 3, 0]], [1, 4], { requiresGrad: true });
    const loss = engine.tidy(() => {
      const mask = engine.tensor([[0, -Infinity, 0, 0]]);
      const l = crossEntropy(logits.add(mask), engine.tensor(Int32Array.of(0), [1], { dtype: 'i32' }));
      l.backward();
      return l.detach();
    });
    expect(await loss.item()).to.be.closeTo(Math.log(Math.E + Math.E ** 3 + 1) - 1, 1e-5);
    expect(Array.from(await logits.grad!.data()).every(Number.isFinite)).to.equal(true);
    const y = engine.tidy(() => engine.tensor([-1, 1], [2], { requiresGrad: true }).sqrt());
    await expectAnomaly(y.data(), 'sqrt', 0, 'NaN');
    for (const t of [loss, logits, y]) t.dispose();
    // Without nanOnly the mask itself is reported (it is an input no checked op produced).
    engine.detectAnomaly(true);
    const z = engine.tidy(() => engine.tensor([1, 2], [2], { requiresGrad: true }).add(engine.tensor([0, -Infinity])));
    await expectAnomaly(z.data(), 'add: its input 1 [2]', 1, '-Inf');
    z.dispose();
  });

  itNoLeak(eng, 'withAnomalyDetection(fn) checks inside fn only; noGrad work is not checked (an autograd feature, as PyTorch)', async function () {
    const y = engine.withAnomalyDetection(() => engine.tidy(() => engine.tensor([-1], [1], { requiresGrad: true }).log()));
    expect(engine.detectAnomaly(false), 'restored').to.equal(false);
    await expectAnomaly(y.data(), 'log', 0, 'NaN');
    engine.detectAnomaly(true);
    const shaders = dispatched(engine, () => {
      const z = engine.noGrad(() => engine.tidy(() => engine.tensor([-1], [1]).log()));
      z.dispose();
    });
    expect(shaders).to.not.include('checkFinite');
    y.dispose();
  });

  itNoLeak(eng, 'a clean step reports nothing (its inputs, op outputs and gradients are checked)', async function () {
    engine.detectAnomaly(true);
    const w = engine.tensor([[0.5, -0.25], [0.125, 1]], [2, 2], { requiresGrad: true });
    const x = engine.tensor([[1, 2], [3, 4], [5, 6]]);
    let loss: Tensor | null = null;
    const shaders = dispatched(engine, () => {
      loss = engine.tidy(() => x.matmul(w).tanh().mean());
      loss.backward();
    });
    // Inputs x and w, matmul, tanh, mean; the seed is made here; backward: mean, tanh, matmul (w only).
    expect(shaders.filter((s) => s === 'checkFinite').length).to.be.at.least(7);
    expect(Number.isFinite(await loss!.item())).to.equal(true);
    expect(Array.from(await w.grad!.data()).every(Number.isFinite)).to.equal(true);
    loss!.dispose();
    w.dispose();
    x.dispose();
  });

  itNoLeak(eng, 'an out-of-range index and an anomaly before one readback: the index error is thrown and mentions the anomaly', async function () {
    engine.detectAnomaly(true);
    const [a, b] = engine.tidy(() => [
      engine.tensor([-1], [1], { requiresGrad: true }).log(),
      indexSelect(engine.tensor([1, 2]), 0, engine.tensor(Int32Array.of(5), [1], { dtype: 'i32' })),
    ]);
    let thrown: unknown = null;
    try {
      await b.data();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).to.be.instanceOf(RangeArgumentError);
    expect((thrown as Error).message).to.match(/indexSelect: index 5 .*anomaly detection also found: .*log \[1\] produced NaN/);
    expect(Number.isNaN((await a.data())[0])).to.equal(true);
    a.dispose();
    b.dispose();
  });
});
