// The speech IB-disentanglement method (methods/speech-ib-disentanglement) end to end. Unit checks: the
// CTC alphabet, the utterance plans (deterministic, a prefix of a larger set, labels independent of the
// words), word boundaries of the joined audio (a synthesizer stub of tones), and the VIB's closed-form KL
// against a Monte-Carlo estimate. The quick run (default data and the shipped encoder, which the default
// run trains and writes; one seed, layers 2 and 4, emotion) asserts the spec's robust claims with margins
// of about half the gaps the first run showed (see the README).
import { expect } from 'chai';
import type { Engine } from '../engine/index.js';
import { QUICK } from '../methods/speech-ib-disentanglement/config.js';
import { ALPHABET, N_MELS, VOCAB_SIZE, WORDS, buildUtterances, decodeText, encodeText, normalizeGlobally, planUtterances, type DataOptions } from '../methods/speech-ib-disentanglement/data.js';
import { VariationalEncoder } from '../methods/speech-ib-disentanglement/model.js';
import { writeArtifacts } from '../methods/speech-ib-disentanglement/plots.js';
import { encoderCacheDir, run, type Report } from '../methods/speech-ib-disentanglement/run.js';
import { SeededRng } from '../nn/index.js';
import { espeakSynthesizer, nodeIO } from '../nn/node/index.js';
import { gpuEngine } from './helpers/gpu.js';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Margins: about half the gaps of the first quick run (seed 0; see the README).
const CONTENT_CER_MAX = 0.5; // seen 0.10 and 0.07 (chance 1)
const STAGE2_OVER_CHANCE = 0.15; // seen 0.615 and 0.57 over a majority share of ~0.27
const STAGE2_OVER_CONTENT = 0.14; // seen 0.315 and 0.275
const CONTENT_ACC_MAX = 0.45; // the spec's bound; seen 0.30 and 0.295
const RAW_OVER_CONTENT = 0.03; // seen 0.145 and 0.07: the raw-layer probe is weak here (see the README)
const ACOUSTIC_CER_GAP = 0.35; // seen 0.75 and 0.87
const SPEECH_MASS_GAP = 0.1; // seen about 0.3 (mass 0.985 and 0.974)
const KL_RATIO_MAX = 0.7; // seen 6.87 / 17.02 = 0.40
const CER_COST_MAX = 0.1; // the spec's bound; seen 0.013

const DATA: DataOptions = { n: 400, minWords: 1, maxWords: 3, pitchJitter: 8, speedJitter: 12, seed: 0 };

