// The elementwise family in one table: each row is one op's WGSL expression, its backward (written
// with ops, fused into one binary-kernel launch, or explicitly not differentiable), its float64
// reference, its PyTorch name and the dtypes it takes. Op codes and the kernels' `switch`
// statements are generated from the row order (elementwiseWgsl below, spliced into unary.wgsl and
// binary.wgsl by the engine), and so are the MoE GEMMs' activation epilogues (expertActivationWgsl),
// so nothing is matched by hand. Adding an op = adding a row (plus a test of its special cases where
// it has any): the op-table tests derive their cases from the rows.
import type { Tensor } from '../tensor.js';

/** The two uniform scalars every elementwise kernel receives (clamp bounds, softplus beta/threshold, …). */
export interface Scalars {
  alpha: number;
  beta: number;
}

/** What a unary backward rule sees: the upstream gradient, the input, the output, the scalars. */
export interface UnaryGradContext extends Scalars {
  g: Tensor;
  x: Tensor;
  y: Tensor;
  /** alpha * t + beta in one launch. */
  affine(t: Tensor, alpha: number, beta: number): Tensor;
}

export type UnaryBackward =
  /** dx written with ops. */
  | { rule: (c: UnaryGradContext) => Tensor }
  /**
   * dx = f'(x) * g in one launch of the binary kernel: the body of a WGSL function of `x` (the input)
   * and `g` (the upstream gradient), both vec4<f32>, that may read p.alpha / p.beta and returns
   * vec4<f32>. It has no backward of its own, so a second derivative through it raises a named
   * AutogradError.
   */
  | { fused: string }
  | 'not differentiable';

/** Inputs the op-table tests draw for a row (see test/op-table/harness.ts). */
export interface ElementwiseTest {
  values?: 'normal' | 'positive' | 'unit';
  /** Kinks kept 0.01 away so finite differences stay on one side. */
  avoid?: number[];
  tol?: { rtol?: number; atol?: number };
  /** The scalars the test passes (ops whose scalars are options). */
  scalars?: Scalars;
}

export interface UnaryRow {
  /** f(x) as a WGSL expression of `x: vec4<f32>` and p.alpha / p.beta; may call ELEMENTWISE_HELPERS. */
  wgsl: string;
  backward: UnaryBackward;
  /** Float64 reference of f, for the tests. */
  reference: (x: number, s: Scalars) => number;
  /** The PyTorch function it matches (documentation; null for kiln-internal building blocks). */
  torch: string | null;
  /** 'float': floating-point inputs only; 'any': integer dtypes too (computed through f32). */
  dtypes: 'float' | 'any';
  test?: ElementwiseTest;
}

export interface BinaryRow {
  /** f(x, y) as a WGSL expression of `x, y: vec4<C>` (C: f32 for floats, the int type for ints) and p.alpha. */
  wgsl: string;
  /** The float64 reference, for the tests. */
  reference: (x: number, y: number, s: Scalars) => number;
  torch: string;
  /** 'compare' ops write 0/1 masks (u32) and are not differentiable; 'arith' ops keep the input dtype. */
  kind: 'arith' | 'compare';
}

// Helper functions the generated expressions may call, spliced once into each elementwise kernel.
// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), odd-extended.
export const ELEMENTWISE_HELPERS = `
fn erf_(x: vec4<f32>) -> vec4<f32> {
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-x * x);
  return select(y, -y, x < vec4<f32>(0.0));
}

fn sigmoid_(x: vec4<f32>) -> vec4<f32> {
  return 1.0 / (1.0 + exp(-x));
}

// log(1 + u) accurate for small u.
fn log1p_(u: vec4<f32>) -> vec4<f32> {
  let v = 1.0 + u;
  return select(log(v) * u / (v - 1.0), u, v == vec4<f32>(1.0));
}

// x^e for a uniform exponent e: exact for e = 0, 1, 2, and negative bases with an integer e.
fn pow_(x: vec4<f32>, e: f32) -> vec4<f32> {
  if (e == 2.0) { return x * x; }
  if (e == 1.0) { return x; }
  if (e == 0.0) { return vec4<f32>(1.0); }
  let ev = vec4<f32>(e);
  if (e == floor(e)) {
    let m = pow(abs(x), ev);
    let odd = (i32(e) & 1) == 1;
    return select(m, select(m, -m, odd), x < vec4<f32>(0.0));
  }
  return pow(x, ev);
}
`;

