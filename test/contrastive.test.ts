// contrastiveGenerate (two models, two KV caches): greedy decoding equals the step-by-step argmax of
// the float64 contrast of full forwards without cache, with the reported scores and log-probs; every
// sampled token lies in the plausible head; α = 1 leaves only the expert's argmax; γ = 0, α = 0 is
// plain greedy decoding of the expert; one step's sampling frequencies match softmax(s / T);
// sequenceLogLikelihood equals the mean log-softmax of full forwards.
import { expect } from 'chai';
import { RangeArgumentError, ShapeError, type Engine } from '../engine/index.js';
import { TransformerLM, contrastiveGenerate, generate, sequenceLogLikelihood, type TransformerLMConfigInput } from '../nn/index.js';
import { assertClose } from './helpers/compare.js';
import { gpuEngine } from './helpers/gpu.js';
import { values } from './helpers/tensors.js';

const V = 9;
const CFG: TransformerLMConfigInput = { vocabSize: V, dModel: 16, nLayers: 2, nHeads: 2, dFF: 32, maxSeqLen: 12, initStd: 0.6 };
const PROMPTS = [
  [1, 5, 2],
  [7, 0, 8],
];

describe('contrastive decoding', function () {
  this.timeout(60_000);
  let engine: Engine;
  let expert: TransformerLM;
  let amateur: TransformerLM;
  let live0 = 0;

  before(async function () {
    engine = await gpuEngine(this);
    live0 = engine.memory().liveBuffers;
    engine.manualSeed(3);
    expert = new TransformerLM(engine, CFG);
    engine.manualSeed(4);
    amateur = new TransformerLM(engine, CFG);
  });

  after(function () {
    if (!expert) return;
    expert.dispose();
    amateur.dispose();
    expect(engine.memory().liveBuffers, 'GPU buffers left alive by the suite').to.equal(live0);
  });

  /** Full-sequence log-softmax [b][t][v] in float64 from one forward without cache. */
  async function fullLogProbs(model: TransformerLM, rows: number[][]): Promise<number[][][]> {
    const x = engine.tensor(rows, undefined, { dtype: 'i32' });
    const was = model.training;
    model.eval();
    const l = engine.noGrad(() => engine.tidy(() => model.forward(x)));
    model.train(was);
    const v = await values(l);
    x.dispose();
    l.dispose();
    const T = rows[0].length;
    return rows.map((_, b) =>
      Array.from({ length: T }, (_, t) => {
        const a = v.slice((b * T + t) * V, (b * T + t + 1) * V);
        const m = Math.max(...a);
        const z = Math.log(a.reduce((s, y) => s + Math.exp(y - m), 0)) + m;
        return a.map((y) => y - z);
      }),
    );
  }

  /** Reference contrast in float64: ℓe − γ ℓa inside the head {ℓe ≥ max ℓe + log α}, -Infinity outside. */
  const contrast = (le: number[], la: number[], gamma: number, alpha: number) => {
    const m = Math.max(...le);
    return le.map((x, v) => (alpha > 0 && x < m + Math.log(alpha) ? -Infinity : x - gamma * la[v]));
  };
  const argmax = (a: number[]) => a.reduce((bi, x, i) => (x > a[bi] ? i : bi), 0);

  for (const [gamma, alpha] of [[1, 0.1], [0.5, 0], [1.5, 0.3]] as const) {
    it(`greedy (γ ${gamma}, α ${alpha}) equals step-by-step argmax of the float64 contrast of full forwards, with the scores`, async () => {
      const n = 6;
      const r = await contrastiveGenerate(expert, amateur, PROMPTS, { maxNewTokens: n, temperature: 0, gamma, alpha });
      expect(r.sequences).to.deep.equal(PROMPTS.map((p, b) => [...p, ...r.tokens[b]]));
      const rows = PROMPTS.map((p) => [...p]);
      for (let i = 0; i < n; i++) {
        const le = await fullLogProbs(expert, rows), la = await fullLogProbs(amateur, rows);
        for (let b = 0; b < rows.length; b++) {
          const t = rows[b].length - 1;
          const s = contrast(le[b][t], la[b][t], gamma, alpha);
          const tok = argmax(s);
          // A near-tie between two tokens could flip in f32; the reference gap says so if it happens.
          const gap = s[tok] - Math.max(...s.filter((_, v) => v !== tok));
          expect(r.tokens[b][i], `row ${b} step ${i} (reference gap ${gap})`).to.equal(tok);
          expect(r.scores[b][i]).to.be.closeTo(s[tok], 1e-4);
          expect(r.expertLogProbs[b][i]).to.be.closeTo(le[b][t][tok], 1e-4);
          expect(r.amateurLogProbs[b][i]).to.be.closeTo(la[b][t][tok], 1e-4);
          rows[b].push(tok);
        }
      }
    });
  }

  it('γ = 0, α = 0 is greedy decoding of the expert; α = 1 keeps only the expert argmax, even when sampling', async () => {
    const plain = await generate(expert, PROMPTS, { maxNewTokens: 7, temperature: 0 });
    const c0 = await contrastiveGenerate(expert, amateur, PROMPTS, { maxNewTokens: 7, temperature: 0, gamma: 0, alpha: 0 });
    expect(c0.tokens).to.deep.equal(plain.tokens);
    const c1 = await contrastiveGenerate(expert, amateur, PROMPTS, { maxNewTokens: 7, temperature: 2, alpha: 1, seed: 5 });
    expect(c1.tokens).to.deep.equal(plain.tokens);
  });

  it('every sampled token lies in the plausible head, and its score is the float64 contrast', async () => {
    const alpha = 0.2, gamma = 1;
    const r = await contrastiveGenerate(expert, amateur, PROMPTS, { maxNewTokens: 8, temperature: 1.5, gamma, alpha, seed: 11 });
    const le = await fullLogProbs(expert, r.sequences.map((s) => s.slice(0, -1)));
    const la = await fullLogProbs(amateur, r.sequences.map((s) => s.slice(0, -1)));
    for (let b = 0; b < 2; b++)
      for (let i = 0; i < 8; i++) {
        const t = PROMPTS[b].length - 1 + i;
        const s = contrast(le[b][t], la[b][t], gamma, alpha);
        const tok = r.tokens[b][i];
        expect(s[tok], `row ${b} step ${i}: token ${tok} outside the head`).to.be.greaterThan(-Infinity);
        expect(r.scores[b][i]).to.be.closeTo(s[tok], 1e-4);
      }
  });

  it('one sampled step follows softmax(s / T) over the head (frequencies of 4000 draws)', async () => {
    const B = 4000, T = 2, alpha = 0.01, gamma = 1;
    const prompt = Array.from({ length: B }, () => [3, 1]);
    const r = await contrastiveGenerate(expert, amateur, prompt, { maxNewTokens: 1, temperature: T, gamma, alpha, seed: 2 });
    const le = await fullLogProbs(expert, [[3, 1]]), la = await fullLogProbs(amateur, [[3, 1]]);
    const s = contrast(le[0][1], la[0][1], gamma, alpha).map((x) => x / T);
    const m = Math.max(...s);
    const z = s.reduce((a, x) => a + Math.exp(x - m), 0);
    const p = s.map((x) => Math.exp(x - m) / z);
    const freq = Array(V).fill(0);
    for (const row of r.tokens) freq[row[0]] += 1 / B;
    // Binomial standard error at B = 4000 is at most 0.008: 4.5 of them is 0.036.
    p.forEach((pv, v) => expect(freq[v], `token ${v}: frequency ${freq[v].toFixed(3)}, probability ${pv.toFixed(3)}`).to.be.closeTo(pv, 0.036));
    expect(p.filter((x) => x > 0.02).length, 'the check is not trivial: several tokens have mass').to.be.at.least(2);
  });

  it('sequenceLogLikelihood is the mean log-softmax of the next tokens of a full forward', async () => {
    const rows = [[1, 2, 3, 4, 5], [8, 0, 7, 7, 1], [4, 4, 4, 4, 4]];
    const got = await sequenceLogLikelihood(expert, rows, { batchSize: 2 });
    const lp = await fullLogProbs(expert, rows);
    const ref = rows.map((r, b) => r.slice(1).reduce((a, tok, t) => a + lp[b][t][tok], 0) / (r.length - 1));
    assertClose(got, ref, { rtol: 1e-4, atol: 1e-4 }, 'mean log-likelihood');
  });

  it('refuses bad arguments at the call, naming the function and the shapes', async () => {
    const other = new TransformerLM(engine, { ...CFG, vocabSize: V + 1 });
    try {
      const live = engine.memory().liveBuffers;
      const bad = async (f: () => Promise<unknown>, type: Function, re: RegExp) => {
        let err: unknown;
        try {
          await f();
        } catch (e) {
          err = e;
        }
        expect(err, String(re)).to.be.instanceOf(type);
        expect((err as Error).message).to.match(re);
      };
      await bad(() => contrastiveGenerate(expert, other, PROMPTS, { maxNewTokens: 2 }), ShapeError, /contrastiveGenerate: the expert has 9 logits per token but the amateur 10/);
      await bad(() => contrastiveGenerate(expert, amateur, PROMPTS, { maxNewTokens: 2, alpha: 2 }), RangeArgumentError, /contrastiveGenerate: alpha must be in \[0, 1\], got 2/);
      await bad(() => contrastiveGenerate(expert, amateur, PROMPTS, { maxNewTokens: 10 }), RangeArgumentError, /prompt length 3 \+ maxNewTokens 10 = 13 exceeds the expert model's maxSeqLen 12/);
      await bad(() => contrastiveGenerate(expert, amateur, [[]], { maxNewTokens: 1 }), ShapeError, /expected prompt ids \(B, T0\) with T0 >= 1, got \[1, 0\]|got \(1, 0\)/);
      await bad(() => sequenceLogLikelihood(expert, [[1, 2], [1]]), ShapeError, /sequenceLogLikelihood: every sequence must have 2 tokens, got one of 1/);
      expect(engine.memory().liveBuffers, 'nothing left behind by refused calls').to.equal(live);
    } finally {
      other.dispose();
    }
  });
});
