// Float64 references for indexing and joining ops: gather, indexSelect, scatterAdd, embedding,
// oneHot, topk, cumsum, cat, stack, narrow (split), pad. Index inputs arrive as Refs of integers.
import { lanes, ravel, Ref, stridesOf, unravel } from './core.js';

const norm = (dim: number, rank: number) => (dim < 0 ? dim + rank : dim);
const flatAt = (c: number[], shape: readonly number[]) => ravel(c, shape);

/** torch.gather. */
export function gather(x: Ref, dim: number, index: Ref): Ref {
  const d = norm(dim, x.shape.length);
  const out = Ref.zeros(index.shape);
  for (let i = 0; i < out.size; i++) {
    const c = unravel(i, index.shape);
    c[d] = index.data[i];
    out.data[i] = x.data[flatAt(c, x.shape)];
  }
  return out;
}

/** torch.index_select with a 1-D index. */
export function indexSelect(x: Ref, dim: number, index: Ref): Ref {
  const d = norm(dim, x.shape.length);
  const shape = x.shape.map((s, k) => (k === d ? index.size : s));
  const out = Ref.zeros(shape);
  for (let i = 0; i < out.size; i++) {
    const c = unravel(i, shape);
    c[d] = index.data[c[d]];
    out.data[i] = x.data[flatAt(c, x.shape)];
  }
  return out;
}

/** torch.scatter_add (out of place), adding in index order. */
export function scatterAdd(x: Ref, dim: number, index: Ref, src: Ref): Ref {
  const d = norm(dim, x.shape.length);
  const out = new Ref([...x.shape], x.data.slice());
  for (let i = 0; i < index.size; i++) {
    const c = unravel(i, index.shape);
    const v = src.data[flatAt(c, src.shape)];
    c[d] = index.data[i];
    out.data[flatAt(c, x.shape)] += v;
  }
  return out;
}

/** F.embedding: (...indices, D). */
export function embedding(indices: Ref, weight: Ref): Ref {
  const width = weight.shape[1];
  const out = Ref.zeros([...indices.shape, width]);
  for (let i = 0; i < indices.size; i++) {
    for (let j = 0; j < width; j++) out.data[i * width + j] = weight.data[indices.data[i] * width + j];
  }
  return out;
}

export function oneHot(indices: Ref, numClasses: number): Ref {
  const out = Ref.zeros([...indices.shape, numClasses]);
  for (let i = 0; i < indices.size; i++) {
    const v = indices.data[i];
    if (v >= 0 && v < numClasses) out.data[i * numClasses + v] = 1;
  }
  return out;
}

/** torch.topk, sorted, ties to the lower index. */
export function topk(x: Ref, k: number, dim = -1, largest = true): { values: Ref; indices: Ref } {
  const d = norm(dim, x.shape.length);
  const shape = x.shape.map((s, i) => (i === d ? k : s));
  const values = Ref.zeros(shape);
  const indices = Ref.zeros(shape);
  const st = stridesOf(x.shape);
  const ost = stridesOf(shape);
  for (let i = 0; i < x.size; i++) {
    const c = unravel(i, x.shape);
    if (c[d] !== 0) continue;
    const lane = Array.from({ length: x.shape[d] }, (_, j) => ({ v: x.data[i + j * st[d]], j }));
    lane.sort((a, b) => (a.v === b.v ? a.j - b.j : largest ? b.v - a.v : a.v - b.v));
    const o = flatAt(c, shape);
    for (let t = 0; t < k; t++) {
      values.data[o + t * ost[d]] = lane[t].v;
      indices.data[o + t * ost[d]] = lane[t].j;
    }
  }
  return { values, indices };
}

export function cumsum(x: Ref, dim: number): Ref {
  return lanes(x, dim, (lane) => {
    let s = 0;
    return lane.map((v) => (s += v));
  });
}

/** torch.cat. */
export function cat(xs: Ref[], dim: number): Ref {
  const d = norm(dim, xs[0].shape.length);
  const shape = [...xs[0].shape];
  shape[d] = xs.reduce((a, x) => a + x.shape[d], 0);
  const out = Ref.zeros(shape);
  let off = 0;
  for (const x of xs) {
    for (let i = 0; i < x.size; i++) {
      const c = unravel(i, x.shape);
      c[d] += off;
      out.data[flatAt(c, shape)] = x.data[i];
    }
    off += x.shape[d];
  }
  return out;
}

/** torch.stack: cat of the inputs each with a new dim of size 1 at `dim`. */
export function stack(xs: Ref[], dim: number): Ref {
  const d = norm(dim, xs[0].shape.length + 1);
  const grown = xs.map((x) => new Ref([...x.shape.slice(0, d), 1, ...x.shape.slice(d)], x.data));
  return cat(grown, d);
}

/** x.narrow(dim, start, length). */
export function narrow(x: Ref, dim: number, start: number, length: number): Ref {
  const d = norm(dim, x.shape.length);
  const shape = x.shape.map((s, k) => (k === d ? length : s));
  const out = Ref.zeros(shape);
  for (let i = 0; i < out.size; i++) {
    const c = unravel(i, shape);
    c[d] += start;
    out.data[i] = x.data[flatAt(c, x.shape)];
  }
  return out;
}

/** F.pad with constant `value`: (before, after) pairs from the last dim; negative pads crop. */
export function pad(x: Ref, pads: number[], value = 0): Ref {
  const r = x.shape.length;
  const before = x.shape.map(() => 0);
  const after = x.shape.map(() => 0);
  for (let i = 0; i < pads.length / 2; i++) {
    before[r - 1 - i] = pads[2 * i];
    after[r - 1 - i] = pads[2 * i + 1];
  }
  const shape = x.shape.map((s, k) => s + before[k] + after[k]);
  const out = Ref.zeros(shape);
  for (let i = 0; i < out.size; i++) {
    const c = unravel(i, shape).map((v, k) => v - before[k]);
    out.data[i] = c.every((v, k) => v >= 0 && v < x.shape[k]) ? x.data[flatAt(c, x.shape)] : value;
  }
  return out;
}
