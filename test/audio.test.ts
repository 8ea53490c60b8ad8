// Host-side audio and CTC decoding (nn/audio.ts, nn/ctc.ts): a WAV built here read back, the FFT
// against a float64 DFT and Parseval's identity, the HTK mel filterbank against its closed form and
// its partition of unity, log-mel framing, greedy CTC decoding and edit-distance error rates.
import { expect } from 'chai';
import { RangeArgumentError } from '../engine/index.js';
import {
  SeededRng, characterErrorRate, ctcGreedyDecode, ctcGreedyDecodeBatch, editDistance, encodeWav, fft, hzToMel, logMelSpectrogram, melFilterbank, melToHz,
  normalizeFeatures, powerSpectrum, readWav, wordErrorRate,
} from '../nn/index.js';

describe('audio: WAV, FFT, mel features', function () {
  it('readWav parses a PCM16 WAV built here (an extra chunk skipped), and rejects other formats', function () {
    const samples = Float32Array.from({ length: 101 }, (_, i) => Math.sin(i / 5) * 0.9);
    const wav = encodeWav(samples, 16000);
    // Insert a LIST chunk of odd size (padded) between fmt and data.
    const extra = new Uint8Array(8 + 4);
    extra.set([...'LIST'].map((c) => c.charCodeAt(0)));
    new DataView(extra.buffer).setUint32(4, 3, true);
    const withList = new Uint8Array(wav.length + extra.length);
    withList.set(wav.subarray(0, 36));
    withList.set(extra, 36);
    withList.set(wav.subarray(36), 36 + extra.length);
    for (const bytes of [wav, withList]) {
      const w = readWav(bytes);
      expect(w).to.include({ sampleRate: 16000, channels: 1 });
      expect(w.samples.length).to.equal(101);
      for (let i = 0; i < 101; i++) expect(Math.abs(w.samples[i] - samples[i])).to.be.at.most(0.5 / 32768);
    }
    // Stereo: the first channel is returned.
    const st = encodeWav([0.5, -0.25, 0.125, 0.75], 8000);
    const v = new DataView(st.buffer);
    v.setUint16(22, 2, true);
    v.setUint16(32, 4, true);
    expect(Array.from(readWav(st).samples)).to.deep.equal([0.5, 0.125]);
    const f32 = wav.slice();
    new DataView(f32.buffer).setUint16(34, 32, true);
    expect(() => readWav(f32)).to.throw(RangeArgumentError, /readWav: only 16-bit PCM/);
    expect(() => readWav(new Uint8Array(20))).to.throw(RangeArgumentError, /not a RIFF\/WAVE/);
  });

  it('fft equals a float64 DFT and keeps Parseval (Σ|x|² = Σ|X|²/N)', function () {
    const rng = new SeededRng('fft');
    for (const n of [1, 2, 8, 64, 512]) {
      const xr = Float64Array.from({ length: n }, () => rng.next() - 0.5), xi = Float64Array.from({ length: n }, () => rng.next() - 0.5);
      const re = xr.slice(), im = xi.slice();
      fft(re, im);
      let worst = 0, energyX = 0, energyF = 0;
      for (let k = 0; k < n; k++) {
        let sr = 0, si = 0;
        for (let j = 0; j < n; j++) {
          const a = (-2 * Math.PI * k * j) / n;
          sr += xr[j] * Math.cos(a) - xi[j] * Math.sin(a);
          si += xr[j] * Math.sin(a) + xi[j] * Math.cos(a);
        }
        worst = Math.max(worst, Math.abs(sr - re[k]), Math.abs(si - im[k]));
        energyX += xr[k] ** 2 + xi[k] ** 2;
        energyF += re[k] ** 2 + im[k] ** 2;
      }
      expect(worst, `n ${n}`).to.be.below(1e-9);
      expect(Math.abs(energyX - energyF / n) / energyX).to.be.below(1e-12);
    }
    expect(() => fft(new Float64Array(6), new Float64Array(6))).to.throw(RangeArgumentError, /power of two/);
    // A pure tone at bin 5 puts all its power there (and at the mirror, outside the half spectrum).
    const tone = Float64Array.from({ length: 64 }, (_, i) => Math.cos((2 * Math.PI * 5 * i) / 64));
    const p = powerSpectrum(tone, 64);
    expect(p[5]).to.be.closeTo(32 * 32, 1e-6);
    expect(p.reduce((s, v, k) => s + (k === 5 ? 0 : v), 0)).to.be.below(1e-12);
  });

  it('melFilterbank: HTK triangles in closed form, each summing with its neighbours to 1 between the first and last centres', function () {
    expect(hzToMel(700)).to.be.closeTo(2595 * Math.log10(2), 1e-12);
    expect(melToHz(hzToMel(1234.5))).to.be.closeTo(1234.5, 1e-9);
    const nMels = 10, nFft = 256, sr = 8000;
    const fb = melFilterbank(nMels, nFft, sr, 100, 3800);
    const bins = nFft / 2 + 1;
    const step = (hzToMel(3800) - hzToMel(100)) / (nMels + 1);
    const centre = (m: number) => melToHz(hzToMel(100) + step * m);
    for (let m = 0; m < nMels; m++) {
      const [l, c, h] = [centre(m), centre(m + 1), centre(m + 2)];
      for (let k = 0; k < bins; k++) {
        const f = (k * sr) / nFft;
        const want = f <= l || f >= h ? 0 : f <= c ? (f - l) / (c - l) : (h - f) / (h - c);
        expect(Math.abs(fb[m * bins + k] - want), `filter ${m} bin ${k}`).to.be.below(1e-12);
      }
    }
    for (let k = 0; k < bins; k++) {
      const f = (k * sr) / nFft;
      if (f < centre(1) || f > centre(nMels)) continue;
      let s = 0;
      for (let m = 0; m < nMels; m++) s += fb[m * bins + k];
      expect(s, `bin ${k} (${f} Hz)`).to.be.closeTo(1, 1e-12);
    }
    expect(() => melFilterbank(4, 256, 8000, 0, 5000)).to.throw(RangeArgumentError, /melFilterbank/);
  });

  it('logMelSpectrogram: 1 + ⌊(N − win)/hop⌋ frames, a tone lights the filter at its frequency; normalizeFeatures gives zero mean, unit variance', function () {
    const sr = 16000;
    const n = 4000;
    const tone = Float64Array.from({ length: n }, (_, i) => Math.sin((2 * Math.PI * 1000 * i) / sr));
    const f = logMelSpectrogram(tone, { sampleRate: sr, nMels: 40 });
    expect(f.frames).to.equal(1 + Math.floor((n - 400) / 160));
    expect(f.dims).to.equal(40);
    expect(logMelSpectrogram(new Float64Array(399)).frames).to.equal(0);
    // The loudest filter is the one whose centre is nearest 1 kHz.
    const centres = Array.from({ length: 40 }, (_, m) => melToHz((hzToMel(8000) * (m + 1)) / 41));
    const nearest = centres.reduce((b, c, m) => (Math.abs(c - 1000) < Math.abs(centres[b] - 1000) ? m : b), 0);
    const row = Array.from(f.data.subarray(10 * 40, 11 * 40));
    expect(row.indexOf(Math.max(...row))).to.equal(nearest);
    const rng = new SeededRng('noise');
    const noise = Float64Array.from({ length: n }, (_, i) => (rng.next() - 0.5) * (1 + Math.sin(i / 300)));
    const g = normalizeFeatures(logMelSpectrogram(noise, { sampleRate: sr, nMels: 40 }));
    for (const d of [0, 17, 39]) {
      let mean = 0, sq = 0;
      for (let t = 0; t < g.frames; t++) mean += g.data[t * 40 + d] / g.frames;
      for (let t = 0; t < g.frames; t++) sq += (g.data[t * 40 + d] - mean) ** 2 / g.frames;
      expect(Math.abs(mean)).to.be.below(1e-5);
      expect(sq).to.be.closeTo(1, 1e-3);
    }
  });
});

