// ONNX Runtime (onnxruntime-node) with its WebGPU execution provider: one-node models, and an unfused
// causal attention subgraph, built in code (bench/onnx.ts). ORT-node bundles its own Dawn, so it runs
// on the same adapter (lavapipe here) but through a second Dawn instance. session.run takes and
// returns host tensors, so every call includes the upload of the inputs and the download of the
// output; a call is complete when it resolves.
import { createRequire } from 'node:module';
import { attentionModel, onnxModel, type OnnxNode } from '../onnx.js';
import { timeCalls, type TimeOptions } from '../timing.js';
import type { Peer } from './peer.js';

type Ort = typeof import('onnxruntime-node');

export async function createOrt(t: TimeOptions): Promise<Peer> {
  const ort = createRequire(import.meta.url)('onnxruntime-node') as Ort;
  if (!ort.listSupportedBackends().some((b) => b.name === 'webgpu')) throw new Error('onnxruntime-node lists no webgpu backend');
  const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
  const run = async (node: OnnxNode | Uint8Array, inputs: Record<string, number[]>, out: number[]): Promise<number> => {
    const model =
      node instanceof Uint8Array
        ? node
        : onnxModel(
            [node],
            Object.entries(inputs).map(([name, shape]) => ({ name, shape })),
            node.outputs.map((name) => ({ name, shape: out })),
          );
    // Fail rather than run a node on the CPU: ORT adds its CPU provider as a fallback for nodes the
    // listed providers lack unless disable_cpu_ep_fallback is set (with it, creating the session
    // fails instead). Checked with verbose logs: the attention subgraph's 6 nodes all run as WebGPU
    // programs (Transpose, MatMul, Mul, Add, Softmax, MatMul; no fusion at the default level).
    const session = await ort.InferenceSession.create(model, { executionProviders: ['webgpu'], extra: { session: { disable_cpu_ep_fallback: '1' } } });
    const feeds = Object.fromEntries(Object.entries(inputs).map(([name, shape]) => [name, new ort.Tensor('float32', rand(shape.reduce((a, b) => a * b, 1)), shape)]));
    const ms = await timeCalls(async () => {
      const r = await session.run(feeds);
      for (const v of Object.values(r)) v.dispose();
    }, async () => {}, t);
    await session.release();
    return ms;
  };
  return {
    name: 'ort',
    matmul: (batch, m, k, n) =>
      run({ opType: 'MatMul', inputs: ['a', 'b'], outputs: ['c'] }, batch > 1 ? { a: [batch, m, k], b: [batch, k, n] } : { a: [m, k], b: [k, n] }, batch > 1 ? [batch, m, n] : [m, n]),
    softmax: (r, c) => run({ opType: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: { axis: { i: -1 } } }, { x: [r, c] }, [r, c]),
    layerNorm: (r, c) =>
      run({ opType: 'LayerNormalization', inputs: ['x', 'g', 'b'], outputs: ['y'], attrs: { axis: { i: -1 }, epsilon: { f: 1e-5 } } }, { x: [r, c], g: [c], b: [c] }, [r, c]),
    attention: (B, H, T, D) => run(attentionModel(B, H, T, D), { q: [B, H, T, D], k: [B, H, T, D], v: [B, H, T, D] }, [B, H, T, D]),
    dispose: () => {},
  };
}
