// The margin-sampling method (methods/two-tier-selection). Unit checks of the official code's selection
// rules on synthetic streams (budget never exceeded, escalation rate ≈ p after the warm-up, the grid's
// ends are the two models alone, the AUC's closed forms), the task, the label-margin readout against a
// CPU reference on the model's logits, the kiln logistic regression against float64 IRLS; then the quick
// run (the shipped seed-0 model pair, two query seeds) asserting the spec's robust claims with margins at
// about half the gaps observed (methods/two-tier-selection/README.md).
import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../engine/index.js';
import { budgetGrid, cascade, cascadeRate, normalisedAUC, oracleEscalateIf, oracleScores, randomMixture, route, routingRate, type BudgetContext, type QueryStream } from '../methods/two-tier-selection/cascade.js';
import { QUICK, makeConfig } from '../methods/two-tier-selection/config.js';
import { labelOutputs } from '../methods/two-tier-selection/models.js';
import { writeArtifacts } from '../methods/two-tier-selection/plots.js';
import { accuracyByMarginBin, run, type Report } from '../methods/two-tier-selection/run.js';
import { fitLogistic } from '../methods/two-tier-selection/scorer.js';
import { BOS, EQ, IGNORE, PAD, SEQ_LEN, VOCAB_SIZE, makeQuery, packBatch, queryFeatures, tokensOf } from '../methods/two-tier-selection/task.js';
import { SeededRng, TransformerLM } from '../nn/index.js';
import { nodeIO } from '../nn/node/index.js';
import { gpuEngine } from './helpers/gpu.js';

