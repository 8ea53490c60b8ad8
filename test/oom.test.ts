// Out-of-memory (issue 22 item 5): a buffer the driver refuses (WebGPU reports it to an
// 'out-of-memory' error scope, asynchronously, and hands back an invalid buffer) surfaces as a
// DeviceError at the next readback, with the pool's cached memory released and the invalid buffer
// never reused. Lavapipe never reports one (under an address-space limit Dawn on lavapipe returns no
// error and the process segfaults when the buffer is used; without one Linux overcommits), so the
// driver's refusal is simulated here by a device wrapper that adds an OOM error to the scope kiln pushes
// around a large allocation; everything else goes to the real device.
import { expect } from 'chai';
import { DeviceError, Engine } from '../engine/index.js';
import { gpuEngine, newEngine } from './helpers/gpu.js';

/** The real device, except that allocations of `refuse.atLeast` bytes or more are reported as out of memory. */
function refusingDevice(real: GPUDevice, refuse: { atLeast: number; count: number }): GPUDevice {
  const scopes: { filter: GPUErrorFilter; refused: boolean }[] = [];
  return new Proxy(real, {
    get(target, key) {
      if (key === 'pushErrorScope') {
        return (filter: GPUErrorFilter) => {
          scopes.push({ filter, refused: false });
          target.pushErrorScope(filter);
        };
      }
      if (key === 'popErrorScope') {
        return () => {
          const s = scopes.pop();
          return target.popErrorScope().then((e) => (s?.refused ? (e ?? { message: 'simulated: the driver is out of memory' }) : e));
        };
      }
      if (key === 'createBuffer') {
        return (d: GPUBufferDescriptor) => {
          const top = scopes[scopes.length - 1];
          if (d.size >= refuse.atLeast && top?.filter === 'out-of-memory') {
            top.refused = true;
            refuse.count++;
          }
          return target.createBuffer(d);
        };
      }
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('out of memory: a refused allocation is a DeviceError at the next readback', function () {
  before(async function () {
    await gpuEngine(this); // skips loudly without an adapter
  });

  it('names the tensor and its bytes, releases the pool, never reuses the refused buffer; the next readback is clean', async function () {
    const base = await newEngine();
    const refuse = { atLeast: Infinity, count: 0 };
    const engine = await Engine.create({ device: refusingDevice(base.device, refuse) });
    try {
      engine.tensor([1, 2, 3]).mul(2).dispose();
      await engine.sync();
      expect(engine.memory().pooledBytes, 'cached buffers before').to.be.greaterThan(0);
      refuse.atLeast = 2 ** 20;
      const big = engine.zeros([2 ** 18 + 1]);
      expect(refuse.count, 'the allocation was refused').to.equal(1);
      let thrown: unknown = null;
      try {
        await big.data();
      } catch (e) {
        thrown = e;
      }
      expect(thrown).to.be.instanceOf(DeviceError);
      expect((thrown as Error).message).to.match(/^out of memory: .*\[262145\] \(\d+ bytes\): simulated/);
      expect(engine.memory().pooledBytes, 'the pool was evicted').to.equal(0);
      big.dispose();
      expect(engine.memory().pooledBytes, 'the refused buffer is not pooled').to.equal(0);
      refuse.atLeast = Infinity;
      const ok = engine.tensor([1, 2, 3]).add(1);
      expect(Array.from(await ok.data())).to.deep.equal([2, 3, 4]);
      ok.dispose();
      const again = engine.zeros([2 ** 18 + 1]);
      expect((await again.data()).length, 'a retry allocates a new buffer').to.equal(2 ** 18 + 1);
      again.dispose();
      expect(engine.deviceErrors).to.deep.equal([]);
    } finally {
      engine.destroy(); // destroys base's device too
    }
  });
});
