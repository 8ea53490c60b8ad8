// Host-side statistics (nn/stats.ts) against closed forms, hand-computed values, brute-force
// definitions and statsmodels' golden LOWESS fits (the reward-calibration spec's Appendix A,
// statsmodels 0.15.0; max abs error <= 1e-6 as the spec asks). No GPU needed.
import { expect } from 'chai';
import fc from 'fast-check';
import { RangeArgumentError, ShapeError } from '../engine/index.js';
import { auroc, lowess, median, pearson, rankdata, spanF1, spearman } from '../nn/index.js';

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** P(s+ > s-) + ½ P(s+ = s-) over every positive/negative pair: the definition AUROC must equal. */
function aurocByPairs(scores: number[], labels: boolean[]): number {
  let wins = 0, pairs = 0;
  scores.forEach((p, i) => {
    if (!labels[i]) return;
    scores.forEach((q, j) => {
      if (labels[j]) return;
      pairs++;
      wins += p > q ? 1 : p === q ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

describe('stats: ranks, correlations, AUROC', function () {
  it('rankdata gives average ranks to ties; median as numpy', function () {
    expect(Array.from(rankdata([10, 20, 20, 5, 20]))).to.deep.equal([2, 4, 4, 1, 4]);
    expect(Array.from(rankdata([3, 1, 2]))).to.deep.equal([3, 1, 2]);
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
  });

  it('pearson: hand-computed value, ±1 for affine maps, NaN for a constant input', function () {
    // dx = -2..2, dy = (-2, 0, 1, 0, 1): Σdxdy = 6, Σdx² = 10, Σdy² = 6.
    expect(pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])).to.be.closeTo(6 / Math.sqrt(60), 1e-15);
    const x = [0.3, -1.2, 4.5, 2.2, 0];
    expect(pearson(x, x.map((v) => 3 * v - 7))).to.equal(1);
    expect(pearson(x, x.map((v) => -0.5 * v + 1))).to.equal(-1);
    // A symmetric parabola is uncorrelated with its argument.
    expect(pearson([-2, -1, 0, 1, 2], [4, 1, 0, 1, 4])).to.be.closeTo(0, 1e-15);
    expect(pearson([1, 1, 1], [1, 2, 3])).to.be.NaN;
  });

  it('spearman: ties by average ranks (hand-computed), 1 for any increasing map', function () {
    // ranks x = (1, 2.5, 2.5, 4), y = (1, 3, 2, 4): Σdxdy = 4.5, Σdx² = 4.5, Σdy² = 5 -> 3/√10.
    expect(spearman([1, 2, 2, 3], [1, 3, 2, 4])).to.be.closeTo(3 / Math.sqrt(10), 1e-15);
    // No ties: 1 - 6Σd²/(n(n²-1)) with d = (0, 0, 1, -1, 0): 1 - 12/120.
    expect(spearman([1, 2, 3, 4, 5], [1, 2, 4, 3, 5])).to.be.closeTo(0.9, 1e-15);
    fc.assert(
      // Values on a 1/8 grid (with ties), so the map below stays strictly increasing in float64.
      fc.property(fc.array(fc.integer({ min: -800, max: 800 }).map((i) => i / 8), { minLength: 2, maxLength: 40 }), (x) => {
        if (new Set(x).size < 2) return;
        expect(spearman(x, x.map((v) => Math.exp(v / 50) + v ** 3))).to.be.closeTo(1, 1e-12);
        expect(spearman(x, x.map((v) => -v))).to.be.closeTo(-1, 1e-12);
      }),
      { numRuns: 100, seed: 11 },
    );
  });

  it('auroc equals the pairwise definition, ties counting ½ (property test)', function () {
    expect(auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).to.equal(0.75); // sklearn's docstring example
    expect(auroc([1, 2, 3], [false, true, true])).to.equal(1);
    expect(auroc([1, 2, 3], [1, 0, 0])).to.equal(0);
    expect(auroc([5, 5, 5, 5], [1, 0, 1, 0])).to.equal(0.5);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.boolean()), { minLength: 2, maxLength: 50 }), (rows) => {
        const labels = rows.map((r) => r[1]);
        if (labels.every((l) => l) || labels.every((l) => !l)) return;
        const scores = rows.map((r) => r[0]); // few distinct values: many ties
        expect(auroc(scores, labels)).to.be.closeTo(aurocByPairs(scores, labels), 1e-12);
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it('bad input names the function and the lengths', function () {
    expect(() => pearson([1, 2], [1, 2, 3])).to.throw(ShapeError, /pearson: x has 2 values but y has 3/);
    expect(() => spearman([1], [1])).to.throw(ShapeError, /spearman: needs at least 2 values/);
    expect(() => pearson([1, NaN], [1, 2])).to.throw(RangeArgumentError, /pearson: x\[1\] is NaN/);
    expect(() => auroc([1, 2], [1, 1])).to.throw(RangeArgumentError, /auroc: needs both classes, got 2 positive and 0 negative/);
    expect(() => auroc([1, 2], [1, 2])).to.throw(RangeArgumentError, /auroc: labels\[1\] is 2/);
    expect(() => lowess([1, 2, 3], [1, 2])).to.throw(ShapeError, /lowess: exog has 2 values but endog has 3/);
    expect(() => lowess([1, 2], [1, 2], { frac: 1.5 })).to.throw(RangeArgumentError, /lowess: frac must be in \[0, 1\]/);
    expect(() => median([])).to.throw(ShapeError, /median/);
  });
});

describe('stats: LOWESS (statsmodels-exact)', function () {
  // Spec Appendix A: 20 points, y at x = 9.13 an outlier (+4).
  const X = [6.37, 2.7, 0.41, 0.17, 8.13, 9.13, 6.07, 7.29, 5.44, 9.35, 8.16, 0.03, 8.57, 0.34, 7.3, 1.76, 8.63, 5.41, 3.0, 4.23];
  const Y = [0.048, 0.837, 0.199, 0.275, 1.233, 4.319, -0.435, 0.569, -0.884, 0.141, 0.651, -0.033, 0.707, 0.496, 0.915, 1.089, 0.518, -0.805, 0.376, -0.438];
  const SORTED_X = [0.03, 0.17, 0.34, 0.41, 1.76, 2.7, 3.0, 4.23, 5.41, 5.44, 6.07, 6.37, 7.29, 7.3, 8.13, 8.16, 8.57, 8.63, 9.13, 9.35];
  const GOLDEN: [frac: number, iterations: number, fitted: number[]][] = [
    [0.5, 3, [0.268942, 0.285752, 0.305086, 0.312695, 0.413299, 0.531241, 0.406677, -0.105615, -0.484433, -0.479606, -0.246085, -0.075107, 0.506675, 0.509174, 0.68278, 0.676147, 0.573178, 0.556742, 0.406842, 0.332782]],
    [1.0, 3, [0.407934, 0.39682, 0.383166, 0.377501, 0.268422, 0.203886, 0.187479, 0.138729, 0.150591, 0.153163, 0.207004, 0.234614, 0.336981, 0.338264, 0.457302, 0.462034, 0.529232, 0.53942, 0.627068, 0.66685]],
    [0.5, 0, [0.286431, 0.307102, 0.330818, 0.340131, 0.462782, 0.554266, 0.411408, -0.116378, -0.49344, -0.487457, -0.244416, -0.070854, 0.536058, 0.538943, 1.012892, 1.031331, 1.264322, 1.296952, 1.582057, 1.721391]],
    [0.3, 3, [0.105948, 0.18839, 0.287921, 0.328785, 0.949257, 0.620388, 0.428616, -0.324554, -0.588792, -0.591666, -0.306759, 0.039761, 0.684002, 0.687758, 0.976203, 0.952892, 0.626402, 0.582601, -0.92258, -1.601183]],
  ];

  for (const [frac, iterations, expected] of GOLDEN) {
    it(`matches statsmodels 0.15 at frac ${frac}, it ${iterations} (max abs error <= 1e-6)`, function () {
      const r = lowess(Y, X, { frac, it: iterations });
      expect(Array.from(r.x)).to.deep.equal(SORTED_X);
      // The golden values are rounded to 6 decimals: 5e-7 of the 1e-6 is rounding.
      expect(maxAbsDiff(r.fitted, expected)).to.be.at.most(1e-6);
      // fittedAtInput is the same fit, in the input order.
      for (let s = 0; s < X.length; s++) expect(r.fittedAtInput[r.order[s]]).to.equal(r.fitted[s]);
    });
  }

  it('the robust passes pull the fit near the outlier down', function () {
    const plain = lowess(Y, X, { frac: 0.5, it: 0 }).fitted, robust = lowess(Y, X, { frac: 0.5, it: 3 }).fitted;
    for (let s = 14; s < 20; s++) expect(robust[s]).to.be.lessThan(plain[s] - 0.2);
  });

  it('reproduces a straight line exactly, at any frac', function () {
    const x = Array.from({ length: 30 }, (_, i) => ((i * 37) % 30) / 3); // unsorted
    const y = x.map((v) => 2.5 * v - 1);
    for (const frac of [0.1, 0.4, 1]) expect(maxAbsDiff(lowess(y, x, { frac }).fittedAtInput, y)).to.be.lessThan(1e-10);
  });

  it('gives tied x identical fits (the first of a tie is fitted, the rest copy it)', function () {
    const x = [1, 1, 2, 2, 2, 3, 4, 4, 5, 6, 7, 7, 8, 9, 10];
    const y = x.map((v, i) => Math.sin(v) + 0.3 * Math.cos(7 * i)); // tied x with different y
    for (const [frac, iterations] of [[0.3, 3], [0.6, 0], [1, 3]]) {
      const r = lowess(y, x, { frac, it: iterations });
      for (let s = 1; s < x.length; s++) if (r.x[s] === r.x[s - 1]) expect(r.fitted[s]).to.equal(r.fitted[s - 1]);
      expect(new Set(r.fitted).size).to.equal(new Set(x).size);
    }
  });

  it('k = floor(frac n + 1e-10) clamped to [2, n]: a tiny frac fits each point from two neighbours', function () {
    // k = 2 at frac 0.01 (floor 0.1 -> 0 -> clamped): the window of x_i holds one other point, whose
    // tricube weight is 0 at distance = radius, so fewer than 2 weights are positive and fit_i = y_i.
    const x = [0, 1, 2, 3, 4], y = [3, -1, 4, 1, -5];
    expect(Array.from(lowess(y, x, { frac: 0.01, it: 0 }).fitted)).to.deep.equal(y);
  });
});

describe('stats: span F1 (chunk F1 over multisets)', function () {
  it('counts duplicates as a multiset and sums over the corpus', () => {
    const np = ['NP', 'the', 'dog'], v = ['V', 'ran'], pp = ['PP', 'on'];
    // Example 1: gold {np, v}, pred {np, np, v}: 2 correct of 3 predicted, 2 gold.
    // Example 2: gold {pp, np}, pred {pp}: 1 correct of 1, 2 gold.  Totals: 3/4 precision, 3/4 recall.
    const r = spanF1([[np, np, v], [pp]], [[np, v], [pp, np]]);
    expect(r.precision).to.equal(3 / 4);
    expect(r.recall).to.equal(3 / 4);
    expect(r.f1).to.be.closeTo(0.75, 1e-15);
    const half = spanF1([[np]], [[np, v, pp]]); // P 1, R 1/3 -> F1 = 2·(1/3)/(4/3) = 0.5
    expect(half.f1).to.be.closeTo(0.5, 1e-15);
    expect(spanF1([[]], [[np]])).to.deep.equal({ precision: 0, recall: 0, f1: 0 });
    expect(() => spanF1([[np]], [])).to.throw(/spanF1: 1 predictions for 0/);
  });
});
