// Global-batch vs micro-batch load-balancing loss (Qiu et al. 2025) on tiny MoE LMs: the same model and
// data in every arm, only the scope of the expert fractions f changes (micro, global, buffer, shuffle).
// Micro-batches are packed by domain, which is what makes micro-batch balancing force every domain onto
// every expert. After training: held-out loss per domain, routing per domain and layer (RoutingMonitor),
// mutual information domain;expert, global load imbalance and the mean top-k score sum.
import { KilnError, oneHot, topk, type Engine, type Tensor } from '../../engine/index.js';
import {
  AdamW, BPETokenizer, Batcher, LRScheduler, LoadBalancer, RoutingMonitor, SeededRng, TransformerLM, clipGradNorm, cosineSchedule,
  splitByDocument, tokenizeDocuments, type Document,
} from '../../nn/index.js';
import { makeConfig, type Arm, type GlobalBatchLBLConfig } from './config.js';
import { MarkovDomains, lossLevels, type LossLevels } from './markov.js';

export interface Stat {
  mean: number;
  /** Sample standard deviation over the seeds (0 for one seed). */
  sd: number;
  perSeed: number[];
}

export interface ArmReport {
  /** Mutual information domain;expert (nats), mean over layers, held-out data. */
  mi: Stat;
  /** The same on shared tokens only (markov corpus; routing them by domain needs context). */
  miShared: Stat | null;
  /** Held-out LM loss (nats/token), mean over domains. */
  heldoutLoss: Stat;
  /** Held-out loss per domain: mean over seeds and per seed. */
  heldoutLossPerDomain: { mean: number[]; perSeed: number[][] };
  /** max_i f̄_i · N_E on the held-out set, worst layer (1 = balanced). */
  imbalance: Stat;
  /** Mean over tokens and layers of Σ_{i∈TopK} s_i (uniform: K/N_E). */
  topkScoreSum: Stat;
  /** Per layer, domain × expert frequency freq[d][i] = share of domain d's tokens whose top-k holds i (rows sum to K). */
  routing: { layers: string[]; mean: number[][][]; perSeed: number[][][][] };
  /** Training LM loss, last logged window (mean over seeds). */
  trainLoss: Stat;
  wallSec: Stat;
}

export interface Report {
  method: 'global-batch-lbl';
  config: GlobalBatchLBLConfig;
  domains: string[];
  vocabSize: number;
  parameters: number;
  /** Held-out loss levels to read the arms' losses against (markov corpus; null for the real one). */
  levels: LossLevels | null;
  /** Tokens each run trains on (steps × global batch). */
  trainTokens: number;
  arms: Partial<Record<Arm, ArmReport>>;
  /** The micro and global arms again at other α (spec: α ∈ {0.01, 0.05}), when asked. */
  alphaSweep?: { alpha: number; arms: Partial<Record<'micro' | 'global', { mi: Stat; miShared: Stat | null; heldoutLoss: Stat; imbalance: Stat }>> }[];
  /** f pooled over balance groups of `sequences` consecutive sequences (spanning `domains` domains), when asked. */
  balanceSweep?: { sequences: number; domains: number; from: 'sweep' | 'micro' | 'global'; mi: Stat; miShared: Stat | null; heldoutLoss: Stat; imbalance: Stat }[];
  wallSec: number;
}

export interface RunIO {
  /** Progress lines. */
  log?: (line: string) => void;
  /**
   * A fresh engine (own device) for each (arm, seed) run, destroyed after it. Dawn on lavapipe has
   * segfaulted after a few hundred training steps on one device (see test/nn-transformer.test.ts);
   * a device per run avoids it. Without it every run uses `engine`.
   */
  newEngine?: () => Promise<Engine>;
  /**
   * The documents of the 'real' corpus: each domain capped at bytesPerDomain (nn/node's buildCorpus,
   * which reads files; the CLI passes it, so this module runs anywhere).
   */
  buildCorpus?: (options: { domains: GlobalBatchLBLConfig['real']['domains']; bytesPerDomain: number; seed: number }) => Document[];
}

// ------------------------------------------------------------------ data

