// Anomaly detection (engine/anomaly.ts): look for NaN and ±Inf among n elements of a float tensor and
// record the first op that produced one in the engine's error word (engine/device-checks.ts), words
// 5..7, which the next readback reports:
//   [5] the sequence number of the check that found one (checks are numbered from 1 since the last
//       readback; all invocations of one dispatch write the same number),
//   [6] max over the offenders of ((0x3FFFFFFF - element) << 2) | kind: the lowest element index
//       wins; kind 1 NaN, 2 +Inf, 3 -Inf,
//   [7] the host's label for the checked value (an op name, or "backward of <op>").
// First op wins without a compare-and-swap: dispatches run in stream order, so when this one starts,
// word 5 already holds an earlier check's number if any earlier check found something.
// The data is read as raw bits (array<u32>): WGSL lets implementations assume floats are finite, so a
// float comparison could be folded away; exponent bits all ones is NaN or Inf on every implementation.
// f16 tensors are two halves per word.

struct Params {
  n: u32,
  offset: u32, // in elements
  half: u32, // 1: f16 storage
  seq: u32,
  label: u32,
  nan_only: u32, // 1: ±Inf are allowed (masks), only NaN is reported
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read_write> err: array<atomic<u32>>; // the engine's error word

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * WG + gid.x;
  if (i >= p.n) { return; }
  let e = p.offset + i;
  var all_ones = false;
  var mantissa = 0u;
  var negative = false;
  if (p.half == 1u) {
    let h = (data[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu;
    all_ones = (h & 0x7c00u) == 0x7c00u;
    mantissa = h & 0x3ffu;
    negative = (h >> 15u) == 1u;
  } else {
    let w = data[e];
    all_ones = (w & 0x7f800000u) == 0x7f800000u;
    mantissa = w & 0x7fffffu;
    negative = (w >> 31u) == 1u;
  }
  if (!all_ones) { return; }
  let kind = select(select(2u, 3u, negative), 1u, mantissa != 0u);
  if (kind != 1u && p.nan_only == 1u) { return; }
  let owner = atomicLoad(&err[5]);
  if (owner != 0u && owner != p.seq) { return; } // an earlier op already produced one
  atomicStore(&err[5], p.seq);
  atomicStore(&err[7], p.label);
  atomicMax(&err[6], ((0x3FFFFFFFu - i) << 2u) | kind);
}