describe('CTC decoding and error rates', function () {
  it('greedy decoding collapses repeats, then drops blanks (a blank separates a real repeat)', function () {
    expect(ctcGreedyDecode([1, 1, 0, 1, 2, 2, 0, 0])).to.deep.equal([1, 1, 2]);
    expect(ctcGreedyDecode([0, 0, 0])).to.deep.equal([]);
    expect(ctcGreedyDecode([3, 3, 4, 4, 3], 4, 4)).to.deep.equal([3]);
    expect(ctcGreedyDecodeBatch([1, 1, 2, 0, 0, 2, 2, 2], 2, 4, [4, 2])).to.deep.equal([[1, 2], [2]]);
  });

  it('edit distance, CER and WER (total edits over total reference length)', function () {
    expect(editDistance('kitten', 'sitting')).to.equal(3);
    expect(editDistance('', 'abc')).to.equal(3);
    expect(editDistance([1, 2, 3], [1, 2, 3])).to.equal(0);
    expect(characterErrorRate(['abcd', 'xy'], ['abd', 'xyz'])).to.be.closeTo(2 / 6, 1e-15);
    expect(wordErrorRate(['red cat go', 'up'], ['red dog go', ''])).to.be.closeTo(2 / 4, 1e-15);
    expect(() => characterErrorRate([''], ['a'])).to.throw(RangeArgumentError, /all empty/);
  });
});
