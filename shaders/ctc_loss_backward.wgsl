// CTC loss backward, one workgroup per batch element b, from the forward's saved alpha and log p.
// beta excludes the emission at t:
//   beta_{T_b-1}(S'-1) = beta_{T_b-1}(S'-2) = 0 (others NEG)
//   beta_t(s) = LSE over s' in {s, s+1, s+2 if l'_{s+2} != blank and l'_{s+2} != l'_s} of a_{t+1}(l'_{s'}) + beta_{t+1}(s')
// The gradient with respect to the log-probs themselves (not the pre-softmax logits):
//   d loss_b / d a_t(k) = -Σ_{s: l'_s = k} exp(alpha_t(s) + beta_t(s) - log p)      (t < T_b; 0 after)
// scaled by the output gradient g[b]. Composed with logSoftmax this gives softmax - γ on the logits.
// An infeasible element (log p = NEG) gets 0 with zero_infinity, else NaN, as does a bad label.
alias T = f32;

struct Params {
  frames: u32,
  batch: u32,
  classes: u32,
  max_target: u32,
  lp_offset: u32,
  tg_offset: u32,
  blank: u32,
  zero_infinity: u32,
  g_offset: u32,
  nan: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lp: array<T>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read> input_lengths: array<i32>;
@group(0) @binding(4) var<storage, read> target_lengths: array<i32>;
@group(0) @binding(5) var<storage, read> alpha: array<f32>;
@group(0) @binding(6) var<storage, read> logp: array<f32>;
@group(0) @binding(7) var<storage, read> g: array<T>;
@group(0) @binding(8) var<storage, read_write> beta: array<f32>;
@group(0) @binding(9) var<storage, read_write> grad: array<T>;

override WG: u32 = 64;

// @shared ctc: the engine splices in NEG, lse2, label, safe and emit (SHARED in engine/shaders.ts),
// one copy for the forward and backward kernels; these stand-ins keep the file valid WGSL on its own.
const NEG: f32 = -1e30;
fn lse2(a: f32, b: f32) -> f32 { return max(a, b); }
fn label(b: u32, s: u32) -> i32 { return i32(p.blank); }
fn safe(k: i32) -> u32 { return u32(k); }
fn emit(t: u32, b: u32, k: i32) -> f32 { return f32(lp[0]); }
// @end shared

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = wid.y * nwg.x + wid.x;
  let live = b < p.batch;
  let bb = min(b, p.batch - 1u);
  let tb = u32(input_lengths[bb]);
  let u = u32(target_lengths[bb]);
  let sp = 2u * u + 1u;
  let spmax = 2u * p.max_target + 1u;
  let row = bb * p.frames;
  let lq = logp[bb];
  var bad = false;
  for (var i = 0u; i < u; i++) {
    let k = targets[p.tg_offset + bb * p.max_target + i];
    bad = bad || k < 0 || k >= i32(p.classes) || k == i32(p.blank);
  }
  let infeasible = lq <= NEG / 10.0;
  let gb = f32(g[p.g_offset + bb]);
  for (var tt = 0u; tt < p.frames; tt++) {
    let t = p.frames - 1u - tt;
    if (live && t < tb) {
      for (var s = lid.x; s < sp; s += WG) {
        var v = NEG;
        if (t == tb - 1u) {
          if (s + 2u >= sp) { v = 0.0; }
        } else {
          let next = (row + t + 1u) * spmax;
          let k = label(bb, s);
          v = emit(t + 1u, bb, k) + beta[next + s];
          if (s + 1u < sp) { v = lse2(v, emit(t + 1u, bb, label(bb, s + 1u)) + beta[next + s + 1u]); }
          if (s + 2u < sp) {
            let k2 = label(bb, s + 2u);
            if (k2 != i32(p.blank) && k2 != k) { v = lse2(v, emit(t + 1u, bb, k2) + beta[next + s + 2u]); }
          }
          v = max(v, NEG);
        }
        beta[(row + t) * spmax + s] = v;
      }
    }
    storageBarrier();
    if (live) {
      let here = (row + t) * spmax;
      for (var k = lid.x; k < p.classes; k += WG) {
        var d = 0.0;
        if (t < tb) {
          if (bad || (infeasible && p.zero_infinity == 0u)) {
            d = p.nan;
          } else if (!infeasible) {
            var acc = 0.0;
            for (var s = 0u; s < sp; s++) {
              if (safe(label(bb, s)) == k) { acc += exp(alpha[here + s] + beta[here + s] - lq); }
            }
            d = -acc * gb;
          }
        }
        grad[(t * p.batch + bb) * p.classes + k] = T(d);
      }
    }
  }
}
