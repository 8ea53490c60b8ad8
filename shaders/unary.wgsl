// out[i] = f(a[i]) for one unary op chosen by OP (codes and math from engine/ops/elementwise-table.ts),
// reading a strided (possibly broadcast) view.
// Float math runs in f32 whatever the storage type; ints pass through f32 (exact below 2^24).
// The data is bound as vec4 and the math runs on vec4s (V), four elements per invocation.
alias T = f32; // input storage
alias O = f32; // output storage

struct Params {
  shape: array<vec4<u32>, 2>,
  strides: array<vec4<u32>, 2>,
  n: u32,
  offset: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<T>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<O>>;

override WG: u32 = 64;
override OP: u32 = 0;
// The input is contiguous and starts on a multiple of 4 elements: read whole vec4s.
override ALIGNED: bool = false;
// The view's rank, as a constant: the index loop unrolls with constant component indices.
override RANK: u32 = 8;

// Element i of the (strided, possibly broadcast) input view.
fn src_index(i: u32) -> u32 {
  var rem = i;
  var idx = p.offset;
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let k = u32(d);
    let s = p.shape[k / 4u][k % 4u];
    idx += (rem % s) * p.strides[k / 4u][k % 4u];
    rem = rem / s;
  }
  return idx;
}

fn load(idx: u32) -> T {
  return a[idx / 4u][idx % 4u];
}

alias V = vec4<f32>;

// @generated: the engine replaces everything up to "@end generated" with the helpers and the `apply`
// switch generated from the op table (engine/ops/elementwise-table.ts, one case per row). What stands
// here keeps the file valid WGSL on its own.
fn apply(x: V) -> V {
  return x;
}
// @end generated

// Four consecutive outputs per invocation, written as one vec4 (the output is a fresh contiguous
// tensor whose buffer holds whole vec4s; lanes past n compute on whatever is there and are never
// read). On lavapipe a vec4 load or store is one 16-byte access where four scalars are four gathers.
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = gid.y * nwg.x * WG + gid.x; // vec4 index
  let i = 4u * q;
  if (i >= p.n) { return; }
  var v: vec4<T>;
  if (ALIGNED) {
    v = a[p.offset / 4u + q];
  } else {
    // Lanes past n read element n - 1 again (in range). Four consecutive elements cross at most one
    // boundary of a last dim of 4 or more: two full index computations give all four.
    let last = p.n - 1u;
    let r = max(RANK, 1u) - 1u; // the last dim (rank 0: n is 1 and the plain path runs)
    let inner = p.shape[r / 4u][r % 4u];
    if (RANK > 0u && inner >= 4u) {
      let step = p.strides[r / 4u][r % 4u];
      let c = i % inner;
      let here = src_index(i); // element c of its row
      let next = src_index(min(i - c + inner, last)); // element 0 of the next row
      let e = vec4<u32>(c) + vec4<u32>(0u, 1u, 2u, 3u);
      let idx = select(vec4<u32>(here) + (e - c) * step, vec4<u32>(next) + (e - inner) * step, e >= vec4<u32>(inner));
      // Lanes past n read element i again.
      let k = select(idx, vec4<u32>(here), vec4<u32>(i) + vec4<u32>(0u, 1u, 2u, 3u) > vec4<u32>(last));
      v = vec4<T>(load(k.x), load(k.y), load(k.z), load(k.w));
    } else {
      v = vec4<T>(load(src_index(i)), load(src_index(min(i + 1u, last))), load(src_index(min(i + 2u, last))), load(src_index(min(i + 3u, last))));
    }
  }
  if (OP == 0u) {
    out[q] = vec4<O>(v); // cast / copy: no detour through f32
  } else {
    out[q] = vec4<O>(apply(V(v)));
  }
}
