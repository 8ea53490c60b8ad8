// Host-side statistics in float64 for evaluating methods: ranks, Pearson and Spearman correlation,
// AUROC (Mann–Whitney U with ties) and LOWESS (statsmodels' `lowess`, reproduced step for step).
// These read results back from the GPU once and run on plain arrays: they are final statistics, not
// training work, and float64 keeps them comparable with scipy/statsmodels references.
import { RangeArgumentError, ShapeError } from '../engine/index.js';

type Numbers = ArrayLike<number>;

function checkFinite(fn: string, name: string, x: Numbers): void {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new RangeArgumentError(`${fn}: ${name}[${i}] is ${x[i]}; every value must be finite`);
  }
}

function checkPair(fn: string, x: Numbers, y: Numbers, xName: string, yName: string, min: number): void {
  if (x.length !== y.length) throw new ShapeError(`${fn}: ${xName} has ${x.length} values but ${yName} has ${y.length}; they must be the same length`);
  if (x.length < min) throw new ShapeError(`${fn}: needs at least ${min} values, got ${x.length}`);
  checkFinite(fn, xName, x);
  checkFinite(fn, yName, y);
}

/** Indices 0..n-1 ordered by x ascending; equal values keep their input order (a stable sort). */
export function argsortStable(x: Numbers): Int32Array {
  const order = Array.from({ length: x.length }, (_, i) => i);
  order.sort((a, b) => x[a] - x[b] || a - b);
  return Int32Array.from(order);
}

/** Ranks 1..n with ties given the average of the ranks they span (scipy.stats.rankdata, method 'average'). */
export function rankdata(x: Numbers): Float64Array {
  checkFinite('rankdata', 'x', x);
  const order = argsortStable(x);
  const ranks = new Float64Array(x.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && x[order[j + 1]] === x[order[i]]) j++;
    const avg = (i + j) / 2 + 1; // positions i..j hold ranks i+1..j+1
    for (let k = i; k <= j; k++) ranks[order[k]] = avg;
    i = j + 1;
  }
  return ranks;
}

/** Median (the mean of the two middle values for an even count), as numpy.median. */
export function median(x: Numbers): number {
  if (x.length === 0) throw new ShapeError('median: needs at least one value, got 0');
  checkFinite('median', 'x', x);
  const s = Float64Array.from(x).sort();
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/**
 * Pearson's correlation coefficient, two-pass (means first) in float64. NaN when either input is
 * constant (the coefficient is undefined there; scipy returns nan too).
 */
export function pearson(x: Numbers, y: Numbers): number {
  checkPair('pearson', x, y, 'x', 'y', 2);
  const n = x.length;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) (mx += x[i]), (my += y[i]);
  mx /= n;
  my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  // Clamp the last-ulp overshoot of perfectly (anti)correlated inputs.
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** Spearman's rank correlation: Pearson on average ranks (scipy.stats.spearmanr). NaN for a constant input. */
export function spearman(x: Numbers, y: Numbers): number {
  checkPair('spearman', x, y, 'x', 'y', 2);
  return pearson(rankdata(x), rankdata(y));
}

/**
 * Area under the ROC curve of `scores` for binary `labels` (1/true positive, 0/false negative):
 * P(score of a positive > score of a negative) + ½ P(equal), from the Mann–Whitney U statistic on
 * average ranks, O(n log n). Equals sklearn's roc_auc_score.
 */
export function auroc(scores: Numbers, labels: ArrayLike<number | boolean>): number {
  if (scores.length !== labels.length) throw new ShapeError(`auroc: scores has ${scores.length} values but labels has ${labels.length}; they must be the same length`);
  const ranks = rankdata(scores);
  let pos = 0, rankSum = 0;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l === true || l === 1) (pos++, (rankSum += ranks[i]));
    else if (l !== false && l !== 0) throw new RangeArgumentError(`auroc: labels[${i}] is ${l}; labels must be 0/1 or booleans`);
  }
  const neg = labels.length - pos;
  if (pos === 0 || neg === 0) throw new RangeArgumentError(`auroc: needs both classes, got ${pos} positive and ${neg} negative labels`);
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

// ------------------------------------------------------------------ LOWESS

export interface LowessOptions {
  /** Fraction of the points in each local regression (statsmodels' frac; default 2/3). k = ⌊frac·n + 1e-10⌋, clamped to [2, n]. */
  frac?: number;
  /** Robustifying passes after the first fit (statsmodels' it; default 3: four fits in all). */
  it?: number;
}

export interface LowessResult {
  /** The x values sorted ascending (stable), as statsmodels' first output column. */
  x: Float64Array;
  /** The fitted values at the sorted x, as statsmodels' second column. */
  fitted: Float64Array;
  /** order[s] = input index of the s-th sorted point. */
  order: Int32Array;
  /** The fitted values in the input order: fittedAtInput[i] is the fit at the input point i. */
  fittedAtInput: Float64Array;
}

