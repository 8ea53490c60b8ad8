// The selection strategies of the official code (guillemram97/margin_llms, utils_method.py), on
// per-query records in stream order, and the normalised area under the accuracy-vs-budget curve
// (plots.py). Host-side bookkeeping only: scores and correctness come from the models on the GPU.
//
// Escalation rate from the budget B (average cost per query):
//   cascade: p = min((B - c_s) / c_l, 1)        an escalated query pays c_s + c_l   (return_p)
//   routing: p = min((B - c_s) / (c_l - c_s), 1) exactly one model per query       (return_p_sakota)
// Both fall back, as the code does, to min((1 - acc_s) / 2, 0.6) when the large model is not better or
// not dearer.

export interface Costs {
  small: number;
  large: number;
}

/** Per query, in stream order: is each model right (0/1), and the selection score (low = escalate). */
export interface QueryStream {
  smallCorrect: readonly number[];
  largeCorrect: readonly number[];
  scores: readonly number[];
}

export interface BudgetContext {
  costs: Costs;
  /** Average budget per query. */
  budget: number;
  /** Overall accuracies (the code's `performance`), deciding the direct-large rule and the fallback rate. */
  accSmall: number;
  accLarge: number;
  /** A query the budget cannot pay for scores 1 / numClasses. */
  numClasses: number;
  /** Observations before the quantile threshold is used (the code: more than 20). */
  warmup: number;
}

export interface Outcome {
  accuracy: number;
  /** Realised average cost per query (B·N minus what is left, over N). */
  meanCost: number;
  /** The escalation (cascade) or large-model (routing) rate p the budget asks for. */
  p: number;
  /** Queries decided by the threshold, and how many went to the large model, after the warm-up. */
  thresholdedAfterWarmup: number;
  escalatedAfterWarmup: number;
  /** Queries answered by the large model alone because the budget covered it for all the rest. */
  directLarge: number;
  /** Queries scored at chance because the budget ran out. */
  unpaid: number;
}

export function cascadeRate(b: BudgetContext): number {
  const { costs: c, budget, accSmall, accLarge } = b;
  return accLarge > accSmall && c.small < c.large ? Math.min((budget - c.small) / c.large, 1) : Math.min((1 - accSmall) / 2, 0.6);
}

export function routingRate(b: BudgetContext): number {
  const { costs: c, budget, accSmall, accLarge } = b;
  return accLarge > accSmall && c.small < c.large ? Math.min((budget - c.small) / (c.large - c.small), 1) : Math.min((1 - accSmall) / 2, 0.6);
}

