// Fused attention backward, step 1: Dr[row] = sum_d dO[row, d] * O[row, d] (= rowsum(P * dP)), the
// term every dS = P * (dP - Dr) needs, computed once per query row instead of once per key tile.
// O is the forward's contiguous (B, H, Tq, D) output; dO is addressed by offset and strides like q.
alias T = f32;

struct Params {
  B: u32, H: u32, Tq: u32, D: u32,
  gOff: u32, gSB: u32, gSH: u32, gST: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> o: array<T>;
@group(0) @binding(2) var<storage, read> dout: array<T>;
@group(0) @binding(3) var<storage, read_write> dr: array<f32>; // (B, H, Tq)

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.y * nwg.x * WG + gid.x;
  if (row >= p.B * p.H * p.Tq) { return; } // no barriers here
  let t = row % p.Tq;
  let bh = row / p.Tq;
  let gBase = p.gOff + (bh / p.H) * p.gSB + (bh % p.H) * p.gSH + t * p.gST;
  var acc = 0.0;
  for (var d = 0u; d < p.D; d++) { acc = fma(f32(dout[gBase + d]), f32(o[row * p.D + d]), acc); }
  dr[row] = acc;
}
