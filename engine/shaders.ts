// Every WGSL kernel, inlined as text by esbuild's loader. Each file is valid WGSL on its own; some
// hold blocks that the engine replaces with code generated from an op table, with a piece several
// kernels share (kept here once), or with a vec4 / subgroup variant of the block (shaderSource).
import { elementwiseWgsl, expertActivationWgsl } from './ops/elementwise-table.js';
import adamw from '../shaders/adamw.wgsl';
import attention from '../shaders/attention.wgsl';
import attentionBwdDkv from '../shaders/attention_bwd_dkv.wgsl';
import attentionBwdDq from '../shaders/attention_bwd_dq.wgsl';
import attentionBwdPre from '../shaders/attention_bwd_pre.wgsl';
import binary from '../shaders/binary.wgsl';
import bitonicSort from '../shaders/bitonic_sort.wgsl';
import checkFinite from '../shaders/check_finite.wgsl';
import copy from '../shaders/copy.wgsl';
import crossEntropy from '../shaders/cross_entropy.wgsl';
import crossEntropyBackward from '../shaders/cross_entropy_backward.wgsl';
import ctcLoss from '../shaders/ctc_loss.wgsl';
import ctcLossBackward from '../shaders/ctc_loss_backward.wgsl';
import cumsum from '../shaders/cumsum.wgsl';
import fill from '../shaders/fill.wgsl';
import gather from '../shaders/gather.wgsl';
import matmul from '../shaders/matmul.wgsl';
import matmulTiled from '../shaders/matmul_tiled.wgsl';
import moeCombine from '../shaders/moe_combine.wgsl';
import moeCount from '../shaders/moe_count.wgsl';
import moeGateGrad from '../shaders/moe_gate_grad.wgsl';
import moeGemm from '../shaders/moe_gemm.wgsl';
import moeGemmBwd from '../shaders/moe_gemm_bwd.wgsl';
import moeScan from '../shaders/moe_scan.wgsl';
import moeScatter from '../shaders/moe_scatter.wgsl';
import moeWgrad from '../shaders/moe_wgrad.wgsl';
import norm from '../shaders/norm.wgsl';
import normBackward from '../shaders/norm_backward.wgsl';
import oneHot from '../shaders/one_hot.wgsl';
import random from '../shaders/random.wgsl';
import reduce from '../shaders/reduce.wgsl';
import router from '../shaders/router.wgsl';
import routerBackward from '../shaders/router_backward.wgsl';
import routerReduce from '../shaders/router_reduce.wgsl';
import scatterKeys from '../shaders/scatter_keys.wgsl';
import segmentSum from '../shaders/segment_sum.wgsl';
import sgd from '../shaders/sgd.wgsl';
import softmax from '../shaders/softmax.wgsl';
import softmaxBackward from '../shaders/softmax_backward.wgsl';
import topkKeys from '../shaders/topk_keys.wgsl';
import unary from '../shaders/unary.wgsl';
import where from '../shaders/where.wgsl';

/** The shader files by name. */
export const SHADERS = {
  adamw,
  attention,
  attentionBwdDkv,
  attentionBwdDq,
  attentionBwdPre,
  binary,
  bitonicSort,
  checkFinite,
  copy,
  crossEntropy,
  crossEntropyBackward,
  ctcLoss,
  ctcLossBackward,
  cumsum,
  fill,
  gather,
  matmul,
  matmulTiled,
  moeCombine,
  moeCount,
  moeGateGrad,
  moeGemm,
  moeGemmBwd,
  moeScan,
  moeScatter,
  moeWgrad,
  norm,
  normBackward,
  oneHot,
  random,
  reduce,
  router,
  routerBackward,
  routerReduce,
  scatterKeys,
  segmentSum,
  sgd,
  softmax,
  softmaxBackward,
  topkKeys,
  unary,
  where,
} as const;

export type ShaderFile = keyof typeof SHADERS;

/**
 * Kernels compiled from a variant of another file (specialise below): the name launches use, the
 * file, the variant. The scalar / workgroup-memory kernel is the file as it stands.
 */
const VARIANTS = {
  matmulVec4: ['matmul', 'vec4'],
  normVec4: ['norm', 'vec4'],
  routerSubgroup: ['router', 'subgroup'],
  softmaxVec4: ['softmax', 'vec4'],
} as const satisfies Record<string, readonly [ShaderFile, string]>;

/** What a launch names: a shader file, or a variant of one. */
export type ShaderName = ShaderFile | keyof typeof VARIANTS;
export const SHADER_NAMES = [...Object.keys(SHADERS), ...Object.keys(VARIANTS)] as ShaderName[];
export type WgslScalar = 'f32' | 'f16' | 'i32' | 'u32';

/** Code generated from op tables, by file: it replaces the file's `// @generated` … `// @end generated` block. */
const GENERATED: Partial<Record<ShaderFile, () => string>> = {
  unary: () => elementwiseWgsl('unary'),
  binary: () => elementwiseWgsl('binary'),
  moeGemm: () => expertActivationWgsl('forward'),
  moeGemmBwd: () => expertActivationWgsl('backward'),
};

/**
 * Pieces several kernels share, kept here once: each replaces a file's `// @shared NAME` …
 * `// @end shared` block, which holds a valid stand-in so the file compiles as it stands.
 */
