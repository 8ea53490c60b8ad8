// Gradient of one router output with respect to the logits (rows, E), one workgroup per row. Scores
// are recomputed from the logits and the saved log-sum-exp: softmax p = exp(x - lse), or sigmoid.
//   MODE 0, weights (rows, k): the gradient reaches the k selected scores r (divided by their sum S
//     when renormalised: dr_i = (gw_i - sum_j gw_j w_j) / S), then the scores' own Jacobian:
//     softmax dx = p * (dr - sum_sel dr p), sigmoid dx = dr * r * (1 - r).
//   MODE 1, score sums (E): dr_e = g_e for every row; softmax needs sum_e g_e p_e, a workgroup tree.
//   MODE 2, log-sum-exp (rows): dx = g_row * softmax(x).
alias T = f32;

struct Params {
  rows: u32,
  experts: u32,
  k: u32,
  x_offset: u32,
  g_offset: u32,
  op: u32, // code reported for a bad expert index (topkRouter backward)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> idx: array<i32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<T>;
@group(0) @binding(6) var<storage, read_write> err: array<atomic<u32>>; // the engine's error word

// A power of two (the tree halves it).
override WG: u32 = 64;
override MODE: u32 = 0;
override SIGMOID: bool = false;
override RENORM: bool = false;

// The tree adds the invocations' partial sums.
alias R = f32;
fn merge(a: R, b: R) -> R { return a + b; }

// @shared tree: the engine splices in tree() and its scratch (SHARED in engine/shaders.ts); this
// stand-in keeps the file valid WGSL on its own.
fn tree(t: u32, v: R) -> R { return v; }
// @end shared

// The router writes indices in [0, E); one outside is clamped and recorded in the engine's error
// word (engine/device-checks.ts). First violation wins: [0] set, [1] op, [2] bits, [3] size, [4] negative.
fn report(v: i32, size: u32) {
  if (atomicLoad(&err[0]) == 0u && atomicOr(&err[0], 1u) == 0u) {
    atomicStore(&err[1], p.op);
    atomicStore(&err[2], bitcast<u32>(v));
    atomicStore(&err[3], size);
    atomicStore(&err[4], select(0u, 1u, v < 0));
  }
}

fn score(v: f32, l: f32) -> f32 {
  if (SIGMOID) {
    return 1.0 / (1.0 + exp(-v));
  }
  return exp(v - l);
}

// The scores' Jacobian applied to dr; `dot` is sum_e dr_e p_e (softmax only).
fn chain(dr: f32, r: f32, dot: f32) -> f32 {
  if (SIGMOID) {
    return dr * r * (1.0 - r);
  }
  return r * (dr - dot);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  let live = row < p.rows;
  let t = lid.x;
  let E = p.experts;
  let base = p.x_offset + row * E;
  var l = 0.0;
  if (live) {
    l = lse[row];
  }
  if (MODE == 0u) {
    var sel: array<u32, 8>;
    var dr: array<f32, 8>;
    var dot = 0.0;
    if (live) {
      var rs: array<f32, 8>;
      var total = 0.0;
      var gw_w = 0.0;
      for (var j = 0u; j < p.k; j++) {
        let v = idx[row * p.k + j];
        if ((v < 0 || u32(v) >= E) && t == 0u) { report(v, E); }
        sel[j] = u32(clamp(v, 0, i32(E) - 1));
        rs[j] = score(f32(x[base + sel[j]]), l);
        dr[j] = g[p.g_offset + row * p.k + j];
        total += rs[j];
        gw_w += dr[j] * rs[j];
      }
      if (RENORM) {
        let c = gw_w / total;
        for (var j = 0u; j < p.k; j++) {
          dr[j] = (dr[j] - c) / total;
        }
      }
      for (var j = 0u; j < p.k; j++) {
        dot += dr[j] * rs[j];
      }
      for (var e = t; e < E; e += WG) {
        var d = 0.0;
        for (var j = 0u; j < p.k; j++) {
          if (sel[j] == e) {
            d = dr[j];
          }
        }
        dx[row * E + e] = T(chain(d, score(f32(x[base + e]), l), dot));
      }
    }
  } else if (MODE == 1u) {
    var dot = 0.0;
    if (!SIGMOID) {
      var part = 0.0;
      if (live) {
        for (var e = t; e < E; e += WG) {
          part += g[p.g_offset + e] * score(f32(x[base + e]), l);
        }
      }
      dot = tree(t, part);
    }
    if (live) {
      for (var e = t; e < E; e += WG) {
        dx[row * E + e] = T(chain(g[p.g_offset + e], score(f32(x[base + e]), l), dot));
      }
    }
  } else {
    if (live) {
      let gl = g[p.g_offset + row];
      for (var e = t; e < E; e += WG) {
        dx[row * E + e] = T(gl * exp(f32(x[base + e]) - l));
      }
    }
  }
}
