// Whole steps: training tokens/s of the demo-sized LM (nn/demo.ts: vocab 512, dModel 64, 2 layers,
// 4 heads, T 64, 640 tokens per step), dense and MoE (4 experts, top-2), and greedy generation
// tokens/s with the KV cache (nn/generate.ts, which reads each token back: one sync per token).
import type { Engine, Tensor } from '../engine/index.js';
import { AdamW, TransformerLM, generate, type TransformerLMConfigInput } from '../nn/index.js';
import type { Row } from './format.js';
import { median } from './format.js';
import { timeCalls, type TimeOptions } from './timing.js';

export const LM_CONFIG: TransformerLMConfigInput = { vocabSize: 512, dModel: 64, nLayers: 2, nHeads: 4, maxSeqLen: 64, dropout: 0 };
export const [BATCH, SEQ] = [10, 64];

export async function benchSteps(engine: Engine, opts: { small: boolean; time: TimeOptions; want: (n: string) => boolean; add: (r: Row) => void }): Promise<void> {
  const ids = (seed: number) => engine.tensor(Int32Array.from({ length: BATCH * SEQ }, (_, i) => (i * 7919 + seed * 104729) % 512), [BATCH, SEQ], { dtype: 'i32' });
  const x = ids(1);
  const y = ids(2);
  for (const [name, cfg] of [
    ['train step dense LM', LM_CONFIG],
    ['train step MoE LM', { ...LM_CONFIG, ffn: 'moe', moe: { numExperts: 4, topK: 2 } }],
  ] as const) {
    if (!opts.want(name)) continue;
    engine.manualSeed(0);
    const model = new TransformerLM(engine, cfg as TransformerLMConfigInput);
    const opt = new AdamW(model.parameters(), { lr: 1e-3 });
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
    const ms = await timeCalls(step, () => engine.sync(), { ...opts.time, maxReps: 10 });
    opts.add({ name, shape: `B=${BATCH} T=${SEQ} d=64 L=2`, unit: 'tokens/s', kiln: (BATCH * SEQ * 1000) / ms });
    opt.dispose?.();
    model.dispose?.();
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
