// CGE (Isonuma & Titov, ICLR 2025) on the spec's Markov-language world: pre-train θ_pt on the known
// domains, fine-tune a copy θ_ft on a mixture that adds novel domains, then generate with the
// contrast ℓ_ft − γ ℓ_pt inside the plausible head of θ_ft (static: θ_pt fixed; iterative: one SGD
// step of a θ_pt copy on each generated example, θ_ft frozen) and compare with ancestral sampling
// from θ_ft. Detection: AUROC of the sequence contrast S(x) against the θ_ft-NLL score on held-out
// fine-tuning examples. Optional DP variant: θ_ft fine-tuned by DP-SGD with per-example clipping.
import type { Engine, Tensor } from '../../engine/index.js';
import {
  AdamW, SGD, SeededRng, TransformerLM, auroc, clipGradNorm, contrastiveGenerate, dpGradients, generate, sequenceLogLikelihood,
} from '../../nn/index.js';
import { makeConfig, type CGEConfig, type TrainPhase } from './config.js';
import { BOS, MarkovWorld } from './world.js';

export interface Stat {
  mean: number;
  perSeed: number[];
}

const stat = (xs: number[]): Stat => ({ mean: xs.reduce((a, b) => a + b, 0) / xs.length, perSeed: xs });

/** The generation procedures compared. */
export const PROCEDURES = ['ftSample', 'cgeStatic', 'cgeStaticSample', 'cgeIterative'] as const;
export type Procedure = (typeof PROCEDURES)[number];

export interface Report {
  method: 'cge';
  config: CGEConfig;
  knownDomains: number[];
  novelDomains: number[];
  parameters: number;
  /** Share of the first N generations whose (oracle) domain is novel. */
  precision: { cgeStatic10: Stat; cgeIterative30: Stat; ftSample30: Stat } & Record<string, Stat>;
  /** Distinct novel domains among the first N generations. */
  coverage: { cgeStatic30: Stat; cgeIterative30: Stat } & Record<string, Stat>;
  /** Novel vs known held-out fine-tuning examples: S(x) = mean ℓ_ft − γ mean ℓ_pt, and the θ_ft NLL. */
  auroc: { cge: Stat; ftNll: Stat };
  /** Share of generations that are valid sentences of their domain's chain. */
  validity: Record<Procedure, Stat>;
  /** Sampled static CGE with α = 0 vs α = ablationAlpha: validity (spec assertion 5). */
  ablation: { alpha: number; validityNoPlausibility: Stat; validityWithPlausibility: Stat } | null;
  /** Per procedure, generations per domain summed over seeds (N × seeds in all). */
  examplesPerDomain: Record<Procedure, number[]>;
  /** Iterative CGE, per seed: the domain of each generation in order. */
  iterativeDomains: number[][];
  /** A few generations of seed 0 per procedure (token ids, BOS first). */
  examples: Record<Procedure, number[][]>;
  /** Loss levels (nats/token): held-out losses at the end and during training, the exact optimum and the unigram baseline. */
  losses: {
    pretrain: { heldoutKnown: Stat; curve: { step: number; loss: number }[][]; optimal: number[]; unigram: number[] };
    finetune: { heldoutMixture: Stat; curve: { step: number; loss: number }[][]; optimal: number[]; unigram: number[] };
  };
  /** Iterative CGE at each LR of cge.iterativeLrSweep: precision and coverage at 10 and N. */
  iterativeLrSweep: { lr: number; precision10: Stat; precisionN: Stat; coverage10: Stat; coverageN: Stat }[];
  /** DP-SGD fine-tuning variant (null when off). */
  dp: {
    precisionStatic10: Stat; precisionStaticSample30: Stat; precisionFtSample30: Stat; coverageStaticSample30: Stat; heldoutMixture: Stat;
    auroc: Stat; msPerStep: Stat; msPerExample: Stat;
  } | null;
  wallSec: number;
}

export interface RunIO {
  log?: (line: string) => void;
  /** A fresh engine (own device) per seed, destroyed after it (long runs on one Dawn device have crashed on lavapipe). */
  newEngine?: () => Promise<Engine>;
}

