// Tokenizers: byte and byte-level BPE. Round trips are property tests over arbitrary strings without
// lone surrogates (UTF-8 cannot hold those); the expected merges are worked out by hand in comments.
import { expect } from 'chai';
import fc from 'fast-check';
import { BPETokenizer, BYTE_TO_UNICODE, ByteTokenizer, GPT2_PATTERN, bytesToUnicode, pretokenize, unicodeToBytes } from '../nn/index.js';

// Any code point except lone surrogates, and printable graphemes (multi-code-point: flags, ZWJ emoji, combining marks).
const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 60 }), fc.string({ unit: 'binary-ascii', maxLength: 200 }));

const TRAIN_TEXT = [
  'The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away!',
  "It's 2024: numbers 12345 and 678, they're here. Don't panic.",
  'Grüße aus München: Äpfel, Öl und Übermut. 你好，世界！ Ça va? naïve café',
  'function add(a: number, b: number): number {\n  return a + b;\n}\n',
  '🙂🙃 emoji 👩‍👩‍👧 flags 🇩🇪🇫🇷 and   spaces\t\ttabs\n\nnewlines',
  '12+34=46\n7*8=56\n100-1=99\n(([]))[()]\n',
].join('\n');

const EDGE_CASES = [
  '',
  ' ',
  '\0',
  '\0\0\0a\0',
  '\uFEFFbom at start',
  'e\u0301 combining acute, a\u0308\u0304 stacked, \u0301 leading mark',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 astral 𐍈 and 🧑🏽‍🚀',
  '日本語のテキストと中文字符',
  '\uFFFD replacement char \uFFFF nonchar \u{10FFFF} max',
  'a'.repeat(20_000),
  ' '.repeat(20_000) + 'x',
  '\n'.repeat(5_000),
  '🙂'.repeat(3_000),
  "'s 're 've 'm 'll 'd ''",
  '\r\n\r\nwindows lines\r\n',
];

function train(vocabSize = 400, extra: Partial<Parameters<typeof BPETokenizer.train>[1]> = {}): BPETokenizer {
  return BPETokenizer.train([TRAIN_TEXT, TRAIN_TEXT.toUpperCase()], { vocabSize, specialTokens: ['<bos>', '<eos>', '<pad>'], ...extra });
}

