// Post-hoc reward calibration (Huang et al., ICLR 2025; official code src/calibrate_rewardbench.py),
// on the scores of an evaluation set, host-side in float64. Every calibrator pools the chosen and the
// rejected responses (no labels): it is transductive, as the official code.
//   RC-LWR:  b̂ = LOWESS(rewards against lengths, frac, it), r̂ = r − λ b̂(c)
//   RC-Mean: b̂(c) = mean reward of the pooled responses with length in [c − d, c + d],
//            d = mean |c_chosen − c_rejected| / ratio; a pair is calibrated only when both its windows
//            hold >= minCount responses (else its raw scores are kept)
//   Length penalty: r − penaltyPerChar × characters (the prompt's characters are common to both
//            responses of a pair and cancel in the margin, so only the response's count is used)
import { lowess } from '../../nn/index.js';

export interface LWROptions {
  frac: number;
  it: number;
  /** The calibration constant λ (the official `--alphas`). */
  lambda: number;
}

/** r̂ = r − λ b̂(c) with b̂ the LOWESS fit of r against c at each point; also returns b̂. */
export function calibrateLWR(rewards: ArrayLike<number>, lengths: ArrayLike<number>, o: LWROptions): { calibrated: Float64Array; bias: Float64Array } {
  const bias = lowess(rewards, lengths, { frac: o.frac, it: o.it }).fittedAtInput;
  return { calibrated: Float64Array.from(bias, (b, i) => rewards[i] - o.lambda * b), bias };
}

export interface MeanOptions {
  /** d = mean |Δc| / ratio (official: 4 for RewardBench, 8 for AlpacaEval). */
  ratio: number;
  /** Minimum responses in a window (official: 20 for RewardBench, 10 for AlpacaEval). */
  minCount: number;
  lambda: number;
}

/**
 * RC-Mean on pairs. `rewards`/`lengths` hold the chosen responses at 0..n-1 and the rejected at n..2n-1.
 * Returns the calibrated scores (raw where a pair is not calibrated) and the share of calibrated pairs.
 * The window is inclusive [c − d, c + d]; the official slice drops its last element, which the spec
 * calls immaterial.
 */
export function calibrateMean(rewards: ArrayLike<number>, lengths: ArrayLike<number>, o: MeanOptions): { calibrated: Float64Array; coverage: number; halfWidth: number } {
  const N = rewards.length;
  if (N % 2 !== 0 || lengths.length !== N) throw new RangeError(`calibrateMean: expects 2n rewards and lengths (chosen then rejected), got ${N} and ${lengths.length}`);
  const n = N / 2;
  let gap = 0;
  for (let i = 0; i < n; i++) gap += Math.abs(lengths[i] - lengths[n + i]);
  const d = gap / n / o.ratio;
  // Sorted lengths with prefix sums of their rewards: a window's count and mean by two binary searches.
  const order = Array.from({ length: N }, (_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const xs = Float64Array.from(order, (i) => lengths[i]);
  const prefix = new Float64Array(N + 1);
  order.forEach((i, s) => (prefix[s + 1] = prefix[s] + rewards[i]));
  const lowerBound = (v: number) => {
    let lo = 0, hi = N;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const upperBound = (v: number) => {
    let lo = 0, hi = N;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const window = (c: number) => {
    const l = lowerBound(c - d), r = upperBound(c + d);
    return { count: r - l, mean: r > l ? (prefix[r] - prefix[l]) / (r - l) : NaN };
  };
  const calibrated = Float64Array.from(rewards);
  let covered = 0;
  for (let i = 0; i < n; i++) {
    const wc = window(lengths[i]), wr = window(lengths[n + i]);
    if (wc.count < o.minCount || wr.count < o.minCount) continue;
    covered++;
    calibrated[i] = rewards[i] - o.lambda * wc.mean;
    calibrated[n + i] = rewards[n + i] - o.lambda * wr.mean;
  }
  return { calibrated, coverage: covered / n, halfWidth: d };
}

/** The length-penalty baseline: r − perChar × characters. */
export function lengthPenalty(rewards: ArrayLike<number>, chars: ArrayLike<number>, perChar: number): Float64Array {
  return Float64Array.from(rewards, (r, i) => r - perChar * chars[i]);
}

/**
 * Pairwise accuracy: share of pairs with score(chosen) − score(rejected) > 0 (a tie counts as wrong,
 * as the official `> 0`), over the pairs selected by `keep` (all when absent). NaN if none is selected.
 */
export function pairAccuracy(scores: ArrayLike<number>, keep?: (i: number) => boolean): number {
  const n = scores.length / 2;
  let right = 0, total = 0;
  for (let i = 0; i < n; i++) {
    if (keep && !keep(i)) continue;
    total++;
    if (scores[i] - scores[n + i] > 0) right++;
  }
  return total ? right / total : NaN;
}
