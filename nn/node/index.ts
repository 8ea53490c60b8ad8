// kiln/nn/node: the Node adapters of kiln/nn (the only place in nn/ that imports node:* and Node-only packages).
export { dawnGPU, dawnPolling, setDawnPolling, type DawnPolling } from './gpu.js';
export { MissingPeerError } from './peers.js';
export { nodeIO, writeFileAtomic, jsonlSink } from './fs.js';
export { terminalProgress, type TerminalProgressOptions } from './progress.js';
export { renderSvg, svgToPng, writePlot } from './plot.js';
export { BROWN_GENRES, FORTUNES_DE_DIR, buildCorpus, detokenizeBrown, loadBrown, loadFortunesDe, loadTypeScriptLib, type BrownOptions, type BuildCorpusOptions, type CodeOptions, type DomainName, type FortunesOptions } from './corpora.js';
export { MissingSpeechToolError, checkSpeechTools, espeakSynthesizer, segmentCacheName, type SynthesizerOptions } from './speech.js';
