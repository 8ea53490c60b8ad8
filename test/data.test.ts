// Data pipeline: generators, document splits, byte budgets and LM batches. Batch checks use synthetic
// token streams whose ids encode (domain, position), so a row's domain and the shift by one are exact.
import { expect } from 'chai';
import fc from 'fast-check';
import {
  Batcher,
  ByteTokenizer,
  SeededRng,
  arithmeticDocuments,
  batchToTensors,
  byteLength,
  capDomainBytes,
  corpusStats,
  dyckDocuments,
  dyckString,
  isBalanced,
  splitByDocument,
  tokenizeDocuments,
  truncateToBytes,
  type Document,
  type TokenizedDocument,
} from '../nn/index.js';
import { gpuEngine } from './helpers/gpu.js';

/** Domain k's documents hold ids k*100000 + running position, so a stream is k*100000 + 0, 1, 2, …. */
function syntheticDocs(domains: string[], docsPerDomain: number, docLen: number): TokenizedDocument[] {
  const out: TokenizedDocument[] = [];
  domains.forEach((domain, k) => {
    for (let d = 0; d < docsPerDomain; d++) out.push({ domain, ids: Array.from({ length: docLen }, (_, i) => k * 100_000 + d * docLen + i) });
  });
  return out;
}

function textDocs(): Document[] {
  const docs: Document[] = [];
  for (const [domain, n] of [['en', 40], ['de', 25], ['code', 7]] as const) {
    for (let i = 0; i < n; i++) docs.push({ domain, text: `${domain} document ${i}\nsecond line\n`, source: `${domain}/${i}` });
  }
  return docs;
}

