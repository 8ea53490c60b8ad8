// The router's balancing statistics: per expert, the block partials of router.wgsl added in block
// order (a fixed order, so the score sums are the same bits on every run). One invocation per expert.
struct Params {
  experts: u32,
  blocks: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part_sums: array<f32>;
@group(0) @binding(2) var<storage, read> part_counts: array<i32>;
@group(0) @binding(3) var<storage, read_write> sums: array<f32>;
@group(0) @binding(4) var<storage, read_write> counts: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  if (e < p.experts) {
    var s = 0.0;
    var c = 0;
    for (var b = 0u; b < p.blocks; b++) {
      s += part_sums[b * p.experts + e];
      c += part_counts[b * p.experts + e];
    }
    sums[e] = s;
    counts[e] = c;
  }
}
