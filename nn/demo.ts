// `npm run demo`: a small mixture-of-experts Transformer language model trained on five domains at
// once (Brown English, TypeScript .d.ts code, German fortunes, arithmetic, Dyck words), small enough to
// train on lavapipe in a few minutes. Every block's FFN is 4 experts with top-2 softmax routing; each
// optimizer step is one micro-batch per domain (domain-packed, as in LLM pre-training) and the
// load-balancing loss is the global-batch one (Qiu et al. 2025): expert fractions f over all micro-
// batches of the step, P per micro-batch. It prints the validation loss per domain, what the router
// learned (per domain, the share of top-2 assignments each expert receives in the last MoE layer on
// validation data), samples from a prompt per domain, and writes
// runs/demo/{metrics.jsonl, loss.svg, loss.png, tokenizer.json, checkpoint/}.
//
// Environment knobs (for quick runs and bigger machines): DEMO_STEPS (default 250), DEMO_BYTES (bytes
// per domain, default 150000), DEMO_OUT (default runs/demo), DEMO_LBL_SCOPE (global, micro or buffer).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, type Tensor } from '../engine/index.js';
import {
  AdamW, BPETokenizer, Batcher, LRScheduler, LoadBalancer, RoutingMonitor, TransformerLM, batchToTensors, type BalanceScope, clipGradNorm, cosineSchedule, generate, lossCurveSpec,
  saveCheckpoint, splitByDocument, tokenizeDocuments, train, type Document, type MetricRecord, type Series, type TransformerLMConfigInput,
} from './index.js';
import { buildCorpus, dawnGPU, jsonlSink, nodeIO, terminalProgress, writeFileAtomic, writePlot, type DomainName } from './node/index.js';

const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const OUT = process.env.DEMO_OUT ?? 'runs/demo';
const STEPS = env('DEMO_STEPS', 250);
const BYTES_PER_DOMAIN = env('DEMO_BYTES', 150_000);
const DOMAINS: DomainName[] = ['en', 'code', 'de', 'arith', 'dyck'];
const VOCAB = 512;
const SEQ = 64;
const BATCH = 2; // sequences per micro-batch; one micro-batch per domain per optimizer step
const EVAL_BATCH = 8;
const EXPERTS = 4;
const TOP_K = 2;
const LBL_SCOPE = (process.env.DEMO_LBL_SCOPE ?? 'global') as BalanceScope;
const EVAL_EVERY = 50;
const EVAL_BATCHES = 4; // per domain, fixed windows (the same every evaluation)
const SEED = 1234;
const PROMPTS: Record<string, string> = {
  en: 'The jury said that',
  code: 'interface Window',
  de: 'Wer nicht',
  arith: '12+35=',
  dyck: '([(',
};

const t0 = performance.now();
const since = () => `${((performance.now() - t0) / 1000).toFixed(1)}s`;

