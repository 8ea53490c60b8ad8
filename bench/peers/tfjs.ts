// TF.js with its WebGPU backend, on the same Dawn instance as kiln (navigator.gpu is set by main.ts
// before this module is imported). Sync: read back one element computed from the last output; the
// queue is in order, so that waits for every earlier call. (Calling the backend's submitQueue() from
// outside while tfjs holds an open compute pass invalidates its command buffer: measured, not used.)
import type { TimeOptions } from '../timing.js';
import { timeCalls } from '../timing.js';
import type { Peer } from './peer.js';

export async function createTfjs(t: TimeOptions): Promise<Peer> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend("webgpu") failed');
  await tf.ready();
  type T = import('@tensorflow/tfjs-core').Tensor;
  let last: T | null = null;
  const sync = async () => {
    if (!last) return;
    const probe = tf.tidy(() => tf.sum(tf.slice(tf.reshape(last!, [-1]), 0, 1)));
    await probe.data();
    probe.dispose();
    last.dispose();
    last = null;
  };
  const run = async (inputs: T[], op: (xs: T[]) => T): Promise<number> => {
    const ms = await timeCalls(() => {
      last?.dispose();
      last = tf.tidy(() => op(inputs));
    }, sync, t);
    tf.dispose(inputs);
    return ms;
  };
  const layerNorm = (x: T, g: T, b: T): T => {
    // What tfjs-layers' LayerNormalization computes: moments over the last axis, then scale + shift.
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
  };
  return {
    name: 'tfjs',
    matmul: (batch, m, k, n) =>
      run(batch > 1 ? [tf.randomNormal([batch, m, k]), tf.randomNormal([batch, k, n])] : [tf.randomNormal([m, k]), tf.randomNormal([k, n])], ([a, b]) => tf.matMul(a, b)),
    softmax: (r, c) => run([tf.randomNormal([r, c])], ([x]) => tf.softmax(x)),
    layerNorm: (r, c) => run([tf.randomNormal([r, c]), tf.ones([c]), tf.zeros([c])], ([x, g, b]) => layerNorm(x, g, b)),
    sumRows: (r, c) => run([tf.randomNormal([r, c])], ([x]) => tf.sum(x, -1)),
    attention: (B, H, T, D) => {
      const mask = tf.linalg.bandPart(tf.ones([T, T]), -1, 0); // lower triangle = allowed
      const neg = tf.mul(tf.sub(1, mask), -1e9);
      mask.dispose();
      return run([tf.randomNormal([B, H, T, D]), tf.randomNormal([B, H, T, D]), tf.randomNormal([B, H, T, D]), neg], ([q, k, v, bias]) => {
        const s = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(D)), bias);
        return tf.matMul(tf.softmax(s), v);
      });
    },
    dispose: () => tf.engine().reset(),
  };
}
