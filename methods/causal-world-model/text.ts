// The text side: a small probabilistic grammar (PCFG) that paraphrases actions ("You carefully changed
// the state of the sturdy cyan traffic light."), with two adverbs and two adjectives held out for the
// test, a word tokenizer over the training words (unknown words → <unk>), and the token layout of the
// text world model: <bos> state(8) <sep> action(ACTION_LEN, padded) <arrow> next state(8).
import type { SeededRng } from '../../nn/index.js';
import { ACTIONS, VARIABLE_CLASSES, type Action, type State } from './world.js';

export const TRAIN_ADVERBS = ['carefully', 'quickly', 'slowly', 'gently', 'calmly', 'firmly', 'swiftly', 'quietly'];
export const HELDOUT_ADVERBS = ['boldly', 'lazily'];
export const TRAIN_ADJECTIVES = ['sturdy', 'metal', 'shiny', 'old', 'bright', 'small', 'tall', 'rusty'];
export const HELDOUT_ADJECTIVES = ['wooden', 'tiny'];
/** Lights are named by the colour of the car they govern. */
export const LIGHT_COLOURS = ['blue', 'magenta', 'cyan'];

const TOGGLE_VERBS = ['changed the state of', 'switched', 'toggled', 'flipped'];
const MOVE_VERBS = ['moved', 'pushed', 'shifted'];
const DIRECTION_PHRASES = { left: ['left', 'to the left'], right: ['right', 'to the right'], up: ['up', 'upwards'], down: ['down', 'downwards'] } as const;
const NONE_PHRASES = ['No action was performed.', 'You performed no action.', 'You did nothing.', 'You waited.'];

export type Paraphrases = 'train' | 'heldout';

/**
 * One paraphrase of `action`: adverb and adjective each with probability ½, drawn from the training
 * words or (heldout) only from the held-out ones, which then always appear.
 */
export function paraphrase(action: Action, rng: SeededRng, words: Paraphrases = 'train'): string {
  const held = words === 'heldout';
  const adv = held || rng.next() < 0.5 ? `${rng.pick(held ? HELDOUT_ADVERBS : TRAIN_ADVERBS)} ` : '';
  const adj = held || rng.next() < 0.5 ? `${rng.pick(held ? HELDOUT_ADJECTIVES : TRAIN_ADJECTIVES)} ` : '';
  if (action.kind === 'toggle') return `You ${adv}${rng.pick(TOGGLE_VERBS)} the ${adj}${LIGHT_COLOURS[action.light]} traffic light.`;
  if (action.kind === 'move') return `You ${adv}${rng.pick(MOVE_VERBS)} the ${adj}orange obstacle ${rng.pick(DIRECTION_PHRASES[action.dir])}.`;
  return held ? `You ${adv}waited.` : rng.pick(NONE_PHRASES);
}

/** The planner's candidate texts: one plain sentence per action, no adverb or adjective. */
export function canonicalText(action: Action): string {
  if (action.kind === 'toggle') return `You changed the state of the ${LIGHT_COLOURS[action.light]} traffic light.`;
  if (action.kind === 'move') return `You moved the orange obstacle ${action.dir}.`;
  return 'You performed no action.';
}

// ------------------------------------------------------------------ tokens

export const PAD = 0;
export const UNK = 1;
/** Word tokens of an action text (padded with PAD). */
export const ACTION_LEN = 12;

const words = (s: string) => s.toLowerCase().match(/[a-z]+/g) ?? [];

/** Every word the training grammar can produce (the held-out adverbs and adjectives excluded). */
function trainingWords(): string[] {
  const all = new Set<string>();
  const phrases = [
    ...TRAIN_ADVERBS, ...TRAIN_ADJECTIVES, ...LIGHT_COLOURS, ...TOGGLE_VERBS, ...MOVE_VERBS, ...NONE_PHRASES,
    ...Object.values(DIRECTION_PHRASES).flat(), 'you the traffic light orange obstacle',
  ];
  for (const p of phrases) for (const w of words(p)) all.add(w);
  return [...all].sort();
}

export const WORDS = trainingWords();
const WORD_ID = new Map(WORDS.map((w, i) => [w, i + 2]));
/** PAD, UNK and the training words. */
export const WORD_VOCAB = WORDS.length + 2;
const DROPPABLE = new Set([...TRAIN_ADVERBS, ...TRAIN_ADJECTIVES].map((w) => WORD_ID.get(w)!));

/**
 * An action text as ACTION_LEN word ids (PAD after the end; unknown words → UNK). With `dropout` and
 * an rng, each training adverb/adjective becomes UNK with that probability, so UNK means "some
 * modifier" and a held-out modifier at test time is not a never-seen token.
 */
export function encodeAction(text: string, rng?: SeededRng, dropout = 0): number[] {
  const ids = words(text).map((w) => WORD_ID.get(w) ?? UNK);
  if (ids.length > ACTION_LEN) throw new RangeError(`encodeAction: "${text}" has ${ids.length} words; at most ${ACTION_LEN}`);
  if (rng && dropout > 0) for (let i = 0; i < ids.length; i++) if (DROPPABLE.has(ids[i]) && rng.next() < dropout) ids[i] = UNK;
  while (ids.length < ACTION_LEN) ids.push(PAD);
  return ids;
}

// The text world model's vocabulary: the action words, three markers, then each variable's value tokens.
export const BOS = WORD_VOCAB;
export const SEP = WORD_VOCAB + 1;
export const ARROW = WORD_VOCAB + 2;
const STATE_BASE = WORD_VOCAB + 3;
/** First token id of each variable's values: slot i's value v is SLOT_START[i] + v. */
export const SLOT_START = VARIABLE_CLASSES.map((_, i) => STATE_BASE + VARIABLE_CLASSES.slice(0, i).reduce((a, b) => a + b, 0));
export const LM_VOCAB = STATE_BASE + VARIABLE_CLASSES.reduce((a, b) => a + b, 0);
/** <bos> state <sep> action <arrow>: the prompt the text world model continues with the next state. */
export const PROMPT_LEN = 1 + 8 + 1 + ACTION_LEN + 1;
export const SEQ_LEN = PROMPT_LEN + 8;

export const stateTokens = (s: State): number[] => s.map((v, i) => SLOT_START[i] + v);
export const tokensToState = (t: readonly number[]): State => t.map((id, i) => id - SLOT_START[i]);

export function promptTokens(s: State, action: readonly number[]): number[] {
  return [BOS, ...stateTokens(s), SEP, ...action, ARROW];
}

/** The action ids of ACTIONS as canonical token rows (the planner's candidates). */
export const CANONICAL_ACTIONS: number[][] = ACTIONS.map((a) => encodeAction(canonicalText(a)));
