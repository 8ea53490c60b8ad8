// UnTrac and UnTrac-Inv (Isonuma & Titov, ACL 2024): the influence of a training corpus on a test set,
// estimated by unlearning the corpus with gradient ascent from θ₀ and measuring how much the test loss
// rises (UnTrac), or by ascending on the test set and measuring how much each corpus's loss rises
// (UnTrac-Inv). Ground truth: leave-one-corpus-out retraining from the same initialisation for the
// same steps on the same batch stream. Baselines: GradDot, GradCos and TracIn from flattened
// gradients on the device. Every estimate is scored by its Pearson / Spearman correlation with the
// ground truth, per test set over the K corpora (then averaged) and pooled over all K × J cells.
import type { Engine, Tensor } from '../../engine/index.js';
import {
  AdamW, ModuleSnapshot, OptimizerSnapshot, SGD, TransformerLM, clipGradNorm, gradientsToVector, pearson, spearman, type Optimizer,
} from '../../nn/index.js';
import { ESTIMATORS, makeConfig, type Estimator, type UntracConfig } from './config.js';
import { CorpusSampler, TopicWorld, influenceSample, sliceRows, type SequenceSet } from './topics.js';

export interface Stat {
  mean: number;
  perSeed: number[];
}

/** Influence matrices are (K corpora) × (J test sets): m[k][j]. */
export type Matrix = number[][];

export interface SeedResult {
  seed: number;
  corpusSizes: number[];
  /** Per corpus, its mixture weights over the bases. */
  mixtures: number[][];
  /** I_true[k][j] = L(test_j; θ_{−k}) − L(test_j; θ₀) (nats/token). */
  groundTruth: Matrix;
  estimates: Record<Estimator, Matrix>;
  /** θ₀'s loss per test set, and the unigram entropy of that test set (a context-free model's loss). */
  testLoss: number[];
  unigramLoss: number[];
  /** Mean test loss at each TracIn checkpoint (step, loss): is θ₀ still improving at the step cap? */
  curve: { step: number; testLoss: number }[];
  /** θ₀'s last logged training loss. */
  trainLoss: number;
  /** |L(test_j; θ₀′) − L(test_j; θ₀)| for a retraining on another batch stream (noise floor of GT), when asked. */
  noise: number[] | null;
  /** Mean |ΔL| on the test sets after UnTrac unlearning (Adam, SGD): the size of the perturbation. */
  meanAbsDelta: { untracAdam: number; untracSgd: number; untracInv: number };
  wallSec: number;
}

export interface Report {
  method: 'untrac';
  config: UntracConfig;
  parameters: number;
  /** Per estimator: Pearson with the ground truth per test set over the K corpora, mean over test sets. */
  pearson: Record<Estimator, Stat>;
  spearman: Record<Estimator, Stat>;
  /** The same over all K × J cells pooled. */
  pearsonPooled: Record<Estimator, Stat>;
  spearmanPooled: Record<Estimator, Stat>;
  /** Share of test sets whose most influential corpus (largest GT) is also the estimator's largest. */
  topCorpusAgreement: Record<Estimator, Stat>;
  /** On the deterministic test set (base 0) alone: 1 when the top corpora agree, else 0. */
  deterministicTopAgreement: Record<Estimator, Stat>;
  /** GT spread (sd over corpora, mean over test sets) and noise floor (mean |ΔL| of a retraining on another stream). */
  groundTruthSpread: Stat;
  groundTruthNoise: Stat | null;
  testLoss: Stat;
  unigramLoss: Stat;
  seeds: SeedResult[];
  wallSec: number;
}

export interface RunIO {
  log?: (line: string) => void;
}

// ------------------------------------------------------------------ data on the device

interface DeviceSet {
  rows: number;
  inputs: Tensor;
  targets: Tensor;
}

function upload(engine: Engine, set: SequenceSet, seqLen: number): DeviceSet {
  const L = seqLen + 1;
  const inputs = new Int32Array(set.rows * seqLen), targets = new Int32Array(set.rows * seqLen);
  for (let r = 0; r < set.rows; r++) {
    inputs.set(set.tokens.subarray(r * L, r * L + seqLen), r * seqLen);
    targets.set(set.tokens.subarray(r * L + 1, (r + 1) * L), r * seqLen);
  }
  return {
    rows: set.rows,
    inputs: engine.keep(engine.tensor(inputs, [set.rows, seqLen], { dtype: 'i32' })),
    targets: engine.keep(engine.tensor(targets, [set.rows, seqLen], { dtype: 'i32' })),
  };
}

