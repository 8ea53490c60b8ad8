// The LM-only text world model baseline: a small decoder-only transformer trained on labelled
// transitions written as text, "<bos> state <sep> action words <arrow> next state", with the loss on
// the next-state tokens only. It predicts by greedy decoding, each slot restricted to its variable's
// value tokens, and rolls out multi-step predictions in text (its own output is the next prompt).
import { cat, crossEntropy, type Engine, type Tensor } from '../../engine/index.js';
import { AdamW, LRScheduler, SeededRng, TransformerLM, clipGradNorm, cosineSchedule, greedyDecodeInRanges, train } from '../../nn/index.js';
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
  /** Check the dev next-state loss every this many steps. */
  evalEvery: number;
  /** Checks without improvement before training stops (the best check's weights are kept). */
  patience: number;
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
  /** Dev next-state cross-entropy (nats per state token) at each check. */
  curve: { step: number; loss: number }[];
  /** The check whose weights are kept (early stopping), its loss, the steps run and the cap. */
  bestStep: number;
  bestLoss: number;
  stepsRun: number;
  stepCap: number;
  /** Cross-entropy of the per-slot marginal (unigram) distribution of the training next states: the level a model that ignores its input reaches. */
  unigramLoss: number;
}

/**
 * Train on `train` with early stopping on the next-state loss of `dev` (checked every evalEvery steps;
 * `patience` checks without improvement end the run) and return the model at its best check. The
 * unigram level is measured on `dev` too. The caller owns the model.
 */
export async function trainTextWM(engine: Engine, spec: TextWMSpec, trainRows: readonly LabelledTransition[], dev: readonly LabelledTransition[], seed: number, log: (s: string) => void): Promise<{ model: TransformerLM; info: TextWMLog }> {
  const model = new TransformerLM(engine, { vocabSize: LM_VOCAB, dModel: spec.dModel, nLayers: spec.nLayers, nHeads: spec.nHeads, dFF: spec.dFF, maxSeqLen: SEQ_LEN, dropout: 0 });
  const rng = new SeededRng(`textwm:${seed}`);
  const opt = new AdamW(model.parameters(), { lr: spec.lr, weightDecay: 0.01, betas: [0.9, 0.98] });
  const sched = new LRScheduler(opt, cosineSchedule({ warmupSteps: Math.min(20, spec.steps), totalSteps: spec.steps, minLr: 0.05 }));
  const held = packBatch(dev);
  const T = SEQ_LEN - 1;
  const hx = engine.keep(engine.tensor(held.inputs, [dev.length, T], { dtype: 'i32' }));
  const hy = engine.keep(engine.tensor(held.targets, [dev.length, T], { dtype: 'i32' }));
  try {
    const result = await train({
      steps: spec.steps,
      logEvery: spec.evalEvery,
      step: () => {
        const rows = Array.from({ length: spec.batchSize }, () => trainRows[rng.int(trainRows.length)]);
        const b = packBatch(rows, rng, spec.wordDropout);
        const loss = engine.tidy(() => {
          opt.zeroGrad();
          const l = model.loss(engine.tensor(b.inputs, [rows.length, T], { dtype: 'i32' }), engine.tensor(b.targets, [rows.length, T], { dtype: 'i32' }), { ignoreIndex: IGNORE });
          l.backward();
          clipGradNorm(model.parameters(), 1).dispose();
          opt.step();
          return l;
        });
        sched.step();
        return loss;
      },
      evaluate: async () => ({ devLoss: await engine.noGrad(() => engine.tidy(() => crossEntropy(model.forward(hx), hy, { ignoreIndex: IGNORE }))).item() }),
      evalEvery: spec.evalEvery,
      earlyStopping: { metric: 'devLoss', patience: spec.patience, restoreBest: model.parameters() },
      onEval: (step, m, improved) => log(`    text WM step ${step}: dev next-state loss ${m.devLoss.toFixed(3)}${improved ? ' (best)' : ''}`),
    });
    const curve = result.evals.map((e) => ({ step: e.step, loss: e.metrics.devLoss }));
    return { model, info: { parameters: model.numParameters(), curve, bestStep: result.best!.step, bestLoss: result.best!.value, stepsRun: result.steps, stepCap: spec.steps, unigramLoss: unigramLoss(trainRows, dev) } };
  } finally {
    opt.dispose();
    hx.dispose();
    hy.dispose();
  }
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