interface DataSource {
  domains: string[];
  vocabSize: number;
  /** A fresh sampler of training micro-batches (one domain each), seeded per run. */
  trainSampler(seed: number): (domain: number, rows: number, T: number) => { inputs: Int32Array; targets: Int32Array };
  /** Fixed held-out batches per domain. */
  heldout: { inputs: Int32Array; targets: Int32Array; rows: number }[][];
  /** Token ids shared by all domains (markov only). */
  isShared: ((id: number) => boolean) | null;
  levels: LossLevels | null;
}

function markovSource(c: GlobalBatchLBLConfig): DataSource {
  const m = new MarkovDomains(c.markov);
  const held = new SeededRng(`heldout:${m.options.seed}`);
  const heldout = Array.from({ length: m.numDomains }, (_, d) => {
    const out = [];
    for (let left = c.heldoutSeqsPerDomain; left > 0; left -= c.evalBatch) {
      const rows = Math.min(left, c.evalBatch);
      out.push({ ...m.batch(d, rows, c.seqLen, held), rows });
    }
    return out;
  });
  return {
    domains: Array.from({ length: m.numDomains }, (_, d) => `d${d}`),
    vocabSize: m.vocabSize,
    trainSampler: (seed) => {
      const rng = new SeededRng(`train:${seed}`);
      return (d, rows, T) => m.batch(d, rows, T, rng);
    },
    heldout,
    isShared: (id) => m.isShared(id),
    levels: lossLevels(m, heldout),
  };
}

function realSource(c: GlobalBatchLBLConfig, buildCorpus: RunIO['buildCorpus']): DataSource {
  const domains = c.real.domains;
  if (!buildCorpus) throw new KilnError("global-batch-lbl: the 'real' corpus needs io.buildCorpus (the CLI passes nn/node's buildCorpus)");
  const docs = buildCorpus({ domains, bytesPerDomain: c.real.bytesPerDomain, seed: 0 });
  const splits = splitByDocument(docs, { train: 0.9, valid: 0.1, test: 0, seed: 0 });
  // A small BPE sample keeps tokenizer training to seconds.
  const sample: string[] = [];
  for (const d of domains) {
    let used = 0;
    for (const doc of splits.train) if (doc.domain === d && used < 20_000) (sample.push(doc.text), (used += doc.text.length));
  }
  const tok = BPETokenizer.train(sample, { vocabSize: c.real.vocabSize, specialTokens: ['<eos>'] });
  const eos = tok.specialId('<eos>');
  const train = tokenizeDocuments(tok, splits.train, eos);
  const valid = tokenizeDocuments(tok, splits.valid, eos);
  const heldout = domains.map((d) => {
    const b = new Batcher(valid, { batchSize: 1, seqLen: c.seqLen, mode: 'per-domain', shuffle: false, domains: [d] });
    const n = Math.min(c.heldoutSeqsPerDomain, b.windowsPerDomain.get(d)!);
    const out = [];
    for (let left = n; left > 0; left -= c.evalBatch) {
      const rows = Math.min(left, c.evalBatch);
      const bs = Array.from({ length: rows }, () => b.next());
      const cat = (k: 'inputs' | 'targets') => Int32Array.from(bs.flatMap((x) => Array.from(x[k])));
      out.push({ inputs: cat('inputs'), targets: cat('targets'), rows });
    }
    return out;
  });
  return {
    domains,
    vocabSize: tok.vocabSize,
    trainSampler: (seed) => {
      // One batcher per domain so each micro-batch is domain-pure whatever the order of requests.
      const bs = new Map<string, Batcher>();
      return (d, rows, T) => {
        const key = `${d}:${rows}`;
        if (!bs.has(key)) bs.set(key, new Batcher(train, { batchSize: rows, seqLen: T, mode: 'per-domain', seed, domains: [domains[d]] }));
        const b = bs.get(key)!.next();
        return { inputs: b.inputs, targets: b.targets };
      };
    },
    heldout,
    isShared: null,
    levels: null,
  };
}

// ------------------------------------------------------------------ simulated data parallelism

