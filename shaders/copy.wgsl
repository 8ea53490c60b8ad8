// Strided copy: dst view <- src view of the same shape (cat, pad, writes into a slice).
alias T = f32;

struct Params {
  shape: array<vec4<u32>, 2>,
  srcStrides: array<vec4<u32>, 2>,
  dstStrides: array<vec4<u32>, 2>,
  n: u32,
  rank: u32,
  srcOffset: u32,
  dstOffset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<T>;
@group(0) @binding(2) var<storage, read_write> dst: array<T>;

override WG: u32 = 64;
override ELEMS: u32 = 4;

fn element(i: u32) {
  var is = p.srcOffset;
  var id = p.dstOffset;
  var rem = i;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let k = u32(d);
    let s = p.shape[k / 4u][k % 4u];
    let c = rem % s;
    rem = rem / s;
    is += c * p.srcStrides[k / 4u][k % 4u];
    id += c * p.dstStrides[k / 4u][k % 4u];
  }
  dst[id] = src[is];
}

// Grid-stride: ELEMS elements per invocation, one grid apart (coalesced on GPUs; on CPU
// implementations fewer invocations measured 3-4x the bandwidth of one element each).
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = gid.y * nwg.x * WG + gid.x;
  let stride = nwg.x * nwg.y * WG;
  for (var j = 0u; j < ELEMS; j++) {
    let i = first + j * stride;
    if (i < p.n) { element(i); }
  }
}
