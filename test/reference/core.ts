// Float64 CPU reference tensors: the ground truth every GPU op is compared with. Plain loops, no
// cleverness: correctness by inspection.

export class Ref {
  constructor(
    readonly shape: number[],
    readonly data: Float64Array,
  ) {
    if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`Ref: ${data.length} values for shape [${shape}]`);
  }
  get size(): number {
    return this.data.length;
  }
  static zeros(shape: number[]): Ref {
    return new Ref([...shape], new Float64Array(shape.reduce((a, b) => a * b, 1)));
  }
  static of(shape: number[], values: ArrayLike<number>): Ref {
    return new Ref([...shape], Float64Array.from(values));
  }
  static scalar(v: number): Ref {
    return new Ref([], Float64Array.of(v));
  }
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Multi-index of flat position i. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d] + idx[d];
  return i;
}

export function broadcastShape(...shapes: number[][]): number[] {
  const r = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(r).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = r - s.length + i;
      if (s[i] !== 1) {
        if (out[o] !== 1 && out[o] !== s[i]) throw new Error(`ref broadcast: [${shapes.join('] [')}]`);
        out[o] = s[i];
      }
    }
  }
  return out;
}

/** Value of `a` at output multi-index `idx` under broadcasting. */
function at(a: Ref, idx: number[]): number {
  const lead = idx.length - a.shape.length;
  let i = 0;
  for (let d = 0; d < a.shape.length; d++) i = i * a.shape[d] + (a.shape[d] === 1 ? 0 : idx[lead + d]);
  return a.data[i];
}

export function map(a: Ref, f: (x: number) => number): Ref {
  return new Ref([...a.shape], a.data.map(f));
}

export function zip(a: Ref, b: Ref, f: (x: number, y: number) => number): Ref {
  const shape = broadcastShape(a.shape, b.shape);
  const out = Ref.zeros(shape);
  for (let i = 0; i < out.size; i++) {
    const idx = unravel(i, shape);
    out.data[i] = f(at(a, idx), at(b, idx));
  }
  return out;
}

export function zip3(a: Ref, b: Ref, c: Ref, f: (x: number, y: number, z: number) => number): Ref {
  const shape = broadcastShape(a.shape, b.shape, c.shape);
  const out = Ref.zeros(shape);
  for (let i = 0; i < out.size; i++) {
    const idx = unravel(i, shape);
    out.data[i] = f(at(a, idx), at(b, idx), at(c, idx));
  }
  return out;
}

export function normAxes(axes: number | number[] | undefined, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((x, y) => x - y);
}

/** Reduce over `axes`: `f` receives the values of one output position in row-major order. */
export function reduce(a: Ref, axes: number | number[] | undefined, keepdim: boolean, f: (values: number[]) => number): Ref {
  const ax = normAxes(axes, a.shape.length);
  const kept = a.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const groups = new Map<number, number[]>();
  for (let i = 0; i < a.size; i++) {
    const idx = unravel(i, a.shape);
    const o = ravel(idx.map((v, d) => (ax.includes(d) ? 0 : v)), kept);
    let g = groups.get(o);
    if (!g) groups.set(o, (g = []));
    g.push(a.data[i]);
  }
  const out = Ref.zeros(kept);
  for (let o = 0; o < out.size; o++) out.data[o] = f(groups.get(o) ?? []);
  const shape = keepdim ? kept : a.shape.filter((_, i) => !ax.includes(i));
  return new Ref(shape, out.data);
}

export function permute(a: Ref, dims: number[]): Ref {
  const shape = dims.map((d) => a.shape[d]);
  const out = Ref.zeros(shape);
  const st = stridesOf(a.shape);
  for (let i = 0; i < out.size; i++) {
    const idx = unravel(i, shape);
    let j = 0;
    for (let k = 0; k < dims.length; k++) j += idx[k] * st[dims[k]];
    out.data[i] = a.data[j];
  }
  return out;
}

export function reshape(a: Ref, shape: number[]): Ref {
  return new Ref([...shape], a.data);
}

/** Apply `f` to every 1-D lane along `dim` (softmax, cumsum, …); `f` returns the new lane. */
export function lanes(a: Ref, dim: number, f: (lane: number[]) => number[]): Ref {
  const d = dim < 0 ? dim + a.shape.length : dim;
  const n = a.shape[d];
  const st = stridesOf(a.shape)[d];
  const out = Ref.zeros(a.shape);
  for (let i = 0; i < a.size; i++) {
    if (unravel(i, a.shape)[d] !== 0) continue;
    const lane = Array.from({ length: n }, (_, k) => a.data[i + k * st]);
    const r = f(lane);
    for (let k = 0; k < n; k++) out.data[i + k * st] = r[k];
  }
  return out;
}

// Exact special functions in float64 for references.
export function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse for a reference; use a series / continued fraction.
  const ax = Math.abs(x);
  let r: number;
  if (ax < 3) {
    // Maclaurin series: erf x = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 100; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // Continued fraction for erfc.
    let f = 0;
    for (let k = 60; k >= 1; k--) f = (k / 2) / (ax + f);
    r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  }
  return x < 0 ? -r : r;
}
