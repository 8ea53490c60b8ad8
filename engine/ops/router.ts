// Fused top-k MoE routing: one pass over the router logits (N, E) gives the top-k weights and expert
// indices and the load-balancing statistics (per-expert assignment counts, per-expert sums of the
// full softmax / sigmoid score, per-token log-sum-exp for the z-loss). See shaders/router.wgsl.
// weights, scoreSums and lse are each one autograd node with a fused backward kernel
// (shaders/router_backward.wgsl) that recomputes the scores from the saved logits and lse.
import { record } from '../autograd.js';
import { CHECK_CODES } from '../device-checks.js';
import { isFloat } from '../dtype.js';
import { DTypeError, KilnError, RangeArgumentError, ShapeError, fmtShape } from '../errors.js';
import { Params } from '../params.js';
import type { Tensor } from '../tensor.js';
import { empty, grid1d, gridRows } from './util.js';

export interface RouterOutput {
  /** (N, k) f32: the selected scores (renormalised to sum 1 if asked); differentiable w.r.t. the logits. */
  weights: Tensor;
  /** (N, k) i32: expert indices in descending score order, ties to the lower expert index. */
  indices: Tensor;
  /** (E) i32: assignments per expert over the N·k slots; no gradient. */
  counts: Tensor;
  /** (E) f32: sum over tokens of the full softmax / sigmoid score (before top-k); differentiable. */
  scoreSums: Tensor;
  /** (N) f32: logsumexp of each logits row (for the z-loss); differentiable. */
  lse: Tensor;
}

export interface RouterOptions {
  /** Score function over the E logits (default 'softmax'). */
  scoring?: 'softmax' | 'sigmoid';
  /** Divide the k selected scores by their sum (default false). */
  renormalize?: boolean;
  /** Reduction variant: subgroup operations where the device has them ('auto', the default), or forced. */
  path?: 'auto' | 'subgroup' | 'workgroup';
}

export const ROUTER_MAX_EXPERTS = 256;
export const ROUTER_MAX_K = 8;

/** Invocations per row for E experts: at most 8 experts each (the kernel's register arrays), 4..64. */
function routerWorkgroup(experts: number): number {
  let wg = 4;
  while (wg < 32 && wg * 2 < experts) wg *= 2;
  while (wg * ROUTER_MAX_K < experts) wg *= 2;
  return wg;
}

/** Workgroup for the backward row kernel (a power of two near E / 4). */
function backwardWorkgroup(experts: number): number {
  let wg = 4;
  while (wg < 256 && wg * 4 < experts) wg *= 2;
  return wg;
}

/**
 * Top-k routing over router logits (N, E) in one fused pass, as used by MoE layers: scores are
 * softmax (or sigmoid) of each row; the k experts with the largest logits (equivalently scores) are
 * selected, ties to the lower index; weights are their scores, optionally renormalised. The
 * statistics feed load-balancing losses: f_i = counts_i / (N k), P_i = scoreSums_i / N, and the
 * z-loss mean(lse^2). counts and scoreSums are reduced in a fixed order: identical on every run.
 */
