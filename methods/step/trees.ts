// The small-scale STEP data (spec 4d): a generative grammar of English-like sentences whose dependency
// trees are recoverable from the string (distinct prepositions for nmod and obl), and the 14 STEP edge
// functions applied bottom-up, edge by edge, in inside-out child order (spec 4a.3-4). CPU only.
import type { SeededRng } from '../../nn/index.js';

export const NOUNS = ['dog', 'cat', 'man', 'girl', 'bird', 'boy'] as const;
export const VERBS_TRANSITIVE = ['saw', 'liked', 'chased', 'found'] as const;
export const VERBS_INTRANSITIVE = ['slept', 'ran'] as const;
export const ADJECTIVES = ['big', 'small', 'red', 'old'] as const;
export const DETERMINERS = ['the', 'a'] as const;
export const PREP_NMOD = ['with', 'near'] as const;
export const PREP_OBL = ['on', 'under'] as const;

/** Dependency labels; ids 1.. (0 = a padded rule slot). "root" never attaches as a child, so it has no rule. */
export const LABELS = ['nsubj', 'obj', 'obl', 'nmod', 'det', 'amod', 'case'] as const;
export type Label = (typeof LABELS)[number] | 'root';
export const labelId = (l: Label): number => LABELS.indexOf(l as (typeof LABELS)[number]) + 1;

/** One word of a sentence: its form, its head's index (-1 for the root) and its label. */
export interface Word {
  form: string;
  head: number;
  label: Label;
}

export interface Sentence {
  words: Word[];
  transitive: boolean;
  /** Deepest chain of nested nmod PPs (0: none). */
  nmodDepth: number;
  hasObl: boolean;
}

export interface GrammarOptions {
  /** Nested nmod PPs allowed below an NP (spec: depth < 2 → at most 2). */
  maxNmodDepth: number;
  /** Reject sentences longer than this. */
  maxWords: number;
  pTransitive: number;
  pObl: number;
  pAdj: number;
  pNmod: number;
}

export const GRAMMAR_DEFAULTS: GrammarOptions = { maxNmodDepth: 2, maxWords: 24, pTransitive: 0.7, pObl: 0.35, pAdj: 0.4, pNmod: 0.3 };

/** Subtree built left to right: words with heads local to `words`, `head` = the index of its head word. */
interface Phrase {
  words: Word[];
  head: number;
  depth: number;
}

/** Join phrases in order; `heads[i]` is where phrase i's head word attaches (index into the joined list, or -1) with `labels[i]`. */
function join(parts: Phrase[], attach: (offsets: number[]) => { head: number; label: Label }[]): Phrase & { offsets: number[] } {
  const offsets: number[] = [];
  const words: Word[] = [];
  for (const p of parts) {
    offsets.push(words.length);
    for (const w of p.words) words.push({ ...w, head: w.head < 0 ? -1 : w.head + offsets[offsets.length - 1] });
  }
  const a = attach(offsets);
  parts.forEach((p, i) => {
    const w = words[offsets[i] + p.head];
    if (a[i].head >= 0) {
      w.head = a[i].head;
      w.label = a[i].label;
    }
  });
  return { words, head: -1, depth: Math.max(...parts.map((p) => p.depth)), offsets };
}

const word = (form: string): Phrase => ({ words: [{ form, head: -1, label: 'root' }], head: 0, depth: 0 });

/** NP → Det(det) [Adj(amod)] N [PP_nmod while depth < max]. */
function nounPhrase(rng: SeededRng, o: GrammarOptions, depth: number): Phrase {
  const parts: Phrase[] = [word(rng.pick(DETERMINERS))];
  const adj = rng.next() < o.pAdj;
  if (adj) parts.push(word(rng.pick(ADJECTIVES)));
  parts.push(word(rng.pick(NOUNS)));
  const nIdx = parts.length - 1;
  let pp: Phrase | null = null;
  if (depth < o.maxNmodDepth && rng.next() < o.pNmod) {
    pp = prepPhrase(rng, o, PREP_NMOD, depth + 1);
    parts.push(pp);
  }
  const j = join(parts, (off) =>
    parts.map((_, i) => {
      const n = off[nIdx];
      if (i === nIdx) return { head: -1, label: 'root' as Label };
      if (i === 0) return { head: n, label: 'det' };
      if (adj && i === 1) return { head: n, label: 'amod' };
      return { head: n, label: 'nmod' };
    }),
  );
  return { words: j.words, head: j.offsets[nIdx], depth: pp ? pp.depth : depth };
}

