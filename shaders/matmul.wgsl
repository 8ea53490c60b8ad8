// Batched matmul, register-blocked: C[b] = A[b] @ B[b], A (M, K), B (K, N), C contiguous (M, N).
// Each invocation computes a 4x4, 4x8, 8x4 or 8x8 block of C from global memory with no workgroup
// memory and no barriers (on lavapipe this beats shared-memory tiling 3-4x: its "shared memory" is
// ordinary memory and a barrier ends a SIMD batch). Every load is a gather there, so the bigger
// block (2 loads per 8 FMAs instead of 2 per 4) is ~1.8x faster on large products. A and B are read
// through arbitrary row/col strides and offsets, so transposed and sliced views need no copy. Batch
// dims (up to 4, right-aligned, leading ones padded) carry per-operand strides that are 0 where an
// operand is broadcast. Shared Params layout with matmul_tiled.wgsl.
// Variant vec4 (engine/shaders.ts specialise), for a B whose rows are contiguous and aligned to 4
// elements (strideBn = 1; N, the offset, strideBk and B's batch strides multiples of 4): B is read and
// C written as vec4, one 16-byte load per lane on lavapipe where the scalar kernel does four gathers
// (~1.25x at 8x8 blocks in a raw A/B at 512^3). A stays scalar: its rows may be any view (for
// x @ W^T, A is x and B is W^T, which is not row-contiguous, so Linear's forward runs the scalar one).
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
// @block bindings
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read_write> c: array<T>;
// @end block

// Invocations per workgroup along N (x) and M (y), and whether each invocation takes 8 rows (TALL)
// and 8 cols (WIDE) instead of 4: the tile is (4|8 WGY) x (4|8 WGX) outputs. Both flags are
// override constants, so the unused half of the block compiles away. The ops layer makes the
// workgroup thin for matrix-vector shapes and the block big for large ones.
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
  // Workgroups are numbered batch-major over a grid folded into x and y.
  let g = wid.y * nwg.x + wid.x;
  let bi = g / (tilesN * tilesM);
  let t = g % (tilesN * tilesM);
  let row0 = (t / tilesN) * rm * WGY + lid.y * rm;
  let col0 = (t % tilesN) * rn * WGX + lid.x * rn;
  // No barriers in this kernel, so invocations with no output may leave at once.
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

  // Rows and cols past the edge are clamped onto the last valid one: loads stay in range without a
  // branch in the K loop, and their results are never stored.
  let lastM = p.M - 1u;
  let ra0 = offA + min(row0, lastM) * p.strideAm;
  let ra1 = offA + min(row0 + 1u, lastM) * p.strideAm;
  let ra2 = offA + min(row0 + 2u, lastM) * p.strideAm;
  let ra3 = offA + min(row0 + 3u, lastM) * p.strideAm;
  let ra4 = offA + min(row0 + 4u, lastM) * p.strideAm;
  let ra5 = offA + min(row0 + 5u, lastM) * p.strideAm;
  let ra6 = offA + min(row0 + 6u, lastM) * p.strideAm;
  let ra7 = offA + min(row0 + 7u, lastM) * p.strideAm;
  // @block columns: where this invocation's B columns start, and B's step along K
  let lastN = p.N - 1u;
  let cb0 = offB + min(col0, lastN) * p.strideBn;
  let cb1 = offB + min(col0 + 1u, lastN) * p.strideBn;
  let cb2 = offB + min(col0 + 2u, lastN) * p.strideBn;
  let cb3 = offB + min(col0 + 3u, lastN) * p.strideBn;
  let cb4 = offB + min(col0 + 4u, lastN) * p.strideBn;
  let cb5 = offB + min(col0 + 5u, lastN) * p.strideBn;
  let cb6 = offB + min(col0 + 6u, lastN) * p.strideBn;
  let cb7 = offB + min(col0 + 7u, lastN) * p.strideBn;
  let stepB = p.strideBk;
  // @end block

  // accRL: row R of the block, left (cols 0-3) or right (cols 4-7) half.
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
    // @block loads: B's left and right four columns at this k
    let bl = vec4<f32>(f32(b[cb0 + kb]), f32(b[cb1 + kb]), f32(b[cb2 + kb]), f32(b[cb3 + kb]));
    var br = vec4<f32>(0.0);
    if (WIDE) { br = vec4<f32>(f32(b[cb4 + kb]), f32(b[cb5 + kb]), f32(b[cb6 + kb]), f32(b[cb7 + kb])); }
    // @end block
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
    kb += stepB;
  }

  let base = bi * p.M * p.N;
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

// @block store: C rows from the block's left and right halves; base is the batch's offset in C
fn store_row(base: u32, row: u32, col0: u32, l: vec4<f32>, r: vec4<f32>) {
  if (row >= p.M) { return; }
  let o = base + row * p.N + col0;
  store4(o, col0, l);
  if (WIDE && col0 + 4u < p.N) { store4(o + 4u, col0 + 4u, r); }
}

fn store4(o: u32, col: u32, v: vec4<f32>) {
  c[o] = T(v.x);
  if (col + 1u < p.N) { c[o + 1u] = T(v.y); }
  if (col + 2u < p.N) { c[o + 2u] = T(v.z); }
  if (col + 3u < p.N) { c[o + 3u] = T(v.w); }
}
// @end block

// @variant vec4 bindings
// @group(0) @binding(2) var<storage, read> b: array<vec4<T>>;
// @group(0) @binding(3) var<storage, read_write> c: array<vec4<T>>;
// @end variant

// @variant vec4 columns
//   // In vec4 units; the right half is clamped onto the left one past N (never stored). col0 is a
//   // multiple of 4, and so is N: col0 < N covers 4 cols.
//   let cbl = (offB + col0) / 4u;
//   let cbr = (offB + min(col0 + 4u, p.N - 4u)) / 4u;
//   let stepB = p.strideBk / 4u;
// @end variant

// @variant vec4 loads
//     let bl = vec4<f32>(b[cbl + kb]);
//     var br = vec4<f32>(0.0);
//     if (WIDE) { br = vec4<f32>(b[cbr + kb]); }
// @end variant

// @variant vec4 store
// // A row of C holds N / 4 vec4s.
// fn store_row(base: u32, row: u32, col0: u32, l: vec4<f32>, r: vec4<f32>) {
//   if (row >= p.M) { return; }
//   let o = (base + col0) / 4u + row * (p.N / 4u);
//   c[o] = vec4<T>(l);
//   if (WIDE && col0 + 4u < p.N) { c[o + 1u] = vec4<T>(r); }
// }
// @end variant
