// The fused top-k MoE router (topkRouter) against a float64 CPU reference: integer-valued logits so
// that many experts tie (ties go to the lower index), E = 8/16/64/256, k = 1/2/4/8, softmax and
// sigmoid scoring, renormalisation on and off, N = 1 and odd N, on both reduction paths (the subgroup
// path is skipped where the device has no 'subgroups' feature: Deno's wgpu here). Then gradients of
// a loss mixing weights, scoreSums and lse against central differences of the reference,
// bit-identical statistics across runs, argument errors, and no leaked buffers.
import { expect } from 'chai';
import { DTypeError, KilnError, RangeArgumentError, ShapeError, topkRouter, type Engine, type Tensor } from '../engine/index.js';
import { assertClose, assertEqualArrays } from './helpers/compare.js';
import { gpuEngine } from './helpers/gpu.js';
import { disposeAll, values } from './helpers/tensors.js';
import { seededRandom } from './op-table/harness.js';

type Path = 'subgroup' | 'workgroup';

interface Ref {
  weights: number[];
  indices: number[];
  counts: number[];
  sums: number[];
  lse: number[];
}

/** The router in float64. `fixed` pins the selection (for finite differences across a kink). */
function reference(x: number[], n: number, e: number, k: number, sigmoid: boolean, renorm: boolean, fixed?: number[]): Ref {
  const out: Ref = { weights: [], indices: [], counts: new Array(e).fill(0), sums: new Array(e).fill(0), lse: [] };
  for (let r = 0; r < n; r++) {
    const row = x.slice(r * e, (r + 1) * e);
    const m = Math.max(...row);
    const z = row.reduce((a, v) => a + Math.exp(v - m), 0);
    const lse = m + Math.log(z);
    const score = row.map((v) => (sigmoid ? 1 / (1 + Math.exp(-v)) : Math.exp(v - lse)));
    // Largest logit first (the scores are monotone in it), ties to the lower index.
    const sel = fixed ? fixed.slice(r * k, (r + 1) * k) : row.map((_, i) => i).sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
    const w = sel.map((i) => score[i]);
    const total = w.reduce((a, b) => a + b, 0);
    out.weights.push(...w.map((v) => (renorm ? v / total : v)));
    out.indices.push(...sel);
    for (const i of sel) out.counts[i]++;
    score.forEach((v, i) => (out.sums[i] += v));
    out.lse.push(lse);
  }
  return out;
}

/** Integer logits in a narrow range: plenty of ties. */
function tiedLogits(count: number, seed: number, width = 5): number[] {
  const rand = seededRandom(seed);
  return Array.from({ length: count }, () => Math.floor(rand() * width) - 2);
}

/** Distinct logits at least 0.04 apart within each row, so a finite-difference step never reorders them. */
function separatedLogits(n: number, e: number, seed: number): number[] {
  const rand = seededRandom(seed);
  const out: number[] = [];
  for (let r = 0; r < n; r++) {
    const order = Array.from({ length: e }, (_, i) => i).sort(() => rand() - 0.5);
    for (let i = 0; i < e; i++) out.push(Math.fround((order[i] - e / 2) * 0.05 + 0.01 * rand()));
  }
  return out;
}

const TOL = { rtol: 1e-4, atol: 2e-6 };

