// Memory: live buffers return to their baseline after tidy / dispose, the pool reaches a steady state,
// tidy keeps what it returns (nested too) and keep() exempts, and a disposed output frees its graph.
import { expect } from 'chai';
import type { Engine, Tensor } from '../engine/index.js';
import { gpuEngine } from './helpers/gpu.js';
import { disposeAll } from './helpers/tensors.js';

describe('memory', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  const live = () => engine.memory().liveBuffers;
  const liveBytes = () => engine.memory().liveBytes;

  interface Params {
    w: Tensor;
    b: Tensor;
  }

  /**
   * One training-like step on a linear model pred = sum(x * w, 1) + b with a squared loss: forward,
   * backward, then an update that builds new parameter tensors and disposes the old ones.
   */
  function step(p: Params, x: Tensor, y: Tensor, lr: number): Params {
    return engine.tidy(() => {
      const pred = x.mul(p.w).sum(1).add(p.b);
      const loss = pred.sub(y).square().mean();
      loss.backward();
      const next = engine.noGrad(() => ({
        w: p.w.sub(p.w.grad!.mul(lr)).requiresGrad_(),
        b: p.b.sub(p.b.grad!.mul(lr)).requiresGrad_(),
      }));
      p.w.dispose(); // also disposes its .grad
      p.b.dispose();
      return next;
    });
  }

  function makeData(): { x: Tensor; y: Tensor; params: Params } {
    return {
      x: engine.randn([16, 8]),
      y: engine.randn([16]),
      params: { w: engine.randn([1, 8], { std: 0.1, requiresGrad: true }), b: engine.zeros([1], { requiresGrad: true }) },
    };
  }

  it('returns to the baseline after a 100-step tidy training loop and explicit dispose', async function () {
    const base = { buffers: live(), bytes: liveBytes() };
    const { x, y, params } = makeData();
    let p = params;
    const during: number[] = [];
    for (let i = 0; i < 100; i++) {
      p = step(p, x, y, 0.05);
      during.push(live());
    }
    // Inside the loop only the data and the current parameters are alive: 4 tensors, 4 buffers.
    expect(new Set(during), 'live buffers between steps').to.deep.equal(new Set([base.buffers + 4]));
    // The loop really trained (a leak-free loop that does nothing would also pass the counts).
    const loss = engine.tidy(() => x.mul(p.w).sum(1).add(p.b).sub(y).square().mean());
    const lossStart = engine.tidy(() => y.square().mean());
    expect(await loss.item()).to.be.lessThan(await lossStart.item());
    disposeAll(loss, lossStart, x, y, p.w, p.b);
    expect(live(), 'live buffers after dispose').to.equal(base.buffers);
    expect(liveBytes(), 'live bytes after dispose').to.equal(base.bytes);
    await engine.sync();
    expect(engine.deviceErrors).to.deep.equal([]);
  });

  it('reuses pooled buffers: no growth of pooled + live bytes after warm-up', function () {
    const { x, y, params } = makeData();
    let p = params;
    const total = () => engine.memory().liveBytes + engine.memory().pooledBytes;
    for (let i = 0; i < 5; i++) p = step(p, x, y, 0.05);
    const warm = total();
    for (let i = 0; i < 50; i++) {
      p = step(p, x, y, 0.05);
      expect(total(), `pooled + live bytes at step ${i + 5}`).to.be.at.most(warm);
    }
    disposeAll(x, y, p.w, p.b);
  });

  it('tidy keeps tensors returned in nested arrays and objects and disposes the rest', function () {
    const base = live();
    let inner: Tensor[] = [];
    const out = engine.tidy(() => {
      const a = engine.ones([3]);
      const b = a.mul(2);
      const c = b.add(1);
      const d = c.exp();
      const m = new Map<string, Tensor>([['m', d.neg()]]);
      inner = [a, b, c, d];
      return { first: b, rest: [c, { deep: d }], m, n: 3 };
    });
    expect(inner[0].disposed, 'an intermediate not returned').to.equal(true);
    expect(inner.slice(1).map((t) => t.disposed), 'returned tensors').to.deep.equal([false, false, false]);
    expect(out.m.get('m')!.disposed, 'a tensor in a Map').to.equal(false);
    expect(out.n).to.equal(3);
    expect(live()).to.equal(base + 4);
    disposeAll(out.first, out.rest[0] as Tensor, inner[3], out.m.get('m'));
    expect(live()).to.equal(base);
  });

  it('nested tidy hands returned tensors to the outer scope, which disposes them unless returned', function () {
    const base = live();
    let fromInner: Tensor | null = null;
    const kept = engine.tidy(() => {
      fromInner = engine.tidy(() => engine.ones([4]).add(1));
      expect(fromInner.disposed).to.equal(false);
      return fromInner.mul(3);
    });
    expect(fromInner!.disposed, 'returned by the inner tidy only').to.equal(true);
    expect(kept.disposed).to.equal(false);
    kept.dispose();
    expect(live()).to.equal(base);
  });

  it('keep() exempts a tensor from every enclosing tidy', function () {
    const base = live();
    let kept: Tensor | null = null;
    let dropped: Tensor | null = null;
    engine.tidy(() => {
      engine.tidy(() => {
        kept = engine.keep(engine.ones([5]).mul(2));
        dropped = engine.ones([5]);
      });
    });
    expect(kept!.disposed).to.equal(false);
    expect(dropped!.disposed).to.equal(true);
    expect(live()).to.equal(base + 1);
    kept!.dispose();
    expect(live()).to.equal(base);
  });

  it('tidy disposes its tensors when the function throws', function () {
    const base = live();
    expect(() =>
      engine.tidy(() => {
        engine.ones([3]).mul(2);
        throw new Error('boom');
      }),
    ).to.throw('boom');
    expect(live()).to.equal(base);
  });

  it("disposing an output without backward frees its graph's saved tensors", function () {
    const base = live();
    const x = engine.randn([6, 5], { requiresGrad: true });
    // Each op's intermediate handle is disposed by tidy, but the graph still holds what backward needs.
    const y = engine.tidy(() => x.exp().mul(x).sin().tanh().sum());
    expect(live(), 'saved tensors are held by the graph').to.be.greaterThan(base + 2);
    y.dispose();
    expect(live(), 'only x is left').to.equal(base + 1);
    x.dispose();
    expect(live()).to.equal(base);
  });

  it('backward without retainGraph frees the saved tensors at once', function () {
    const base = live();
    const x = engine.randn([6, 5], { requiresGrad: true });
    const y = engine.tidy(() => x.exp().mul(x).sin().sum());
    y.backward();
    // x, its .grad and the loss remain.
    expect(live()).to.equal(base + 3);
    disposeAll(x, y);
    expect(live()).to.equal(base);
  });

  it('reports peak bytes at least as large as any live size, until resetPeakMemory', function () {
    engine.resetPeakMemory();
    const before = engine.memory();
    const t = engine.zeros([1024, 64]);
    const during = engine.memory();
    t.dispose();
    const after = engine.memory();
    expect(during.liveBytes - before.liveBytes).to.be.at.least(1024 * 64 * 4);
    expect(after.peakBytes).to.be.at.least(during.liveBytes);
    expect(after.liveBytes).to.equal(before.liveBytes);
    engine.resetPeakMemory();
    expect(engine.memory().peakBytes).to.equal(before.liveBytes);
  });
});
