// Vocabulary, the pre-training example sets of every arm (STEP, reconstruction, Simple STEP) and the
// downstream few-shot tasks (passivization, chunking) with their structural-generalisation split.
// CPU only: examples are token-id lists; run.ts batches them onto the device.
import { SeededRng } from '../../nn/index.js';
import {
  ADJECTIVES, DETERMINERS, EDGE_FUNCTIONS, LABELS, NOUNS, PREP_NMOD, PREP_OBL, VERBS_INTRANSITIVE, VERBS_TRANSITIVE,
  applyRules, describe, everyEdge, forms, sampleRules, sampleSentence, type GrammarOptions, type Sentence,
} from './trees.js';

export const PAD = 0, BOS = 1, EOS = 2;

/** Every token: specials, words, structure symbols, label names, chunk tags, Simple STEP's function sentinels. */
export const VOCAB: readonly string[] = [
  '<pad>', '<bos>', '<eos>',
  ...NOUNS, ...VERBS_TRANSITIVE, ...VERBS_INTRANSITIVE, ...ADJECTIVES, ...DETERMINERS, ...PREP_NMOD, ...PREP_OBL,
  '(', ')', ',', 'by', 'was',
  ...LABELS,
  'NP', 'V', 'PP',
  ...EDGE_FUNCTIONS.map((f) => `<${f}>`),
];
const ID = new Map(VOCAB.map((t, i) => [t, i]));

export function encode(tokens: readonly string[]): number[] {
  return tokens.map((t) => {
    const id = ID.get(t);
    if (id === undefined) throw new RangeError(`step: token "${t}" is not in the vocabulary`);
    return id;
  });
}
export const decodeTokens = (ids: readonly number[]): string[] => ids.map((i) => VOCAB[i] ?? `<${i}>`);

/** One seq2seq example: source ids, target ids ending in EOS, and the rule description (STEP arm only). */
export interface Example {
  src: number[];
  tgt: number[];
  rules: { label: number; fn: number }[];
  sentence: Sentence;
}

export type PretrainArm = 'step' | 'reconstruction' | 'simpleStep';

/**
 * One pre-training example of an arm on sentence s: STEP = a sampled per-label transformation,
 * described by its rules; reconstruction = the sentence itself; Simple STEP = one random function
 * on every edge, named by a sentinel token before the sentence (no per-label description).
 */
export function pretrainExample(arm: PretrainArm, s: Sentence, rng: SeededRng, maxDistractors: number): Example {
  const words = forms(s);
  if (arm === 'reconstruction') return { src: encode(words), tgt: [...encode(words), EOS], rules: [], sentence: s };
  if (arm === 'simpleStep') {
    const f = rng.pick(EDGE_FUNCTIONS);
    return { src: encode([`<${f}>`, ...words]), tgt: [...encode(applyRules(s, everyEdge(f))), EOS], rules: [], sentence: s };
  }
  const rules = sampleRules(rng, s, maxDistractors);
  return { src: encode(words), tgt: [...encode(applyRules(s, rules)), EOS], rules: describe(rules), sentence: s };
}

/** `n` pre-training examples (targets up to maxTgt tokens, EOS included; longer ones are skipped as in the original). */
export function pretrainSet(arm: PretrainArm, sentences: readonly Sentence[], seed: number, maxTgt: number, maxDistractors: number): Example[] {
  const rng = new SeededRng(`pretrain:${arm}:${seed}`);
  const out: Example[] = [];
  for (const s of sentences) {
    const e = pretrainExample(arm, s, rng, maxDistractors);
    if (e.tgt.length <= maxTgt) out.push(e);
  }
  return out;
}

/** Distinct sentences (by their words), drawn in order; `keep` filters. */
export function sampleSentences(rng: SeededRng, n: number, grammar: Partial<GrammarOptions>, keep: (s: Sentence) => boolean = () => true, exclude: Set<string> = new Set()): Sentence[] {
  const out: Sentence[] = [];
  const seen = new Set(exclude);
  for (let tries = 0; out.length < n; tries++) {
    if (tries > 200 * n + 1000) throw new RangeError(`step: could not draw ${n} distinct sentences (got ${out.length})`);
    const s = sampleSentence(rng, grammar);
    const key = forms(s).join(' ');
    if (seen.has(key) || !keep(s)) continue;
    seen.add(key);
    out.push(s);
  }
  return out;
}

// ------------------------------------------------------------------ downstream tasks

