// safetensors from Node Buffers: readFileSync gives a Buffer whose slice() is a view into a shared
// pool (small files) or a larger allocation, so the decoder must respect the view's byteOffset.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, type HostTensor } from '../nn/index.js';

describe('safetensors: Node Buffers', function () {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'kiln-st-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  // Below and above Node's 4 KiB Buffer pool threshold, and an odd length so views are unaligned.
  for (const n of [7, 100, 3001, 20000]) {
    it(`decodes readFileSync and pooled Buffer.from copies of a file with ${n} f32 values`, function () {
      const w: HostTensor = { dtype: 'f32', shape: [n], data: Float32Array.from({ length: n }, (_, i) => i * 0.5 - 3) };
      const ids: HostTensor = { dtype: 'i32', shape: [3], data: Int32Array.from([-1, 0, n]) };
      const file = encodeSafetensors({ w, ids });
      const path = join(dir, `t${n}.safetensors`);
      writeFileSync(path, file);
      for (const [label, bytes] of [['readFileSync', readFileSync(path)], ['Buffer.from', Buffer.from(file)]] as const) {
        const { tensors } = decodeSafetensors(bytes);
        expect(Array.from(tensors.w.data), label).to.deep.equal(Array.from(w.data));
        expect(Array.from(tensors.ids.data), label).to.deep.equal(Array.from(ids.data));
      }
    });
  }
});
