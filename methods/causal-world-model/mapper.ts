// The causal mapper (spec step 4): the R² of predicting each causal variable from each single latent
// (a cubic polynomial of the latent, fitted by float64 least squares), the target assignment ψ
// (column-normalised R², each latent to its argmax variable above 0.1), and one small MLP per
// variable on its assigned latents, trained on kiln from the labelled frames. All eight MLPs run as
// one grouped MLP whose input is z masked to each variable's latents.
import { crossEntropy, type Engine, type Tensor } from '../../engine/index.js';
import { AdamW, GroupedLinear, Module, linearRegression, r2Score } from '../../nn/index.js';
import { VARIABLES, VARIABLE_CLASSES } from './world.js';

const V = VARIABLES.length;
const MAX_CLASSES = Math.max(...VARIABLE_CLASSES);

/** R[j][i]: R² of variable i from latent j alone (cubic fit); z rows (N, d), labels rows (N, 8). */
export function r2Matrix(z: readonly number[][], labels: readonly number[][]): number[][] {
  const d = z[0].length;
  return Array.from({ length: d }, (_, j) => {
    const feats = z.map((r) => [r[j], r[j] ** 2, r[j] ** 3]);
    return VARIABLES.map((_, i) => {
      const y = labels.map((l) => l[i]);
      const { intercept, coef } = linearRegression(feats, y);
      return Math.max(0, r2Score(y, feats.map((f) => intercept + coef[0] * f[0] + coef[1] * f[1] + coef[2] * f[2])));
    });
  });
}

/**
 * ψ: assigned[j] = the variable of latent j (or -1): columns normalised by their max (clamped ≥ 0.1),
 * each latent to its argmax variable if that value exceeds 0.1. A variable left without latents gets
 * its best one, so every MLP has an input.
 */
export function assignLatents(R: readonly number[][]): { assigned: number[]; masks: number[][] } {
  const d = R.length;
  const colMax = VARIABLES.map((_, i) => Math.max(0.1, ...R.map((r) => r[i])));
  const assigned = R.map((r) => {
    const n = r.map((v, i) => v / colMax[i]);
    const i = n.indexOf(Math.max(...n));
    return n[i] > 0.1 ? i : -1;
  });
  const masks = VARIABLES.map((_, i) => Array.from({ length: d }, (_, j) => (assigned[j] === i ? 1 : 0)));
  masks.forEach((m, i) => {
    if (!m.some((v) => v)) m[R.map((r) => r[i]).indexOf(Math.max(...R.map((r) => r[i])))] = 1;
  });
  return { assigned, masks };
}

/**
 * A one-to-one matching of variables to latents (greedy on descending R²) and the R² on that
 * diagonal, per variable: how cleanly each causal variable lives in one latent.
 */
export function r2Diagonal(R: readonly number[][]): { latentOf: number[]; diagonal: number[] } {
  const pairs = R.flatMap((r, j) => r.map((v, i) => ({ v, i, j }))).sort((a, b) => b.v - a.v);
  const latentOf = new Array<number>(V).fill(-1), used = new Set<number>();
  for (const { i, j } of pairs) if (latentOf[i] < 0 && !used.has(j)) (latentOf[i] = j), used.add(j);
  return { latentOf, diagonal: latentOf.map((j, i) => (j >= 0 ? R[j][i] : 0)) };
}

/** The eight per-variable MLPs (in → h → h → classes, SiLU) as one grouped MLP over masked inputs. */
export class CausalMapper extends Module {
  readonly layers: GroupedLinear[];
  private readonly mask: Tensor;
  private readonly classMask: Tensor;

  constructor(engine: Engine, latents: number, masks: number[][], hidden: number) {
    super(engine);
    this.layers = [
      this.registerModule('l0', new GroupedLinear(engine, V, latents, hidden)),
      this.registerModule('l1', new GroupedLinear(engine, V, hidden, hidden)),
      this.registerModule('l2', new GroupedLinear(engine, V, hidden, MAX_CLASSES)),
    ];
    this.mask = this.registerBuffer('mask', engine.tensor(masks.flat(), [V, 1, latents]));
    // Classes a variable does not have get a large negative logit (lights: 2 of 6).
    const cm = VARIABLE_CLASSES.flatMap((k) => Array.from({ length: MAX_CLASSES }, (_, c) => (c < k ? 0 : -1e4)));
    this.classMask = this.registerBuffer('classMask', engine.tensor(cm, [V, 1, MAX_CLASSES]));
  }

  /** z (B, d) → logits (8, B, MAX_CLASSES). */
  forward(z: Tensor): Tensor {
    const x = z.unsqueeze(0).mul(this.mask); // (8, B, d)
    const h = this.layers[1].forward(this.layers[0].forward(x).silu()).silu();
    return this.layers[2].forward(h).add(this.classMask);
  }

  /** z (B, d) → predicted classes (B, 8) i32. */
  predict(z: Tensor): Tensor {
    return this.forward(z).argmax(2).t().contiguous();
  }

  /** Full-batch training on (z, labels); returns the final training cross-entropy. */
  async fit(z: Tensor, labels: readonly number[][], o: { steps: number; lr: number }): Promise<number> {
    const e = this.engine;
    const B = labels.length;
    const y = e.keep(e.tensor(Int32Array.from(VARIABLES.flatMap((_, i) => labels.map((l) => l[i]))), [V * B], { dtype: 'i32' }));
    const opt = new AdamW(this.parameters(), { lr: o.lr, weightDecay: 0.01 });
    let last: Tensor | null = null;
    try {
      for (let s = 0; s < o.steps; s++) {
        last?.dispose();
        last = e.tidy(() => {
          opt.zeroGrad();
          const loss = crossEntropy(this.forward(z).reshape(V * B, MAX_CLASSES), y);
          loss.backward();
          opt.step();
          return loss.detach();
        });
      }
      return last ? await last.item() : NaN;
    } finally {
      last?.dispose();
      y.dispose();
      opt.dispose();
    }
  }
}