// ------------------------------------------------------------------ metrics

export function precisionAt(domains: readonly number[], k: number, novel: ReadonlySet<number>): number {
  const first = domains.slice(0, k);
  return first.filter((d) => novel.has(d)).length / first.length;
}

export function coverageAt(domains: readonly number[], k: number, novel: ReadonlySet<number>): number {
  return new Set(domains.slice(0, k).filter((d) => novel.has(d))).size;
}

// ------------------------------------------------------------------ training

function lmBatch(engine: Engine, seqs: number[][]): { inputs: Tensor; targets: Tensor } {
  const T = seqs[0].length - 1;
  const x = new Int32Array(seqs.length * T), y = new Int32Array(seqs.length * T);
  seqs.forEach((s, r) => {
    for (let t = 0; t < T; t++) (x[r * T + t] = s[t]), (y[r * T + t] = s[t + 1]);
  });
  return { inputs: engine.tensor(x, [seqs.length, T], { dtype: 'i32' }), targets: engine.tensor(y, [seqs.length, T], { dtype: 'i32' }) };
}

async function heldoutLoss(model: TransformerLM, seqs: number[][]): Promise<number> {
  const ll = await sequenceLogLikelihood(model, seqs, { batchSize: 128 });
  return -ll.reduce((a, b) => a + b, 0) / ll.length;
}

/** AdamW on random batches (with replacement) of `data`, global grad-norm clip 1; held-out loss every evalEvery steps. */
async function trainLM(
  model: TransformerLM, data: number[][], phase: TrainPhase, rng: SeededRng, heldout: number[][], evalEvery: number, log: (s: string) => void, label: string,
): Promise<{ step: number; loss: number }[]> {
  const engine = model.engine;
  const opt = new AdamW(model.parameters(), { lr: phase.lr, weightDecay: 0 });
  const curve: { step: number; loss: number }[] = [{ step: 0, loss: await heldoutLoss(model, heldout) }];
  let acc: Tensor | null = null;
  const t0 = performance.now();
  for (let step = 1; step <= phase.steps; step++) {
    const b = lmBatch(engine, Array.from({ length: phase.batchSize }, () => data[rng.int(data.length)]));
    const l = engine.tidy(() => {
      opt.zeroGrad();
      const loss = model.loss(b.inputs, b.targets);
      loss.backward();
      clipGradNorm(model.parameters(), 1).dispose();
      opt.step();
      return loss.detach();
    });
    b.inputs.dispose();
    b.targets.dispose();
    const next: Tensor = acc ? engine.keep(acc.add(l)) : l;
    if (acc) (acc.dispose(), l.dispose());
    acc = next;
    if (step % evalEvery === 0 || step === phase.steps) {
      const n = ((step - 1) % evalEvery) + 1;
      const train = (await acc.item()) / n;
      acc.dispose();
      acc = null;
      const loss = await heldoutLoss(model, heldout);
      curve.push({ step, loss });
      log(`  ${label} step ${String(step).padStart(4)}/${phase.steps}  train ${train.toFixed(3)}  held-out ${loss.toFixed(3)}  (${((performance.now() - t0) / 1000).toFixed(1)}s)`);
    }
  }
  opt.dispose();
  return curve;
}

/** DP-SGD fine-tuning: per step, B examples' gradients clipped one by one, noised, averaged (AdamW on the private gradient). */
async function trainDP(model: TransformerLM, data: number[][], c: CGEConfig['dp'], rng: SeededRng, log: (s: string) => void): Promise<{ msPerStep: number }> {
  const engine = model.engine;
  const opt = new AdamW(model.parameters(), { lr: c.lr, weightDecay: 0 });
  await engine.sync();
  const t0 = performance.now();
  for (let step = 1; step <= c.steps; step++) {
    const examples = Array.from({ length: c.batchSize }, () => lmBatch(engine, [data[rng.int(data.length)]]));
    engine.tidy(() => {
      dpGradients(model.parameters(), c.batchSize, (i) => model.loss(examples[i].inputs, examples[i].targets), { maxGradNorm: c.maxGradNorm, noiseMultiplier: c.noiseMultiplier }).dispose();
      opt.step();
      opt.zeroGrad();
    });
    for (const e of examples) (e.inputs.dispose(), e.targets.dispose());
    if (step % 50 === 0 || step === c.steps) {
      await engine.sync();
      log(`  dp-ft step ${String(step).padStart(4)}/${c.steps}  (${((performance.now() - t0) / 1000).toFixed(1)}s)`);
    }
  }
  await engine.sync();
  opt.dispose();
  return { msPerStep: (performance.now() - t0) / c.steps };
}

