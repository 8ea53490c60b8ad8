// Float64 references for the neural-network functionals, written as the textbook formulas.
import { Ref, lanes, zip, zip3 } from './core.js';

function logsumexp(v: number[]): number {
  const m = Math.max(...v);
  if (!Number.isFinite(m)) return m;
  let s = 0;
  for (const x of v) s += Math.exp(x - m);
  return m + Math.log(s);
}

export function softmax(x: Ref, dim = -1): Ref {
  if (x.shape.length === 0) return Ref.scalar(1);
  return lanes(x, dim, (lane) => {
    const l = logsumexp(lane);
    return lane.map((v) => Math.exp(v - l));
  });
}

export function logSoftmax(x: Ref, dim = -1): Ref {
  if (x.shape.length === 0) return Ref.scalar(0);
  return lanes(x, dim, (lane) => {
    const l = logsumexp(lane);
    return lane.map((v) => v - l);
  });
}

/** Normalise each group of the trailing `n` elements (n = product of normalizedShape). */
function normRows(x: Ref, n: number, f: (row: Float64Array) => Float64Array): Ref {
  const out = Ref.zeros(x.shape);
  for (let r = 0; r < x.size / n; r++) out.data.set(f(x.data.subarray(r * n, (r + 1) * n)), r * n);
  return out;
}

export function layerNorm(x: Ref, normalizedShape: number[], weight?: Ref | null, bias?: Ref | null, eps = 1e-5): Ref {
  const n = normalizedShape.reduce((a, b) => a * b, 1);
  return normRows(x, n, (row) => {
    let mean = 0;
    for (const v of row) mean += v;
    mean /= n;
    let variance = 0;
    for (const v of row) variance += (v - mean) ** 2;
    variance /= n;
    const rstd = 1 / Math.sqrt(variance + eps);
    return row.map((v, j) => (v - mean) * rstd * (weight ? weight.data[j] : 1) + (bias ? bias.data[j] : 0));
  });
}

export function rmsNorm(x: Ref, normalizedShape: number[], weight?: Ref | null, eps = 1e-6): Ref {
  const n = normalizedShape.reduce((a, b) => a * b, 1);
  return normRows(x, n, (row) => {
    let ms = 0;
    for (const v of row) ms += v * v;
    ms /= n;
    const rstd = 1 / Math.sqrt(ms + eps);
    return row.map((v, j) => v * rstd * (weight ? weight.data[j] : 1));
  });
}

export interface CrossEntropyOptions {
  ignoreIndex?: number;
  labelSmoothing?: number;
  reduction?: 'mean' | 'sum' | 'none';
}

/** PyTorch's cross_entropy with class indices: classes last, target of the leading shape. */
export function crossEntropy(logits: Ref, target: Ref, options: CrossEntropyOptions = {}): Ref {
  const ignore = options.ignoreIndex ?? -100;
  const eps = options.labelSmoothing ?? 0;
  const reduction = options.reduction ?? 'mean';
  const c = logits.shape[logits.shape.length - 1];
  const rows = logits.size / c;
  const losses = new Float64Array(rows);
  let count = 0;
  for (let r = 0; r < rows; r++) {
    const t = target.data[r];
    if (t === ignore) continue;
    if (!(t >= 0 && t < c)) throw new Error(`reference crossEntropy: target ${t} out of range`);
    const row = Array.from(logits.data.subarray(r * c, (r + 1) * c));
    const lse = logsumexp(row);
    const meanLogit = row.reduce((a, b) => a + b, 0) / c;
    // As PyTorch, the smoothing term only when eps > 0: with a -Inf logit it is +Inf, and 0 * Inf is NaN.
    losses[r] = eps > 0 ? (1 - eps) * (lse - row[t]) + eps * (lse - meanLogit) : lse - row[t];
    count++;
  }
  if (reduction === 'none') return new Ref(logits.shape.slice(0, -1), losses);
  const sum = losses.reduce((a, b) => a + b, 0);
  return Ref.scalar(reduction === 'sum' ? sum : sum / count);
}

/**
 * The gradient of crossEntropy with respect to the logits, from its closed form
 * softmax(x) - (1 - eps) onehot(t) - eps / C per row (scaled by 1 / count for 'mean'): finite
 * differences cannot step through a -Inf logit.
 */
export function crossEntropyGrad(logits: Ref, target: Ref, options: CrossEntropyOptions = {}): Ref {
  const ignore = options.ignoreIndex ?? -100;
  const eps = options.labelSmoothing ?? 0;
  const c = logits.shape[logits.shape.length - 1];
  const rows = logits.size / c;
  const grad = new Float64Array(logits.size);
  let count = 0;
  for (let r = 0; r < rows; r++) {
    const t = target.data[r];
    if (t === ignore) continue;
    count++;
    const row = Array.from(logits.data.subarray(r * c, (r + 1) * c));
    const lse = logsumexp(row);
    for (let j = 0; j < c; j++) grad[r * c + j] = Math.exp(row[j] - lse) - (j === t ? 1 - eps : 0) - eps / c;
  }
  if ((options.reduction ?? 'mean') === 'mean') for (let i = 0; i < grad.length; i++) grad[i] /= count;
  return new Ref(logits.shape, grad);
}

type Reduction = 'mean' | 'sum' | 'none';

function reduceLoss(loss: Ref, reduction: Reduction = 'mean'): Ref {
  if (reduction === 'none') return loss;
  const sum = loss.data.reduce((a, b) => a + b, 0);
  return Ref.scalar(reduction === 'sum' ? sum : sum / loss.size);
}

/** torch.nn.functional.mse_loss. */
export function mseLoss(input: Ref, target: Ref, options: { reduction?: Reduction } = {}): Ref {
  return reduceLoss(zip(input, target, (x, y) => (x - y) ** 2), options.reduction);
}

/** log σ(x), stable for either sign. */
const logSigmoid = (x: number) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));

/**
 * torch.nn.functional.binary_cross_entropy_with_logits from its definition:
 * -w [p y log σ(x) + (1 - y) log(1 - σ(x))], with log(1 - σ(x)) = log σ(-x).
 */
export function binaryCrossEntropyWithLogits(
  input: Ref, target: Ref, options: { weight?: Ref; posWeight?: Ref; reduction?: Reduction } = {},
): Ref {
  const one = Ref.scalar(1);
  const p = options.posWeight ?? one;
  const w = options.weight ?? one;
  const pos = zip3(input, target, p, (x, y, pw) => -(pw * y * logSigmoid(x) + (1 - y) * logSigmoid(-x)));
  return reduceLoss(zip(pos, w, (l, wi) => l * wi), options.reduction);
}
