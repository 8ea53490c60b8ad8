// Gradient of softmax cross-entropy with respect to the logits, one invocation per element, from the
// saved per-row logsumexp:
//   dx[r, c] = (exp(x[r, c] - lse[r]) - (1 - eps) [c == t[r]] - eps / cols) * gs[r * g_stride]
// gs is the output gradient already divided by the count of valid rows for a mean (g_stride 0 then).
// Ignored rows get 0; rows with an out-of-range target get NaN, as their loss did, and are recorded
// in the engine's error word (engine/device-checks.ts) as op p.op.
alias T = f32;
alias I = i32;

struct Params {
  rows: u32,
  cols: u32,
  x_offset: u32,
  t_offset: u32,
  g_offset: u32,
  g_stride: u32,
  ignore_index: i32,
  smoothing: f32,
  nan: f32,
  op: u32, // code reported for a bad target (crossEntropy backward)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> tgt: array<I>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read> gs: array<T>;
@group(0) @binding(5) var<storage, read_write> dx: array<T>;
@group(0) @binding(6) var<storage, read_write> err: array<atomic<u32>>; // the engine's error word

override WG: u32 = 64;

// @shared report: the engine splices in the error word's report() (SHARED in engine/shaders.ts);
// this stand-in keeps the file valid WGSL on its own.
fn report(v: I, size: u32) {
}
// @end shared

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * WG + gid.x;
  if (i >= p.rows * p.cols) { return; }
  let row = i / p.cols;
  let c = i - row * p.cols;
  let raw = tgt[p.t_offset + row];
  let tg = i32(raw);
  var d = 0.0;
  if (tg == p.ignore_index) {
    d = 0.0;
  } else if (tg < 0 || tg >= i32(p.cols)) {
    if (c == 0u) { report(raw, p.cols); }
    d = p.nan;
  } else {
    let sm = exp(f32(x[p.x_offset + i]) - lse[row]);
    let hot = select(0.0, 1.0 - p.smoothing, u32(tg) == c);
    d = (sm - hot - p.smoothing / f32(p.cols)) * f32(gs[p.g_offset + row * p.g_stride]);
  }
  dx[i] = T(d);
}
