// Training steps of the methods limited by training speed on lavapipe, at their default sizes, built
// from nn/ as the methods build them (issues #16, #17, #21): ms per step and what a step costs on the
// host (dispatches, submits, readbacks, bind groups and buffers created), so a gain stays measured.
//   copy-bias   methods/copy-bias-pruning: TransformerLM vocab 30, d 64, 3 layers, 4 heads, dFF 256,
//               batch 32 episodes × T 44 (SEQ_LEN), loss on the label tokens only, clip 1, AdamW.
//   step        methods/step: seq2seq Transformer vocab 126, d 64, 4 heads, dFF 128, 2 + 2 layers,
//               batch 16, source 24 + 3 rule slots, target 32, padding masks, AdamW (no clip).
//   gbl MoE     methods/global-batch-lbl (micro arm): MoE TransformerLM vocab 128, d 64, 2 layers,
//               4 heads, 8 experts top-2, dFF 64; 8 micro-batches of 4 × 64 tokens, each its own
//               forward + backward (gradient accumulation), clip 1, AdamW.
import { crossEntropy, type Engine, type Tensor } from '../engine/index.js';
import { AdamW, Embedding, Transformer, TransformerLM, clipGradNorm } from '../nn/index.js';
import type { Row } from './format.js';
import { timeCalls, type TimeOptions } from './timing.js';

/** A deterministic token pattern of `n` ids below `vocab` (seed picks the pattern). */
function ids(n: number, vocab: number, seed: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729 + ((i * i) % 13)) % vocab);
}

export interface MethodStep {
  name: string;
  shape: string;
  /** One training step (encodes it; no readback). */
  step: () => void;
  dispose: () => void;
}

/** The three steps; each builds its model, optimizer and fixed batch. */
export function methodSteps(engine: Engine): Record<string, () => MethodStep> {
  return {
    'train step copy-bias': () => {
      const [B, T, V] = [32, 44, 30];
      engine.manualSeed(0);
      const model = new TransformerLM(engine, { vocabSize: V, dModel: 64, nLayers: 3, nHeads: 4, dFF: 256, maxSeqLen: T, dropout: 0 });
      const opt = new AdamW(model.parameters(), { lr: 5e-3, weightDecay: 0.01, betas: [0.9, 0.98] });
      const x = engine.tensor(ids(B * T, V, 1), [B, T], { dtype: 'i32' });
      // Labels are scored only at the answer tokens (one in 8 positions); the rest is ignore_index.
      const y = engine.tensor(ids(B * T, 10, 2).map((v, i) => (i % 8 === 7 ? v : -100)), [B, T], { dtype: 'i32' });
      return {
        name: 'train step copy-bias',
        shape: `B=${B} T=${T} d=64 L=3 dFF=256, clip`,
        step: () => {
          engine.tidy(() => {
            opt.zeroGrad();
            const loss = model.loss(x, y);
            loss.backward();
            clipGradNorm(model.parameters(), 1).dispose();
            opt.step();
            return loss.detach();
          }).dispose();
        },
        dispose: () => [opt, model, x, y].forEach((t) => t.dispose()),
      };
    },
    'train step step seq2seq': () => {
      const [B, S, R, T, V] = [16, 24, 3, 32, 126];
      engine.manualSeed(0);
      const model = new Transformer(engine, { srcVocabSize: V, tgtVocabSize: V, dModel: 64, nHeads: 4, dFF: 128, nEncoderLayers: 2, nDecoderLayers: 2, maxSeqLen: 64, dropout: 0 });
      const labelEmb = new Embedding(engine, 12, 64, { std: 0.02 });
      const fnEmb = new Embedding(engine, 6, 64, { std: 0.02 });
      const opt = new AdamW([...model.parameters(), ...labelEmb.parameters(), ...fnEmb.parameters()], { lr: 2e-3, weightDecay: 0 });
      const i32 = (a: Int32Array, shape: number[]) => engine.tensor(a, shape, { dtype: 'i32' });
      // Row b is padded after 24 - (b % 5) source tokens and 32 - 2·(b % 4) target tokens.
      const srcPad = i32(Int32Array.from({ length: B * (R + S) }, (_, i) => Number(i % (R + S) >= R + S - (Math.floor(i / (R + S)) % 5))), [B, R + S]);
      const tgtPad = i32(Int32Array.from({ length: B * T }, (_, i) => Number(i % T >= T - 2 * (Math.floor(i / T) % 4))), [B, T]);
      const src = i32(ids(B * S, V, 3), [B, S]);
      const tgtIn = i32(ids(B * T, V, 4), [B, T]);
      const tgtOut = i32(ids(B * T, V, 5).map((v, i) => (i % T >= T - 2 * (Math.floor(i / T) % 4) ? -100 : v)), [B * T]);
      const labels = i32(ids(B * R, 12, 6), [B, R]);
      const fns = i32(ids(B * R, 6, 7), [B, R]);
      return {
        name: 'train step step seq2seq',
        shape: `B=${B} S=${R}+${S} T=${T} d=64 2+2 layers dFF=128`,
        step: () => {
          engine.tidy(() => {
            opt.zeroGrad();
            const prefix = labelEmb.forward(labels).add(fnEmb.forward(fns)); // (B, R, 64)
            const logits = model.forward(src, tgtIn, { srcPaddingMask: srcPad, tgtPaddingMask: tgtPad, prefix }); // (B, T, V)
            const loss = crossEntropy(logits.reshape([B * T, V]), tgtOut);
            loss.backward();
            opt.step();
            return loss.detach();
          }).dispose();
        },
        dispose: () => [opt, model, labelEmb, fnEmb, srcPad, tgtPad, src, tgtIn, tgtOut, labels, fns].forEach((t) => t.dispose()),
      };
    },
    'train step gbl MoE': () => {
      const [G, s, T, V] = [8, 4, 64, 128];
      engine.manualSeed(0);
      const model = new TransformerLM(engine, {
        vocabSize: V, dModel: 64, nLayers: 2, nHeads: 4, maxSeqLen: T, dropout: 0, ffn: 'moe', dFF: 64,
        moe: { numExperts: 8, topK: 2, scoring: 'softmax', renormalize: false, lblWeight: 0.05, zLossWeight: 0 },
      });
      const opt = new AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0.01, betas: [0.9, 0.98] });
      const xs = Array.from({ length: G }, (_, g) => engine.tensor(ids(s * T, V, 10 + g), [s, T], { dtype: 'i32' }));
      const ys = Array.from({ length: G }, (_, g) => engine.tensor(ids(s * T, V, 30 + g), [s, T], { dtype: 'i32' }));
      return {
        name: 'train step gbl MoE',
        shape: `${G}×(${s}×${T}) d=64 L=2 E=8 k=2, clip`,
        step: () => {
          engine.tidy(() => {
            opt.zeroGrad();
            const ces: Tensor[] = [];
            for (let g = 0; g < G; g++) {
              const l = model.loss(xs[g], ys[g]);
              l.add(model.auxLoss()).mul(1 / G).backward();
              ces.push(l.detach());
            }
            clipGradNorm(model.parameters(), 1).dispose();
            opt.step();
            return engine.stack(ces).mean();
          }).dispose();
        },
        dispose: () => [opt, model, ...xs, ...ys].forEach((t) => t.dispose()),
      };
    },
  };
}