export type TaskName = 'passivization' | 'chunking';
export const TASKS: readonly TaskName[] = ['passivization', 'chunking'];

/** Words of the subtree of word i, in sentence order. */
function subtree(s: Sentence, i: number): string[] {
  const inside = (j: number): boolean => j === i || (s.words[j].head >= 0 && inside(s.words[j].head));
  return s.words.filter((_, j) => inside(j)).map((w) => w.form);
}

/** "NP1 V NP2 [PP_obl]" → "NP2 was V by NP1 [PP_obl]" (transitive sentences only). */
export function passivize(s: Sentence): string[] {
  if (!s.transitive) throw new RangeError('step: passivize needs a transitive sentence');
  const v = s.words.findIndex((w) => w.head < 0);
  const child = (label: string) => s.words.findIndex((w) => w.head === v && w.label === label);
  const obl = child('obl');
  return [...subtree(s, child('obj')), 'was', s.words[v].form, 'by', ...subtree(s, child('nsubj')), ...(obl >= 0 ? subtree(s, obl) : [])];
}

/** Flat chunks: "( NP det [adj] noun )", "( V verb )", "( PP prep )". */
export function chunk(s: Sentence): string[] {
  const out: string[] = [];
  let np: string[] = [];
  for (const w of s.words) {
    if (w.label === 'det' || w.label === 'amod') np.push(w.form);
    else if (w.label === 'case') out.push('(', 'PP', w.form, ')');
    else if (w.head < 0) out.push('(', 'V', w.form, ')');
    else {
      out.push('(', 'NP', ...np, w.form, ')');
      np = [];
    }
  }
  return out;
}

export function taskTarget(task: TaskName, s: Sentence): string[] {
  return task === 'passivization' ? passivize(s) : chunk(s);
}

export function taskExample(task: TaskName, s: Sentence): Example {
  return { src: encode(forms(s)), tgt: [...encode(taskTarget(task, s)), EOS], rules: [], sentence: s };
}

/** Which sentences a task takes (passivization: transitive ones). */
export const taskAccepts = (task: TaskName) => (s: Sentence) => task !== 'passivization' || s.transitive;

export interface TaskSplits {
  /** The largest few-shot training set; smaller N take its prefix. nmod depth <= trainMaxDepth. */
  train: Example[];
  /** In-distribution test: same depths as training. */
  test: Example[];
  /** Structural generalisation: nmod depth exactly trainMaxDepth + 1, never seen in fine-tuning. */
  generalisation: Example[];
}

export function taskSplits(task: TaskName, seed: number, o: { maxN: number; test: number; generalisation: number; trainMaxDepth: number; grammar: Partial<GrammarOptions>; maxTgt: number }): TaskSplits {
  const rng = new SeededRng(`task:${task}:${seed}`);
  const fits = (s: Sentence) => taskAccepts(task)(s) && taskExample(task, s).tgt.length <= o.maxTgt;
  const shallow = sampleSentences(rng, o.maxN + o.test, o.grammar, (s) => fits(s) && s.nmodDepth <= o.trainMaxDepth);
  const deep = sampleSentences(rng, o.generalisation, o.grammar, (s) => fits(s) && s.nmodDepth === o.trainMaxDepth + 1);
  const ex = (ss: Sentence[]) => ss.map((s) => taskExample(task, s));
  return { train: ex(shallow.slice(0, o.maxN)), test: ex(shallow.slice(o.maxN)), generalisation: ex(deep) };
}

// ------------------------------------------------------------------ scoring

/** The chunks of a bracketed output: the token runs between "(" and ")" (chunk_eval.py's spans). */
export function chunksOf(tokens: readonly string[]): string[][] {
  const out: string[][] = [];
  let cur: string[] | null = null;
  for (const t of tokens) {
    if (t === '(') cur = [];
    else if (t === ')') {
      if (cur) out.push(cur);
      cur = null;
    } else cur?.push(t);
  }
  return out;
}

/** Tokens before the first EOS (EOS itself dropped). */
export function untilEos(ids: readonly number[]): number[] {
  const i = ids.indexOf(EOS);
  return i < 0 ? [...ids] : ids.slice(0, i);
}

/** Exact match up to and including EOS (an output without EOS never matches). */
export function exactMatch(pred: readonly number[], gold: readonly number[]): boolean {
  const i = pred.indexOf(EOS);
  return i >= 0 && i === gold.length - 1 && pred.slice(0, i + 1).every((t, j) => t === gold[j]);
}