const SHARED: Record<string, string> = {
  // Needs the kernel's `err` binding, `p.op` and an index alias I; layout in device-checks.ts.
  report: `// First violation wins: [0] set, [1] op, [2] index bits, [3] size, [4] negative. Atomics only here.
fn report(v: I, size: u32) {
  if (atomicLoad(&err[0]) == 0u && atomicOr(&err[0], 1u) == 0u) {
    atomicStore(&err[1], p.op);
    atomicStore(&err[2], bitcast<u32>(v));
    atomicStore(&err[3], size);
    atomicStore(&err[4], select(0u, 1u, v < I(0)));
  }
}`,
  // Needs the kernel's alias R, `fn merge(a: R, b: R) -> R` and WG (a power of two). Call it in
  // uniform control flow; a second call needs a barrier between, once everyone has the first result.
  tree: `// Workgroup tree over the WG invocations' values, in a fixed order (reproducible); every
// invocation gets the result.
var<workgroup> red: array<R, WG>;

fn tree(t: u32, v: R) -> R {
  red[t] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) { red[t] = merge(red[t], red[t + k]); }
    workgroupBarrier();
  }
  return red[0];
}`,
  // Needs the kernel's Params (blank, classes, batch, max_target, lp_offset, tg_offset) and its `lp`
  // and `targets` bindings; the forward and the backward kernel must agree on these exactly.
  ctc: `// "-Inf" as a finite NEG, so NEG - NEG is never NaN.
const NEG: f32 = -1e30;

fn lse2(a: f32, b: f32) -> f32 {
  let m = max(a, b);
  if (m <= NEG) { return NEG; }
  return m + log(exp(a - m) + exp(b - m));
}

// The raw target label of extended state s (odd s) of element b, or blank (even s).
fn label(b: u32, s: u32) -> i32 {
  if ((s & 1u) == 0u) { return i32(p.blank); }
  return targets[p.tg_offset + b * p.max_target + (s - 1u) / 2u];
}

// The label clamped into [0, C): memory stays in bounds for a bad label (reported as NaN).
fn safe(k: i32) -> u32 {
  return u32(clamp(k, 0, i32(p.classes) - 1));
}

fn emit(t: u32, b: u32, k: i32) -> f32 {
  return f32(lp[p.lp_offset + (t * p.batch + b) * p.classes + safe(k)]);
}`,
};

const GENERATED_BLOCK = /^\/\/ @generated\b[^]*?^\/\/ @end generated$/m;
const SHARED_BLOCK = /^\/\/ @shared (\w+)\b[^]*?^\/\/ @end shared$/gm;
const VARIANT_SECTION = /^\/\/ @variant (\w+) (\w+)\b[^\n]*\n([^]*?)^\/\/ @end variant\n?/gm;
const sources = new Map<ShaderName, string>();

/**
 * The WGSL the engine compiles for a shader: the file (for a variant, specialised), with its
 * generated and shared blocks filled in.
 */
export function shaderSource(name: ShaderName): string {
  let src = sources.get(name);
  if (src === undefined) {
    const [fileName, variant] = name in VARIANTS ? VARIANTS[name as keyof typeof VARIANTS] : [name as ShaderFile, null];
    const file = SHADERS[fileName];
    const gen = GENERATED[fileName];
    if (gen && !GENERATED_BLOCK.test(file)) throw new Error(`${fileName}.wgsl: no "// @generated" … "// @end generated" block for its generated code`);
    src = variant ? specialise(file, variant, fileName) : file;
    if (gen) src = src.replace(GENERATED_BLOCK, () => `// generated from the op table\n${gen()}`);
    src = src.replace(SHARED_BLOCK, (_, piece: string) => {
      const code = SHARED[piece];
      if (code === undefined) throw new Error(`${fileName}.wgsl: no shared piece '${piece}' (engine/shaders.ts has ${Object.keys(SHARED).join(', ')})`);
      return code;
    });
    sources.set(name, src);
  }
  return src;
}

/**
 * A file's variant: each `// @variant VARIANT BLOCK` … `// @end variant` section (its lines
 * commented out, so the file stays valid WGSL) replaces the code between `// @block BLOCK` and
 * `// @end block`; the sections themselves are dropped. One kernel, one file: a vec4 or subgroup
 * path differs from the scalar one only in its blocks.
 */
export function specialise(file: string, variant: string, fileName = 'shader'): string {
  let src = file.replace(VARIANT_SECTION, '');
  let found = 0;
  for (const [, v, block, body] of file.matchAll(VARIANT_SECTION)) {
    if (v !== variant) continue;
    found++;
    const lines = body.replace(/\n$/, '').split('\n');
    const bad = lines.find((l) => !l.startsWith('//'));
    if (bad !== undefined) throw new Error(`${fileName}.wgsl: variant ${variant}, block ${block}: every line must be commented out, got "${bad}"`);
    const code = lines.map((l) => l.replace(/^\/\/ ?/, '')).join('\n');
    const target = new RegExp(`^([ \\t]*)// @block ${block}\\b[^]*?^[ \\t]*// @end block$`, 'm');
    if (!target.test(src)) throw new Error(`${fileName}.wgsl: variant ${variant} replaces block '${block}', which the file does not mark`);
    src = src.replace(target, (_, indent: string) => `${indent}// ${variant}: ${block}\n${code}`);
  }
  if (found === 0) throw new Error(`${fileName}.wgsl: no "// @variant ${variant} …" section`);
  return src;
}
