// Input gradient of layer norm / RMS norm (RMS) for contiguous [rows, cols] blocks, from the saved
// f32 stats (mean, rstd per row). With xh = (x - mean) * rstd and gy = g * w:
//   layer: dx = rstd * (gy - mean(gy) - xh * mean(gy * xh))
//   rms:   dx = rstd * (gy - xh * mean(gy * xh))
// When WRITE_GXH it also writes g * xh, which the op sums over rows for the weight gradient. Unused
// bindings get a stand-in buffer from the op (x for w, a one-element buffer for gxh).
alias T = f32;

struct Params {
  rows: u32,
  cols: u32,
  x_offset: u32,
  w_offset: u32,
  g_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> w: array<T>;
@group(0) @binding(3) var<storage, read> g: array<T>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<T>;
@group(0) @binding(6) var<storage, read_write> gxh: array<T>;

override WG: u32 = 64;
override RMS: bool = false;
override HAS_WEIGHT: bool = true;
override WRITE_GXH: bool = true;

// The tree adds the invocations' partial sums.
alias R = vec2<f32>;
fn merge(a: R, b: R) -> R { return a + b; }

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
  let xb = p.x_offset + row * p.cols;
  let gb = p.g_offset + row * p.cols;
  var mean = 0.0;
  var rstd = 0.0;
  if (live) {
    mean = stats[2u * row];
    rstd = stats[2u * row + 1u];
  }
  // (sum gy, sum gy * xh) in one tree.
  var acc = vec2<f32>(0.0, 0.0);
  if (live) {
    for (var j = t; j < p.cols; j += WG) {
      var gy = f32(g[gb + j]);
      if (HAS_WEIGHT) { gy *= f32(w[p.w_offset + j]); }
      let xh = (f32(x[xb + j]) - mean) * rstd;
      acc += vec2<f32>(gy, gy * xh);
    }
  }
  let n = f32(p.cols);
  let sums = tree(t, acc) / n;
  if (live) {
    let ob = row * p.cols;
    for (var j = t; j < p.cols; j += WG) {
      let gv = f32(g[gb + j]);
      var gy = gv;
      if (HAS_WEIGHT) { gy *= f32(w[p.w_offset + j]); }
      let xh = (f32(x[xb + j]) - mean) * rstd;
      var d = gy - xh * sums.y;
      if (!RMS) { d -= sums.x; }
      dx[ob + j] = T(rstd * d);
      if (WRITE_GXH) { gxh[ob + j] = T(gv * xh); }
    }
  }
}
