// Float64 CTC references: the alpha recursion in log space (Graves et al. 2006) and, for tiny sizes, the
// definition itself: log Σ over every frame path π with B(π) = y of Π_t p(π_t), B collapsing repeats
// and then dropping blanks.

const lse = (a: number, b: number) => {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
};

/** log p(y | a) for one sequence; a[t][k] are log-probs (any values: the recursion does not assume they normalise). */
export function ctcLogLikelihood(a: readonly (readonly number[])[], y: readonly number[], blank = 0): number {
  const T = a.length;
  const ext = [blank];
  for (const k of y) ext.push(k, blank);
  const S = ext.length;
  let alpha = new Array<number>(S).fill(-Infinity);
  alpha[0] = a[0][blank];
  if (S > 1) alpha[1] = a[0][ext[1]];
  for (let t = 1; t < T; t++) {
    const next = new Array<number>(S).fill(-Infinity);
    for (let s = 0; s < S; s++) {
      let acc = alpha[s];
      if (s >= 1) acc = lse(acc, alpha[s - 1]);
      if (s >= 2 && ext[s] !== blank && ext[s] !== ext[s - 2]) acc = lse(acc, alpha[s - 2]);
      next[s] = acc + a[t][ext[s]];
    }
    alpha = next;
  }
  return S > 1 ? lse(alpha[S - 1], alpha[S - 2]) : alpha[0];
}

/** The same by enumerating all C^T paths (tiny T and C only). */
export function ctcLogLikelihoodBruteForce(a: readonly (readonly number[])[], y: readonly number[], blank = 0): number {
  const T = a.length, C = a[0].length;
  let total = -Infinity;
  const path = new Array<number>(T).fill(0);
  for (let code = 0; code < C ** T; code++) {
    let c = code;
    for (let t = 0; t < T; t++) {
      path[t] = c % C;
      c = Math.floor(c / C);
    }
    const collapsed: number[] = [];
    path.forEach((k, t) => {
      if (k !== blank && (t === 0 || path[t - 1] !== k)) collapsed.push(k);
    });
    if (collapsed.length !== y.length || collapsed.some((k, i) => k !== y[i])) continue;
    total = lse(total, path.reduce((s, k, t) => s + a[t][k], 0));
  }
  return total;
}

/**
 * torch.nn.functional.ctc_loss on (T, B, C) log-probs given as lp[t][b][k]: per-element −log p (Inf when
 * infeasible, or 0 with zeroInfinity), reduced as PyTorch ('mean': divide by max(1, target length), then average).
 */
export function ctcLossRef(
  lp: readonly (readonly (readonly number[])[])[], targets: readonly (readonly number[])[], inputLengths: readonly number[], targetLengths: readonly number[],
  o: { blank?: number; reduction?: 'mean' | 'sum' | 'none'; zeroInfinity?: boolean } = {},
): number | number[] {
  const per = targets.map((y, b) => {
    const a = lp.slice(0, inputLengths[b]).map((row) => row[b]);
    const l = -ctcLogLikelihood(a, y.slice(0, targetLengths[b]), o.blank ?? 0);
    return l === Infinity && o.zeroInfinity ? 0 : l;
  });
  const r = o.reduction ?? 'mean';
  if (r === 'none') return per;
  if (r === 'sum') return per.reduce((s, v) => s + v, 0);
  return per.reduce((s, v, b) => s + v / Math.max(1, targetLengths[b]), 0) / per.length;
}
