// Fused attention forward, FlashAttention-2 style: O = softmax(q k^T * scale + mask) v.
// q (B, H, Tq, D), k and v (B, H, Tk, D), each addressed by offset + b*sB + h*sH + t*sT + d (the
// feature dim contiguous). One workgroup owns WG * R consecutive query rows of one (b, h), R rows per
// invocation (r * WG + lane): those rows of q and their output accumulators live in registers (or
// lavapipe's per-lane memory), and each staged element loaded feeds all R, while BK-key tiles of K
// and V are staged in workgroup memory and consumed with an online softmax (running max m and sum l,
// rescaling the accumulator when the max grows). Writes O (contiguous) and per-row stats (m, log l),
// so the log-sum-exp is L = m + log l. The two parts are kept apart because a fully masked row has
// m = fill (-1e30): m + log l would round away log l, and the backward needs it to recompute
// P = exp(s - m - log l) = 1/Tk exactly, as the composed path's uniform row gives.
//
// Masked scores (causal, integer keep-mask == 0) are replaced by the finite `fill`, exactly as the
// composed path does, so a fully masked row is uniform rather than NaN. Keys past Tk (the ragged last
// tile) are excluded altogether. With SKIP (causal and no other mask, so no row can be fully masked)
// key tiles entirely above the diagonal of the workgroup's last row are not visited.
alias T = f32; // q, k, v, o storage; staging and accumulation are f32
alias M = u32; // mask storage: u32/i32 keep-mask (MASK_MODE 1) or f32/f16 additive (MASK_MODE 2)

struct Params {
  B: u32, H: u32, Tq: u32, Tk: u32,
  D: u32, causalOff: u32, scale: f32, fill: f32,
  qOff: u32, qSB: u32, qSH: u32, qST: u32,
  kOff: u32, kSB: u32, kSH: u32, kST: u32,
  vOff: u32, vSB: u32, vSH: u32, vST: u32,
  mOff: u32, mSB: u32, mSH: u32, mSQ: u32,
  mSK: u32, qTiles: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<T>;
@group(0) @binding(2) var<storage, read> k: array<T>;
@group(0) @binding(3) var<storage, read> v: array<T>;
@group(0) @binding(4) var<storage, read> msk: array<M>;
@group(0) @binding(5) var<storage, read_write> o: array<T>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>; // (B, H, Tq, 2): m, log l

override WG: u32 = 64; // invocations per workgroup
// Query rows per invocation (<= RMAX): each staged key or value element loaded feeds R rows.
override R: u32 = 1;
override BK: u32 = 16; // keys per staged tile, a multiple of 8
override D4: u32 = 16; // ceil(D / 4), <= 32: sizes the staged tiles
override FIXED_D: bool = false;
override CAUSAL: bool = false;
override SKIP: bool = false;
override MASK_MODE: u32 = 0;

const DMAX4: u32 = 32u; // head dims up to 128
const RMAX: u32 = 4u;
const LOWEST: f32 = -3.4028234e38;

var<workgroup> ks: array<vec4<f32>, BK * D4>;
var<workgroup> vs: array<vec4<f32>, BK * D4>;
// This invocation's query rows (pre-scaled) and output accumulators: row r's features at r * DMAX4.
var<private> qr: array<vec4<f32>, RMAX * DMAX4>;
var<private> acc: array<vec4<f32>, RMAX * DMAX4>;

// Four features from `base + 4c`, zero past D (so padded lanes add nothing to dot products).
fn hsum(x: vec4<f32>) -> f32 { return (x.x + x.y) + (x.z + x.w); }

// The score of key kj (clamped into range; keys past Tk are excluded by the caller) after masking.
fn score(raw: f32, kj: u32, rowLim: u32, mBase: u32) -> f32 {
  let kc = min(kj, p.Tk - 1u);
  var sc = raw;
  if (CAUSAL && kc > rowLim) { sc = p.fill; }
  if (MASK_MODE == 1u) { if (msk[mBase + kc * p.mSK] == M(0)) { sc = p.fill; } }
  if (MASK_MODE == 2u) { sc += f32(msk[mBase + kc * p.mSK]); }
  return sc;
}

// The masked scores of keys kj..kj+3.
fn masked(raw: vec4<f32>, kj: u32, rowLim: u32, mBase: u32) -> vec4<f32> {
  return vec4<f32>(score(raw.x, kj, rowLim, mBase), score(raw.y, kj + 1u, rowLim, mBase),
                   score(raw.z, kj + 2u, rowLim, mBase), score(raw.w, kj + 3u, rowLim, mBase));
}

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

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  // Everything derived from the workgroup id is uniform; spare workgroups of a folded grid and rows
  // past Tq run the loop masked (the loop has barriers).
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
  let rows0 = qt * WG * R; // the tile's first row; this invocation's rows are rows0 + r * WG + lid.x
  let qBase = p.qOff + b * p.qSB + h * p.qSH;
  let kBase = p.kOff + b * p.kSB + h * p.kSH;
  let vBase = p.vOff + b * p.vSB + h * p.vSH;
  var rowLim: array<u32, RMAX>; // the last key row r may see (causal)
  var mBase: array<u32, RMAX>;
  var m: array<f32, RMAX>;
  var l: array<f32, RMAX>;
  for (var r = 0u; r < R; r++) {
    let ic = min(rows0 + r * WG + lid.x, p.Tq - 1u);
    rowLim[r] = ic + p.causalOff;
    mBase[r] = p.mOff + b * p.mSB + h * p.mSH + ic * p.mSQ;
    m[r] = LOWEST;
    l[r] = 0.0;
    for (var c = 0u; c < nd4; c++) {
      qr[r * DMAX4 + c] = ldq(qBase + ic * p.qST, c) * p.scale;
      acc[r * DMAX4 + c] = vec4<f32>(0.0);
    }
  }
  var kEnd = p.Tk;
  if (SKIP) { kEnd = min(p.Tk, min(rows0 + WG * R, p.Tq) + p.causalOff); }

