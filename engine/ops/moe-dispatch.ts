// Expert dispatch for mixture-of-experts FFNs, entirely on the device and deterministic.
//
// Forward (6 dispatches, no host readback): a counting sort of the N·k (token, slot) pairs by
// expert — per-block histograms (moe_count), one scan to expert offsets plus a tile map
// (moe_scan), a stable scatter (moe_scatter) so rows inside an expert stay in (token, slot) order —
// then grouped GEMMs over the sorted rows (moe_gemm: up-projection gathering x rows by token, with
// the activation as its epilogue; down-projection), and the weighted combine as a gather over each
// token's k slots (moe_combine). The GEMM grid is an upper bound on tiles; each workgroup finds its
// expert in the tile map and idles past the last tile. Dropless: no capacity.
//
// Backward (one autograd node, 6 dispatches): gate-weight gradients as dot products with the saved
// expert outputs (moe_gate_grad), dH with the activation backward as epilogue (moe_gemm_bwd), dX rows
// as a grouped GEMM against W1ᵀ (+ W3ᵀ) summed over the k slots by the same gather, and per-expert
// weight gradients as grouped GEMMs reducing over each expert's sorted rows (moe_wgrad). Every sum
// has a fixed order and no kernel uses float atomics, so two runs give bit-identical results.
//
// An index outside [0, E - 1] is clamped (negative → 0), so memory always stays in bounds, and
// recorded in the engine's error word as expertFFN (engine/device-checks.ts): the next readback
// throws RangeArgumentError, with no host sync here. Repeated experts in one token's slots are
// allowed: each slot is its own row.
import { record } from '../autograd.js';
import { CHECK_CODES } from '../device-checks.js';
import type { Engine } from '../engine.js';
import { DTypeError, fmtShape, RangeArgumentError, ShapeError } from '../errors.js';
import { Params } from '../params.js';
import type { Tensor } from '../tensor.js';
import { zeros } from './creation.js';
import { EXPERT_ACT_CODE, EXPERT_ACTIVATIONS, type ExpertActivation } from './elementwise-table.js';
import { empty, grid1d, gridRows } from './util.js';

export type { ExpertActivation };

export interface ExpertFFNOptions {
  /** Hidden activation (default 'gelu', the exact erf form). 'swiglu' needs `w3`. */
  activation?: ExpertActivation;
  /** (E, D, F) gate projection for 'swiglu'. */
  w3?: Tensor;
}

/** Pairs per counting-sort block (the workgroup size of moe_scatter.wgsl). */
const BLOCK = 256;

interface Dims {
  N: number;
  D: number;
  k: number;
  E: number;
  F: number;
}