const erf = (x: number): number => {
  // float64 erf by its Maclaurin series (|x| < 3) or continued fraction: the tests' reference.
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
};
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * The rows that are also plain, option-free Tensor methods (x.exp(), x.relu(), …) and op-table
 * entries of their own. A list apart from the rows, so Tensor's type does not depend on the rules
 * that use it; `satisfies` below makes a listed name without a row a compile error.
 */
export const UNARY_METHODS = ['neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'silu'] as const;
export type UnaryMethodName = (typeof UNARY_METHODS)[number];

/** Code 0 of the unary kernel is the identity (copies and casts); the rows take 1, 2, … in order. */
export const UNARY = {
  neg: { wgsl: '-x', backward: { rule: ({ g }) => g.neg() }, reference: (x) => -x, torch: 'torch.neg', dtypes: 'any' },
  abs: {
    wgsl: 'abs(x)',
    // sign(x) * g; 0 at x = 0 (PyTorch's subgradient).
    backward: { fused: 'return select(select(vec4<f32>(0.0), -g, x < vec4<f32>(0.0)), g, x > vec4<f32>(0.0));' },
    reference: Math.abs, torch: 'torch.abs', dtypes: 'any', test: { avoid: [0] },
  },
  exp: { wgsl: 'exp(x)', backward: { rule: ({ g, y }) => g.mul(y) }, reference: Math.exp, torch: 'torch.exp', dtypes: 'float' },
  log: { wgsl: 'log(x)', backward: { rule: ({ g, x }) => g.div(x) }, reference: Math.log, torch: 'torch.log', dtypes: 'float', test: { values: 'positive' } },
  sqrt: { wgsl: 'sqrt(x)', backward: { rule: ({ g, y }) => g.div(y).mul(0.5) }, reference: Math.sqrt, torch: 'torch.sqrt', dtypes: 'float', test: { values: 'positive' } },
  rsqrt: {
    wgsl: 'inverseSqrt(x)', backward: { rule: ({ g, y }) => g.mul(y.pow(3)).mul(-0.5) }, reference: (x) => 1 / Math.sqrt(x),
    torch: 'torch.rsqrt', dtypes: 'float', test: { values: 'positive' },
  },
  sin: { wgsl: 'sin(x)', backward: { rule: ({ g, x }) => g.mul(x.cos()) }, reference: Math.sin, torch: 'torch.sin', dtypes: 'float' },
  cos: { wgsl: 'cos(x)', backward: { rule: ({ g, x }) => g.mul(x.sin()).neg() }, reference: Math.cos, torch: 'torch.cos', dtypes: 'float' },
  tanh: {
    // tanh saturates in f32 past 15; clamping keeps exp from overflowing inside it.
    wgsl: 'tanh(clamp(x, vec4<f32>(-15.0), vec4<f32>(15.0)))', backward: { rule: ({ g, y, affine }) => g.mul(affine(y.mul(y), -1, 1)) },
    reference: Math.tanh, torch: 'torch.tanh', dtypes: 'float', test: { tol: { rtol: 1e-5, atol: 2e-6 } },
  },
  sigmoid: {
    wgsl: 'sigmoid_(x)', backward: { rule: ({ g, y, affine }) => g.mul(y).mul(affine(y, -1, 1)) }, reference: sigmoid,
    torch: 'torch.sigmoid', dtypes: 'float',
  },
  relu: {
    wgsl: 'max(x, vec4<f32>(0.0))', backward: { fused: 'return select(vec4<f32>(0.0), g, x > vec4<f32>(0.0));' }, reference: (x) => Math.max(x, 0),
    torch: 'torch.relu', dtypes: 'float', test: { avoid: [0] },
  },
  gelu: {
    wgsl: '0.5 * x * (1.0 + erf_(x * 0.70710678118654752))',
    backward: {
      fused: `let cdf = 0.5 * (1.0 + erf_(x * 0.70710678118654752));
  let pdf = 0.39894228040143268 * exp(-0.5 * x * x);
  return g * (cdf + x * pdf);`,
    },
    reference: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
    // The erf approximation in the kernel is good to 1.5e-7 absolute.
    torch: "torch.nn.functional.gelu(approximate='none')", dtypes: 'float', test: { tol: { rtol: 1e-5, atol: 5e-7 } },
  },
  geluTanh: {
    wgsl: '0.5 * x * (1.0 + tanh(clamp(0.79788456080286536 * (x + 0.044715 * x * x * x), vec4<f32>(-15.0), vec4<f32>(15.0))))',
    backward: {
      fused: `let u = 0.79788456080286536 * (x + 0.044715 * x * x * x);
  let th = tanh(clamp(u, vec4<f32>(-15.0), vec4<f32>(15.0)));
  let du = 0.79788456080286536 * (1.0 + 3.0 * 0.044715 * x * x);
  return g * (0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * du);`,
    },
    reference: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))),
    torch: "torch.nn.functional.gelu(approximate='tanh')", dtypes: 'float',
  },
  silu: {
    wgsl: 'x * sigmoid_(x)', backward: { fused: 'let s = sigmoid_(x);\n  return g * s * (1.0 + x * (1.0 - s));' }, reference: (x) => x * sigmoid(x),
    torch: 'torch.nn.functional.silu', dtypes: 'float',
  },
  softplus: {
    // softplus(beta = alpha, threshold = beta): linear where beta x > threshold.
    wgsl: 'select((max(p.alpha * x, vec4<f32>(0.0)) + log1p_(exp(-abs(p.alpha * x)))) / p.alpha, x, p.alpha * x > vec4<f32>(p.beta))',
    backward: { fused: 'let z = p.alpha * x;\n  return select(g * sigmoid_(z), g, z > vec4<f32>(p.beta));' },
    reference: (x, { alpha: b, beta: t }) => (b * x > t ? x : Math.log1p(Math.exp(b * x)) / b),
    torch: 'torch.nn.functional.softplus', dtypes: 'float', test: { scalars: { alpha: 1, beta: 20 } },
  },
  clamp: {
    wgsl: 'clamp(x, vec4<f32>(p.alpha), vec4<f32>(p.beta))',
    // The gradient passes where alpha <= x <= beta.
    backward: { fused: 'return select(vec4<f32>(0.0), g, (x >= vec4<f32>(p.alpha)) & (x <= vec4<f32>(p.beta)));' },
    reference: (x, { alpha, beta }) => Math.min(Math.max(x, alpha), beta),
    torch: 'torch.clamp', dtypes: 'any', test: { scalars: { alpha: -0.5, beta: 0.7 }, avoid: [-0.5, 0.7] },
  },
  affine: {
    wgsl: 'p.alpha * x + p.beta', backward: { rule: ({ g, alpha }) => (alpha === 1 ? g : g.mul(alpha)) },
    reference: (x, { alpha, beta }) => alpha * x + beta, torch: null, dtypes: 'any', test: { scalars: { alpha: -1.5, beta: 0.25 } },
  },
  powScalar: {
    wgsl: 'pow_(x, p.alpha)',
    backward: { rule: ({ g, x, alpha: e }) => (e === 0 ? g.mul(0) : g.mul(x.pow(e - 1)).mul(e)) },
    reference: (x, { alpha }) => x ** alpha, torch: 'torch.pow(tensor, number)', dtypes: 'float', test: { scalars: { alpha: 3, beta: 0 } },
  },
  rpow: {
    wgsl: 'pow(vec4<f32>(p.alpha), x)', backward: { rule: ({ g, y, alpha: base }) => g.mul(y).mul(Math.log(base)) },
    reference: (x, { alpha }) => alpha ** x, torch: 'torch.pow(number, tensor)', dtypes: 'float', test: { scalars: { alpha: 2.5, beta: 0 } },
  },
} satisfies Record<string, UnaryRow> & Record<UnaryMethodName, UnaryRow>;