  for (var k0 = 0u; k0 < kEnd; k0 += BK) {
    for (var e = lid.x; e < BK * nd4; e += WG) {
      let j = min(k0 + e / nd4, p.Tk - 1u); // clamped: keys past Tk are excluded below
      let c = e % nd4;
      ks[e] = ldk(kBase + j * p.kST, c);
      vs[e] = ldv(vBase + j * p.vST, c);
    }
    workgroupBarrier();
    // Eight keys per step: their scores stay in vec4s (a private array indexed in a loop would live
    // in per-lane scratch memory on lavapipe; the r loops have constant bounds and unroll), and the
    // accumulators are rescaled and updated once per step, so each read-modify-write of acc carries
    // eight FMAs, and each staged element loaded feeds R rows.
    for (var j0 = 0u; j0 < BK; j0 += 8u) {
      let kj = k0 + j0;
      let b0 = j0 * nd4;
      var sa: array<vec4<f32>, RMAX>;
      var sb: array<vec4<f32>, RMAX>;
      for (var r = 0u; r < R; r++) {
        sa[r] = vec4<f32>(0.0);
        sb[r] = vec4<f32>(0.0);
      }
      for (var c = 0u; c < nd4; c++) {
        let k0c = ks[b0 + c];
        let k1c = ks[b0 + nd4 + c];
        let k2c = ks[b0 + 2u * nd4 + c];
        let k3c = ks[b0 + 3u * nd4 + c];
        let k4c = ks[b0 + 4u * nd4 + c];
        let k5c = ks[b0 + 5u * nd4 + c];
        let k6c = ks[b0 + 6u * nd4 + c];
        let k7c = ks[b0 + 7u * nd4 + c];
        for (var r = 0u; r < R; r++) {
          let qc = qr[r * DMAX4 + c];
          sa[r] += vec4<f32>(dot(qc, k0c), dot(qc, k1c), dot(qc, k2c), dot(qc, k3c));
          sb[r] += vec4<f32>(dot(qc, k4c), dot(qc, k5c), dot(qc, k6c), dot(qc, k7c));
        }
      }
      let va = vec4<u32>(kj) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.Tk);
      let vb = vec4<u32>(kj + 4u) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.Tk);
      var pa: array<vec4<f32>, RMAX>;
      var pb: array<vec4<f32>, RMAX>;
      var alpha: array<f32, RMAX>;
      for (var r = 0u; r < R; r++) {
        let xa = masked(sa[r], kj, rowLim[r], mBase[r]);
        let xb = masked(sb[r], kj + 4u, rowLim[r], mBase[r]);
        let mx = max(select(vec4<f32>(LOWEST), xa, va), select(vec4<f32>(LOWEST), xb, vb));
        let mNew = max(m[r], max(max(mx.x, mx.y), max(mx.z, mx.w)));
        alpha[r] = exp(m[r] - mNew);
        pa[r] = select(vec4<f32>(0.0), exp(xa - mNew), va);
        pb[r] = select(vec4<f32>(0.0), exp(xb - mNew), vb);
        m[r] = mNew;
        l[r] = l[r] * alpha[r] + hsum(pa[r]) + hsum(pb[r]);
      }
      for (var c = 0u; c < nd4; c++) {
        let v0c = vs[b0 + c];
        let v1c = vs[b0 + nd4 + c];
        let v2c = vs[b0 + 2u * nd4 + c];
        let v3c = vs[b0 + 3u * nd4 + c];
        let v4c = vs[b0 + 4u * nd4 + c];
        let v5c = vs[b0 + 5u * nd4 + c];
        let v6c = vs[b0 + 6u * nd4 + c];
        let v7c = vs[b0 + 7u * nd4 + c];
        for (var r = 0u; r < R; r++) {
          var a = acc[r * DMAX4 + c] * alpha[r];
          a = fma(vec4<f32>(pa[r].x), v0c, a);
          a = fma(vec4<f32>(pa[r].y), v1c, a);
          a = fma(vec4<f32>(pa[r].z), v2c, a);
          a = fma(vec4<f32>(pa[r].w), v3c, a);
          a = fma(vec4<f32>(pb[r].x), v4c, a);
          a = fma(vec4<f32>(pb[r].y), v5c, a);
          a = fma(vec4<f32>(pb[r].z), v6c, a);
          a = fma(vec4<f32>(pb[r].w), v7c, a);
          acc[r * DMAX4 + c] = a;
        }
      }
    }
    workgroupBarrier();
  }

  for (var r = 0u; r < R; r++) {
    let i = rows0 + r * WG + lid.x;
    if (live && i < p.Tq) {
      let row = (b * p.H + h) * p.Tq + i;
      let inv = 1.0 / l[r];
      let ob = row * p.D;
      for (var c = 0u; c < nd4; c++) {
        let a = acc[r * DMAX4 + c] * inv;
        for (var e = 0u; e < 4u; e++) {
          let d = c * 4u + e;
          if (d < p.D) { o[ob + d] = T(a[e]); }
        }
      }
      stats[row * 2u] = m[r];
      stats[row * 2u + 1u] = log(l[r]);
    }
  }
}