function check(x: Tensor, indices: Tensor, weights: Tensor, w1: Tensor, w2: Tensor, options: ExpertFFNOptions): Dims {
  const op = 'expertFFN';
  const w3 = options.w3;
  x.assertLive(op, indices, weights, w1, w2, w3);
  const act = options.activation ?? 'gelu';
  const shapes =
    `x ${fmtShape(x.shape)}, indices ${fmtShape(indices.shape)}, weights ${fmtShape(weights.shape)}, ` +
    `w1 ${fmtShape(w1.shape)}, w2 ${fmtShape(w2.shape)}${w3 ? `, w3 ${fmtShape(w3.shape)}` : ''}`;
  if (!(act in EXPERT_ACT_CODE)) throw new RangeArgumentError(`${op}: unknown activation '${act}' (${EXPERT_ACTIVATIONS.join(', ')})`);
  if (act === 'swiglu' && !w3) throw new ShapeError(`${op}: activation 'swiglu' needs options.w3 of shape (E, D, F) (${shapes})`);
  if (act !== 'swiglu' && w3) throw new ShapeError(`${op}: options.w3 is used only with activation 'swiglu', got '${act}' (${shapes})`);
  if (x.dtype !== 'f32' && x.dtype !== 'f16') throw new DTypeError(`${op}: x must be f32 or f16, got ${x.dtype} (${shapes})`);
  for (const [name, t] of [['weights', weights], ['w1', w1], ['w2', w2], ['w3', w3]] as const) {
    if (t && t.dtype !== x.dtype) throw new DTypeError(`${op}: ${name} has dtype ${t.dtype}, x has ${x.dtype} (${shapes})`);
  }
  if (indices.dtype !== 'i32' && indices.dtype !== 'u32') throw new DTypeError(`${op}: indices must be i32 or u32, got ${indices.dtype} (${shapes})`);
  if (x.ndim !== 2) throw new ShapeError(`${op}: x must be (N, D) (${shapes})`);
  const [N, D] = x.shape;
  if (indices.ndim !== 2 || indices.shape[0] !== N) throw new ShapeError(`${op}: indices must be (N, k) with N = ${N} (${shapes})`);
  const k = indices.shape[1];
  if (weights.ndim !== 2 || weights.shape[0] !== N || weights.shape[1] !== k) throw new ShapeError(`${op}: weights must be (N, k) = [${N}, ${k}] like indices (${shapes})`);
  if (w1.ndim !== 3 || w1.shape[1] !== D) throw new ShapeError(`${op}: w1 must be (E, D, F) with D = ${D} (${shapes})`);
  const [E, , F] = w1.shape;
  if (E < 1) throw new ShapeError(`${op}: at least one expert is needed (${shapes})`);
  if (w2.ndim !== 3 || w2.shape[0] !== E || w2.shape[1] !== F || w2.shape[2] !== D) throw new ShapeError(`${op}: w2 must be (E, F, D) = [${E}, ${F}, ${D}] (${shapes})`);
  if (w3 && (w3.ndim !== 3 || w3.shape[0] !== E || w3.shape[1] !== D || w3.shape[2] !== F)) throw new ShapeError(`${op}: w3 must be (E, D, F) = [${E}, ${D}, ${F}] like w1 (${shapes})`);
  const limit = x.engine.caps.limits.maxStorageBufferBindingSize;
  const P = N * k;
  if (P * Math.max(D, F) * 4 > limit) throw new ShapeError(`${op}: ${P} expert rows of width ${Math.max(D, F)} exceed the device's binding limit of ${limit} bytes (${shapes})`);
  return { N, D, k, E, F };
}

/** `t` itself when its rows are unit-stride, else a contiguous copy (no history). */
function rowMajor(t: Tensor): Tensor {
  if (t.shape[t.ndim - 1] <= 1 || t.strides[t.ndim - 1] === 1) return t;
  return t.engine.noGrad(() => t.contiguous());
}

function contig(t: Tensor): Tensor {
  return t.isContiguous() ? t : t.engine.noGrad(() => t.contiguous());
}

/** GEMM workgroup shape: thin row tiles when experts get few rows each (tile rows = 4 WGY). */
function gemmShape(P: number, E: number): { WGX: number; WGY: number } {
  const avg = P / E;
  const wgy = avg >= 24 ? 8 : avg >= 12 ? 4 : 2;
  return { WGX: 64 / wgy, WGY: wgy };
}

/** Upper bound on Σ_e ceil(count_e / tile): every non-empty expert wastes under one tile. */
function tileBound(P: number, E: number, tile: number): number {
  return Math.floor((P + Math.min(E, P) * (tile - 1)) / tile);
}

/**
 * The route buffer (u32): [0, E] expert offsets, [E+1, 2E+1] first tile of each expert,
 * [2E+2, 2E+2+P) pair id of each sorted row, then [.., +P) sorted row of each pair.
 */
interface Route {
  route: Tensor;
  sortedBase: number;
  posBase: number;
}

function buildRoute(engine: Engine, idx: Tensor, P: number, E: number, tileM: number): Route {
  const sortedBase = 2 * E + 2;
  const posBase = sortedBase + P;
  const route = empty(engine, [posBase + P], 'u32');
  const blocks = Math.ceil(P / BLOCK);
  const counts = empty(engine, [Math.max(1, blocks * E)], 'u32'); // (blocks, E)
  const types = { I: idx.dtype as 'i32' | 'u32' };
  engine.run({
    shader: 'moeCount',
    types,
    params: new Params().u32(P).u32(E).u32(blocks).u32(idx.offset).u32(CHECK_CODES.expertFFN).finish(),
    buffers: [idx.storage.buffer, counts.storage.buffer, engine.errorBuffer],
    grid: grid1d(engine, blocks * E, 64),
  });
  engine.run({
    shader: 'moeScan',
    params: new Params().u32(E).u32(blocks).u32(tileM).u32(0).finish(),
    buffers: [counts.storage.buffer, route.storage.buffer],
    grid: [1],
  });
  engine.run({
    shader: 'moeScatter',
    types,
    params: new Params().u32(P).u32(E).u32(sortedBase).u32(posBase).u32(idx.offset).finish(),
    buffers: [idx.storage.buffer, counts.storage.buffer, route.storage.buffer],
    grid: gridRows(engine, blocks),
  });
  counts.dispose();
  return { route, sortedBase, posBase };
}