describe('method speech-ib-disentanglement', function () {
  this.timeout(600_000);
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('alphabet: blank 0, space 1, the letters of the 24 words; text round-trips', function () {
    expect(VOCAB_SIZE).to.equal(2 + ALPHABET.length);
    for (const w of WORDS) expect(decodeText(encodeText(w))).to.equal(w);
    expect(encodeText('go up')).to.include(1);
    expect(encodeText(WORDS.join(' ')).every((k) => k >= 1 && k < VOCAB_SIZE)).to.equal(true);
  });

  it('plans: deterministic, a prefix of a larger set, speaker and emotion independent of the words', function () {
    const a = planUtterances(DATA), b = planUtterances({ ...DATA, n: 100 });
    expect(b).to.deep.equal(a.slice(0, 100));
    // Independence: the first word's distribution does not shift with the emotion (a χ²-style bound on
    // the share of number words, 10/24 expected, within 5 binomial standard errors per class).
    const many = planUtterances({ ...DATA, n: 4000 });
    for (let e = 0; e < 4; e++) {
      const rows = many.filter((u) => u.emotion === e);
      const share = rows.filter((u) => WORDS.indexOf(u.words[0] as (typeof WORDS)[number]) < 10).length / rows.length;
      expect(Math.abs(share - 10 / 24)).to.be.below(5 * Math.sqrt((10 / 24) * (14 / 24) / rows.length));
    }
    for (const u of many.slice(0, 50)) {
      expect(u.words.length).to.be.within(1, 3);
      expect(u.pauses.length).to.equal(u.words.length - 1);
    }
  });

  it('buildUtterances: words joined with pauses and 150 ms padding; word frames where the audio is; global normalisation', async function () {
    const plans = planUtterances({ ...DATA, n: 3 });
    // Stub synthesizer: a 0.3 s tone per word, louder for later segments.
    let k = 0;
    const utts = await buildUtterances(plans, async (segs) => segs.map(() => Float32Array.from({ length: 4800 }, (_, i) => (0.1 + 0.1 * (k++ % 4)) * Math.sin(i / 3))));
    utts.forEach((u, i) => {
      const p = plans[i];
      const samples = 2 * 2400 + 4800 * p.words.length + p.pauses.reduce((a, x) => a + x, 0);
      expect(u.frames).to.equal(1 + Math.floor((samples - 400) / 160));
      expect(u.wordFrames[0][0]).to.equal(15); // 150 ms
      expect(u.wordFrames[0][1]).to.equal(15 + 30);
      expect(u.text).to.equal(p.words.join(' '));
    });
    normalizeGlobally(utts, utts);
    const n = utts.reduce((a, u) => a + u.frames, 0);
    for (const d of [0, 10, N_MELS - 1]) {
      let mean = 0, sq = 0;
      for (const u of utts) for (let t = 0; t < u.frames; t++) mean += u.mel[t * N_MELS + d] / n;
      for (const u of utts) for (let t = 0; t < u.frames; t++) sq += (u.mel[t * N_MELS + d] - mean) ** 2 / n;
      expect(Math.abs(mean)).to.be.below(1e-4);
      expect(sq).to.be.closeTo(1, 1e-3);
    }
  });

  it('VIB: the closed-form KL to N(0, I) equals a Monte-Carlo estimate; training-mode z has the encoded variance', async function () {
    engine.manualSeed(3);
    const enc = new VariationalEncoder(engine, 8, 3);
    const h = engine.randn([1, 2, 8]);
    const { mu, kl } = enc.forward(h, false);
    const variance = engine.tidy(() => enc.logVarRaw.forward(enc.l2.forward(enc.l1.forward(h).gelu()).gelu()).softplus().add(1e-6));
    const [m, v, k] = await Promise.all([mu.data(), variance.data(), kl.data()]);
    const rng = new SeededRng('mc');
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    const N = 40000;
    for (let t = 0; t < 2; t++) {
      let sum = 0, sq = 0;
      for (let i = 0; i < N; i++) {
        let lr = 0;
        for (let d = 0; d < 3; d++) {
          const mu_ = m[t * 3 + d], v_ = v[t * 3 + d];
          const z = mu_ + Math.sqrt(v_) * gauss();
          // log q(z) − log p(z)
          lr += -0.5 * Math.log(v_) - ((z - mu_) ** 2) / (2 * v_) + (z * z) / 2;
        }
        sum += lr;
        sq += lr * lr;
      }
      const mean = sum / N, se = Math.sqrt((sq / N - mean * mean) / N);
      expect(Math.abs(k[t] - mean), `frame ${t}: closed form ${k[t]} vs MC ${mean} ± ${se}`).to.be.below(5 * se + 1e-4);
    }
    // z = μ + sqrt(σ²) ε: over many draws the sample variance matches σ².
    const big = h.expand([4000, 2, 8]).contiguous();
    const { z } = enc.forward(big, true);
    const zs = await z.data();
    for (const j of [0, 4]) {
      let s = 0, s2 = 0;
      for (let i = 0; i < 4000; i++) {
        s += zs[i * 6 + j];
        s2 += zs[i * 6 + j] ** 2;
      }
      const varHat = s2 / 4000 - (s / 4000) ** 2;
      expect(Math.abs(varHat - v[j]) / v[j]).to.be.below(0.1);
    }
    for (const t of [h, mu, kl, variance, big, z]) t.dispose();
    enc.dispose();
  });

  it('quick run: z_text transcribes and carries no emotion, z_acoustic carries emotion beyond the text and little text; the IB compresses; attention stays on speech', async function () {
    expect(await nodeIO.exists(encoderCacheDir(QUICK)), `the shipped encoder ${encoderCacheDir(QUICK)} (the default run \`npm run method -- speech-ib-disentanglement\` trains and writes it)`).to.equal(true);
    const live0 = engine.memory().liveBuffers;
    const report: Report = await run(engine, QUICK, {
      synthesize: espeakSynthesizer({ cacheDir: '.cache/speech' }), checkpointIO: nodeIO, log: process.env.SPEECH_LOG ? (l) => console.log(l) : undefined,
    });
    expect(engine.memory().liveBuffers, 'a run frees every buffer it made').to.equal(live0);
    expect(report.encoder.cached).to.equal(true);
    const chance = report.chance.emotion;
    for (const l of QUICK.layers!) {
      const r = report.perTask.emotion![l];
      const msg = `layer ${l}: ${JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? v : v.mean])))}; chance ${chance}`;
      // Stage 1 transcribes (chance CER 1).
      expect(r.contentCER.mean, msg).to.be.at.most(CONTENT_CER_MAX);
      // Stage 2 classifies emotion well above chance, and above the probe on z_text.
      expect(r.taskAccAcoustic.mean - chance, msg).to.be.at.least(STAGE2_OVER_CHANCE);
      expect(r.taskAccAcoustic.mean - r.taskAccContent.mean, msg).to.be.at.least(STAGE2_OVER_CONTENT);
      // z_text holds no emotion (the words are independent of it), unlike the raw layer.
      expect(r.taskAccContent.mean, msg).to.be.at.most(CONTENT_ACC_MAX);
      expect(r.taskAccRaw.mean - r.taskAccContent.mean, msg).to.be.at.least(RAW_OVER_CONTENT);
      // z_acoustic holds little text: a CTC probe on it is far worse than stage 1.
      expect(r.acousticCER.mean - r.contentCER.mean, msg).to.be.at.least(ACOUSTIC_CER_GAP);
      // The acoustic pooler attends to speech, not the silence padding.
      expect(r.acousticSpeechMass.mean - r.speechFrameShare, msg).to.be.at.least(SPEECH_MASS_GAP);
    }
    // The IB does work: at β_end the code keeps far fewer nats per frame than at a small fixed β, for a small CER cost.
    const a = report.ibAblation;
    expect(a.kl.mean, JSON.stringify(a)).to.be.at.most(KL_RATIO_MAX * a.klLowBeta.mean);
    expect(a.cer.mean - a.cerLowBeta.mean, JSON.stringify(a)).to.be.at.most(CER_COST_MAX);
    // report.json and the two figures.
    const dir = await mkdtemp(join(tmpdir(), 'kiln-speech-report-'));
    try {
      await writeArtifacts(report, dir);
      expect((await readdir(dir)).sort()).to.deep.equal(['attribution.png', 'attribution.svg', 'per-layer.png', 'per-layer.svg', 'report.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