export function topkRouter(logits: Tensor, k: number, options: RouterOptions = {}): RouterOutput {
  const op = 'topkRouter';
  logits.assertLive(op);
  if (!isFloat(logits.dtype)) throw new DTypeError(`${op}: logits must be floating point, got ${logits.dtype} of shape ${fmtShape(logits.shape)}`);
  if (logits.ndim !== 2) throw new ShapeError(`${op}: logits must have shape (N, E), got rank ${logits.ndim} shape ${fmtShape(logits.shape)}`);
  const [n, experts] = logits.shape;
  if (experts < 1 || experts > ROUTER_MAX_EXPERTS) {
    throw new ShapeError(`${op}: E = ${experts} experts (logits ${fmtShape(logits.shape)}) is outside [1, ${ROUTER_MAX_EXPERTS}]`);
  }
  if (!Number.isInteger(k) || k < 1 || k > ROUTER_MAX_K || k > experts) {
    throw new RangeArgumentError(`${op}: k = ${k} must be an integer in [1, min(${ROUTER_MAX_K}, E = ${experts})] (logits ${fmtShape(logits.shape)})`);
  }
  const scoring = options.scoring ?? 'softmax';
  if (scoring !== 'softmax' && scoring !== 'sigmoid') throw new RangeArgumentError(`${op}: scoring must be 'softmax' or 'sigmoid', got ${String(scoring)}`);
  const renorm = options.renormalize ?? false;
  const path = options.path ?? 'auto';
  const engine = logits.engine;
  if (path !== 'auto' && path !== 'subgroup' && path !== 'workgroup') throw new RangeArgumentError(`${op}: path must be 'auto', 'subgroup' or 'workgroup', got ${String(path)}`);
  if (path === 'subgroup' && !engine.caps.subgroups) {
    throw new KilnError(`${op}: path 'subgroup' asked for, but this device has no 'subgroups' feature (logits ${fmtShape(logits.shape)})`);
  }
  const useSubgroups = path === 'subgroup' || (path === 'auto' && engine.caps.subgroups);
  const sigmoid = scoring === 'sigmoid';

  const xc = engine.noGrad(() => logits.contiguous());
  const weights = empty(engine, [n, k], 'f32');
  const indices = empty(engine, [n, k], 'i32');
  const lse = empty(engine, [n], 'f32');
  const scoreSums = empty(engine, [experts], 'f32');
  const counts = empty(engine, [experts], 'i32');
  // Rows per workgroup: enough blocks to fill a GPU, few enough that the final pass stays short.
  const rowsPerBlock = Math.max(1, Math.ceil(n / 512));
  const blocks = Math.ceil(n / rowsPerBlock);
  const partSums = empty(engine, [Math.max(1, blocks), experts], 'f32');
  const partCounts = empty(engine, [Math.max(1, blocks), experts], 'i32');
  const wg = routerWorkgroup(experts);
  if (n > 0) {
    engine.run({
      shader: useSubgroups ? 'routerSubgroup' : 'router',
      types: { T: logits.dtype },
      constants: { WG: wg, EPT: Math.ceil(experts / wg), SIGMOID: sigmoid, RENORM: renorm },
      params: new Params().u32(n).u32(experts).u32(k).u32(xc.offset).u32(rowsPerBlock).f32(-Infinity).finish(),
      buffers: [xc.storage.buffer, weights.storage.buffer, indices.storage.buffer, lse.storage.buffer, partSums.storage.buffer, partCounts.storage.buffer],
      grid: [blocks],
    });
  }
  engine.run({
    shader: 'routerReduce',
    params: new Params().u32(experts).u32(blocks).finish(),
    buffers: [partSums.storage.buffer, partCounts.storage.buffer, scoreSums.storage.buffer, counts.storage.buffer],
    grid: grid1d(engine, experts),
  });
  partSums.dispose();
  partCounts.dispose();

  // dL/dlogits for one output, from its gradient g; a node without a rule (no second derivative).
  const backward = (mode: 0 | 1 | 2, g: Tensor, xs: Tensor, ls: Tensor, ix: Tensor): Tensor => {
    const gc = g.dtype === 'f32' ? g.contiguous() : g.to('f32');
    const dx = empty(engine, [n, experts], xs.dtype);
    if (n > 0) {
      engine.run({
        shader: 'routerBackward',
        types: { T: xs.dtype },
        constants: { WG: backwardWorkgroup(experts), MODE: mode, SIGMOID: sigmoid, RENORM: renorm },
        params: new Params().u32(n).u32(experts).u32(k).u32(xs.offset).u32(gc.offset).u32(CHECK_CODES['topkRouter backward']).finish(),
        buffers: [xs.storage.buffer, ls.storage.buffer, ix.storage.buffer, gc.storage.buffer, dx.storage.buffer, engine.errorBuffer],
        grid: gridRows(engine, n),
      });
    }
    gc.dispose();
    return record(engine, `${op}Backward`, [g, xs], dx, [], null);
  };
  // lse is saved by the other two before it gets its own node, so they hold no edge to it.
  const w = record(engine, `${op}.weights`, [logits], weights, [xc, lse, indices], (g, [xs, ls, ix]) => [backward(0, g, xs, ls, ix)]);
  const s = record(engine, `${op}.scoreSums`, [logits], scoreSums, [xc, lse, indices], (g, [xs, ls, ix]) => [backward(1, g, xs, ls, ix)]);
  const l = record(engine, `${op}.lse`, [logits], lse, [xc, lse, indices], (g, [xs, ls, ix]) => [backward(2, g, xs, ls, ix)]);
  xc.dispose();
  return { weights: w, indices, counts, scoreSums: s, lse: l };
}
