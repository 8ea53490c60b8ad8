// Fused attention backward, dQ: per query tile, iterate over key tiles (K and V staged in workgroup
// memory, as in the forward) and recompute P = exp(s - m - log l) from the forward's row stats, then
// dS = P * (dP - Dr) with dP = dO v^T, and dQ = scale * dS k. One query row per invocation; no atomics
// (each invocation owns its row of dQ). Layouts, masks, tiles and SKIP as in attention.wgsl. Masked
// scores (causal, keep-mask == 0) were replaced by a constant, so their dS is 0; an additive mask
// passes the gradient through.
alias T = f32;
alias M = u32;

struct Params {
  B: u32, H: u32, Tq: u32, Tk: u32,
  D: u32, causalOff: u32, scale: f32, fill: f32,
  qOff: u32, qSB: u32, qSH: u32, qST: u32,
  kOff: u32, kSB: u32, kSH: u32, kST: u32,
  vOff: u32, vSB: u32, vSH: u32, vST: u32,
  mOff: u32, mSB: u32, mSH: u32, mSQ: u32,
  mSK: u32, qTiles: u32, gOff: u32, gSB: u32,
  gSH: u32, gST: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<T>;
@group(0) @binding(2) var<storage, read> k: array<T>;
@group(0) @binding(3) var<storage, read> v: array<T>;
@group(0) @binding(4) var<storage, read> msk: array<M>;
@group(0) @binding(5) var<storage, read> dout: array<T>;
@group(0) @binding(6) var<storage, read> stats: array<f32>; // (B, H, Tq, 2): m, log l
@group(0) @binding(7) var<storage, read> dr: array<f32>; // (B, H, Tq)
@group(0) @binding(8) var<storage, read_write> dq: array<T>; // contiguous (B, H, Tq, D)

override WG: u32 = 64;
override BK: u32 = 16;
override D4: u32 = 16;
override FIXED_D: bool = false;
override CAUSAL: bool = false;
override SKIP: bool = false;
override MASK_MODE: u32 = 0;

const DMAX4: u32 = 32u;

var<workgroup> ks: array<vec4<f32>, BK * D4>;
var<workgroup> vs: array<vec4<f32>, BK * D4>;

// Four features from `base + 4c`, zero past D (so padded lanes add nothing to dot products).
fn ldq(base: u32, c: u32) -> vec4<f32> {
  let d = c * 4u;
  if (d + 3u < p.D) { return vec4<f32>(f32(q[base + d]), f32(q[base + d + 1u]), f32(q[base + d + 2u]), f32(q[base + d + 3u])); }
  var r = vec4<f32>(0.0);
  for (var e = 0u; e < 4u; e++) { if (d + e < p.D) { r[e] = f32(q[base + d + e]); } }
  return r;
}
fn ldk(base: u32, c: u32) -> vec4<f32> {
  let d = c * 4u;
  if (d + 3u < p.D) { return vec4<f32>(f32(k[base + d]), f32(k[base + d + 1u]), f32(k[base + d + 2u]), f32(k[base + d + 3u])); }
  var r = vec4<f32>(0.0);
  for (var e = 0u; e < 4u; e++) { if (d + e < p.D) { r[e] = f32(k[base + d + e]); } }
  return r;
}
fn ldv(base: u32, c: u32) -> vec4<f32> {
  let d = c * 4u;
  if (d + 3u < p.D) { return vec4<f32>(f32(v[base + d]), f32(v[base + d + 1u]), f32(v[base + d + 2u]), f32(v[base + d + 3u])); }
  var r = vec4<f32>(0.0);
  for (var e = 0u; e < 4u; e++) { if (d + e < p.D) { r[e] = f32(v[base + d + e]); } }
  return r;
}

fn ldg(base: u32, c: u32) -> vec4<f32> {
  let d = c * 4u;
  if (d + 3u < p.D) { return vec4<f32>(f32(dout[base + d]), f32(dout[base + d + 1u]), f32(dout[base + d + 2u]), f32(dout[base + d + 3u])); }
  var r = vec4<f32>(0.0);
  for (var e = 0u; e < 4u; e++) { if (d + e < p.D) { r[e] = f32(dout[base + d + e]); } }
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  // Feature loops run to the D4 override when FIXED_D (the compiler can then keep the rows in
  // registers), else to a runtime bound: lavapipe's compiler unrolls constant-bound loops fully,
  // which took minutes to compile at D = 128.
  let nd4 = select((p.D + 3u) / 4u, D4, FIXED_D);
  let g = wid.y * nwg.x + wid.x;
  let total = p.B * p.H * p.qTiles;
  let live = g < total;
  let gg = min(g, total - 1u);
  let bh = gg / p.qTiles;
  let qt = gg % p.qTiles;
  let b = bh / p.H;
  let h = bh % p.H;
  let i = qt * WG + lid.x;
  let rowLive = live && i < p.Tq;
  let ic = min(i, p.Tq - 1u);
  let row = (b * p.H + h) * p.Tq + ic;

  let qBase = p.qOff + b * p.qSB + h * p.qSH + ic * p.qST;
  let gBase = p.gOff + b * p.gSB + h * p.gSH + ic * p.gST;
  let kBase = p.kOff + b * p.kSB + h * p.kSH;
  let vBase = p.vOff + b * p.vSB + h * p.vSH;
  let mBase = p.mOff + b * p.mSB + h * p.mSH + ic * p.mSQ;
  var qr: array<vec4<f32>, DMAX4>;
  var gr: array<vec4<f32>, DMAX4>;
  var acc: array<vec4<f32>, DMAX4>;
  for (var c = 0u; c < nd4; c++) {
    qr[c] = ldq(qBase, c) * p.scale;
    gr[c] = ldg(gBase, c);
    acc[c] = vec4<f32>(0.0);
  }
  let mRow = stats[row * 2u];
  let logl = stats[row * 2u + 1u];
  let dRow = dr[row];
  let rowLim = ic + p.causalOff;
  var kEnd = p.Tk;
  if (SKIP) { kEnd = min(p.Tk, min(qt * WG + WG, p.Tq) + p.causalOff); }

  for (var k0 = 0u; k0 < kEnd; k0 += BK) {
    for (var e = lid.x; e < BK * nd4; e += WG) {
      let j = min(k0 + e / nd4, p.Tk - 1u);
      let c = e % nd4;
      ks[e] = ldk(kBase + j * p.kST, c);
      vs[e] = ldv(vBase + j * p.vST, c);
    }
    workgroupBarrier();
    let nValid = min(BK, p.Tk - k0);
    for (var j = 0u; j < BK; j++) {
      var s4 = vec4<f32>(0.0);
      var p4 = vec4<f32>(0.0);
      for (var c = 0u; c < nd4; c++) {
        s4 = fma(qr[c], ks[j * nd4 + c], s4);
        p4 = fma(gr[c], vs[j * nd4 + c], p4);
      }
      var sc = s4.x + s4.y + s4.z + s4.w;
      let kj = min(k0 + j, p.Tk - 1u);
      var passes = j < nValid; // does the gradient reach this score?
      if (CAUSAL && kj > rowLim) { sc = p.fill; passes = false; }
      if (MASK_MODE == 1u) { if (msk[mBase + kj * p.mSK] == M(0)) { sc = p.fill; passes = false; } }
      if (MASK_MODE == 2u) { sc += f32(msk[mBase + kj * p.mSK]); }
      let pj = exp(sc - mRow - logl);
      let dsj = select(0.0, pj * (p4.x + p4.y + p4.z + p4.w - dRow), passes);
      for (var c = 0u; c < nd4; c++) { acc[c] = fma(vec4<f32>(dsj), ks[j * nd4 + c], acc[c]); }
    }
    workgroupBarrier();
  }

  if (rowLive) {
    let ob = row * p.D;
    for (var c = 0u; c < nd4; c++) {
      let a = acc[c] * p.scale;
      for (var e = 0u; e < 4u; e++) {
        let d = c * 4u + e;
        if (d < p.D) { dq[ob + d] = T(a[e]); }
      }
    }
  }
}