const disposeSet = (s: DeviceSet) => (s.inputs.dispose(), s.targets.dispose());

/** Consecutive mini-batches of `size` rows (the last may be smaller). */
function miniBatches(engine: Engine, set: SequenceSet, size: number, seqLen: number): DeviceSet[] {
  const out: DeviceSet[] = [];
  for (let s = 0; s < set.rows; s += size) out.push(upload(engine, sliceRows(set, s, size, seqLen), seqLen));
  return out;
}

// ------------------------------------------------------------------ statistics on the host

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stat = (xs: number[]): Stat => ({ mean: mean(xs), perSeed: xs });
const column = (m: Matrix, j: number) => m.map((row) => row[j]);
const argmax = (xs: number[]) => xs.reduce((b, v, i) => (v > xs[b] ? i : b), 0);
const allFinite = (m: Matrix) => m.every((r) => r.every(Number.isFinite));

/** Correlation per test set over the corpora, averaged over test sets (NaN when an estimate diverged). */
export function perTestCorrelation(est: Matrix, gt: Matrix, corr: (x: number[], y: number[]) => number): number {
  if (!allFinite(est)) return NaN;
  return mean(gt[0].map((_, j) => corr(column(est, j), column(gt, j))));
}

/** Correlation over all cells pooled. */
export function pooledCorrelation(est: Matrix, gt: Matrix, corr: (x: number[], y: number[]) => number): number {
  if (!allFinite(est)) return NaN;
  return corr(est.flat(), gt.flat());
}

/** Share of test sets whose largest-GT corpus is the estimator's largest too. */
export function topAgreement(est: Matrix, gt: Matrix, tests: number[] = gt[0].map((_, j) => j)): number {
  return mean(tests.map((j) => (argmax(column(est, j)) === argmax(column(gt, j)) ? 1 : 0)));
}

// ------------------------------------------------------------------ one seed

