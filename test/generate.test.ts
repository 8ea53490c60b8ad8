// generate: greedy decoding equals step-by-step argmax of full forwards (no cache), batched prompts,
// top-k = 1 and a tiny top-p equal greedy, reported log-probs and margins equal those of the full
// forward, filtering keeps samples inside the allowed set, and seeds reproduce samples.
import { expect } from 'chai';
import { RangeArgumentError, type Engine } from '../engine/index.js';
import { TransformerLM, generate, type TransformerLMConfigInput } from '../nn/index.js';
import { assertClose } from './helpers/compare.js';
import { gpuEngine } from './helpers/gpu.js';
import { values } from './helpers/tensors.js';

const V = 11;
const CFG: TransformerLMConfigInput = { vocabSize: V, dModel: 16, nLayers: 2, nHeads: 2, dFF: 32, maxSeqLen: 16, initStd: 0.5 };
const PROMPTS = [
  [1, 5, 2],
  [7, 0, 9],
];

describe('generate', function () {
  let engine: Engine;
  let model: TransformerLM;
  let live0 = 0;

  before(async function () {
    engine = await gpuEngine(this);
    live0 = engine.memory().liveBuffers;
    engine.manualSeed(21);
    // A larger embedding scale than the default gives peaked, distinct next-token distributions.
    model = new TransformerLM(engine, CFG);
  });

  after(function () {
    if (!model) return;
    model.dispose();
    expect(engine.memory().liveBuffers, 'GPU buffers left alive by the suite').to.equal(live0);
  });

  /** Full-sequence logits (B, T, V) of the current rows, no cache, as nested host arrays [b][t][v]. */
  async function fullLogits(rows: number[][]): Promise<number[][][]> {
    const x = engine.tensor(rows, undefined, { dtype: 'i32' });
    const wasTraining = model.training;
    model.eval();
    const l = engine.noGrad(() => engine.tidy(() => model.forward(x)));
    model.train(wasTraining);
    const v = await values(l);
    x.dispose();
    l.dispose();
    const T = rows[0].length;
    return rows.map((_, b) => Array.from({ length: T }, (_, t) => v.slice((b * T + t) * V, (b * T + t + 1) * V)));
  }

  const argmax = (a: number[]) => a.reduce((bi, x, i) => (x > a[bi] ? i : bi), 0);
  const logSoftmax = (a: number[]) => {
    const m = Math.max(...a);
    const z = Math.log(a.reduce((s, x) => s + Math.exp(x - m), 0)) + m;
    return a.map((x) => x - z);
  };

  it('temperature 0 equals step-by-step argmax of full forwards (batched), with matching log-probs and margins', async () => {
    const n = 6;
    const r = await generate(model, PROMPTS, { maxNewTokens: n, temperature: 0 });
    expect(r.tokens.map((t) => t.length)).to.deep.equal([n, n]);
    expect(r.sequences).to.deep.equal(PROMPTS.map((p, b) => [...p, ...r.tokens[b]]));
    // Reference: recompute the whole sequence at each step, no cache.
    const rows = PROMPTS.map((p) => [...p]);
    for (let i = 0; i < n; i++) {
      const logits = await fullLogits(rows);
      for (let b = 0; b < rows.length; b++) {
        const last = logits[b][rows[b].length - 1];
        const tok = argmax(last);
        expect(r.tokens[b][i], `row ${b} step ${i}`).to.equal(tok);
        expect(r.logProbs[b][i]).to.be.closeTo(logSoftmax(last)[tok], 1e-4);
        const sorted = [...last].sort((x, y) => y - x);
        expect(r.margins[b][i]).to.be.closeTo(sorted[0] - sorted[1], 1e-4);
        rows[b].push(tok);
      }
    }
  });

  it('top-k = 1 and a tiny top-p equal greedy at any temperature', async () => {
    const greedy = await generate(model, PROMPTS, { maxNewTokens: 5, temperature: 0 });
    const k1 = await generate(model, PROMPTS, { maxNewTokens: 5, temperature: 1.5, topK: 1, seed: 1 });
    const p0 = await generate(model, PROMPTS, { maxNewTokens: 5, temperature: 1.5, topP: 1e-4, seed: 2 });
    expect(k1.tokens).to.deep.equal(greedy.tokens);
    expect(p0.tokens).to.deep.equal(greedy.tokens);
  });

  it('sampled log-probs equal the log-softmax of the full forward at the chosen tokens; margins are top1 - top2', async () => {
    const r = await generate(model, PROMPTS, { maxNewTokens: 6, temperature: 0.9, seed: 5 });
    const rows = r.sequences;
    const logits = await fullLogits(rows.map((s) => s.slice(0, -1)));
    const t0 = PROMPTS[0].length;
    for (let b = 0; b < 2; b++) {
      const lp: number[] = [];
      const mg: number[] = [];
      for (let i = 0; i < 6; i++) {
        const row = logits[b][t0 - 1 + i];
        lp.push(logSoftmax(row)[r.tokens[b][i]]);
        const sorted = [...row].sort((x, y) => y - x);
        mg.push(sorted[0] - sorted[1]);
      }
      assertClose(r.logProbs[b], lp, { rtol: 1e-4, atol: 1e-4 }, `logProbs row ${b}`);
      assertClose(r.margins[b], mg, { rtol: 1e-4, atol: 1e-4 }, `margins row ${b}`);
    }
  });

  it('top-k and top-p keep every sample inside the allowed set', async () => {
    for (const opts of [{ topK: 3 }, { topP: 0.6 }] as const) {
      const r = await generate(model, PROMPTS, { maxNewTokens: 6, temperature: 2, seed: 9, ...opts });
      const logits = await fullLogits(r.sequences.map((s) => s.slice(0, -1)));
      for (let b = 0; b < 2; b++)
        for (let i = 0; i < 6; i++) {
          const row = logits[b][PROMPTS[b].length - 1 + i];
          const order = row.map((_, j) => j).sort((x, y) => row[y] - row[x]);
          let allowed: number[];
          if ('topK' in opts) allowed = order.slice(0, opts.topK);
          else {
            // Tempered probabilities, smallest prefix reaching topP.
            const lp = logSoftmax(row.map((x) => x / 2));
            allowed = [];
            let mass = 0;
            for (const j of order) {
              if (mass >= opts.topP) break;
              allowed.push(j);
              mass += Math.exp(lp[j]);
            }
          }
          expect(allowed, `${JSON.stringify(opts)} row ${b} step ${i}`).to.include(r.tokens[b][i]);
        }
    }
  });

  it('the same seed gives the same samples; another seed gives others; the engine stream is restored', async () => {
    const before = engine.getRngState();
    const a = await generate(model, PROMPTS, { maxNewTokens: 8, temperature: 1, seed: 42 });
    const b = await generate(model, PROMPTS, { maxNewTokens: 8, temperature: 1, seed: 42 });
    const c = await generate(model, PROMPTS, { maxNewTokens: 8, temperature: 1, seed: 43 });
    expect(b.tokens).to.deep.equal(a.tokens);
    expect(b.logProbs).to.deep.equal(a.logProbs);
    expect(c.tokens).to.not.deep.equal(a.tokens);
    expect(engine.getRngState()).to.deep.equal(before);
    expect(model.training, 'training mode restored').to.equal(true);
  });

  it('refuses prompt length + maxNewTokens beyond maxSeqLen at the call, before decoding', async () => {
    const live = engine.memory().liveBuffers;
    let err: unknown;
    try {
      await generate(model, PROMPTS, { maxNewTokens: 14, temperature: 0 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(RangeArgumentError);
    expect((err as Error).message).to.match(/generate: prompt length 3 \+ maxNewTokens 14 = 17 exceeds the model's maxSeqLen 16/);
    expect(engine.memory().liveBuffers, 'nothing allocated and left behind').to.equal(live);
    const r = await generate(model, PROMPTS, { maxNewTokens: 13, temperature: 0 });
    expect(r.sequences[0]).to.have.length(16);
  });

  it('accepts a prompt tensor and generates nothing for maxNewTokens 0', async () => {
    const p = engine.tensor(PROMPTS, undefined, { dtype: 'i32' });
    const r = await generate(model, p, { maxNewTokens: 0 });
    expect(r.tokens).to.deep.equal([[], []]);
    expect(r.sequences).to.deep.equal(PROMPTS);
    const g = await generate(model, p, { maxNewTokens: 2, temperature: 0 });
    expect(p.disposed, 'the caller keeps its prompt tensor').to.equal(false);
    expect(g.tokens[0]).to.have.length(2);
    p.dispose();
  });
});
