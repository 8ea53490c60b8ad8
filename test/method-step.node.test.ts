// The STEP method (methods/step): the spec's unit checks of the tree grammar and the edge functions on
// hand-made trees (concat everywhere reproduces the sentence, ignore-dep deletes the whole subtree,
// bracket-full needs the sibling list, inside-out child order), the downstream task targets, then a
// quick run asserting the spec's robust claims with margins at about half the gaps a first run showed
// (see methods/step/README.md).
import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../engine/index.js';
import { SeededRng } from '../nn/index.js';
import { QUICK, makeConfig } from '../methods/step/config.js';
import { writeArtifacts } from '../methods/step/plots.js';
import { mergeReports, run, type Report } from '../methods/step/run.js';
import { EOS, chunk, chunksOf, encode, exactMatch, passivize, pretrainExample, taskSplits } from '../methods/step/tasks.js';
import {
  EDGE_FUNCTIONS, LABELS, PREP_NMOD, PREP_OBL, applyRules, describe as describeRules, everyEdge, insideOutChildren, presentLabels, sampleRules, sampleSentence,
  type Sentence, type Word,
} from '../methods/step/trees.js';
import { gpuEngine } from './helpers/gpu.js';

// "the big dog chased a cat on the bird": nsubj, obj, obl (with its case), det and amod.
const W: Word[] = [
  { form: 'the', head: 2, label: 'det' },
  { form: 'big', head: 2, label: 'amod' },
  { form: 'dog', head: 3, label: 'nsubj' },
  { form: 'chased', head: -1, label: 'root' },
  { form: 'a', head: 5, label: 'det' },
  { form: 'cat', head: 3, label: 'obj' },
  { form: 'on', head: 8, label: 'case' },
  { form: 'the', head: 8, label: 'det' },
  { form: 'bird', head: 3, label: 'obl' },
];
const S: Sentence = { words: W, transitive: true, nmodDepth: 0, hasObl: true };
const say = (rules: Parameters<typeof applyRules>[1]) => applyRules(S, rules).join(' ');