/** (E, K, C) expert-weight view as the kernels read it: B[e, k, c] (transposed: B[e, c, k]). */
function bView(w: Tensor, transposed: boolean): [number, number, number, number] {
  const [se, s1, s2] = w.strides;
  return transposed ? [w.offset, se, s2, s1] : [w.offset, se, s1, s2];
}

interface GemmArgs {
  E: number;
  P: number;
  k: number;
  K: number;
  cols: number;
  shape: { WGX: number; WGY: number };
  a: Tensor;
  lda: number;
  gather: boolean;
  a2?: Tensor;
  b: Tensor;
  bT: boolean;
  b2?: Tensor;
  b2T?: boolean;
  shareA?: boolean;
  act: number;
  out: Tensor;
  pre?: Tensor;
  pre2?: Tensor;
  dummies: [Tensor, Tensor];
}

function runGemm(engine: Engine, r: Route, g: GemmArgs): void {
  const { WGX, WGY } = g.shape;
  const tilesN = Math.ceil(g.cols / (4 * WGX));
  const groups = tileBound(g.P, g.E, 4 * WGY) * tilesN;
  if (groups === 0) return;
  const two = !!g.b2;
  const [offB, bE, bK, bN] = bView(g.b, g.bT);
  const [offB2, b2E, b2K, b2N] = g.b2 ? bView(g.b2, !!g.b2T) : [0, 0, 0, 0];
  const a2 = g.a2 ?? g.a;
  engine.run({
    shader: 'moeGemm',
    types: { T: g.out.dtype },
    constants: { WGX, WGY, GATHER: g.gather, TWO: two, SHARE_A: !!g.shareA, ACT: g.act, SAVE: !!g.pre },
    params: new Params()
      .u32(g.E).u32(g.K).u32(g.cols).u32(g.k)
      .u32(g.lda).u32(g.a.offset).u32(a2.offset).u32(tilesN)
      .u32(offB).u32(bE).u32(bK).u32(bN)
      .u32(offB2).u32(b2E).u32(b2K).u32(b2N)
      .u32(r.sortedBase).u32(0).u32(0).u32(0)
      .finish(),
    buffers: [
      g.a.storage.buffer, a2.storage.buffer, g.b.storage.buffer, (g.b2 ?? g.b).storage.buffer, r.route.storage.buffer,
      g.out.storage.buffer, (g.pre ?? g.dummies[0]).storage.buffer, (g.pre2 ?? g.dummies[1]).storage.buffer,
    ],
    grid: grid1d(engine, groups, 1),
  });
}

function runCombine(engine: Engine, r: Route, src: Tensor, weights: Tensor | null, N: number, k: number, width: number, out: Tensor): void {
  if (N * width === 0) return;
  engine.run({
    shader: 'moeCombine',
    types: { T: out.dtype },
    constants: { UNIT: !weights },
    params: new Params().u32(N).u32(width).u32(k).u32(r.posBase).u32(weights?.offset ?? 0).u32(0).u32(0).u32(0).finish(),
    buffers: [src.storage.buffer, (weights ?? src).storage.buffer, r.route.storage.buffer, out.storage.buffer],
    grid: grid1d(engine, N * width),
  });
}

function runWgrad(
  engine: Engine, r: Route, E: number, k: number, rowsI: number, colsJ: number,
  a: Tensor, lda: number, aGather: boolean, b: Tensor, ldb: number, bGather: boolean, weights: Tensor,
  out: Tensor, b2: Tensor | null, out2: Tensor | null, dummy: Tensor,
): void {
  const tilesI = Math.ceil(rowsI / 32);
  const tilesJ = Math.ceil(colsJ / 32);
  const groups = E * tilesI * tilesJ;
  if (groups === 0) return;
  engine.run({
    shader: 'moeWgrad',
    types: { T: out.dtype },
    constants: { WGX: 8, WGY: 8, A_GATHER: aGather, B_GATHER: bGather, TWO: !!b2 },
    params: new Params()
      .u32(E).u32(rowsI).u32(colsJ).u32(k)
      .u32(lda).u32(a.offset).u32(ldb).u32(b.offset)
      .u32(b2 ? colsJ : 0).u32(b2?.offset ?? 0).u32(weights.offset).u32(r.sortedBase)
      .u32(tilesI).u32(tilesJ).u32(0).u32(0)
      .finish(),
    buffers: [
      a.storage.buffer, b.storage.buffer, (b2 ?? b).storage.buffer, weights.storage.buffer, r.route.storage.buffer,
      out.storage.buffer, (out2 ?? dummy).storage.buffer,
    ],
    grid: grid1d(engine, groups, 1),
  });
}

