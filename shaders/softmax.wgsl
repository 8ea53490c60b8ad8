// Softmax (or log-softmax when LOG) over the rows of a contiguous [rows, cols] block; the op moves the
// softmax dim last first. One workgroup per row: each invocation keeps an online (max, sum of
// exp(x - max)) over its strided share of the row, a tree in workgroup memory merges the pairs, and a
// second pass writes the row. Subtracting the row max keeps exp in range for any finite input.
// Variant vec4 (the sections at the end, engine/shaders.ts specialise), for rows that start on a
// multiple of 4 elements (cols % 4 == 0, offset % 4 == 0): vec4 loads and stores, four online pairs
// per invocation folded into one before the tree. On lavapipe a vec4 load is one 16-byte load per lane
// where four scalar loads are four gathers: ~2x the scalar kernel.
alias T = f32;

struct Params {
  rows: u32,
  cols: u32,
  offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// @block bindings
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
// @end block

// A power of two (the tree halves it).
override WG: u32 = 64;
override LOG: bool = false;

// The lowest finite f32: a start value for the max that keeps exp(m - v) free of inf - inf.
const LOWEST: f32 = -3.4028234e38;

// (max m, sum of exp(x - m)) pairs.
alias R = vec2<f32>;

fn merge(a: R, b: R) -> R {
  let mm = max(a.x, b.x);
  return vec2<f32>(mm, a.y * exp(a.x - mm) + b.y * exp(b.x - mm));
}

// @shared tree: the engine splices in tree() and its scratch (SHARED in engine/shaders.ts); this
// stand-in keeps the file valid WGSL on its own.
fn tree(t: u32, v: R) -> R { return v; }
// @end shared

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  let live = row < p.rows;
  let t = lid.x;
  // @block scan: this invocation's (max m, sum s of exp(x - m)) over its share of the row
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
  // @end block
  let r = tree(t, vec2<f32>(m, s));
  let rm = r.x;
  let rs = r.y;
  if (live) {
    let lse = rm + log(rs);
    let inv = 1.0 / rs;
    // @block write
    let ob = row * p.cols;
    for (var j = t; j < p.cols; j += WG) {
      let v = f32(x[base + j]);
      if (LOG) { y[ob + j] = T(v - lse); } else { y[ob + j] = T(exp(v - rm) * inv); }
    }
    // @end block
  }
}

// @variant vec4 bindings
// @group(0) @binding(1) var<storage, read> x: array<vec4<T>>;
// @group(0) @binding(2) var<storage, read_write> y: array<vec4<T>>;
// @end variant

// @variant vec4 scan
//   let n4 = p.cols / 4u;
//   let base = p.offset / 4u + row * n4;
//   var m4 = vec4<f32>(LOWEST);
//   var s4 = vec4<f32>(0.0);
//   if (live) {
//     for (var j = t; j < n4; j += WG) {
//       // Branch-free online update, per component: -inf inputs add exp(-inf) = 0.
//       let v = vec4<f32>(x[base + j]);
//       let mn = max(m4, v);
//       s4 = s4 * exp(m4 - mn) + exp(v - mn);
//       m4 = mn;
//     }
//   }
//   let m = max(max(m4.x, m4.y), max(m4.z, m4.w));
//   let s = dot(s4, exp(m4 - m));
// @end variant

// @variant vec4 write
//     let ob = row * n4;
//     for (var j = t; j < n4; j += WG) {
//       let v = vec4<f32>(x[base + j]);
//       if (LOG) { y[ob + j] = vec4<T>(v - lse); } else { y[ob + j] = vec4<T>(exp(v - rm) * inv); }
//     }
// @end variant