/**
 * An all-reduce of (E) count vectors over R simulated replicas living in one process. A real
 * collective blocks until every rank has contributed; here the step runs in two phases instead:
 * 'gather' (each replica's balancer is asked for its fractions, which calls allReduce once per layer
 * with its local counts: stashed, identity returned), then 'reduce' (each replica's loss() calls it
 * again in the same layer order and gets the sum over replicas).
 */
class SimulatedCollective {
  private stash: Tensor[][] = [];
  private phase: 'gather' | 'reduce' = 'gather';
  private replica = 0;
  private call = 0;
  constructor(private readonly engine: Engine) {}

  begin(phase: 'gather' | 'reduce', replica: number): void {
    this.phase = phase;
    this.replica = replica;
    this.call = 0;
  }

  readonly allReduce = (c: Tensor): Tensor => {
    const i = this.call++;
    if (this.phase === 'gather') {
      (this.stash[this.replica] ??= [])[i] = this.engine.keep(c.clone());
      return c;
    }
    return this.stash.map((s) => s[i]).reduce((a, b) => a.add(b));
  };

  clear(): void {
    for (const s of this.stash) for (const t of s) t?.dispose();
    this.stash = [];
  }
}

// ------------------------------------------------------------------ metrics

/** MI (nats) between domain and expert from per-domain selection counts (Dm, E) and tokens (Dm). */
export function mutualInformation(byDomain: number[][], tokens: number[]): number {
  const total = tokens.reduce((a, v) => a + v, 0);
  const rows = byDomain.map((r) => {
    const s = r.reduce((a, v) => a + v, 0);
    return r.map((v) => (s > 0 ? v / s : 0));
  });
  const pi = tokens.map((t) => t / total);
  const qbar = rows[0].map((_, i) => rows.reduce((a, r, d) => a + pi[d] * r[i], 0));
  return rows.reduce((a, r, d) => a + pi[d] * r.reduce((b, v, i) => b + (v > 0 ? v * Math.log(v / qbar[i]) : 0), 0), 0);
}

const stat = (xs: number[]): Stat => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, v) => a + (v - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd, perSeed: xs };
};

interface SeedResult {
  mi: number;
  miShared: number | null;
  heldoutLoss: number;
  perDomain: number[];
  imbalance: number;
  topkScoreSum: number;
  routing: number[][][];
  layers: string[];
  trainLoss: number;
  wallSec: number;
}

// ------------------------------------------------------------------ one run

