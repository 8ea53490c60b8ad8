// Softmax cross-entropy per row of contiguous logits [rows, cols] (classes last) with integer targets:
//   lse = logsumexp(x)
//   loss = (1 - eps) * (lse - x[t]) + eps * (lse - mean(x))     (PyTorch's label smoothing)
// Rows whose target equals ignore_index get loss 0 and valid 0 (the op divides a mean by the sum of
// valid). For a target outside [0, cols) (other than ignore_index) the kernel reads no memory, writes
// NaN (p.nan) as that row's loss, and records it in the engine's error word (engine/device-checks.ts)
// as op p.op, so the next readback throws RangeArgumentError.
// One workgroup per row: an online (max, sum of exp) and the mean of x merge in one tree. The mean is
// summed as x * (1 / cols), so it cannot overflow where the plain sum would ([1e38, 3e38, 0, 0]), and the
// smoothing term is left out when eps is 0: a -Inf logit (vocabulary masking) makes it +Inf, and
// 0 * Inf would turn a finite loss into NaN (PyTorch computes it only when label_smoothing > 0).
alias T = f32;
alias I = i32; // target storage (u32 allowed)

struct Params {
  rows: u32,
  cols: u32,
  x_offset: u32,
  t_offset: u32,
  ignore_index: i32,
  smoothing: f32,
  nan: f32,
  op: u32, // code reported for a bad target (crossEntropy)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> tgt: array<I>;
@group(0) @binding(3) var<storage, read_write> loss: array<T>;
@group(0) @binding(4) var<storage, read_write> valid: array<T>;
@group(0) @binding(5) var<storage, read_write> lse_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> err: array<atomic<u32>>; // the engine's error word

// A power of two (the tree halves it).
override WG: u32 = 64;

const LOWEST: f32 = -3.4028234e38;

// @shared report: the engine splices in the error word's report() (SHARED in engine/shaders.ts);
// this stand-in keeps the file valid WGSL on its own.
fn report(v: I, size: u32) {
}
// @end shared

// (max, sum of exp(x - max), sum of x / cols) per invocation.
alias R = vec3<f32>;

fn merge(a: R, b: R) -> R {
  let m = max(a.x, b.x);
  return vec3<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m), a.z + b.z);
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
  let base = p.x_offset + row * p.cols;
  let inv_cols = 1.0 / f32(p.cols);
  var acc = vec3<f32>(LOWEST, 0.0, 0.0);
  if (live) {
    for (var j = t; j < p.cols; j += WG) {
      let v = f32(x[base + j]);
      if (v > acc.x) {
        acc = vec3<f32>(v, acc.y * exp(acc.x - v) + 1.0, acc.z + v * inv_cols);
      } else {
        acc = vec3<f32>(acc.x, acc.y + exp(v - acc.x), acc.z + v * inv_cols);
      }
    }
  }
  let r = tree(t, acc);
  if (live && t == 0u) {
    let lse = r.x + log(r.y);
    lse_out[row] = lse;
    let raw = tgt[p.t_offset + row];
    let tg = i32(raw);
    if (tg == p.ignore_index) {
      loss[row] = T(0.0);
      valid[row] = T(0.0);
    } else if (tg < 0 || tg >= i32(p.cols)) {
      report(raw, p.cols);
      loss[row] = T(p.nan);
      valid[row] = T(1.0);
    } else {
      let nll = lse - f32(x[base + u32(tg)]);
      var l = nll;
      if (p.smoothing > 0.0) { l = (1.0 - p.smoothing) * nll + p.smoothing * (lse - r.z); }
      loss[row] = T(l);
      valid[row] = T(1.0);
    }
  }
}
