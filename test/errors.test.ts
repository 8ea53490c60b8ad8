// Bad input: each case must throw the named error class at the call, with a message naming the op and
// the shapes involved, and no WebGPU validation error may reach the device because of it.
import { expect } from 'chai';
import {
  binaryCrossEntropyWithLogits, crossEntropy, mseLoss, DisposedTensorError, DTypeError, EngineMismatchError, KilnError, RangeArgumentError, ShapeError,
  type Engine,
} from '../engine/index.js';
import { gpuEngine, newEngine } from './helpers/gpu.js';

type ErrorClass = typeof ShapeError;

interface BadCase {
  what: string;
  run: (e: Engine) => unknown;
  error: ErrorClass;
  /** Each pattern must occur in the message: the op's name, then the shapes (and values) involved. */
  mentions: (string | RegExp)[];
}

const CASES: BadCase[] = [
  { what: 'add with unbroadcastable shapes', run: (e) => e.ones([2, 3]).add(e.ones([4])), error: ShapeError, mentions: ['add', '[2, 3]', '[4]'] },
  { what: 'reshape to a wrong size', run: (e) => e.ones([2, 3]).reshape(4, 2), error: ShapeError, mentions: ['reshape', '[2, 3]', '[4, 2]'] },
  { what: 'view of a non-viewable layout', run: (e) => e.ones([2, 3]).t().view(6), error: ShapeError, mentions: ['view', '[3, 2]', '[6]'] },
  { what: 'permute with a repeated dim', run: (e) => e.ones([2, 3, 4]).permute(0, 0, 1), error: ShapeError, mentions: ['permute', '[2, 3, 4]'] },
  { what: 'permute with too few dims', run: (e) => e.ones([2, 3, 4]).permute(1, 0), error: ShapeError, mentions: ['permute', '[2, 3, 4]'] },
  { what: 'expand of a non-1 dim', run: (e) => e.ones([2, 3]).expand(4, 3), error: ShapeError, mentions: ['expand', '[2, 3]', '[4, 3]'] },
  { what: 'narrow past the end', run: (e) => e.ones([2, 5]).narrow(1, 3, 4), error: RangeArgumentError, mentions: ['narrow', '[2, 5]'] },
  { what: 'slice on a dim out of range', run: (e) => e.ones([2, 3]).slice(2, 0, 1), error: ShapeError, mentions: ['slice', '[2, 3]'] },
  { what: 'slice with step 0', run: (e) => e.ones([2, 3]).slice(1, 0, 3, 0), error: RangeArgumentError, mentions: ['slice', '[2, 3]'] },
  { what: 'select an index out of range', run: (e) => e.ones([2, 3]).select(1, 3), error: RangeArgumentError, mentions: ['select', /\b3\b/, '[2, 3]'] },
  { what: 'sum over an axis out of range', run: (e) => e.ones([2, 3]).sum(2), error: ShapeError, mentions: ['sum', /axis 2\b/, '[2, 3]'] },
  { what: 'softmax over an axis out of range', run: (e) => e.ones([2, 3]).softmax(-3), error: ShapeError, mentions: ['softmax', /-3\b/, '[2, 3]'] },
  { what: 'exp on an i32 tensor', run: (e) => e.tensor([1, 2, 3], [3], { dtype: 'i32' }).exp(), error: DTypeError, mentions: ['exp', 'i32', '[3]'] },
  {
    what: 'add of f32 and i32',
    run: (e) => e.ones([2]).add(e.tensor([1, 2], [2], { dtype: 'i32' })),
    error: DTypeError,
    mentions: ['add', 'f32', 'i32', '[2]'],
  },
  {
    what: 'requiresGrad on an integer tensor (factory option)',
    run: (e) => e.tensor([1, 2], [2], { dtype: 'i32', requiresGrad: true }),
    error: DTypeError,
    mentions: ['requiresGrad', 'i32', '[2]'],
  },
  {
    what: 'requiresGrad_() on an integer tensor',
    run: (e) => e.tensor([1, 2], [2], { dtype: 'i32' }).requiresGrad_(),
    error: DTypeError,
    mentions: ['requiresGrad', 'i32', '[2]'],
  },
  { what: 'tensor() from ragged nested arrays', run: (e) => e.tensor([[1, 2, 3], [4, 5]]), error: ShapeError, mentions: ['tensor', /ragged/, /\b3\b/, /\b2\b/] },
  { what: 'tensor() with too few values', run: (e) => e.tensor([1, 2, 3], [2, 3]), error: ShapeError, mentions: ['tensor', /\b3\b/, '[2, 3]'] },
  {
    what: 'using a disposed tensor',
    run: (e) => {
      const t = e.ones([2, 3]);
      t.dispose();
      return t.exp();
    },
    error: DisposedTensorError,
    mentions: ['exp', '[2, 3]'],
  },
  {
    what: 'a disposed second operand',
    run: (e) => {
      const t = e.ones([4]);
      t.dispose();
      return e.ones([4]).mul(t);
    },
    error: DisposedTensorError,
    mentions: ['mul', '[4]'],
  },
  { what: 'matmul with mismatched inner dims', run: (e) => e.ones([2, 3]).matmul(e.ones([4, 5])), error: ShapeError, mentions: ['matmul', '[2, 3]', '[4, 5]'] },
  { what: 'cat with mismatched shapes', run: (e) => e.cat([e.ones([2, 3]), e.ones([2, 4])], 0), error: ShapeError, mentions: ['cat', '[2, 3]', '[2, 4]'] },
  {
    what: 'crossEntropy with a float target',
    run: (e) => crossEntropy(e.randn([4, 5]), e.zeros([4])),
    error: DTypeError,
    mentions: ['crossEntropy', 'f32', '[4]'],
  },
  { what: 'mseLoss of different shapes', run: (e) => mseLoss(e.ones([4, 3]), e.ones([3])), error: ShapeError, mentions: ['mseLoss', '[4, 3]', '[3]'] },
  {
    what: 'binaryCrossEntropyWithLogits with a posWeight that does not broadcast',
    run: (e) => binaryCrossEntropyWithLogits(e.ones([4, 3]), e.ones([4, 3]), { posWeight: e.ones([4]) }),
    error: ShapeError,
    mentions: ['binaryCrossEntropyWithLogits', 'posWeight', '[4]', '[4, 3]'],
  },
  {
    what: 'binaryCrossEntropyWithLogits with an unknown reduction',
    run: (e) => binaryCrossEntropyWithLogits(e.ones([2]), e.ones([2]), { reduction: 'avg' as 'mean' }),
    error: RangeArgumentError,
    mentions: ['binaryCrossEntropyWithLogits', 'avg'],
  },
];

