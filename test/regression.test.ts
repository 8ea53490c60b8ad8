// linearRegression and r2Score (nn/stats.ts) against closed forms and brute-force float64 references:
// an exact linear relation is recovered, the normal equations hold at the fit (residuals orthogonal to
// every column), constant and collinear columns stay solvable, R² matches its definition.
import { expect } from 'chai';
import { ShapeError } from '../engine/index.js';
import { SeededRng, linearRegression, pearson, r2Score } from '../nn/index.js';

describe('stats: linear regression and R²', function () {
  it('recovers an exact linear relation; residuals are orthogonal to every column at a noisy fit', function () {
    const rng = new SeededRng('ols');
    const X = Array.from({ length: 50 }, () => [rng.next() * 4 - 2, rng.next() * 10, rng.next() - 0.5]);
    const exact = X.map((x) => 0.7 - 1.5 * x[0] + 0.25 * x[1] + 3 * x[2]);
    const f = linearRegression(X, exact);
    expect(f.intercept).to.be.closeTo(0.7, 1e-8);
    [-1.5, 0.25, 3].forEach((c, j) => expect(f.coef[j]).to.be.closeTo(c, 1e-8));
    const noisy = exact.map((v) => v + (rng.next() - 0.5));
    const g = linearRegression(X, noisy);
    const resid = X.map((x, i) => noisy[i] - g.intercept - x.reduce((a, v, j) => a + v * g.coef[j], 0));
    expect(Math.abs(resid.reduce((a, v) => a + v, 0))).to.be.below(1e-8);
    for (let j = 0; j < 3; j++) expect(Math.abs(resid.reduce((a, v, i) => a + v * X[i][j], 0))).to.be.below(1e-7);
  });

  it('a constant column gets coefficient 0; a duplicated column splits its coefficient; one feature matches the Pearson slope', function () {
    const x = [1, 2, 3, 4, 5, 6], y = [2.1, 3.9, 6.2, 7.8, 10.1, 12];
    const withConst = linearRegression(x.map((v) => [v, 3]), y);
    expect(withConst.coef[1]).to.be.closeTo(0, 1e-9);
    const mx = 3.5, my = y.reduce((a, b) => a + b, 0) / 6;
    const slope = x.reduce((a, v, i) => a + (v - mx) * (y[i] - my), 0) / x.reduce((a, v) => a + (v - mx) ** 2, 0);
    expect(withConst.coef[0]).to.be.closeTo(slope, 1e-8);
    const dup = linearRegression(x.map((v) => [v, v]), y);
    expect(dup.coef[0] + dup.coef[1]).to.be.closeTo(slope, 1e-6);
    // R² of the one-feature fit is Pearson's r squared.
    const pred = x.map((v) => withConst.intercept + slope * v);
    expect(r2Score(y, pred)).to.be.closeTo(pearson(x, y) ** 2, 1e-12);
  });

  it('r2Score: 1 for a perfect fit, 0 for the mean, negative when worse; constant targets; errors name the function', function () {
    const y = [1, 2, 3, 4];
    expect(r2Score(y, y)).to.equal(1);
    expect(r2Score(y, [2.5, 2.5, 2.5, 2.5])).to.be.closeTo(0, 1e-15);
    expect(r2Score(y, [4, 3, 2, 1])).to.be.closeTo(1 - 20 / 5, 1e-12);
    expect(r2Score([2, 2], [2, 2])).to.equal(1);
    expect(r2Score([2, 2], [2, 3])).to.equal(0);
    expect(() => r2Score([1, 2], [1])).to.throw(ShapeError, /r2Score/);
    expect(() => linearRegression([[1], [2, 3]], [1, 2])).to.throw(ShapeError, /linearRegression: row 1 of X has 2 features/);
    expect(() => linearRegression([[1], [2]], [1, 2, 3])).to.throw(ShapeError, /linearRegression: X has 2 rows but y has 3/);
  });
});
