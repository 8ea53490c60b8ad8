// One comparison rule for every numeric test: |a - e| <= atol + rtol * |e|, reporting the worst element.

export interface Tolerance {
  rtol: number;
  atol: number;
}

export const F32_TOL: Tolerance = { rtol: 2e-5, atol: 1e-5 };

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance = F32_TOL, what = 'values'): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length} differs from the expected ${expected.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (e === a) continue; // covers matching infinities
    const excess = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0) {
    const a = actual[worst];
    const e = expected[worst];
    throw new Error(
      `${what}: element ${worst} is ${a}, expected ${e} (|diff| ${Math.abs(a - e).toExponential(3)} > atol ${tol.atol} + rtol ${tol.rtol} * |e|)`,
    );
  }
}

export function assertEqualArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, what = 'values'): void {
  assertClose(actual, expected, { rtol: 0, atol: 0 }, what);
}