const tricube = (u: number) => {
  const t = 1 - u * u * u;
  return t * t * t;
};

/**
 * LOWESS (Cleveland 1979) exactly as statsmodels.nonparametric.lowess(endog, exog, frac, it,
 * delta=0) computes it: local-linear fits over windows of k consecutive sorted points, tricube
 * distance weights, bisquare robustness weights from 6 × the median absolute residual, and tied x
 * copying the fit of the first of them. Arguments in statsmodels' order: `endog` (y), then `exog` (x).
 * O(n·k) per pass.
 */
export function lowess(endog: Numbers, exog: Numbers, options: LowessOptions = {}): LowessResult {
  const { frac = 2 / 3, it = 3 } = options;
  checkPair('lowess', exog, endog, 'exog', 'endog', 1);
  if (!(frac >= 0 && frac <= 1)) throw new RangeArgumentError(`lowess: frac must be in [0, 1], got ${frac}`);
  if (!(Number.isInteger(it) && it >= 0)) throw new RangeArgumentError(`lowess: it must be an integer >= 0, got ${it}`);
  const n = exog.length;
  const order = argsortStable(exog);
  const x = Float64Array.from(order, (i) => exog[i]);
  const y = Float64Array.from(order, (i) => endog[i]);
  const k = Math.min(n, Math.max(2, Math.floor(frac * n + 1e-10)));
  const robust = new Float64Array(n).fill(1);
  const w = new Float64Array(n);
  let fit = new Float64Array(n);
  if (n === 1) fit[0] = y[0];

  for (let pass = 0; pass <= it && n > 1; pass++) {
    fit = new Float64Array(n);
    let left = 0, right = k; // window [left, right) of k sorted points
    for (let i = 0; i < n; i++) {
      // Ties: a later point with the same x takes the fit of the first one (statsmodels' update_indices).
      if (i > 0 && x[i] === x[i - 1]) {
        fit[i] = fit[i - 1];
        continue;
      }
      // Slide the window right while x[i] is past its midpoint: then it holds x[i]'s k nearest points.
      while (right < n && x[i] > (x[left] + x[right]) / 2) (left++, right++);
      const radius = Math.max(x[i] - x[left], x[right - 1] - x[i]);
      let sum = 0, positive = 0;
      for (let j = left; j < right; j++) {
        // radius 0 only when the whole window shares x[i]: every point then sits at distance 0.
        const u = radius > 0 ? Math.abs(x[j] - x[i]) / radius : 0;
        w[j] = tricube(u) * robust[j];
        sum += w[j];
        if (w[j] > 1e-12) positive++;
      }
      if (positive < 2) {
        fit[i] = y[i];
        continue;
      }
      // Weighted local-linear fit in projection form: fit = Σ_j w_j [1 + (x_i - m)(x_j - m)/v] y_j.
      let m = 0;
      for (let j = left; j < right; j++) (w[j] /= sum), (m += w[j] * x[j]);
      let v = 0;
      for (let j = left; j < right; j++) v += w[j] * (x[j] - m) ** 2;
      v = Math.max(v, 1e-12);
      let f = 0;
      for (let j = left; j < right; j++) f += w[j] * (1 + ((x[i] - m) * (x[j] - m)) / v) * y[j];
      fit[i] = f;
    }
    if (pass === it) break;
    // Bisquare robustness weights from the residuals of this pass.
    const resid = Float64Array.from(y, (v, j) => Math.abs(v - fit[j]));
    const M = median(resid);
    if (M <= 1e-7) break; // (near-)exact fit: the robust passes would change nothing
    for (let j = 0; j < n; j++) {
      const u = Math.min(resid[j] / (6 * M), 1);
      robust[j] = (1 - u * u) ** 2;
    }
  }
  const fittedAtInput = new Float64Array(n);
  for (let s = 0; s < n; s++) fittedAtInput[order[s]] = fit[s];
  return { x, fitted: fit, order, fittedAtInput };
}

export interface SpanF1 {
  precision: number;
  recall: number;
  f1: number;
}

/**
 * Corpus-level F1 over multisets of spans (chunk_eval.py's chunk F1): per example, a predicted span
 * counts as correct as many times as it occurs in both the prediction and the gold (multiset
 * intersection); precision = correct / predicted, recall = correct / gold, summed over examples.
 * A span is a token list (e.g. ["NP", "the", "dog"]). Empty predictions and gold give 0 (not NaN).
 */
