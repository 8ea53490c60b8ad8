// Fused attention backward, dK and dV: per key tile, iterate over query tiles (q, dO and the row
// stats staged in workgroup memory), recompute P = exp(s - m - log l) and accumulate
// dV = P^T dO and dK = scale * dS^T q with dS = P * (dP - Dr), dP = dO v^T. One key row per
// invocation, so each invocation owns its rows of dK and dV: no atomics. Both land in one buffer,
// dK at [0, n) and dV at [n, 2n), each contiguous (B, H, Tk, D) (this keeps the kernel within 8
// storage bindings). With SKIP, query tiles entirely before the tile's first visible query are not
// visited (their P is exactly 0 there).
alias T = f32;
alias M = u32;

struct Params {
  B: u32, H: u32, Tq: u32, Tk: u32,
  D: u32, causalOff: u32, scale: f32, fill: f32,
  qOff: u32, qSB: u32, qSH: u32, qST: u32,
  kOff: u32, kSB: u32, kSH: u32, kST: u32,
  vOff: u32, vSB: u32, vSH: u32, vST: u32,
  mOff: u32, mSB: u32, mSH: u32, mSQ: u32,
  mSK: u32, kTiles: u32, gOff: u32, gSB: u32,
  gSH: u32, gST: u32, dvOff: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<T>;
@group(0) @binding(2) var<storage, read> k: array<T>;
@group(0) @binding(3) var<storage, read> v: array<T>;
@group(0) @binding(4) var<storage, read> msk: array<M>;
@group(0) @binding(5) var<storage, read> dout: array<T>;
@group(0) @binding(6) var<storage, read> stats: array<f32>; // (B, H, Tq, 2): m, log l
@group(0) @binding(7) var<storage, read> dr: array<f32>; // (B, H, Tq)
@group(0) @binding(8) var<storage, read_write> dkv: array<T>; // dK then dV

override WG: u32 = 64; // key rows per workgroup
override BQ: u32 = 16; // query rows per staged tile
override D4: u32 = 16;
override FIXED_D: bool = false;
override CAUSAL: bool = false;
override SKIP: bool = false;
override MASK_MODE: u32 = 0;

const DMAX4: u32 = 32u;

var<workgroup> qs: array<vec4<f32>, BQ * D4>;
var<workgroup> gs: array<vec4<f32>, BQ * D4>;
var<workgroup> ms: array<f32, BQ>; // m of each staged query row
var<workgroup> ls: array<f32, BQ>; // log l
var<workgroup> dsh: array<f32, BQ>; // Dr

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
  let total = p.B * p.H * p.kTiles;
  let live = g < total;
  let gg = min(g, total - 1u);
  let bh = gg / p.kTiles;
  let kt = gg % p.kTiles;
  let b = bh / p.H;
  let h = bh % p.H;
  let j = kt * WG + lid.x;
  let keyLive = live && j < p.Tk;
  let jc = min(j, p.Tk - 1u);

  let kBase = p.kOff + b * p.kSB + h * p.kSH + jc * p.kST;
  let vBase = p.vOff + b * p.vSB + h * p.vSH + jc * p.vST;
  let qBase = p.qOff + b * p.qSB + h * p.qSH;
  let gBase = p.gOff + b * p.gSB + h * p.gSH;
  let mBase = p.mOff + b * p.mSB + h * p.mSH + jc * p.mSK;
  let rowBase = (b * p.H + h) * p.Tq;
  var kr: array<vec4<f32>, DMAX4>;
  var vr: array<vec4<f32>, DMAX4>;
  var dk: array<vec4<f32>, DMAX4>;
  var dv: array<vec4<f32>, DMAX4>;
  for (var c = 0u; c < nd4; c++) {
    kr[c] = ldk(kBase, c) * p.scale; // s = q . (scale k)
    vr[c] = ldv(vBase, c);
    dk[c] = vec4<f32>(0.0);
    dv[c] = vec4<f32>(0.0);
  }
  // Query i sees key j iff j <= i + causalOff: the first query that sees this tile's first key.
  var qStart = 0u;
  if (SKIP) {
    let first = kt * WG;
    if (first > p.causalOff) { qStart = ((first - p.causalOff) / BQ) * BQ; }
  }

  for (var q0 = qStart; q0 < p.Tq; q0 += BQ) {
    for (var e = lid.x; e < BQ * nd4; e += WG) {
      let i = min(q0 + e / nd4, p.Tq - 1u);
      let c = e % nd4;
      qs[e] = ldq(qBase + i * p.qST, c);
      gs[e] = ldg(gBase + i * p.gST, c);
    }
    for (var e = lid.x; e < BQ; e += WG) {
      let row = rowBase + min(q0 + e, p.Tq - 1u);
      ms[e] = stats[row * 2u];
      ls[e] = stats[row * 2u + 1u];
      dsh[e] = dr[row];
    }
    workgroupBarrier();
    let nValid = min(BQ, p.Tq - q0);
    for (var ii = 0u; ii < BQ; ii++) {
      var s4 = vec4<f32>(0.0);
      var p4 = vec4<f32>(0.0);
      for (var c = 0u; c < nd4; c++) {
        s4 = fma(qs[ii * nd4 + c], kr[c], s4);
        p4 = fma(gs[ii * nd4 + c], vr[c], p4);
      }
      var sc = s4.x + s4.y + s4.z + s4.w;
      let i = min(q0 + ii, p.Tq - 1u);
      let valid = ii < nValid;
      var passes = valid;
      if (CAUSAL && jc > i + p.causalOff) { sc = p.fill; passes = false; }
      if (MASK_MODE == 1u) { if (msk[mBase + i * p.mSQ] == M(0)) { sc = p.fill; passes = false; } }
      if (MASK_MODE == 2u) { sc += f32(msk[mBase + i * p.mSQ]); }
      // exp(sc - m - log l) in that order: for a fully masked row sc = m = fill, giving 1/l exactly.
      let pj = select(0.0, exp(sc - ms[ii] - ls[ii]), valid);
      let dsj = select(0.0, pj * (p4.x + p4.y + p4.z + p4.w - dsh[ii]), passes);
      for (var c = 0u; c < nd4; c++) {
        dv[c] = fma(vec4<f32>(pj), gs[ii * nd4 + c], dv[c]);
        dk[c] = fma(vec4<f32>(dsj), qs[ii * nd4 + c], dk[c]);
      }
    }
    workgroupBarrier();
  }

  if (keyLive) {
    let ob = ((b * p.H + h) * p.Tk + j) * p.D;
    for (var c = 0u; c < nd4; c++) {
      let a = dk[c] * p.scale;
      let w = dv[c];
      for (var e = 0u; e < 4u; e++) {
        let d = c * 4u + e;
        if (d < p.D) {
          dkv[ob + d] = T(a[e]);
          dkv[p.dvOff + ob + d] = T(w[e]);
        }
      }
    }
  }
}
