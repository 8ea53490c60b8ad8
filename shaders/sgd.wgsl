// Fused SGD update with momentum, dampening, Nesterov and L2 weight decay (PyTorch's rule), in place:
//   d = g + wd * p
//   buf <- first ? d : momentum * buf + (1 - dampening) * d      (only when momentum != 0)
//   d <- nesterov ? d + momentum * buf : buf
//   p <- p - lr * d
// Without momentum the optimizer binds a one-element dummy as `buf`; it is never touched then.
alias T = f32; // parameter and gradient storage; the momentum buffer is always f32

struct Params {
  n: u32,
  offsetP: u32,
  offsetG: u32,
  flags: u32, // bit 0: use momentum, bit 1: first step (buf <- d), bit 2: nesterov
  lr: f32,
  wd: f32,
  momentum: f32,
  damp: f32, // 1 - dampening
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<T>;
@group(0) @binding(2) var<storage, read_write> param: array<T>;
@group(0) @binding(3) var<storage, read_write> buf: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * WG + gid.x;
  if (i >= p.n) { return; }
  let w = f32(param[p.offsetP + i]);
  var d = f32(grad[p.offsetG + i]);
  if (p.wd != 0.0) { d = d + p.wd * w; }
  if ((p.flags & 1u) != 0u) {
    var b = d;
    if ((p.flags & 2u) == 0u) { b = p.momentum * buf[i] + p.damp * d; }
    buf[i] = b;
    d = select(b, d + p.momentum * b, (p.flags & 4u) != 0u);
  }
  param[p.offsetP + i] = T(w - p.lr * d);
}
