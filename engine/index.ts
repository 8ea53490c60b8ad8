// kiln's public surface.
export { Engine, type EngineOptions, type EngineCounters, type KernelCall, type KernelProfile, type KernelProfileRow } from './engine.js';
export { Tensor, type TensorOrScalar } from './tensor.js';
export type { DType, TypedArray } from './dtype.js';
export type { Capabilities } from './capabilities.js';
export type { AnomalyOptions } from './anomaly.js';
export type { MemoryInfo } from './buffer-pool.js';
export * from './errors.js';
export { broadcastShapes, contiguousStrides, numel } from './shape.js';
export {
  softmax, logSoftmax, layerNorm, rmsNorm, crossEntropy, dropout, type CrossEntropyOptions,
  mseLoss, binaryCrossEntropyWithLogits, type MSELossOptions, type BCEWithLogitsOptions, type LossReduction,
  gather, indexSelect, scatterAdd, embedding, oneHot, topk, cumsum,
  cat, stack, split, chunk, pad, matmul, setMatmulVariant, type MatmulVariant, where, rpow,
} from './ops/index.js';
export { ctcLoss, type CTCLossOptions } from './ops/ctc.js';
export { flashAttention, setFlashAttentionTiles, FLASH_ATTENTION_MAX_DIM, type FlashAttentionOptions, type FlashAttentionTiles } from './ops/attention.js';
export { topkRouter, type RouterOutput, type RouterOptions } from './ops/router.js';
export { expertFFN, expertFFNDense, expertFFNLoop, type ExpertActivation, type ExpertFFNOptions } from './ops/moe-dispatch.js';
export { foreachSumOfSquares } from './ops/reduce.js';
export { adamwStep_, sgdStep_, type AdamWStepOptions, type SGDStepOptions } from './ops/optim.js';
