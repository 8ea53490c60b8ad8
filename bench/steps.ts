// Whole steps: training tokens/s of the demo-sized LM (nn/demo.ts: vocab 512, dModel 64, 2 layers,
// 4 heads, T 64, 640 tokens per step), dense and MoE (4 experts, top-2), and greedy generation
// tokens/s with the KV cache (nn/generate.ts, which reads each token back: one sync per token).
// TF.js fills the dense step's tfjs column with the same model, optimizer and tokens written in its
// core ops (peers/tfjs-transformer.ts; parameter count checked equal to kiln's).
import type { Engine, Tensor } from '../engine/index.js';
import { AdamW, TransformerLM, generate, transformerLMConfig, type TransformerLMConfigInput } from '../nn/index.js';
import type { Row } from './format.js';
import { median } from './format.js';
import type { Peer } from './peers/peer.js';
import type { TfjsPeer } from './peers/tfjs.js';
import { alternateRounds, timeCalls, type TimeOptions } from './timing.js';

export const LM_CONFIG: TransformerLMConfigInput = { vocabSize: 512, dModel: 64, nLayers: 2, nHeads: 4, maxSeqLen: 64, dropout: 0 };
export const [BATCH, SEQ] = [10, 64];

/** The step's AdamW hyper-parameters (the rest are PyTorch's defaults, as kiln's AdamW). */
export const STEP_ADAMW = { lr: 1e-3 };

/** Token ids of the benchmark batch (B, T) (a fixed pattern; seed 1 = inputs, 2 = targets). */
export function stepTokens(seed: number): Int32Array {
  return Int32Array.from({ length: BATCH * SEQ }, (_, i) => (i * 7919 + seed * 104729) % 512);
}

/**
 * With a TF.js peer that has trainStep, the dense row is timed in `rounds` rounds of [kiln, TF.js]
 * (the load of a shared machine drifts within seconds) and each column is the median of its rounds.
 */
export async function benchSteps(
  engine: Engine,
  opts: { small: boolean; time: TimeOptions; want: (n: string) => boolean; add: (r: Row) => void; peers?: Peer[]; rounds?: number },
): Promise<void> {
  const ids = (seed: number) => engine.tensor(stepTokens(seed), [BATCH, SEQ], { dtype: 'i32' });
  const x = ids(1);
  const y = ids(2);
  const tfjs = opts.peers?.find((p): p is TfjsPeer => p.name === 'tfjs' && 'trainStep' in p);
  for (const [name, cfg] of [
    ['train step dense LM', LM_CONFIG],
    ['train step MoE LM', { ...LM_CONFIG, ffn: 'moe', moe: { numExperts: 4, topK: 2 } }],
  ] as const) {
    if (!opts.want(name)) continue;
    engine.manualSeed(0);
    const model = new TransformerLM(engine, cfg as TransformerLMConfigInput);
    const opt = new AdamW(model.parameters(), STEP_ADAMW);
    const step = () => {
      const loss = engine.tidy((): Tensor => {
        opt.zeroGrad();
        const ce = model.loss(x, y);
        ce.add(model.auxLoss()).backward();
        opt.step();
        return ce;
      });
      loss.dispose();
    };
    const stepTime = { ...opts.time, maxReps: 10 };
    const withPeer = tfjs && name === 'train step dense LM';
    const rounds = withPeer ? Math.max(1, opts.rounds ?? 1) : 1;
    const numParams = model.numParameters();
    // The same model (config with every default filled in), tokens, AdamW settings and timing.
    let first = true;
    const tfjsStep = async () => {
      const t = await tfjs!.trainStep(transformerLMConfig(cfg as TransformerLMConfigInput), stepTokens(1), stepTokens(2), [BATCH, SEQ], STEP_ADAMW, stepTime);
      if (first) console.log(`  train step parameters: kiln ${numParams}, tfjs ${t.parameters}`);
      first = false;
      if (t.parameters !== numParams) throw new Error(`parameter counts differ (kiln ${numParams}, tfjs ${t.parameters}): not the same model`);
      return t.ms;
    };
    const timed = await alternateRounds(rounds, () => timeCalls(step, () => engine.sync(), stepTime), withPeer ? [['tfjs train step', tfjsStep]] : []);
    const kilnMs = timed.kiln;
    const tfjsMs = timed.peers.get('tfjs train step') ?? [];
    opt.dispose?.();
    model.dispose?.();
    const rate = (ms: number) => (BATCH * SEQ * 1000) / ms;
    const row: Row = { name, shape: `B=${BATCH} T=${SEQ} d=64 L=2`, unit: 'tokens/s', kiln: rate(median(kilnMs)) };
    if (tfjsMs.length) {
      row.tfjs = rate(median(tfjsMs));
      console.log(`  ${name} rounds (tokens/s): kiln ${kilnMs.map((m) => rate(m).toFixed(0)).join(', ')}; tfjs ${tfjsMs.map((m) => rate(m).toFixed(0)).join(', ')}`);
    }
    opts.add(row);
  }
  if (opts.want('generate dense LM')) {
    engine.manualSeed(0);
    const model = new TransformerLM(engine, LM_CONFIG);
    model.train(false);
    const n = opts.small ? 24 : 48;
    const prompt = [[1, 2, 3, 4, 5, 6, 7, 8]];
    await generate(model, prompt, { maxNewTokens: 4, temperature: 0 }); // warm-up
    const ts: number[] = [];
    for (let s = 0; s < 5; s++) {
      const t0 = performance.now();
      await generate(model, prompt, { maxNewTokens: n, temperature: 0 });
      ts.push(performance.now() - t0);
    }
    opts.add({ name: 'generate dense LM', shape: `B=1 prompt 8, ${n} new, greedy`, unit: 'tokens/s', kiln: (n * 1000) / median(ts) });
    model.dispose?.();
  }
  x.dispose();
  y.dispose();
}
