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

describe("scripts/quiet-dawn.mjs: Dawn's two lavapipe warnings filtered from our scripts' stderr", function () {
  it('drops exactly those lines, passes every other line and the exit code through', async function () {
    const { spawnSync } = await import('node:child_process');
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'kiln-quiet-'));
    try {
      const noisy = [
        'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.',
        'kept: a real error',
        'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.',
        'Warning: something else artificially reduced',
      ];
      const script = join(dir, 'noisy.mjs');
      writeFileSync(script, `process.stderr.write(${JSON.stringify(noisy.join('\n') + '\n')}); console.log('out ' + process.argv[2]); process.exit(3);`);
      const r = spawnSync(process.execPath, ['scripts/quiet-dawn.mjs', script, 'arg1'], { encoding: 'utf8' });
      expect(r.status).to.equal(3);
      expect(r.stdout).to.equal('out arg1\n');
      expect(r.stderr).to.equal('kept: a real error\nWarning: something else artificially reduced\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