async function runSeed(engine: Engine, c: UntracConfig, seed: number, log: (s: string) => void): Promise<SeedResult & { parameters: number }> {
  await engine.sync();
  const t0 = performance.now();
  const world = new TopicWorld({ ...c.world, seed: (c.world.seed ?? 0) + seed });
  const T = world.options.seqLen;
  const K = world.numCorpora, J = world.tests.length;
  log(`untrac seed ${seed}: ${K} corpora (sizes ${world.corpora.map((x) => x.rows).join('/')}; base-0 weights ${world.mixtures.map((m) => m[0].toFixed(2)).join('/')}), ${J} pure test sets`);

  engine.manualSeed(seed);
  const model = new TransformerLM(engine, { vocabSize: world.vocabSize, ...c.model, maxSeqLen: T, dropout: 0 });
  const params = model.parameters();
  const init = new ModuleSnapshot(model);
  const trainOpt = new AdamW(params, { lr: c.train.lr, betas: [0.9, 0.999], weightDecay: 0 });
  const trainFresh = new OptimizerSnapshot(trainOpt);
  const unlearnAdam = new AdamW(params, { lr: c.untrac.adamLr, betas: [0.9, 0.999], weightDecay: 0 });
  const unlearnFresh = new OptimizerSnapshot(unlearnAdam);
  const invAdam = new AdamW(params, { lr: c.untracInv.lr, betas: [0.9, 0.999], weightDecay: 0 });
  const invFresh = new OptimizerSnapshot(invAdam);
  const unlearnSgd = new SGD(params, { lr: c.untrac.sgdLr });

  const tests = world.tests.map((s) => upload(engine, s, T));
  const samples = world.corpora.map((_, k) => influenceSample(world, k, c.influenceSamples, seed));
  const sampleSets = samples.map((s) => upload(engine, s, T));
  const kept: Tensor[] = [];
  const keep = (t: Tensor) => (kept.push(engine.keep(t)), t);

  /** Mean token NLL of each set as one (n,) tensor (no readback). */
  const losses = (sets: DeviceSet[]): Tensor =>
    engine.noGrad(() => engine.tidy(() => engine.stack(sets.map((s) => model.loss(s.inputs, s.targets)))));

  /** Train from the initialisation on a batch stream that leaves out `exclude`; snapshot at checkpoints. */
  const train = async (label: string, streamSeed: number, exclude: number[], onCheckpoint?: (step: number) => void): Promise<number> => {
    init.restore();
    trainFresh.restore();
    const sampler = new CorpusSampler(world, streamSeed, exclude);
    const every = Math.floor(c.train.steps / c.train.checkpoints);
    let acc: Tensor | null = null;
    let last = NaN;
    for (let step = 0; step < c.train.steps; step++) {
      const b = upload(engine, sampler.batch(c.train.batchSize), T);
      const l = engine.tidy(() => {
        trainOpt.zeroGrad();
        const loss = model.loss(b.inputs, b.targets);
        loss.backward();
        clipGradNorm(params, c.train.clipGradNorm).dispose();
        trainOpt.step();
        return loss.detach();
      });
      disposeSet(b);
      const next: Tensor = acc ? engine.keep(acc.add(l)) : l;
      if (acc) (acc.dispose(), l.dispose());
      acc = next;
      if ((step + 1) % c.logEvery === 0 || step + 1 === c.train.steps) {
        last = (await acc.item()) / ((step % c.logEvery) + 1);
        acc.dispose();
        acc = null;
        log(`  seed ${seed} ${label.padEnd(10)} step ${String(step + 1).padStart(4)}/${c.train.steps}  train loss ${last.toFixed(3)}  (${((performance.now() - t0) / 1000).toFixed(0)}s, ${engine.memory().liveBuffers} buffers)`);
      }
      if (onCheckpoint && ((step + 1) % every === 0 && (step + 1) / every <= c.train.checkpoints)) onCheckpoint(step + 1);
    }
    trainOpt.zeroGrad();
    return last;
  };

  // ---- θ₀ with TracIn checkpoints (the last one is θ₀ itself)
  const checkpoints: { step: number; snap: ModuleSnapshot; testLoss: Tensor }[] = [];
  const trainLoss = await train('θ0', seed, [], (step) => checkpoints.push({ step, snap: new ModuleSnapshot(model), testLoss: keep(losses(tests)) }));
  const theta0 = new ModuleSnapshot(model);
  const testLoss0 = keep(losses(tests)); // (J)
  const sampleLoss0 = keep(losses(sampleSets)); // (K)

  // ---- gradient baselines on flattened gradients
  /** The (P,) gradient of the mean loss of `s` at the current parameters. */
  const gradOf = (s: DeviceSet): Tensor => {
    model.zeroGrad();
    engine.tidy(() => model.loss(s.inputs, s.targets).backward());
    const g = gradientsToVector(params);
    model.zeroGrad();
    return g;
  };
  /** (K, J) dot products ⟨g(sample_k), g(test_j)⟩ at the current parameters. */
  const gradDots = (): Tensor => {
    const gTrain = sampleSets.map(gradOf), gTest = tests.map(gradOf);
    const m = engine.tidy(() => engine.stack(gTrain).matmul(engine.stack(gTest).mT)); // (K, P) @ (P, J)
    for (const g of [...gTrain, ...gTest]) g.dispose();
    return m;
  };
  const gradDot = keep(gradDots());
  // GradCos: unit gradients of mini-batches, all pairs of (sample_k batch, test_j batch), averaged per cell.
  const cosBatches = (sets: SequenceSet[]) => sets.map((s) => miniBatches(engine, s, c.gradCosBatch, T));
  const trainMb = cosBatches(samples), testMb = cosBatches(world.tests);
  const unit = (s: DeviceSet) => {
    const g = gradOf(s);
    const u = engine.tidy(() => g.div(g.square().sum().sqrt().add(1e-12)));
    g.dispose();
    return u;
  };
  const uTrain = trainMb.flat().map(unit), uTest = testMb.flat().map(unit);
  const cosines = keep(engine.tidy(() => engine.stack(uTrain).matmul(engine.stack(uTest).mT))); // (ΣK batches, ΣJ batches)
  for (const t of [...uTrain, ...uTest]) t.dispose();
  for (const s of [...trainMb.flat(), ...testMb.flat()]) disposeSet(s);
  // TracIn: Σ over checkpoints of lr · ⟨g_train, g_test⟩ (constant lr).
  let tracin: Tensor | null = null;
  for (const ck of checkpoints) {
    ck.snap.restore();
    const d = gradDots();
    const next = engine.tidy(() => (tracin ? tracin.add(d.mul(c.train.lr)) : d.mul(c.train.lr)));
    tracin?.dispose();
    d.dispose();
    tracin = engine.keep(next);
  }
  keep(tracin!);

  // ---- UnTrac: ascend on each corpus sample from θ₀ (batch 1, no clipping), then the test losses
  const ascend = (opt: Optimizer, batches: DeviceSet[], steps: number) => {
    for (let s = 0; s < steps; s++) {
      const b = batches[s % batches.length];
      engine.tidy(() => {
        opt.zeroGrad();
        model.loss(b.inputs, b.targets).neg().backward();
        opt.step();
      });
    }
    opt.zeroGrad();
  };
  const untracRows = (opt: Optimizer, fresh: OptimizerSnapshot | null): Tensor[] =>
    samples.map((s) => {
      theta0.restore();
      fresh?.restore();
      const mb = miniBatches(engine, s, c.untrac.batchSize, T);
      ascend(opt, mb, mb.length * c.untrac.epochs);
      mb.forEach(disposeSet);
      return keep(losses(tests)); // (J)
    });
  const adamRows = untracRows(unlearnAdam, unlearnFresh);
  const sgdRows = untracRows(unlearnSgd, null);
  // ---- UnTrac-Inv: ascend on each whole test set (one batch), then every corpus sample's loss
  const invCols = tests.map((t) => {
    theta0.restore();
    invFresh.restore();
    ascend(invAdam, [t], c.untracInv.steps);
    return keep(losses(sampleSets)); // (K)
  });
  theta0.restore();
  log(`  seed ${seed} influence estimates done (${((performance.now() - t0) / 1000).toFixed(0)}s)`);

  // ---- ground truth: leave each corpus out, same init, steps and stream
  const looRows: Tensor[] = [];
  for (let k = 0; k < K; k++) {
    await train(`without ${k}`, seed, [k]);
    looRows.push(keep(losses(tests)));
  }
  let noiseLoss: Tensor | null = null;
  if (c.noiseCheck) {
    await train('θ0 alt', seed + 7919, []);
    noiseLoss = keep(losses(tests));
  }

  // ---- read everything back once
  const read = async (t: Tensor) => Array.from(await t.data());
  const L0 = await read(testLoss0), S0 = await read(sampleLoss0);
  const minus = async (rows: Tensor[], base: number[]) => Promise.all(rows.map(async (r) => (await read(r)).map((v, j) => v - base[j])));
  const groundTruth = await minus(looRows, L0);
  const adam = await minus(adamRows, L0), sgd = await minus(sgdRows, L0);
  const invT = await minus(invCols, S0); // (J, K)
  const inv = Array.from({ length: K }, (_, k) => invT.map((row) => row[k]));
  const toMatrix = async (t: Tensor) => {
    const v = await read(t);
    return Array.from({ length: K }, (_, k) => v.slice(k * J, (k + 1) * J));
  };
  const cos = await read(cosines);
  const nTest = testMb.map((b) => b.length), nTrain = trainMb.map((b) => b.length);
  const cols = uTest.length;
  const offsets = (n: number[]) => n.map((_, i) => n.slice(0, i).reduce((a, b) => a + b, 0));
  const [oTrain, oTest] = [offsets(nTrain), offsets(nTest)];
  const gradCos = Array.from({ length: K }, (_, k) => Array.from({ length: J }, (_, j) => {
    let s = 0;
    for (let a = 0; a < nTrain[k]; a++) for (let b = 0; b < nTest[j]; b++) s += cos[(oTrain[k] + a) * cols + oTest[j] + b];
    return s / (nTrain[k] * nTest[j]);
  }));
  const estimates: Record<Estimator, Matrix> = {
    untracAdam: adam, untracSgd: sgd, untracInv: inv, gradDot: await toMatrix(gradDot), gradCos, tracin: await toMatrix(tracin!),
  };
  const curve = await Promise.all(checkpoints.map(async (ck) => ({ step: ck.step, testLoss: mean(await read(ck.testLoss)) })));
  const noise = noiseLoss ? (await read(noiseLoss)).map((v, j) => Math.abs(v - L0[j])) : null;
  const meanAbs = (m: Matrix) => mean(m.flat().map(Math.abs));

  for (const t of kept) t.dispose();
  for (const ck of checkpoints) ck.snap.dispose();
  for (const s of [...tests, ...sampleSets]) disposeSet(s);
  for (const x of [theta0, init, trainFresh, unlearnFresh, invFresh, trainOpt, unlearnAdam, invAdam, unlearnSgd]) x.dispose();
  const parameters = model.numParameters();
  model.dispose();
  return {
    seed, corpusSizes: world.corpora.map((x) => x.rows), mixtures: world.mixtures, groundTruth, estimates,
    testLoss: L0, unigramLoss: world.tests.map((t) => world.unigramEntropy(t)), curve, trainLoss, noise,
    meanAbsDelta: { untracAdam: meanAbs(adam), untracSgd: meanAbs(sgd), untracInv: meanAbs(inv) },
    wallSec: (performance.now() - t0) / 1000, parameters,
  };
}

