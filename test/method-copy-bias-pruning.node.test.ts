// The copy-bias pruning method (methods/copy-bias-pruning): the episode family (labels of F1–F4 by hand,
// the copy-biased proxy set's gold ∉ demo labels, lookup and constant episodes, the token layout and
// label-only targets), the copy preference F against a float64 softmax reference, the copying score
// (per-example min–max, then the mean), top-k and the random control, the prune through the FFN hook,
// pretraining's early stop and best-check weights, and the quick run's claims. Thresholds are about half
// the gaps of a first run (README).
import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../engine/index.js';
import { QUICK, makeConfig } from '../methods/copy-bias-pruning/config.js';
import { cachedModel, heldoutCheck, heldoutEpisodes, inputsOf, modelCacheDir, pretrain, unigramBaseline, weightedLoss } from '../methods/copy-bias-pruning/models.js';
import { copyPreference, copyingScores, prune, randomNeuronsLike, topNeurons } from '../methods/copy-bias-pruning/neurons.js';
import { writeArtifacts } from '../methods/copy-bias-pruning/plots.js';
import { TASKS, run, type Report } from '../methods/copy-bias-pruning/run.js';
import {
  ARROW, BOS, COMMA, IGNORE, LETTER0, MAX_LEN, MAX_SHOTS, SEQ_LEN, apply, copyBiasedEpisode, encode, episode, goldNotInDemos, lossWeights, pickFamily, trainBatch, type Episode,
} from '../methods/copy-bias-pruning/tasks.js';
import { ReduceLROnPlateau, SeededRng, TransformerLM, captureActivation } from '../nn/index.js';
import { nodeIO } from '../nn/node/index.js';
import { assertClose } from './helpers/compare.js';
import { gpuEngine } from './helpers/gpu.js';

const word = (s: string) => [...s].map((ch) => ch.charCodeAt(0) - 97); // 'a'..'p' -> 0..15

