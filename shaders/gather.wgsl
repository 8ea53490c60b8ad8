// out[c] = x[c with c[dim] replaced by index[c]] over the output's multi-index c: gather, indexSelect
// and embedding are all this kernel with different strides (a stride of 0 where x or the index does
// not vary with an output dim). An index outside [0, dimSize - 1] is clamped, so every read stays
// inside x's storage, and recorded in the engine's error word (engine/device-checks.ts) as op p.op;
// the next readback throws RangeArgumentError.
alias T = f32; // value storage
alias I = i32; // index storage (i32 or u32)

struct Params {
  shape: array<vec4<u32>, 2>,      // output shape
  xStrides: array<vec4<u32>, 2>,   // x strides per output dim (0 on the gathered dim)
  idxStrides: array<vec4<u32>, 2>, // index strides per output dim (0 where the index is broadcast)
  n: u32,
  rank: u32,
  xOffset: u32,
  idxOffset: u32,
  dimSize: u32,
  dimStride: u32, // x stride of the gathered dim
  op: u32,        // code reported for a bad index (gather, indexSelect or embedding)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> index: array<I>;
@group(0) @binding(3) var<storage, read_write> out: array<T>;
@group(0) @binding(4) var<storage, read_write> err: array<atomic<u32>>; // the engine's error word

override WG: u32 = 64;

// @shared report: the engine splices in the error word's report() (SHARED in engine/shaders.ts);
// this stand-in keeps the file valid WGSL on its own.
fn report(v: I, size: u32) {
}
// @end shared

fn clamp_index(v: I, size: u32) -> u32 {
  if (v < I(0) || u32(v) >= size) { report(v, size); }
  return min(u32(max(v, I(0))), size - 1u);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * WG + gid.x;
  if (i >= p.n) { return; }
  var ix = p.xOffset;
  var ii = p.idxOffset;
  var rem = i;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let k = u32(d);
    let s = p.shape[k / 4u][k % 4u];
    let c = rem % s;
    rem = rem / s;
    ix += c * p.xStrides[k / 4u][k % 4u];
    ii += c * p.idxStrides[k / 4u][k % 4u];
  }
  out[i] = x[ix + clamp_index(index[ii], p.dimSize) * p.dimStride];
}
