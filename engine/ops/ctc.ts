// Connectionist temporal classification loss, as torch.nn.functional.ctc_loss: log_probs (T, B, C)
// (log_softmax outputs, time first), targets (B, S) padded label ids, per-element input and target
// lengths, blank id, reduction 'mean' | 'sum' | 'none', zero_infinity. The per-element negative log
// likelihood is one fused node (shaders/ctc_loss.wgsl, ctc_loss_backward.wgsl: the alpha / beta
// recursions in log space, one workgroup per element); the reductions are ops composed on top, so
// 'mean' divides each loss by its target length (clamped to >= 1) and averages over the batch, as
// PyTorch does.
//
// The gradient is with respect to the log-probs as given (−Σ_s γ_t(s) per label), not PyTorch's fused
// shortcut (softmax − γ, which is only right after a log_softmax): chained through logSoftmax it is the
// same logits gradient, and finite differences on arbitrary log-probs agree with it.
import { record } from '../autograd.js';
import { DTypeError, RangeArgumentError, ShapeError, fmtShape } from '../errors.js';
import { Params } from '../params.js';
import type { Tensor } from '../tensor.js';
import type { LossReduction } from './losses.js';
import { empty, gridRows, requireFloat } from './util.js';

export interface CTCLossOptions {
  /** The blank label id (default 0). */
  blank?: number;
  reduction?: LossReduction;
  /** Infeasible elements (no alignment fits in T_b frames) get loss 0 and gradient 0 instead of +Inf. */
  zeroInfinity?: boolean;
}

const INF = Number.POSITIVE_INFINITY;

/** The workgroup of the CTC kernels: covers the extended states of the longest target (max 256). */
function ctcWorkgroup(states: number): number {
  let wg = 8;
  while (wg < 256 && wg < states) wg *= 2;
  return wg;
}

/**
 * CTC negative log likelihood of `targets` under `logProbs` (T, B, C). `targets` is an i32/u32 tensor
 * (B, S) (rows padded past their length; the padding is never read); inputLengths / targetLengths
 * are host arrays of B integers, 1 <= inputLengths[b] <= T and 0 <= targetLengths[b] <= S. A label
 * that is out of range or equal to the blank makes that element's loss and gradient NaN.
 */
export function ctcLoss(logProbs: Tensor, targets: Tensor, inputLengths: ArrayLike<number>, targetLengths: ArrayLike<number>, options: CTCLossOptions = {}): Tensor {
  const op = 'ctcLoss';
  logProbs.assertLive(op, targets);
  requireFloat(op, logProbs);
  if (targets.dtype !== 'i32' && targets.dtype !== 'u32') throw new DTypeError(`${op}: targets must hold integer label ids (i32 or u32), got ${targets.dtype} of shape ${fmtShape(targets.shape)}`);
  if (logProbs.ndim !== 3) throw new ShapeError(`${op}: logProbs must be (T, B, C), got ${fmtShape(logProbs.shape)}`);
  const [T, B, C] = logProbs.shape;
  if (targets.ndim !== 2 || targets.shape[0] !== B) throw new ShapeError(`${op}: targets must be (B, S) = (${B}, S) for logProbs ${fmtShape(logProbs.shape)}, got ${fmtShape(targets.shape)}`);
  const S = targets.shape[1];
  if (inputLengths.length !== B || targetLengths.length !== B) {
    throw new ShapeError(`${op}: inputLengths (${inputLengths.length}) and targetLengths (${targetLengths.length}) must have B = ${B} entries`);
  }
  for (let b = 0; b < B; b++) {
    const ti = inputLengths[b], tu = targetLengths[b];
    if (!Number.isInteger(ti) || ti < 1 || ti > T) throw new RangeArgumentError(`${op}: inputLengths[${b}] = ${ti} must be an integer in 1..${T} (logProbs ${fmtShape(logProbs.shape)})`);
    if (!Number.isInteger(tu) || tu < 0 || tu > S) throw new RangeArgumentError(`${op}: targetLengths[${b}] = ${tu} must be an integer in 0..${S} (targets ${fmtShape(targets.shape)})`);
  }
  const blank = options.blank ?? 0;
  if (!Number.isInteger(blank) || blank < 0 || blank >= C) throw new RangeArgumentError(`${op}: blank ${blank} must be a label id in 0..${C - 1}`);
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') throw new RangeArgumentError(`${op}: reduction must be 'mean', 'sum' or 'none', got ${String(reduction)}`);
  const zeroInfinity = options.zeroInfinity ?? false;
  const engine = logProbs.engine;

  const perElement = engine.tidy(() => {
    const lp = engine.noGrad(() => logProbs.contiguous());
    const tg = engine.noGrad(() => (targets.dtype === 'i32' ? targets.contiguous() : targets.cast('i32')));
    const inLen = engine.tensor(Int32Array.from(inputLengths), [B], { dtype: 'i32' });
    const tgLen = engine.tensor(Int32Array.from(targetLengths), [B], { dtype: 'i32' });
    const spmax = 2 * S + 1;
    const alpha = empty(engine, [B, T, spmax], 'f32');
    const logp = empty(engine, [B], 'f32');
    const loss = empty(engine, [B], logProbs.dtype);
    const wg = ctcWorkgroup(spmax);
    const head = () => new Params().u32(T).u32(B).u32(C).u32(S).u32(lp.offset).u32(tg.offset).u32(blank).u32(zeroInfinity ? 1 : 0);
    engine.run({
      shader: 'ctcLoss',
      types: { T: logProbs.dtype },
      constants: { WG: wg },
      params: head().f32(INF).f32(NaN).finish(),
      buffers: [lp.storage.buffer, tg.storage.buffer, inLen.storage.buffer, tgLen.storage.buffer, alpha.storage.buffer, loss.storage.buffer, logp.storage.buffer],
      grid: gridRows(engine, B),
    });
    return record(engine, op, [logProbs], loss, [lp, tg, inLen, tgLen, alpha, logp], (g, [lps, tgs, il, tl, al, lq]) => {
      const gc = engine.noGrad(() => g.contiguous());
      const beta = empty(engine, [B, T, spmax], 'f32');
      const dlp = empty(engine, [T, B, C], g.dtype);
      engine.run({
        shader: 'ctcLossBackward',
        types: { T: g.dtype },
        constants: { WG: wg },
        params: head().u32(gc.offset).f32(NaN).finish(),
        buffers: [lps.storage.buffer, tgs.storage.buffer, il.storage.buffer, tl.storage.buffer, al.storage.buffer, lq.storage.buffer, gc.storage.buffer, beta.storage.buffer, dlp.storage.buffer],
        grid: gridRows(engine, B),
      });
      beta.dispose();
      if (gc !== g) gc.dispose();
      return [record(engine, `${op}Backward`, [g, lps], dlp, [], null)];
    });
  });
  if (reduction === 'none') return perElement;
  const reduced = engine.tidy(() => {
    if (reduction === 'sum') return perElement.sum();
    const lengths = engine.tensor(Float32Array.from(targetLengths, (u) => Math.max(1, u)), [B], { dtype: logProbs.dtype });
    return perElement.div(lengths).mean();
  });
  perElement.dispose();
  return reduced;
}
