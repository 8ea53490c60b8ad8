// Softmax (or log-softmax when LOG) over the rows of a contiguous [rows, cols] block; the op moves the
// softmax dim last first. One workgroup per row: each invocation keeps an online (max, sum of
// exp(x - max)) over its strided share of the row, a tree in workgroup memory merges the pairs, and a
// second pass writes the row. Subtracting the row max keeps exp in range for any finite input.
alias T = f32;

struct Params {
  rows: u32,
  cols: u32,
  offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

// A power of two (the tree halves it).
override WG: u32 = 64;
override LOG: bool = false;

// The lowest finite f32: a start value for the max that keeps exp(m - v) free of inf - inf.
const LOWEST: f32 = -3.4028234e38;

var<workgroup> wm: array<f32, WG>;
var<workgroup> ws: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  let live = row < p.rows;
  let t = lid.x;
  let base = p.offset + row * p.cols;
  var m = LOWEST;
  var s = 0.0;
  if (live) {
    for (var j = t; j < p.cols; j += WG) {
      let v = f32(x[base + j]);
      if (v > m) {
        s = s * exp(m - v) + 1.0;
        m = v;
      } else {
        s += exp(v - m);
      }
    }
  }
  wm[t] = m;
  ws[t] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) {
      let m1 = wm[t];
      let m2 = wm[t + k];
      let mm = max(m1, m2);
      ws[t] = ws[t] * exp(m1 - mm) + ws[t + k] * exp(m2 - mm);
      wm[t] = mm;
    }
    workgroupBarrier();
  }
  let rm = wm[0];
  let rs = ws[0];
  if (live) {
    let lse = rm + log(rs);
    let inv = 1.0 / rs;
    let ob = row * p.cols;
    for (var j = t; j < p.cols; j += WG) {
      let v = f32(x[base + j]);
      if (LOG) { y[ob + j] = T(v - lse); } else { y[ob + j] = T(exp(v - rm) * inv); }
    }
  }
}
