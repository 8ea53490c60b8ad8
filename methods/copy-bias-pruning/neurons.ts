// Copying neurons: the IG target, the copying score (spec Eq. 7 as the reviews describe it: per-example
// min–max normalisation over all FFN neurons, then the mean over the proxy set), top-k selection
// globally or within one layer, the random control with the same per-layer counts, and the prune itself
// (zeroing the selected units of `layers.l.mlp.act` at every position, through nn's zeroUnits hook).
import type { Engine, Tensor } from '../../engine/index.js';
import { zeroUnits, type SeededRng, type TransformerLM } from '../../nn/index.js';
import type { PruneScope } from './config.js';
import { NUM_LABELS, type Episode } from './tasks.js';

export interface Neuron {
  layer: number;
  unit: number;
}

/**
 * The copy preference per row, (rows): F = log Σ_{y ∈ demo labels} p(y) − log p(gold), which is
 * logsumexp of the demo labels' logits minus the gold logit (the softmax normaliser cancels).
 * labelLogits (rows, 10); row r belongs to episode r mod episodes.length (IG's repeated batch).
 */
export function copyPreference(engine: Engine, labelLogits: Tensor, episodes: readonly Episode[]): Tensor {
  const rows = labelLogits.shape[0];
  const add = new Float32Array(rows * NUM_LABELS).fill(-1e4); // "−∞" that stays finite in f32 arithmetic
  const gold = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const e = episodes[r % episodes.length];
    for (const d of e.demos) add[r * NUM_LABELS + d.y] = 0;
    gold[r] = e.answer;
  }
  const demoLse = labelLogits.add(engine.tensor(add, [rows, NUM_LABELS])).logsumexp(-1); // (rows)
  const goldLogit = labelLogits.gather(1, engine.tensor(gold, [rows, 1], { dtype: 'i32' })).squeeze(1); // (rows)
  return demoLse.sub(goldLogit);
}

/** Per example, (x − min) / (max − min) over all entries (all zeros for a constant row); then the mean over examples. */
export function copyingScores(attributions: readonly ArrayLike<number>[]): Float64Array {
  if (!attributions.length) throw new RangeError('copyingScores: no examples');
  const n = attributions[0].length;
  const score = new Float64Array(n);
  for (const a of attributions) {
    if (a.length !== n) throw new RangeError(`copyingScores: examples have ${n} and ${a.length} neurons`);
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) (lo = Math.min(lo, a[i])), (hi = Math.max(hi, a[i]));
    const span = hi - lo;
    if (span > 0) for (let i = 0; i < n; i++) score[i] += (a[i] - lo) / span;
  }
  for (let i = 0; i < n; i++) score[i] /= attributions.length;
  return score;
}

/**
 * The k highest-scoring neurons (scores laid out layer-major, dFF per layer): across every layer
 * ('global') or within `layer` ('perLayer'). Ties go to the lower index.
 */
export function topNeurons(scores: ArrayLike<number>, dFF: number, k: number, scope: PruneScope, layer = 0): Neuron[] {
  const layers = scores.length / dFF;
  if (!Number.isInteger(layers)) throw new RangeError(`topNeurons: ${scores.length} scores are not a whole number of ${dFF}-unit layers`);
  const candidates = scope === 'global' ? Array.from({ length: scores.length }, (_, i) => i) : Array.from({ length: dFF }, (_, u) => layer * dFF + u);
  if (scope === 'perLayer' && !(layer >= 0 && layer < layers)) throw new RangeError(`topNeurons: layer ${layer} is outside 0..${layers - 1}`);
  if (k > candidates.length) throw new RangeError(`topNeurons: k ${k} exceeds the ${candidates.length} candidates`);
  candidates.sort((a, b) => scores[b] - scores[a] || a - b);
  return candidates.slice(0, k).map((i) => ({ layer: Math.floor(i / dFF), unit: i % dFF })).sort((a, b) => a.layer - b.layer || a.unit - b.unit);
}

/** Random neurons with the same count in each layer as `like` (the spec's control). */
export function randomNeuronsLike(rng: SeededRng, like: readonly Neuron[], dFF: number): Neuron[] {
  const perLayer = new Map<number, number>();
  for (const n of like) perLayer.set(n.layer, (perLayer.get(n.layer) ?? 0) + 1);
  const out: Neuron[] = [];
  for (const [layer, count] of [...perLayer].sort((a, b) => a[0] - b[0])) {
    const units = rng.shuffle(Array.from({ length: dFF }, (_, u) => u)).slice(0, count).sort((a, b) => a - b);
    for (const unit of units) out.push({ layer, unit });
  }
  return out;
}

/** Zero `neurons` at every position of every forward until the returned remover runs. */
export function prune(model: TransformerLM, neurons: readonly Neuron[]): () => void {
  const dFF = model.config.dFF;
  const removers = model.layers.items.map((_, l) => {
    const units = neurons.filter((n) => n.layer === l).map((n) => n.unit);
    return units.length ? zeroUnits(model, `layers.${l}.mlp.act`, dFF, units) : () => {};
  });
  return () => removers.forEach((r) => r());
}
