// kiln/nn/node: the Node adapters of kiln/nn (the only place in nn/ that imports node:* and Node-only packages).
export { BROWN_GENRES, FORTUNES_DE_DIR, buildCorpus, detokenizeBrown, loadBrown, loadFortunesDe, loadTypeScriptLib, type BrownOptions, type BuildCorpusOptions, type CodeOptions, type DomainName, type FortunesOptions } from './corpora.js';