async function trainOne(
  engine: Engine, c: GlobalBatchLBLConfig, data: DataSource, arm: Arm, seed: number, log: (s: string) => void,
  /** Balance-BSZ sweep: f pooled over groups of this many consecutive sequences of the step (one forward each). */
  balanceGroup?: number,
): Promise<SeedResult & { parameters: number }> {
  await engine.sync();
  const t0 = performance.now();
  engine.manualSeed(seed);
  const D = data.domains.length;
  const T = c.seqLen;
  const s = c.seqsPerMicroBatch;
  const model = new TransformerLM(engine, {
    vocabSize: data.vocabSize, dModel: c.model.dModel, nLayers: c.model.nLayers, nHeads: c.model.nHeads, maxSeqLen: T, dropout: 0,
    ffn: 'moe', dFF: c.model.dFF,
    moe: { numExperts: c.model.numExperts, topK: c.model.topK, scoring: 'softmax', renormalize: false, lblWeight: c.lblWeight, zLossWeight: c.zLossWeight },
  });
  const G = D * c.microBatchesPerDomain; // micro-batches per optimizer step
  const S = G * s; // sequences per optimizer step
  // Global and shuffle over R replicas: two-phase count sharing (SimulatedCollective). The buffer arm's
  // replicas are run as one forward per micro-step (see below); micro balances each micro-batch alone,
  // so replicas do not change it.
  const sharded = (arm === 'global' || arm === 'shuffle') && balanceGroup === undefined;
  const R = sharded ? c.replicas : arm === 'buffer' ? c.bufferReplicas : 1;
  if (G % R !== 0) throw new RangeError(`global-batch-lbl: ${G} micro-batches per step do not split over ${R} replicas (${arm} arm)`);
  if (balanceGroup !== undefined && S % balanceGroup !== 0) throw new RangeError(`global-batch-lbl: a balance group of ${balanceGroup} sequences must divide the ${S} sequences of a step`);
  const collective = sharded && R > 1 ? new SimulatedCollective(engine) : null;
  // One balancer per replica; replica 0's is the model's (disposed with it). The MoE layers report to
  // whichever balancer is installed while a replica's micro-batches run forward. The sweep balances
  // each forward (one balance group) alone, i.e. the micro scope on bigger, possibly mixed-domain groups.
  const scope = balanceGroup === undefined ? arm : 'micro';
  const balancers = Array.from({ length: sharded ? R : 1 }, (_, r) => new LoadBalancer(engine, { scope, allReduce: collective?.allReduce, seed: seed * 1000 + r }));
  model.setLoadBalancer(balancers[0]);
  const use = (r: number) => model.moeLayers.forEach((m) => m.setLoadBalancer(balancers[r]));
  const opt = new AdamW(model.parameters(), { lr: c.lr, weightDecay: c.weightDecay, betas: [0.9, 0.98] });
  const sched = new LRScheduler(opt, cosineSchedule({ warmupSteps: c.warmupSteps, totalSteps: c.steps, minLr: 0.1 }));
  const sample = data.trainSampler(seed);
  const upload = (b: { inputs: Int32Array; targets: Int32Array }) => {
    const rows = b.inputs.length / T;
    return { rows, inputs: engine.tensor(b.inputs, [rows, T], { dtype: 'i32' }), targets: engine.tensor(b.targets, [rows, T], { dtype: 'i32' }) };
  };
  /** Rows [r0, r1) of the step's sequences (micro-batches concatenated in order), host side. */
  const rowsOf = (host: { inputs: Int32Array; targets: Int32Array }[], r0: number, r1: number) => {
    const cat = (k: 'inputs' | 'targets') => {
      const out = new Int32Array((r1 - r0) * T);
      for (let r = r0; r < r1; r++) out.set(host[Math.floor(r / s)][k].subarray((r % s) * T, (r % s + 1) * T), (r - r0) * T);
      return out;
    };
    return { inputs: cat('inputs'), targets: cat('targets') };
  };
  // Domain-packed micro-batches, domains in turn (micro-batch g is domain g mod D). Global/shuffle:
  // replica r holds the contiguous block r of them. Buffer: micro-step j of replica r holds micro-batch
  // j·R + r, so one micro-step's R micro-batches span R consecutive domains, as a data-parallel group
  // reading different shards does.
  const order = Array.from({ length: G }, (_, g) => g % D);
  const perReplica = G / R;
  let lossAcc: Tensor | null = null;
  let lastTrain = NaN;

  for (let step = 0; step < c.steps; step++) {
    const host = order.map((d) => sample(d, s, T));
    // The forwards of the step: one per micro-batch (micro), per micro-step of R merged replicas
    // (buffer), per balance group (sweep), or per micro-batch with all kept until f is known (sharded).
    const chunk = balanceGroup ?? (arm === 'buffer' ? R * s : s);
    const batches = Array.from({ length: S / chunk }, (_, i) => upload(rowsOf(host, i * chunk, (i + 1) * chunk)));
    const ce = engine.tidy(() => {
      opt.zeroGrad();
      const ces: Tensor[] = [];
      if (!sharded) {
        // Gradient accumulation, one forward/backward per chunk: f is known at each micro-step. Buffer:
        // the R replicas' micro-batches of a micro-step run as one forward, so the buffer adds their summed
        // counts (the all-reduce) and the LBL with that f over the merged P is the replicas' mean LBL,
        // whose gradient is the data-parallel mean: exact, not an approximation.
        for (const b of batches) {
          const l = model.loss(b.inputs, b.targets);
          l.add(balancers[0].loss()).mul(b.rows / S).backward();
          ces.push(l.detach());
        }
      } else {
        // Global and shuffle: f needs every micro-batch's counts, so all forwards run first (graphs kept),
        // then one backward per replica of its Σ_j ce_j / G + aux_r / R.
        const perR: Tensor[][] = [];
        for (let r = 0; r < R; r++) {
          use(r);
          perR.push(batches.slice(r * perReplica, (r + 1) * perReplica).map((b) => model.loss(b.inputs, b.targets)));
          if (collective) {
            collective.begin('gather', r);
            balancers[r].expertFractions().dispose();
          }
        }
        for (let r = 0; r < R; r++) {
          collective?.begin('reduce', r);
          const aux = balancers[r].loss();
          engine.stack(perR[r]).sum().div(G).add(aux.div(R)).backward();
          ces.push(...perR[r].map((l) => l.detach()));
        }
        collective?.clear();
      }
      clipGradNorm(model.parameters(), 1.0).dispose();
      opt.step();
      for (const b of balancers) b.endStep();
      return engine.stack(ces).mean();
    });
    sched.step();
    for (const b of batches) (b.inputs.dispose(), b.targets.dispose());
    const acc: Tensor = lossAcc ? engine.keep(lossAcc.add(ce)) : ce;
    if (lossAcc) (lossAcc.dispose(), ce.dispose());
    lossAcc = acc;
    if ((step + 1) % c.logEvery === 0 || step + 1 === c.steps) {
      const n = (step % c.logEvery) + 1;
      lastTrain = (await lossAcc.item()) / n;
      lossAcc.dispose();
      lossAcc = null;
      const label = balanceGroup === undefined ? arm : `sweep/${balanceGroup}`;
      log(`  ${label.padEnd(7)} seed ${seed}  α ${c.lblWeight}  step ${String(step + 1).padStart(4)}/${c.steps}  train loss ${lastTrain.toFixed(3)}  (${((performance.now() - t0) / 1000).toFixed(1)}s, ${engine.memory().liveBuffers} buffers)`);
    }
  }
  use(0);
  const ev = await evaluate(engine, model, c, data);
  for (const b of balancers.slice(1)) b.dispose();
  opt.dispose();
  const parameters = model.numParameters();
  model.dispose();
  return { ...ev, trainLoss: lastTrain, wallSec: (performance.now() - t0) / 1000, parameters };
}

