// The GPU bitonic sort behind topk and the sort-then-segment scatter-add, tested directly: full sorts
// of 1, 2, 1000 and 4097 keys against Array.prototype.sort, scatter-add sums that equal the
// sequential f32 sum in position order bit for bit (so they are reproducible), the dispatch count of
// a 4096-key scatter-add, clamping and reporting of out-of-range index values, argument errors, and no leaks.
import { expect } from 'chai';
import { DTypeError, embedding, KilnError, oneHot, RangeArgumentError, ShapeError, type Engine, type KernelCall } from '../engine/index.js';
import { gpuEngine } from './helpers/gpu.js';
import { expectReported } from './helpers/reported.js';
import { seededRandom } from './op-table/harness.js';

/** Keys with many ties: integers in a range about n / 4 wide. */
function tiedValues(n: number, seed: number): number[] {
  const rand = seededRandom(seed);
  const width = Math.max(2, Math.floor(n / 4));
  return Array.from({ length: n }, () => Math.floor(rand() * width) - Math.floor(width / 2));
}

/** Indices of `vals` sorted largest first, ties to the lower index. */
function descendingOrder(vals: number[]): number[] {
  return vals.map((_, i) => i).sort((a, b) => vals[b] - vals[a] || a - b);
}

/** x + src scattered along a 1-D index, accumulated in f32 in position order (what the kernel promises). */
function sequentialScatter(x: number[], index: number[], src: number[]): number[] {
  const out = x.map(Math.fround);
  index.forEach((t, p) => (out[t] = Math.fround(out[t] + Math.fround(src[p]))));
  return out;
}

function gaussians(n: number, seed: number): number[] {
  const rand = seededRandom(seed);
  return Array.from({ length: n }, () => Math.fround(Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())));
}

function countDispatches<R>(engine: Engine, fn: () => R): { result: R; dispatches: number } {
  const original = engine.run;
  let dispatches = 0;
  engine.run = (call: KernelCall) => {
    dispatches++;
    original.call(engine, call);
  };
  try {
    return { result: fn(), dispatches };
  } finally {
    delete (engine as { run?: unknown }).run;
  }
}

describe('sort: bitonic sort behind topk and scatterAdd', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  for (const n of [1, 2, 1000, 4097]) {
    it(`sorts ${n} keys with ties like Array.sort (topk with k = n)`, async function () {
      const vals = tiedValues(n, n);
      const order = descendingOrder(vals);
      const { values, indices } = engine.tidy(() => engine.tensor(vals).topk(n));
      expect(Array.from(await indices.data())).to.deep.equal(order);
      expect(Array.from(await values.data())).to.deep.equal(order.map((i) => vals[i]));
      values.dispose();
      indices.dispose();
    });
  }

  it('sorts rows independently (3 rows of 1500, smallest first) and orders -inf, -0, 0, inf', async function () {
    const rows = 3;
    const len = 1500;
    const vals = gaussians(rows * len, 7);
    vals.splice(0, 6, -Infinity, Infinity, -0, 0, 3e38, -3e38);
    const indices = engine.tidy(() => engine.tensor(vals, [rows, len]).topk(len, 1, false).indices);
    const got = Array.from(await indices.data());
    indices.dispose();
    for (let r = 0; r < rows; r++) {
      const row = vals.slice(r * len, (r + 1) * len);
      const expected = row.map((_, i) => i).sort((a, b) => row[a] - row[b] || a - b);
      expect(got.slice(r * len, (r + 1) * len), `row ${r}`).to.deep.equal(expected);
    }
  });

  it('scatterAdd of 4097 keys equals the sequential f32 sum in position order, bit for bit, twice', async function () {
    const n = 4097;
    const rand = seededRandom(11);
    const index = Array.from({ length: n }, () => Math.floor(rand() * 300));
    const src = gaussians(n, 12);
    const x = gaussians(300, 13);
    const expected = sequentialScatter(x, index, src);
    for (let run = 0; run < 2; run++) {
      const out = engine.tidy(() => engine.tensor(x).scatterAdd(0, engine.tensor(index, [n], { dtype: 'i32' }), engine.tensor(src)));
      expect(Array.from(await out.data()), `run ${run}`).to.deep.equal(expected);
      out.dispose();
    }
  });

  it('embedding backward sums repeated rows in position order (deterministic)', async function () {
    const n = 700;
    const width = 5;
    const rand = seededRandom(21);
    const ids = Array.from({ length: n }, () => Math.floor(rand() * 4));
    const g = gaussians(n * width, 22);
    const expected: number[] = [];
    for (let d = 0; d < width; d++) {
      const col = sequentialScatter([0, 0, 0, 0], ids, ids.map((_, p) => g[p * width + d]));
      col.forEach((v, r) => (expected[r * width + d] = v));
    }
    for (let run = 0; run < 2; run++) {
      const weight = engine.zeros([4, width]).requiresGrad_();
      engine.tidy(() => embedding(engine.tensor(ids, [n], { dtype: 'u32' }), weight).backward(engine.tensor(g, [n, width])));
      expect(Array.from(await weight.grad!.data()), `run ${run}`).to.deep.equal(expected);
      weight.dispose();
    }
  });

  it('a scatterAdd of 4096 keys takes 13 dispatches: copy, keys, 10 sort steps, segment sums', async function () {
    const n = 4096;
    const xs = gaussians(64, 31);
    const ids = Array.from({ length: n }, (_, i) => i % 64); // every target gets 64 sources
    const ss = gaussians(n, 32);
    const x = engine.tensor(xs);
    const index = engine.tensor(ids, [n], { dtype: 'i32' });
    const src = engine.tensor(ss);
    const { result, dispatches } = countDispatches(engine, () => x.scatterAdd(0, index, src));
    expect(dispatches).to.equal(13);
    expect(Array.from(await result.data())).to.deep.equal(sequentialScatter(xs, ids, ss));
    for (const t of [result, x, index, src]) t.dispose();
  });
});