export function spanF1(pred: readonly (readonly (readonly string[])[])[], gold: readonly (readonly (readonly string[])[])[]): SpanF1 {
  if (pred.length !== gold.length) throw new RangeError(`spanF1: ${pred.length} predictions for ${gold.length} gold examples`);
  let correct = 0, nPred = 0, nGold = 0;
  const key = (s: readonly string[]) => s.join('\u0001');
  pred.forEach((p, i) => {
    const counts = new Map<string, number>();
    for (const s of gold[i]) counts.set(key(s), (counts.get(key(s)) ?? 0) + 1);
    for (const s of p) {
      const c = counts.get(key(s)) ?? 0;
      if (c > 0) {
        correct++;
        counts.set(key(s), c - 1);
      }
    }
    nPred += p.length;
    nGold += gold[i].length;
  });
  const precision = nPred ? correct / nPred : 0;
  const recall = nGold ? correct / nGold : 0;
  return { precision, recall, f1: precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0 };
}

// ------------------------------------------------------------------ linear regression, R²

/**
 * Ordinary least squares of y on the columns of X (rows = samples) plus an intercept, in float64:
 * the centred normal equations solved by Gaussian elimination with partial pivoting; `ridge` (each
 * diagonal entry grows by this fraction of itself, default 1e-12) keeps collinear columns solvable, and
 * a constant column gets coefficient 0. Returns { intercept, coef } with predict(x) = intercept + Σ coef_j x_j.
 */
export function linearRegression(X: readonly Numbers[], y: Numbers, options: { ridge?: number } = {}): { intercept: number; coef: Float64Array } {
  const n = X.length;
  if (n !== y.length) throw new ShapeError(`linearRegression: X has ${n} rows but y has ${y.length} values`);
  if (n < 2) throw new ShapeError(`linearRegression: needs at least 2 samples, got ${n}`);
  const p = X[0].length;
  X.forEach((r, i) => {
    if (r.length !== p) throw new ShapeError(`linearRegression: row ${i} of X has ${r.length} features, row 0 has ${p}`);
    checkFinite('linearRegression', `X[${i}]`, r);
  });
  checkFinite('linearRegression', 'y', y);
  const xm = new Float64Array(p);
  let ym = 0;
  for (let i = 0; i < n; i++) {
    ym += y[i] / n;
    for (let j = 0; j < p; j++) xm[j] += X[i][j] / n;
  }
  // A = Xcᵀ Xc + ridge I, b = Xcᵀ yc, as one augmented p × (p + 1) system.
  const A = Array.from({ length: p }, () => new Float64Array(p + 1));
  for (let i = 0; i < n; i++) {
    const yc = y[i] - ym;
    for (let j = 0; j < p; j++) {
      const xj = X[i][j] - xm[j];
      for (let k = j; k < p; k++) A[j][k] += xj * (X[i][k] - xm[k]);
      A[j][p] += xj * yc;
    }
  }
  const ridge = options.ridge ?? 1e-12;
  for (let j = 0; j < p; j++) {
    for (let k = 0; k < j; k++) A[j][k] = A[k][j];
    A[j][j] *= 1 + ridge;
  }
  for (let c = 0; c < p; c++) {
    let piv = c;
    for (let r = c + 1; r < p; r++) if (Math.abs(A[r][c]) > Math.abs(A[piv][c])) piv = r;
    [A[c], A[piv]] = [A[piv], A[c]];
    const d = A[c][c];
    if (d === 0) continue; // an all-constant column: its coefficient stays 0
    for (let r = 0; r < p; r++) {
      if (r === c || A[r][c] === 0) continue;
      const f = A[r][c] / d;
      for (let k = c; k <= p; k++) A[r][k] -= f * A[c][k];
    }
  }
  const coef = Float64Array.from(A, (row, j) => (row[j] === 0 ? 0 : row[p] / row[j]));
  let intercept = ym;
  for (let j = 0; j < p; j++) intercept -= coef[j] * xm[j];
  return { intercept, coef };
}

/**
 * Coefficient of determination 1 − SS_res / SS_tot, as sklearn's r2_score: 1 for a perfect fit, 0
 * for predicting the mean, negative when worse; a constant yTrue gives 1 if predicted exactly, else 0.
 */
export function r2Score(yTrue: Numbers, yPred: Numbers): number {
  checkPair('r2Score', yTrue, yPred, 'yTrue', 'yPred', 1);
  let m = 0;
  for (let i = 0; i < yTrue.length; i++) m += yTrue[i] / yTrue.length;
  let res = 0, tot = 0;
  for (let i = 0; i < yTrue.length; i++) {
    res += (yTrue[i] - yPred[i]) ** 2;
    tot += (yTrue[i] - m) ** 2;
  }
  if (tot === 0) return res === 0 ? 1 : 0;
  return 1 - res / tot;
}
