// Batched matmul, register-blocked: C[b] = A[b] @ B[b], A (M, K), B (K, N), C contiguous (M, N).
// Each invocation computes a 4x4 block of C from global memory with no workgroup memory and no
// barriers (on lavapipe this beats shared-memory tiling 3-4x: its "shared memory" is ordinary
// memory and a barrier ends a SIMD batch). A and B are read through arbitrary row/col strides and
// offsets, so transposed and sliced views need no copy. Batch dims (up to 4, right-aligned, leading
// ones padded) carry per-operand strides that are 0 where an operand is broadcast.
// Shared Params layout with matmul_tiled.wgsl.
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
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read_write> c: array<T>;

// Invocations per workgroup along N (x) and M (y); the tile is (4 WGY) x (4 WGX) outputs. The ops
// layer makes the workgroup thin for matrix-vector shapes.
override WGX: u32 = 8;
override WGY: u32 = 8;

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let tilesN = (p.N + 4u * WGX - 1u) / (4u * WGX);
  let tilesM = (p.M + 4u * WGY - 1u) / (4u * WGY);
  // Workgroups are numbered batch-major over a grid folded into x and y.
  let g = wid.y * nwg.x + wid.x;
  let bi = g / (tilesN * tilesM);
  let t = g % (tilesN * tilesM);
  let row0 = (t / tilesN) * 4u * WGY + lid.y * 4u;
  let col0 = (t % tilesN) * 4u * WGX + lid.x * 4u;
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
  let ra0 = offA + min(row0, p.M - 1u) * p.strideAm;
  let ra1 = offA + min(row0 + 1u, p.M - 1u) * p.strideAm;
  let ra2 = offA + min(row0 + 2u, p.M - 1u) * p.strideAm;
  let ra3 = offA + min(row0 + 3u, p.M - 1u) * p.strideAm;
  let cb0 = offB + min(col0, p.N - 1u) * p.strideBn;
  let cb1 = offB + min(col0 + 1u, p.N - 1u) * p.strideBn;
  let cb2 = offB + min(col0 + 2u, p.N - 1u) * p.strideBn;
  let cb3 = offB + min(col0 + 3u, p.N - 1u) * p.strideBn;

  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var ka = 0u;
  var kb = 0u;
  for (var k = 0u; k < p.K; k++) {
    let bv = vec4<f32>(f32(b[cb0 + kb]), f32(b[cb1 + kb]), f32(b[cb2 + kb]), f32(b[cb3 + kb]));
    acc0 += f32(a[ra0 + ka]) * bv;
    acc1 += f32(a[ra1 + ka]) * bv;
    acc2 += f32(a[ra2 + ka]) * bv;
    acc3 += f32(a[ra3 + ka]) * bv;
    ka += p.strideAk;
    kb += p.strideBk;
  }

  let base = bi * p.M * p.N;
  store_row(base, row0, col0, acc0);
  store_row(base, row0 + 1u, col0, acc1);
  store_row(base, row0 + 2u, col0, acc2);
  store_row(base, row0 + 3u, col0, acc3);
}

fn store_row(base: u32, row: u32, col0: u32, v: vec4<f32>) {
  if (row >= p.M) { return; }
  let o = base + row * p.N + col0;
  c[o] = T(v.x);
  if (col0 + 1u < p.N) { c[o + 1u] = T(v.y); }
  if (col0 + 2u < p.N) { c[o + 2u] = T(v.z); }
  if (col0 + 3u < p.N) { c[o + 3u] = T(v.w); }
}
