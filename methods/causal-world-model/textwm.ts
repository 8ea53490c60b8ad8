// The LM-only text world model baseline: a small decoder-only transformer trained on labelled
// transitions written as text, "<bos> state <sep> action words <arrow> next state", with the loss on
// the next-state tokens only. It predicts by greedy decoding, each slot restricted to its variable's
// value tokens, and rolls out multi-step predictions in text (its own output is the next prompt).
import { cat, crossEntropy, type Engine, type Tensor } from '../../engine/index.js';
import { AdamW, LRScheduler, SeededRng, TransformerLM, clipGradNorm, cosineSchedule, greedyDecodeInRanges } from '../../nn/index.js';
import { ARROW, BOS, LM_VOCAB, PROMPT_LEN, SEP, SEQ_LEN, SLOT_START, encodeAction, promptTokens, stateTokens } from './text.js';
import { VARIABLES, VARIABLE_CLASSES, type State } from './world.js';

export interface TextWMSpec {
  dModel: number;
  nLayers: number;
  nHeads: number;
  dFF: number;
  steps: number;
  batchSize: number;
  lr: number;
  /** Probability that a training adverb/adjective is replaced by <unk> (see encodeAction). */
  wordDropout: number;
  /** Evaluate the held-out next-state loss every this many steps. */
  evalEvery: number;
}

export interface LabelledTransition {
  state: State;
  text: string;
  next: State;
}

const IGNORE = -100;
const SLOT_RANGES = VARIABLE_CLASSES.map((k, i) => [SLOT_START[i], SLOT_START[i] + k] as const);

/** Inputs (B, SEQ_LEN − 1) and targets (next-state positions only, others IGNORE). */
function packBatch(rows: readonly LabelledTransition[], rng?: SeededRng, dropout = 0): { inputs: Int32Array; targets: Int32Array } {
  const T = SEQ_LEN - 1;
  const inputs = new Int32Array(rows.length * T), targets = new Int32Array(rows.length * T).fill(IGNORE);
  rows.forEach((r, b) => {
    const seq = [...promptTokens(r.state, encodeAction(r.text, rng, dropout)), ...stateTokens(r.next)];
    for (let t = 0; t < T; t++) inputs[b * T + t] = seq[t];
    for (let k = 0; k < VARIABLES.length; k++) targets[b * T + PROMPT_LEN - 1 + k] = seq[PROMPT_LEN + k];
  });
  return { inputs, targets };
}

export interface TextWMLog {
  parameters: number;
  /** Held-out next-state cross-entropy (nats per state token) at each check. */
  curve: { step: number; loss: number }[];
  bestStep: number;
  finalLoss: number;
  /** Cross-entropy of the per-slot marginal (unigram) distribution of the training next states: the level a model that ignores its input reaches. */
  unigramLoss: number;
}

/** Train on `train`; the held-out loss on `heldout` is logged every evalEvery steps. The caller owns the model. */
export async function trainTextWM(engine: Engine, spec: TextWMSpec, train: readonly LabelledTransition[], heldout: readonly LabelledTransition[], seed: number, log: (s: string) => void): Promise<{ model: TransformerLM; info: TextWMLog }> {
  const model = new TransformerLM(engine, { vocabSize: LM_VOCAB, dModel: spec.dModel, nLayers: spec.nLayers, nHeads: spec.nHeads, dFF: spec.dFF, maxSeqLen: SEQ_LEN, dropout: 0 });
  const rng = new SeededRng(`textwm:${seed}`);
  const opt = new AdamW(model.parameters(), { lr: spec.lr, weightDecay: 0.01, betas: [0.9, 0.98] });
  const sched = new LRScheduler(opt, cosineSchedule({ warmupSteps: Math.min(20, spec.steps), totalSteps: spec.steps, minLr: 0.05 }));
  const held = packBatch(heldout);
  const T = SEQ_LEN - 1;
  const hx = engine.keep(engine.tensor(held.inputs, [heldout.length, T], { dtype: 'i32' }));
  const hy = engine.keep(engine.tensor(held.targets, [heldout.length, T], { dtype: 'i32' }));
  const check = () => engine.noGrad(() => engine.tidy(() => crossEntropy(model.forward(hx), hy, { ignoreIndex: IGNORE }))).item();
  const curve: TextWMLog['curve'] = [];
  try {
    for (let step = 1; step <= spec.steps; step++) {
      const rows = Array.from({ length: spec.batchSize }, () => train[rng.int(train.length)]);
      const b = packBatch(rows, rng, spec.wordDropout);
      engine.tidy(() => {
        opt.zeroGrad();
        const loss = model.loss(engine.tensor(b.inputs, [rows.length, T], { dtype: 'i32' }), engine.tensor(b.targets, [rows.length, T], { dtype: 'i32' }), { ignoreIndex: IGNORE });
        loss.backward();
        clipGradNorm(model.parameters(), 1).dispose();
        opt.step();
      });
      sched.step();
      if (step % spec.evalEvery === 0 || step === spec.steps) {
        const loss = await check();
        curve.push({ step, loss });
        log(`    text WM step ${step}: held-out next-state loss ${loss.toFixed(3)}`);
      }
    }
  } finally {
    opt.dispose();
    hx.dispose();
    hy.dispose();
  }
  const best = curve.reduce((b, c) => (c.loss < b.loss ? c : b), curve[0]);
  return { model, info: { parameters: model.numParameters(), curve, bestStep: best.step, finalLoss: curve[curve.length - 1].loss, unigramLoss: unigramLoss(train, heldout) } };
}

/** Held-out cross-entropy of each slot's training marginal, mean over slots (nats/token). */
function unigramLoss(train: readonly LabelledTransition[], heldout: readonly LabelledTransition[]): number {
  let total = 0;
  VARIABLES.forEach((_, i) => {
    const counts = new Array<number>(VARIABLE_CLASSES[i]).fill(1); // add-one smoothing
    for (const r of train) counts[r.next[i]]++;
    const n = counts.reduce((a, b) => a + b, 0);
    for (const r of heldout) total -= Math.log(counts[r.next[i]] / n);
  });
  return total / (heldout.length * VARIABLES.length);
}

/**
 * Next states (B, 8) i32 on the GPU from states (B, 8) given as value tokens and action word ids
 * (B, ACTION_LEN) i32: one greedy slot-constrained decode.
 */
export function predictNextTokens(model: TransformerLM, stateTokensT: Tensor, actions: Tensor): Tensor {
  const e = model.engine, B = actions.shape[0];
  return e.noGrad(() =>
    e.tidy(() => {
      const col = (id: number) => e.tensor(new Int32Array(B).fill(id), [B, 1], { dtype: 'i32' });
      const prompt = cat([col(BOS), stateTokensT, col(SEP), actions, col(ARROW)], 1); // (B, PROMPT_LEN)
      return greedyDecodeInRanges(model, prompt, SLOT_RANGES);
    }),
  );
}

/** States (B, 8) → their value tokens (B, 8) i32. */
export function statesToTokens(engine: Engine, states: readonly State[]): Tensor {
  return engine.tensor(Int32Array.from(states.flatMap(stateTokens)), [states.length, VARIABLES.length], { dtype: 'i32' });
}

/** Value tokens read back → states. */
export function tokensToStates(data: ArrayLike<number>, B: number): State[] {
  return Array.from({ length: B }, (_, b) => VARIABLES.map((_, i) => data[b * VARIABLES.length + i] - SLOT_START[i]));
}