async function main(): Promise<void> {
  const engine = await Engine.create({ gpu: dawnGPU() });
  console.log(`kiln demo: a ${VOCAB}-token BPE Transformer LM on ${DOMAINS.join(', ')} (adapter: ${engine.caps.vendor} ${engine.caps.architecture || engine.caps.description})`);
  engine.manualSeed(SEED);

  // ---------------------------------------------------------------- data
  const docs = buildCorpus({ domains: DOMAINS, bytesPerDomain: BYTES_PER_DOMAIN, seed: SEED });
  const splits = splitByDocument(docs, { train: 0.9, valid: 0.1, test: 0, seed: SEED });
  const tokenizer = await loadOrTrainTokenizer(splits.train);
  const eos = tokenizer.specialId('<eos>');
  const trainTok = tokenizeDocuments(tokenizer, splits.train, eos);
  const validTok = tokenizeDocuments(tokenizer, splits.valid, eos);
  // Domain-packed micro-batches: the batcher hands out one domain after another.
  const trainBatches = new Batcher(trainTok, { batchSize: BATCH, seqLen: SEQ, mode: 'per-domain', seed: SEED, domains: DOMAINS });
  // Fixed evaluation batches per domain, uploaded once and kept (no re-upload per evaluation).
  const evalSets = DOMAINS.map((domain) => {
    const b = new Batcher(validTok, { batchSize: EVAL_BATCH, seqLen: SEQ, mode: 'per-domain', shuffle: false, domains: [domain] });
    const batches = Array.from({ length: Math.min(EVAL_BATCHES, Math.ceil(b.batchesPerEpoch)) }, () => {
      const t = batchToTensors(engine, b.next());
      t.domainIds.dispose();
      // Domain labels in the demo's order (the batcher above numbers its single domain 0), for routing statistics.
      const domainIds = engine.keep(engine.full([t.inputs.shape[0]], DOMAINS.indexOf(domain), { dtype: 'i32' }));
      return { inputs: engine.keep(t.inputs), targets: engine.keep(t.targets), domainIds };
    });
    // Bytes per token of this domain's validation text, to report bits per byte (comparable across tokenizers).
    const text = splits.valid.filter((d) => d.domain === domain);
    const bytes = text.reduce((a, d) => a + Buffer.byteLength(d.text), 0);
    const tokens = validTok.filter((d) => d.domain === domain).reduce((a, d) => a + d.ids.length, 0);
    return { domain, batches, bytesPerToken: bytes / tokens };
  });
  for (const d of DOMAINS) {
    const n = trainTok.filter((x) => x.domain === d).reduce((a, x) => a + x.ids.length, 0);
    console.log(`  ${d.padEnd(6)} ${String(n).padStart(7)} train tokens, ${evalSets.find((e) => e.domain === d)!.bytesPerToken.toFixed(2)} bytes/token`);
  }
  console.log(`data ready (${since()})`);

  // ---------------------------------------------------------------- model
  // Each expert is a 64 -> 128 -> 64 GELU MLP: top-2 of 4 costs what the dense 64 -> 256 FFN did.
  const config: TransformerLMConfigInput = {
    vocabSize: tokenizer.vocabSize, dModel: 64, nLayers: 2, nHeads: 4, maxSeqLen: SEQ, dropout: 0.05,
    ffn: 'moe', dFF: 128, moe: { numExperts: EXPERTS, topK: TOP_K, scoring: 'softmax', lblWeight: 0.01, zLossWeight: 1e-3 },
  };
  const model = new TransformerLM(engine, config);
  const balancer = new LoadBalancer(engine, { scope: LBL_SCOPE });
  model.setLoadBalancer(balancer);
  const opt = new AdamW(model.parameters(), { lr: 5e-3, weightDecay: 0.01, betas: [0.9, 0.98] });
  const sched = new LRScheduler(opt, cosineSchedule({ warmupSteps: 20, totalSteps: STEPS, minLr: 0.1 }));
  console.log(
    `model: ${model.numParameters().toLocaleString('en')} parameters (dModel 64, 2 layers, 4 heads, ${EXPERTS} experts top-${TOP_K} per block, ` +
      `T ${SEQ}, ${DOMAINS.length} micro-batches x ${BATCH} sequences per step, ${LBL_SCOPE} LBL, ${STEPS} steps)`,
  );

  // One optimizer step: every domain's micro-batch forward first (their graphs kept), because the
  // global expert fractions need all of the step's routing counts; then LM loss + aux loss, backward once.
  const step = (_i: number): Tensor => {
    const bs = DOMAINS.map(() => batchToTensors(engine, trainBatches.next()));
    const loss = engine.tidy(() => {
      opt.zeroGrad();
      const ce = engine.stack(bs.map((b) => model.loss(b.inputs, b.targets))).mean();
      ce.add(model.auxLoss()).backward();
      clipGradNorm(model.parameters(), 1.0).dispose();
      opt.step();
      balancer.endStep();
      return ce;
    });
    sched.step();
    for (const b of bs) for (const t of Object.values(b)) t.dispose();
    return loss;
  };

  const evaluate = async (): Promise<Record<string, number>> => {
    model.eval();
    // Queue every domain's losses first, then read them all at once.
    const losses = engine.noGrad(() => evalSets.map((s) => engine.tidy(() => engine.stack(s.batches.map((b) => model.loss(b.inputs, b.targets))).mean())));
    const values = await Promise.all(losses.map((l) => l.item()));
    losses.forEach((l) => l.dispose());
    model.train();
    const out: Record<string, number> = { val_loss: values.reduce((a, b) => a + b, 0) / values.length };
    evalSets.forEach((s, i) => (out[`val/${s.domain}`] = values[i]));
    return out;
  };

  // ---------------------------------------------------------------- train
  const records: MetricRecord[] = [];
  const sink = jsonlSink(join(OUT, 'metrics.jsonl'));
  // The untrained model's losses, as the curves' starting point (about ln(vocab) everywhere).
  const initial = { step: 0, metrics: await evaluate() };
  sink({ kind: 'eval', step: 0, elapsedSec: 0, ...initial.metrics });
  const result = await train({
    steps: STEPS,
    step,
    logEvery: 10,
    evaluate,
    evalEvery: EVAL_EVERY,
    earlyStopping: { metric: 'val_loss', patience: 4, mode: 'min' },
    log: (r) => {
      records.push(r);
      sink(r);
    },
    logExtra: () => ({ lr: opt.paramGroups[0].lr }),
    progress: terminalProgress({ label: 'train' }),
  });
  console.log(`trained ${result.steps} steps${result.stoppedEarly ? ' (early stop)' : ''} in ${since()}`);

  // ---------------------------------------------------------------- report
  const final = result.evals[result.evals.length - 1].metrics;
  const first = initial.metrics;
  console.log('\nvalidation loss per domain (nats/token; bits/byte)');
  for (const s of evalSets) {
    const v = final[`val/${s.domain}`];
    const bpb = v / Math.LN2 / s.bytesPerToken;
    console.log(`  ${s.domain.padEnd(6)} ${v.toFixed(3)}  (${bpb.toFixed(2)} bits/byte; untrained ${first[`val/${s.domain}`].toFixed(3)})`);
  }
  console.log(`  ${'mean'.padEnd(6)} ${final.val_loss.toFixed(3)}`);

  await printRouting(engine, model, evalSets);
  console.log(`(${since()})`);

  console.log(`\nsamples (temperature 0.7, top-k 40)`);
  for (const [k, domain] of DOMAINS.entries()) {
    const prompt = PROMPTS[domain];
    const ids = tokenizer.encode(prompt);
    const g = await generate(model, [ids], { maxNewTokens: 40, temperature: 0.7, topK: 40, seed: SEED + k });
    const text = tokenizer.decode(g.tokens[0]).split('<eos>')[0];
    console.log(`  [${domain}] ${JSON.stringify(prompt + text)}`);
  }
  console.log(`(${since()})`);

  // ---------------------------------------------------------------- files
  const series: Series[] = [
    { name: 'train', dashed: true, points: records.filter((r) => r.kind === 'train').map((r) => ({ step: r.step, value: r.loss as number })) },
    ...DOMAINS.map((d) => ({ name: `val: ${d}`, points: [initial, ...result.evals].map((e) => ({ step: e.step, value: e.metrics[`val/${d}`] })) })),
  ];
  const plot = await writePlot(lossCurveSpec(series, { title: 'kiln demo: loss by domain' }), join(OUT, 'loss'));
  await writeFileAtomic(join(OUT, 'tokenizer.json'), JSON.stringify(tokenizer.toJSON()));
  const ckpt = await saveCheckpoint(nodeIO, join(OUT, 'checkpoint'), {
    model,
    optimizer: opt,
    engine,
    step: result.steps,
    config: { model: config, tokenizer: 'tokenizer.json', seqLen: SEQ, domains: DOMAINS },
    extra: { val: final },
  });
  console.log(`\nwrote ${join(OUT, 'metrics.jsonl')}, ${plot.svg}, ${plot.png}, ${ckpt}/ (${since()} total)`);

  for (const s of evalSets) for (const b of s.batches) (b.inputs.dispose(), b.targets.dispose(), b.domainIds.dispose());
  opt.dispose();
  model.dispose();
  engine.destroy();
}

