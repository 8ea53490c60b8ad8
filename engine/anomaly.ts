// Anomaly detection (engine.detectAnomaly(true); PyTorch: torch.autograd.set_detect_anomaly): while on,
// every op output autograd sees and every gradient a backward rule returns is checked on the GPU for
// NaN and ±Inf by a small kernel (shaders/check_finite.wgsl) that records the first offender in the
// engine's error word; the next readback throws AnomalyError naming the op. Checks are dispatched in
// stream order right after the op's own kernels, and the first check that finds something wins, so a
// bad value is blamed on the op that produced it, not on every op downstream of it.
//
// What is checked, and why at the op level rather than after every kernel: an op is what the user
// wrote (one op launches several kernels whose shader names, "binary", "reduce", mean nothing to them),
// and a pooled buffer is larger than its tensor, so only the op knows which bytes are its values.
// Checked: the output of every op that calls record() with grad mode on (the ops on the tape, and those
// that would be had an input required a gradient), the inputs of such ops that no check has seen at
// their current contents (parameters, data, values written in place, e.g. by an optimizer step), and
// in backward the seed, each gradient a rule returns ("backward of <op>") and the sums of gradients.
// Not checked: anything under noGrad (like PyTorch, it is an autograd feature; a fused op's internals
// run under noGrad, so crossEntropy is blamed, not the sum inside it), and the kernels inside a
// backward rule (their result is the rule's gradient, checked as a whole).
// Off (the default) it costs one property test per op: no dispatch, no binding.
import { isFloat } from './dtype.js';
import type { Engine } from './engine.js';
import { fmtShape } from './errors.js';
import { Params } from './params.js';
import type { Tensor } from './tensor.js';
import { grid1d } from './ops/util.js';

export interface AnomalyOptions {
  /** Report only NaN, not ±Inf (for models that mask with -Inf on purpose). Default false. */
  nanOnly?: boolean;
}

/** The elements [lo, hi) of one buffer a check has covered, at the buffer's write version then. */
interface Covered {
  version: number;
  lo: number;
  hi: number;
}

export class AnomalyDetector {
  /** Check labels, interned: word 7 holds index + 1. Bounded by the distinct (op, shape) pairs. */
  readonly labels: string[] = [];
  private readonly ids = new Map<string, number>();
  /** Checks dispatched since the last readback cleared the error word (word 5 holds one of them). */
  private seq = 0;
  private readonly covered = new WeakMap<GPUBuffer, Covered>();
  /** > 0 while a backward rule runs: its inner ops are not checked one by one. */
  private muted = 0;
  nanOnly: boolean;

  constructor(
    private readonly engine: Engine,
    options: AnomalyOptions = {},
  ) {
    this.nanOnly = options.nanOnly ?? false;
  }

  /** The readback that clears the error word has been encoded: numbering starts again. */
  cleared(): void {
    this.seq = 0;
  }

  /** An op's output, from record(): its inputs first (unseen ones only), then the output. */
  forward(op: string, inputs: readonly (Tensor | null)[], out: Tensor): void {
    if (this.muted > 0 || !this.engine.gradEnabled) return;
    inputs.forEach((t, i) => {
      if (t && !t.disposed) this.check(t, `${op}: its input ${i} ${fmtShape(t.shape)} (not produced by a checked op: a parameter, data, or a value written in place)`);
    });
    this.check(out, `${op} ${fmtShape(out.shape)}`);
  }

  /** Run a backward rule without checking the ops inside it. */
  rule<R>(fn: () => R): R {
    this.muted++;
    try {
      return fn();
    } finally {
      this.muted--;
    }
  }

  /** A gradient produced in backward. */
  gradient(label: string, g: Tensor): void {
    this.check(g, `${label} ${fmtShape(g.shape)}`);
  }

  /** Dispatch the check of `t` unless a check already covered its elements at their current contents. */
  private check(t: Tensor, label: string): void {
    if (!isFloat(t.dtype) || t.size === 0) return;
    const engine = this.engine;
    const buffer = t.storage.buffer;
    const [lo, hi] = span(t);
    const version = engine.writeVersion(buffer);
    const seen = this.covered.get(buffer);
    if (seen && seen.version === version && seen.lo <= lo && hi <= seen.hi) return;
    if (t.isContiguous()) {
      this.dispatch(buffer, t.offset, t.size, t.dtype === 'f16', label);
      // Widen a range already covered at this version (the two halves of a split, say).
      const merged = seen && seen.version === version && seen.lo <= hi && lo <= seen.hi;
      this.covered.set(buffer, merged ? { version, lo: Math.min(lo, seen.lo), hi: Math.max(hi, seen.hi) } : { version, lo, hi });
      return;
    }
    // A strided view: check its elements in order through a contiguous copy (anomaly mode only).
    this.muted++;
    try {
      const c = engine.noGrad(() => t.contiguous());
      this.dispatch(c.storage.buffer, c.offset, c.size, c.dtype === 'f16', label);
      c.dispose();
    } finally {
      this.muted--;
    }
  }

  private dispatch(buffer: GPUBuffer, offset: number, n: number, half: boolean, label: string): void {
    let id = this.ids.get(label);
    if (id === undefined) {
      this.labels.push(label);
      this.ids.set(label, (id = this.labels.length));
    }
    const engine = this.engine;
    engine.run({
      shader: 'checkFinite',
      params: new Params().u32(n).u32(offset).u32(half ? 1 : 0).u32(++this.seq).u32(id).u32(this.nanOnly ? 1 : 0).finish(),
      buffers: [buffer, engine.errorBuffer],
      grid: grid1d(engine, n),
    });
  }
}

/** The elements [lo, hi) of its storage a tensor can reach (strides may be 0 or negative). */
function span(t: Tensor): [number, number] {
  let lo = t.offset;
  let hi = t.offset;
  t.shape.forEach((d, i) => {
    const reach = (d - 1) * t.strides[i];
    if (reach < 0) lo += reach;
    else hi += reach;
  });
  return [lo, hi + 1];
}
