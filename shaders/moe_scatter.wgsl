// Expert dispatch, counting sort pass 3: stable scatter. Pair j = n * k + s of block b lands at
// its block's offset for its expert plus its rank among the block's earlier pairs with the same
// expert, so rows within an expert are in (token, slot) order and the result never depends on
// scheduling. Writes the sorted pair ids and, for the gathers, each pair's position.
alias I = i32; // index storage (i32 or u32)

struct Params {
  pairs: u32,
  experts: u32,
  sortedBase: u32, // route[sortedBase + row] = pair id
  posBase: u32,    // route[posBase + pair] = row
  offIdx: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> indices: array<I>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>; // (blocks, E) from moe_scan
@group(0) @binding(3) var<storage, read_write> route: array<u32>;

const BLOCK: u32 = 256u; // must match moe_count.wgsl

var<workgroup> ex: array<u32, BLOCK>;

// Clamped as in moe_count.wgsl, which reports an out-of-range index.
fn expert_of(j: u32) -> u32 {
  let v = indices[p.offIdx + j];
  return min(u32(max(v, I(0))), p.experts - 1u);
}

@compute @workgroup_size(BLOCK)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = wid.y * nwg.x + wid.x;
  let j = b * BLOCK + lid.x;
  let valid = j < p.pairs;
  var e = 0xffffffffu;
  if (valid) { e = expert_of(j); }
  ex[lid.x] = e; // every slot written: workgroup memory is not assumed zeroed
  workgroupBarrier();
  var rank = 0u;
  for (var i = 0u; i < lid.x; i++) {
    if (ex[i] == e) { rank++; }
  }
  if (valid) {
    let dest = offsets[b * p.experts + e] + rank;
    route[p.sortedBase + dest] = j;
    route[p.posBase + j] = dest;
  }
}
