// Row reduction over a strided [rows, cols] view (the ops layer permutes the reduced axes last; a
// view it cannot express with two strides is copied first): out[row] = reduce(a[row, :]), element
// (row, j) at offset + row * rowStride + j * colStride. A sum over the leading axis of a contiguous
// (R, C) tensor (bias gradients) is then the view rowStride 1, colStride C, read in place. One workgroup per row, or one invocation per row when SERIAL
// (short rows). Ties in argmax/argmin go to the lower index.
alias T = f32; // input storage
alias C = f32; // accumulator
alias O = f32; // output storage (i32 for argmax/argmin)

struct Params {
  rows: u32,
  cols: u32,
  offset: u32,
  rowStride: u32,
  colStride: u32,
  // out[outOffset + row]: foreachSumOfSquares writes one tensor's slot of a shared vector.
  outOffset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read_write> out: array<O>;

override WG: u32 = 64;
// 0 sum, 1 max, 2 min, 3 argmax, 4 argmin, 5 logsumexp, 6 sum of squares (summed like 0)
override OP: u32 = 0;
override SERIAL: bool = false;

var<workgroup> wval: array<C, WG>;
var<workgroup> widx: array<u32, WG>;

fn is_arg() -> bool {
  return OP == 3u || OP == 4u;
}

fn is_sum() -> bool {
  return OP == 0u || OP == 6u;
}

// The value summed or compared: x, or x² for the sum of squares.
fn term(x: C) -> C {
  if (OP == 6u) { return x * x; }
  return x;
}

// Does (v, i) beat (best, bi)? Lower index wins ties.
fn better(v: C, i: u32, best: C, bi: u32) -> bool {
  if (OP == 1u || OP == 3u || OP == 5u) { return v > best || (v == best && i < bi); }
  return v < best || (v == best && i < bi);
}

fn combine(x: C, y: C) -> C {
  if (is_sum()) { return x + y; }
  if (OP == 2u || OP == 4u) { return min(x, y); }
  return max(x, y);
}

// Phase 1 runs the extremum for max/min/arg*/logsumexp; phase 2 (logsumexp only) sums exp(x - m).
fn serial_row(base: u32) -> vec2<f32> {
  var acc = term(C(a[base]));
  var bi = 0u;
  for (var j = 1u; j < p.cols; j++) {
    let v = term(C(a[base + j * p.colStride]));
    if (is_sum()) { acc += v; } else if (better(v, j, acc, bi)) { acc = v; bi = j; }
  }
  if (OP == 5u) {
    var s = 0.0;
    for (var j = 0u; j < p.cols; j++) { s += exp(f32(a[base + j * p.colStride]) - f32(acc)); }
    return vec2<f32>(f32(acc) + log(s), 0.0);
  }
  return vec2<f32>(f32(acc), f32(bi));
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  if (SERIAL) {
    let row = (wid.y * nwg.x + wid.x) * WG + lid.x;
    if (row < p.rows) {
      let r = serial_row(p.offset + row * p.rowStride);
      if (is_arg()) { out[p.outOffset + row] = O(u32(r.y)); } else { out[p.outOffset + row] = O(r.x); }
    }
    return;
  }
  let row = wid.y * nwg.x + wid.x;
  let live = row < p.rows;
  let base = p.offset + row * p.rowStride;
  let t = lid.x;
  // Strided partial over the row.
  var acc = C(0);
  var bi = 0xffffffffu;
  var have = false;
  if (live) {
    for (var j = t; j < p.cols; j += WG) {
      let v = term(C(a[base + j * p.colStride]));
      if (is_sum()) { acc += v; }
      else if (!have || better(v, j, acc, bi)) { acc = v; bi = j; have = true; }
    }
  }
  wval[t] = acc;
  widx[t] = select(0xffffffffu, bi, have || is_sum());
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      if (is_sum()) { wval[t] = wval[t] + wval[t + s]; }
      else if (widx[t + s] != 0xffffffffu && (widx[t] == 0xffffffffu || better(wval[t + s], widx[t + s], wval[t], widx[t]))) {
        wval[t] = wval[t + s];
        widx[t] = widx[t + s];
      }
    }
    workgroupBarrier();
  }
  let m = wval[0];
  if (OP == 5u) {
    // Second pass: sum of exp(x - max).
    workgroupBarrier();
    var s = 0.0;
    if (live) {
      for (var j = t; j < p.cols; j += WG) { s += exp(f32(a[base + j * p.colStride]) - f32(m)); }
    }
    wval[t] = C(s);
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
      if (t < k) { wval[t] = wval[t] + wval[t + k]; }
      workgroupBarrier();
    }
    if (live && t == 0u) { out[p.outOffset + row] = O(f32(m) + log(f32(wval[0]))); }
    return;
  }
  if (live && t == 0u) {
    if (is_arg()) { out[p.outOffset + row] = O(widx[0]); } else { out[p.outOffset + row] = O(m); }
  }
}