describe('method copy-bias-pruning', function () {
  this.timeout(1_500_000); // the quick run takes ~3 minutes at load ~12 on lavapipe (less alone), far longer on a busier machine
  let engine: Engine;
  let report: Report;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('the four computable functions, by hand', function () {
    expect(apply('vowels', word('aebio'))).to.equal(4); // a e i o
    expect(apply('vowels', word('ppkl'))).to.equal(0);
    expect(apply('consonants', word('bcdfgh'))).to.equal(4);
    expect(apply('length', word('abc'))).to.equal(3);
    expect(apply('firstVowel', word('bcie'))).to.equal(2);
    expect(apply('firstVowel', word('bcdf'))).to.equal(9);
  });

  it('episodes: copy-biased proxy prompts, lookup, constant, token layout and label-only targets', function () {
    const rng = new SeededRng(4);
    for (let i = 0; i < 300; i++) {
      const e = copyBiasedEpisode(rng, 'vowels', 4);
      expect(goldNotInDemos(e)).to.equal(true);
      expect(e.answer).to.equal(apply('vowels', e.query));
      for (const d of e.demos) expect(d.y).to.equal(apply('vowels', d.x));
      const l = episode(rng, 'lookup', 3);
      const j = l.demos.findIndex((d) => d.x.join() === l.query.join());
      expect(j).to.be.at.least(0);
      expect(l.answer).to.be.oneOf(l.demos.filter((d) => d.x.join() === l.query.join()).map((d) => d.y));
      const c = episode(rng, 'constant');
      expect(new Set([...c.demos.map((d) => d.y), c.answer]).size).to.equal(1);
    }
    const e: Episode = { family: 'vowels', demos: [{ x: word('ab'), y: 1 }, { x: word('ee'), y: 2 }], query: word('oi'), answer: 2 };
    const { tokens, targets } = encode(e);
    expect(tokens).to.deep.equal([BOS, LETTER0, LETTER0 + 1, ARROW, 1, COMMA, LETTER0 + 4, LETTER0 + 4, ARROW, 2, COMMA, LETTER0 + 14, LETTER0 + 8, ARROW]);
    expect(targets).to.deep.equal([IGNORE, IGNORE, IGNORE, 1, IGNORE, IGNORE, IGNORE, IGNORE, 2, IGNORE, IGNORE, IGNORE, IGNORE, 2]);
    expect(encode(e, false).targets.filter((t) => t !== IGNORE)).to.deep.equal([2]);
    // The longest episode fits SEQ_LEN exactly.
    const long: Episode = { family: 'length', demos: Array.from({ length: MAX_SHOTS }, () => ({ x: Array(MAX_LEN).fill(0), y: 6 })), query: Array(MAX_LEN).fill(0), answer: 6 };
    expect(encode(long).tokens.length).to.equal(SEQ_LEN);
    // A training batch: every lookup row trains only its query; the others train every label.
    const b = trainBatch(new SeededRng(1), 64, { lookup: 0.5, constant: 0 });
    let lookups = 0;
    for (let r = 0; r < b.rows; r++) {
      const row = b.targets.subarray(r * b.T, (r + 1) * b.T);
      const labelled = [...row].filter((t) => t !== IGNORE).length;
      expect(labelled === 1 || labelled === 5, `row ${r}: ${labelled} labels`).to.equal(true);
      if (labelled === 1) lookups++;
      expect(labelled === 1, `row ${r}`).to.equal(b.families[r] === 'lookup');
      expect(row[b.last[r]]).to.not.equal(IGNORE);
    }
    expect(lookups).to.be.within(20, 44);
    // Loss weights: 0 off the label tokens, 3 on a lookup row's query, 1 on every other label.
    const w = lossWeights(b, 3);
    for (let i = 0; i < w.length; i++) expect(w[i], `position ${i}`).to.equal(b.targets[i] === IGNORE ? 0 : b.families[Math.floor(i / b.T)] === 'lookup' ? 3 : 1);
  });

  it('copy preference F = log Σ_{demo labels} p − log p(gold), against a float64 softmax', async function () {
    const rng = new SeededRng(2);
    const eps = [copyBiasedEpisode(rng, 'vowels'), copyBiasedEpisode(rng, 'length'), episode(rng, 'consonants')];
    const rows = 6; // IG's layout: row r belongs to episode r mod 3
    const logits = Array.from({ length: rows * 10 }, (_, i) => Math.sin(0.9 * i) * 3);
    const f = engine.tidy(() => copyPreference(engine, engine.tensor(logits, [rows, 10]), eps));
    const got = Array.from(await f.data());
    f.dispose();
    const want = Array.from({ length: rows }, (_, r) => {
      const z = logits.slice(r * 10, r * 10 + 10);
      const lse = Math.log(z.reduce((a, v) => a + Math.exp(v), 0));
      const logp = z.map((v) => v - lse);
      const e = eps[r % 3];
      const demo = [...new Set(e.demos.map((d) => d.y))];
      return Math.log(demo.reduce((a, y) => a + Math.exp(logp[y]), 0)) - logp[e.answer];
    });
    assertClose(got, want, { rtol: 1e-5, atol: 1e-5 }, 'F');
  });

  it('copying scores: per-example min–max then the mean; top-k and the random control', function () {
    const s = copyingScores([[0, 5, 10, 5], [2, 2, 2, 2], [1, 3, 2, 0]]);
    // [0, .5, 1, .5], constant -> zeros, [1/3, 1, 2/3, 0]; mean over 3 examples
    assertClose(Array.from(s), [(0 + 0 + 1 / 3) / 3, (0.5 + 0 + 1) / 3, (1 + 0 + 2 / 3) / 3, (0.5 + 0 + 0) / 3], { rtol: 1e-12, atol: 1e-12 });
    const scores = [0.1, 0.9, 0.5, 0.9, 0.2, 0.8, 0.3, 0.7]; // two layers of 4
    expect(topNeurons(scores, 4, 3, 'global')).to.deep.equal([{ layer: 0, unit: 1 }, { layer: 0, unit: 3 }, { layer: 1, unit: 1 }]);
    expect(topNeurons(scores, 4, 2, 'perLayer', 1)).to.deep.equal([{ layer: 1, unit: 1 }, { layer: 1, unit: 3 }]);
    expect(() => topNeurons(scores, 4, 9, 'global')).to.throw(RangeError, /k 9/);
    const like = [{ layer: 0, unit: 1 }, { layer: 2, unit: 0 }, { layer: 2, unit: 5 }];
    const r = randomNeuronsLike(new SeededRng(3), like, 8);
    expect(r.filter((n) => n.layer === 0)).to.have.length(1);
    expect(r.filter((n) => n.layer === 2)).to.have.length(2);
    expect(new Set(r.map((n) => `${n.layer}:${n.unit}`)).size).to.equal(3);
  });

  it('unigram baseline: uniform answers give ln 10; a constant mixture gives its label frequencies', function () {
    const rng = new SeededRng(6);
    // Lookup answers are uniform over the ten labels: the prior's cross-entropy is ln 10, its accuracy 1/10.
    const held = Array.from({ length: 4000 }, () => episode(rng, 'lookup'));
    const u = unigramBaseline(new SeededRng(7), { lookup: 1, constant: 0 }, held);
    expect(u.loss).to.be.closeTo(Math.log(10), 0.01);
    expect(u.accuracy).to.be.closeTo(0.1, 0.015);
    expect(u.accuracyByFamily.lookup).to.equal(u.accuracy);
    // F1–F4 only: the held-out loss is the cross-entropy of the held-out answers under the counted frequencies.
    const mix = { lookup: 0, constant: 0 };
    const fns = Array.from({ length: 4000 }, () => episode(rng, (['vowels', 'consonants', 'length', 'firstVowel'] as const)[rng.int(4)]));
    const counts = new Array(10).fill(0);
    const r2 = new SeededRng(8);
    for (let i = 0; i < 20_000; i++) counts[episode(r2, pickFamily(r2, mix)).answer]++;
    const f = unigramBaseline(new SeededRng(8), mix, fns);
    const want = -fns.reduce((a, e) => a + Math.log((counts[e.answer] + 1) / (20_000 + 10)), 0) / fns.length;
    expect(f.loss).to.be.closeTo(want, 1e-12);
  });

  it('the model cache: reused only when the stored configuration matches; retrain forces training', async function () {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-copy-bias-cache-'));
    const c = makeConfig({ cacheDir: dir, model: { dModel: 16, nLayers: 1, nHeads: 2, dFF: 16, positions: 'rotary' }, pretrain: { ...QUICK.pretrain!, steps: 2, batchSize: 4, warmupSteps: 0, evalEvery: 1, heldout: 8 }, prune: { ...QUICK.prune!, ks: [4] } });
    const logs: string[] = [];
    const log = (s: string) => logs.push(s);
    const weights = async (m: TransformerLM) => Array.from(await m.parameters()[0].data());
    try {
      const first = await cachedModel(engine, c, 0, log, nodeIO);
      expect(first.cached).to.equal(false);
      const w = await weights(first.model);
      first.model.dispose();
      const again = await cachedModel(engine, c, 0, log, nodeIO);
      expect(again.cached).to.equal(true);
      expect(await weights(again.model)).to.deep.equal(w);
      expect(again.info.curve).to.deep.equal(first.info.curve);
      again.model.dispose();
      // Another pretraining configuration has another folder.
      expect(modelCacheDir(makeConfig(c, { pretrain: { ...c.pretrain, lr: 1e-3 } }), 0)).to.not.equal(modelCacheDir(c, 0));
      // retrain: trains although the cache holds this configuration.
      const forced = await cachedModel(engine, makeConfig(c, { retrain: true }), 0, log, nodeIO);
      expect(forced.cached).to.equal(false);
      forced.model.dispose();
      // A checkpoint whose stored configuration differs from the folder's key is not used.
      const stateDir = join(modelCacheDir(c, 0), (await readFile(join(modelCacheDir(c, 0), 'latest'), 'utf8')).trim());
      const state = JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8'));
      state.config.pretrain.lr = 1;
      await writeFile(join(stateDir, 'state.json'), JSON.stringify(state));
      const tampered = await cachedModel(engine, c, 0, log, nodeIO);
      expect(tampered.cached).to.equal(false);
      expect(logs.some((l) => /another configuration/.test(l))).to.equal(true);
      tampered.model.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('pretraining stops after `patience` checks without improvement and keeps the best check\'s weights', async function () {
    // lr 0.3 on a tiny model: the held-out loss soon stops improving, so patience 1 stops the run early.
    const c = makeConfig({ model: { dModel: 16, nLayers: 1, nHeads: 2, dFF: 16, positions: 'rotary' }, pretrain: { ...QUICK.pretrain!, steps: 60, batchSize: 4, lr: 0.3, warmupSteps: 0, schedule: 'constant', patience: 1, evalEvery: 3, heldout: 16 }, prune: { ...QUICK.prune!, ks: [4] } });
    const { model, info } = await pretrain(engine, c, 0, () => {});
    try {
      const losses = info.curve.map((p) => p.loss);
      expect(info.stoppedEarly, `held-out losses ${losses.map((v) => v.toFixed(3)).join(' ')}`).to.equal(true);
      expect(info.steps).to.be.lessThan(info.stepCap);
      expect(info.steps).to.equal(info.curve[info.curve.length - 1].step);
      // Patience 1: every check improved on the one before until the last, which did not; the best is the one before it.
      for (let i = 1; i < losses.length - 1; i++) expect(losses[i]).to.be.lessThan(losses[i - 1]);
      expect(losses[losses.length - 1]).to.be.at.least(losses[losses.length - 2]);
      expect(info.bestStep).to.equal(info.curve[info.curve.length - 2].step);
      expect(info.bestLoss).to.equal(losses[losses.length - 2]);
      // The returned model is the best check's: its held-out loss is the best check's, bit for bit.
      model.eval();
      const again = await heldoutCheck(engine, model, heldoutEpisodes(c, 0));
      expect(again.loss).to.equal(info.bestLoss);
      expect(again.accuracy).to.equal(info.bestAccuracy);
    } finally {
      model.dispose();
    }
  });

  it('the LOOKUP-weighted training loss is (Σ other NLL + w Σ lookup NLL) / (n other + w n lookup), from per-family sums', async function () {
    engine.manualSeed(3);
    const model = new TransformerLM(engine, { vocabSize: 30, dModel: 16, nLayers: 1, nHeads: 2, dFF: 16, positions: 'rotary', maxSeqLen: SEQ_LEN, dropout: 0 });
    const b = trainBatch(new SeededRng(4), 12, { lookup: 0.5, constant: 0 });
    try {
      // Reference: the summed NLL of the lookup rows' labels and of the others', each with the rest ignored.
      const sumOver = async (keep: (r: number) => boolean) => {
        const t = b.targets.map((v, i) => (keep(Math.floor(i / b.T)) ? v : IGNORE));
        const l = engine.noGrad(() => engine.tidy(() => model.loss(inputsOf(engine, b), engine.tensor(t, [b.rows, b.T], { dtype: 'i32' }), { reduction: 'sum' })));
        const v = (await l.data())[0];
        l.dispose();
        return { sum: v, n: t.filter((v) => v !== IGNORE).length };
      };
      const lk = await sumOver((r) => b.families[r] === 'lookup');
      const other = await sumOver((r) => b.families[r] !== 'lookup');
      expect(lk.n).to.be.greaterThan(0);
      const wl = 4;
      const got = engine.noGrad(() => engine.tidy(() => weightedLoss(engine, model, b, engine.tensor(b.targets, [b.rows, b.T], { dtype: 'i32' }), wl)));
      assertClose(await got.data(), [(other.sum + wl * lk.sum) / (other.n + wl * lk.n)], { rtol: 1e-5, atol: 1e-6 });
      got.dispose();
    } finally {
      model.dispose();
    }
  });

  it('the plateau schedule cuts the lr scale by plateauFactor exactly when ReduceLROnPlateau, fed the held-out losses, does', async function () {
    // lr 0.3 on a tiny model stalls soon, so there are cuts; early stopping ends the run after 3 checks without improvement.
    const c = makeConfig({ model: { dModel: 16, nLayers: 1, nHeads: 2, dFF: 16, positions: 'rotary' }, pretrain: { ...QUICK.pretrain!, steps: 90, batchSize: 4, lr: 0.3, warmupSteps: 0, schedule: 'plateau', plateauFactor: 0.5, plateauPatience: 0, patience: 3, minDelta: 0.001, evalEvery: 3, heldout: 16 }, prune: { ...QUICK.prune!, ks: [4] } });
    const { model, info } = await pretrain(engine, c, 0, () => {});
    model.dispose();
    // Reference, by hand: with patience 0, every check that fails to beat the best by minDelta halves the
    // scale; a check's lrScale is the one its preceding steps ran at (before its own cut).
    let best = Infinity;
    let scale = 1;
    const expected = info.curve.map((p) => {
      const before = scale;
      if (p.loss < best - 0.001) best = p.loss;
      else scale *= 0.5;
      return before;
    });
    const scales = info.curve.map((p) => p.lrScale);
    expect(scales, `held-out losses ${info.curve.map((p) => p.loss.toFixed(3)).join(' ')}`).to.deep.equal(expected);
    expect(Math.min(...scales)).to.be.lessThan(1);
    // The same rule as nn's class (whose own tests derive its cut sequences by hand).
    const plateau = new ReduceLROnPlateau({ factor: 0.5, patience: 0, threshold: 0.001, thresholdMode: 'abs' });
    expect(info.curve.map((p) => { const before = plateau.scale; plateau.step(p.loss); return before; })).to.deep.equal(expected);
  });

  it('prune zeroes the chosen FFN units at every position and leaves the rest bit for bit', async function () {
    engine.manualSeed(5);
    const model = new TransformerLM(engine, { vocabSize: 30, dModel: 16, nLayers: 2, nHeads: 2, dFF: 32, maxSeqLen: 16 });
    const x = engine.tensor([[28, 10, 11, 26, 1, 27, 12, 26]], undefined, { dtype: 'i32' });
    const act = async () => {
      const c = engine.noGrad(() => engine.tidy(() => {
        const r = captureActivation(model, 'layers.1.mlp.act', () => model.forward(x));
        return [r.output, r.activation];
      }));
      const v = Array.from(await c[1].data());
      c.forEach((t) => t.dispose());
      return v;
    };
    const before = await act();
    const remove = prune(model, [{ layer: 1, unit: 3 }, { layer: 1, unit: 30 }, { layer: 0, unit: 7 }]);
    const layer0 = await (async () => {
      const c = engine.noGrad(() => engine.tidy(() => captureActivation(model, 'layers.0.mlp.act', () => model.forward(x)).activation));
      const v = Array.from(await c.data());
      c.dispose();
      return v;
    })();
    const after = await act();
    remove();
    const restored = await act();
    for (let t = 0; t < 8; t++) {
      expect(layer0[t * 32 + 7]).to.equal(0);
      expect(after[t * 32 + 3]).to.equal(0);
      expect(after[t * 32 + 30]).to.equal(0);
    }
    expect(restored).to.deep.equal(before);
    // Layer 1's other units change only through layer 0's pruned unit; with only layer 1 pruned they are identical.
    const only1 = prune(model, [{ layer: 1, unit: 3 }]);
    const after1 = await act();
    only1();
    after1.forEach((v, i) => expect(v).to.equal(i % 32 === 3 ? 0 : before[i]));
    x.dispose();
    model.dispose();
  });

  it('quick run: the model learns past the label prior, learns ICL of length, and its proxy errors are mostly copies; the pruning claims are measured, not asserted (README)', async function () {
    report = await run(engine, QUICK, { log: process.env.COPY_BIAS_LOG ? (s) => console.log(s) : undefined });
    const pp = (s: { perSeed: number[] }) => s.perSeed.map((v) => (v * 100).toFixed(1)).join('/');
    const msg = `proxy acc ${pp(report.iclAccuracy.vowels.base)} -> ${pp(report.iclAccuracy.vowels.pruned)}; copy ${pp(report.copyRate.base)} -> ${pp(report.copyRate.pruned)}; ` +
      `copy share of errors ${pp(report.copyShareOfErrors.observed)} (chance ${pp(report.copyShareOfErrors.chance)})`;
    // Copy errors well above chance before pruning (the premise of the method).
    expect(report.copyShareOfErrors.observed.mean, msg).to.be.greaterThan(report.copyShareOfErrors.chance.mean + COPY_OVER_CHANCE);
    // The pretrained model is below its label-prior (unigram) baseline.
    for (const m of report.models) expect(m.curve[m.curve.length - 1].loss).to.be.lessThan(m.unigram.loss - BELOW_UNIGRAM);
    // ICL of F3 (length) has emerged: 4-shot accuracy with gold ∉ demo labels far above guessing a non-demo label (~1/9).
    expect(report.iclAccuracy.length.base.mean, msg).to.be.greaterThan(LENGTH_ICL);
    // ICL on the unrestricted F1–F4 mixture: 4-shot accuracy well above always answering the label prior's mode.
    expect(report.iclAccuracy.mixed.base.mean, msg).to.be.greaterThan(report.pretraining.labelPriorAccuracy.mean + MIXED_OVER_PRIOR);
    // The spec's pruning claims did not hold at the default scale (README): they are reported, not asserted.
    expect(report.prunedNeurons.perSeed[0].neurons).to.have.length(report.prunedNeurons.perSeed[0].k);
  });

  it('writes report.json and the plots', async function () {
    expect(report, 'the quick run above produced no report').to.exist;
    const dir = await mkdtemp(join(tmpdir(), 'kiln-copy-bias-'));
    try {
      await writeArtifacts(report, dir);
      const files = (await readdir(dir)).sort();
      for (const f of ['report.json', 'accuracy.svg', 'accuracy.png', 'scores.svg', 'scores.png', 'pretraining.svg', 'pretraining.png']) expect(files).to.include(f);
      const back = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as Report;
      expect(Object.keys(back.iclAccuracy)).to.deep.equal([...TASKS]);
      expect(back.iclAccuracy.vowels.pruned.perSeed).to.have.length(QUICK.seeds!.length);
      expect(back.prunedNeurons.perSeed[0].neurons.length).to.equal(back.prunedNeurons.perSeed[0].k);
      expect(back.scores[0]).to.have.length(back.config.model.nLayers * back.config.model.dFF);
      expect(back.pretraining.stepCap).to.equal(back.config.pretrain.steps);
      expect(back.pretraining.bestStep.perSeed).to.deep.equal(back.models.map((m) => m.bestStep));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// Margins about half the gaps of the first quick run with today's preset (RoPE, 200 steps; README): copies
// 97.3 % of the errors vs chance 25.7 % (gap 0.72); held-out query loss 1.590 vs the label prior's 2.184
// (gap 0.59); 4-shot length accuracy 72.5 % vs ~11 % for a guessed non-demo label (0.42 sits halfway);
// 4-shot mixed accuracy 52.5 % vs the label prior's held-out accuracy 16.8 % (gap 0.36).
const COPY_OVER_CHANCE = 0.34;
const BELOW_UNIGRAM = 0.3;
const LENGTH_ICL = 0.42;
const MIXED_OVER_PRIOR = 0.18;