export type UnaryName = keyof typeof UNARY;

/** The binary kernel's ops; codes follow the row order, then one code per fused unary gradient. */
export const BINARY = {
  add: { wgsl: 'x + C(p.alpha) * y', reference: (x, y, { alpha }) => x + alpha * y, torch: 'torch.add', kind: 'arith' },
  sub: { wgsl: 'x - C(p.alpha) * y', reference: (x, y, { alpha }) => x - alpha * y, torch: 'torch.sub', kind: 'arith' },
  mul: { wgsl: 'x * y', reference: (x, y) => x * y, torch: 'torch.mul', kind: 'arith' },
  div: { wgsl: 'x / y', reference: (x, y) => x / y, torch: 'torch.div', kind: 'arith' },
  pow: { wgsl: 'VC(pow(vec4<f32>(x), vec4<f32>(y)))', reference: (x, y) => x ** y, torch: 'torch.pow', kind: 'arith' },
  maximum: { wgsl: 'max(x, y)', reference: (x, y) => Math.max(x, y), torch: 'torch.maximum', kind: 'arith' },
  minimum: { wgsl: 'min(x, y)', reference: (x, y) => Math.min(x, y), torch: 'torch.minimum', kind: 'arith' },
  eq: { wgsl: 'flag(x == y)', reference: (x, y) => +(x === y), torch: 'torch.eq', kind: 'compare' },
  ne: { wgsl: 'flag(x != y)', reference: (x, y) => +(x !== y), torch: 'torch.ne', kind: 'compare' },
  lt: { wgsl: 'flag(x < y)', reference: (x, y) => +(x < y), torch: 'torch.lt', kind: 'compare' },
  le: { wgsl: 'flag(x <= y)', reference: (x, y) => +(x <= y), torch: 'torch.le', kind: 'compare' },
  gt: { wgsl: 'flag(x > y)', reference: (x, y) => +(x > y), torch: 'torch.gt', kind: 'compare' },
  ge: { wgsl: 'flag(x >= y)', reference: (x, y) => +(x >= y), torch: 'torch.ge', kind: 'compare' },
} satisfies Record<string, BinaryRow>;