/**
 * y[n] = Σ_s weights[n, s] · FFN_{indices[n, s]}(x[n]); FFN_e(x) = act(x·W1[e])·W2[e], or for
 * 'swiglu' (silu(x·W1[e]) ∘ (x·W3[e]))·W2[e]. Shapes: x (N, D), indices (N, k) i32/u32,
 * weights (N, k), w1 (E, D, F), w2 (E, F, D), w3 (E, D, F) → (N, D). Dropless, no host readback,
 * bit-identical across runs; an out-of-range index is clamped to [0, E - 1] and makes the next
 * readback throw RangeArgumentError (expertFFN, the index, E). Differentiable in x,
 * weights, w1, w2, w3 (one autograd node; its backward is not itself differentiable).
 */
export function expertFFN(x: Tensor, indices: Tensor, weights: Tensor, w1: Tensor, w2: Tensor, options: ExpertFFNOptions = {}): Tensor {
  const { N, D, k, E, F } = check(x, indices, weights, w1, w2, options);
  const engine = x.engine;
  const act = options.activation ?? 'gelu';
  const glu = act === 'swiglu';
  const w3 = glu ? options.w3! : null;
  const dtype = x.dtype;
  const P = N * k;
  const need = { x: x.requiresGrad, weights: weights.requiresGrad, w1: w1.requiresGrad, w2: w2.requiresGrad, w3: !!w3?.requiresGrad };
  const grad = engine.gradEnabled && Object.values(need).some(Boolean);

  const xr = rowMajor(x);
  const idx = contig(indices);
  const wc = contig(weights);
  const shape = gemmShape(P, E);
  const r = buildRoute(engine, idx, P, E, 4 * shape.WGY);
  const dummies: [Tensor, Tensor] = [empty(engine, [1], dtype), empty(engine, [1], dtype)];
  const H = empty(engine, [P, F], dtype); // act(x·W1) rows, sorted order
  const A = grad ? empty(engine, [P, F], dtype) : null; // x·W1 rows (saved)
  const B = grad && glu ? empty(engine, [P, F], dtype) : null; // x·W3 rows (saved)
  runGemm(engine, r, {
    E, P, k, K: D, cols: F, shape, a: xr, lda: xr.strides[0], gather: true,
    b: w1, bT: false, b2: w3 ?? undefined, shareA: true, act: EXPERT_ACT_CODE[act],
    out: H, pre: A ?? undefined, pre2: B ?? undefined, dummies,
  });
  const O = empty(engine, [P, D], dtype); // FFN_e(x) rows, sorted order
  runGemm(engine, r, { E, P, k, K: F, cols: D, shape, a: H, lda: F, gather: false, b: w2, bT: false, act: 0, out: O, dummies });
  const y = empty(engine, [N, D], dtype);
  runCombine(engine, r, O, wc, N, k, D, y);

  const temps = [idx, wc, xr, r.route, H, A, B, O].filter((t): t is Tensor => !!t && t !== indices && t !== weights && t !== x);
  if (!grad) {
    for (const t of [...temps, ...dummies]) t.dispose();
    return y;
  }
  const saved = [xr, wc, w1, w2, w3 ?? w1, r.route, H, A!, B ?? A!, O];
  const out = record(engine, 'expertFFN', [x, null, weights, w1, w2, w3], y, saved, (gy, s) => {
    const [xs, ws, w1s, w2s, w3s, route, Hs, As, Bs, Os] = s;
    return expertBackward(engine, { N, D, k, E, F, P, glu, act: EXPERT_ACT_CODE[act], need, shape }, gy, xs, ws, w1s, w2s, glu ? w3s : null, { ...r, route }, Hs, As, glu ? Bs : null, Os);
  });
  for (const t of [...temps, ...dummies]) t.dispose();
  return out;
}

