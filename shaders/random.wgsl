// Counter-based random numbers: element i uses counters offset + 2i and offset + 2i + 1 of stream
// `seed`, so results depend only on (seed, offset, i): reproducible and order-free.
alias T = f32;

struct Params {
  n: u32,
  seed: u32,
  offset: u32,
  // uniform: [lo, hi); normal: mean, std; bernoulli: keep probability in lo
  lo: f32,
  hi: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<T>;

override WG: u32 = 64;
// 0 uniform, 1 normal (Box-Muller), 2 bernoulli (1 with probability lo, else 0)
override DIST: u32 = 0;

// A 32-bit integer mixer (xorshift-multiply, "lowbias32" constants).
fn mix32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn uniform01(counter: u32) -> f32 {
  let h = mix32(counter ^ mix32(p.seed + 0x9e3779b9u));
  return f32(h >> 8u) * (1.0 / 16777216.0); // [0, 1) in steps of 2^-24
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * WG + gid.x;
  if (i >= p.n) { return; }
  let c = p.offset + 2u * i;
  let u1 = uniform01(c);
  var v: f32;
  if (DIST == 1u) {
    let u2 = uniform01(c + 1u);
    let r = sqrt(-2.0 * log(1.0 - u1)); // 1 - u1 is in (0, 1]
    v = p.lo + p.hi * r * cos(6.283185307179586 * u2);
  } else if (DIST == 2u) {
    v = select(0.0, 1.0, u1 < p.lo);
  } else {
    v = p.lo + (p.hi - p.lo) * u1;
  }
  out[i] = T(v);
}
