// Fused AdamW update (PyTorch's single-tensor rule), in place, one invocation per element:
//   p <- p * (1 - lr * wd)                      decoupled weight decay
//   m <- m + (1 - beta1) * (g - m)              (torch: exp_avg.lerp_(g, 1 - beta1))
//   v <- beta2 * v + (1 - beta2) * g * g
//   p <- p - stepSize * m / (sqrt(v) / bc2Sqrt + eps)
// Every derived scalar (1 - beta1, 1 - beta2, 1 - lr * wd, stepSize = lr / (1 - beta1^t), bc2Sqrt =
// sqrt(1 - beta2^t)) is computed on the host in float64 and rounded once to f32, as PyTorch's Python
// scalars are: 1 - f32(0.9999) in f32 is off by 1.7e-4 relative. The step count t lives on the host, so
// the kernel reads no state besides p, g, m and v.
alias T = f32; // parameter and gradient storage; moments are always f32

struct Params {
  n: u32,
  offsetP: u32,
  offsetG: u32,
  beta2: f32,
  oneMinusBeta1: f32,
  oneMinusBeta2: f32,
  decay: f32, // 1 - lr * wd
  stepSize: f32,
  bc2Sqrt: f32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<T>;
@group(0) @binding(2) var<storage, read_write> param: array<T>;
@group(0) @binding(3) var<storage, read_write> expAvg: array<f32>;
@group(0) @binding(4) var<storage, read_write> expAvgSq: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * WG + gid.x;
  if (i >= p.n) { return; }
  let g = f32(grad[p.offsetG + i]);
  let w = f32(param[p.offsetP + i]) * p.decay;
  let m = expAvg[i] + p.oneMinusBeta1 * (g - expAvg[i]);
  let v = p.beta2 * expAvgSq[i] + p.oneMinusBeta2 * g * g;
  expAvg[i] = m;
  expAvgSq[i] = v;
  param[p.offsetP + i] = T(w - p.stepSize * m / (sqrt(v) / p.bc2Sqrt + p.eps));
}
