// Fused top-k MoE router, workgroup-memory path (the subgroup variant is at the end). Logits are a contiguous (rows, E) block, E <= 256. One workgroup handles a
// block of `rows_per_block` consecutive token rows, one row at a time: invocation t owns experts
// t, t + WG, ... (at most EPT <= 8 of them, kept in registers). Per row:
//   1. one reduction of (max, sum of exp(x - max), index of the max) gives the log-sum-exp (z-loss)
//      and the first top-k winner at once;
//   2. scores: softmax exp(x - max) / sum, or sigmoid;
//   3. k - 1 more argmax reductions over the experts not yet taken. Selection ranks the logits, which
//      orders experts exactly as the (monotone) scores do without their rounding; equal logits go to
//      the lower expert index.
// The balancing statistics stay in registers across the block: each invocation adds its experts'
// scores row by row (a fixed order, so the sums are reproducible) and counts how often its experts
// win. At the end every block writes one row of partial sums and counts; router_reduce.wgsl adds the
// blocks in block order. No float atomics anywhere.
// Variant subgroup (engine/shaders.ts specialise): each reduction done by subgroup operations, then
// one exchange through workgroup memory between the subgroups of the workgroup (none when the
// workgroup is one subgroup). Nothing assumes a subgroup size or how invocations map to subgroups:
// each subgroup claims a slot with a workgroup atomic, and the slots are combined in the order of
// their lowest local index, so the sums are reproducible.
// @block enable
// @end block
alias T = f32;

struct Params {
  rows: u32,
  experts: u32,
  k: u32,
  offset: u32,
  rows_per_block: u32,
  // -inf, passed in because WGSL constants may not be infinite. Starting maxima at -inf (not the
  // lowest finite float) lets a row whose logits are -inf (masked experts) still pick its experts.
  ninf: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> indices: array<i32>;
@group(0) @binding(4) var<storage, read_write> lse_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> part_sums: array<f32>;
@group(0) @binding(6) var<storage, read_write> part_counts: array<i32>;

// A power of two (the tree halves it).
override WG: u32 = 32;
// Experts per invocation: ceil(E / WG), at most 8 (the register arrays below).
override EPT: u32 = 8;
override SIGMOID: bool = false;
override RENORM: bool = false;
// Two copies of the reduction scratch, used alternately, so one reduction's final reads never race
// the next one's writes (in the workgroup tree, one barrier saved per reduction).
override WG2: u32 = 2u * WG;

const NONE: u32 = 0xffffffffu;

var<workgroup> red_m: array<f32, WG2>;
var<workgroup> red_s: array<f32, WG2>;
var<workgroup> red_i: array<u32, WG2>;
// @block slots
// @end block

// A partial reduction: the best logit, its lowest expert index, and the sum of exp(logit - m).
struct Best {
  m: f32,
  s: f32,
  i: u32,
}

// The sum part scaled to a new maximum; an empty part (s == 0) adds nothing even when m is -inf.
fn rescale(b: Best, m: f32) -> f32 {
  return select(0.0, b.s * exp(b.m - m), b.s > 0.0);
}

fn merge(a: Best, b: Best, with_sum: bool) -> Best {
  var r = a;
  // Larger logit wins; equal logits go to the lower index (NONE, the empty slot, is the highest).
  if (b.m > a.m || (b.m == a.m && b.i < a.i)) {
    r.m = b.m;
    r.i = b.i;
  }
  if (with_sum) {
    r.s = rescale(a, r.m) + rescale(b, r.m);
  }
  return r;
}

// @block reduce
// Workgroup tree over WG partials; every invocation gets the result. `par` picks the scratch copy.
fn reduce(v: Best, t: u32, par: u32, with_sum: bool) -> Best {
  let o = par * WG;
  red_m[o + t] = v.m;
  red_s[o + t] = v.s;
  red_i[o + t] = v.i;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (t < h) {
      let c = merge(Best(red_m[o + t], red_s[o + t], red_i[o + t]), Best(red_m[o + t + h], red_s[o + t + h], red_i[o + t + h]), with_sum);
      red_m[o + t] = c.m;
      red_s[o + t] = c.s;
      red_i[o + t] = c.i;
    }
    workgroupBarrier();
  }
  return Best(red_m[o], red_s[o], red_i[o]);
}
// @end block

