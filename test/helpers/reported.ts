// Index errors found on the GPU surface at the next readback (engine/device-checks.ts): a helper that
// awaits a readback and checks it threw RangeArgumentError naming the op, the index and the size.
import { expect } from 'chai';
import { RangeArgumentError } from '../../engine/index.js';

/**
 * `readback` must reject with RangeArgumentError whose message starts with `op:` and names the
 * index `value` and the dim `size` (either may be left out where several indices are bad).
 */
export async function expectReported(readback: Promise<unknown>, op: string, value?: number, size?: number): Promise<RangeArgumentError> {
  let thrown: unknown = null;
  try {
    await readback;
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `${op}: the readback did not throw`).to.be.instanceOf(RangeArgumentError);
  const msg = (thrown as Error).message;
  expect(msg.startsWith(`${op}: `), `message names the op ${op}: ${msg}`).to.equal(true);
  const [head, range] = msg.split(' is out of range ');
  expect(range, `message says out of range: ${msg}`).to.be.a('string');
  if (value !== undefined) expect(head.endsWith(` ${value}`), `message names the index ${value}: ${msg}`).to.equal(true);
  if (size !== undefined) expect(range, `message names the size ${size}: ${msg}`).to.match(new RegExp(`^for (a dim of size |numClasses )?${size} `));
  return thrown as RangeArgumentError;
}