interface BackwardCtx extends Dims {
  P: number;
  glu: boolean;
  act: number;
  need: { x: boolean; weights: boolean; w1: boolean; w2: boolean; w3: boolean };
  shape: { WGX: number; WGY: number };
}

function expertBackward(
  engine: Engine, c: BackwardCtx, gy: Tensor, xr: Tensor, wc: Tensor, w1: Tensor, w2: Tensor, w3: Tensor | null,
  r: Route, H: Tensor, A: Tensor, B: Tensor | null, O: Tensor,
): (Tensor | null)[] {
  const { N, D, k, E, F, P, glu, need } = c;
  const dtype = gy.dtype;
  const g = rowMajor(gy);
  const dummies: [Tensor, Tensor] = [empty(engine, [1], dtype), empty(engine, [1], dtype)];
  const temps: Tensor[] = [...dummies];
  if (g !== gy) temps.push(g);

  let dWeights: Tensor | null = null;
  if (need.weights) {
    dWeights = empty(engine, [N, k], dtype);
    if (P > 0) {
      engine.run({
        shader: 'moeGateGrad',
        types: { T: dtype },
        params: new Params().u32(P).u32(D).u32(k).u32(r.posBase).u32(g.offset).u32(g.strides[0]).u32(0).u32(0).finish(),
        buffers: [g.storage.buffer, O.storage.buffer, r.route.storage.buffer, dWeights.storage.buffer],
        grid: grid1d(engine, P),
      });
    }
  }
  let dx: Tensor | null = null;
  let dW1: Tensor | null = null;
  let dW2: Tensor | null = null;
  let dW3: Tensor | null = null;
  if (need.x || need.w1 || need.w3) {
    // dA = (w · dY · W2ᵀ) ∘ act'(A); for swiglu also dB (the x·W3 branch).
    const dA = empty(engine, [P, F], dtype);
    const dB = glu ? empty(engine, [P, F], dtype) : null;
    temps.push(dA, ...(dB ? [dB] : []));
    const { WGX, WGY } = c.shape;
    const tilesN = Math.ceil(F / (4 * WGX));
    const groups = tileBound(P, E, 4 * WGY) * tilesN;
    const [offB, bE, bK, bN] = bView(w2, true);
    if (groups > 0) {
      engine.run({
        shader: 'moeGemmBwd',
        types: { T: dtype },
        constants: { WGX, WGY, ACT: c.act },
        params: new Params()
          .u32(E).u32(D).u32(F).u32(k)
          .u32(g.strides[0]).u32(g.offset).u32(tilesN).u32(wc.offset)
          .u32(offB).u32(bE).u32(bK).u32(bN)
          .u32(r.sortedBase).u32(0).u32(0).u32(0)
          .finish(),
        buffers: [
          g.storage.buffer, w2.storage.buffer, wc.storage.buffer, r.route.storage.buffer, A.storage.buffer,
          (B ?? A).storage.buffer, dA.storage.buffer, (dB ?? dummies[0]).storage.buffer,
        ],
        grid: grid1d(engine, groups, 1),
      });
    }
    if (need.x) {
      // dX rows = dA · W1ᵀ (+ dB · W3ᵀ), then summed over each token's slots by the combine gather.
      const rows = empty(engine, [P, D], dtype);
      temps.push(rows);
      runGemm(engine, r, {
        E, P, k, K: F, cols: D, shape: c.shape, a: dA, lda: F, gather: false,
        a2: dB ?? undefined, b: w1, bT: true, b2: w3 ?? undefined, b2T: true, act: 0, out: rows, dummies,
      });
      dx = empty(engine, [N, D], dtype);
      runCombine(engine, r, rows, null, N, k, D, dx);
    }
    if (need.w1 || need.w3) {
      dW1 = empty(engine, [E, D, F], dtype);
      dW3 = glu ? empty(engine, [E, D, F], dtype) : null;
      runWgrad(engine, r, E, k, D, F, xr, xr.strides[0], true, dA, F, false, wc, dW1, dB, dW3, dummies[0]);
      if (!need.w1) {
        temps.push(dW1);
        dW1 = null;
      }
      if (dW3 && !need.w3) {
        temps.push(dW3);
        dW3 = null;
      }
    }
  }
  if (need.w2) {
    // dW2[e] = Hᵀ · (w · dY) over the expert's rows.
    dW2 = empty(engine, [E, F, D], dtype);
    runWgrad(engine, r, E, k, F, D, H, F, false, g, g.strides[0], true, wc, dW2, null, null, dummies[0]);
  }
  for (const t of temps) t.dispose();
  return [dx, null, dWeights, dW1, dW2, dW3];
}