describe('data', function () {
  describe('generators', function () {
    it('arithmetic lines are correct equations, seeded', function () {
      const docs = arithmeticDocuments({ documents: 20, seed: 7 });
      expect(docs).to.have.length(20);
      const ops = new Set<string>();
      for (const d of docs) {
        expect(d.domain).to.equal('arith');
        for (const line of d.text.trimEnd().split('\n')) {
          const m = /^(\d+)([+*-])(\d+)=(-?\d+)$/.exec(line);
          expect(m, line).to.not.equal(null);
          const [a, op, b, c] = [Number(m![1]), m![2], Number(m![3]), Number(m![4])];
          expect(a).to.be.within(0, 999);
          expect(b).to.be.within(0, 999);
          expect(c, line).to.equal(op === '+' ? a + b : op === '-' ? a - b : a * b);
          ops.add(op);
        }
      }
      expect([...ops].sort()).to.deep.equal(['*', '+', '-']);
      expect(arithmeticDocuments({ documents: 20, seed: 7 })).to.deep.equal(docs);
      expect(arithmeticDocuments({ documents: 20, seed: 8 })).to.not.deep.equal(docs);
      const onlyPlus = arithmeticDocuments({ documents: 2, seed: 1, ops: ['+'], maxOperand: 9 });
      for (const line of onlyPlus[0].text.trimEnd().split('\n')) expect(line).to.match(/^\d\+\d=\d+$/);
    });

    it('Dyck strings are balanced, use every bracket type, and respect length and depth', function () {
      expect(isBalanced('([])[]()')).to.equal(true);
      expect(isBalanced('([)]')).to.equal(false);
      expect(isBalanced('(()')).to.equal(false);
      expect(isBalanced('())(')).to.equal(false);
      expect(isBalanced('(a)')).to.equal(false);
      const pairs = ['()', '[]', '{}'];
      const docs = dyckDocuments({ documents: 10, seed: 3, pairs, minLength: 4, maxLength: 40 });
      const used = new Set<string>();
      for (const d of docs) {
        expect(d.domain).to.equal('dyck');
        for (const line of d.text.trimEnd().split('\n')) {
          expect(isBalanced(line, pairs), line).to.equal(true);
          expect(line.length).to.be.within(4, 40);
          for (const ch of line) used.add(ch);
        }
      }
      expect(used.size).to.equal(6);
      const rng = new SeededRng(1);
      for (let i = 0; i < 200; i++) {
        const s = dyckString(rng, 30, ['()', '[]'], 3);
        expect(s).to.have.length(30);
        expect(isBalanced(s)).to.equal(true);
        let depth = 0;
        for (const ch of s) {
          depth += '(['.includes(ch) ? 1 : -1;
          expect(depth).to.be.at.most(3);
        }
      }
      expect(dyckDocuments({ documents: 3, seed: 3 })).to.deep.equal(dyckDocuments({ documents: 3, seed: 3 }));
      expect(() => dyckDocuments({ pairs: ['(('] })).to.throw(/two different/);
    });

    it('SeededRng.gamma and dirichlet: the closed-form mean and variance, simplex draws', function () {
      // Gamma(a, 1): mean a, variance a. 40k draws: the sample mean's sd is sqrt(a / 40000).
      const rng = new SeededRng(7);
      for (const a of [0.3, 0.5, 2.5]) {
        const xs = Array.from({ length: 40000 }, () => rng.gamma(a));
        const mean = xs.reduce((p, x) => p + x, 0) / xs.length;
        const v = xs.reduce((p, x) => p + (x - mean) ** 2, 0) / (xs.length - 1);
        expect(Math.min(...xs), `a = ${a}`).to.be.above(0);
        expect(Math.abs(mean - a), `mean, a = ${a}`).to.be.below(5 * Math.sqrt(a / xs.length));
        expect(Math.abs(v / a - 1), `variance, a = ${a}`).to.be.below(0.06);
      }
      // Dirichlet(alpha) over n: each coordinate has mean 1/n.
      const ps = Array.from({ length: 4000 }, () => rng.dirichlet(5, 0.7));
      for (const p of ps) expect(Math.abs(p.reduce((a, b) => a + b, 0) - 1)).to.be.below(1e-12);
      const m0 = ps.reduce((a, p) => a + p[0], 0) / ps.length;
      expect(Math.abs(m0 - 0.2)).to.be.below(0.02);
      expect(() => rng.gamma(0)).to.throw(RangeError, /gamma/);
    });

    it('stop at a byte budget', function () {
      const docs = arithmeticDocuments({ bytes: 10_000, seed: 1 });
      const bytes = docs.reduce((a, d) => a + byteLength(d.text), 0);
      expect(bytes).to.be.at.least(10_000);
      expect(bytes - byteLength(docs[docs.length - 1].text)).to.be.below(10_000);
    });
  });

  describe('bytes', function () {
    it('byteLength matches TextEncoder and truncateToBytes never cuts a character', function () {
      const enc = new TextEncoder();
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 100 }), fc.nat(300), (s, n) => {
          if (byteLength(s) !== enc.encode(s).length) return false;
          const t = truncateToBytes(s, n);
          return s.startsWith(t) && byteLength(t) <= n && (byteLength(s) <= n ? t === s : byteLength(t) > n - 4) && !/[\uD800-\uDBFF]$/.test(t);
        }),
        { numRuns: 300 },
      );
    });

    it('capDomainBytes caps every domain to the budget', function () {
      const docs = [...arithmeticDocuments({ documents: 50, seed: 1 }), ...dyckDocuments({ documents: 50, seed: 1 }), { domain: 'x', text: 'small\n' }];
      const capped = capDomainBytes(docs, 5_000, { seed: 2 });
      const stats = corpusStats(capped);
      expect([...stats.keys()]).to.deep.equal(['arith', 'dyck', 'x']);
      expect(stats.get('arith')!.bytes).to.be.within(4_900, 5_000);
      expect(stats.get('dyck')!.bytes).to.be.within(4_900, 5_000);
      expect(stats.get('x')!.bytes).to.equal(6);
      expect(capDomainBytes(docs, 5_000, { seed: 2 })).to.deep.equal(capped);
      expect(capDomainBytes(docs, 5_000, { truncate: false }).every((d) => docs.includes(d))).to.equal(true);
    });
  });

  describe('splitByDocument', function () {
    it('splits by document: disjoint, complete, stratified and deterministic', function () {
      const docs = textDocs();
      const s = splitByDocument(docs, { train: 0.8, valid: 0.1, test: 0.1, seed: 5 });
      const all = [...s.train, ...s.valid, ...s.test];
      expect(all).to.have.length(docs.length);
      expect(new Set(all).size).to.equal(docs.length); // each document object exactly once
      for (const d of docs) expect(all).to.include(d);
      // Whole documents: every text appears intact in exactly one split.
      for (const d of docs) expect([s.train, s.valid, s.test].filter((part) => part.some((x) => x.text === d.text))).to.have.length(1);
      // Stratified: each domain keeps its fractions (en 40 -> 32/4/4; de 25 -> 3+3 of 25 rounded; code 7 -> 1/1).
      const count = (part: Document[], domain: string) => part.filter((d) => d.domain === domain).length;
      expect([count(s.train, 'en'), count(s.valid, 'en'), count(s.test, 'en')]).to.deep.equal([32, 4, 4]);
      expect(count(s.valid, 'code')).to.equal(1);
      expect(count(s.test, 'code')).to.equal(1);
      expect(count(s.valid, 'de') + count(s.test, 'de')).to.be.within(4, 6);
      expect(splitByDocument(docs, { train: 0.8, valid: 0.1, test: 0.1, seed: 5 })).to.deep.equal(s);
      const other = splitByDocument(docs, { train: 0.8, valid: 0.1, test: 0.1, seed: 6 });
      expect(other.valid.map((d) => d.source)).to.not.deep.equal(s.valid.map((d) => d.source));
    });
  });

  describe('Batcher', function () {
    const domains = ['a', 'b', 'c'];
    const docs = syntheticDocs(domains, 6, 50); // 300 tokens per domain

    function checkRows(batch: ReturnType<Batcher['next']>): void {
      const T = batch.seqLen;
      expect(batch.tokens).to.be.instanceOf(Int32Array);
      expect(batch.tokens.length).to.equal(batch.batchSize * (T + 1));
      expect(batch.inputs.length).to.equal(batch.batchSize * T);
      for (let r = 0; r < batch.batchSize; r++) {
        const row = batch.tokens.subarray(r * (T + 1), (r + 1) * (T + 1));
        const k = Math.floor(row[0] / 100_000);
        expect(batch.domains[r]).to.equal(domains[k]);
        expect(batch.domainIds[r]).to.equal(k);
        for (let i = 0; i < T; i++) {
          expect(batch.inputs[r * T + i]).to.equal(row[i]);
          expect(batch.targets[r * T + i]).to.equal(row[i + 1]); // next-token targets
          expect(Math.floor(row[i + 1] / 100_000)).to.equal(k); // one domain per row
        }
      }
    }

    it('per-domain batches hold one domain, take turns, and shift targets by one', function () {
      const b = new Batcher(docs, { batchSize: 4, seqLen: 16, mode: 'per-domain', seed: 1, shuffle: false });
      const seen: string[] = [];
      for (let i = 0; i < 9; i++) {
        const batch = b.next();
        checkRows(batch);
        expect(new Set(batch.domains).size).to.equal(1);
        expect(batch.domain).to.equal(batch.domains[0]);
        seen.push(batch.domain!);
      }
      expect(seen).to.deep.equal(['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
      // Unshuffled streams keep document order: targets continue the stream exactly (ids k*1e5 + 0, 1, …).
      const first = new Batcher(docs, { batchSize: 2, seqLen: 16, mode: 'per-domain', shuffle: false }).next();
      expect(Array.from(first.inputs.subarray(0, 16))).to.deep.equal(Array.from({ length: 16 }, (_, i) => i));
      expect(Array.from(first.targets.subarray(0, 16))).to.deep.equal(Array.from({ length: 16 }, (_, i) => i + 1));
      expect(first.inputs[16]).to.equal(16); // the next window starts where the last one's inputs ended (stride T)
    });

    it('mixed batches hold several domains and cover every window once per epoch', function () {
      const b = new Batcher(docs, { batchSize: 6, seqLen: 23, mode: 'mixed', seed: 3 });
      // 300 tokens -> floor(299 / 23) = 13 windows per domain, 39 in all -> 7 batches per epoch.
      expect(b.batchesPerEpoch).to.equal(7);
      const starts = new Set<number>();
      let multi = 0;
      for (let i = 0; i < 6; i++) {
        const batch = b.next();
        checkRows(batch);
        expect(batch.domain).to.equal(undefined);
        if (new Set(batch.domains).size > 1) multi++;
        for (let r = 0; r < 6; r++) starts.add(batch.tokens[r * 24]);
      }
      expect(multi).to.be.at.least(4);
      expect(starts.size).to.equal(36); // 36 distinct windows so far, none repeated within the epoch
      const last = b.next();
      expect(last.epoch).to.equal(0);
      expect(b.next().epoch).to.equal(1);
    });

    it('is deterministic given the seed', function () {
      const run = (seed: number, mode: 'mixed' | 'per-domain') => {
        const b = new Batcher(docs, { batchSize: 3, seqLen: 8, mode, seed, separator: 99 });
        return Array.from({ length: 5 }, () => Array.from(b.next().tokens));
      };
      expect(run(1, 'mixed')).to.deep.equal(run(1, 'mixed'));
      expect(run(1, 'mixed')).to.not.deep.equal(run(2, 'mixed'));
      expect(run(1, 'per-domain')).to.deep.equal(run(1, 'per-domain'));
    });

    it('works on tokenized text with a separator, and explains short domains', function () {
      const tok = new ByteTokenizer({ specialTokens: ['<eos>'] });
      const eos = tok.specialId('<eos>');
      const tokenized = tokenizeDocuments(tok, [...arithmeticDocuments({ documents: 4, seed: 1 }), ...dyckDocuments({ documents: 4, seed: 1 })], eos);
      expect(tokenized[0].ids[tokenized[0].ids.length - 1]).to.equal(eos);
      const b = new Batcher(tokenized, { batchSize: 2, seqLen: 32, mode: 'per-domain', seed: 0 });
      const batch = b.next();
      expect(batch.domain).to.equal('arith');
      expect(tok.decode(batch.inputs.subarray(0, 32))).to.match(/^[-0-9+*=\n<>eos]*$/);
      expect(() => new Batcher([{ domain: 'tiny', ids: [1, 2, 3] }], { batchSize: 1, seqLen: 8, mode: 'mixed' })).to.throw(/tiny.*fewer than seqLen/);
      expect(() => new Batcher(tokenized, { batchSize: 0, seqLen: 8, mode: 'mixed' })).to.throw(RangeError);
    });

    it('batchToTensors uploads i32 inputs and targets', async function () {
      const engine = await gpuEngine(this);
      const batch = new Batcher(docs, { batchSize: 2, seqLen: 8, mode: 'mixed', seed: 0 }).next();
      const t = batchToTensors(engine, batch);
      try {
        expect(t.inputs.shape).to.deep.equal([2, 8]);
        expect(t.inputs.dtype).to.equal('i32');
        expect(Array.from(await t.targets.data())).to.deep.equal(Array.from(batch.targets));
        expect(Array.from(await t.domainIds.data())).to.deep.equal(Array.from(batch.domainIds));
      } finally {
        t.inputs.dispose();
        t.targets.dispose();
        t.domainIds.dispose();
      }
    });
  });
});
