// Dawn's Node binding polls pending callbacks with setImmediate (a spinning main thread); dawnGPU()
// reroutes those polls through setTimeout (nn/node/gpu.ts). These tests check that a readback still
// completes and goes through timers in 'timer' mode, that 'spin' restores the binding's own polling,
// and that user code's setImmediate is never rerouted.
import { expect } from 'chai';
import type { Engine } from '../engine/index.js';
import { dawnPolling, setDawnPolling } from '../nn/node/gpu.js';
import { gpuEngine } from './helpers/gpu.js';

describe('nn/node: Dawn polling (timer instead of a setImmediate spin)', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });
  after(() => setDawnPolling('timer'));

  /** Rerouted polls seen while reading back a sum (the result checked against the closed form). */
  async function readbackPolls(): Promise<number> {
    const realTimeout = globalThis.setTimeout;
    let polls = 0;
    globalThis.setTimeout = ((fn: (...a: unknown[]) => void, ms?: number, ...a: unknown[]) => {
      if (fn.name === '' && Function.prototype.toString.call(fn) === 'function () { [native code] }') polls++;
      return realTimeout(fn, ms, ...a);
    }) as typeof setTimeout;
    try {
      const n = 1 << 16;
      const x = engine.tensor(Float32Array.from({ length: n }, (_, i) => i % 7), [n]);
      const s = x.mul(x).sum(); // Σ (i mod 7)² over 2^16 elements
      const v = await s.item();
      x.dispose();
      s.dispose();
      let want = 0;
      for (let i = 0; i < n; i++) want += (i % 7) ** 2;
      expect(v).to.equal(want);
    } finally {
      globalThis.setTimeout = realTimeout;
    }
    return polls;
  }

  it("dawnGPU() chose 'timer'; a readback completes and its polls go through setTimeout", async function () {
    expect(dawnPolling()).to.equal('timer');
    expect(await readbackPolls()).to.be.greaterThan(0);
  });

  it("'spin' restores Dawn's setImmediate polling (no poll through setTimeout), and 'timer' reroutes again", async function () {
    setDawnPolling('spin');
    expect(dawnPolling()).to.equal('spin');
    expect(await readbackPolls()).to.equal(0);
    setDawnPolling('timer');
    expect(await readbackPolls()).to.be.greaterThan(0);
  });

  it("user code's setImmediate is never rerouted, bound (native-looking) functions included", async function () {
    const realTimeout = globalThis.setTimeout;
    let timers = 0;
    globalThis.setTimeout = ((...a: Parameters<typeof setTimeout>) => (timers++, realTimeout(...a))) as typeof setTimeout;
    const ran: string[] = [];
    try {
      await new Promise<void>((done) => setImmediate(() => (ran.push('arrow'), done())));
      await new Promise<void>((done) => setImmediate(function (this: unknown) { ran.push('bound'); done(); }.bind(null)));
    } finally {
      globalThis.setTimeout = realTimeout;
    }
    expect(ran).to.deep.equal(['arrow', 'bound']);
    expect(timers, 'no setTimeout behind them').to.equal(0);
    // util.promisify(setImmediate) keeps its custom implementation through the wrapper.
    const { promisify } = await import('node:util');
    expect(await promisify(setImmediate)('value')).to.equal('value');
    expect(() => setDawnPolling('busy' as 'spin')).to.throw(/setDawnPolling: mode/);
  });
});