// ------------------------------------------------------------------ references (tests, benchmarks)

function applyAct(h: Tensor, act: ExpertActivation, gate: () => Tensor): Tensor {
  switch (act) {
    case 'gelu':
      return h.gelu();
    case 'relu':
      return h.relu();
    case 'silu':
      return h.silu();
    case 'swiglu':
      return h.silu().mul(gate());
  }
}

/**
 * Dense-masked reference: every expert on every token, weighted by the (N, E) gate matrix that holds
 * weights[n, s] at column indices[n, s] (summed for repeats; a bad index is clamped as in expertFFN
 * and reported by the scatterAdd that builds it) and zeros elsewhere. Built from differentiable
 * engine ops. `onHidden` sees the hidden activation (E, N, F) and may return a replacement (a hook
 * site); what it sees or returns is then the caller's to dispose (the original is disposed when it
 * is replaced).
 */
export function expertFFNDense(
  x: Tensor, indices: Tensor, weights: Tensor, w1: Tensor, w2: Tensor, options: ExpertFFNOptions = {}, onHidden?: (h: Tensor) => Tensor,
): Tensor {
  const { N, E } = check(x, indices, weights, w1, w2, options);
  const engine = x.engine;
  const act = options.activation ?? 'gelu';
  const h0 = engine.tidy(() => applyAct(x.matmul(w1), act, () => x.matmul(options.w3!))); // (E, N, F)
  const h = onHidden ? onHidden(h0) : h0;
  const y = engine.tidy(() => {
    const gate = zeros(engine, [N, E], { dtype: x.dtype }).scatterAdd(1, indices, weights); // (N, E)
    const o = h.matmul(w2); // (E, N, D)
    return o.mul(gate.mT.unsqueeze(-1)).sum(0); // (N, D)
  });
  if (h !== h0 || !onHidden) h0.dispose();
  return y;
}

/**
 * Per-expert loop reference: reads the indices back to the host, then for each expert with tokens
 * one gather of its rows, its FFN as matmuls, and a scatter-add of the weighted outputs into y.
 * Differentiable through the engine ops it uses.
 */
export async function expertFFNLoop(x: Tensor, indices: Tensor, weights: Tensor, w1: Tensor, w2: Tensor, options: ExpertFFNOptions = {}): Promise<Tensor> {
  const { N, D, k, E } = check(x, indices, weights, w1, w2, options);
  const engine = x.engine;
  const act = options.activation ?? 'gelu';
  const host = await indices.data();
  const tokens: number[][] = Array.from({ length: E }, () => []);
  const pairs: number[][] = Array.from({ length: E }, () => []);
  for (let j = 0; j < N * k; j++) {
    const e = Math.min(Math.max(Number(host[j]), 0), E - 1);
    tokens[e].push(Math.floor(j / k));
    pairs[e].push(j);
  }
  let y = zeros(engine, [N, D], { dtype: x.dtype });
  for (let e = 0; e < E; e++) {
    const m = tokens[e].length;
    if (m === 0) continue;
    const next = engine.tidy(() => {
      const tok = engine.tensor(Int32Array.from(tokens[e]), [m], { dtype: 'i32' });
      const pr = engine.tensor(Int32Array.from(pairs[e]), [m], { dtype: 'i32' });
      const xe = x.indexSelect(0, tok); // (m, D)
      const h = applyAct(xe.matmul(w1.select(0, e)), act, () => xe.matmul(options.w3!.select(0, e))); // (m, F)
      const we = weights.reshape([N * k]).indexSelect(0, pr).unsqueeze(1); // (m, 1)
      const o = h.matmul(w2.select(0, e)).mul(we); // (m, D)
      return y.scatterAdd(0, tok.unsqueeze(1).expand([m, D]), o);
    });
    y.dispose();
    y = next;
  }
  return y;
}