/** PP → P(case) NP; the noun is the PP's head (UD: the preposition is a case dependent). */
function prepPhrase(rng: SeededRng, o: GrammarOptions, preps: readonly string[], depth: number): Phrase {
  const p = word(rng.pick(preps));
  const np = nounPhrase(rng, o, depth);
  const j = join([p, np], (off) => [{ head: off[1] + np.head, label: 'case' }, { head: -1, label: 'root' }]);
  return { words: j.words, head: j.offsets[1] + np.head, depth: np.depth };
}

/** One sentence: S → NP_nsubj V [NP_obj] [PP_obl]; rejection-sampled to at most maxWords words. */
export function sampleSentence(rng: SeededRng, options: Partial<GrammarOptions> = {}): Sentence {
  const o = { ...GRAMMAR_DEFAULTS, ...options };
  for (;;) {
    const transitive = rng.next() < o.pTransitive;
    const subj = nounPhrase(rng, o, 0);
    const verb = word(rng.pick(transitive ? VERBS_TRANSITIVE : VERBS_INTRANSITIVE));
    const parts: Phrase[] = [subj, verb];
    if (transitive) parts.push(nounPhrase(rng, o, 0));
    const hasObl = rng.next() < o.pObl;
    if (hasObl) parts.push(prepPhrase(rng, o, PREP_OBL, 0));
    const j = join(parts, (off) =>
      parts.map((p, i) => {
        const v = off[1];
        if (i === 1) return { head: -1, label: 'root' as Label };
        if (i === 0) return { head: v, label: 'nsubj' };
        if (transitive && i === 2) return { head: v, label: 'obj' };
        void p;
        return { head: v, label: 'obl' };
      }),
    );
    if (j.words.length > o.maxWords) continue;
    const nmodDepth = Math.max(0, ...parts.map((p) => p.depth));
    return { words: j.words, transitive, nmodDepth, hasObl };
  }
}

export const forms = (s: Sentence): string[] => s.words.map((w) => w.form);

// ------------------------------------------------------------------ edge functions

export const EDGE_FUNCTIONS = [
  'concat', 'concat-deprel', 'rev-deprel', 'rev', 'improved-triple', 'improved-triple-by', 'bracket-1', 'bracket-invert-1',
  'bracket-2', 'bracket-invert-2', 'bracket-3', 'bracket-4', 'ignore-dep', 'bracket-full',
] as const;
export type EdgeFunction = (typeof EDGE_FUNCTIONS)[number];

/** label → edge function. Labels without a rule concatenate (d+h before the head, h+d after). */
export type Rules = Partial<Record<Label, EdgeFunction>>;

interface Edge {
  h: string[];
  d: string[];
  /** The dependent follows the head in the sentence. */
  after: boolean;
  label: string;
  headLemma: string;
  depLemma: string;
  depHasChildren: boolean;
  /** bracket-full only: this child's place among the siblings that use bracket-full. */
  place: 'only' | 'first' | 'middle' | 'last';
}

