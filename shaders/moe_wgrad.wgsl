// Expert dispatch backward: per-expert weight gradients as grouped GEMMs whose reduction runs over
// the expert's sorted rows, in row order (deterministic, no atomics):
//   out[e, i, j] = Σ_{r in expert e} A(r, i) · B(r, j)     (out2 likewise with B2, when TWO)
//   A(r, i) = a[offA + token(r) * lda + i] (A_GATHER) or a[offA + r * lda + i]
//   B(r, j) = w(r) · b[offB + token(r) * ldb + j] (B_GATHER: the gate-weighted dY) or b[offB + r * ldb + j]
// dW1 = x^T · dA (A_GATHER), dW3 = x^T · dB (TWO), dW2 = H^T · (w · dY) (B_GATHER). An expert with
// no rows gets zeros. Register-blocked 4x4 per invocation; grid E x tiles(I) x tiles(J), folded.
alias T = f32; // storage; accumulation is always f32

struct Params {
  experts: u32,
  rowsI: u32, // i extent (dim 1 of out)
  colsJ: u32, // j extent (dim 2 of out)
  slots: u32,
  lda: u32,
  offA: u32,
  ldb: u32,
  offB: u32,
  ldb2: u32,
  offB2: u32,
  offW: u32,
  sortedBase: u32,
  tilesI: u32,
  tilesJ: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read> b2: array<T>;
@group(0) @binding(4) var<storage, read> weights: array<T>;
@group(0) @binding(5) var<storage, read> route: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<T>;  // (E, rowsI, colsJ)
@group(0) @binding(7) var<storage, read_write> out2: array<T>; // (E, rowsI, colsJ), with TWO

override WGX: u32 = 8;
override WGY: u32 = 8;
override A_GATHER: bool = false;
override B_GATHER: bool = false;
override TWO: bool = false;

fn store_row(e: u32, i: u32, j0: u32, v: vec4<f32>, v2: vec4<f32>) {
  if (i >= p.rowsI) { return; }
  let o = (e * p.rowsI + i) * p.colsJ + j0;
  for (var c = 0u; c < 4u; c++) {
    if (j0 + c < p.colsJ) {
      out[o + c] = T(v[c]);
      if (TWO) { out2[o + c] = T(v2[c]); }
    }
  }
}

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = wid.y * nwg.x + wid.x;
  let per = p.tilesI * p.tilesJ;
  let e = g / per;
  let t = g % per;
  let i0 = (t / p.tilesJ) * 4u * WGY + lid.y * 4u;
  let j0 = (t % p.tilesJ) * 4u * WGX + lid.x * 4u;
  if (e >= p.experts || i0 >= p.rowsI || j0 >= p.colsJ) { return; }
  let lastI = p.rowsI - 1u;
  let lastJ = p.colsJ - 1u;
  let i1 = min(i0 + 1u, lastI);
  let i2 = min(i0 + 2u, lastI);
  let i3 = min(i0 + 3u, lastI);
  let j1 = min(j0 + 1u, lastJ);
  let j2 = min(j0 + 2u, lastJ);
  let j3 = min(j0 + 3u, lastJ);

  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var bcc0 = vec4<f32>(0.0);
  var bcc1 = vec4<f32>(0.0);
  var bcc2 = vec4<f32>(0.0);
  var bcc3 = vec4<f32>(0.0);
  let rowEnd = route[e + 1u];
  for (var r = route[e]; r < rowEnd; r++) {
    let pair = route[p.sortedBase + r];
    let tok = pair / p.slots;
    let ar = p.offA + select(r, tok, A_GATHER) * p.lda;
    var br = p.offB + r * p.ldb;
    var w = 1.0;
    if (B_GATHER) {
      br = p.offB + tok * p.ldb;
      w = f32(weights[p.offW + pair]);
    }
    let bv = w * vec4<f32>(f32(b[br + j0]), f32(b[br + j1]), f32(b[br + j2]), f32(b[br + j3]));
    let x0 = f32(a[ar + i0]);
    let x1 = f32(a[ar + i1]);
    let x2 = f32(a[ar + i2]);
    let x3 = f32(a[ar + i3]);
    acc0 += x0 * bv;
    acc1 += x1 * bv;
    acc2 += x2 * bv;
    acc3 += x3 * bv;
    if (TWO) {
      let b2r = p.offB2 + r * p.ldb2;
      let bw = vec4<f32>(f32(b2[b2r + j0]), f32(b2[b2r + j1]), f32(b2[b2r + j2]), f32(b2[b2r + j3]));
      bcc0 += x0 * bw;
      bcc1 += x1 * bw;
      bcc2 += x2 * bw;
      bcc3 += x3 * bw;
    }
  }
  store_row(e, i0, j0, acc0, bcc0);
  store_row(e, i0 + 1u, j0, acc1, bcc1);
  store_row(e, i0 + 2u, j0, acc2, bcc2);
  store_row(e, i0 + 3u, j0, acc3, bcc3);
}
