// The fused top-k router (one pass plus a tiny fixed-order reduction) against the same outputs
// composed from existing ops: softmax, topk (bitonic sort + gather), column sums of the
// probabilities, a one-hot histogram of the indices, and logsumexp. Forward only, no autograd.
import { oneHot, softmax, topk, topkRouter, type Engine, type Tensor } from '../engine/index.js';
import { timeCalls } from './timing.js';

export async function benchRouter(
  engine: Engine,
  add: (row: { name: string; shape: string; msPerCall: number }) => void,
  opts: { small: boolean },
): Promise<void> {
  const n = opts.small ? 1024 : 4096;
  const iters = opts.small ? 10 : 50;
  const time = (fn: () => Tensor[]): Promise<number> =>
    timeCalls(() => engine.noGrad(() => engine.tidy(fn)).forEach((t) => t.dispose()), () => engine.sync(), { maxReps: iters });
  for (const e of [8, 64, 256]) {
    const k = e === 8 ? 2 : e === 64 ? 4 : 8;
    const shape = `[${n}, ${e}] k=${k}`;
    const logits = engine.randn([n, e]);
    const fused = await time(() => {
      const r = topkRouter(logits, k);
      return [r.weights, r.indices, r.counts, r.scoreSums, r.lse];
    });
    add({ name: `router fused E=${e}`, shape, msPerCall: fused });
    const composed = await time(() => {
      const p = softmax(logits, -1);
      const { values, indices } = topk(p, k);
      const flat = indices.reshape([n * k]);
      const counts = oneHot(flat, e).sum(0);
      return [values, indices, counts, p.sum(0), logits.logsumexp(-1)];
    });
    add({ name: `router composed E=${e}`, shape, msPerCall: composed });
    logits.dispose();
  }
}
