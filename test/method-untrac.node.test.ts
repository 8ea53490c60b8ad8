// The UnTrac method (methods/untrac): the synthetic topic world and its coupled leave-one-out batch
// stream, the correlation summaries, the first-order identity "one SGD ascent step = GradDot" (spec
// App. A.2) on a real model, and the quick run's claims: UnTrac with Adam tracks the leave-one-corpus-
// out ground truth, Adam unlearning beats SGD unlearning, UnTrac-Inv tracks it too, and the corpus that
// holds the deterministic topic is found. Thresholds are about half the gaps of a first run (README).
import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../engine/index.js';
import { QUICK } from '../methods/untrac/config.js';
import { writeArtifacts } from '../methods/untrac/plots.js';
import { groundTruthSpread, perTestCorrelation, pooledCorrelation, run, topAgreement, type Report } from '../methods/untrac/run.js';
import { CorpusSampler, TopicWorld, influenceSample } from '../methods/untrac/topics.js';
import { SGD, TransformerLM, gradientsToVector, pearson } from '../nn/index.js';
import { gpuEngine } from './helpers/gpu.js';

describe('method untrac', function () {
  this.timeout(300_000);
  let engine: Engine;
  let report: Report;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('topic world: deterministic base 0, base-0-rich corpus 0, corpus sizes by share, pure test sets', function () {
    const w = new TopicWorld({ seed: 3 });
    const again = new TopicWorld({ seed: 3 });
    expect(Array.from(w.corpora[2].tokens)).to.deep.equal(Array.from(again.corpora[2].tokens));
    expect(w.corpora.map((c) => c.rows)).to.deep.equal([1400, 1000, 600, 400, 400, 200]);
    expect(w.mixtures[0]).to.deep.equal([0.8, 0.1, 0.05, 0.05]);
    for (const m of w.mixtures.slice(1)) expect(m[0]).to.be.lessThan(0.8);
    for (const m of w.mixtures) expect(m.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-12);
    const L = w.options.seqLen + 1;
    // Base 0: every token has one successor, the same everywhere in its test set.
    const succ = new Map<number, number>();
    const t0 = w.tests[0];
    for (let r = 0; r < t0.rows; r++) {
      expect(t0.tokens[r * L]).to.equal(w.bos);
      for (let i = 1; i < L - 1; i++) {
        const a = t0.tokens[r * L + i], b = t0.tokens[r * L + i + 1];
        if (succ.has(a)) expect(succ.get(a)).to.equal(b);
        succ.set(a, b);
      }
    }
    // A stochastic base's test set has tokens with several successors, and a unigram entropy near ln 24 or below.
    expect(w.unigramEntropy(w.tests[1])).to.be.within(0.5, Math.log(24));
    expect(influenceSample(w, 5, 32, 0).rows).to.equal(32);
  });

  it('leave-one-out batch stream: the left-out corpus never appears; every other slot matches the full run', function () {
    const w = new TopicWorld({ seed: 1 });
    const L = w.options.seqLen + 1;
    const key = (tokens: Int32Array, r: number) => tokens.subarray(r * L, (r + 1) * L).join(',');
    const corpusOf = new Map<string, Set<number>>();
    w.corpora.forEach((c, k) => {
      for (let r = 0; r < c.rows; r++) {
        const s = corpusOf.get(key(c.tokens, r)) ?? new Set<number>();
        corpusOf.set(key(c.tokens, r), s.add(k));
      }
    });
    const full = new CorpusSampler(w, 9).batch(2000), loo = new CorpusSampler(w, 9, [0]).batch(2000);
    let same = 0, replaced = 0;
    for (let r = 0; r < 2000; r++) {
      const a = key(full.tokens, r), b = key(loo.tokens, r);
      expect(corpusOf.get(b)!.has(0) && corpusOf.get(b)!.size === 1, 'a row only corpus 0 holds').to.equal(false);
      if (a === b) same++;
      else {
        expect(corpusOf.get(a)!.has(0), 'only slots that drew corpus 0 differ').to.equal(true);
        replaced++;
      }
    }
    // Corpus 0 holds 35% of the data.
    expect(replaced / 2000).to.be.within(0.3, 0.4);
    expect(same + replaced).to.equal(2000);
  });

  it('correlation summaries: per test set, pooled, top-corpus agreement, GT spread', function () {
    const gt = [[1, 0], [0, 1], [-1, 2]];
    expect(perTestCorrelation(gt.map((r) => r.map((v) => 3 * v + 1)), gt, pearson)).to.be.closeTo(1, 1e-12);
    expect(perTestCorrelation([[1, 1], [0, 2], [-1, 3]], gt, pearson)).to.be.closeTo(1, 1e-12);
    expect(perTestCorrelation([[-1, 0], [0, 1], [1, 2]], gt, pearson)).to.be.closeTo(0, 1e-12); // -1 and +1
    expect(pooledCorrelation(gt, gt, pearson)).to.be.closeTo(1, 1e-12);
    expect(Number.isNaN(perTestCorrelation([[NaN, 0], [0, 1], [1, 2]], gt, pearson))).to.equal(true);
    expect(topAgreement([[5, 0], [0, 1], [1, 9]], gt)).to.equal(1);
    expect(topAgreement([[0, 0], [5, 1], [1, 0]], gt)).to.equal(0);
    expect(topAgreement([[5, 0], [0, 1], [1, 0]], gt, [0])).to.equal(1);
    expect(groundTruthSpread([[1, 2], [-1, 2]])).to.be.closeTo(0.5, 1e-12);
  });

  it('one small SGD ascent step on a corpus raises the test loss by lr · ⟨g_train, g_test⟩ (UnTrac-SGD = GradDot to first order)', async function () {
    const w = new TopicWorld({ seed: 0 });
    const T = w.options.seqLen, L = T + 1;
    const split = (tokens: Int32Array, rows: number) => {
      const inp = new Int32Array(rows * T), tgt = new Int32Array(rows * T);
      for (let r = 0; r < rows; r++) (inp.set(tokens.subarray(r * L, r * L + T), r * T), tgt.set(tokens.subarray(r * L + 1, (r + 1) * L), r * T));
      return [engine.tensor(inp, [rows, T], { dtype: 'i32' }), engine.tensor(tgt, [rows, T], { dtype: 'i32' })];
    };
    engine.manualSeed(11);
    const model = new TransformerLM(engine, { vocabSize: w.vocabSize, dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: T });
    const params = model.parameters();
    const [xa, ya] = split(influenceSample(w, 1, 16, 0).tokens, 16), [xb, yb] = split(w.tests[1].tokens, w.tests[1].rows);
    const gradOf = (x: typeof xa, y: typeof ya) => {
      model.zeroGrad();
      engine.tidy(() => model.loss(x, y).backward());
      const g = gradientsToVector(params);
      model.zeroGrad();
      return g;
    };
    const ga = gradOf(xa, ya), gb = gradOf(xb, yb);
    const dot = await engine.tidy(() => ga.mul(gb).sum()).item();
    const before = await engine.noGrad(() => engine.tidy(() => model.loss(xb, yb))).item();
    const lr = 1e-3;
    const opt = new SGD(params, { lr });
    engine.tidy(() => model.loss(xa, ya).neg().backward());
    opt.step();
    model.zeroGrad();
    const after = await engine.noGrad(() => engine.tidy(() => model.loss(xb, yb))).item();
    // First order: ΔL = lr·dot + O(lr²); at lr 1e-3 the second-order term is far below 10% here.
    expect(dot).to.be.greaterThan(0);
    expect(after - before).to.be.closeTo(lr * dot, 0.1 * lr * dot);
    for (const t of [xa, ya, xb, yb, ga, gb]) t.dispose();
    opt.dispose();
    model.dispose();
  });

  it('quick run: UnTrac (Adam) and UnTrac-Inv track the leave-one-out ground truth; Adam unlearning beats SGD', async function () {
    report = await run(engine, QUICK, { log: process.env.UNTRAC_LOG ? (s) => console.log(s) : undefined });
    const p = report.pearson;
    const f = (s: { perSeed: number[] }) => s.perSeed.map((v) => v.toFixed(2)).join('/');
    const msg = Object.entries(p).map(([k, s]) => `${k} ${f(s)}`).join(', ') + `; det. top ${f(report.deterministicTopAgreement.untracAdam)}`;
    expect(p.untracAdam.mean, msg).to.be.at.least(UNTRAC_MIN);
    expect(p.untracAdam.mean - p.untracSgd.mean, msg).to.be.at.least(ADAM_OVER_SGD);
    expect(p.untracInv.mean, msg).to.be.at.least(UNTRAC_INV_MIN);
    expect(report.deterministicTopAgreement.untracAdam.mean, msg).to.be.at.least(DET_TOP_MIN);
    // θ0 is well below the unigram loss, and the GT has a real spread across corpora.
    expect(report.testLoss.mean).to.be.lessThan(report.unigramLoss.mean - 0.5);
    expect(report.groundTruthSpread.mean).to.be.greaterThan(0.02);
  });

  it('writes report.json and the plots', async function () {
    if (!report) this.skip();
    const dir = await mkdtemp(join(tmpdir(), 'kiln-untrac-'));
    try {
      await writeArtifacts(report, dir);
      const files = (await readdir(dir)).sort();
      for (const f of ['report.json', 'influence-scatter.svg', 'influence-scatter.png', 'correlation.svg', 'correlation.png']) expect(files).to.include(f);
      const back = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as Report;
      expect(Object.keys(back.pearson)).to.deep.equal(['untracAdam', 'untracSgd', 'untracInv', 'gradDot', 'gradCos', 'tracin']);
      expect(back.spearman.untracAdam.perSeed).to.have.length(QUICK.seeds!.length);
      expect(back.topCorpusAgreement.gradDot.mean).to.be.within(0, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// Margins at about half the gaps of the first quick run (methods/untrac/README.md).
const UNTRAC_MIN = 0.4;
const ADAM_OVER_SGD = 0.1;
const UNTRAC_INV_MIN = 0.4;
const DET_TOP_MIN = 0.5;