/** A synthetic stream: the small model is right with probability rising in the score, the large one with 0.9. */
function syntheticStream(n: number, seed: number): QueryStream {
  const rng = new SeededRng(`tts-stream:${seed}`);
  const scores = Array.from({ length: n }, () => rng.next() * 5);
  return { scores, smallCorrect: scores.map((s) => (rng.next() < s / 5 ? 1 : 0)), largeCorrect: scores.map(() => (rng.next() < 0.9 ? 1 : 0)) };
}
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('method two-tier-selection', function () {
  this.timeout(240_000);
  let engine: Engine;
  let report: Report;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('task: digit sums mod 10, the answer at "=", running sums, features', function () {
    const rng = new SeededRng(1);
    for (let i = 0; i < 50; i++) {
      const q = makeQuery(rng);
      expect(q.digits.length).to.be.within(1, 6);
      expect(q.answer).to.equal(q.digits.reduce((a, d) => a + d, 0) % 10);
    }
    const q = { digits: [7, 5, 9], answer: 1 };
    expect(tokensOf(q)).to.deep.equal([BOS, 7, 5, 9, EQ]);
    const plain = packBatch([q]);
    expect(Array.from(plain.inputs)).to.deep.equal([BOS, 7, 5, 9, EQ, PAD, PAD, PAD]);
    expect(Array.from(plain.targets)).to.deep.equal([IGNORE, IGNORE, IGNORE, IGNORE, 1, IGNORE, IGNORE, IGNORE]);
    expect(Array.from(packBatch([q], SEQ_LEN, true).targets)).to.deep.equal([IGNORE, 7, 2, 1, 1, IGNORE, IGNORE, IGNORE]);
    expect(queryFeatures(q)).to.deep.equal([0, 0, 1, 0, 0, 0, /* digits */ 0, 0, 0, 0, 0, 1, 0, 1, 0, 1]);
    expect(queryFeatures(q, 4).slice(16)).to.deep.equal([0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    expect(() => packBatch([{ digits: [1, 2, 3, 4, 5, 6, 7], answer: 8 }])).to.throw(/packBatch: a query of 7 digits/);
  });

  it('escalation rates: cascade (B − c_s)/c_l, routing (B − c_s)/(c_l − c_s), capped at 1; the code\'s fallback', function () {
    const b = (budget: number, accSmall = 0.5, accLarge = 0.9): BudgetContext => ({ costs: { small: 1, large: 10 }, budget, accSmall, accLarge, numClasses: 10, warmup: 20 });
    expect(cascadeRate(b(4))).to.be.closeTo(0.3, 1e-12);
    expect(routingRate(b(4))).to.be.closeTo(3 / 9, 1e-12);
    expect(cascadeRate(b(10))).to.be.closeTo(0.9, 1e-12);
    expect(routingRate(b(10))).to.equal(1);
    expect(cascadeRate(b(4, 0.9, 0.5))).to.be.closeTo(0.05, 1e-12); // large not better: min((1 − acc_s)/2, 0.6)
  });

  it('cascade bookkeeping: never over budget, escalation rate within 5 pp of p after the warm-up, the two models alone at the grid ends', function () {
    const s = syntheticStream(4000, 0);
    const accS = mean(s.smallCorrect), accL = mean(s.largeCorrect);
    for (const large of [5, 10, 50]) {
      const costs = { small: 1, large };
      for (const budget of budgetGrid(costs, 25)) {
        const ctx: BudgetContext = { costs, budget, accSmall: accS, accLarge: accL, numClasses: 10, warmup: 20 };
        for (const o of [cascade(s, ctx), route(s, ctx), cascade(s, ctx, oracleEscalateIf)]) expect(o.meanCost, `B ${budget}`).to.be.at.most(budget + 1e-9);
        const m = cascade(s, ctx);
        if (m.p < 1 && m.thresholdedAfterWarmup > 100) expect(Math.abs(m.escalatedAfterWarmup / m.thresholdedAfterWarmup - m.p), `c_l ${large}, B ${budget}`).to.be.at.most(0.05);
        const r = route(s, ctx);
        if (r.p < 1 && r.thresholdedAfterWarmup > 100) expect(Math.abs(r.escalatedAfterWarmup / r.thresholdedAfterWarmup - r.p), `routing c_l ${large}, B ${budget}`).to.be.at.most(0.05);
      }
      const at = (budget: number) => ({ costs, budget, accSmall: accS, accLarge: accL, numClasses: 10, warmup: 20 });
      for (const f of [(c: BudgetContext) => cascade(s, c), (c: BudgetContext) => route(s, c)]) {
        expect(f(at(1)).accuracy).to.be.closeTo(accS, 1e-12);
        expect(f(at(large)).accuracy).to.be.closeTo(accL, 1e-12);
        expect(f(at(large)).directLarge).to.equal(s.scores.length);
      }
      // A budget of half c_s: the first half of the stream by the small model, the rest unpaid (chance).
      expect(cascade(s, at(0.5))).to.include({ unpaid: s.scores.length / 2, meanCost: 0.5 });
    }
    // Low scores escalate: a cascade whose score is the small model's correctness beats one on shuffled scores.
    const ctx: BudgetContext = { costs: { small: 1, large: 10 }, budget: 4, accSmall: accS, accLarge: accL, numClasses: 10, warmup: 20 };
    const informative = cascade(s, ctx).accuracy;
    const shuffled = cascade({ ...s, scores: new SeededRng(5).shuffle([...s.scores]) }, ctx).accuracy;
    expect(informative).to.be.greaterThan(shuffled + 0.05);
  });

  it('warm-up: nothing is escalated during the first 20 observations', function () {
    // c_l = 50, B = 2: the budget never covers the large model for all remaining queries (no direct calls).
    const ctx: BudgetContext = { costs: { small: 1, large: 50 }, budget: 2, accSmall: 0.5, accLarge: 0.9, numClasses: 10, warmup: 20 };
    const s = syntheticStream(20, 1);
    const o = cascade(s, ctx);
    expect(o).to.include({ directLarge: 0, escalatedAfterWarmup: 0, meanCost: 1 });
    expect(o.accuracy).to.equal(mean(s.smallCorrect));
    const longer = cascade(syntheticStream(200, 1), ctx);
    expect(longer.escalatedAfterWarmup, 'after the warm-up the threshold escalates').to.be.greaterThan(0);
  });

  it('oracle: escalates only queries the small model gets wrong, large-right ones first; AUC ≥ the margin-like cascade', function () {
    const s = syntheticStream(3000, 2);
    const jitter = s.scores.map((_, i) => (i * 0.618) % 1);
    const o = oracleScores(s, jitter);
    s.smallCorrect.forEach((ok, i) => expect(o[i] >= 1 === (ok === 1)).to.equal(true));
    const costs = { small: 1, large: 10 };
    const grid = budgetGrid(costs, 30);
    const curve = (f: (c: BudgetContext) => number) => grid.map((budget) => f({ costs, budget, accSmall: mean(s.smallCorrect), accLarge: mean(s.largeCorrect), numClasses: 10, warmup: 20 }));
    const oracle = normalisedAUC(grid, curve((c) => cascade({ ...s, scores: o }, c, oracleEscalateIf).accuracy));
    const byScore = normalisedAUC(grid, curve((c) => cascade(s, c).accuracy));
    const random = normalisedAUC(grid, curve((c) => randomMixture(s, c).accuracy));
    expect(oracle).to.be.greaterThan(byScore);
    expect(byScore).to.be.greaterThan(random);
  });

  it('random mixture: the first ⌊r·N⌋ queries small, the rest large (r = (B − c_l)/(c_s − c_l))', function () {
    const n = 1000;
    const s = { smallCorrect: new Array(n).fill(1), largeCorrect: new Array(n).fill(0) };
    const r = randomMixture(s, { costs: { small: 1, large: 5 }, budget: 2.2 });
    expect(r.accuracy).to.equal(Math.floor(n * (2.2 - 5) / (1 - 5)) / n);
    expect(randomMixture(s, { costs: { small: 1, large: 5 }, budget: 1 }).accuracy).to.equal(1);
    expect(randomMixture(s, { costs: { small: 1, large: 5 }, budget: 5 }).accuracy).to.equal(0);
  });

  it('budget grid and normalised AUC: both ends included; a constant gives itself, a line its midpoint', function () {
    const g = budgetGrid({ small: 1, large: 50 }, 100);
    expect(g).to.have.length(100);
    expect(g[0]).to.equal(1);
    expect(g[99]).to.equal(50);
    expect(g[1] - g[0]).to.be.closeTo(49 / 99, 1e-12);
    expect(normalisedAUC(g, g.map(() => 0.7))).to.be.closeTo(0.7, 1e-12);
    expect(normalisedAUC(g, g.map((b) => 0.2 + (0.6 * (b - 1)) / 49))).to.be.closeTo(0.5, 1e-12);
    // A kink at the middle of [0, 2]: ∫ = 1·0 + ½·1·1, over 2.
    expect(normalisedAUC([0, 1, 2], [0, 0, 1])).to.be.closeTo(0.25, 1e-12);
    expect(() => normalisedAUC([1], [1])).to.throw(/normalisedAUC/);
    expect(() => budgetGrid({ small: 1, large: 5 }, 1)).to.throw(/budgetGrid/);
    expect(() => cascade({ smallCorrect: [1], largeCorrect: [], scores: [0] }, { costs: { small: 1, large: 5 }, budget: 2, accSmall: 0, accLarge: 1, numClasses: 10, warmup: 20 })).to.throw(/cascade: smallCorrect \(1\), largeCorrect \(0\)/);
  });

  it('margin bins: equal counts in ascending margin order', function () {
    const margins = [5, 1, 4, 2, 3, 0];
    const correct = [1, 0, 1, 0, 1, 0];
    expect(accuracyByMarginBin(margins, correct, 3)).to.deep.equal([{ margin: 0.5, accuracy: 0 }, { margin: 2.5, accuracy: 0.5 }, { margin: 4.5, accuracy: 1 }]);
  });

  it('label outputs: prediction, logit margin and probability margin match a CPU reference on the label logits', async function () {
    engine.manualSeed(3);
    const model = new TransformerLM(engine, { vocabSize: VOCAB_SIZE, dModel: 16, nLayers: 1, nHeads: 2, dFF: 32, maxSeqLen: SEQ_LEN, initStd: 1 });
    try {
      const rng = new SeededRng(9);
      const queries = Array.from({ length: 40 }, () => makeQuery(rng));
      const out = await labelOutputs(engine, model, queries);
      for (let i = 0; i < queries.length; i++) {
        const t = tokensOf(queries[i]);
        const logits = engine.noGrad(() => model.forward(engine.tensor([t], undefined, { dtype: 'i32' })));
        const all = Array.from(await logits.data());
        logits.dispose();
        const row = all.slice((t.length - 1) * VOCAB_SIZE, (t.length - 1) * VOCAB_SIZE + 10); // the label logits at '='
        const sorted = [...row].sort((a, b) => b - a);
        const z = row.map((v) => Math.exp(v - sorted[0]));
        const total = z.reduce((a, b) => a + b, 0);
        const p = z.map((v) => v / total).sort((a, b) => b - a);
        expect(out.prediction[i]).to.equal(row.indexOf(sorted[0]));
        expect(out.margin[i]).to.be.closeTo(sorted[0] - sorted[1], 1e-4);
        expect(out.probMargin[i]).to.be.closeTo(p[0] - p[1], 1e-5);
        expect(out.logProbAnswer[i]).to.be.closeTo(Math.log(z[queries[i].answer] / total), 1e-4);
      }
    } finally {
      model.dispose();
    }
  });

  it('logistic regression on kiln matches the float64 maximum-likelihood fit (IRLS)', async function () {
    const rng = new SeededRng(11);
    const w = [1.5, -2, 0.5], bias = 0.3;
    const x = Array.from({ length: 400 }, () => [rng.next() * 2 - 1, rng.next() * 2 - 1, rng.int(2)]);
    const y = x.map((r) => (rng.next() < 1 / (1 + Math.exp(-(bias + r.reduce((a, v, j) => a + v * w[j], 0)))) ? 1 : 0));
    const fit = await fitLogistic(engine, { x, y }, x, { steps: 1500, lr: 0.05, weightDecay: 0 });
    // Reference: Newton's method on [x, 1] in float64.
    const X = x.map((r) => [...r, 1]);
    let beta = [0, 0, 0, 0];
    for (let it = 0; it < 30; it++) {
      const H = beta.map(() => beta.map(() => 0));
      const g = beta.map(() => 0);
      X.forEach((r, i) => {
        const pr = 1 / (1 + Math.exp(-r.reduce((a, v, j) => a + v * beta[j], 0)));
        r.forEach((v, j) => {
          g[j] += (y[i] - pr) * v;
          r.forEach((u, k) => (H[j][k] += pr * (1 - pr) * v * u));
        });
      });
      beta = beta.map((b, j) => b + solve(H, g)[j]);
    }
    const ref = X.map((r) => 1 / (1 + Math.exp(-r.reduce((a, v, j) => a + v * beta[j], 0))));
    const worst = Math.max(...ref.map((p, i) => Math.abs(p - fit.scores[i])));
    expect(worst, `worst |p_kiln − p_IRLS| ${worst}`).to.be.below(0.01);
    expect(fit.trainLoss).to.be.below(fit.baseRateLoss);
    await expectThrows(() => fitLogistic(engine, { x: [[1, 2]], y: [1] }, [[1]], { steps: 1, lr: 0.1, weightDecay: 0 }), /fitLogistic: expected x \(N, F\)/);
  });

  it('quick run: margin cascade > random mixture at every cost and seed; the margin is informative; never over budget', async function () {
    const cfg = makeConfig(QUICK);
    report = await run(engine, QUICK, { checkpointIO: nodeIO, log: process.env.TTS_LOG ? (s) => console.log(s) : undefined });
    expect(report.modelsCached, `the shipped model pair in ${cfg.cacheDir} (training it again takes minutes)`).to.deep.equal([true]);
    const costs = Object.keys(report.costs);
    expect(costs).to.deep.equal(['fix5', 'fix10', 'fix50', 'flops']);
    const line = (k: keyof Report['auc']) => `${k} ${costs.map((c) => report.auc[k][c].perSeed.map((v) => v.toFixed(3)).join('/')).join(' ')}`;
    const msg = ['margin', 'random', 'oracle', 'scorer', 'routing'].map((k) => line(k as keyof Report['auc'])).join('; ');
    for (const c of costs) {
      report.auc.margin[c].perSeed.forEach((m, s) => {
        expect(m - report.auc.random[c].perSeed[s], `${c} seed ${s}: ${msg}`).to.be.at.least(AUC_MARGIN);
        expect(report.auc.oracle[c].perSeed[s], `${c} seed ${s}: ${msg}`).to.be.at.least(m);
      });
    }
    const t = report.marginTercileAccuracy;
    t.high.perSeed.forEach((h, s) => expect(h - t.low.perSeed[s], `terciles low ${t.low.perSeed}, high ${t.high.perSeed}`).to.be.at.least(0.2));
    report.maxCostOverrun.perSeed.forEach((o) => expect(o).to.be.at.most(1e-9));
    report.maxEscalationRateError.perSeed.forEach((e) => expect(e).to.be.at.most(0.05));
    expect(report.accuracy.large.mean).to.be.greaterThan(report.accuracy.small.mean);
  });

  it('writes report.json and the plots', async function () {
    if (!report) this.skip();
    const dir = await mkdtemp(join(tmpdir(), 'kiln-tts-'));
    try {
      await writeArtifacts(report, dir);
      const files = (await readdir(dir)).sort();
      for (const f of ['report.json', 'accuracy-vs-budget.svg', 'accuracy-vs-budget.png', 'margin-bins.svg', 'margin-bins.png']) expect(files).to.include(f);
      const back = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as Report;
      for (const k of ['config', 'accuracy', 'auc', 'marginTercileAccuracy', 'maxCostOverrun']) expect(back).to.have.property(k);
      for (const k of ['margin', 'random', 'oracle', 'scorer', 'routing']) expect(back.auc).to.have.property(k);
      expect(back.auc.margin.fix10.perSeed).to.have.length(QUICK.seeds!.length);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Gaussian elimination with partial pivoting (small dense systems). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((r, i) => [...r, b[i]]);
  for (let c = 0; c < n; c++) {
    const p = M.reduce((best, r, i) => (i >= c && Math.abs(r[c]) > Math.abs(M[best][c]) ? i : best), c);
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  const xs = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) xs[r] = (M[r][n] - M[r].slice(r + 1, n).reduce((a, v, k) => a + v * xs[r + 1 + k], 0)) / M[r][r];
  return xs;
}

async function expectThrows(f: () => Promise<unknown>, re: RegExp): Promise<void> {
  let err: unknown = null;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  expect(String(err)).to.match(re);
}

// About half the smallest per-seed AUC gap margin − random observed in the quick run (0.043, fix5 seed 1; README).
const AUC_MARGIN = 0.02;