fn score(v: f32, m: f32, s: f32) -> f32 {
  if (SIGMOID) {
    return 1.0 / (1.0 + exp(-v));
  }
  return exp(v - m) / s;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = lid.x;
  let E = p.experts;
  let block = wid.x;
  let first = block * p.rows_per_block;
  let count = min(p.rows_per_block, p.rows - min(first, p.rows));
  var acc: array<f32, 8>;
  var cnt: array<u32, 8>;
  for (var i = 0u; i < 8u; i++) {
    acc[i] = 0.0;
    cnt[i] = 0u;
  }
  // @block setup
  // @end block
  var par = 0u;
  for (var r = 0u; r < count; r++) {
    let row = first + r;
    let base = p.offset + row * E;
    // Load this invocation's experts; `avail` marks those present and not yet selected.
    var xv: array<f32, 8>;
    var avail = 0u;
    var loc = Best(p.ninf, 0.0, NONE);
    for (var i = 0u; i < EPT; i++) {
      let e = t + i * WG;
      var v = p.ninf;
      if (e < E) {
        v = f32(x[base + e]);
        avail |= 1u << i;
        if (v > loc.m || loc.i == NONE) {
          loc.m = v;
          loc.i = e;
        }
      }
      xv[i] = v;
    }
    for (var i = 0u; i < EPT; i++) {
      if ((avail & (1u << i)) != 0u) {
        loc.s += select(exp(xv[i] - loc.m), 1.0, xv[i] == loc.m);
      }
    }
    // @block reduce_stats
    let st = reduce(loc, t, par, true);
    // @end block
    par ^= 1u;
    let m = st.m;
    let s = st.s;
    for (var i = 0u; i < EPT; i++) {
      if ((avail & (1u << i)) != 0u) {
        acc[i] += score(xv[i], m, s);
      }
    }
    // Top-k: the first winner came with the statistics.
    var selv: array<f32, 8>;
    var seli: array<u32, 8>;
    var win = st;
    for (var j = 0u; j < p.k; j++) {
      if (j > 0u) {
        var b = Best(p.ninf, 0.0, NONE);
        for (var i = 0u; i < EPT; i++) {
          if ((avail & (1u << i)) != 0u && (xv[i] > b.m || b.i == NONE)) {
            b.m = xv[i];
            b.i = t + i * WG;
          }
        }
        // @block reduce_topk
        win = reduce(b, t, par, false);
        // @end block
        par ^= 1u;
      }
      selv[j] = win.m;
      seli[j] = win.i;
      for (var i = 0u; i < EPT; i++) {
        if (t + i * WG == win.i) {
          avail &= ~(1u << i);
          cnt[i] += 1u;
        }
      }
    }
    var total = 0.0;
    for (var j = 0u; j < p.k; j++) {
      total += score(selv[j], m, s);
    }
    for (var j = t; j < p.k; j += WG) {
      let w = score(selv[j], m, s);
      weights[row * p.k + j] = select(w, w / total, RENORM);
      indices[row * p.k + j] = i32(seli[j]);
    }
    if (t == 0u) {
      lse_out[row] = m + log(s);
    }
  }
  for (var i = 0u; i < EPT; i++) {
    let e = t + i * WG;
    if (e < E) {
      part_sums[block * E + e] = acc[i];
      part_counts[block * E + e] = i32(cnt[i]);
    }
  }
}

// @variant subgroup enable
// enable subgroups;
// @end variant

// @variant subgroup slots
// // Subgroup bookkeeping: slots claimed, each slot's lowest local index, slots in that order.
// var<workgroup> slot_next: atomic<u32>;
// var<workgroup> slot_total: u32;
// var<workgroup> slot_key: array<u32, WG>;
// var<workgroup> slot_order: array<u32, WG>;
// @end variant

// @variant subgroup reduce
// // Subgroup reduction, then (with several subgroups) the leaders' results combined in slot order.
// // Every invocation gets the result. `par` picks the scratch copy.
// fn reduce(v: Best, par: u32, with_sum: bool, leader: bool, slot: u32, nsg: u32) -> Best {
//   let m = subgroupMax(v.m);
//   let s = subgroupAdd(select(0.0, rescale(v, m), with_sum));
//   let i = subgroupMin(select(NONE, v.i, v.m == m));
//   var r = Best(m, s, i);
//   if (nsg > 1u) {
//     let o = par * WG;
//     if (leader) {
//       red_m[o + slot] = m;
//       red_s[o + slot] = s;
//       red_i[o + slot] = i;
//     }
//     workgroupBarrier();
//     let q0 = o + slot_order[0];
//     r = Best(red_m[q0], red_s[q0], red_i[q0]);
//     for (var j = 1u; j < nsg; j++) {
//       let q = o + slot_order[j];
//       r = merge(r, Best(red_m[q], red_s[q], red_i[q]), with_sum);
//     }
//   }
//   return r;
// }
// @end variant

// @variant subgroup setup
//   // Claim one slot per subgroup (workgroup memory is not assumed zeroed).
//   if (t == 0u) {
//     atomicStore(&slot_next, 0u);
//   }
//   workgroupBarrier();
//   let key = subgroupMin(t);
//   let leader = t == key;
//   var claimed = 0u;
//   if (leader) {
//     claimed = atomicAdd(&slot_next, 1u);
//     slot_key[claimed] = key;
//   }
//   let slot = subgroupMax(claimed);
//   workgroupBarrier();
//   if (t == 0u) {
//     slot_total = atomicLoad(&slot_next);
//   }
//   let nsg = workgroupUniformLoad(&slot_total);
//   // Rank the slots by their lowest local index: a fixed combining order for every run.
//   if (t < nsg) {
//     var rank = 0u;
//     for (var j = 0u; j < nsg; j++) {
//       if (slot_key[j] < slot_key[t]) {
//         rank++;
//       }
//     }
//     slot_order[rank] = t;
//   }
//   workgroupBarrier();
// @end variant

// @variant subgroup reduce_stats
//     let st = reduce(loc, par, true, leader, slot, nsg);
// @end variant

// @variant subgroup reduce_topk
//         win = reduce(b, par, false, leader, slot, nsg);
// @end variant