/** Held-out loss per domain and routing statistics, with one readback at the end. */
async function evaluate(engine: Engine, model: TransformerLM, c: GlobalBatchLBLConfig, data: DataSource): Promise<Omit<SeedResult, 'trainLoss' | 'wallSec'>> {
  const D = data.domains.length, E = c.model.numExperts, K = c.model.topK, T = c.seqLen;
  const L = model.moeLayers.length;
  const monitor = new RoutingMonitor(engine, { numDomains: D });
  model.setRoutingMonitor(monitor);
  model.eval();
  // Router hooks: Σ top-k softmax scores, and per-domain selections of shared tokens only.
  const scoreSum: (Tensor | null)[] = Array(L).fill(null);
  const sharedSel: (Tensor | null)[][] = Array.from({ length: L }, () => Array(D).fill(null));
  let cur = { domain: 0, shared: null as Tensor | null };
  const accum = (old: Tensor | null, t: Tensor) => {
    const n = engine.keep(old ? old.add(t) : t.clone());
    old?.dispose();
    return n;
  };
  const unhook = model.moeLayers.map((m, l) =>
    model.registerHook(`${m.name}.router`, (logits) => {
      engine.noGrad(() => engine.tidy(() => {
        const top = topk(logits.softmax(-1), K, -1);
        scoreSum[l] = accum(scoreSum[l], top.values.sum());
        if (cur.shared) sharedSel[l][cur.domain] = accum(sharedSel[l][cur.domain], cur.shared.matmul(oneHot(top.indices, E).to('f32').sum(1))); // (1, E)
      }));
    }),
  );
  const losses: Tensor[][] = data.heldout.map(() => []);
  let tokens = 0;
  const sharedTokens = Array(D).fill(0);
  engine.noGrad(() => {
    data.heldout.forEach((batches, d) => {
      for (const b of batches) {
        const inputs = engine.tensor(b.inputs, [b.rows, T], { dtype: 'i32' });
        const targets = engine.tensor(b.targets, [b.rows, T], { dtype: 'i32' });
        const ids = engine.full([b.rows], d, { dtype: 'i32' });
        let shared: Tensor | null = null;
        if (data.isShared) {
          const mask = Float32Array.from(b.inputs, (id) => (data.isShared!(id) ? 1 : 0));
          sharedTokens[d] += mask.reduce((a, v) => a + v, 0);
          shared = engine.tensor(mask, [1, mask.length]);
        }
        cur = { domain: d, shared };
        monitor.setDomains(ids);
        // Weighted by rows so the domain mean is per token.
        losses[d].push(engine.keep(engine.tidy(() => model.loss(inputs, targets).mul(b.rows))));
        tokens += b.rows * T;
        for (const t of [inputs, targets, ids, shared]) t?.dispose();
      }
    });
  });
  unhook.forEach((u) => u());
  model.setRoutingMonitor(null);
  model.train();
  const stats = await monitor.read();
  monitor.dispose();
  const perDomain = await Promise.all(losses.map(async (ls, d) => {
    const rows = data.heldout[d].reduce((a, b) => a + b.rows, 0);
    const v = (await Promise.all(ls.map((l) => l.item()))).reduce((a, b) => a + b, 0) / rows;
    ls.forEach((l) => l.dispose());
    return v;
  }));
  const routing = stats.layers.map((l) => l.byDomain!.map((row, d) => row.map((v) => v / l.domainTokens![d])));
  const mis = stats.layers.map((l) => mutualInformation(l.byDomain!, l.domainTokens!));
  const imb = stats.layers.map((l) => {
    const tot = l.counts.reduce((a, v) => a + v, 0);
    return Math.max(...l.counts.map((v) => v / tot)) * E;
  });
  const ss = await Promise.all(scoreSum.map(async (t) => (t ? (await t.item()) / tokens : NaN)));
  let miShared: number | null = null;
  if (data.isShared) {
    const per = await Promise.all(sharedSel.map(async (row) => Promise.all(row.map(async (t) => (t ? Array.from(await t.data()) : Array(E).fill(0))))));
    miShared = per.reduce((a, rows) => a + mutualInformation(rows, sharedTokens), 0) / L;
  }
  for (const t of [...scoreSum, ...sharedSel.flat()]) t?.dispose();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    mi: mean(mis), miShared, heldoutLoss: mean(perDomain), perDomain, imbalance: Math.max(...imb), topkScoreSum: mean(ss), routing, layers: stats.layers.map((l) => l.name),
  };
}

