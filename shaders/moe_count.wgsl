// Expert dispatch, counting sort pass 1: how many of each block of BLOCK (token, slot) pairs go to
// each expert. One invocation per (block, expert) scans its block, so there are no atomics and the
// counts are exact. Expert indices outside [0, E - 1] are clamped, which keeps every later access
// in bounds (moe_scatter clamps the same way), and recorded in the engine's error word
// (engine/device-checks.ts) as op p.op; the next readback throws RangeArgumentError.
alias I = i32; // index storage (i32 or u32)

struct Params {
  pairs: u32, // N * k
  experts: u32,
  blocks: u32, // ceil(pairs / BLOCK)
  offIdx: u32,
  op: u32, // code reported for a bad index (expertFFN)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> indices: array<I>;       // (N, k) contiguous
@group(0) @binding(2) var<storage, read_write> counts: array<u32>; // (blocks, E)
@group(0) @binding(3) var<storage, read_write> err: array<atomic<u32>>; // the engine's error word

override WG: u32 = 64;
const BLOCK: u32 = 256u; // pairs per block; must match moe_scatter.wgsl

// @shared report: the engine splices in the error word's report() (SHARED in engine/shaders.ts);
// this stand-in keeps the file valid WGSL on its own.
fn report(v: I, size: u32) {
}
// @end shared

fn expert_of(j: u32) -> u32 {
  let v = indices[p.offIdx + j];
  if (v < I(0) || u32(v) >= p.experts) { report(v, p.experts); }
  return min(u32(max(v, I(0))), p.experts - 1u);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * WG + gid.x;
  if (i >= p.blocks * p.experts) { return; }
  let b = i / p.experts;
  let e = i % p.experts;
  let end = min((b + 1u) * BLOCK, p.pairs);
  var c = 0u;
  for (var j = b * BLOCK; j < end; j++) {
    if (expert_of(j) == e) { c++; }
  }
  counts[i] = c;
}
