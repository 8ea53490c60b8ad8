// Runs the op table: forward against float64 references on odd shapes and layouts, backward against
// finite differences, and f16 forward where the device has shader-f16.
import { expect } from 'chai';
import type { Engine } from '../engine/index.js';
import { gpuEngine } from './helpers/gpu.js';
import { checkBackward, checkForward, isFloatSpec, type OpCase } from './op-table/harness.js';
import { OP_NAMES } from './op-table/names.js';
import { OP_TABLE, STATISTICAL } from './op-table/table.js';

describe('op table', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('covers every op with at least one case (or a statistical test)', function () {
    const missing = OP_NAMES.filter((op) => (OP_TABLE[op] as OpCase[]).length === 0 && !STATISTICAL[op]);
    expect(missing, `ops without cases: ${missing.join(', ')}`).to.deep.equal([]);
  });

  for (const op of OP_NAMES) {
    const cases = OP_TABLE[op] as OpCase[];
    if (cases.length === 0) continue;
    describe(op, function () {
      cases.forEach((c, i) => {
        const label = c.label ?? c.inputs.map((s) => `[${s.shape}]${s.layout && s.layout !== 'contiguous' ? ` ${s.layout}` : ''}${s.dtype && s.dtype !== 'f32' ? ` ${s.dtype}` : ''}`).join(', ');
        const hasFloat = c.inputs.some(isFloatSpec);
        it(`forward ${label}`, async function () {
          await checkForward(engine, op, i, c);
        });
        if ((c.grad ?? hasFloat) && hasFloat) {
          it(`backward ${label}`, async function () {
            await checkBackward(engine, op, i, c);
          });
        }
        if ((c.f16 ?? hasFloat) && hasFloat) {
          it(`f16 forward ${label}`, async function () {
            if (!engine.caps.shaderF16) this.skip();
            await checkForward(engine, op, i, c, 'f16');
          });
        }
      });
    });
  }
});