describe('tokenizer', function () {
  describe('ByteTokenizer', function () {
    it('uses UTF-8 bytes as ids and puts special tokens after them', function () {
      const t = new ByteTokenizer({ specialTokens: ['<bos>', '<eos>', '<pad>'] });
      expect(t.vocabSize).to.equal(259);
      expect(t.specialId('<bos>')).to.equal(256);
      expect(t.specialId('<pad>')).to.equal(258);
      expect(t.encode('aé€😀')).to.deep.equal([0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]);
      expect(t.encode('hi', { bos: '<bos>', eos: '<eos>' })).to.deep.equal([256, 0x68, 0x69, 257]);
      expect(new ByteTokenizer().vocabSize).to.equal(256);
      expect(() => t.specialId('<unk>')).to.throw(/no special token/);
      expect(() => t.decode([259])).to.throw(RangeError);
    });

    it('round-trips arbitrary strings (property)', function () {
      const t = new ByteTokenizer({ specialTokens: ['<eos>'] });
      fc.assert(fc.property(anyText, (s) => t.decode(t.encode(s)) === s), { numRuns: 300 });
      for (const s of EDGE_CASES) expect(t.decode(t.encode(s))).to.equal(s);
    });

    it('never splits special tokens, unless told to treat them as text', function () {
      const t = new ByteTokenizer({ specialTokens: ['<eos>', '<eos2>'] });
      expect(t.encode('a<eos>b<eos2>')).to.deep.equal([0x61, 256, 0x62, 257]);
      expect(t.encode('<eos>', { allowSpecial: false })).to.deep.equal([...new TextEncoder().encode('<eos>')]);
      expect(t.decode([0x61, 256, 0x62], { skipSpecial: true })).to.equal('ab');
      // A special token between the bytes of one character does not corrupt the text around it.
      expect(t.decode([0xc3, 256, 0xa9])).to.equal('\uFFFD<eos>\uFFFD');
    });

    it('has batch helpers', function () {
      const t = new ByteTokenizer();
      expect(t.decodeBatch(t.encodeBatch(['a', 'bc', '']))).to.deep.equal(['a', 'bc', '']);
    });
  });

  describe('byte-level unicode table (GPT-2 bytes_to_unicode)', function () {
    it('maps printable Latin-1 to itself and the other 68 bytes to U+0100.. in order', function () {
      expect(new Set(BYTE_TO_UNICODE).size).to.equal(256);
      expect(BYTE_TO_UNICODE[0x21]).to.equal('!');
      expect(BYTE_TO_UNICODE[0x7e]).to.equal('~');
      expect(BYTE_TO_UNICODE[0xa1]).to.equal('¡');
      expect(BYTE_TO_UNICODE[0xff]).to.equal('ÿ');
      // Bytes 0x00..0x20 (33 of them) come first: 0 -> U+0100, '\n' -> U+010A 'Ċ', ' ' -> U+0120 'Ġ'.
      expect(BYTE_TO_UNICODE[0x00]).to.equal('\u0100');
      expect(BYTE_TO_UNICODE[0x0a]).to.equal('Ċ');
      expect(BYTE_TO_UNICODE[0x20]).to.equal('Ġ');
      // Then 0x7F..0xA0 (34 bytes): U+0121..U+0142; then 0xAD (soft hyphen), the 68th: U+0143.
      expect(BYTE_TO_UNICODE[0x7f]).to.equal('\u0121');
      expect(BYTE_TO_UNICODE[0xa0]).to.equal('\u0142');
      expect(BYTE_TO_UNICODE[0xad]).to.equal('\u0143');
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      expect([...unicodeToBytes(bytesToUnicode(all))]).to.deep.equal([...all]);
    });
  });

  describe('pre-tokenizer', function () {
    it("splits like GPT-2: letters, digits, punctuation runs, a space attached to the following word", function () {
      const re = new RegExp(GPT2_PATTERN, 'gu');
      expect(pretokenize("Hello world, it's 2024!!  ok", re)).to.deep.equal(['Hello', ' world', ',', ' it', "'s", ' 2024', '!!', ' ', ' ok']);
      // '\n\n' before 'b': the whitespace run leaves its last character, but only a space joins a word.
      expect(pretokenize('a\n\nb', re)).to.deep.equal(['a', '\n', '\n', 'b']);
      fc.assert(fc.property(anyText, (s) => pretokenize(s, re).join('') === s), { numRuns: 300 });
    });
  });

  describe('BPETokenizer', function () {
    it('learns the hand-computed merges of "aaabdaaabac"', function () {
      // Pairs: aa 4 (overlapping runs count each pair), ab 2, bd, da, ba, ac 1 -> merge 'a a' (id 256).
      // Now Z a b d Z a b a c (Z = aa): Za 2, ab 2 tie; ties go to the smaller left id: a (97) < Z (256)
      // -> 'a b' (id 257). Now Z Y d Z Y a c: ZY 2 -> 'aa ab' (id 258). Everything else occurs once,
      // below the default minFrequency 2, so training stops at 3 merges though 10 were allowed.
      const t = BPETokenizer.train(['aaabdaaabac'], { vocabSize: 266 });
      expect(t.merges).to.deep.equal([['a', 'a'], ['a', 'b'], ['aa', 'ab']]);
      expect(t.vocabSize).to.equal(259);
      // Encoding applies merges by rank, leftmost first: 'aaa' -> 'aa' 'a' -> 'aa' then 'ab' -> 'aaab'.
      expect(t.encode('aaabdaaabac')).to.deep.equal([258, 100, 258, 97, 99]);
      expect(t.encode('aaaa')).to.deep.equal([256, 256]);
      expect(t.encode('aab')).to.deep.equal([256, 98]); // 'a a' (rank 0) beats 'a b' (rank 1)
    });

    it('learns hand-computed merges with the pre-tokenizer and minFrequency', function () {
      // Words: 'low', ' lower', ' lowest' (space attached). Pairs: lo 3, ow 3, Ġl 2, we 2, er/es/st 1.
      // lo/ow tie -> smaller left id 'l' (108) < 'o' (111): 'l o'. Then 'lo w' 3. Then 'Ġ low' 2 and
      // 'low e' 2 tie -> 'Ġ' (byte 32) < 'low' (257): 'Ġ low'. Then 'Ġlow e' 2. Then only count-1 pairs.
      const t = BPETokenizer.train(['low lower lowest'], { vocabSize: 300 });
      expect(t.merges).to.deep.equal([['l', 'o'], ['lo', 'w'], ['Ġ', 'low'], ['Ġlow', 'e']]);
      expect(t.encode(' lower low')).to.deep.equal([259, 114, 258]); // 'Ġlowe' 'r', 'Ġlow'
      // minFrequency 1 goes on with the count-1 pairs (Ġlowe r, Ġlowe s, s t), smallest left id first:
      // 's' (115) < 'Ġlowe' (259), so 's t'; then 'Ġlowe r' (114 < 115 on the right).
      const t1 = BPETokenizer.train(['low lower lowest'], { vocabSize: 262, minFrequency: 1 });
      expect(t1.merges.slice(4)).to.deep.equal([['s', 't'], ['Ġlowe', 'r']]);
    });

    it('is deterministic and independent of the order of the texts', function () {
      const a = BPETokenizer.train(TRAIN_TEXT.split('\n'), { vocabSize: 350 });
      const b = BPETokenizer.train(TRAIN_TEXT.split('\n').reverse(), { vocabSize: 350 });
      expect(a.merges).to.deep.equal(b.merges);
      expect(a.merges.length).to.be.greaterThan(40);
    });

    it('round-trips arbitrary strings (property) and edge cases', function () {
      const t = train();
      fc.assert(fc.property(anyText, (s) => t.decode(t.encode(s)) === s), { numRuns: 300 });
      for (const s of [...EDGE_CASES, TRAIN_TEXT]) expect(t.decode(t.encode(s))).to.equal(s);
      // Without a pre-tokenizer too (each text is one word; merges may then cross spaces).
      const raw = BPETokenizer.train([TRAIN_TEXT], { vocabSize: 320, pretokenize: false });
      fc.assert(fc.property(anyText, (s) => raw.decode(raw.encode(s)) === s), { numRuns: 100 });
    });

    it('compresses text like its training text', function () {
      const t = train(500);
      const ids = t.encode(TRAIN_TEXT);
      expect(ids.length).to.be.lessThan(new TextEncoder().encode(TRAIN_TEXT).length * 0.6);
      expect(Math.max(...ids)).to.be.lessThan(t.vocabSize);
      // Training stops early when no pair occurs twice (minFrequency 2): this text is small.
      expect(t.vocabSize).to.be.within(300, 500);
    });

    it('never splits special tokens and never learns from them', function () {
      const t = BPETokenizer.train(['x<eos>y<eos>'.repeat(50), 'hello <eos> world', TRAIN_TEXT], { vocabSize: 300, specialTokens: ['<eos>', '<pad>'] });
      const eos = t.specialId('<eos>');
      expect(t.isSpecial(eos)).to.equal(true);
      for (const [l, r] of t.merges) expect(l + r).to.not.match(/<|>/); // '<eos>' was cut out before counting
      expect(t.encode('x<eos>y')).to.deep.equal([...t.encode('x'), eos, ...t.encode('y')]);
      expect(t.encode('<eos><pad><eos>')).to.deep.equal([eos, t.specialId('<pad>'), eos]);
      expect(t.decode(t.encode('a<eos>b'), { skipSpecial: true })).to.equal('ab');
      expect(t.encode('<eos>', { allowSpecial: false })).to.not.include(eos);
      fc.assert(
        fc.property(anyText, anyText, (a, b) => {
          fc.pre(!a.includes('<') && !b.includes('<'));
          const ids = t.encode(`${a}<eos>${b}`);
          return JSON.stringify(ids) === JSON.stringify([...t.encode(a), eos, ...t.encode(b)]) && t.decode(ids) === `${a}<eos>${b}`;
        }),
        { numRuns: 200 },
      );
      expect(t.encode('hi', { bos: '<pad>', eos: '<eos>' })).to.deep.equal([t.specialId('<pad>'), ...t.encode('hi'), eos]);
    });

    it("writes Hugging Face's tokenizer.json layout", function () {
      const t = train();
      const j = JSON.parse(JSON.stringify(t.toJSON()));
      expect(j.model.type).to.equal('BPE');
      expect(j.pre_tokenizer).to.include({ type: 'ByteLevel', use_regex: true, add_prefix_space: false });
      expect(j.decoder.type).to.equal('ByteLevel');
      expect(j.normalizer).to.equal(null);
      // vocab: byte-level unicode keys; bytes first (id = byte), so ' ' is 'Ġ' at 32 and '\n' 'Ċ' at 10.
      expect(j.model.vocab['Ġ']).to.equal(32);
      expect(j.model.vocab['Ċ']).to.equal(10);
      expect(j.model.vocab['a']).to.equal(97);
      expect(Object.keys(j.model.vocab).length).to.equal(t.vocabSize);
      expect(new Set(Object.values(j.model.vocab)).size).to.equal(t.vocabSize);
      // merges: "left right" strings whose concatenation is a vocab token.
      expect(j.model.merges.length).to.equal(t.vocabSize - 256 - 3);
      for (const m of j.model.merges) {
        expect(m).to.be.a('string');
        const [l, r, ...rest] = m.split(' ');
        expect(rest).to.deep.equal([]);
        expect(j.model.vocab).to.have.property(l + r);
      }
      expect(j.added_tokens.map((a: { content: string }) => a.content)).to.deep.equal(['<bos>', '<eos>', '<pad>']);
      for (const a of j.added_tokens) {
        expect(a).to.include({ special: true, normalized: false, lstrip: false, rstrip: false, single_word: false });
        expect(j.model.vocab[a.content]).to.equal(a.id);
      }
    });

    it('fromJSON(toJSON()) encodes and decodes identically', function () {
      const t = train();
      const u = BPETokenizer.fromJSON(JSON.stringify(t.toJSON()));
      expect(u.vocabSize).to.equal(t.vocabSize);
      expect(u.merges).to.deep.equal(t.merges);
      expect(u.specialTokens).to.deep.equal(t.specialTokens);
      for (const s of [...EDGE_CASES, TRAIN_TEXT, 'x<eos>y']) expect(u.encode(s)).to.deep.equal(t.encode(s));
      fc.assert(fc.property(anyText, (s) => JSON.stringify(u.encode(s)) === JSON.stringify(t.encode(s))), { numRuns: 200 });
      const ids = t.encode(TRAIN_TEXT);
      expect(u.decode(ids)).to.equal(t.decode(ids));
      expect(u.toJSON()).to.deep.equal(t.toJSON());
    });

    it('reads merges as [left, right] pairs and a Split pre-tokenizer; rejects other models', function () {
      const t = BPETokenizer.train([TRAIN_TEXT], { vocabSize: 320, pretokenize: '\\p{L}+|\\p{N}+|\\s+|[^\\s\\p{L}\\p{N}]+' });
      const j = t.toJSON();
      expect(j.pre_tokenizer).to.have.property('type', 'Sequence');
      const pairs = { ...j, model: { ...j.model, merges: j.model.merges.map((m) => (m as string).split(' ') as [string, string]) } };
      const u = BPETokenizer.fromJSON(pairs);
      expect(u.encode(TRAIN_TEXT)).to.deep.equal(t.encode(TRAIN_TEXT));
      expect(() => BPETokenizer.fromJSON({ ...j, model: { ...j.model, type: 'WordPiece' } })).to.throw(/BPE/);
      const noByte = { ...j, model: { ...j.model, vocab: Object.fromEntries(Object.entries(j.model.vocab).filter(([k]) => k !== 'Ġ')) } };
      expect(() => BPETokenizer.fromJSON(noByte)).to.throw();
    });

    it('rejects bad options', function () {
      expect(() => BPETokenizer.train(['abc'], { vocabSize: 200 })).to.throw(RangeError);
      expect(() => BPETokenizer.train(['abc'], { vocabSize: 300, specialTokens: ['<a>', '<a>'] })).to.throw(/duplicate/);
      expect(() => BPETokenizer.train(['abc'], { vocabSize: 300, specialTokens: ['!'] })).to.throw(/byte-level vocab token/);
    });

    it('has batch helpers', function () {
      const t = train();
      const texts = ['hello', 'wörld', ''];
      expect(t.decodeBatch(t.encodeBatch(texts))).to.deep.equal(texts);
    });
  });
});
