// out[i] = f(a[i], b[i]) with broadcasting through strides (stride 0 on broadcast dims); ops and codes
// from engine/ops/elementwise-table.ts.
// Arithmetic runs in C (f32 for float storage, the int type itself for ints); comparisons write 0/1.
// The data is bound as vec4 and the math runs on vec4s, four consecutive elements per invocation
// (see unary.wgsl for why).
alias T = f32; // input storage
alias C = f32; // compute type
alias O = f32; // output storage

struct Params {
  shape: array<vec4<u32>, 2>,
  stridesA: array<vec4<u32>, 2>,
  stridesB: array<vec4<u32>, 2>,
  n: u32,
  offsetA: u32,
  offsetB: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<T>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<O>>;

override WG: u32 = 64;
override OP: u32 = 0;
// Both inputs contiguous, of the output's shape, starting on a multiple of 4: whole vec4 loads.
override ALIGNED: bool = false;
// The output's rank, as a constant: the index loop unrolls with constant component indices.
override RANK: u32 = 8;

alias VC = vec4<C>;

// @generated: the engine replaces everything up to "@end generated" with the helpers, the fused
// activation gradients and the `apply` switch generated from the op table
// (engine/ops/elementwise-table.ts). What stands here keeps the file valid WGSL on its own.
fn apply(x: VC, y: VC) -> VC {
  return x;
}
// @end generated

// Element i's positions in a and b (shared div/mod along the output's dims).
fn src_index(i: u32) -> vec2<u32> {
  var rem = i;
  var ia = p.offsetA;
  var ib = p.offsetB;
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let k = u32(d);
    let s = p.shape[k / 4u][k % 4u];
    let c = rem % s;
    rem = rem / s;
    ia += c * p.stridesA[k / 4u][k % 4u];
    ib += c * p.stridesB[k / 4u][k % 4u];
  }
  return vec2<u32>(ia, ib);
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
  var va: vec4<T>;
  var vb: vec4<T>;
  if (ALIGNED) {
    va = a[p.offsetA / 4u + q];
    vb = b[p.offsetB / 4u + q];
  } else {
    // Four consecutive elements cross at most one boundary of a last dim >= 4: two full index
    // computations give all four. Lanes past n read element i again (never stored past n's vec4).
    let last = p.n - 1u;
    let r = max(RANK, 1u) - 1u;
    let inner = p.shape[r / 4u][r % 4u];
    let e = vec4<u32>(i) + vec4<u32>(0u, 1u, 2u, 3u);
    var ka: vec4<u32>;
    var kb: vec4<u32>;
    if (RANK > 0u && inner >= 4u) {
      let c = i % inner;
      let here = src_index(i);
      let next = src_index(min(i - c + inner, last));
      let col = vec4<u32>(c) + vec4<u32>(0u, 1u, 2u, 3u);
      let wrap = col >= vec4<u32>(inner);
      let sa = p.stridesA[r / 4u][r % 4u];
      let sb = p.stridesB[r / 4u][r % 4u];
      ka = select(vec4<u32>(here.x) + (col - c) * sa, vec4<u32>(next.x) + (col - inner) * sa, wrap);
      kb = select(vec4<u32>(here.y) + (col - c) * sb, vec4<u32>(next.y) + (col - inner) * sb, wrap);
      let past = e > vec4<u32>(last);
      ka = select(ka, vec4<u32>(here.x), past);
      kb = select(kb, vec4<u32>(here.y), past);
    } else {
      let i0 = src_index(i);
      let i1 = src_index(min(i + 1u, last));
      let i2 = src_index(min(i + 2u, last));
      let i3 = src_index(min(i + 3u, last));
      ka = vec4<u32>(i0.x, i1.x, i2.x, i3.x);
      kb = vec4<u32>(i0.y, i1.y, i2.y, i3.y);
    }
    va = vec4<T>(load_a(ka.x), load_a(ka.y), load_a(ka.z), load_a(ka.w));
    vb = vec4<T>(load_b(kb.x), load_b(kb.y), load_b(kb.z), load_b(kb.w));
  }
  out[q] = vec4<O>(apply(VC(va), VC(vb)));
}
