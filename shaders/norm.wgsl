// Layer norm (or RMS norm when RMS) over the rows of a contiguous [rows, cols] block, where cols is
// the product of the normalised trailing dims:
//   layer: y = (x - mean) * rstd * w + b,  rstd = 1 / sqrt(mean((x - mean)^2) + eps)
//   rms:   y = x * rstd * w,               rstd = 1 / sqrt(mean(x^2) + eps)
// and stats[2 row] = mean (0 for RMS), stats[2 row + 1] = rstd, in f32, for the backward kernel.
// One workgroup per row; the variance is a second pass over (x - mean), which stays accurate when
// |mean| >> std (E[x^2] - mean^2 would cancel). Without a weight or bias the op binds x in their
// place (read-only aliasing is allowed) and the HAS_* constants ignore it.
// Variant vec4 (engine/shaders.ts specialise), for rows, weight and bias that start on a multiple of
// 4 elements (cols % 4 == 0 and every offset % 4 == 0): every load and store is a vec4, one 16-byte
// load per lane on lavapipe where four scalar loads are four gathers.
alias T = f32;

// @block lanes: what one load holds
alias V = f32;
alias VT = T;
// Elements to loads.
fn lanes(n: u32) -> u32 { return n; }
// A partial sum's lanes added.
fn fold(v: V) -> f32 { return v; }
// @end block

struct Params {
  rows: u32,
  cols: u32,
  x_offset: u32,
  w_offset: u32,
  b_offset: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<VT>;
@group(0) @binding(2) var<storage, read> w: array<VT>;
@group(0) @binding(3) var<storage, read> b: array<VT>;
@group(0) @binding(4) var<storage, read_write> y: array<VT>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;

// A power of two (the tree halves it).
override WG: u32 = 64;
override RMS: bool = false;
override HAS_WEIGHT: bool = true;
override HAS_BIAS: bool = true;

// The tree adds the invocations' partial sums.
alias R = f32;
fn merge(a: R, b: R) -> R { return a + b; }

// @shared tree: the engine splices in tree() and its scratch (SHARED in engine/shaders.ts); this
// stand-in keeps the file valid WGSL on its own.
fn tree(t: u32, v: R) -> R { return v; }
// @end shared

// Sum of one value per invocation; called from uniform control flow by the whole workgroup.
fn tree_sum(t: u32, v: f32) -> f32 {
  let r = tree(t, v);
  // Everyone has read red[0] before the next call overwrites it.
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  let live = row < p.rows;
  let t = lid.x;
  let len = lanes(p.cols);
  let base = lanes(p.x_offset) + row * len;
  let n = f32(p.cols);
  var mean = 0.0;
  if (!RMS) {
    var s = V(0.0);
    if (live) {
      for (var j = t; j < len; j += WG) { s += V(x[base + j]); }
    }
    mean = tree_sum(t, fold(s)) / n;
  }
  var ss = V(0.0);
  if (live) {
    for (var j = t; j < len; j += WG) {
      let d = V(x[base + j]) - mean;
      ss += d * d;
    }
  }
  let rstd = inverseSqrt(tree_sum(t, fold(ss)) / n + p.eps);
  if (live) {
    let ob = row * len;
    for (var j = t; j < len; j += WG) {
      var v = (V(x[base + j]) - mean) * rstd;
      if (HAS_WEIGHT) { v *= V(w[lanes(p.w_offset) + j]); }
      if (HAS_BIAS) { v += V(b[lanes(p.b_offset) + j]); }
      y[ob + j] = VT(v);
    }
    if (t == 0u) {
      stats[2u * row] = mean;
      stats[2u * row + 1u] = rstd;
    }
  }
}

// @variant vec4 lanes
// alias V = vec4<f32>;
// alias VT = vec4<T>;
// fn lanes(n: u32) -> u32 { return n / 4u; }
// fn fold(v: V) -> f32 { return (v.x + v.y) + (v.z + v.w); }
// @end variant