export type BinaryName = keyof typeof BINARY;

/** Unary kernel op code of a row (0 is the identity). */
export const UNARY_CODE = Object.fromEntries((Object.keys(UNARY) as UnaryName[]).map((k, i) => [k, i + 1])) as Record<UnaryName, number>;

/** Binary kernel op code of a row. */
export const BINARY_CODE = Object.fromEntries((Object.keys(BINARY) as BinaryName[]).map((k, i) => [k, i])) as Record<BinaryName, number>;

/** Binary kernel op code of a unary row's fused gradient, after the binary rows. */
export const FUSED_GRAD_CODE: Partial<Record<UnaryName, number>> = {};
{
  let code = Object.keys(BINARY).length;
  for (const k of Object.keys(UNARY) as UnaryName[]) if (typeof UNARY[k].backward === 'object' && 'fused' in UNARY[k].backward) FUSED_GRAD_CODE[k] = code++;
}

/**
 * The generated WGSL of the elementwise kernels: the helpers and each kernel's `apply`, replacing
 * the block between `// @generated` and `// @end generated` in unary.wgsl and binary.wgsl (the files
 * hold a valid stand-in there, so each compiles as it stands).
 */
export function elementwiseWgsl(kernel: 'unary' | 'binary'): string {
  const cases: string[] = [];
  if (kernel === 'unary') {
    for (const k of Object.keys(UNARY) as UnaryName[]) cases.push(`    case ${UNARY_CODE[k]}u: { return ${UNARY[k].wgsl}; } // ${k}`);
    return `${ELEMENTWISE_HELPERS}
fn apply(x: vec4<f32>) -> vec4<f32> {
  switch OP {
${cases.join('\n')}
    default: { return x; }
  }
}
`;
  }
  for (const k of Object.keys(BINARY) as BinaryName[]) cases.push(`    case ${BINARY_CODE[k]}u: { return ${BINARY[k].wgsl}; } // ${k}`);
  // Fused gradients of unary rows: x is the unary op's input, y the upstream gradient, in f32.
  const gradFns: string[] = [];
  for (const [k, code] of Object.entries(FUSED_GRAD_CODE) as [UnaryName, number][]) {
    const body = (UNARY[k].backward as { fused: string }).fused;
    gradFns.push(`// d ${k}(x) * g\nfn fused_grad_${code}(x: vec4<f32>, g: vec4<f32>) -> vec4<f32> {\n  ${body}\n}`);
    cases.push(`    case ${code}u: { return VC(fused_grad_${code}(vec4<f32>(x), vec4<f32>(y))); } // ${k} gradient`);
  }
  return `${ELEMENTWISE_HELPERS}
fn flag(c: vec4<bool>) -> VC {
  return select(VC(C(0)), VC(C(1)), c);
}

${gradFns.join('\n\n')}

fn apply(x: VC, y: VC) -> VC {
  switch OP {
${cases.join('\n')}
    default: { return x; }
  }
}
`;
}