describe('indexing ops (gather, indexSelect, scatterAdd, embedding, oneHot, topk, cumsum): clamping and reporting, errors, leaks', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('clamps out-of-range index values into range (no memory outside the tensor is touched) and reports them at the next readback', async function () {
    const errorsBefore = engine.deviceErrors.length;
    const x = engine.tensor([10, 20, 30]);
    const bad = engine.tensor([-5, 0, 2, 100], [4], { dtype: 'i32' });
    // The first readback reports the op (one of its bad values: which invocation wins may vary);
    // the record is then cleared and a second readback shows the clamped result.
    const g = engine.tidy(() => x.gather(0, bad));
    await expectReported(g.data(), 'gather', undefined, 3);
    expect(Array.from(await g.data())).to.deep.equal([10, 10, 30, 30]);
    const s = engine.tidy(() => x.indexSelect(0, bad));
    await expectReported(s.data(), 'indexSelect', undefined, 3);
    expect(Array.from(await s.data())).to.deep.equal([10, 10, 30, 30]);
    const a = engine.tidy(() => x.scatterAdd(0, bad, engine.tensor([1, 2, 3, 4])));
    await expectReported(a.data(), 'scatterAdd', undefined, 3);
    expect(Array.from(await a.data())).to.deep.equal([13, 20, 37]);
    const e = engine.tidy(() => embedding(engine.tensor([7, -1], [2], { dtype: 'i32' }), engine.tensor([[1, 2], [3, 4]])));
    await expectReported(e.data(), 'embedding', undefined, 2);
    expect(Array.from(await e.data())).to.deep.equal([3, 4, 1, 2]);
    const h = engine.tidy(() => oneHot(bad, 3));
    await expectReported(h.data(), 'oneHot', undefined, 3);
    expect(Array.from(await h.data())).to.deep.equal([0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0]);
    await engine.sync();
    expect(engine.deviceErrors.slice(errorsBefore)).to.deep.equal([]);
    for (const t of [x, bad, g, s, a, e, h]) t.dispose();
  });

  const bad: { what: string; run: (e: Engine) => unknown; error: typeof ShapeError; mentions: string[] }[] = [
    { what: 'gather with a float index', run: (e) => e.ones([2, 3]).gather(1, e.zeros([2, 3])), error: DTypeError, mentions: ['gather', 'f32', '[2, 3]'] },
    { what: 'gather with an index of another rank', run: (e) => e.ones([2, 3]).gather(1, e.zeros([3], { dtype: 'i32' })), error: ShapeError, mentions: ['gather', '[2, 3]', '[3]'] },
    { what: 'gather with an index too large outside dim', run: (e) => e.ones([2, 3]).gather(1, e.zeros([4, 3], { dtype: 'i32' })), error: ShapeError, mentions: ['gather', '[2, 3]', '[4, 3]'] },
    { what: 'indexSelect with a 2-D index', run: (e) => e.ones([2, 3]).indexSelect(0, e.zeros([2, 2], { dtype: 'i32' })), error: ShapeError, mentions: ['indexSelect', '[2, 3]', '[2, 2]'] },
    { what: 'scatterAdd with src of another dtype', run: (e) => e.ones([4]).scatterAdd(0, e.zeros([2], { dtype: 'i32' }), e.ones([2], { dtype: 'i32' })), error: DTypeError, mentions: ['scatterAdd', 'f32', 'i32'] },
    { what: 'scatterAdd with an index larger than src', run: (e) => e.ones([4]).scatterAdd(0, e.zeros([5], { dtype: 'i32' }), e.ones([3])), error: ShapeError, mentions: ['scatterAdd', '[4]', '[5]', '[3]'] },
    { what: 'embedding with a 1-D weight', run: (e) => embedding(e.zeros([3], { dtype: 'i32' }), e.ones([5])), error: ShapeError, mentions: ['embedding', '[5]', '[3]'] },
    { what: 'embedding with float indices', run: (e) => embedding(e.zeros([3]), e.ones([5, 2])), error: DTypeError, mentions: ['embedding', 'f32', '[3]'] },
    { what: 'oneHot with 0 classes', run: (e) => oneHot(e.zeros([3], { dtype: 'i32' }), 0), error: RangeArgumentError, mentions: ['oneHot', '[3]'] },
    { what: 'topk with k above the dim size', run: (e) => e.ones([2, 3]).topk(4), error: RangeArgumentError, mentions: ['topk', '4', '[2, 3]'] },
    { what: 'cumsum over a dim out of range', run: (e) => e.ones([2, 3]).cumsum(2), error: ShapeError, mentions: ['cumsum', '2'] },
  ];
  for (const c of bad) {
    it(`${c.what}: throws ${c.error.name}`, function () {
      const live = engine.memory().liveBuffers;
      let thrown: unknown = null;
      try {
        engine.tidy(() => c.run(engine));
      } catch (err) {
        thrown = err;
      }
      expect(thrown, 'nothing was thrown').to.be.instanceOf(KilnError);
      expect((thrown as Error).name).to.equal(c.error.name);
      for (const m of c.mentions) expect((thrown as Error).message).to.include(m);
      expect(engine.memory().liveBuffers, 'buffers left behind').to.equal(live);
    });
  }

  it('leaves no live buffers behind (forward and backward of every op)', async function () {
    await engine.sync();
    const live = engine.memory().liveBuffers;
    engine.tidy(() => {
      const x = engine.randn([5, 7]).requiresGrad_();
      const w = engine.randn([6, 3]).requiresGrad_();
      const i = engine.tensor([[0, 4, 1], [2, 2, 3]], [2, 3], { dtype: 'i32' });
      const parts = [
        x.gather(1, engine.tensor([0, 6, 6, 1, 0, 2, 3, 3, 3, 4], [5, 2], { dtype: 'i32' })).sum(),
        x.indexSelect(0, engine.tensor([4, 4, 0], [3], { dtype: 'i32' })).sum(),
        x.scatterAdd(1, engine.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4], [5, 2], { dtype: 'i32' }), x.narrow(1, 0, 2)).sum(),
        embedding(i, w).sum(),
        x.topk(3, 1).values.sum(),
        x.cumsum(0).sum(),
      ];
      parts.reduce((a, b) => a.add(b)).backward();
      void oneHot(i, 6);
      x.dispose();
      w.dispose();
    });
    await engine.sync();
    expect(engine.memory().liveBuffers).to.equal(live);
  });
});
