// Inclusive prefix sum along one dim: one invocation per lane walks it serially (from the end when
// reverse = 1, the backward of cumsum). x is any strided view; out is contiguous.
alias T = f32; // storage
alias C = f32; // accumulator

struct Params {
  shape: array<vec4<u32>, 2>,      // x shape with the scanned dim set to 1 (enumerates lanes)
  strides: array<vec4<u32>, 2>,    // x strides
  outStrides: array<vec4<u32>, 2>, // contiguous strides of the output
  lanes: u32,
  rank: u32,
  offset: u32,
  len: u32,
  dim: u32,
  reverse: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let l = gid.y * nwg.x * WG + gid.x;
  if (l >= p.lanes) { return; }
  var ix = p.offset;
  var io = 0u;
  var rem = l;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let k = u32(d);
    let s = p.shape[k / 4u][k % 4u];
    let c = rem % s;
    rem = rem / s;
    ix += c * p.strides[k / 4u][k % 4u];
    io += c * p.outStrides[k / 4u][k % 4u];
  }
  let sx = p.strides[p.dim / 4u][p.dim % 4u];
  let so = p.outStrides[p.dim / 4u][p.dim % 4u];
  var acc = C(0);
  for (var t = 0u; t < p.len; t++) {
    let i = select(t, p.len - 1u - t, p.reverse == 1u);
    acc += C(x[ix + i * sx]);
    out[io + i * so] = T(acc);
  }
}
