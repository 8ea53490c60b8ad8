// Out-of-range indices found on the GPU (the engine's error word, engine/device-checks.ts): every
// kernel that reads an index records the first bad one, and the next readback (data, item, array,
// or engine.checkErrors()) throws RangeArgumentError naming the op, the index and the dim size, then
// the record is cleared. In-range indices and crossEntropy's ignoreIndex report nothing, and no op
// reads back to the host to check.
import { expect } from 'chai';
import {
  crossEntropy, embedding, expertFFN, gather, indexSelect, oneHot, RangeArgumentError, scatterAdd,
  type Engine, type Tensor,
} from '../engine/index.js';
import { CHECK_CODES } from '../engine/device-checks.js';
import { gpuEngine, itNoLeak } from './helpers/gpu.js';
import { expectReported } from './helpers/reported.js';

interface ForwardCase {
  op: string;
  /** The op with index values `bad` (i32, or u32 where `u32`), returning its output. */
  run: (e: Engine, index: Tensor) => Tensor;
  /** The index tensor's shape for one value. */
  shape: number[];
  /** In-range values and the output they give. */
  good: number[];
  expected: number[];
  size: number;
  /** Out-of-range values: too large, and negative where the index is signed. */
  bad: number[];
}

const X = [[1, 2, 3], [4, 5, 6]]; // (2, 3)

const FORWARD: ForwardCase[] = [
  {
    op: 'indexSelect',
    run: (e, idx) => indexSelect(e.tensor(X), 0, idx),
    shape: [1],
    good: [1],
    expected: [4, 5, 6],
    size: 2,
    bad: [7, 2, -1],
  },
  {
    op: 'gather',
    run: (e, idx) => gather(e.tensor([[1, 2, 3]]), 1, idx),
    shape: [1, 1],
    good: [2],
    expected: [3],
    size: 3,
    bad: [9, 3, -2],
  },
  {
    op: 'embedding',
    run: (e, idx) => embedding(idx, e.tensor([[1, 2], [3, 4], [5, 6], [7, 8]])),
    shape: [1],
    good: [3],
    expected: [7, 8],
    size: 4,
    bad: [99, 4, -1],
  },
  {
    op: 'scatterAdd',
    run: (e, idx) => scatterAdd(e.zeros([3]), 0, idx, e.tensor([5])),
    shape: [1],
    good: [1],
    expected: [0, 5, 0],
    size: 3,
    bad: [5, 3, -4],
  },
  {
    op: 'oneHot',
    run: (_e, idx) => oneHot(idx, 3),
    shape: [1],
    good: [2],
    expected: [0, 0, 1],
    size: 3,
    bad: [3, 10, -1],
  },
  {
    op: 'crossEntropy',
    run: (e, idx) => crossEntropy(e.tensor([[0, 0, Math.log(2)]]), idx, { reduction: 'none' }),
    shape: [1],
    good: [2],
    expected: [Math.log(4) - Math.log(2)],
    size: 3,
    bad: [3, 7, -3, -1],
  },
];

