// matmul.wgsl for a B whose rows are contiguous and aligned to 4 elements (strideBn = 1; N, the
// offset, strideBk and B's batch strides multiples of 4): B is read and C written as vec4, one
// 16-byte load per lane on lavapipe where matmul.wgsl does four gathers (~1.25x at 8x8 blocks in a
// raw A/B at 512^3). Same Params (in elements), workgroup folding, clamping and TALL/WIDE blocks;
// the ops layer picks it. A stays scalar: its rows may be any view (for x @ W^T, A is x and B is
// W^T, which is not row-contiguous, so Linear's forward runs matmul.wgsl).
alias T = f32; // storage; accumulation is always f32

struct Params {
  batchShape: vec4<u32>,
  batchStridesA: vec4<u32>,
  batchStridesB: vec4<u32>,
  M: u32,
  N: u32,
  K: u32,
  batch: u32, // product of batchShape
  strideAm: u32,
  strideAk: u32,
  strideBk: u32,
  strideBn: u32,
  offsetA: u32,
  offsetB: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<vec4<T>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<T>>;

override WGX: u32 = 8;
override WGY: u32 = 8;
override TALL: bool = false;
override WIDE: bool = false;

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let rm = select(4u, 8u, TALL);
  let rn = select(4u, 8u, WIDE);
  let tilesN = (p.N + rn * WGX - 1u) / (rn * WGX);
  let tilesM = (p.M + rm * WGY - 1u) / (rm * WGY);
  let g = wid.y * nwg.x + wid.x;
  let bi = g / (tilesN * tilesM);
  let t = g % (tilesN * tilesM);
  let row0 = (t / tilesN) * rm * WGY + lid.y * rm;
  let col0 = (t % tilesN) * rn * WGX + lid.x * rn; // a multiple of 4, and N is: col0 < N covers 4 cols
  if (bi >= p.batch || row0 >= p.M || col0 >= p.N) { return; }

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

  let lastM = p.M - 1u;
  let ra0 = offA + min(row0, lastM) * p.strideAm;
  let ra1 = offA + min(row0 + 1u, lastM) * p.strideAm;
  let ra2 = offA + min(row0 + 2u, lastM) * p.strideAm;
  let ra3 = offA + min(row0 + 3u, lastM) * p.strideAm;
  let ra4 = offA + min(row0 + 4u, lastM) * p.strideAm;
  let ra5 = offA + min(row0 + 5u, lastM) * p.strideAm;
  let ra6 = offA + min(row0 + 6u, lastM) * p.strideAm;
  let ra7 = offA + min(row0 + 7u, lastM) * p.strideAm;
  // In vec4 units; the right half is clamped onto the left one past N (never stored).
  let cbl = (offB + col0) / 4u;
  let cbr = (offB + min(col0 + 4u, p.N - 4u)) / 4u;
  let strideBk4 = p.strideBk / 4u;

  var acc0l = vec4<f32>(0.0); var acc0r = vec4<f32>(0.0);
  var acc1l = vec4<f32>(0.0); var acc1r = vec4<f32>(0.0);
  var acc2l = vec4<f32>(0.0); var acc2r = vec4<f32>(0.0);
  var acc3l = vec4<f32>(0.0); var acc3r = vec4<f32>(0.0);
  var acc4l = vec4<f32>(0.0); var acc4r = vec4<f32>(0.0);
  var acc5l = vec4<f32>(0.0); var acc5r = vec4<f32>(0.0);
  var acc6l = vec4<f32>(0.0); var acc6r = vec4<f32>(0.0);
  var acc7l = vec4<f32>(0.0); var acc7r = vec4<f32>(0.0);
  var ka = 0u;
  var kb = 0u;
  for (var k = 0u; k < p.K; k++) {
    let bl = vec4<f32>(b[cbl + kb]);
    var br = vec4<f32>(0.0);
    if (WIDE) { br = vec4<f32>(b[cbr + kb]); }
    let a0 = f32(a[ra0 + ka]);
    let a1 = f32(a[ra1 + ka]);
    let a2 = f32(a[ra2 + ka]);
    let a3 = f32(a[ra3 + ka]);
    acc0l += a0 * bl;
    acc1l += a1 * bl;
    acc2l += a2 * bl;
    acc3l += a3 * bl;
    if (WIDE) {
      acc0r += a0 * br;
      acc1r += a1 * br;
      acc2r += a2 * br;
      acc3r += a3 * br;
    }
    if (TALL) {
      let a4 = f32(a[ra4 + ka]);
      let a5 = f32(a[ra5 + ka]);
      let a6 = f32(a[ra6 + ka]);
      let a7 = f32(a[ra7 + ka]);
      acc4l += a4 * bl;
      acc5l += a5 * bl;
      acc6l += a6 * bl;
      acc7l += a7 * bl;
      if (WIDE) {
        acc4r += a4 * br;
        acc5r += a5 * br;
        acc6r += a6 * br;
        acc7r += a7 * br;
      }
    }
    ka += p.strideAk;
    kb += strideBk4;
  }

  let base = (bi * p.M * p.N + col0) / 4u;
  store_row(base, row0, col0, acc0l, acc0r);
  store_row(base, row0 + 1u, col0, acc1l, acc1r);
  store_row(base, row0 + 2u, col0, acc2l, acc2r);
  store_row(base, row0 + 3u, col0, acc3l, acc3r);
  if (TALL) {
    store_row(base, row0 + 4u, col0, acc4l, acc4r);
    store_row(base, row0 + 5u, col0, acc5l, acc5r);
    store_row(base, row0 + 6u, col0, acc6l, acc6r);
    store_row(base, row0 + 7u, col0, acc7l, acc7r);
  }
}

// base: (batch offset + col0) / 4; a row holds N / 4 vec4s.
fn store_row(base: u32, row: u32, col0: u32, l: vec4<f32>, r: vec4<f32>) {
  if (row >= p.M) { return; }
  let o = base + row * (p.N / 4u);
  c[o] = vec4<T>(l);
  if (WIDE && col0 + 4u < p.N) { c[o + 1u] = vec4<T>(r); }
}
