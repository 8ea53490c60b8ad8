// Autograd API: accumulation, reuse, noGrad / detach, functional grads, intermediate gradients,
// misuse errors, explicit seeds, and second derivatives (createGraph). Expected values are closed
// forms computed in float64 on the host.
import { expect } from 'chai';
import { AutogradError, type Engine, type Tensor } from '../engine/index.js';
import { assertClose } from './helpers/compare.js';
import { gpuEngine, itNoLeak as itNoLeakOn } from './helpers/gpu.js';
import { disposeAll, values } from './helpers/tensors.js';

const X = [0.5, -1.25, 2, 0.75, -0.3, 1.1];
const Y = [1.5, 0.25, -0.5, 2.25, -1.2, 0.6];
const TOL = { rtol: 1e-5, atol: 1e-6 };

describe('autograd', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  const itNoLeak = (title: string, fn: () => Promise<void> | void) => itNoLeakOn(() => engine, title, fn);

  const leaf = (v: number[] = X, shape = [2, 3]) => engine.tensor(v, shape, { requiresGrad: true });

  itNoLeak('accumulates gradients into a leaf across two backward() calls', async () => {
    const x = leaf();
    for (let k = 0; k < 2; k++) {
      const loss = engine.tidy(() => x.mul(x).sum());
      loss.backward();
      loss.dispose();
    }
    // d/dx sum(x*x) = 2x, twice
    assertClose(await values(x.grad!), X.map((v) => 4 * v), TOL, 'x.grad');
    x.dispose();
  });

  itNoLeak('sums the gradient of a leaf used twice in one graph', async () => {
    const x = leaf();
    const y = engine.tensor(Y, [2, 3]);
    // f = sum(x*y + exp(x)): df/dx = y + exp(x)
    const loss = engine.tidy(() => x.mul(y).add(x.exp()).sum());
    loss.backward();
    assertClose(await values(x.grad!), X.map((v, i) => Y[i] + Math.exp(v)), TOL, 'x.grad');
    expect(y.grad, 'a tensor without requiresGrad gets no .grad').to.equal(null);
    disposeAll(x, y, loss);
  });

  itNoLeak('records nothing under engine.noGrad', () => {
    const x = leaf();
    const out = engine.noGrad(() => engine.tidy(() => x.mul(x).exp().sum()));
    expect(out.requiresGrad).to.equal(false);
    expect(out.gradFn).to.equal(null);
    expect(engine.gradEnabled, 'grad mode restored after noGrad').to.equal(true);
    expect(() => out.backward()).to.throw(AutogradError, /does not require a gradient/);
    disposeAll(x, out);
  });

  itNoLeak('stops gradients at detach()', async () => {
    const x = leaf();
    // f = sum(x * detach(x)): only the first factor is differentiated, df/dx = x
    const loss = engine.tidy(() => {
      const d = x.detach();
      expect(d.requiresGrad).to.equal(false);
      return x.mul(d).sum();
    });
    loss.backward();
    assertClose(await values(x.grad!), X, TOL, 'x.grad');
    disposeAll(x, loss);
  });

  // engine.grad / valueAndGrad run `f` themselves, so its intermediates (which the caller never
  // sees) must not outlive the call: no tidy around them here.
  itNoLeak('engine.grad(f)(x, y) returns gradients w.r.t. the inputs and leaves .grad alone', async () => {
    const x = leaf();
    const y = engine.tensor(Y, [2, 3]);
    // f = sum(x*x*y): df/dx = 2xy, df/dy = x^2
    const [gx, gy] = engine.grad((a, b) => a.mul(a).mul(b).sum())(x, y);
    assertClose(await values(gx), X.map((v, i) => 2 * v * Y[i]), TOL, 'df/dx');
    assertClose(await values(gy), X.map((v) => v * v), TOL, 'df/dy');
    expect(x.grad).to.equal(null);
    expect(y.grad).to.equal(null);
    expect(y.requiresGrad, 'inputs are not modified').to.equal(false);
    disposeAll(x, y, gx, gy);
  });

  itNoLeak('engine.valueAndGrad returns the value and the gradients', async () => {
    const x = engine.tensor(X, [2, 3]);
    const { value, grads } = engine.valueAndGrad((a) => a.sin().sum())(x);
    expect(await value.item()).to.be.closeTo(X.reduce((s, v) => s + Math.sin(v), 0), 1e-5);
    expect(value.requiresGrad, 'the value is detached').to.equal(false);
    assertClose(await values(grads[0]), X.map(Math.cos), TOL, 'd sum(sin x)/dx');
    expect(x.grad).to.equal(null);
    disposeAll(x, value, grads);
  });

  itNoLeak('engine.autogradGrad returns the gradient at an intermediate tensor', async () => {
    const x = leaf();
    const h = x.mul(3); // intermediate
    const loss = engine.tidy(() => h.mul(h).sum()); // d loss / dh = 2h = 6x
    const [gh, gx] = engine.autogradGrad(loss, [h, x]);
    assertClose(await values(gh!), X.map((v) => 6 * v), TOL, 'dloss/dh');
    assertClose(await values(gx!), X.map((v) => 18 * v), TOL, 'dloss/dx');
    expect(x.grad, 'autogradGrad does not touch .grad').to.equal(null);
    disposeAll(x, h, loss, gh, gx);
  });

  itNoLeak('throws a named AutogradError for backward on a non-scalar without a seed, naming the shape', () => {
    const x = leaf();
    const y = x.mul(2);
    expect(() => y.backward()).to.throw(AutogradError, /\[2, 3\]/);
    try {
      y.backward();
    } catch (e) {
      expect((e as Error).name).to.equal('AutogradError');
    }
    disposeAll(x, y);
  });

  itNoLeak('throws a named AutogradError on a second backward through a freed graph', () => {
    const x = leaf();
    const loss = engine.tidy(() => x.mul(x).exp().sum());
    loss.backward();
    expect(() => loss.backward()).to.throw(AutogradError, /retainGraph/);
    disposeAll(x, loss);
  });

  itNoLeak('allows a second backward with retainGraph: true', async () => {
    const x = leaf();
    const loss = engine.tidy(() => x.mul(x).sum());
    loss.backward(undefined, { retainGraph: true });
    loss.backward();
    assertClose(await values(x.grad!), X.map((v) => 4 * v), TOL, 'x.grad after two passes');
    disposeAll(x, loss);
  });

  itNoLeak('backpropagates an explicit seed gradient from a non-scalar', async () => {
    const x = leaf();
    const seed = engine.tensor(Y, [2, 3]);
    const y = x.mul(x); // dy/dx = 2x elementwise, so x.grad = 2x * seed
    y.backward(seed);
    assertClose(await values(x.grad!), X.map((v, i) => 2 * v * Y[i]), TOL, 'x.grad');
    const wrong = engine.tensor([1, 2, 3], [3]);
    const z = x.mul(x);
    expect(() => z.backward(wrong)).to.throw(AutogradError, /\[3\].*\[2, 3\]/);
    disposeAll(x, seed, y, wrong, z);
  });

  describe('second derivatives (createGraph)', function () {
    /** d/dx of sum(f'(x)) where f' comes from a first backward with createGraph. */
    function secondDerivative(f: (x: Tensor) => Tensor, x: Tensor): Tensor {
      const y = engine.tidy(() => f(x).sum());
      const [g] = engine.autogradGrad(y, [x], { createGraph: true });
      expect(g!.requiresGrad, 'a createGraph gradient has history').to.equal(true);
      const gs = g!.sum();
      const [h] = engine.autogradGrad(gs, [x]);
      disposeAll(y, g, gs);
      return h!;
    }

    const cases: [string, (x: Tensor) => Tensor, (v: number) => number][] = [
      ['x^3 (mul)', (x) => x.mul(x).mul(x), (v) => 6 * v],
      ['exp', (x) => x.exp(), (v) => Math.exp(v)],
      ['sin', (x) => x.sin(), (v) => -Math.sin(v)],
      ['tanh', (x) => x.tanh(), (v) => -2 * Math.tanh(v) * (1 - Math.tanh(v) ** 2)],
      ['sqrt(1 + x^2) (sqrt, add, mul)', (x) => x.mul(x).add(1).sqrt(), (v) => 1 / (1 + v * v) ** 1.5],
      ['x / (1 + x^2) (div, add)', (x) => x.div(x.mul(x).add(1)), (v) => (2 * v * (v * v - 3)) / (1 + v * v) ** 3],
    ];
    for (const [name, f, d2] of cases) {
      itNoLeak(`d2/dx2 sum(${name}) matches the closed form`, async () => {
        const x = leaf();
        const h = secondDerivative(f, x);
        assertClose(await values(h), X.map(d2), { rtol: 1e-4, atol: 1e-5 }, `second derivative of ${name}`);
        disposeAll(x, h);
      });
    }

    itNoLeak('mixed partials: d/dx sum(d/dy sum(x*y*y)) = 2y', async () => {
      const x = leaf();
      const y = leaf(Y);
      const f = engine.tidy(() => x.mul(y).mul(y).sum());
      const [gy] = engine.autogradGrad(f, [y], { createGraph: true }); // 2xy
      const s = gy!.sum();
      const [gxy] = engine.autogradGrad(s, [x]);
      assertClose(await values(gxy!), Y.map((v) => 2 * v), TOL, 'd2f/dxdy');
      disposeAll(x, y, f, gy, s, gxy);
    });

    itNoLeak('backward(createGraph) leaves a differentiable .grad', async () => {
      const x = leaf();
      const f = engine.tidy(() => x.mul(x).mul(x).sum());
      f.backward(undefined, { createGraph: true }); // x.grad = 3x^2, with history
      expect(x.grad!.requiresGrad).to.equal(true);
      const s = x.grad!.sum();
      const [h] = engine.autogradGrad(s, [x]);
      assertClose(await values(h!), X.map((v) => 6 * v), { rtol: 1e-4, atol: 1e-5 }, 'd/dx sum(3x^2)');
      disposeAll(x, f, s, h);
    });

    itNoLeak("throws a named AutogradError through relu's fused gradient kernel", () => {
      const x = leaf();
      const y = engine.tidy(() => x.relu().mul(x).sum());
      const [g] = engine.autogradGrad(y, [x], { createGraph: true });
      const gs = g!.sum();
      expect(() => engine.autogradGrad(gs, [x])).to.throw(AutogradError, /relu\w* has no backward rule/i);
      disposeAll(x, y, g, gs);
    });
  });
});
