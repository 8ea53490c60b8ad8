// The GPU test harness refuses Dawn's real null backend (it executes nothing, so every GPU test
// would "pass" on garbage). Node only: it opens Dawn directly.
import { expect } from 'chai';
import { Engine } from '../engine/index.js';
import { dawnGPU } from '../nn/node/gpu.js';
import { assertRealAdapter } from './helpers/gpu.js';

describe('engine: test harness (Dawn)', function () {
  it("refuses Dawn's null backend", async function () {
    const engine = await Engine.create({ gpu: dawnGPU(['backend=null']) });
    try {
      expect(() => assertRealAdapter(engine)).to.throw(/null backend/);
    } finally {
      engine.destroy();
    }
  });
});
