// out[i] = f(a[i]) for one unary op chosen by OP, reading a strided (possibly broadcast) view.
// Float math runs in f32 whatever the storage type; ints pass through f32 (exact below 2^24).
// The data is bound as vec4 and the math runs on vec4s (V), four elements per invocation.
alias T = f32; // input storage
alias O = f32; // output storage

struct Params {
  shape: array<vec4<u32>, 2>,
  strides: array<vec4<u32>, 2>,
  n: u32,
  offset: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<T>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<O>>;

override WG: u32 = 64;
override OP: u32 = 0;
// The input is contiguous and starts on a multiple of 4 elements: read whole vec4s.
override ALIGNED: bool = false;
// The view's rank, as a constant: the index loop unrolls with constant component indices.
override RANK: u32 = 8;

// Element i of the (strided, possibly broadcast) input view.
fn src_index(i: u32) -> u32 {
  var rem = i;
  var idx = p.offset;
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let k = u32(d);
    let s = p.shape[k / 4u][k % 4u];
    idx += (rem % s) * p.strides[k / 4u][k % 4u];
    rem = rem / s;
  }
  return idx;
}

fn load(idx: u32) -> T {
  return a[idx / 4u][idx % 4u];
}

alias V = vec4<f32>;

// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), odd-extended.
fn erf_(x: V) -> V {
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-x * x);
  return select(y, -y, x < V(0.0));
}

// log(1 + u) accurate for small u.
fn log1p_(u: V) -> V {
  let v = 1.0 + u;
  return select(log(v) * u / (v - 1.0), u, v == V(1.0));
}

// x^e for a uniform exponent e: exact for e = 0, 1, 2, and negative bases with an integer e.
fn pow_(x: V, e: f32) -> V {
  if (e == 2.0) { return x * x; }
  if (e == 1.0) { return x; }
  if (e == 0.0) { return V(1.0); }
  let ev = V(e);
  if (e == floor(e)) {
    let m = pow(abs(x), ev);
    let odd = (i32(e) & 1) == 1;
    return select(m, select(m, -m, odd), x < V(0.0));
  }
  return pow(x, ev);
}

fn sigmoid_(x: V) -> V {
  return 1.0 / (1.0 + exp(-x));
}

fn apply(x: V) -> V {
  switch OP {
    case 1u: { return -x; }
    case 2u: { return abs(x); }
    case 3u: { return exp(x); }
    case 4u: { return log(x); }
    case 5u: { return sqrt(x); }
    case 6u: { return inverseSqrt(x); }
    case 7u: { return sin(x); }
    case 8u: { return cos(x); }
    case 9u: { return tanh(clamp(x, V(-15.0), V(15.0))); }
    case 10u: { return sigmoid_(x); }
    case 11u: { return max(x, V(0.0)); }
    case 12u: { return 0.5 * x * (1.0 + erf_(x * 0.70710678118654752)); }
    case 13u: {
      let u = 0.79788456080286536 * (x + 0.044715 * x * x * x);
      return 0.5 * x * (1.0 + tanh(clamp(u, V(-15.0), V(15.0))));
    }
    case 14u: { return x * sigmoid_(x); }
    case 15u: {
      // softplus(beta = alpha, threshold = beta)
      let z = p.alpha * x;
      return select((max(z, V(0.0)) + log1p_(exp(-abs(z)))) / p.alpha, x, z > V(p.beta));
    }
    case 16u: { return clamp(x, V(p.alpha), V(p.beta)); }
    case 17u: { return p.alpha * x + p.beta; }
    case 18u: { return p.alpha / x; }
    case 19u: { return pow_(x, p.alpha); }
    case 20u: { return pow(V(p.alpha), x); }
    default: { return x; }
  }
}

// Four consecutive outputs per invocation, written as one vec4 (the output is a fresh contiguous
// tensor whose buffer holds whole vec4s; lanes past n compute on whatever is there and are never
// read). On lavapipe a vec4 load or store is one 16-byte access where four scalars are four gathers.
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = gid.y * nwg.x * WG + gid.x; // vec4 index
  let i = 4u * q;
  if (i >= p.n) { return; }
  var v: vec4<T>;
  if (ALIGNED) {
    v = a[p.offset / 4u + q];
  } else {
    // Lanes past n read element n - 1 again (in range). Four consecutive elements cross at most one
    // boundary of a last dim of 4 or more: two full index computations give all four.
    let last = p.n - 1u;
    let r = max(RANK, 1u) - 1u; // the last dim (rank 0: n is 1 and the plain path runs)
    let inner = p.shape[r / 4u][r % 4u];
    if (RANK > 0u && inner >= 4u) {
      let step = p.strides[r / 4u][r % 4u];
      let c = i % inner;
      let here = src_index(i); // element c of its row
      let next = src_index(min(i - c + inner, last)); // element 0 of the next row
      let e = vec4<u32>(c) + vec4<u32>(0u, 1u, 2u, 3u);
      let idx = select(vec4<u32>(here) + (e - c) * step, vec4<u32>(next) + (e - inner) * step, e >= vec4<u32>(inner));
      // Lanes past n read element i again.
      let k = select(idx, vec4<u32>(here), vec4<u32>(i) + vec4<u32>(0u, 1u, 2u, 3u) > vec4<u32>(last));
      v = vec4<T>(load(k.x), load(k.y), load(k.z), load(k.w));
    } else {
      v = vec4<T>(load(src_index(i)), load(src_index(min(i + 1u, last))), load(src_index(min(i + 2u, last))), load(src_index(min(i + 3u, last))));
    }
  }
  if (OP == 0u) {
    out[q] = vec4<O>(v); // cast / copy: no detour through f32
  } else {
    out[q] = vec4<O>(apply(V(v)));
  }
}
