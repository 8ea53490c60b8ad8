// Expert dispatch, counting sort pass 2 (one workgroup): turns the per-block counts into each
// block's first destination per expert, and writes the expert offsets and the tile map that the
// grouped GEMMs read: route[0..E] = exclusive offsets (route[E] = N * k), route[E+1..2E+1] = first
// TILE_M-row tile of each expert (route[2E+1] = total tiles).
struct Params {
  experts: u32,
  blocks: u32,
  tileM: u32,
  pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> counts: array<u32>; // (blocks, E) counts in, offsets out
@group(0) @binding(2) var<storage, read_write> route: array<u32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let E = p.experts;
  // Per expert: exclusive scan over blocks, in block order (the stable order), and the total.
  for (var e = lid.x; e < E; e += WG) {
    var run = 0u;
    for (var b = 0u; b < p.blocks; b++) {
      let i = b * E + e;
      let c = counts[i];
      counts[i] = run;
      run += c;
    }
    route[e + 1u] = run;
  }
  storageBarrier();
  // Serial scan over experts (E is small next to the pairs).
  if (lid.x == 0u) {
    var acc = 0u;
    var tiles = 0u;
    route[0] = 0u;
    for (var e = 0u; e < E; e++) {
      let c = route[e + 1u];
      route[E + 1u + e] = tiles;
      tiles += (c + p.tileM - 1u) / p.tileM;
      acc += c;
      route[e + 1u] = acc;
    }
    route[2u * E + 1u] = tiles;
  }
  storageBarrier();
  for (var e = lid.x; e < E; e += WG) {
    let base = route[e];
    for (var b = 0u; b < p.blocks; b++) {
      counts[b * E + e] += base;
    }
  }
}