/** Host-side counts of one step (engine.counters() before and after, GPU work drained). */
export async function stepCounts(engine: Engine, step: () => void): Promise<Record<string, number>> {
  await engine.sync();
  const a = engine.counters();
  step();
  await engine.sync();
  const b = engine.counters();
  return Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - a[k as keyof typeof a]]));
}

/** The rows: steps/s (the table's units are rates), with ms/step and the host counts printed beside. */
export async function benchMethodSteps(engine: Engine, opts: { time: TimeOptions; want: (n: string) => boolean; add: (r: Row) => void }): Promise<void> {
  for (const [name, make] of Object.entries(methodSteps(engine))) {
    if (!opts.want(name)) continue;
    const m = make();
    const ms = await timeCalls(m.step, () => engine.sync(), { ...opts.time, maxReps: 10 });
    const c = await stepCounts(engine, m.step);
    console.log(`  ${name}: ${ms.toFixed(1)} ms/step; per step ${c.dispatches} dispatches, ${c.submits} submits, ${c.readbacks} readbacks, ${c.bindGroups} bind groups and ${c.buffers} buffers created`);
    opts.add({ name, shape: `${m.shape}; ${ms.toFixed(1)} ms, ${c.dispatches} dispatches`, unit: 'steps/s', kiln: 1000 / ms });
    m.dispose();
  }
}

/**
 * `--profile`: where a method step's time goes. Kernel time by shader (engine.profileKernels: one timed
 * pass per dispatch, so the sum is an upper bound of the kernels' share) against the wall time of the
 * same step in a normal run; the difference is host time (JS, encoding, Dawn, lavapipe's submit).
 */
export async function profileMethodSteps(engine: Engine, want: (n: string) => boolean): Promise<void> {
  for (const [name, make] of Object.entries(methodSteps(engine))) {
    if (!want(name)) continue;
    const m = make();
    m.step();
    await engine.sync();
    const t0 = performance.now();
    const n = 5;
    for (let i = 0; i < n; i++) m.step();
    await engine.sync();
    const wall = (performance.now() - t0) / n;
    // Host time alone: encode a step, measure until encoding returns (the GPU runs behind).
    const e0 = performance.now();
    m.step();
    const encode = performance.now() - e0;
    await engine.sync();
    const p = await engine.profileKernels(m.step, 2048);
    if (!p) {
      console.log(`profile ${name}: ${wall.toFixed(1)} ms/step wall; no timestamp-query, no kernel profile`);
    } else {
      const rows = p.kernels.slice(0, 14).map((k) => `${k.shader} ${k.ms.toFixed(2)}/${k.calls}`).join(', ');
      console.log(`profile ${name}: ${wall.toFixed(1)} ms/step wall, ${encode.toFixed(1)} ms to encode; ${p.dispatches} dispatches, ${p.totalMs.toFixed(1)} ms of kernels (serialised); by shader (ms/calls): ${rows}`);
    }
    await engine.sync();
    m.dispose();
  }
}
