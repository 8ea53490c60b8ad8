// jax-js on its WebGPU backend. It runs in Node once navigator.gpu exists and navigator.userAgent is
// a string (its WebGPU module reads userAgent at import; main.ts sets both). Arrays follow move
// semantics: `.ref` keeps an input alive across calls.
import { timeCalls, type TimeOptions } from '../timing.js';
import type { Peer } from './peer.js';

export async function createJaxjs(t: TimeOptions): Promise<Peer> {
  const jax = await import('@jax-js/jax');
  const devices = await jax.init();
  if (!devices.includes('webgpu')) throw new Error(`jax.init() found no webgpu device (got ${devices.join(', ')})`);
  jax.defaultDevice('webgpu');
  const np = jax.numpy;
  type A = import('@jax-js/jax').Array;
  // jax-js is lazy: disposing an output before it is realised can skip its work (a first version
  // did that and reported matmuls above the FMA ceiling). So keep every output of a sample and
  // realise each one before disposing.
  let pending: A[] = [];
  const sync = async () => {
    for (const y of pending) await y.blockUntilReady();
    for (const y of pending) y.dispose();
    pending = [];
  };
  const run = async (inputs: A[], op: (xs: A[]) => A): Promise<number> => {
    const f = jax.jit(op);
    const ms = await timeCalls(() => {
      pending.push(f(inputs.map((x) => x.ref)));
    }, sync, t);
    f.dispose();
    for (const x of inputs) x.dispose();
    return ms;
  };
  let key = jax.random.key(0);
  const randn = (shape: number[]): A => {
    const [k1, k2] = jax.random.split(key);
    key = k1;
    return jax.random.normal(k2, shape);
  };
  return {
    name: 'jaxjs',
    matmul: (batch, m, k, n) => run(batch > 1 ? [randn([batch, m, k]), randn([batch, k, n])] : [randn([m, k]), randn([k, n])], ([a, b]) => np.matmul(a, b)),
    softmax: (r, c) => run([randn([r, c])], ([x]) => jax.nn.softmax(x, -1)),
    sumRows: (r, c) => run([randn([r, c])], ([x]) => np.sum(x, -1)),
    dispose: () => key.dispose(),
  };
}