describe('out-of-range indices are reported at the next readback (device error word)', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
    await engine.checkErrors(); // start clean whatever ran before
  });
  const eng = () => engine;

  for (const c of FORWARD) {
    itNoLeak(eng, `${c.op}: ${c.bad.join(', ')} make the next readback throw RangeArgumentError naming ${c.op}, the index and ${c.size}; then cleared`, async function () {
      for (const v of c.bad) {
        const out = engine.tidy(() => c.run(engine, engine.tensor(Int32Array.of(v), c.shape, { dtype: 'i32' })));
        await expectReported(out.data(), c.op, v, c.size);
        // Reported once: reading again succeeds (the clamped or NaN result).
        expect((await out.data()).length).to.equal(c.expected.length);
        out.dispose();
      }
      const ok = engine.tidy(() => c.run(engine, engine.tensor(Int32Array.from(c.good), c.shape, { dtype: 'i32' })));
      const got = Array.from(await ok.data());
      got.forEach((g, i) => expect(g, `${c.op} in range`).to.be.closeTo(c.expected[i], 1e-6));
      ok.dispose();
    });
  }

  itNoLeak(eng, 'u32 indices: a large value is reported unsigned (indexSelect 3000000000 of 2, oneHot 4294967295 of 3)', async function () {
    const a = engine.tidy(() => indexSelect(engine.tensor(X), 0, engine.tensor(Uint32Array.of(3e9), [1], { dtype: 'u32' })));
    await expectReported(a.data(), 'indexSelect', 3000000000, 2);
    const b = engine.tidy(() => oneHot(engine.tensor(Uint32Array.of(0xffffffff), [1], { dtype: 'u32' }), 3));
    await expectReported(b.data(), 'oneHot', 4294967295, 3);
    const t = engine.tidy(() => crossEntropy(engine.zeros([1, 3]), engine.tensor(Uint32Array.of(5), [1], { dtype: 'u32' })));
    await expectReported(t.item(), 'crossEntropy', 5, 3);
    for (const x of [a, b, t]) x.dispose();
  });

  itNoLeak(eng, 'the backward passes that read an index report as "<op> backward"', async function () {
    const cases: { op: string; f: (x: Tensor) => Tensor; shape: number[]; value: number; size: number }[] = [
      { op: 'gather backward', f: (x) => gather(x, 1, engine.tensor(Int32Array.of(0, 5), [1, 2], { dtype: 'i32' })), shape: [1, 3], value: 5, size: 3 },
      { op: 'indexSelect backward', f: (x) => indexSelect(x, 0, engine.tensor(Int32Array.of(-2, 0), [2], { dtype: 'i32' })), shape: [2, 3], value: -2, size: 2 },
      { op: 'embedding backward', f: (w) => embedding(engine.tensor(Int32Array.of(1, 6), [2], { dtype: 'i32' }), w), shape: [4, 2], value: 6, size: 4 },
      { op: 'crossEntropy backward', f: (l) => crossEntropy(l, engine.tensor(Int32Array.of(1, 8), [2], { dtype: 'i32' })), shape: [2, 3], value: 8, size: 3 },
    ];
    for (const c of cases) {
      const x = engine.randn(c.shape).requiresGrad_();
      const y = engine.tidy(() => c.f(x).sum());
      // The forward kernel reports first; clear it, then the backward kernel reports on its own.
      await expectReported(engine.checkErrors(), c.op.replace(' backward', ''), c.value, c.size);
      y.backward();
      await expectReported(x.grad!.data(), c.op, c.value, c.size);
      await engine.checkErrors(); // cleared
      for (const t of [x, y]) t.dispose();
    }
  });

  itNoLeak(eng, 'crossEntropy: ignoreIndex targets (default -100, or a custom one) report nothing, forward or backward', async function () {
    const logits = engine.tensor([[1, 2, 3], [0, 0, 5], [2, 1, 0]]).requiresGrad_();
    const loss = engine.tidy(() => crossEntropy(logits, engine.tensor(Int32Array.of(0, -100, 2), [3], { dtype: 'i32' })));
    const lse = (r: number[]) => Math.log(r.reduce((a, v) => a + Math.exp(v), 0));
    expect(await loss.item()).to.be.closeTo((lse([1, 2, 3]) - 1 + lse([2, 1, 0]) - 0) / 2, 1e-5);
    loss.backward();
    const g = await logits.grad!.data();
    expect(Array.from(g.slice(3, 6))).to.deep.equal([0, 0, 0]);
    const custom = engine.tidy(() => crossEntropy(logits.detach(), engine.tensor(Int32Array.of(7, 7, 1), [3], { dtype: 'i32' }), { ignoreIndex: 7 }));
    expect(await custom.item()).to.be.closeTo(lse([2, 1, 0]) - 1, 1e-5);
    for (const t of [logits, loss, custom]) t.dispose();
  });

  itNoLeak(eng, 'expertFFN: an expert index outside [0, E) is reported at the next readback (forward), the result is clamped', async function () {
    const E = 4;
    for (const bad of [E + 3, -1]) {
      const y = engine.tidy(() => {
        const x = engine.randn([3, 2]);
        const idx = engine.tensor(Int32Array.of(0, 1, bad, 2, 3, 0), [3, 2], { dtype: 'i32' });
        const w = engine.ones([3, 2]);
        return expertFFN(x, idx, w, engine.randn([E, 2, 5]), engine.randn([E, 5, 2]), { activation: 'relu' });
      });
      await expectReported(y.data(), 'expertFFN', bad, E);
      expect(Array.from(await y.data()).every(Number.isFinite)).to.equal(true);
      y.dispose();
    }
  });

  itNoLeak(eng, 'topkRouter backward: a saved expert index outside [0, E) is reported (kernel level)', async function () {
    // The router only writes indices in range, so the kernel is driven directly with a bad one.
    const rows = 2;
    const E = 4;
    const k = 1;
    const x = engine.randn([rows, E]);
    const lse = engine.zeros([rows]);
    const idx = engine.tensor(Int32Array.of(1, 9), [rows, k], { dtype: 'i32' });
    const g = engine.ones([rows, k]);
    const dx = engine.empty([rows, E]);
    const params = new Uint32Array(8);
    params.set([rows, E, k, 0, 0, CHECK_CODES['topkRouter backward']]);
    engine.run({
      shader: 'routerBackward',
      constants: { WG: 4, MODE: 0, SIGMOID: false, RENORM: false },
      params,
      buffers: [x.storage.buffer, lse.storage.buffer, idx.storage.buffer, g.storage.buffer, dx.storage.buffer, engine.errorBuffer],
      grid: [rows],
    });
    await expectReported(dx.data(), 'topkRouter backward', 9, E);
    for (const t of [x, lse, idx, g, dx]) t.dispose();
  });

  itNoLeak(eng, 'engine.checkErrors() reports and clears; any later readback reports an earlier op; the first violation wins', async function () {
    await engine.checkErrors(); // nothing pending: resolves
    const a = engine.tidy(() => indexSelect(engine.tensor(X), 0, engine.tensor(Int32Array.of(5), [1], { dtype: 'i32' })));
    const b = engine.tidy(() => embedding(engine.tensor(Int32Array.of(8), [1], { dtype: 'i32' }), engine.tensor(X)));
    const unrelated = engine.tensor([1, 2, 3]);
    // The readback of a tensor that had nothing to do with it reports the first bad op.
    await expectReported(unrelated.data(), 'indexSelect', 5, 2);
    expect(Array.from(await unrelated.data())).to.deep.equal([1, 2, 3]);
    const c = engine.tidy(() => gather(engine.tensor(X), 1, engine.tensor(Int32Array.of(-7, 0), [2, 1], { dtype: 'i32' })));
    await expectReported(engine.checkErrors(), 'gather', -7, 3);
    await engine.checkErrors();
    expect(Array.from(await c.data())).to.deep.equal([1, 4]); // clamped to 0
    for (const t of [a, b, c, unrelated]) t.dispose();
  });

  itNoLeak(eng, 'no host readback or sync per op: the check is only in the readback the user does', async function () {
    const read = engine.read;
    const sync = engine.sync;
    engine.read = () => {
      throw new Error('host readback inside an op');
    };
    engine.sync = () => {
      throw new Error('sync inside an op');
    };
    let out: Tensor[];
    try {
      out = engine.tidy(() => {
        const idx = engine.tensor(Int32Array.of(0, 11), [2], { dtype: 'i32' });
        return [indexSelect(engine.tensor(X), 0, idx), oneHot(idx, 3), crossEntropy(engine.zeros([2, 3]), idx), scatterAdd(engine.zeros([3]), 0, idx, engine.ones([2]))];
      });
    } finally {
      engine.read = read;
      engine.sync = sync;
    }
    await expectReported(out[0].data(), 'indexSelect', 11, 2);
    for (const t of out) await t.data(); // reported once, for the first op only
    for (const t of out) t.dispose();
    expect(engine.deviceErrors).to.deep.equal([]);
  });

  it('RangeArgumentError from the device is a KilnError with the usual name', async function () {
    const t = engine.tidy(() => oneHot(engine.tensor(Int32Array.of(4), [1], { dtype: 'i32' }), 2));
    const err = await expectReported(t.array(), 'oneHot', 4, 2);
    expect(err.name).to.equal('RangeArgumentError');
    expect(err).to.be.instanceOf(RangeArgumentError);
    t.dispose();
    expect(engine.deviceErrors).to.deep.equal([]);
  });
});
