// Gradient of softmax / log-softmax over the rows of contiguous [rows, cols] blocks y (the forward
// output) and g (the output gradient), written contiguous:
//   softmax:     dx = y * (g - sum(g * y))
//   log-softmax: dx = g - exp(y) * sum(g)
// One workgroup per row; the row sum is a tree in workgroup memory.
alias T = f32;

struct Params {
  rows: u32,
  cols: u32,
  y_offset: u32,
  g_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<T>;
@group(0) @binding(2) var<storage, read> g: array<T>;
@group(0) @binding(3) var<storage, read_write> dx: array<T>;

override WG: u32 = 64;
override LOG: bool = false;

// The tree adds the invocations' partial sums.
alias R = f32;
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
  let yb = p.y_offset + row * p.cols;
  let gb = p.g_offset + row * p.cols;
  var acc = 0.0;
  if (live) {
    for (var j = t; j < p.cols; j += WG) {
      let gv = f32(g[gb + j]);
      if (LOG) { acc += gv; } else { acc += gv * f32(y[yb + j]); }
    }
  }
  let dot = tree(t, acc);
  if (live) {
    let ob = row * p.cols;
    for (var j = t; j < p.cols; j += WG) {
      let yv = f32(y[yb + j]);
      let gv = f32(g[gb + j]);
      if (LOG) { dx[ob + j] = T(gv - exp(yv) * dot); } else { dx[ob + j] = T(yv * (gv - dot)); }
    }
  }
}