function cloneLM(model: TransformerLM): TransformerLM {
  const copy = new TransformerLM(model.engine, model.config);
  copy.loadStateDict(model.stateDict());
  return copy;
}

/**
 * Iterative CGE: N greedy contrastive generations, each followed by one plain SGD step (lr) of a
 * working copy of θ_pt on the generated example (causal-LM loss on all its tokens); θ_ft frozen.
 */
async function iterativeCGE(ft: TransformerLM, pt: TransformerLM, lr: number, n: number, contrast: { alpha: number; gamma: number; maxNewTokens: number }): Promise<number[][]> {
  const engine = pt.engine;
  const work = cloneLM(pt);
  const sgd = new SGD(work.parameters(), { lr });
  const out: number[][] = [];
  try {
    for (let i = 0; i < n; i++) {
      const y = (await contrastiveGenerate(ft, work, [[BOS]], { ...contrast, temperature: 0 })).sequences[0];
      out.push(y);
      const b = lmBatch(engine, [y]);
      engine.tidy(() => {
        sgd.zeroGrad();
        work.loss(b.inputs, b.targets).backward();
        sgd.step();
      });
      b.inputs.dispose();
      b.targets.dispose();
    }
  } finally {
    sgd.dispose();
    work.dispose();
  }
  return out;
}

// ------------------------------------------------------------------ one seed

interface SeedResult {
  domains: Record<Procedure, number[]>;
  valid: Record<Procedure, number>;
  seqs: Record<Procedure, number[][]>;
  aurocCge: number;
  aurocFtNll: number;
  ablation: { none: number; with: number } | null;
  pre: { curve: { step: number; loss: number }[]; optimal: number; unigram: number };
  fin: { curve: { step: number; loss: number }[]; optimal: number; unigram: number };
  dp: { static10: number; staticSample30: number; ftSample30: number; coverageSample30: number; heldout: number; auroc: number; msPerStep: number } | null;
  /** Iterative CGE at other SGD LRs: domains of the generations. */
  sweep: { lr: number; domains: number[] }[];
  parameters: number;
}

