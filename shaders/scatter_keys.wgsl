// First pass of a deterministic scatter-add (sort-then-segment): one (target, position) key pair per
// source position, padded to the sort's power-of-two length with (0xffffffff, position) so the
// padding sorts last. target = sum over position dims of c[k] * targetStrides[k]
// + clamp(index[c]) * dimStride. An index outside [0, dimSize - 1] is clamped, which keeps every
// later write inside the output, and recorded in the engine's error word (engine/device-checks.ts)
// as op p.op; the next readback throws RangeArgumentError.
alias I = i32; // index storage (i32 or u32)

struct Params {
  shape: array<vec4<u32>, 2>,         // position shape (the index's shape)
  idxStrides: array<vec4<u32>, 2>,
  targetStrides: array<vec4<u32>, 2>, // output strides per position dim (0 on the scattered dim)
  n: u32,
  rank: u32,
  idxOffset: u32,
  padded: u32,
  dimSize: u32,
  dimStride: u32,
  op: u32, // code reported for a bad index (scatterAdd or a gather/indexSelect/embedding backward)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> index: array<I>;
@group(0) @binding(2) var<storage, read_write> keys: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> err: array<atomic<u32>>; // the engine's error word

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
  if (i >= p.padded) { return; }
  if (i >= p.n) {
    keys[i] = vec2<u32>(0xffffffffu, i);
    return;
  }
  var ii = p.idxOffset;
  var dest = 0u;
  var rem = i;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let k = u32(d);
    let s = p.shape[k / 4u][k % 4u];
    let c = rem % s;
    rem = rem / s;
    ii += c * p.idxStrides[k / 4u][k % 4u];
    dest += c * p.targetStrides[k / 4u][k % 4u];
  }
  keys[i] = vec2<u32>(dest + clamp_index(index[ii], p.dimSize) * p.dimStride, i);
}
