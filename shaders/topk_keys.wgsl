// Sort keys for topk: rows of a contiguous [rows, cols] block become segments of `seg` (a power of two
// >= cols) of (order key, column) pairs; padding gets (0xffffffff, 0xffffffff) so it sorts last.
// The order key is a u32 whose unsigned order is the value's order (largest first when LARGEST), so an
// ascending sort by (key, column) puts the top values first and ties at the lower index.
alias T = f32;

struct Params {
  rows: u32,
  cols: u32,
  seg: u32,
  offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> keys: array<vec2<u32>>;

override WG: u32 = 64;
override LARGEST: bool = true;
// 0 float (f32 or f16), 1 i32, 2 u32
override KIND: u32 = 0;

fn order_key(v: T) -> u32 {
  if (KIND == 1u) { return bitcast<u32>(i32(v)) ^ 0x80000000u; }
  if (KIND == 2u) { return u32(v); }
  let f = f32(v);
  // -0 and +0 compare equal, so they must get one key (ties go to the lower index).
  let bits = select(bitcast<u32>(f), 0u, f == 0.0);
  return select(~bits, bits | 0x80000000u, (bits & 0x80000000u) == 0u);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * WG + gid.x;
  if (i >= p.rows * p.seg) { return; }
  let r = i / p.seg;
  let c = i % p.seg;
  if (c >= p.cols) {
    keys[i] = vec2<u32>(0xffffffffu, 0xffffffffu);
    return;
  }
  let key = order_key(x[p.offset + r * p.cols + c]);
  keys[i] = vec2<u32>(select(key, ~key, LARGEST), c);
}