describe('method step', function () {
  this.timeout(300_000);

  describe('trees and edge functions (CPU)', () => {
    it('inside-out child order: left dependents nearest first, then right dependents nearest first', () => {
      expect(insideOutChildren(W, 2)).to.deep.equal([1, 0]);
      expect(insideOutChildren(W, 3)).to.deep.equal([2, 5, 8]);
      expect(insideOutChildren(W, 8)).to.deep.equal([7, 6]);
    });

    it('concat on every edge, and no rules at all, reproduce the sentence', () => {
      expect(say(everyEdge('concat'))).to.equal('the big dog chased a cat on the bird');
      expect(say({})).to.equal('the big dog chased a cat on the bird');
    });

    it('ignore-dep deletes the whole dependent subtree; rev and the bracket functions as in the table', () => {
      expect(say({ obj: 'ignore-dep' })).to.equal('the big dog chased on the bird');
      expect(say({ obl: 'ignore-dep' })).to.equal('the big dog chased a cat');
      expect(say({ amod: 'rev' })).to.equal('the dog big chased a cat on the bird');
      expect(say({ nsubj: 'rev' })).to.equal('chased the big dog a cat on the bird');
      expect(say({ obj: 'bracket-1' })).to.equal('the big dog chased ( obj a cat ) on the bird');
      expect(say({ nsubj: 'bracket-invert-1' })).to.equal('the big dog ( nsubj by chased ) a cat on the bird');
      expect(say({ obj: 'bracket-2' })).to.equal('( the big dog chased obj a cat ) on the bird');
      expect(say({ obj: 'bracket-invert-2' })).to.equal('( a cat obj by the big dog chased ) on the bird');
      expect(say({ obj: 'bracket-3' })).to.equal('the big dog chased ( a cat ) on the bird');
      expect(say({ obj: 'bracket-4' })).to.equal('the big dog chased obj ( a cat ) on the bird');
      expect(say({ obj: 'concat-deprel' })).to.equal('the big dog chased obj a cat on the bird');
      expect(say({ nsubj: 'concat-deprel' })).to.equal('the big dog nsubj chased a cat on the bird');
      expect(say({ obj: 'rev-deprel' })).to.equal('a cat obj the big dog chased on the bird');
    });

    it('improved-triple(-by) use lemmas and keep the dependent only when it has children', () => {
      expect(say({ obj: 'improved-triple' })).to.equal('the big dog chased ( chased obj cat ) a cat on the bird');
      expect(say({ det: 'improved-triple' })).to.equal('big dog ( dog det the ) chased cat ( cat det a ) on bird ( bird det the )');
      expect(say({ amod: 'improved-triple-by' })).to.equal('the dog ( big amod by dog ) chased a cat on the bird');
    });

    it('bracket-full groups the siblings that use it: first "(", middle ",", last ")" (only one: a full bracket)', () => {
      expect(say({ nsubj: 'bracket-full', obj: 'bracket-full', obl: 'bracket-full' })).to.equal('chased ( nsubj the big dog , obj a cat , obl on the bird )');
      // A sibling without the rule sits inside the group's bracket (obj here), as in the original.
      expect(say({ nsubj: 'bracket-full', obl: 'bracket-full' })).to.equal('chased ( nsubj the big dog a cat , obl on the bird )');
      expect(say({ obj: 'bracket-full' })).to.equal(say({ obj: 'bracket-1' }));
    });

    it('grammar: one root, heads in range, distinct nmod/obl prepositions, depth cap, deterministic', () => {
      const a = new SeededRng(4), b = new SeededRng(4);
      for (let i = 0; i < 300; i++) {
        const s = sampleSentence(a, { maxNmodDepth: 2 });
        expect(sampleSentence(b, { maxNmodDepth: 2 })).to.deep.equal(s);
        expect(s.words.filter((w) => w.head < 0)).to.have.length(1);
        expect(s.words.length).to.be.at.most(24);
        expect(s.nmodDepth).to.be.within(0, 2);
        s.words.forEach((w) => {
          if (w.head >= 0) expect(w.head).to.be.within(0, s.words.length - 1);
          if (w.label === 'case') expect((s.words[w.head].label === 'nmod' ? PREP_NMOD : PREP_OBL) as readonly string[]).to.include(w.form);
        });
        expect(applyRules(s, everyEdge('concat'))).to.deep.equal(s.words.map((w) => w.form));
      }
    });

    it('sampled rules: at least one present label, at most two absent distractors, description sorted by label id', () => {
      const rng = new SeededRng(1);
      for (let i = 0; i < 200; i++) {
        const s = sampleSentence(rng);
        const rules = sampleRules(rng, s, 2);
        const labels = Object.keys(rules);
        const present = presentLabels(s) as string[];
        expect(labels.filter((l) => present.includes(l)).length).to.be.at.least(1);
        expect(labels.filter((l) => !present.includes(l)).length).to.be.at.most(2);
        for (const f of Object.values(rules)) expect(EDGE_FUNCTIONS).to.include(f);
        const d = describeRules(rules);
        expect(d.map((r) => r.label)).to.deep.equal([...d.map((r) => r.label)].sort((x, y) => x - y));
        expect(d.every((r) => r.label >= 1 && r.label <= LABELS.length)).to.equal(true);
      }
      const e = pretrainExample('simpleStep', S, new SeededRng(2), 2);
      expect(e.src.length).to.equal(W.length + 1); // the sentinel names the function
      expect(e.tgt[e.tgt.length - 1]).to.equal(EOS);
    });

    it('tasks: passivization, chunking, chunk spans, exact match needs EOS; the generalisation split is one nmod level deeper', () => {
      expect(passivize(S).join(' ')).to.equal('a cat was chased by the big dog on the bird');
      expect(chunk(S).join(' ')).to.equal('( NP the big dog ) ( V chased ) ( NP a cat ) ( PP on ) ( NP the bird )');
      expect(chunksOf(chunk(S)).map((c) => c.join(' '))).to.deep.equal(['NP the big dog', 'V chased', 'NP a cat', 'PP on', 'NP the bird']);
      const gold = [...encode(['a', 'cat']), EOS];
      expect(exactMatch([...gold, 0, 0], gold)).to.equal(true);
      expect(exactMatch(encode(['a', 'cat']), gold)).to.equal(false);
      const sp = taskSplits('passivization', 0, { maxN: 20, test: 10, generalisation: 10, trainMaxDepth: 1, grammar: {}, maxTgt: 48 });
      expect(sp.train.every((e) => e.sentence.transitive && e.sentence.nmodDepth <= 1)).to.equal(true);
      expect(sp.generalisation.every((e) => e.sentence.nmodDepth === 2)).to.equal(true);
      const key = (e: { src: number[] }) => e.src.join(',');
      const train = new Set(sp.train.map(key));
      expect(sp.test.some((e) => train.has(key(e)))).to.equal(false);
      expect(() => makeConfig({ arms: ['nope' as never] })).to.throw(/unknown arm nope/);
    });
  });

  describe('quick run (GPU)', () => {
    let engine: Engine;
    let report: Report;
    before(async function () {
      engine = await gpuEngine(this);
    });

    it('the pipeline runs end to end; STEP pre-training beats the unigram level and helps the few-shot test loss over no pre-training', async function () {
      report = await run(engine, QUICK, { log: process.env.STEP_LOG ? (s) => console.log(s) : undefined });
      const p = report.fewShot;
      const msg = JSON.stringify({ pretrain: report.pretrain, passivization: Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v!.passivization!['100']])), ablation: report.headAblation?.accuracy });
      // Pre-training learned more than token frequencies (dev loss under the dev targets' unigram cross-entropy).
      for (const arm of ['step', 'reconstruction'] as const) expect(report.pretrain[arm]!.devLoss.mean, msg).to.be.below(report.pretrain[arm]!.unigramLoss.mean - UNIGRAM_MARGIN);
      // Few-shot: the STEP-pre-trained model fits the held-out passivizations better than the same model from scratch.
      const loss = (m: 'step' | 'baseline') => p[m]!.passivization!['100'].testLoss;
      loss('step').perSeed.forEach((l, s) => expect(l, msg).to.be.below(loss('baseline').perSeed[s] - BASELINE_LOSS_MARGIN));
      // Every metric is a probability / finite loss; the ablation is defined.
      for (const m of ['step', 'reconstruction', 'baseline'] as const) {
        expect(p[m]!.passivization!['100'].accuracy.mean).to.be.within(0, 1);
        expect(report.generalisation[m]!.passivization!.accuracy.mean).to.be.within(0, 1);
        expect(Number.isFinite(loss('step').mean)).to.equal(true);
      }
      const a = report.headAblation!;
      expect(a.lookupHeads[0]).to.have.length(QUICK.ablation!.heads);
      for (const row of a.prefixMass) for (const v of row) expect(v).to.be.within(0, 1 + 1e-6);
    });

    it('runs of other seeds merge into one report: every statistic over the union of the seeds', function () {
      if (!report) this.skip();
      const copy = JSON.parse(JSON.stringify(report)) as Report; // as read back from report.json
      expect(mergeReports([copy])).to.deep.equal(copy);
      // The same measurements labelled seed 5: each perSeed lists both, with the same mean.
      const other = JSON.parse(JSON.stringify(report)) as Report;
      other.config.seeds = [5];
      other.seedResults.forEach((s) => (s.seed = 5));
      const m = mergeReports([other, copy]);
      expect(m.config.seeds).to.deep.equal([0, 5]);
      const acc = m.fewShot.step!.passivization!['100'].accuracy;
      expect(acc.perSeed).to.deep.equal([0, 1].map(() => report.fewShot.step!.passivization!['100'].accuracy.perSeed[0]));
      expect(m.pretrain.step!.devLoss.mean).to.be.closeTo(report.pretrain.step!.devLoss.mean, 1e-12);
      expect(m.pretrain.step!.devCurve).to.have.length(report.pretrain.step!.devCurve.length);
      expect(m.headAblation!.lookupHeads).to.have.length(2);
      expect(() => mergeReports([copy, copy])).to.throw(/seeds 0, 0 repeat/);
    });

    it('writes report.json and the plots', async function () {
      if (!report) this.skip();
      const dir = await mkdtemp(join(tmpdir(), 'kiln-step-'));
      try {
        await writeArtifacts(report, dir);
        const files = (await readdir(dir)).sort();
        for (const f of ['report.json', 'accuracy-vs-n.svg', 'accuracy-vs-n.png', 'prefix-attention.png', 'pretrain-loss.svg']) expect(files).to.include(f);
        const back = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as Report;
        expect(Object.keys(back.fewShot).sort()).to.deep.equal(['baseline', 'reconstruction', 'step']);
        expect(back.fewShot.step!.passivization!['100'].accuracy.perSeed).to.have.length(QUICK.seeds!.length);
        expect(back.generalisation.baseline!.passivization!.accuracy.perSeed).to.have.length(QUICK.seeds!.length);
        expect(back.headAblation!.lookupScore).to.have.length(2);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});

// About half the gaps of the quick run with rotary positions and shared embeddings (README,
// results/quick): dev loss 0.92 (STEP) and 1.91 (reconstruction) nats under the unigram level; STEP's
// few-shot test loss 1.23 nats under the scratch baseline's.
const UNIGRAM_MARGIN = 0.45;
const BASELINE_LOSS_MARGIN = 0.6;