/** The unary rows whose gradient is fused WGSL (usable inside other kernels, such as the MoE GEMMs' epilogues). */
type FusedGradName = { [K in UnaryName]: (typeof UNARY)[K]['backward'] extends { fused: string } ? K : never }[UnaryName];

/**
 * The MoE expert GEMMs' hidden activations (moe_gemm.wgsl's epilogue, moe_gemm_bwd.wgsl's gradient):
 * table rows with a fused gradient, then 'swiglu' = silu(x·W1) ∘ (x·W3). Code 0 is no activation;
 * the entries take 1, 2, … in order.
 */
export const EXPERT_ACTIVATIONS = ['gelu', 'relu', 'silu', 'swiglu'] as const satisfies readonly (FusedGradName | 'swiglu')[];
export type ExpertActivation = (typeof EXPERT_ACTIVATIONS)[number];
export const EXPERT_ACT_CODE = Object.fromEntries(EXPERT_ACTIVATIONS.map((k, i) => [k, i + 1])) as Record<ExpertActivation, number>;

/**
 * The MoE GEMMs' generated activation code, from the rows' expressions and fused gradients: for
 * 'forward' `epilogue(x, x2)` (x2: the second product, added without an activation when TWO), for
 * 'backward' `act_grad(x, g, x2)` (the gradient at x = x·W1 from g) and `gate_grad(x, g)` (swiglu's
 * gradient at x2 = x·W3). Spliced into the kernels' `// @generated` blocks by engine/shaders.ts.
 */
export function expertActivationWgsl(pass: 'forward' | 'backward'): string {
  const rows = EXPERT_ACTIVATIONS.filter((k) => k !== 'swiglu') as Exclude<ExpertActivation, 'swiglu'>[];
  const code = EXPERT_ACT_CODE;
  if (pass === 'forward') {
    const cases = rows.map((k) => `    case ${code[k]}u: { return ${UNARY[k].wgsl}; } // ${k}`);
    return `${ELEMENTWISE_HELPERS}
const SWIGLU: u32 = ${code.swiglu}u;

fn epilogue(x: vec4<f32>, x2: vec4<f32>) -> vec4<f32> {
  switch ACT {
${cases.join('\n')}
    case ${code.swiglu}u: { return (${UNARY.silu.wgsl}) * x2; } // swiglu
    default: { return select(x, x + x2, TWO); }
  }
}
`;
  }
  const fns = rows.map((k) => `// d ${k}(x) * g\nfn grad_${k}(x: vec4<f32>, g: vec4<f32>) -> vec4<f32> {\n  ${UNARY[k].backward.fused}\n}`);
  const cases = rows.map((k) => `    case ${code[k]}u: { return grad_${k}(x, g); }`);
  return `${ELEMENTWISE_HELPERS}
const SWIGLU: u32 = ${code.swiglu}u;

${fns.join('\n\n')}

fn act_grad(x: vec4<f32>, g: vec4<f32>, x2: vec4<f32>) -> vec4<f32> {
  switch ACT {
${cases.join('\n')}
    default: { return grad_silu(x, g * x2); } // swiglu: silu(x) * x2
  }
}

fn gate_grad(x: vec4<f32>, g: vec4<f32>) -> vec4<f32> {
  return g * (${UNARY.silu.wgsl});
}
`;
}
