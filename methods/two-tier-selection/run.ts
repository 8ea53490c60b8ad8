// Margin sampling (Ramírez, Birch, Titov, COLM 2024) at toy scale: a small and a large LM trained on
// kiln on "sum of digits mod 10"; per query the small model's first-token label margin; then the
// official code's cascade (online quantile threshold, budget bookkeeping) against the random mixture,
// an oracle, a FrugalGPT-like learned-scorer cascade and a HybridLLM/FORC-like router, over a budget
// grid per cost setting, scored by the normalised AUC (cascade.ts).
import type { Engine } from '../../engine/index.js';
import { SeededRng, type CheckpointIO, type TransformerLM } from '../../nn/index.js';
import { budgetGrid, cascade, normalisedAUC, oracleEscalateIf, oracleScores, randomMixture, route, type BudgetContext, type Costs, type QueryStream } from './cascade.js';
import { makeConfig, type TwoTierConfig } from './config.js';
import { cachedTier, labelOutputs, type TrainLog } from './models.js';
import { fitLogistic } from './scorer.js';
import { MAX_DIGITS, NUM_CLASSES, makeQuery, queryFeatures, type Query } from './task.js';

export const STRATEGIES = ['margin', 'marginProb', 'random', 'oracle', 'scorer', 'routing'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export interface Stat {
  mean: number;
  perSeed: number[];
}

export interface Report {
  method: 'two-tier-selection';
  config: TwoTierConfig;
  /** Accuracy of each model alone on the evaluated stream. */
  accuracy: { small: Stat; large: Stat };
  /** Accuracy per number of digits n = 1..6 (seed means). */
  accuracyByDigits: { small: number[]; large: number[] };
  /** Cost settings: name → c_s, c_l ("fix5", "fix10", "fix50", "flops"). */
  costs: Record<string, Costs>;
  /** auc[strategy][cost setting]: normalised area under accuracy vs budget (the average accuracy over the grid). */
  auc: Record<Strategy, Record<string, Stat>>;
  /** accuracyAt30[strategy][cost]: at the budget B = c_s + 0.3·c_l (a 30 % cascade escalation rate). */
  accuracyAt30: Record<Strategy, Record<string, Stat>>;
  /** Small-model accuracy in the low, middle and high thirds of the logit margin. */
  marginTercileAccuracy: { low: Stat; mid: Stat; high: Stat };
  /** Small-model accuracy per equal-count margin bin (seed means): bin's mean margin and accuracy. */
  marginBins: { margin: number; accuracy: number }[];
  /** max over budgets, cost settings and the budgeted strategies (every one but the random mixture) of realised mean cost − B; ≤ 0 means never over budget. */
  maxCostOverrun: Stat;
  /** The random mixture's own overrun (⌊r·N⌋ small queries), for the record. */
  randomMixtureCostOverrun: Stat;
  /** max over budgets and cost settings of |escalation rate after the warm-up − p| of the margin cascade. */
  maxEscalationRateError: Stat;
  /** Training of each tier (per model pair trained: one per seed, or one shared). */
  training: { small: TrainLog[]; large: TrainLog[] };
  /** Per model pair: whether both tiers came from the cache. */
  modelsCached: boolean[];
  /** The learned baselines' logistic regressions: final training loss vs the base-rate loss (nats). */
  scorerFit: { scorer: { trainLoss: Stat; baseRateLoss: Stat }; router: { trainLoss: Stat; baseRateLoss: Stat } };
  /** curves[cost][strategy]: seed-mean accuracy at each budget of the grid (budgets in curves[cost].budgets). */
  curves: Record<string, { budgets: number[] } & Record<Strategy, number[]>>;
  wallSec: number;
}

export interface RunIO {
  log?: (line: string) => void;
  /** Cache of trained tiers (kiln checkpoints under config.cacheDir); without it every run trains. */
  checkpointIO?: CheckpointIO;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stat = (xs: number[]): Stat => ({ mean: mean(xs), perSeed: xs });

interface SeedResult {
  accSmall: number;
  accLarge: number;
  byDigits: { small: number[]; large: number[] };
  auc: Record<Strategy, Record<string, number>>;
  at30: Record<Strategy, Record<string, number>>;
  curves: Record<string, Record<Strategy, number[]>>;
  terciles: [number, number, number];
  bins: { margin: number; accuracy: number }[];
  overrun: number;
  randomOverrun: number;
  rateError: number;
  scorerFit: { scorer: [number, number]; router: [number, number] };
}

/** Small-model accuracy in `k` equal-count bins of ascending margin. */
export function accuracyByMarginBin(margins: readonly number[], correct: readonly number[], k: number): { margin: number; accuracy: number }[] {
  const order = margins.map((_, i) => i).sort((a, b) => margins[a] - margins[b]);
  return Array.from({ length: k }, (_, b) => {
    const idx = order.slice(Math.floor((b * order.length) / k), Math.floor(((b + 1) * order.length) / k));
    return { margin: mean(idx.map((i) => margins[i])), accuracy: mean(idx.map((i) => correct[i])) };
  });
}

async function evaluateSeed(engine: Engine, c: TwoTierConfig, seed: number, small: TransformerLM, large: TransformerLM, costs: Record<string, Costs>, log: (s: string) => void): Promise<SeedResult> {
  const rng = new SeededRng(`two-tier-queries:${seed}`);
  const queries: Query[] = Array.from({ length: c.nQueries }, () => makeQuery(rng));
  const [s, l] = [await labelOutputs(engine, small, queries), await labelOutputs(engine, large, queries)];
  const trainQ = queries.slice(0, c.nTrain), evalQ = queries.slice(c.nTrain);
  const ev = (xs: number[]) => xs.slice(c.nTrain);
  const smallCorrect = queries.map((q, i) => (s.prediction[i] === q.answer ? 1 : 0));
  const largeCorrect = queries.map((q, i) => (l.prediction[i] === q.answer ? 1 : 0));
  const sc = ev(smallCorrect), lc = ev(largeCorrect);
  const accSmall = mean(sc), accLarge = mean(lc);

  // Learned baselines, fitted on the first nTrain queries only.
  const y = smallCorrect.slice(0, c.nTrain);
  const scorer = await fitLogistic(engine, { x: trainQ.map((q, i) => queryFeatures(q, s.prediction[i])), y }, evalQ.map((q, i) => queryFeatures(q, s.prediction[c.nTrain + i])), c.scorer);
  const router = await fitLogistic(engine, { x: trainQ.map((q) => queryFeatures(q)), y }, evalQ.map((q) => queryFeatures(q)), c.scorer);
  const jitterRng = new SeededRng(`two-tier-oracle:${seed}`);
  const scores: Record<Exclude<Strategy, 'random'>, number[]> = {
    margin: ev(s.margin),
    marginProb: ev(s.probMargin),
    scorer: scorer.scores,
    routing: router.scores,
    oracle: oracleScores({ smallCorrect: sc, largeCorrect: lc }, sc.map(() => jitterRng.next())),
  };
  const stream = (k: keyof typeof scores): QueryStream => ({ smallCorrect: sc, largeCorrect: lc, scores: scores[k] });

  const auc = Object.fromEntries(STRATEGIES.map((k) => [k, {}])) as SeedResult['auc'];
  const at30 = Object.fromEntries(STRATEGIES.map((k) => [k, {}])) as SeedResult['at30'];
  const curves: SeedResult['curves'] = {};
  let overrun = -Infinity, randomOverrun = -Infinity, rateError = 0;
  for (const [name, cost] of Object.entries(costs)) {
    const ctx = (budget: number): BudgetContext => ({ costs: cost, budget, accSmall, accLarge, numClasses: NUM_CLASSES, warmup: c.warmup });
    const evalAt = (budget: number): Record<Strategy, number> => {
      const b = ctx(budget);
      const m = cascade(stream('margin'), b);
      const out = {
        margin: m,
        marginProb: cascade(stream('marginProb'), b),
        scorer: cascade(stream('scorer'), b),
        oracle: cascade(stream('oracle'), b, oracleEscalateIf),
        routing: route(stream('routing'), b),
      };
      for (const o of Object.values(out)) overrun = Math.max(overrun, o.meanCost - budget);
      if (m.thresholdedAfterWarmup > 0 && m.p < 1) rateError = Math.max(rateError, Math.abs(m.escalatedAfterWarmup / m.thresholdedAfterWarmup - m.p));
      const rnd = randomMixture({ smallCorrect: sc, largeCorrect: lc }, b);
      randomOverrun = Math.max(randomOverrun, rnd.meanCost - budget);
      return { margin: m.accuracy, marginProb: out.marginProb.accuracy, scorer: out.scorer.accuracy, oracle: out.oracle.accuracy, routing: out.routing.accuracy, random: rnd.accuracy };
    };
    const grid = budgetGrid(cost, c.budgetPoints);
    const points = grid.map(evalAt);
    curves[name] = Object.fromEntries(STRATEGIES.map((k) => [k, points.map((p) => p[k])])) as Record<Strategy, number[]>;
    const thirty = evalAt(cost.small + 0.3 * cost.large);
    for (const k of STRATEGIES) {
      auc[k][name] = normalisedAUC(grid, curves[name][k]);
      at30[k][name] = thirty[k];
    }
  }
  const bins3 = accuracyByMarginBin(scores.margin, sc, 3);
  const byDigits = (correct: number[]) => Array.from({ length: MAX_DIGITS }, (_, n) => mean(correct.filter((_, i) => evalQ[i].digits.length === n + 1)));
  log(`seed ${seed}: small ${(accSmall * 100).toFixed(1)}%  large ${(accLarge * 100).toFixed(1)}%  AUC ${Object.keys(costs).map((k) => `${k}: margin ${auc.margin[k].toFixed(3)} random ${auc.random[k].toFixed(3)} oracle ${auc.oracle[k].toFixed(3)} scorer ${auc.scorer[k].toFixed(3)} routing ${auc.routing[k].toFixed(3)}`).join(' | ')}`);
  return {
    accSmall, accLarge, byDigits: { small: byDigits(sc), large: byDigits(lc) }, auc, at30, curves,
    terciles: [bins3[0].accuracy, bins3[1].accuracy, bins3[2].accuracy], bins: accuracyByMarginBin(scores.margin, sc, c.marginBins),
    overrun, randomOverrun, rateError,
    scorerFit: { scorer: [scorer.trainLoss, scorer.baseRateLoss], router: [router.trainLoss, router.baseRateLoss] },
  };
}

export async function run(engine: Engine, config: Partial<TwoTierConfig> = {}, io: RunIO = {}): Promise<Report> {
  const c = makeConfig(config);
  const log = io.log ?? (() => {});
  const t0 = performance.now();
  const heldRng = new SeededRng('two-tier-heldout');
  const heldout = Array.from({ length: c.heldout }, () => makeQuery(heldRng));
  const training: Report['training'] = { small: [], large: [] };
  const results: SeedResult[] = [];
  let pair: { small: TransformerLM; large: TransformerLM } | null = null;
  const costs: Record<string, Costs> = {};
  const cached: boolean[] = [];
  try {
    for (const seed of c.seeds) {
      if (!pair || !c.shareModels) {
        pair?.small.dispose();
        pair?.large.dispose();
        pair = null;
        const modelSeed = c.shareModels ? c.seeds[0] : seed;
        engine.manualSeed(modelSeed);
        const common = { seed: String(modelSeed), runningSums: c.runningSums, heldout, evalEvery: c.evalEvery, log };
        const cache = io.checkpointIO && { io: io.checkpointIO, dir: c.cacheDir };
        const s = await cachedTier(engine, c.small, { ...common, name: 'small' }, cache);
        const l = await cachedTier(engine, c.large, { ...common, name: 'large' }, cache).catch((e) => (s.model.dispose(), Promise.reject(e)));
        cached.push(s.cached && l.cached);
        pair = { small: s.model, large: l.model };
        training.small.push(s.info);
        training.large.push(l.info);
        log(`seed ${modelSeed}: small ${s.info.params} parameters (${s.info.wallSec.toFixed(0)}s), large ${l.info.params} parameters (${l.info.wallSec.toFixed(0)}s)`);
        for (const cl of c.largeCosts) costs[`fix${cl}`] = { small: 1, large: cl };
        if (c.flopCosts) costs.flops = { small: 1, large: l.info.params / s.info.params };
      }
      results.push(await evaluateSeed(engine, c, seed, pair.small, pair.large, costs, log));
    }
  } finally {
    pair?.small.dispose();
    pair?.large.dispose();
  }
  const names = Object.keys(costs);
  const perStrategy = (pick: (r: SeedResult) => SeedResult['auc']) =>
    Object.fromEntries(STRATEGIES.map((k) => [k, Object.fromEntries(names.map((n) => [n, stat(results.map((r) => pick(r)[k][n]))]))])) as Record<Strategy, Record<string, Stat>>;
  const curves: Report['curves'] = {};
  for (const n of names) {
    const first = results[0].curves[n];
    curves[n] = {
      budgets: budgetGrid(costs[n], c.budgetPoints),
      ...(Object.fromEntries(STRATEGIES.map((k) => [k, first[k].map((_, b) => mean(results.map((r) => r.curves[n][k][b])))])) as Record<Strategy, number[]>),
    };
  }
  const meanRows = (rows: number[][]) => rows[0].map((_, j) => mean(rows.map((r) => r[j])));
  return {
    method: 'two-tier-selection',
    config: c,
    accuracy: { small: stat(results.map((r) => r.accSmall)), large: stat(results.map((r) => r.accLarge)) },
    accuracyByDigits: { small: meanRows(results.map((r) => r.byDigits.small)), large: meanRows(results.map((r) => r.byDigits.large)) },
    costs,
    auc: perStrategy((r) => r.auc),
    accuracyAt30: perStrategy((r) => r.at30),
    marginTercileAccuracy: { low: stat(results.map((r) => r.terciles[0])), mid: stat(results.map((r) => r.terciles[1])), high: stat(results.map((r) => r.terciles[2])) },
    marginBins: results[0].bins.map((_, b) => ({ margin: mean(results.map((r) => r.bins[b].margin)), accuracy: mean(results.map((r) => r.bins[b].accuracy)) })),
    maxCostOverrun: stat(results.map((r) => r.overrun)),
    randomMixtureCostOverrun: stat(results.map((r) => r.randomOverrun)),
    maxEscalationRateError: stat(results.map((r) => r.rateError)),
    training,
    modelsCached: cached,
    scorerFit: {
      scorer: { trainLoss: stat(results.map((r) => r.scorerFit.scorer[0])), baseRateLoss: stat(results.map((r) => r.scorerFit.scorer[1])) },
      router: { trainLoss: stat(results.map((r) => r.scorerFit.router[0])), baseRateLoss: stat(results.map((r) => r.scorerFit.router[1])) },
    },
    curves,
    wallSec: (performance.now() - t0) / 1000,
  };
}