/** f(h, d) for each edge function (spec 4a.3 table; lemma = form here). */
function applyEdge(f: EdgeFunction, e: Edge): string[] {
  const { h, d, after, label: L } = e;
  switch (f) {
    case 'concat': return after ? [...h, ...d] : [...d, ...h];
    case 'concat-deprel': return after ? [...h, L, ...d] : [...d, L, ...h];
    case 'rev-deprel': return after ? [...d, L, ...h] : [...h, L, ...d];
    case 'rev': return after ? [...d, ...h] : [...h, ...d];
    case 'improved-triple': return [...h, '(', e.headLemma, L, e.depLemma, ')', ...(e.depHasChildren ? d : [])];
    case 'improved-triple-by': return [...h, '(', e.depLemma, L, 'by', e.headLemma, ')', ...(e.depHasChildren ? d : [])];
    case 'bracket-1': return [...h, '(', L, ...d, ')'];
    case 'bracket-invert-1': return [...d, '(', L, 'by', ...h, ')'];
    case 'bracket-2': return ['(', ...h, L, ...d, ')'];
    case 'bracket-invert-2': return ['(', ...d, L, 'by', ...h, ')'];
    case 'bracket-3': return [...h, '(', ...d, ')'];
    case 'bracket-4': return [...h, L, '(', ...d, ')'];
    case 'ignore-dep': return h;
    case 'bracket-full':
      switch (e.place) {
        case 'only': return [...h, '(', L, ...d, ')'];
        case 'first': return [...h, '(', L, ...d];
        case 'middle': return [...h, ',', L, ...d];
        case 'last': return [...h, ',', L, ...d, ')'];
      }
  }
}

/** Children of word i in inside-out order: left dependents nearest first, then right dependents nearest first. */
export function insideOutChildren(words: readonly Word[], i: number): number[] {
  const kids = words.map((w, j) => (w.head === i ? j : -1)).filter((j) => j >= 0);
  const left = kids.filter((j) => j < i).sort((a, b) => b - a);
  const right = kids.filter((j) => j > i).sort((a, b) => a - b);
  return [...left, ...right];
}

/** The transformed word list: result(node) starts as [form], each child's result folded in by its label's rule. */
export function applyRules(s: Sentence | readonly Word[], rules: Rules): string[] {
  const words = 'words' in s ? s.words : s;
  const result = (i: number): string[] => {
    let h = [words[i].form];
    const kids = insideOutChildren(words, i);
    const full = kids.filter((c) => rules[words[c].label] === 'bracket-full');
    for (const c of kids) {
      const d = result(c);
      const f = rules[words[c].label];
      const after = c > i;
      if (!f) {
        h = after ? [...h, ...d] : [...d, ...h];
        continue;
      }
      const k = full.indexOf(c);
      const place = full.length === 1 ? 'only' : k === 0 ? 'first' : k === full.length - 1 ? 'last' : 'middle';
      h = applyEdge(f, { h, d, after, label: words[c].label, headLemma: words[i].form, depLemma: words[c].form, depHasChildren: words.some((w) => w.head === c), place });
    }
    return h;
  };
  const root = words.findIndex((w) => w.head < 0);
  return result(root);
}

/** Labels of the sentence (root excluded), in label-id order. */
export function presentLabels(s: Sentence): Label[] {
  const set = new Set(s.words.filter((w) => w.head >= 0).map((w) => w.label));
  return LABELS.filter((l) => set.has(l));
}

/**
 * A STEP transformation for `s` (spec 4d): k1 ~ U{1..#present} present labels, plus 0..maxDistractors
 * absent labels, each with a uniformly drawn edge function.
 */
export function sampleRules(rng: SeededRng, s: Sentence, maxDistractors = 2): Rules {
  const present = rng.shuffle([...presentLabels(s)]);
  const absent = rng.shuffle(LABELS.filter((l) => !present.includes(l)));
  const k1 = rng.range(1, present.length);
  const k2 = rng.range(0, Math.min(maxDistractors, absent.length));
  const rules: Rules = {};
  for (const l of [...present.slice(0, k1), ...absent.slice(0, k2)]) rules[l] = rng.pick(EDGE_FUNCTIONS);
  return rules;
}

/** The description: (label id, function id) pairs sorted by label id. */
export function describe(rules: Rules): { label: number; fn: number }[] {
  return LABELS.filter((l) => rules[l]).map((l) => ({ label: labelId(l), fn: EDGE_FUNCTIONS.indexOf(rules[l]!) }));
}

/** One function on every edge (Simple STEP's transformations). */
export function everyEdge(f: EdgeFunction): Rules {
  return Object.fromEntries(LABELS.map((l) => [l, f])) as Rules;
}
