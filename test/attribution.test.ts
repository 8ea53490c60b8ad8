// nn/attribution.ts (integrated gradients over a hooked activation) and nn/patching.ts (capture and
// patching at a hook site and per-row positions). IG is checked against closed forms on quadratic
// targets, where the path integral is known exactly (and the right Riemann sum too), and against the
// completeness axiom Σ_u IG_u = F(a) − F(0) on a real TransformerLM. Patching is checked bit for bit:
// patching a captured residual back in reproduces the logits, and patching at layer ℓ equals running
// the remaining blocks from that residual.
import { expect } from 'chai';
import type { Engine, Tensor } from '../engine/index.js';
import { KilnError, ShapeError, RangeArgumentError } from '../engine/index.js';
import {
  Module, TransformerLM, captureActivation, integratedGradients, integrationPoints, replacePositions, selectPositions, withPatchedActivation,
} from '../nn/index.js';
import { assertClose, assertEqualArrays } from './helpers/compare.js';
import { gpuEngine, itNoLeak } from './helpers/gpu.js';
import { disposeAll, values } from './helpers/tensors.js';

/** F(a) = a·w + aᵀQa per row, the activation `act` being its input (N, D) or (N, T, D) summed over T. */
class Quadratic extends Module {
  constructor(engine: Engine, readonly w: Tensor, readonly Q: Tensor) {
    super(engine);
  }
  forward(x: Tensor): Tensor {
    const a = this.site('act', x.mul(1)); // a fresh activation the hook may replace
    const lin = a.matmul(this.w.unsqueeze(1)).squeeze(-1); // (N) or (N, T)
    const quad = a.matmul(this.Q).mul(a).sum(-1); // (N) or (N, T)
    const f = lin.add(quad);
    return f.ndim === 2 ? f.sum(1) : f;
  }
}

/** Host: per row, ∂F/∂a = w + (Q + Qᵀ) a. */
function gradRef(a: number[], w: number[], Q: number[], D: number): number[] {
  return a.map((_, u) => w[u] + a.reduce((s, av, v) => s + (Q[u * D + v] + Q[v * D + u]) * av, 0));
}

