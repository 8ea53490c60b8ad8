// The real text sources (Node only): each loads, is big enough to train on, and is labelled right.
// They are installed by scripts/setup.sh (npm devDependencies and Debian's fortunes-de).
import { expect } from 'chai';
import { corpusStats, type Document } from '../nn/index.js';
import { BROWN_GENRES, buildCorpus, detokenizeBrown, loadBrown, loadFortunesDe, loadTypeScriptLib } from '../nn/node/index.js';

const bytesOf = (docs: Document[]) => docs.reduce((a, d) => a + new TextEncoder().encode(d.text).length, 0);

describe('corpora (node)', function () {
  this.timeout(60_000);

  it('detokenizes tagged Brown sentences', function () {
    expect(detokenizeBrown("``/`` Only/rb a/at relative/jj handful/nn ''/'' ,/, the/at jury/nn said/vbd ./."))
      .to.equal('"Only a relative handful", the jury said.');
    expect(detokenizeBrown('a/at 1-1/2/cd inch/nn (/( roughly/rb )/) ;/. done/vbn ?/.')).to.equal('a 1-1/2 inch (roughly); done?');
  });

  it('loads the Brown Corpus (English) with its tags stripped and its 15 genres', function () {
    const docs = loadBrown();
    expect(docs).to.have.length(500);
    expect(bytesOf(docs)).to.be.within(5_000_000, 7_000_000);
    for (const d of docs) {
      expect(d.domain).to.equal('en');
      // No POS tags left ('the/at', 'jury/nn'); real slashes remain, as in 'Btu/sq. ft./hr.'.
      expect(d.text).to.not.match(/[a-z]\/(at|nn|nns|vbd|in|jj|np|cc|rb)(?=\s)/);
    }
    // Every raw token has a tag; after stripping, slashes are rare (fractions, units).
    const all = docs.map((d) => d.text).join('');
    expect((all.match(/\//g) ?? []).length).to.be.below(all.split(/\s+/).length / 200);
    expect(docs[0].text.startsWith('The Fulton County Grand Jury said Friday an investigation of')).to.equal(true);
    const byGenre = loadBrown({ genreDomains: true });
    expect(new Set(byGenre.map((d) => d.domain))).to.deep.equal(new Set(BROWN_GENRES.map((g) => `en/${g}`)));
    const news = loadBrown({ genres: ['news'] });
    expect(news).to.have.length(44);
    expect(() => loadBrown({ genres: ['poetry'] })).to.throw(/no genre "poetry"/);
  });

  it('loads typescript@5 lib/*.d.ts as code without licence banners', function () {
    const docs = loadTypeScriptLib();
    expect(bytesOf(docs)).to.be.within(3_000_000, 5_000_000);
    const sources = new Set(docs.map((d) => d.source!.replace(/#\d+$/, '')));
    expect(sources.size).to.be.at.least(90);
    for (const d of docs) {
      expect(d.domain).to.equal('code');
      expect(d.text).to.not.include('Copyright (c) Microsoft Corporation');
      expect(d.text.length).to.be.below(20_000); // big files are cut into chunks
    }
    expect(docs.some((d) => d.text.includes('interface Array<T>'))).to.equal(true);
  });

  it('loads German fortunes, one per document', function () {
    const docs = loadFortunesDe();
    expect(docs.length).to.be.above(10_000);
    expect(bytesOf(docs)).to.be.within(2_000_000, 4_000_000);
    for (const d of docs) {
      expect(d.domain).to.equal('de');
      expect(d.text).to.not.match(/^%$/m);
    }
    const all = docs.map((d) => d.text).join('');
    for (const ch of ['ä', 'ö', 'ü', 'ß']) expect(all).to.include(ch);
    expect(() => loadFortunesDe({ dir: '/nonexistent/fortunes' })).to.throw(/fortunes-de.*apt-get install/);
  });

  it('buildCorpus caps every domain, real and generated, to the same budget', function () {
    const budget = 200_000;
    const docs = buildCorpus({ domains: ['en', 'code', 'de', 'arith', 'dyck', 'en/religion'], bytesPerDomain: budget, seed: 1 });
    const stats = corpusStats(docs);
    expect([...stats.keys()]).to.deep.equal(['en', 'code', 'de', 'arith', 'dyck', 'en/religion']);
    for (const [domain, s] of stats) expect(s.bytes, domain).to.be.within(budget * 0.97, budget);
    // Shuffled before capping: English is drawn from many genres, not only the first files (news).
    const genres = new Set(docs.filter((d) => d.domain === 'en').map((d) => d.source!.split('/')[2]));
    expect(genres.size).to.be.at.least(5);
    expect(buildCorpus({ domains: ['en', 'arith'], bytesPerDomain: 50_000, seed: 1 })).to.deep.equal(buildCorpus({ domains: ['en', 'arith'], bytesPerDomain: 50_000, seed: 1 }));
    expect(() => buildCorpus({ domains: ['klingon' as 'en'], bytesPerDomain: 10 })).to.throw(/unknown domain/);
  });
});
