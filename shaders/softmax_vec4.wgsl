// Softmax (or log-softmax when LOG) over the rows of a contiguous [rows, cols] block whose rows start
// on a multiple of 4 elements (cols % 4 == 0, offset % 4 == 0): softmax.wgsl with vec4 loads and
// stores. One workgroup per row; each invocation keeps four online (max, sum of exp(x - max)) pairs
// over its strided vec4s of the row, folds them into one, a tree in workgroup memory merges the
// invocations' pairs, and a second pass writes the row. On lavapipe a vec4 load is one 16-byte load
// per lane where four scalar loads are four gathers: ~2x the scalar kernel.
alias T = f32;

struct Params {
  rows: u32,
  cols: u32,
  offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<T>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<T>>;

// A power of two (the tree halves it).
override WG: u32 = 16;
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
  let n4 = p.cols / 4u;
  let base = p.offset / 4u + row * n4;
  var m4 = vec4<f32>(LOWEST);
  var s4 = vec4<f32>(0.0);
  if (live) {
    for (var j = t; j < n4; j += WG) {
      // Branch-free online update, per component: -inf inputs add exp(-inf) = 0.
      let v = vec4<f32>(x[base + j]);
      let mn = max(m4, v);
      s4 = s4 * exp(m4 - mn) + exp(v - mn);
      m4 = mn;
    }
  }
  let m = max(max(m4.x, m4.y), max(m4.z, m4.w));
  wm[t] = m;
  ws[t] = dot(s4, exp(m4 - m));
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
    let ob = row * n4;
    for (var j = t; j < n4; j += WG) {
      let v = vec4<f32>(x[base + j]);
      if (LOG) { y[ob + j] = vec4<T>(v - lse); } else { y[ob + j] = vec4<T>(exp(v - rm) * inv); }
    }
  }
}