async function runSeed(engine: Engine, c: CGEConfig, seed: number, log: (s: string) => void): Promise<SeedResult> {
  const world = new MarkovWorld(c.world, seed);
  const D = c.world.domains, N = c.cge.generations, L = c.world.seqLen;
  const novel = new Set(Array.from({ length: c.novelDomains }, (_, i) => D - c.novelDomains + i));
  const known = D - c.novelDomains;
  const preWeights = Array.from({ length: D }, (_, d) => (novel.has(d) ? 0 : 1 / known));
  const ftWeights = Array.from({ length: D }, (_, d) => (novel.has(d) ? c.novelShare / c.novelDomains : (1 - c.novelShare) / known));
  const rng = new SeededRng(`cge-data:${seed}`);
  const pre = world.dataset(c.pretrainSeqs, preWeights, rng);
  const preHeld = world.dataset(c.heldoutSeqs, preWeights, rng);
  const ft = world.dataset(c.finetuneSeqs, ftWeights, rng);
  const ftHeld = world.dataset(c.heldoutSeqs, ftWeights, rng);

  engine.manualSeed(seed);
  const cfg = { vocabSize: world.vocabSize, ...c.model, maxSeqLen: L + 1, dropout: 0 };
  const pt = new TransformerLM(engine, cfg);
  const trainRng = new SeededRng(`cge-train:${seed}`);
  const preCurve = await trainLM(pt, pre.seqs, c.pretrain, trainRng, preHeld.seqs, c.evalEvery, log, `seed ${seed} pretrain`);
  const ftModel = cloneLM(pt);
  const ftCurve = await trainLM(ftModel, ft.seqs, c.finetune, trainRng, ftHeld.seqs, c.evalEvery, log, `seed ${seed} finetune`);
  ftModel.freeze();

  const bos = (n: number) => Array.from({ length: n }, () => [BOS]);
  const contrast = { alpha: c.cge.alpha, gamma: c.cge.gamma, maxNewTokens: L };
  const seqs = {} as Record<Procedure, number[][]>;
  seqs.ftSample = (await generate(ftModel, bos(N), { maxNewTokens: L, temperature: c.cge.temperature, seed: 1000 + seed })).sequences;
  // Greedy static CGE is deterministic: one sequence, N times.
  const greedy = (await contrastiveGenerate(ftModel, pt, bos(1), { ...contrast, temperature: 0 })).sequences[0];
  seqs.cgeStatic = Array.from({ length: N }, () => greedy);
  seqs.cgeStaticSample = (await contrastiveGenerate(ftModel, pt, bos(N), { ...contrast, temperature: c.cge.temperature, seed: 2000 + seed })).sequences;

  seqs.cgeIterative = await iterativeCGE(ftModel, pt, c.cge.iterativeLr, N, contrast);
  const sweep: SeedResult['sweep'] = [];
  for (const lr of c.cge.iterativeLrSweep) {
    const ds = (await iterativeCGE(ftModel, pt, lr, N, contrast)).map((q) => world.classify(q));
    sweep.push({ lr, domains: ds });
  }

  const domains = Object.fromEntries(PROCEDURES.map((p) => [p, seqs[p].map((s) => world.classify(s))])) as Record<Procedure, number[]>;
  const valid = Object.fromEntries(PROCEDURES.map((p) => [p, seqs[p].filter((s) => world.isValid(s)).length / seqs[p].length])) as Record<Procedure, number>;

  let ablation: SeedResult['ablation'] = null;
  if (c.cge.ablation) {
    const v = async (alpha: number, s: number) => {
      const r = await contrastiveGenerate(ftModel, pt, bos(N), { ...contrast, alpha, temperature: c.cge.temperature, seed: s });
      return r.sequences.filter((q) => world.isValid(q)).length / N;
    };
    ablation = { none: await v(0, 3000 + seed), with: await v(c.cge.ablationAlpha, 3000 + seed) };
  }

  // Detection on held-out fine-tuning examples: novel = positive.
  const labels = ftHeld.domains.map((d) => (novel.has(d) ? 1 : 0));
  const llFt = await sequenceLogLikelihood(ftModel, ftHeld.seqs, { batchSize: 128 });
  const llPt = await sequenceLogLikelihood(pt, ftHeld.seqs, { batchSize: 128 });
  const aurocCge = auroc(llFt.map((f, i) => f - c.cge.gamma * llPt[i]), labels);
  const aurocFtNll = auroc(llFt.map((f) => -f), labels);

  let dp: SeedResult['dp'] = null;
  if (c.dp.enabled) {
    const dpModel = cloneLM(pt);
    const { msPerStep } = await trainDP(dpModel, ft.seqs, c.dp, new SeededRng(`cge-dp:${seed}`), log);
    dpModel.freeze();
    const held = await heldoutLoss(dpModel, ftHeld.seqs);
    const g = (await contrastiveGenerate(dpModel, pt, bos(1), { ...contrast, temperature: 0 })).sequences[0];
    const sampled = (await contrastiveGenerate(dpModel, pt, bos(N), { ...contrast, temperature: c.cge.temperature, seed: 4000 + seed })).sequences.map((s) => world.classify(s));
    const anc = (await generate(dpModel, bos(N), { maxNewTokens: L, temperature: c.cge.temperature, seed: 5000 + seed })).sequences.map((s) => world.classify(s));
    const llDp = await sequenceLogLikelihood(dpModel, ftHeld.seqs, { batchSize: 128 });
    dp = {
      static10: novel.has(world.classify(g)) ? 1 : 0,
      staticSample30: precisionAt(sampled, 30, novel),
      ftSample30: precisionAt(anc, 30, novel),
      coverageSample30: coverageAt(sampled, 30, novel),
      heldout: held,
      auroc: auroc(llDp.map((f, i) => f - c.cge.gamma * llPt[i]), labels),
      msPerStep,
    };
    log(`  seed ${seed} DP (σ ${c.dp.noiseMultiplier}, C ${c.dp.maxGradNorm}, B ${c.dp.batchSize}, ${c.dp.steps} steps, ${msPerStep.toFixed(0)} ms/step): held-out ${held.toFixed(3)}  static greedy novel ${dp.static10}  sampled CGE precision@30 ${dp.staticSample30.toFixed(2)}  θ_ft sample ${dp.ftSample30.toFixed(2)}  AUROC ${dp.auroc.toFixed(3)}`);
    dpModel.dispose();
  }

  const parameters = pt.numParameters();
  pt.dispose();
  ftModel.dispose();
  const lp = world.lossLevels(preWeights), lf = world.lossLevels(ftWeights);
  return {
    domains, valid, seqs, aurocCge, aurocFtNll, ablation, dp, parameters, sweep,
    pre: { curve: preCurve, optimal: lp.optimal, unigram: lp.unigram },
    fin: { curve: ftCurve, optimal: lf.optimal, unigram: lf.unigram },
  };
}