/** A sorted list that grows one value at a time, with the code's quantile threshold. */
class SortedScores {
  readonly values: number[] = [];
  insert(v: number): void {
    let lo = 0, hi = this.values.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.values[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    this.values.splice(lo, 0, v);
  }
  /**
   * τ = the element at index ⌊p·n⌋ (above the maximum when that is past the end). During the warm-up
   * −∞, so nothing is escalated: the code uses −1, the same thing for its non-negative margins, but the
   * oracle's scores are negative.
   */
  threshold(p: number, warmup: number): number {
    const n = this.values.length;
    if (n <= warmup) return -Infinity;
    const i = Math.floor(n * p);
    return i >= n ? this.values[n - 1] + 10 : this.values[i];
  }
}

function check(s: QueryStream, b: BudgetContext, what: string): void {
  const n = s.scores.length;
  if (s.smallCorrect.length !== n || s.largeCorrect.length !== n) throw new RangeError(`${what}: smallCorrect (${s.smallCorrect.length}), largeCorrect (${s.largeCorrect.length}) and scores (${n}) must have one entry per query`);
  if (!(b.costs.small > 0 && b.costs.large > 0)) throw new RangeError(`${what}: costs must be positive, got ${b.costs.small}, ${b.costs.large}`);
  if (!(b.budget >= 0)) throw new RangeError(`${what}: budget must be >= 0, got ${b.budget}`);
}

/**
 * The margin cascade (make_cascade): the small model answers every query; it escalates to the large one
 * when its score is below the online p-quantile of the scores seen so far (the current one included)
 * and the budget still covers c_l. Budget rules first: when what is left covers only c_s for every
 * remaining query, the small model alone; when it covers c_l for every remaining query, the large one
 * alone (no c_s). `escalateIf` (default score < τ) lets the oracle refuse to escalate a query it knows
 * the small model gets right.
 */
export function cascade(s: QueryStream, b: BudgetContext, escalateIf: (score: number, tau: number) => boolean = (v, tau) => v < tau): Outcome {
  check(s, b, 'cascade');
  const { small: c1, large: c2 } = b.costs;
  const n = s.scores.length;
  const p = cascadeRate(b);
  const seen = new SortedScores();
  let left = b.budget * n;
  let correct = 0, thresholded = 0, escalated = 0, directLarge = 0, unpaid = 0;
  for (let i = 0; i < n; i++) {
    const remaining = n - i;
    if (left < c1) {
      unpaid++;
      correct += 1 / b.numClasses;
    } else if (left - remaining * c1 <= 0) {
      left -= c1;
      correct += s.smallCorrect[i];
      seen.insert(s.scores[i]);
    } else if (left - remaining * c2 >= 0 && b.accLarge > b.accSmall) {
      left -= c2;
      correct += s.largeCorrect[i];
      directLarge++;
    } else {
      left -= c1;
      seen.insert(s.scores[i]);
      const warm = seen.values.length > b.warmup;
      const tau = seen.threshold(p, b.warmup);
      const up = escalateIf(s.scores[i], tau) && left - c2 >= 0;
      if (warm) thresholded++;
      if (up) {
        left -= c2;
        correct += s.largeCorrect[i];
        if (warm) escalated++;
      } else correct += s.smallCorrect[i];
    }
  }
  return { accuracy: correct / n, meanCost: (b.budget * n - left) / n, p, thresholdedAfterWarmup: thresholded, escalatedAfterWarmup: escalated, directLarge, unpaid };
}

/**
 * Routing (make_hybrid, the Šakota / HybridLLM baselines): exactly one model per query; a query goes to
 * the large model when its score is at most the online p-quantile (p from the routing rate) and the
 * budget left exceeds c_l. The same budget rules as the cascade.
 */
export function route(s: QueryStream, b: BudgetContext): Outcome {
  check(s, b, 'route');
  const { small: c1, large: c2 } = b.costs;
  const n = s.scores.length;
  const p = routingRate(b);
  const seen = new SortedScores();
  let left = b.budget * n;
  let correct = 0, thresholded = 0, escalated = 0, directLarge = 0, unpaid = 0;
  for (let i = 0; i < n; i++) {
    const remaining = n - i;
    if (left < c1) {
      unpaid++;
      correct += 1 / b.numClasses;
    } else if (left - remaining * c1 <= 0) {
      left -= c1;
      correct += s.smallCorrect[i];
      seen.insert(s.scores[i]);
    } else if (left - remaining * c2 >= 0 && b.accLarge > b.accSmall) {
      left -= c2;
      correct += s.largeCorrect[i];
      directLarge++;
    } else {
      seen.insert(s.scores[i]);
      const warm = seen.values.length > b.warmup;
      const tau = seen.threshold(p, b.warmup);
      if (warm) thresholded++;
      if (s.scores[i] > tau || left - c2 <= 0) {
        left -= c1;
        correct += s.smallCorrect[i];
      } else {
        left -= c2;
        correct += s.largeCorrect[i];
        if (warm) escalated++;
      }
    }
  }
  return { accuracy: correct / n, meanCost: (b.budget * n - left) / n, p, thresholdedAfterWarmup: thresholded, escalatedAfterWarmup: escalated, directLarge, unpaid };
}

/**
 * The random mixture (the code's `rdn`): the first r = (B - c_l)/(c_s - c_l) of the stream answered by
 * the small model, the rest by the large one; in expectation the linear interpolation of the two
 * accuracies. (⌊r·N⌋ small queries: its cost can exceed B by up to (c_l - c_s)/N.)
 */
export function randomMixture(s: Pick<QueryStream, 'smallCorrect' | 'largeCorrect'>, b: Pick<BudgetContext, 'costs' | 'budget'>): { accuracy: number; meanCost: number } {
  const { small: c1, large: c2 } = b.costs;
  const n = s.smallCorrect.length;
  const k = Math.max(0, Math.min(n, Math.floor(n * ((b.budget - c2) / (c1 - c2)))));
  let correct = 0;
  for (let i = 0; i < n; i++) correct += i < k ? s.smallCorrect[i] : s.largeCorrect[i];
  return { accuracy: correct / n, meanCost: (k * c1 + (n - k) * c2) / n };
}

/**
 * Oracle scores for the cascade: small wrong and large right lowest, then small wrong and large wrong,
 * then small right; `jitter` (values in [0, 1)) breaks ties in a random order. With
 * `oracleEscalateIf` the oracle escalates only queries the small model gets wrong.
 */
export function oracleScores(s: Pick<QueryStream, 'smallCorrect' | 'largeCorrect'>, jitter: readonly number[]): number[] {
  return s.smallCorrect.map((ok, i) => (ok ? 1 : s.largeCorrect[i] ? -2 : -1) + 0.5 * jitter[i]);
}
export const oracleEscalateIf = (score: number, tau: number) => score < tau && score < 0;

/** The budget grid of plots.py: `points` budgets evenly spaced in [c_s, c_l], both ends included. */
export function budgetGrid(costs: Costs, points: number): number[] {
  if (!(Number.isInteger(points) && points >= 2)) throw new RangeError(`budgetGrid: points must be an integer >= 2, got ${points}`);
  return Array.from({ length: points }, (_, k) => (k === points - 1 ? costs.large : costs.small + (k * (costs.large - costs.small)) / (points - 1)));
}

/** Trapezoid area under (budgets, accuracies), divided by the budget range: the average accuracy over budgets. */
export function normalisedAUC(budgets: readonly number[], accuracies: readonly number[]): number {
  if (budgets.length !== accuracies.length || budgets.length < 2) throw new RangeError(`normalisedAUC: budgets (${budgets.length}) and accuracies (${accuracies.length}) must match, with at least 2 points`);
  let area = 0;
  for (let k = 1; k < budgets.length; k++) area += ((budgets[k] - budgets[k - 1]) * (accuracies[k] + accuracies[k - 1])) / 2;
  return area / (budgets[budgets.length - 1] - budgets[0]);
}
