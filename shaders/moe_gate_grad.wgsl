// Expert dispatch backward: the gate-weight gradient, dw[n, s] = dot(dY[n], FFN_e(x[n])), from the
// expert outputs saved in sorted order (one invocation per (token, slot), a serial dot in d order).
alias T = f32; // storage; accumulation is always f32

struct Params {
  pairs: u32,
  width: u32,
  slots: u32,
  posBase: u32,
  offY: u32,
  ldy: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<T>;   // (N, D) rows of stride ldy
@group(0) @binding(2) var<storage, read> rows: array<T>; // (N k, D) expert outputs, sorted order
@group(0) @binding(3) var<storage, read> route: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<T>; // (N, k)

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.y * nwg.x * WG + gid.x;
  if (j >= p.pairs) { return; }
  let yr = p.offY + (j / p.slots) * p.ldy;
  let orow = route[p.posBase + j] * p.width;
  var acc = 0.0;
  for (var d = 0u; d < p.width; d++) {
    acc += f32(dy[yr + d]) * f32(rows[orow + d]);
  }
  out[j] = T(acc);
}
