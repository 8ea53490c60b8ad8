// CTC loss forward (Graves et al. 2006) in log space, one workgroup per batch element b.
// Extended labels l' = (blank, y1, blank, y2, …, yU, blank), S' = 2U + 1; alpha includes the emission:
//   alpha_0(0) = a_0(blank), alpha_0(1) = a_0(y1)
//   alpha_t(s) = a_t(l'_s) + LSE(alpha_{t-1}(s), alpha_{t-1}(s-1), alpha_{t-1}(s-2) if l'_s != blank and l'_s != l'_{s-2})
//   log p = LSE(alpha_{T_b-1}(S'-1), alpha_{T_b-1}(S'-2));  loss_b = -log p
// a = log_probs (T, B, C) contiguous. alpha (B, T, 2*S_max+1) is kept for the backward kernel; rows
// t >= T_b and states s >= S' are never written. "-Inf" is NEG (finite, so NEG - NEG is never NaN);
// log p below NEG/10 means no alignment exists (T_b too short): the loss is p.inf, or 0 with
// zero_infinity. A label outside [0, C) or equal to blank makes that element's loss p.nan.
alias T = f32;

struct Params {
  frames: u32,   // T (the log_probs' first dim)
  batch: u32,    // B
  classes: u32,  // C
  max_target: u32, // S_max (targets are (B, S_max), padded)
  lp_offset: u32,
  tg_offset: u32,
  blank: u32,
  zero_infinity: u32,
  inf: f32,
  nan: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lp: array<T>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read> input_lengths: array<i32>;
@group(0) @binding(4) var<storage, read> target_lengths: array<i32>;
@group(0) @binding(5) var<storage, read_write> alpha: array<f32>;
@group(0) @binding(6) var<storage, read_write> loss: array<T>;
@group(0) @binding(7) var<storage, read_write> logp: array<f32>;

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
  for (var t = 0u; t < p.frames; t++) {
    if (live && t < tb) {
      for (var s = lid.x; s < sp; s += WG) {
        let k = label(bb, s);
        var v = NEG;
        if (t == 0u) {
          if (s < 2u) { v = emit(0u, bb, k); }
        } else {
          let prev = (row + t - 1u) * spmax;
          var acc = alpha[prev + s];
          if (s >= 1u) { acc = lse2(acc, alpha[prev + s - 1u]); }
          if (s >= 2u && k != i32(p.blank) && k != label(bb, s - 2u)) { acc = lse2(acc, alpha[prev + s - 2u]); }
          v = select(NEG, acc + emit(t, bb, k), acc > NEG);
        }
        alpha[(row + t) * spmax + s] = v;
      }
    }
    storageBarrier();
  }
  if (live && lid.x == 0u) {
    var bad = false;
    for (var i = 0u; i < u; i++) {
      let k = targets[p.tg_offset + bb * p.max_target + i];
      bad = bad || k < 0 || k >= i32(p.classes) || k == i32(p.blank);
    }
    var lq = NEG;
    if (tb > 0u) {
      let last = (row + tb - 1u) * spmax;
      lq = alpha[last + sp - 1u];
      if (sp >= 2u) { lq = lse2(lq, alpha[last + sp - 2u]); }
    }
    logp[bb] = lq;
    if (bad) {
      loss[bb] = T(p.nan);
    } else if (lq <= NEG / 10.0) {
      loss[bb] = select(T(p.inf), T(0.0), p.zero_infinity != 0u);
    } else {
      loss[bb] = T(-lq);
    }
  }
}
