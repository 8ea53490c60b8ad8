// Expert dispatch: grouped GEMM over the expert-sorted rows, register-blocked (each invocation a
// 4x4 output block, no workgroup memory, no barriers: the kernel lavapipe favours, as matmul.wgsl).
// out[r, c] = epilogue(Σ_k A[r, k] · B[e, k, c]) for each sorted row r of expert e, where
//   A row r = a[offA + token(r) * lda ..] (GATHER: token(r) = pair(r) / slots) or a[offA + r * lda ..],
//   B[e] read through strides (transposed expert weights need no copy).
// TWO adds a second product acc2 = A2 · B2[e] (SHARE_A: A2 is A). Epilogue ACT: 0 acc (+ acc2 with
// TWO), else the activation of that code (EXPERT_ACTIVATIONS in engine/ops/elementwise-table.ts,
// whose rows' expressions the engine splices in below; swiglu is silu(acc) * acc2); SAVE also stores
// acc (and acc2) for the backward pass. The grid is an upper bound on tiles, ceil(rows / TILE_M) + E along M; each
// workgroup finds its expert by binary search in the tile map and idles past the last tile.
alias T = f32; // storage; accumulation is always f32

struct Params {
  experts: u32,
  K: u32,
  cols: u32,
  slots: u32,
  lda: u32,
  offA: u32,
  offA2: u32,
  tilesN: u32,
  offB: u32,
  strideBe: u32,
  strideBk: u32,
  strideBn: u32,
  offB2: u32,
  strideB2e: u32,
  strideB2k: u32,
  strideB2n: u32,
  sortedBase: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> a2: array<T>;
@group(0) @binding(3) var<storage, read> b: array<T>;
@group(0) @binding(4) var<storage, read> b2: array<T>;
@group(0) @binding(5) var<storage, read> route: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<T>;  // (rows, cols)
@group(0) @binding(7) var<storage, read_write> pre: array<T>;  // (rows, cols) acc, with SAVE
@group(0) @binding(8) var<storage, read_write> pre2: array<T>; // (rows, cols) acc2, with SAVE and swiglu

override WGX: u32 = 8;
override WGY: u32 = 8;
override GATHER: bool = false;
override TWO: bool = false;
override SHARE_A: bool = false;
override ACT: u32 = 0u;
override SAVE: bool = false;

// @generated: epilogue() and SWIGLU from the elementwise table (expertActivationWgsl); this
// stand-in keeps the file valid WGSL on its own.
const SWIGLU: u32 = 0u;
fn epilogue(x: vec4<f32>, x2: vec4<f32>) -> vec4<f32> {
  return select(x, x + x2, TWO);
}
// @end generated

fn row_addr(r: u32) -> u32 {
  if (GATHER) { return p.offA + (route[p.sortedBase + r] / p.slots) * p.lda; }
  return p.offA + r * p.lda;
}

fn store_row(r: u32, rowEnd: u32, col0: u32, v: vec4<f32>, v2: vec4<f32>) {
  if (r >= rowEnd) { return; }
  let o = r * p.cols + col0;
  let y = epilogue(v, v2);
  for (var c = 0u; c < 4u; c++) {
    if (col0 + c < p.cols) {
      out[o + c] = T(y[c]);
      if (SAVE) {
        pre[o + c] = T(v[c]);
        if (ACT == SWIGLU) { pre2[o + c] = T(v2[c]); }
      }
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
  // No barriers in this kernel, so idle invocations may leave at once.
  if (tm >= route[tileBase + E]) { return; }
  // The expert whose tiles cover tm: tile[lo] <= tm < tile[lo + 1] (empty experts have no tiles).
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

  // Rows and cols past the edge are clamped onto the last valid one; their results are not stored.
  let ra0 = row_addr(row0);
  let ra1 = row_addr(min(row0 + 1u, rowEnd - 1u));
  let ra2 = row_addr(min(row0 + 2u, rowEnd - 1u));
  let ra3 = row_addr(min(row0 + 3u, rowEnd - 1u));
  let lastCol = p.cols - 1u;
  let eb = p.offB + e * p.strideBe;
  let cb0 = eb + col0 * p.strideBn;
  let cb1 = eb + min(col0 + 1u, lastCol) * p.strideBn;
  let cb2 = eb + min(col0 + 2u, lastCol) * p.strideBn;
  let cb3 = eb + min(col0 + 3u, lastCol) * p.strideBn;
  let eb2 = p.offB2 + e * p.strideB2e;
  let cc0 = eb2 + col0 * p.strideB2n;
  let cc1 = eb2 + min(col0 + 1u, lastCol) * p.strideB2n;
  let cc2 = eb2 + min(col0 + 2u, lastCol) * p.strideB2n;
  let cc3 = eb2 + min(col0 + 3u, lastCol) * p.strideB2n;
  // A2 rows sit at the same places relative to their own offset.
  let d2 = p.offA2 - p.offA;

  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var bcc0 = vec4<f32>(0.0);
  var bcc1 = vec4<f32>(0.0);
  var bcc2 = vec4<f32>(0.0);
  var bcc3 = vec4<f32>(0.0);
  var kb = 0u;
  var kb2 = 0u;
  for (var k = 0u; k < p.K; k++) {
    let x0 = f32(a[ra0 + k]);
    let x1 = f32(a[ra1 + k]);
    let x2 = f32(a[ra2 + k]);
    let x3 = f32(a[ra3 + k]);
    let bv = vec4<f32>(f32(b[cb0 + kb]), f32(b[cb1 + kb]), f32(b[cb2 + kb]), f32(b[cb3 + kb]));
    acc0 += x0 * bv;
    acc1 += x1 * bv;
    acc2 += x2 * bv;
    acc3 += x3 * bv;
    if (TWO) {
      let bw = vec4<f32>(f32(b2[cc0 + kb2]), f32(b2[cc1 + kb2]), f32(b2[cc2 + kb2]), f32(b2[cc3 + kb2]));
      if (SHARE_A) {
        bcc0 += x0 * bw;
        bcc1 += x1 * bw;
        bcc2 += x2 * bw;
        bcc3 += x3 * bw;
      } else {
        bcc0 += f32(a2[ra0 + d2 + k]) * bw;
        bcc1 += f32(a2[ra1 + d2 + k]) * bw;
        bcc2 += f32(a2[ra2 + d2 + k]) * bw;
        bcc3 += f32(a2[ra3 + d2 + k]) * bw;
      }
    }
    kb += p.strideBk;
    kb2 += p.strideB2k;
  }

  store_row(row0, rowEnd, col0, acc0, bcc0);
  store_row(row0 + 1u, rowEnd, col0, acc1, bcc1);
  store_row(row0 + 2u, rowEnd, col0, acc2, bcc2);
  store_row(row0 + 3u, rowEnd, col0, acc3, bcc3);
}
