// kiln/nn: modules, layers, models, optimizers, tokenizers, data, checkpoints, generation.
// Web-standard code only; Node-specific adapters (files, progress bars, PNG) live in nn/node/.
export { Module, ModuleList, type HookFn } from './module.js';
export * from './layers.js';
export * from './optim.js';
export * from './snapshot.js';
export * from './vector.js';
export * from './schedule.js';
export * from './lora.js';
export * from './safetensors.js';
export * from './checkpoint.js';
export * from './trainer.js';
export * from './plot.js';
export * from './attention.js';
export * from './moe.js';
export { LoadBalancer, RoutingMonitor, type AuxLossTerms, type BalanceScope, type LoadBalancerOptions, type RoutingRecord } from './moe-balance.js';
export * from './transformer.js';
export * from './generate.js';
export * from './privacy.js';
export * from './tokenizer.js';
export * from './data.js';
export * from './stats.js';
export * from './seq2seq.js';
export * from './grouped-linear.js';
export * from './distributions.js';
export * from './mcts.js';
export * from './constrained-decode.js';
export * from './patching.js';
export * from './attribution.js';