describe('router: fused top-k routing with balancing statistics', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  /** `it` on one path: skipped without subgroups for the subgroup path, and failing on leaked buffers. */
  function itPath(path: Path, title: string, fn: () => Promise<void>): void {
    const suffix = path === 'subgroup' ? ' [subgroup path; skipped without the subgroups feature, as under Deno]' : ' [workgroup path]';
    it(title + suffix, async function () {
      if (path === 'subgroup' && !engine.caps.subgroups) this.skip();
      const live0 = engine.memory().liveBuffers;
      await fn();
      expect(engine.memory().liveBuffers - live0, 'GPU buffers left alive').to.equal(0);
    });
  }

  async function check(path: Path, n: number, e: number, k: number, sigmoid: boolean, renorm: boolean, x: number[]): Promise<void> {
    const what = `N=${n} E=${e} k=${k} ${sigmoid ? 'sigmoid' : 'softmax'}${renorm ? ' renorm' : ''}`;
    const logits = engine.tensor(x, [n, e]);
    const r = topkRouter(logits, k, { scoring: sigmoid ? 'sigmoid' : 'softmax', renormalize: renorm, path });
    const ref = reference(x, n, e, k, sigmoid, renorm);
    try {
      expect(r.weights.shape).to.deep.equal([n, k]);
      expect(r.indices.dtype).to.equal('i32');
      expect(r.counts.dtype).to.equal('i32');
      assertEqualArrays(await values(r.indices), ref.indices, `${what}: indices`);
      assertEqualArrays(await values(r.counts), ref.counts, `${what}: counts`);
      assertClose(await values(r.weights), ref.weights, TOL, `${what}: weights`);
      assertClose(await values(r.lse), ref.lse, TOL, `${what}: lse`);
      assertClose(await values(r.scoreSums), ref.sums, { rtol: 1e-4, atol: 1e-5 }, `${what}: scoreSums`);
    } finally {
      disposeAll(logits, r.weights, r.indices, r.counts, r.scoreSums, r.lse);
    }
  }

  for (const path of ['workgroup', 'subgroup'] as const) {
    for (const e of [8, 16, 64, 256]) {
      itPath(path, `matches the float64 reference with tied integer logits, E = ${e}, k = 1/2/4/8, softmax and sigmoid, renormalised or not, N = 1/37/300`, async () => {
        let seed = e;
        for (const k of [1, 2, 4, 8]) {
          for (const sigmoid of [false, true]) {
            for (const renorm of [false, true]) {
              const n = [1, 37, 300][seed % 3];
              await check(path, n, e, k, sigmoid, renorm, tiedLogits(n * e, seed++));
            }
          }
        }
      });
    }

    itPath(path, 'handles E not a power of two or a multiple of the workgroup (E = 1, 5, 100), rows of equal logits and -inf', async () => {
      await check(path, 7, 1, 1, false, false, tiedLogits(7, 1));
      await check(path, 9, 5, 3, false, true, tiedLogits(45, 2));
      await check(path, 13, 100, 8, true, false, tiedLogits(1300, 3));
      // All equal: experts 0..k-1, weight 1/E each.
      await check(path, 3, 64, 4, false, false, new Array(192).fill(1.5));
      // Masked experts at -inf: never chosen while a finite logit is left; their softmax score is 0.
      const x = tiedLogits(2 * 16, 4).map((v, i) => (i % 3 === 0 ? -Infinity : v));
      await check(path, 2, 16, 4, false, true, x);
    });

    itPath(path, 'reads a non-contiguous logits view (a transpose)', async () => {
      const x = tiedLogits(37 * 16, 9);
      const base = engine.tensor(x, [37, 16]);
      const bt = base.t();
      const t = bt.contiguous();
      const view = t.t();
      const r = topkRouter(view, 2, { path });
      const ref = reference(x, 37, 16, 2, false, false);
      assertEqualArrays(await values(r.indices), ref.indices, 'indices');
      assertClose(await values(r.weights), ref.weights, TOL, 'weights');
      disposeAll(base, bt, t, view, r.weights, r.indices, r.counts, r.scoreSums, r.lse);
    });

    for (const [n, e, k] of [
      [5, 16, 4],
      [3, 256, 8],
      [1, 8, 1],
    ] as const) {
      for (const sigmoid of [false, true]) {
        itPath(path, `gradient of a loss mixing weights, scoreSums and lse² matches central differences (N=${n} E=${e} k=${k} ${sigmoid ? 'sigmoid' : 'softmax'}, renormalised or not)`, async () => {
          for (const renorm of [false, true]) {
            const x = separatedLogits(n, e, n * e + k);
            const rand = seededRandom(17 + k);
            const a = Array.from({ length: n * k }, () => rand() - 0.5);
            const b = Array.from({ length: e }, () => rand() - 0.5);
            const c = Array.from({ length: n }, () => rand() - 0.5);
            const loss = (v: number[], fixed?: number[]) => {
              const r = reference(v, n, e, k, sigmoid, renorm, fixed);
              let s = 0;
              r.weights.forEach((w, i) => (s += a[i] * w));
              r.sums.forEach((w, i) => (s += b[i] * w));
              r.lse.forEach((l, i) => (s += c[i] * l * l));
              return s;
            };
            const sel = reference(x, n, e, k, sigmoid, renorm).indices;
            const h = 1e-5;
            const fd = x.map((_, i) => {
              const up = x.slice();
              const dn = x.slice();
              up[i] += h;
              dn[i] -= h;
              return (loss(up, sel) - loss(dn, sel)) / (2 * h);
            });
            const [A, B, C, X] = [engine.tensor(a, [n, k]), engine.tensor(b), engine.tensor(c), engine.tensor(x, [n, e])];
            const [gx] = engine.grad((logits: Tensor) => {
              const r = topkRouter(logits, k, { scoring: sigmoid ? 'sigmoid' : 'softmax', renormalize: renorm, path });
              return r.weights.mul(A).sum().add(r.scoreSums.mul(B).sum()).add(r.lse.mul(r.lse).mul(C).sum());
            })(X);
            assertClose(await values(gx), fd, { rtol: 2e-3, atol: 2e-5 }, `renorm=${renorm}: d loss / d logits`);
            disposeAll(A, B, C, X, gx);
          }
        });
      }
    }

    itPath(path, 'is deterministic: two runs give bit-identical weights, lse and statistics (N = 300, E = 64)', async () => {
      const x = separatedLogits(300, 64, 5).map((v, i) => v * (1 + (i % 7)));
      const logits = engine.tensor(x, [300, 64]);
      const runs: number[][][] = [];
      for (let i = 0; i < 2; i++) {
        const r = topkRouter(logits, 4, { path, renormalize: true });
        runs.push([await values(r.weights), await values(r.lse), await values(r.scoreSums), await values(r.counts), await values(r.indices)]);
        disposeAll(r.weights, r.indices, r.counts, r.scoreSums, r.lse);
      }
      logits.dispose();
      for (let j = 0; j < runs[0].length; j++) expect(runs[1][j], `output ${j}`).to.deep.equal(runs[0][j]);
    });
  }

  itPath('subgroup', 'subgroup and workgroup paths select the same experts and counts', async () => {
    const x = tiedLogits(300 * 64, 11);
    const logits = engine.tensor(x, [300, 64]);
    const a = topkRouter(logits, 8, { path: 'subgroup' });
    const b = topkRouter(logits, 8, { path: 'workgroup' });
    expect(await values(a.indices)).to.deep.equal(await values(b.indices));
    expect(await values(a.counts)).to.deep.equal(await values(b.counts));
    assertClose(await values(a.scoreSums), await values(b.scoreSums), { rtol: 1e-5, atol: 1e-6 }, 'scoreSums');
    disposeAll(logits, a.weights, a.indices, a.counts, a.scoreSums, a.lse, b.weights, b.indices, b.counts, b.scoreSums, b.lse);
  });

  itPath('workgroup', 'rejects bad arguments with the op name and shapes', async () => {
    const x = engine.randn([4, 8]);
    const big = engine.zeros([2, 257]);
    const ints = engine.zeros([4, 8], { dtype: 'i32' });
    const v = engine.zeros([8]);
    const x3 = engine.zeros([2, 4, 8]);
    try {
      expect(() => topkRouter(x, 9)).to.throw(RangeArgumentError, /topkRouter: k = 9 .*\[4, 8\]/);
      const x16 = engine.zeros([2, 16]);
      expect(() => topkRouter(x16, 9)).to.throw(RangeArgumentError, /topkRouter: k = 9/);
      x16.dispose();
      expect(() => topkRouter(x, 0)).to.throw(RangeArgumentError, /topkRouter/);
      expect(() => topkRouter(big, 2)).to.throw(ShapeError, /topkRouter: E = 257 .*\[2, 257\]/);
      expect(() => topkRouter(ints, 2)).to.throw(DTypeError, /topkRouter: logits must be floating point, got i32/);
      expect(() => topkRouter(v, 2)).to.throw(ShapeError, /topkRouter: .*rank 1/);
      expect(() => topkRouter(x3, 2)).to.throw(ShapeError, /topkRouter: .*rank 3/);
      if (!engine.caps.subgroups) expect(() => topkRouter(x, 2, { path: 'subgroup' })).to.throw(KilnError, /subgroups/);
    } finally {
      disposeAll(x, big, ints, v, x3);
    }
  });
});
