// Speech synthesis (nn/node/speech.ts) with espeak-ng and sox, installed by scripts/setup.sh: segments
// render to 16 kHz mono, trimmed, cached as WAVs under their settings' hash (a second call reads the
// cache); a missing tool is a clear error that names the packages to install.
import { expect } from 'chai';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MissingSpeechToolError, checkSpeechTools, espeakSynthesizer, segmentCacheName } from '../nn/node/index.js';
import { logMelSpectrogram, type SpeechSegment } from '../nn/index.js';

describe('speech synthesis (espeak-ng + sox)', function () {
  this.timeout(60_000);

  it('espeak-ng and sox are installed (scripts/setup.sh installs them; the error names what is missing)', function () {
    // Fails, never skips, on a machine without them: the speech tests and the method need both tools.
    checkSpeechTools();
  });

  it('renders segments at 16 kHz, trimmed, caches them by their settings, and reads the cache back', async function () {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-speech-'));
    try {
      const segs: SpeechSegment[] = [
        { text: 'seven', voice: 'en-us+f2', pitch: 80, speed: 195, amplitude: 100 },
        { text: 'seven', voice: 'en-us+m3', pitch: 25, speed: 115, amplitude: 70 },
      ];
      const synth = espeakSynthesizer({ cacheDir: dir });
      const [a, b] = await synth(segs, 16000);
      for (const s of [a, b]) {
        expect(s.length).to.be.within(0.15 * 16000, 1.5 * 16000);
        // Trimmed: the first and last samples are not long silence (sox's 0.5 % threshold).
        const head = Math.max(...Array.from(s.subarray(0, 160), Math.abs));
        expect(head).to.be.above(0.001);
      }
      // The slow, low voice is longer and differs.
      expect(b.length).to.be.above(a.length);
      expect(logMelSpectrogram(a).frames).to.be.above(10);
      const files = (await readdir(dir)).sort();
      expect(files).to.deep.equal(segs.map((s) => segmentCacheName(s, 16000)).sort());
      const before = await stat(join(dir, files[0]));
      const [a2] = await synth([segs[0]], 16000);
      expect(Array.from(a2)).to.deep.equal(Array.from(a));
      expect((await stat(join(dir, files[0]))).mtimeMs).to.equal(before.mtimeMs);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('without espeak-ng or sox on PATH: MissingSpeechToolError naming the packages', function () {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect(() => checkSpeechTools()).to.throw(MissingSpeechToolError, /espeak-ng is not available.*apt-get install -y --no-install-recommends espeak-ng sox/);
    } finally {
      process.env.PATH = path;
    }
  });
});
