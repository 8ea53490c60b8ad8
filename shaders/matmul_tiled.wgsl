// Batched matmul, workgroup-tiled (for real GPUs): C[b] = A[b] @ B[b], A (M, K), B (K, N), C
// contiguous (M, N). A workgroup of 16x16 invocations owns a 128x64 tile of C; each invocation
// accumulates 8x4 outputs in registers while 16-deep slices of A and B are staged in workgroup memory.
// Strides, offsets and broadcast batch dims are as in matmul.wgsl (same Params layout).
alias T = f32; // storage; accumulation and staging are f32

struct Params {
  batchShape: vec4<u32>,
  batchStridesA: vec4<u32>,
  batchStridesB: vec4<u32>,
  M: u32,
  N: u32,
  K: u32,
  batch: u32,
  strideAm: u32,
  strideAk: u32,
  strideBk: u32,
  strideBn: u32,
  offsetA: u32,
  offsetB: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read_write> c: array<T>;

const BM = 128u; // tile rows
const BN = 64u; // tile cols
const BK = 16u; // depth of one staged slice
const TM = 8u; // rows per invocation
const TN = 4u; // cols per invocation
const WGX = 16u; // BN / TN
const WGY = 16u; // BM / TM
const THREADS = 256u;

// Slices stored k-major: tileA[k * BM + m], tileB[k * BN + n], so the inner loop reads runs of m and n.
var<workgroup> tileA: array<f32, 2048>; // BK * BM
var<workgroup> tileB: array<f32, 1024>; // BK * BN

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let tilesN = (p.N + BN - 1u) / BN;
  let tilesM = (p.M + BM - 1u) / BM;
  let g = wid.y * nwg.x + wid.x;
  // Everything derived from g is uniform across the workgroup; spare workgroups of a folded grid
  // run the loop masked (no early return: the loop has barriers).
  let live = g < p.batch * tilesN * tilesM;
  let bi = min(g / (tilesN * tilesM), p.batch - 1u);
  let t = g % (tilesN * tilesM);
  let tileRow = (t / tilesN) * BM;
  let tileCol = (t % tilesN) * BN;
  let tid = lid.y * WGX + lid.x;

  var offA = p.offsetA;
  var offB = p.offsetB;
  var rem = bi;
  for (var d = 3; d >= 0; d--) {
    let s = p.batchShape[d];
    let i = rem % s;
    rem = rem / s;
    offA += i * p.batchStridesA[d];
    offB += i * p.batchStridesB[d];
  }
  // Neighbouring invocations load neighbouring addresses: along k when A is row-major, along m
  // when A is a transposed view (and likewise n or k for B).
  let aKFast = p.strideAk == 1u;
  let bNFast = p.strideBn == 1u || p.strideBk != 1u;

  var acc: array<vec4<f32>, 8>; // TM rows of TN cols
  for (var i = 0u; i < TM; i++) { acc[i] = vec4<f32>(0.0); }

  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var i = 0u; i < (BM * BK) / THREADS; i++) {
      let e = tid + i * THREADS;
      let m = select(e % BM, e / BK, aKFast);
      let kk = select(e / BM, e % BK, aKFast);
      let gm = tileRow + m;
      let gk = k0 + kk;
      var v = 0.0;
      if (live && gm < p.M && gk < p.K) { v = f32(a[offA + gm * p.strideAm + gk * p.strideAk]); }
      tileA[kk * BM + m] = v;
    }
    for (var i = 0u; i < (BN * BK) / THREADS; i++) {
      let e = tid + i * THREADS;
      let n = select(e / BK, e % BN, bNFast);
      let kk = select(e % BK, e / BN, bNFast);
      let gn = tileCol + n;
      let gk = k0 + kk;
      var v = 0.0;
      if (live && gn < p.N && gk < p.K) { v = f32(b[offB + gk * p.strideBk + gn * p.strideBn]); }
      tileB[kk * BN + n] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let bo = kk * BN + lid.x * TN;
      let bv = vec4<f32>(tileB[bo], tileB[bo + 1u], tileB[bo + 2u], tileB[bo + 3u]);
      let ao = kk * BM + lid.y * TM;
      for (var i = 0u; i < TM; i++) {
        acc[i] += tileA[ao + i] * bv;
      }
    }
    workgroupBarrier();
  }

  let base = bi * p.M * p.N;
  let col0 = tileCol + lid.x * TN;
  for (var i = 0u; i < TM; i++) {
    let row = tileRow + lid.y * TM + i;
    if (live && row < p.M) {
      let o = base + row * p.N + col0;
      let v = acc[i];
      if (col0 < p.N) { c[o] = T(v.x); }
      if (col0 + 1u < p.N) { c[o + 1u] = T(v.y); }
      if (col0 + 2u < p.N) { c[o + 2u] = T(v.z); }
      if (col0 + 3u < p.N) { c[o + 3u] = T(v.w); }
    }
  }
}
