// Expert dispatch backward: the down-projection's input gradient with the activation's backward as
// its epilogue, over the expert-sorted rows (register-blocked like moe_gemm.wgsl, same tile map).
//   dH[r, c] = w(r) · Σ_k dY[token(r), k] · B[e, k, c]      (B = W2[e] viewed transposed)
//   out = dH · act'(pre), ACT the activation's code (EXPERT_ACTIVATIONS in
//   engine/ops/elementwise-table.ts, whose rows' fused gradients the engine splices in below);
//   swiglu: out = dH · pre2 · silu'(pre) (for W1), out2 = dH · silu(pre) (for W3)
// pre / pre2 are the forward's saved x·W1 and x·W3 rows.
alias T = f32; // storage; accumulation is always f32

struct Params {
  experts: u32,
  K: u32,
  cols: u32,
  slots: u32,
  lda: u32,
  offA: u32,
  tilesN: u32,
  offW: u32,
  offB: u32,
  strideBe: u32,
  strideBk: u32,
  strideBn: u32,
  sortedBase: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;       // dY (N, D) rows
@group(0) @binding(2) var<storage, read> b: array<T>;       // W2 (E, F, D)
@group(0) @binding(3) var<storage, read> weights: array<T>; // (N, k) gate weights
@group(0) @binding(4) var<storage, read> route: array<u32>;
@group(0) @binding(5) var<storage, read> pre: array<T>;     // (rows, F)
@group(0) @binding(6) var<storage, read> pre2: array<T>;    // (rows, F), swiglu
@group(0) @binding(7) var<storage, read_write> out: array<T>;  // (rows, F)
@group(0) @binding(8) var<storage, read_write> out2: array<T>; // (rows, F), swiglu

override WGX: u32 = 8;
override WGY: u32 = 8;
override ACT: u32 = 1u;

// @generated: act_grad(), gate_grad() and SWIGLU from the elementwise table
// (expertActivationWgsl); this stand-in keeps the file valid WGSL on its own.
const SWIGLU: u32 = 0u;
fn act_grad(x: vec4<f32>, g: vec4<f32>, x2: vec4<f32>) -> vec4<f32> {
  return g;
}
fn gate_grad(x: vec4<f32>, g: vec4<f32>) -> vec4<f32> {
  return g;
}
// @end generated

fn store_row(r: u32, rowEnd: u32, col0: u32, v: vec4<f32>) {
  if (r >= rowEnd) { return; }
  let pair = route[p.sortedBase + r];
  let w = f32(weights[p.offW + pair]);
  let o = r * p.cols + col0;
  // Lanes past the last col stay 0 and are not stored.
  var x = vec4<f32>(0.0);
  var x2 = vec4<f32>(0.0);
  for (var c = 0u; c < 4u; c++) {
    if (col0 + c < p.cols) {
      x[c] = f32(pre[o + c]);
      if (ACT == SWIGLU) { x2[c] = f32(pre2[o + c]); }
    }
  }
  let g = w * v;
  let dx = act_grad(x, g, x2);
  let dx2 = gate_grad(x, g);
  for (var c = 0u; c < 4u; c++) {
    if (col0 + c < p.cols) {
      out[o + c] = T(dx[c]);
      if (ACT == SWIGLU) { out2[o + c] = T(dx2[c]); }
    }
  }
}

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let E = p.experts;
  let g = wid.y * nwg.x + wid.x;
  let tm = g / p.tilesN;
  let tn = g % p.tilesN;
  let tileBase = E + 1u;
  if (tm >= route[tileBase + E]) { return; }
  var lo = 0u;
  var hi = E;
  while (hi - lo > 1u) {
    let mid = (lo + hi) / 2u;
    if (route[tileBase + mid] <= tm) { lo = mid; } else { hi = mid; }
  }
  let e = lo;
  let rowEnd = route[e + 1u];
  let row0 = route[e] + (tm - route[tileBase + e]) * 4u * WGY + lid.y * 4u;
  let col0 = tn * 4u * WGX + lid.x * 4u;
  if (row0 >= rowEnd || col0 >= p.cols) { return; }

  let ra0 = p.offA + (route[p.sortedBase + row0] / p.slots) * p.lda;
  let ra1 = p.offA + (route[p.sortedBase + min(row0 + 1u, rowEnd - 1u)] / p.slots) * p.lda;
  let ra2 = p.offA + (route[p.sortedBase + min(row0 + 2u, rowEnd - 1u)] / p.slots) * p.lda;
  let ra3 = p.offA + (route[p.sortedBase + min(row0 + 3u, rowEnd - 1u)] / p.slots) * p.lda;
  let lastCol = p.cols - 1u;
  let eb = p.offB + e * p.strideBe;
  let cb0 = eb + col0 * p.strideBn;
  let cb1 = eb + min(col0 + 1u, lastCol) * p.strideBn;
  let cb2 = eb + min(col0 + 2u, lastCol) * p.strideBn;
  let cb3 = eb + min(col0 + 3u, lastCol) * p.strideBn;

  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var kb = 0u;
  for (var k = 0u; k < p.K; k++) {
    let bv = vec4<f32>(f32(b[cb0 + kb]), f32(b[cb1 + kb]), f32(b[cb2 + kb]), f32(b[cb3 + kb]));
    acc0 += f32(a[ra0 + k]) * bv;
    acc1 += f32(a[ra1 + k]) * bv;
    acc2 += f32(a[ra2 + k]) * bv;
    acc3 += f32(a[ra3 + k]) * bv;
    kb += p.strideBk;
  }

  store_row(row0, rowEnd, col0, acc0);
  store_row(row0 + 1u, rowEnd, col0, acc1);
  store_row(row0 + 2u, rowEnd, col0, acc2);
  store_row(row0 + 3u, rowEnd, col0, acc3);
}
