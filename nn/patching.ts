// Activation capture and patching at a hook site and per-row positions: the building blocks of task
// vectors (Hendel et al. 2023: read the residual stream at layer ℓ, last token, of one prompt and
// overwrite it in another), activation patching and causal tracing. Positions index axis 1 (the
// sequence axis of a (B, T, …) activation), one per row, so right-padded batches of prompts of
// different lengths work: each row names its own last token.
import { fmtShape, RangeArgumentError, ShapeError, type Tensor } from '../engine/index.js';
import type { Module } from './module.js';

function checkPositions(fn: string, x: Tensor, positions: readonly number[]): void {
  if (x.ndim < 2) throw new ShapeError(`${fn}: the activation must be (B, T, …), got ${fmtShape(x.shape)}`);
  if (positions.length !== x.shape[0]) throw new ShapeError(`${fn}: ${positions.length} positions for an activation of ${x.shape[0]} rows ${fmtShape(x.shape)}`);
  positions.forEach((p, b) => {
    if (!Number.isInteger(p) || p < 0 || p >= x.shape[1]) throw new RangeArgumentError(`${fn}: position ${p} of row ${b} is outside 0..${x.shape[1] - 1} (activation ${fmtShape(x.shape)})`);
  });
}

/** x (B, T, …rest), positions (B) -> (B, …rest): row b's entry at positions[b] (a gather; differentiable). */
export function selectPositions(x: Tensor, positions: readonly number[]): Tensor {
  checkPositions('selectPositions', x, positions);
  const rest = x.shape.slice(2);
  const inner = rest.reduce((a, d) => a * d, 1);
  const index = new Int32Array(positions.length * inner);
  positions.forEach((p, b) => index.fill(p, b * inner, (b + 1) * inner));
  const idx = x.engine.tensor(index, [positions.length, 1, ...rest], { dtype: 'i32' });
  const picked = x.gather(1, idx); // (B, 1, …rest)
  idx.dispose();
  const out = picked.squeeze(1);
  picked.dispose();
  return out;
}

/**
 * x (B, T, …rest) with row b's entry at positions[b] replaced by values[b] (values (B, …rest)); every
 * other entry is x's own value, bit for bit. Differentiable in both x and values.
 */
export function replacePositions(x: Tensor, positions: readonly number[], values: Tensor): Tensor {
  checkPositions('replacePositions', x, positions);
  const rest = x.shape.slice(2);
  if (values.ndim !== x.ndim - 1 || values.shape[0] !== x.shape[0] || rest.some((d, i) => values.shape[i + 1] !== d)) {
    throw new ShapeError(`replacePositions: values ${fmtShape(values.shape)} must be (B, …rest) = ${fmtShape([x.shape[0], ...rest])} for the activation ${fmtShape(x.shape)}`);
  }
  const [B, T] = x.shape;
  const hot = new Float32Array(B * T);
  positions.forEach((p, b) => (hot[b * T + p] = 1));
  const mask = x.engine.tensor(hot, [B, T, ...rest.map(() => 1)]); // (B, T, 1…)
  const v = values.unsqueeze(1); // (B, 1, …rest)
  const out = x.engine.where(mask, v, x);
  mask.dispose();
  v.dispose();
  return out;
}

/**
 * Run `fn` with a hook at `site` (e.g. `layers.1.resid`) that records the activation of the forward:
 * at `positions` (one per row, (B, …rest)) when given, else the whole activation (a copy). With several
 * forwards inside `fn`, the last one's. The captured tensor is the caller's (kept outside tidy scopes;
 * dispose it). Under grad mode it stays connected to the graph.
 */
export function captureActivation<R>(model: Module, site: string, fn: () => R, positions?: readonly number[]): { output: R; activation: Tensor } {
  let captured: Tensor | null = null;
  const remove = model.registerHook(site, (a) => {
    captured?.dispose();
    captured = model.engine.keep(positions ? selectPositions(a, positions) : a.clone());
  });
  let output: R;
  try {
    output = fn();
  } catch (e) {
    (captured as Tensor | null)?.dispose();
    throw e;
  } finally {
    remove();
  }
  if (!captured) throw new RangeArgumentError(`captureActivation: no forward pass reached the hook site ${site}`);
  return { output, activation: captured };
}

/**
 * Run `fn` with the activation at `site` replaced: at `positions` by `values` (B, …rest), or, with
 * positions null, entirely by `values` (the activation's shape). Every forward inside `fn` is patched.
 */
export function withPatchedActivation<R>(model: Module, site: string, values: Tensor, positions: readonly number[] | null, fn: () => R): R {
  let fired = false;
  const remove = model.registerHook(site, (a) => {
    fired = true;
    if (positions) return replacePositions(a, positions, values);
    if (values.shape.length !== a.shape.length || values.shape.some((d, i) => d !== a.shape[i])) {
      throw new ShapeError(`withPatchedActivation: values ${fmtShape(values.shape)} must match the activation ${fmtShape(a.shape)} at ${site}`);
    }
    return values;
  });
  try {
    const out = fn();
    if (!fired) throw new RangeArgumentError(`withPatchedActivation: no forward pass reached the hook site ${site}`);
    return out;
  } finally {
    remove();
  }
}

/**
 * Ablate units: from now on every forward multiplies the activation at `site` by a 0/1 mask on its last
 * axis (`size` units), zero at `units`, at every position. Returns the remover (it frees the mask).
 */
export function zeroUnits(model: Module, site: string, size: number, units: readonly number[]): () => void {
  const keep = new Float32Array(size).fill(1);
  for (const u of units) {
    if (!Number.isInteger(u) || u < 0 || u >= size) throw new RangeArgumentError(`zeroUnits: unit ${u} is outside 0..${size - 1} at ${site}`);
    keep[u] = 0;
  }
  const mask = model.engine.keep(model.engine.tensor(keep, [size]));
  const remove = model.registerHook(site, (a) => {
    if (a.shape[a.ndim - 1] !== size) throw new ShapeError(`zeroUnits: the activation at ${site} is ${fmtShape(a.shape)}, not ${size} units on its last axis`);
    return a.mul(mask);
  });
  return () => {
    remove();
    mask.dispose();
  };
}
