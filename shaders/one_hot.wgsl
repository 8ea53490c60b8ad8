// oneHot: out[r, c] = 1 if index[r] == c else 0, over contiguous indices (rows) and classes (cols),
// one invocation per output element. An index outside [0, cols) gives a row of zeros and is recorded
// in the engine's error word (engine/device-checks.ts) as op p.op; the next readback throws
// RangeArgumentError.
alias I = i32; // index storage (i32 or u32)

struct Params {
  n: u32,    // rows * cols
  cols: u32, // numClasses
  offset: u32,
  op: u32,   // code reported for a bad index (oneHot)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> index: array<I>;
@group(0) @binding(2) var<storage, read_write> out: array<i32>;
@group(0) @binding(3) var<storage, read_write> err: array<atomic<u32>>; // the engine's error word

override WG: u32 = 64;

// @shared report: the engine splices in the error word's report() (SHARED in engine/shaders.ts);
// this stand-in keeps the file valid WGSL on its own.
fn report(v: I, size: u32) {
}
// @end shared

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * WG + gid.x;
  if (i >= p.n) { return; }
  let row = i / p.cols;
  let c = i - row * p.cols;
  let v = index[p.offset + row];
  let bad = v < I(0) || u32(v) >= p.cols;
  if (bad && c == 0u) { report(v, p.cols); }
  out[i] = select(0, 1, !bad && u32(v) == c);
}
