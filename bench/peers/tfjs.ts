// TF.js with its WebGPU backend, on the same Dawn instance as kiln (navigator.gpu is set by main.ts
// before this module is imported). Sync: read back one element computed from the last output; the
// queue is in order, so that waits for every earlier call. (Calling the backend's submitQueue() from
// outside while tfjs holds an open compute pass invalidates its command buffer: measured, not used.)
import type { TransformerLMConfig } from '../../nn/index.js';
import type { TimeOptions } from '../timing.js';
import { timeCalls } from '../timing.js';
import type { Peer } from './peer.js';
import { TfjsTransformerLM, type AdamWOptions } from './tfjs-transformer.js';

/** The TF.js peer also times a training step of kiln's dense TransformerLM (tfjs-transformer.ts). */
export interface TfjsPeer extends Peer {
  /**
   * Median ms of one AdamW step of the LM `config` on ids/targets (B, T), timed as kiln's step (same
   * TimeOptions; sync = read back the step's loss), and the model's parameter count.
   */
  trainStep(config: TransformerLMConfig, ids: Int32Array, targets: Int32Array, shape: [number, number], opt: AdamWOptions, time: TimeOptions): Promise<{ ms: number; parameters: number }>;
}

export async function createTfjs(t: TimeOptions): Promise<TfjsPeer> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('./tfjs-gradients.js'); // after tfjs-core: see the file
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
    trainStep: async (config, ids, targets, shape, opt, time) => {
      const model = new TfjsTransformerLM(tf, config, opt);
      const x = tf.tensor(ids, shape, 'int32');
      const y = tf.tensor(targets, shape, 'int32');
      let loss: import('@tensorflow/tfjs-core').Scalar | null = null;
      let steps = 0;
      try {
        const ms = await timeCalls(
          () => {
            loss?.dispose();
            loss = model.step(x, y);
            steps++;
          },
          async () => {
            // The loss is computed before the update, but the queue is in order and the readback
            // submits everything encoded so far, so this waits for the whole step.
            if (loss) await loss.data();
          },
          time,
        );
        // A check that the steps did real work (the loss of the last one, read again, is cached):
        // the loss of a fresh model is about ln(vocab), and falls as the same batch repeats.
        const last = (await loss!.data())[0];
        console.log(`  tfjs train step: loss ${last.toFixed(3)} after ${steps - 1} steps (ln(vocab) = ${Math.log(config.vocabSize).toFixed(3)})`);
        return { ms, parameters: model.numParameters() };
      } finally {
        (loss as { dispose(): void } | null)?.dispose();
        tf.dispose([x, y]);
        model.dispose();
      }
    },
    dispose: () => tf.engine().reset(),
  };
}
