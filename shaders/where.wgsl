// out[i] = cond[i] != 0 ? a[i] : b[i], all three broadcast through strides (stride 0 on broadcast
// dims). Four consecutive elements per invocation, written as one vec4, as binary.wgsl does: one
// index computation (a div/mod per dim) serves all four lanes unless they cross the last dim, where
// a second one serves the rest. (One div/mod chain per element made a causal mask of attention
// scores cost more than the matmul that produced them on lavapipe.)
alias T = f32; // value storage
alias K = u32; // condition storage

struct Params {
  shape: array<vec4<u32>, 2>,
  stridesC: array<vec4<u32>, 2>,
  stridesA: array<vec4<u32>, 2>,
  stridesB: array<vec4<u32>, 2>,
  n: u32,
  offsetC: u32,
  offsetA: u32,
  offsetB: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cond: array<K>;
@group(0) @binding(2) var<storage, read> a: array<vec4<T>>;
@group(0) @binding(3) var<storage, read> b: array<vec4<T>>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<T>>;

override WG: u32 = 64;
// All three contiguous, of the output's shape, a and b starting on a multiple of 4: whole vec4 loads.
override ALIGNED: bool = false;
// The output's rank, as a constant: the index loop unrolls with constant component indices.
override RANK: u32 = 8;

// Element i's positions in cond, a and b (shared div/mod along the output's dims).
fn src_index(i: u32) -> vec3<u32> {
  var rem = i;
  var ix = vec3<u32>(p.offsetC, p.offsetA, p.offsetB);
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let k = u32(d);
    let s = p.shape[k / 4u][k % 4u];
    let c = rem % s;
    rem = rem / s;
    ix += c * vec3<u32>(p.stridesC[k / 4u][k % 4u], p.stridesA[k / 4u][k % 4u], p.stridesB[k / 4u][k % 4u]);
  }
  return ix;
}

// The four lanes' positions in one input: from `here` along the last dim (stride s), continuing
// from `next` (the start of the following row) past column `inner`; lanes past n repeat `here`.
fn lanes(here: u32, next: u32, c: u32, inner: u32, s: u32, past: vec4<bool>) -> vec4<u32> {
  let col = vec4<u32>(c) + vec4<u32>(0u, 1u, 2u, 3u);
  let k = select(vec4<u32>(here) + (col - c) * s, vec4<u32>(next) + (col - inner) * s, col >= vec4<u32>(inner));
  return select(k, vec4<u32>(here), past);
}

fn load_a(idx: u32) -> T {
  return a[idx / 4u][idx % 4u];
}
fn load_b(idx: u32) -> T {
  return b[idx / 4u][idx % 4u];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = gid.y * nwg.x * WG + gid.x; // vec4 index into the output
  let i = 4u * q;
  if (i >= p.n) { return; }
  let last = p.n - 1u;
  let past = vec4<u32>(i) + vec4<u32>(0u, 1u, 2u, 3u) > vec4<u32>(last);
  var kc: vec4<u32>;
  var va: vec4<T>;
  var vb: vec4<T>;
  if (ALIGNED) {
    kc = select(vec4<u32>(p.offsetC + i) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.offsetC + i), past);
    va = a[p.offsetA / 4u + q];
    vb = b[p.offsetB / 4u + q];
  } else {
    let r = max(RANK, 1u) - 1u;
    let inner = p.shape[r / 4u][r % 4u];
    var ka: vec4<u32>;
    var kb: vec4<u32>;
    if (RANK > 0u && inner >= 4u) {
      // Four consecutive elements cross at most one boundary of a last dim >= 4.
      let c = i % inner;
      let here = src_index(i);
      let next = src_index(min(i - c + inner, last));
      kc = lanes(here.x, next.x, c, inner, p.stridesC[r / 4u][r % 4u], past);
      ka = lanes(here.y, next.y, c, inner, p.stridesA[r / 4u][r % 4u], past);
      kb = lanes(here.z, next.z, c, inner, p.stridesB[r / 4u][r % 4u], past);
    } else {
      let i0 = src_index(i);
      let i1 = src_index(min(i + 1u, last));
      let i2 = src_index(min(i + 2u, last));
      let i3 = src_index(min(i + 3u, last));
      kc = vec4<u32>(i0.x, i1.x, i2.x, i3.x);
      ka = vec4<u32>(i0.y, i1.y, i2.y, i3.y);
      kb = vec4<u32>(i0.z, i1.z, i2.z, i3.z);
    }
    va = vec4<T>(load_a(ka.x), load_a(ka.y), load_a(ka.z), load_a(ka.w));
    vb = vec4<T>(load_b(kb.x), load_b(kb.y), load_b(kb.z), load_b(kb.w));
  }
  let take = vec4<bool>(cond[kc.x] != K(0), cond[kc.y] != K(0), cond[kc.z] != K(0), cond[kc.w] != K(0));
  out[q] = select(vb, va, take);
}
