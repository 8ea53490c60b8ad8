// norm.wgsl with vec4 loads and stores, for rows, weight and bias that start on a multiple of 4
// elements (cols % 4 == 0 and every offset % 4 == 0): on lavapipe a vec4 load is one 16-byte load per
// lane where four scalar loads are four gathers. Same algorithm:
// Layer norm (or RMS norm when RMS) over the rows of a contiguous [rows, cols] block, where cols is
// the product of the normalised trailing dims:
//   layer: y = (x - mean) * rstd * w + b,  rstd = 1 / sqrt(mean((x - mean)^2) + eps)
//   rms:   y = x * rstd * w,               rstd = 1 / sqrt(mean(x^2) + eps)
// and stats[2 row] = mean (0 for RMS), stats[2 row + 1] = rstd, in f32, for the backward kernel.
// One workgroup per row; the variance is a second pass over (x - mean), which stays accurate when
// |mean| >> std (E[x^2] - mean^2 would cancel). Without a weight or bias the op binds x in their
// place (read-only aliasing is allowed) and the HAS_* constants ignore it.
alias T = f32;

struct Params {
  rows: u32,
  cols: u32,
  x_offset: u32,
  w_offset: u32,
  b_offset: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<T>>;
@group(0) @binding(3) var<storage, read> b: array<vec4<T>>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4<T>>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;

// A power of two (the tree halves it).
override WG: u32 = 16;
override RMS: bool = false;
override HAS_WEIGHT: bool = true;
override HAS_BIAS: bool = true;

var<workgroup> red: array<f32, WG>;

// Sum of one value per invocation; called from uniform control flow by the whole workgroup.
fn tree_sum(t: u32, v: f32) -> f32 {
  red[t] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) { red[t] = red[t] + red[t + k]; }
    workgroupBarrier();
  }
  let r = red[0];
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
  let n4 = p.cols / 4u;
  let base = p.x_offset / 4u + row * n4;
  let n = f32(p.cols);
  var mean = 0.0;
  if (!RMS) {
    var s = vec4<f32>(0.0);
    if (live) {
      for (var j = t; j < n4; j += WG) { s += vec4<f32>(x[base + j]); }
    }
    mean = tree_sum(t, (s.x + s.y) + (s.z + s.w)) / n;
  }
  var ss = vec4<f32>(0.0);
  if (live) {
    for (var j = t; j < n4; j += WG) {
      let d = vec4<f32>(x[base + j]) - mean;
      ss += d * d;
    }
  }
  let rstd = inverseSqrt(tree_sum(t, (ss.x + ss.y) + (ss.z + ss.w)) / n + p.eps);
  if (live) {
    let ob = row * n4;
    for (var j = t; j < n4; j += WG) {
      var v = (vec4<f32>(x[base + j]) - mean) * rstd;
      if (HAS_WEIGHT) { v *= vec4<f32>(w[p.w_offset / 4u + j]); }
      if (HAS_BIAS) { v += vec4<f32>(b[p.b_offset / 4u + j]); }
      y[ob + j] = vec4<T>(v);
    }
    if (t == 0u) {
      stats[2u * row] = mean;
      stats[2u * row + 1u] = rstd;
    }
  }
}