// ------------------------------------------------------------------ the method

export async function run(engine: Engine, config: Partial<GlobalBatchLBLConfig> = {}, io: RunIO = {}): Promise<Report> {
  const c = makeConfig(config);
  const log = io.log ?? (() => {});
  const t0 = performance.now();
  const data = c.corpus === 'real' ? realSource(c, io.buildCorpus) : markovSource(c);
  const G = data.domains.length * c.microBatchesPerDomain;
  const trainTokens = c.steps * G * c.seqsPerMicroBatch * c.seqLen;
  log(`global-batch-lbl: ${c.corpus} corpus (${data.domains.length} domains, vocab ${data.vocabSize}); ${c.model.numExperts} experts top-${c.model.topK}, ` +
    `${G} domain-packed micro-batches × ${c.seqsPerMicroBatch} seqs × T ${c.seqLen} per step over ${c.replicas} replica(s) (buffer: ${c.bufferReplicas}), α ${c.lblWeight}, ${c.steps} steps ` +
    `(${trainTokens} tokens); arms ${c.arms.join(', ')}; seeds ${c.seeds.join(', ')}`);
  if (data.levels) log(`  held-out levels: entropy floor ${data.levels.entropyFloor.toFixed(4)}, domain unigram ${data.levels.unigram.toFixed(4)}, unigram ${data.levels.globalUnigram.toFixed(4)} nats/token`);
  const arms: Partial<Record<Arm, ArmReport>> = {};
  let parameters = 0;
  const runSeeds = async (arm: Arm, group?: number, cfg = c): Promise<SeedResult[]> => {
    const rs: SeedResult[] = [];
    for (const seed of c.seeds) {
      const e = io.newEngine ? await io.newEngine() : engine;
      let r;
      try {
        r = await trainOne(e, cfg, data, arm, seed, log, group);
      } finally {
        if (e !== engine) e.destroy();
      }
      parameters = r.parameters;
      rs.push(r);
      const label = group === undefined ? arm : `sweep/${group}`;
      log(`  ${label.padEnd(7)} seed ${seed}  α ${cfg.lblWeight}  held-out loss ${r.heldoutLoss.toFixed(4)}  MI ${r.mi.toFixed(3)}${r.miShared !== null ? ` (shared tokens ${r.miShared.toFixed(3)})` : ''}  imbalance ${r.imbalance.toFixed(2)}  top-k score sum ${r.topkScoreSum.toFixed(3)}`);
    }
    return rs;
  };
  for (const arm of c.arms) {
    const rs = await runSeeds(arm);
    const L = rs[0].routing.length;
    arms[arm] = {
      mi: stat(rs.map((r) => r.mi)),
      miShared: data.isShared ? stat(rs.map((r) => r.miShared!)) : null,
      heldoutLoss: stat(rs.map((r) => r.heldoutLoss)),
      heldoutLossPerDomain: { mean: data.domains.map((_, d) => rs.reduce((a, r) => a + r.perDomain[d], 0) / rs.length), perSeed: rs.map((r) => r.perDomain) },
      imbalance: stat(rs.map((r) => r.imbalance)),
      topkScoreSum: stat(rs.map((r) => r.topkScoreSum)),
      routing: {
        layers: rs[0].layers,
        mean: Array.from({ length: L }, (_, l) => rs[0].routing[l].map((row, d) => row.map((_, i) => rs.reduce((a, r) => a + r.routing[l][d][i], 0) / rs.length))),
        perSeed: rs.map((r) => r.routing),
      },
      trainLoss: stat(rs.map((r) => r.trainLoss)),
      wallSec: stat(rs.map((r) => r.wallSec)),
    };
  }
  const brief = (rs: SeedResult[]) => ({
    mi: stat(rs.map((r) => r.mi)), miShared: data.isShared ? stat(rs.map((r) => r.miShared!)) : null,
    heldoutLoss: stat(rs.map((r) => r.heldoutLoss)), imbalance: stat(rs.map((r) => r.imbalance)),
  });
  const alphaSweep: NonNullable<Report['alphaSweep']> = [];
  for (const alpha of c.alphaSweep) {
    const entry: NonNullable<Report['alphaSweep']>[number] = { alpha, arms: {} };
    for (const arm of ['micro', 'global'] as const) entry.arms[arm] = brief(await runSeeds(arm, undefined, { ...c, lblWeight: alpha }));
    alphaSweep.push(entry);
  }
  const balanceSweep: NonNullable<Report['balanceSweep']> = [];
  for (const group of c.balanceSweep) {
    const rs = await runSeeds('micro', group);
    // Sequences are domain-packed in runs of seqsPerMicroBatch, so a group spans ceil(group / s) domains (at most all).
    balanceSweep.push({ sequences: group, domains: Math.min(data.domains.length, Math.ceil(group / c.seqsPerMicroBatch)), from: 'sweep', ...brief(rs) });
  }
  // The micro arm is the group of one micro-batch and the global arm (one replica) the group of the whole
  // step: the same f, so their runs are the sweep's points there unless the sweep ran them itself.
  const S = G * c.seqsPerMicroBatch;
  const reuse: ['micro' | 'global', number, number][] = [['micro', c.seqsPerMicroBatch, 1], ...(c.replicas === 1 ? [['global', S, data.domains.length] as ['global', number, number]] : [])];
  for (const [arm, group, domains] of reuse) {
    const a = arms[arm];
    if (c.balanceSweep.length && a && !c.balanceSweep.includes(group)) balanceSweep.push({ sequences: group, domains, from: arm, mi: a.mi, miShared: a.miShared, heldoutLoss: a.heldoutLoss, imbalance: a.imbalance });
  }
  balanceSweep.sort((x, y) => x.sequences - y.sequences);
  return {
    method: 'global-batch-lbl', config: c, domains: data.domains, vocabSize: data.vocabSize, parameters, levels: data.levels, trainTokens, arms,
    ...(alphaSweep.length ? { alphaSweep } : {}), ...(balanceSweep.length ? { balanceSweep } : {}), wallSec: (performance.now() - t0) / 1000,
  };
}