// ------------------------------------------------------------------ the method

const byEstimator = (f: (e: Estimator) => Stat): Record<Estimator, Stat> => Object.fromEntries(ESTIMATORS.map((e) => [e, f(e)])) as Record<Estimator, Stat>;

/** Sd over corpora of the GT, mean over test sets. */
export function groundTruthSpread(gt: Matrix): number {
  return mean(gt[0].map((_, j) => {
    const col = column(gt, j), m = mean(col);
    return Math.sqrt(mean(col.map((v) => (v - m) ** 2)));
  }));
}

export async function run(engine: Engine, config: Partial<UntracConfig> = {}, io: RunIO = {}): Promise<Report> {
  const c = makeConfig(config);
  const log = io.log ?? (() => {});
  const t0 = performance.now();
  log(`untrac: d ${c.model.dModel}, ${c.model.nLayers} layers; θ0 + leave-one-out retrainings of ${c.train.steps} steps × batch ${c.train.batchSize}; ` +
    `${c.influenceSamples} sequences per corpus sample; seeds ${c.seeds.join(', ')}`);
  const seeds: SeedResult[] = [];
  let parameters = 0;
  for (const seed of c.seeds) {
    const { parameters: p, ...r } = await runSeed(engine, c, seed, log);
    parameters = p;
    seeds.push(r);
    const line = ESTIMATORS.map((e) => `${e} ${perTestCorrelation(r.estimates[e], r.groundTruth, pearson).toFixed(2)}`).join('  ');
    log(`  seed ${seed} per-test Pearson: ${line}  (${r.wallSec.toFixed(0)}s)`);
  }
  const per = (f: (r: SeedResult, e: Estimator) => number) => byEstimator((e) => stat(seeds.map((r) => f(r, e))));
  return {
    method: 'untrac',
    config: c,
    parameters,
    pearson: per((r, e) => perTestCorrelation(r.estimates[e], r.groundTruth, pearson)),
    spearman: per((r, e) => perTestCorrelation(r.estimates[e], r.groundTruth, spearman)),
    pearsonPooled: per((r, e) => pooledCorrelation(r.estimates[e], r.groundTruth, pearson)),
    spearmanPooled: per((r, e) => pooledCorrelation(r.estimates[e], r.groundTruth, spearman)),
    topCorpusAgreement: per((r, e) => topAgreement(r.estimates[e], r.groundTruth)),
    deterministicTopAgreement: per((r, e) => topAgreement(r.estimates[e], r.groundTruth, [0])),
    groundTruthSpread: stat(seeds.map((r) => groundTruthSpread(r.groundTruth))),
    groundTruthNoise: c.noiseCheck ? stat(seeds.map((r) => mean(r.noise!))) : null,
    testLoss: stat(seeds.map((r) => mean(r.testLoss))),
    unigramLoss: stat(seeds.map((r) => mean(r.unigramLoss))),
    seeds,
    wallSec: (performance.now() - t0) / 1000,
  };
}