// ------------------------------------------------------------------ the method

export async function run(engine: Engine, config: Parameters<typeof makeConfig>[0] = {}, io: RunIO = {}): Promise<Report> {
  const c = makeConfig(config);
  const log = io.log ?? (() => {});
  const t0 = performance.now();
  const D = c.world.domains;
  const novelDomains = Array.from({ length: c.novelDomains }, (_, i) => D - c.novelDomains + i);
  const novel = new Set(novelDomains);
  log(`cge: ${D} Markov languages × ${c.world.tokensPerDomain} tokens (novel: ${novelDomains.join(', ')}, ${(c.novelShare * 100).toFixed(0)}% of fine-tuning), ` +
    `pretrain ${c.pretrain.steps} + finetune ${c.finetune.steps} steps, N ${c.cge.generations}, α ${c.cge.alpha}, γ ${c.cge.gamma}, iterative SGD lr ${c.cge.iterativeLr}; seeds ${c.seeds.join(', ')}`);
  const rs: SeedResult[] = [];
  for (const seed of c.seeds) {
    const e = io.newEngine ? await io.newEngine() : engine;
    try {
      const r = await runSeed(e, c, seed, log);
      rs.push(r);
      const f = (p: Procedure, k: number) => `${precisionAt(r.domains[p], k, novel).toFixed(2)}/${coverageAt(r.domains[p], k, novel)}`;
      log(`  seed ${seed} precision/coverage: ftSample@30 ${f('ftSample', 30)}  static@10 ${f('cgeStatic', 10)}  staticSample@30 ${f('cgeStaticSample', 30)}  ` +
        `iterative@10 ${f('cgeIterative', 10)} @30 ${f('cgeIterative', 30)}; AUROC S ${r.aurocCge.toFixed(3)} vs θ_ft NLL ${r.aurocFtNll.toFixed(3)}; iterative domains ${r.domains.cgeIterative.join('')}`);
      for (const w of r.sweep) log(`  seed ${seed} iterative at SGD lr ${w.lr}: precision@10 ${precisionAt(w.domains, 10, novel).toFixed(2)} @N ${precisionAt(w.domains, w.domains.length, novel).toFixed(2)}  coverage@10 ${coverageAt(w.domains, 10, novel)} @N ${coverageAt(w.domains, w.domains.length, novel)}  domains ${w.domains.join('')}`);
    } finally {
      if (e !== engine) e.destroy();
    }
  }
  const N = c.cge.generations;
  const prec = (p: Procedure, k: number) => stat(rs.map((r) => precisionAt(r.domains[p], k, novel)));
  const cov = (p: Procedure, k: number) => stat(rs.map((r) => coverageAt(r.domains[p], k, novel)));
  const k10 = Math.min(10, N), k30 = Math.min(30, N);
  const last = (curve: { loss: number }[]) => curve[curve.length - 1].loss;
  return {
    method: 'cge',
    config: c,
    knownDomains: Array.from({ length: D - c.novelDomains }, (_, d) => d),
    novelDomains,
    parameters: rs[0].parameters,
    precision: {
      cgeStatic10: prec('cgeStatic', k10), cgeIterative30: prec('cgeIterative', k30), ftSample30: prec('ftSample', k30),
      cgeStatic30: prec('cgeStatic', k30), cgeStaticSample10: prec('cgeStaticSample', k10), cgeStaticSample30: prec('cgeStaticSample', k30),
      cgeIterative10: prec('cgeIterative', k10), ftSample10: prec('ftSample', k10),
    },
    coverage: {
      cgeStatic30: cov('cgeStatic', k30), cgeIterative30: cov('cgeIterative', k30), cgeIterative10: cov('cgeIterative', k10),
      cgeStaticSample30: cov('cgeStaticSample', k30), ftSample30: cov('ftSample', k30),
    },
    auroc: { cge: stat(rs.map((r) => r.aurocCge)), ftNll: stat(rs.map((r) => r.aurocFtNll)) },
    validity: Object.fromEntries(PROCEDURES.map((p) => [p, stat(rs.map((r) => r.valid[p]))])) as Record<Procedure, Stat>,
    ablation: c.cge.ablation
      ? { alpha: c.cge.ablationAlpha, validityNoPlausibility: stat(rs.map((r) => r.ablation!.none)), validityWithPlausibility: stat(rs.map((r) => r.ablation!.with)) }
      : null,
    examplesPerDomain: Object.fromEntries(PROCEDURES.map((p) => [p, Array.from({ length: D }, (_, d) => rs.reduce((a, r) => a + r.domains[p].filter((x) => x === d).length, 0))])) as Record<Procedure, number[]>,
    iterativeDomains: rs.map((r) => r.domains.cgeIterative),
    iterativeLrSweep: c.cge.iterativeLrSweep.map((lr, j) => ({
      lr,
      precision10: stat(rs.map((r) => precisionAt(r.sweep[j].domains, k10, novel))), precisionN: stat(rs.map((r) => precisionAt(r.sweep[j].domains, N, novel))),
      coverage10: stat(rs.map((r) => coverageAt(r.sweep[j].domains, k10, novel))), coverageN: stat(rs.map((r) => coverageAt(r.sweep[j].domains, N, novel))),
    })),
    examples: Object.fromEntries(PROCEDURES.map((p) => [p, rs[0].seqs[p].slice(0, 5)])) as Record<Procedure, number[][]>,
    losses: {
      pretrain: { heldoutKnown: stat(rs.map((r) => last(r.pre.curve))), curve: rs.map((r) => r.pre.curve), optimal: rs.map((r) => r.pre.optimal), unigram: rs.map((r) => r.pre.unigram) },
      finetune: { heldoutMixture: stat(rs.map((r) => last(r.fin.curve))), curve: rs.map((r) => r.fin.curve), optimal: rs.map((r) => r.fin.optimal), unigram: rs.map((r) => r.fin.unigram) },
    },
    dp: c.dp.enabled
      ? {
        precisionStatic10: stat(rs.map((r) => r.dp!.static10)), precisionStaticSample30: stat(rs.map((r) => r.dp!.staticSample30)),
        precisionFtSample30: stat(rs.map((r) => r.dp!.ftSample30)), coverageStaticSample30: stat(rs.map((r) => r.dp!.coverageSample30)),
        heldoutMixture: stat(rs.map((r) => r.dp!.heldout)), auroc: stat(rs.map((r) => r.dp!.auroc)),
        msPerStep: stat(rs.map((r) => r.dp!.msPerStep)), msPerExample: stat(rs.map((r) => r.dp!.msPerStep / c.dp.batchSize)),
      }
      : null,
    wallSec: (performance.now() - t0) / 1000,
  };
}