describe('integrated gradients and activation patching', () => {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  const D = 5;
  const B = 3;
  const host = {
    w: [0.5, -1, 2, 0.25, -0.75],
    Q: Array.from({ length: D * D }, (_, i) => Math.sin(1.3 * i) * 0.4),
    x: Array.from({ length: B * D }, (_, i) => Math.cos(0.7 * i + 0.2) * 1.5),
  };

  it('integration points: right and midpoint sums', function () {
    expect(integrationPoints(4)).to.deep.equal([0.25, 0.5, 0.75, 1]);
    expect(integrationPoints(4, 'midpoint')).to.deep.equal([0.125, 0.375, 0.625, 0.875]);
    expect(() => integrationPoints(0)).to.throw(RangeArgumentError, /steps/);
  });

  for (const rule of ['midpoint', 'right'] as const) {
    itNoLeak(() => engine, `a quadratic target: IG matches the closed form (${rule} rule, m = 8)`, async () => {
      const w = engine.tensor(host.w, [D]);
      const Q = engine.tensor(host.Q, [D, D]);
      const model = new Quadratic(engine, w, Q);
      const m = 8;
      const x = engine.tensor(Array.from({ length: m }, () => host.x).flat(), [m * B, D]); // row s·B + b = example b
      const ig = integratedGradients(model, { site: 'act', steps: m, batch: B, rule, forward: () => model.forward(x) });
      expect(ig.shape).to.deep.equal([B, D]);
      // IG_u = a_u ∫ (w_u + α ((Q+Qᵀ)a)_u) dα: the linear part exactly, the quadratic part × ½ (midpoint,
      // exact for an integrand linear in α) or × ½(m+1)/m (right sum Σ_s s/m² ).
      const quadFactor = rule === 'midpoint' ? 0.5 : (m + 1) / (2 * m);
      const want: number[] = [];
      for (let b = 0; b < B; b++) {
        const a = host.x.slice(b * D, (b + 1) * D);
        const g = gradRef(a, host.w, host.Q, D);
        a.forEach((au, u) => want.push(au * host.w[u] + quadFactor * au * (g[u] - host.w[u])));
      }
      assertClose(await values(ig), want, { rtol: 1e-4, atol: 1e-5 }, `IG (${rule})`);
      disposeAll(ig, x, w, Q);
    });
  }

  itNoLeak(() => engine, 'positions: only the chosen position is scaled (cross-position quadratic, closed form)', async () => {
    const T = 3;
    const w = engine.tensor(host.w, [D]);
    const Q = engine.tensor(host.Q, [D, D]);
    const model = new Quadratic(engine, w, Q);
    const m = 4;
    const xs = Array.from({ length: B * T * D }, (_, i) => Math.sin(0.37 * i + 1) * 1.2);
    const positions = [2, 0, 1];
    const x = engine.tensor(Array.from({ length: m }, () => xs).flat(), [m * B, T, D]);
    const ig = integratedGradients(model, { site: 'act', steps: m, batch: B, rule: 'midpoint', positions, forward: () => model.forward(x) });
    // F sums per-position terms, so only position p's term moves along the path: IG = a_p·w + a_pᵀQa_p per unit.
    const want: number[] = [];
    for (let b = 0; b < B; b++) {
      const a = xs.slice((b * T + positions[b]) * D, (b * T + positions[b] + 1) * D);
      const g = gradRef(a, host.w, host.Q, D);
      a.forEach((au, u) => want.push(au * host.w[u] + 0.5 * au * (g[u] - host.w[u])));
    }
    assertClose(await values(ig), want, { rtol: 1e-4, atol: 1e-5 }, 'IG at positions');
    disposeAll(ig, x, w, Q);
  });

  const tinyLM = (seed: number, nLayers = 2) => {
    engine.manualSeed(seed);
    return new TransformerLM(engine, { vocabSize: 13, dModel: 16, nLayers, nHeads: 2, dFF: 32, maxSeqLen: 12, initStd: 0.5 });
  };
  const prompts = [[1, 2, 3, 4, 5, 6, 7], [7, 3, 3, 1, 9, 0, 2], [4, 4, 8, 2, 11, 5, 12]];
  const last = [6, 4, 5]; // per-row "last token" (rows are treated as right-padded)
  const gold = [3, 8, 1];
  const ids = (reps = 1) => engine.tensor(Array.from({ length: reps }, () => prompts).flat(), [reps * prompts.length, 7], { dtype: 'i32' });
  /** F = logsumexp of logits 0..2 − log-softmax of gold, at each row's last position: (rows). */
  const target = (logits: Tensor, reps: number) => {
    const at = selectPositions(logits, Array.from({ length: reps }, () => last).flat()); // (rows, V)
    const g = engine.tensor(Array.from({ length: reps }, () => gold).flat(), [reps * gold.length, 1], { dtype: 'i32' });
    return at.narrow(1, 0, 3).logsumexp(-1).sub(at.logSoftmax(-1).gather(1, g).squeeze(1));
  };

  itNoLeak(() => engine, 'completeness on a TransformerLM: Σ_u IG_u = F(a) − F(0) (5% right sum, 0.5% midpoint, m = 64); parameters untouched', async () => {
    const model = tinyLM(3);
    for (const layer of [0, 1]) {
      const site = `layers.${layer}.mlp.act`;
      const [f1, f0] = engine.noGrad(() => engine.tidy(() => {
        const x = ids();
        const full = target(model.forward(x), 1);
        const zeros = engine.zeros([prompts.length, 32]);
        const base = withPatchedActivation(model, site, zeros, last, () => target(model.forward(x), 1));
        return [full, base];
      }));
      const [v1, v0] = [await values(f1), await values(f0)];
      const want = v1.map((v, i) => v - v0[i]);
      for (const [rule, tol] of [['right', 0.05], ['midpoint', 0.005]] as const) {
        const m = 64;
        const ig = integratedGradients(model, { site, steps: m, batch: prompts.length, rule, positions: last, forward: () => engine.tidy(() => target(model.forward(ids(m)), m)) });
        const v = await values(ig);
        for (let b = 0; b < prompts.length; b++) {
          const sum = v.slice(b * 32, (b + 1) * 32).reduce((s, x) => s + x, 0);
          expect(Math.abs(want[b]), 'a non-trivial F(a) − F(0)').to.be.greaterThan(0.05);
          expect(Math.abs(sum - want[b]), `layer ${layer} row ${b} ${rule}: Σ IG ${sum} vs ΔF ${want[b]}`).to.be.at.most(tol * Math.abs(want[b]));
        }
        ig.dispose();
      }
      disposeAll(f1, f0);
    }
    expect(model.parameters().every((p) => p.requiresGrad && p.grad === null)).to.equal(true);
    model.dispose();
  });

  itNoLeak(() => engine, 'integratedGradients: clear errors for a wrong batch, an unreached site, a double forward', async () => {
    const model = tinyLM(1, 1);
    const x = ids(2);
    expect(() => integratedGradients(model, { site: 'layers.0.mlp.act', steps: 3, batch: 3, forward: () => model.forward(x).sum([1, 2]) })).to.throw(ShapeError, /steps·batch = 3·3 = 9 rows/);
    expect(() => integratedGradients(model, { site: 'layers.7.mlp.act', steps: 2, batch: 3, forward: () => model.forward(x).sum([1, 2]) })).to.throw(KilnError, /never reached/);
    expect(() => integratedGradients(model, { site: 'layers.0.mlp.act', steps: 2, batch: 3, forward: () => model.forward(x).add(model.forward(x)).sum([1, 2]) })).to.throw(KilnError, /twice/);
    expect(model.parameters().every((p) => p.requiresGrad)).to.equal(true);
    x.dispose();
    model.dispose();
  });

  itNoLeak(() => engine, 'selectPositions and replacePositions: host reference, untouched entries bit for bit, gradients', async () => {
    const xs = Array.from({ length: 2 * 4 * 3 }, (_, i) => i * 0.5 - 3);
    const x = engine.tensor(xs, [2, 4, 3]).requiresGrad_();
    const v = engine.tensor([100, 101, 102, 200, 201, 202], [2, 3]).requiresGrad_();
    const sel = selectPositions(x, [3, 1]);
    expect(await values(sel)).to.deep.equal([...xs.slice(9, 12), ...xs.slice(12 + 3, 12 + 6)]);
    const rep = replacePositions(x, [3, 1], v);
    const want = [...xs];
    want.splice(9, 3, 100, 101, 102);
    want.splice(15, 3, 200, 201, 202);
    assertEqualArrays(await values(rep), want, 'replaced');
    const [gx, gv] = engine.tidy(() => engine.autogradGrad(rep.mul(engine.tensor(Array.from({ length: 24 }, (_, i) => i), [2, 4, 3])).sum(), [x, v]));
    const gxWant = Array.from({ length: 24 }, (_, i) => ((i >= 9 && i < 12) || (i >= 15 && i < 18) ? 0 : i));
    expect(await values(gx!)).to.deep.equal(gxWant);
    expect(await values(gv!)).to.deep.equal([9, 10, 11, 15, 16, 17]);
    expect(() => selectPositions(x, [4, 0])).to.throw(RangeArgumentError, /position 4 of row 0 is outside 0..3/);
    expect(() => selectPositions(x, [1])).to.throw(ShapeError, /1 positions for an activation of 2 rows/);
    const bad = engine.zeros([2, 4]);
    expect(() => replacePositions(x, [0, 0], bad)).to.throw(ShapeError, /values \[2, 4\]/);
    disposeAll(x, v, sel, rep, gx, gv, bad);
  });

  itNoLeak(() => engine, 'patching a captured residual back in reproduces the logits exactly (every layer, last positions)', async () => {
    const model = tinyLM(7, 3);
    const x = ids();
    const ref = engine.noGrad(() => engine.tidy(() => model.forward(x)));
    for (let l = 0; l < 3; l++) {
      const [output, activation, patched] = engine.noGrad(() => engine.tidy(() => {
        const c = captureActivation(model, `layers.${l}.resid`, () => model.forward(x), last);
        return [c.output, c.activation, withPatchedActivation(model, `layers.${l}.resid`, c.activation, last, () => model.forward(x))];
      }));
      expect(activation.shape).to.deep.equal([3, 16]);
      assertEqualArrays(await values(patched), await values(ref), `layer ${l} patched`);
      disposeAll(output, activation, patched);
    }
    disposeAll(x, ref);
    model.dispose();
  });

  itNoLeak(() => engine, "patching at layer ℓ equals running the remaining blocks from that residual (another prompt's, whole or at one position)", async () => {
    const model = tinyLM(9, 3);
    /** The rest of the model after block ℓ, run by hand: blocks ℓ+1.., final norm, tied head. */
    const runFrom = (h: Tensor, l: number) => {
      let x = h;
      for (const block of model.layers.items.slice(l + 1)) x = block.forward(x, { causal: true });
      return model.lnF.forward(x).matmul(model.tokEmb.weight.mT);
    };
    const outs = engine.noGrad(() => engine.tidy(() => {
      const a = ids();
      const b = engine.tensor([[5, 5, 1, 2, 3, 0, 9], [2, 6, 10, 1, 1, 1, 4], [12, 0, 3, 3, 7, 8, 1]], undefined, { dtype: 'i32' });
      const refA = model.forward(a);
      const l = 1;
      const site = `layers.${l}.resid`;
      // Whole residual of A patched into B's forward: B's tokens no longer matter after layer ℓ.
      const whole = captureActivation(model, site, () => model.forward(a));
      const patchedWhole = withPatchedActivation(model, site, whole.activation, null, () => model.forward(b));
      const fromA = runFrom(whole.activation, l);
      // A's last-token residual patched into B at B's last tokens = the remaining blocks on B's residual with those rows replaced.
      const aLast = captureActivation(model, site, () => model.forward(a), last);
      const bWhole = captureActivation(model, site, () => model.forward(b));
      const patched = withPatchedActivation(model, site, aLast.activation, last, () => model.forward(b));
      const manual = runFrom(replacePositions(bWhole.activation, last, aLast.activation), l);
      disposeAll(whole.activation, aLast.activation, bWhole.activation); // kept by captureActivation
      return [refA, patchedWhole, fromA, patched, manual];
    }));
    const [refA, patchedWhole, fromA, patched, manual] = await Promise.all(outs.map(values));
    assertEqualArrays(patchedWhole, refA, 'B patched with all of A = A');
    assertEqualArrays(fromA, refA, "running from A's residual = A");
    assertEqualArrays(patched, manual, 'patched at one position = run from the edited residual');
    disposeAll(outs);
    model.dispose();
  });
});
