// Bitonic sort of u32 (key, value) pairs into ascending (key, value) order, independently within
// aligned segments of `seg` elements (seg = n for one sort of the whole array). n and seg are powers
// of two. Two modes:
//   LOCAL = false: one compare-exchange step (block size k, distance j >= BLOCK) over the whole array,
//                  one invocation per pair.
//   LOCAL = true:  each workgroup loads BLOCK elements into workgroup memory and runs every step with
//                  distance < BLOCK of the stages k = kFirst, 2 kFirst, … kLast there (the first call
//                  sorts each block; later calls finish a stage after its long-distance global steps).
// Pairs are distinct (values are positions), so the order is total and the result deterministic.

struct Params {
  n: u32,
  seg: u32,
  a: u32, // global: k      local: kFirst
  b: u32, // global: j      local: kLast
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> data: array<vec2<u32>>;

override WG: u32 = 256;
override BLOCK: u32 = 512; // 2 * WG
override LOCAL: bool = false;

var<workgroup> sh: array<vec2<u32>, BLOCK>;

fn less(x: vec2<u32>, y: vec2<u32>) -> bool {
  return x.x < y.x || (x.x == y.x && x.y < y.y);
}

// Direction of the block holding element `lo` at stage k: masking with seg - 1 makes the last stage
// of every segment ascending.
fn ascending(lo: u32, k: u32) -> bool {
  return (lo & (p.seg - 1u) & k) == 0u;
}

// The lower element of pair t at distance j (a power of two).
fn lower(t: u32, j: u32) -> u32 {
  return ((t & ~(j - 1u)) << 1u) | (t & (j - 1u));
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let group = wid.y * nwg.x + wid.x;
  if (!LOCAL) {
    // No early return on a per-invocation condition: the LOCAL path below has barriers.
    let t = group * WG + lid.x;
    if (t < p.n / 2u) {
      let lo = lower(t, p.b);
      let hi = lo + p.b;
      let x = data[lo];
      let y = data[hi];
      if (less(y, x) == ascending(lo, p.a)) {
        data[lo] = y;
        data[hi] = x;
      }
    }
    return;
  }
  // Grids folded into y may hold spare workgroups: they are masked, not returned, around barriers.
  let live = group * BLOCK < p.n;
  let base = group * BLOCK;
  let t = lid.x;
  if (live) {
    sh[t] = data[base + t];
    sh[t + WG] = data[base + t + WG];
  }
  workgroupBarrier();
  for (var k = p.a; k <= p.b; k <<= 1u) {
    for (var j = min(k, BLOCK) >> 1u; j > 0u; j >>= 1u) {
      if (live) {
        let lo = lower(t, j);
        let hi = lo + j;
        let x = sh[lo];
        let y = sh[hi];
        if (less(y, x) == ascending(base + lo, k)) {
          sh[lo] = y;
          sh[hi] = x;
        }
      }
      workgroupBarrier();
    }
  }
  if (live) {
    data[base + t] = sh[t];
    data[base + t + WG] = sh[t + WG];
  }
}
