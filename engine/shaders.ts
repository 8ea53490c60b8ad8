// Every WGSL kernel, inlined as text by esbuild's loader. Each file is valid WGSL on its own; a few
// hold a block that the engine replaces with code generated from an op table, or with a shared
// piece kept here once (shaderSource).
import { elementwiseWgsl } from './ops/elementwise-table.js';
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
import cumsum from '../shaders/cumsum.wgsl';
import fill from '../shaders/fill.wgsl';
import gather from '../shaders/gather.wgsl';
import matmul from '../shaders/matmul.wgsl';
import matmulTiled from '../shaders/matmul_tiled.wgsl';
import matmulVec4 from '../shaders/matmul_vec4.wgsl';
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
import normVec4 from '../shaders/norm_vec4.wgsl';
import oneHot from '../shaders/one_hot.wgsl';
import random from '../shaders/random.wgsl';
import reduce from '../shaders/reduce.wgsl';
import router from '../shaders/router.wgsl';
import routerBackward from '../shaders/router_backward.wgsl';
import routerReduce from '../shaders/router_reduce.wgsl';
import routerSubgroup from '../shaders/router_subgroup.wgsl';
import scatterKeys from '../shaders/scatter_keys.wgsl';
import segmentSum from '../shaders/segment_sum.wgsl';
import sgd from '../shaders/sgd.wgsl';
import softmax from '../shaders/softmax.wgsl';
import softmaxBackward from '../shaders/softmax_backward.wgsl';
import softmaxVec4 from '../shaders/softmax_vec4.wgsl';
import topkKeys from '../shaders/topk_keys.wgsl';
import unary from '../shaders/unary.wgsl';
import where from '../shaders/where.wgsl';

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
  cumsum,
  fill,
  gather,
  matmul,
  matmulTiled,
  matmulVec4,
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
  normVec4,
  oneHot,
  random,
  reduce,
  router,
  routerBackward,
  routerReduce,
  routerSubgroup,
  scatterKeys,
  segmentSum,
  sgd,
  softmax,
  softmaxBackward,
  softmaxVec4,
  topkKeys,
  unary,
  where,
} as const;

export type ShaderName = keyof typeof SHADERS;
export type WgslScalar = 'f32' | 'f16' | 'i32' | 'u32';

/** Code generated from op tables, by shader: it replaces the file's `// @generated` … `// @end generated` block. */
const GENERATED: Partial<Record<ShaderName, () => string>> = {
  unary: () => elementwiseWgsl('unary'),
  binary: () => elementwiseWgsl('binary'),
};

/**
 * The error word's first-violation-wins report (layout in device-checks.ts), shared by every kernel
 * that checks an index: it replaces each file's `// @shared report` … `// @end shared` stand-in.
 * Needs the kernel's `err` binding, `p.op` and an index alias I.
 */
const REPORT_WGSL = `// First violation wins: [0] set, [1] op, [2] index bits, [3] size, [4] negative. Atomics only here.
fn report(v: I, size: u32) {
  if (atomicLoad(&err[0]) == 0u && atomicOr(&err[0], 1u) == 0u) {
    atomicStore(&err[1], p.op);
    atomicStore(&err[2], bitcast<u32>(v));
    atomicStore(&err[3], size);
    atomicStore(&err[4], select(0u, 1u, v < I(0)));
  }
}`;
const SHARED_REPORT = /^\/\/ @shared report\b[^]*?^\/\/ @end shared$/m;

const GENERATED_BLOCK = /^\/\/ @generated\b[^]*?^\/\/ @end generated$/m;
const sources = new Map<ShaderName, string>();

/** The WGSL the engine compiles for a shader: the file, with its generated and shared blocks filled in. */
export function shaderSource(name: ShaderName): string {
  let src = sources.get(name);
  if (src === undefined) {
    const file = SHADERS[name];
    const gen = GENERATED[name];
    if (gen && !GENERATED_BLOCK.test(file)) throw new Error(`${name}.wgsl: no "// @generated" … "// @end generated" block for its generated code`);
    src = gen ? file.replace(GENERATED_BLOCK, () => `// generated from the op table\n${gen()}`) : file;
    src = src.replace(SHARED_REPORT, () => REPORT_WGSL);
    sources.set(name, src);
  }
  return src;
}