function checkThrows(what: string, fn: () => unknown, error: ErrorClass, mentions: (string | RegExp)[]): void {
  let thrown: unknown = null;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `${what}: nothing was thrown`).to.not.equal(null);
  const err = thrown as Error;
  expect(err, `${what}: threw ${err?.name}: ${err?.message}`).to.be.instanceOf(error);
  expect(err).to.be.instanceOf(KilnError);
  expect(err.name, `${what}: error name`).to.equal(error.name);
  for (const m of mentions) {
    if (typeof m === 'string') expect(err.message, `${what}: message should mention ${m}`).to.include(m);
    else expect(err.message, `${what}: message should match ${m}`).to.match(m);
  }
}

describe('bad input', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
    // Catch, in addition to the engine's uncaptured-error list, anything the cases cause on the device.
    engine.device.pushErrorScope('validation');
  });

  for (const c of CASES) {
    it(`${c.what}: throws ${c.error.name}`, function () {
      const live = engine.memory().liveBuffers;
      checkThrows(c.what, () => engine.tidy(() => c.run(engine)), c.error, c.mentions);
      expect(engine.memory().liveBuffers, `${c.what}: buffers left behind`).to.equal(live);
    });
  }

  it('mixing tensors from two engines: throws EngineMismatchError', async function () {
    const other = await newEngine();
    try {
      const a = engine.ones([2]);
      const b = other.ones([3]);
      checkThrows('add across engines', () => a.add(b), EngineMismatchError, ['add', '[2]', '[3]']);
      checkThrows('cat across engines', () => engine.cat([a, b.reshape(3)]), EngineMismatchError, ['cat']);
      a.dispose();
      b.dispose();
    } finally {
      other.destroy();
    }
  });

  it('no WebGPU validation error reached the device', async function () {
    await engine.sync();
    const scoped = await engine.device.popErrorScope();
    expect(scoped?.message ?? null, 'validation error inside the bad-input cases').to.equal(null);
    expect(engine.deviceErrors).to.deep.equal([]);
  });

  it('would have seen one: a deliberate validation error is reported in deviceErrors', async function () {
    // On a separate engine, so the shared one stays clean.
    const other = await newEngine();
    try {
      // MAP_READ may only be combined with COPY_DST: an invalid buffer, reported asynchronously.
      other.device.createBuffer({ label: 'deliberately invalid (expected validation error)', size: 4, usage: 0x0001 | 0x0080 });
      await other.sync();
      for (let i = 0; i < 20 && other.deviceErrors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(other.deviceErrors.length).to.be.greaterThan(0);
    } finally {
      other.destroy();
    }
  });
});