/**
 * What the router learned: validation forwards with a routing monitor, then per domain the share of
 * its top-k assignments that each expert of the last MoE layer receives (rows sum to 100%; uniform is
 * 100/E %), the specialisation as mutual information between domain and expert (0 = none, at most
 * ln(domains)), and the load imbalance max_i share_i · E over all domains (1 = balanced).
 */
async function printRouting(
  engine: Engine,
  model: TransformerLM,
  evalSets: { domain: string; batches: { inputs: Tensor; domainIds: Tensor }[] }[],
): Promise<void> {
  const monitor = new RoutingMonitor(engine, { numDomains: DOMAINS.length });
  model.setRoutingMonitor(monitor);
  model.eval();
  for (const s of evalSets) {
    for (const b of s.batches) {
      monitor.setDomains(b.domainIds);
      engine.tidy(() => void engine.noGrad(() => model.forward(b.inputs)));
    }
  }
  model.train();
  model.setRoutingMonitor(null);
  const stats = await monitor.read();
  monitor.dispose();
  const last = stats.layers[stats.layers.length - 1];
  const q = last.byDomain!.map((row) => {
    const t = row.reduce((a, v) => a + v, 0);
    return row.map((v) => v / t);
  });
  const tokens = last.domainTokens!;
  const total = tokens.reduce((a, v) => a + v, 0);
  const pi = tokens.map((v) => v / total);
  const qbar = q[0].map((_, i) => q.reduce((a, row, d) => a + pi[d] * row[i], 0));
  const mi = q.reduce((a, row, d) => a + pi[d] * row.reduce((b, v, i) => b + (v > 0 ? v * Math.log(v / qbar[i]) : 0), 0), 0);
  console.log(`\nwhat the router learned: share of each domain's top-${TOP_K} assignments per expert (${last.name}, validation; uniform ${(100 / EXPERTS).toFixed(0)}%)`);
  console.log(`  ${'domain'.padEnd(6)} ${q[0].map((_, i) => `   e${i}`).join('')}`);
  q.forEach((row, d) => console.log(`  ${DOMAINS[d].padEnd(6)} ${row.map((v) => `${(100 * v).toFixed(0).padStart(4)}%`).join('')}`));
  console.log(`  ${'all'.padEnd(6)} ${qbar.map((v) => `${(100 * v).toFixed(0).padStart(4)}%`).join('')}`);
  console.log(`  specialisation (mutual information domain;expert): ${mi.toFixed(3)} nats of at most ${Math.log(DOMAINS.length).toFixed(3)}; load imbalance max share x E: ${(Math.max(...qbar) * EXPERTS).toFixed(2)}`);
}

