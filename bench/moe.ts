// Mixture-of-experts FFN benchmarks at k = 2 for E = 8, 32, 64: the on-device dispatch
// (expertFFN: counting sort + grouped GEMMs, no host round trip) against the per-expert loop
// (indices read back, one gather + matmuls + scatter-add per expert) and the dense-masked
// computation (every expert on every token). Forward, then forward + backward. Times are wall-clock
// over several calls between GPU syncs; the loop waits for its readback on every call, as it must.
import { expertFFN, expertFFNDense, expertFFNLoop, type Engine, type Tensor } from '../engine/index.js';
import { timeCalls } from './timing.js';

export interface MoEBenchRow {
  name: string;
  shape: string;
  msPerCall: number;
}

/** Router-like indices: k distinct experts per token, drawn with a fixed seed. */
function routerIndices(N: number, k: number, E: number, seed: number): Int32Array {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const out = new Int32Array(N * k);
  for (let n = 0; n < N; n++) {
    const chosen = new Set<number>();
    while (chosen.size < k) chosen.add(Math.floor(rand() * E));
    [...chosen].forEach((e, j) => (out[n * k + j] = e));
  }
  return out;
}

export async function benchMoE(engine: Engine, add: (row: MoEBenchRow) => void, opts: { small: boolean }): Promise<void> {
  const k = 2;
  const [N, D, F] = opts.small ? [256, 128, 256] : [4096, 512, 1024];
  const iters = opts.small ? 3 : 20;
  for (const E of [8, 32, 64]) {
    const shape = `N=${N} D=${D} F=${F} k=${k}`;
    const x = engine.randn([N, D]);
    const idx = engine.tensor(routerIndices(N, k, E, 7 + E), [N, k], { dtype: 'i32' });
    const w = engine.rand([N, k]);
    const w1 = engine.randn([E, D, F], { std: 1 / Math.sqrt(D) });
    const w2 = engine.randn([E, F, D], { std: 1 / Math.sqrt(F) });
    const gy = engine.randn([N, D]);
    const params = [x, w, w1, w2];

    const fwd = {
      dispatch: () => engine.noGrad(() => expertFFN(x, idx, w, w1, w2)).dispose(),
      loop: async () => (await engine.noGrad(() => expertFFNLoop(x, idx, w, w1, w2))).dispose(),
      dense: () => engine.noGrad(() => expertFFNDense(x, idx, w, w1, w2)).dispose(),
    };
    for (const [name, fn] of Object.entries(fwd)) {
      add({ name: `moe ${name} E=${E}`, shape, msPerCall: await timeCalls(fn, () => engine.sync(), { samples: 3, maxReps: iters }) });
    }

    // Forward + backward: gradients for x, the gate weights, W1 and W2.
    const withGrad = async (f: (l: Tensor[]) => Tensor | Promise<Tensor>) => {
      const leaves = params.map((t) => t.detach().requiresGrad_());
      const y = await f(leaves);
      const grads = engine.autogradGrad(y, leaves, { gradOutput: gy });
      for (const t of [y, ...grads, ...leaves]) t?.dispose();
    };
    const bwd = {
      dispatch: () => withGrad(([a, b, c, d]) => expertFFN(a, idx, b, c, d)),
      loop: () => withGrad(([a, b, c, d]) => expertFFNLoop(a, idx, b, c, d)),
      dense: () => withGrad(([a, b, c, d]) => expertFFNDense(a, idx, b, c, d)),
    };
    for (const [name, fn] of Object.entries(bwd)) {
      add({ name: `moe ${name} E=${E} fwd+bwd`, shape, msPerCall: await timeCalls(fn, () => engine.sync(), { samples: 3, maxReps: iters }) });
    }
    for (const t of [...params, idx, gy]) t.dispose();
  }
}
