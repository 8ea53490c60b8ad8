// Last pass of a deterministic scatter-add: `sorted` holds (target, position) pairs in ascending
// order, so each target's sources form one run. The invocation at the head of a run (for column d of
// a row of `width`) adds the run's sources to out in position order; no other invocation writes that
// element, so no atomics are needed and the result is the same on every run.
// out[target * width + d] += src[srcOffset + position * width + d] for each pair, d < width.
alias T = f32; // storage
alias C = f32; // accumulator

struct Params {
  n: u32, // real (unpadded) pairs
  width: u32,
  srcOffset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> sorted: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> src: array<T>;
@group(0) @binding(3) var<storage, read_write> out: array<T>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * WG + gid.x;
  if (i >= p.n * p.width) { return; }
  let s = i / p.width;
  let d = i % p.width;
  let key = sorted[s].x;
  if (s > 0u && sorted[s - 1u].x == key) { return; } // not the head of its run
  let o = key * p.width + d;
  var acc = C(out[o]);
  var q = s;
  loop {
    if (q >= p.n) { break; }
    let pair = sorted[q];
    if (pair.x != key) { break; }
    acc += C(src[p.srcOffset + pair.y * p.width + d]);
    q++;
  }
  out[o] = T(acc);
}