/** Train the BPE on a sample of the training text, or load it from a cache keyed by its settings. */
async function loadOrTrainTokenizer(trainDocs: Document[]): Promise<BPETokenizer> {
  const SAMPLE = 40_000; // bytes per domain: enough for the merges that matter at this vocabulary size
  const cachePath = join('runs', 'cache', `bpe-v${VOCAB}-s${SAMPLE}-b${BYTES_PER_DOMAIN}-seed${SEED}.json`);
  if (existsSync(cachePath)) return BPETokenizer.fromJSON(readFileSync(cachePath, 'utf8'));
  const sample: string[] = [];
  for (const d of DOMAINS) {
    let used = 0;
    for (const doc of trainDocs) {
      if (doc.domain !== d || used >= SAMPLE) continue;
      sample.push(doc.text);
      used += doc.text.length;
    }
  }
  const t = performance.now();
  const tok = BPETokenizer.train(sample, { vocabSize: VOCAB, specialTokens: ['<eos>'] });
  console.log(`trained a ${VOCAB}-token BPE on ${(sample.reduce((a, s) => a + s.length, 0) / 1000).toFixed(0)} kB in ${((performance.now() - t) / 1000).toFixed(1)}s (cached at ${cachePath})`);
  await writeFileAtomic(cachePath, JSON.stringify(tok.toJSON()));
  return tok;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
