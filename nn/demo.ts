// `npm run demo`: a small Transformer language model trained on five domains at once (Brown English,
// TypeScript .d.ts code, German fortunes, arithmetic, Dyck words), small enough to train on lavapipe in
// a few minutes. It prints the validation loss per domain, samples from a prompt per domain, and
// writes runs/demo/{metrics.jsonl, loss.svg, loss.png, tokenizer.json, checkpoint/}.
//
// Environment knobs (for quick runs and bigger machines): DEMO_STEPS (default 300), DEMO_BYTES (bytes
// per domain, default 150000), DEMO_OUT (default runs/demo).
import { create } from 'webgpu';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, type Tensor } from '../engine/index.js';
import {
  AdamW, BPETokenizer, Batcher, LRScheduler, TransformerLM, batchToTensors, clipGradNorm, cosineSchedule, generate, lossCurveSpec,
  saveCheckpoint, splitByDocument, tokenizeDocuments, train, type Document, type MetricRecord, type Series, type TransformerLMConfigInput,
} from './index.js';
import { buildCorpus, jsonlSink, nodeIO, terminalProgress, writeFileAtomic, writePlot, type DomainName } from './node/index.js';

const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const OUT = process.env.DEMO_OUT ?? 'runs/demo';
const STEPS = env('DEMO_STEPS', 300);
const BYTES_PER_DOMAIN = env('DEMO_BYTES', 150_000);
const DOMAINS: DomainName[] = ['en', 'code', 'de', 'arith', 'dyck'];
const VOCAB = 512;
const SEQ = 64;
const BATCH = 8;
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
  const engine = await Engine.create({ gpu: create([]) });
  console.log(`kiln demo: a ${VOCAB}-token BPE Transformer LM on ${DOMAINS.join(', ')} (adapter: ${engine.caps.vendor} ${engine.caps.architecture || engine.caps.description})`);
  engine.manualSeed(SEED);

  // ---------------------------------------------------------------- data
  const docs = buildCorpus({ domains: DOMAINS, bytesPerDomain: BYTES_PER_DOMAIN, seed: SEED });
  const splits = splitByDocument(docs, { train: 0.9, valid: 0.1, test: 0, seed: SEED });
  const tokenizer = await loadOrTrainTokenizer(splits.train);
  const eos = tokenizer.specialId('<eos>');
  const trainTok = tokenizeDocuments(tokenizer, splits.train, eos);
  const validTok = tokenizeDocuments(tokenizer, splits.valid, eos);
  const trainBatches = new Batcher(trainTok, { batchSize: BATCH, seqLen: SEQ, mode: 'mixed', seed: SEED, domains: DOMAINS });
  // Fixed evaluation batches per domain, uploaded once and kept (no re-upload per evaluation).
  const evalSets = DOMAINS.map((domain) => {
    const b = new Batcher(validTok, { batchSize: BATCH, seqLen: SEQ, mode: 'per-domain', shuffle: false, domains: [domain] });
    const batches = Array.from({ length: Math.min(EVAL_BATCHES, Math.ceil(b.batchesPerEpoch)) }, () => {
      const t = batchToTensors(engine, b.next());
      t.domainIds.dispose();
      return { inputs: engine.keep(t.inputs), targets: engine.keep(t.targets) };
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
  const config: TransformerLMConfigInput = { vocabSize: tokenizer.vocabSize, dModel: 64, nLayers: 2, nHeads: 4, maxSeqLen: SEQ, dropout: 0.05 };
  const model = new TransformerLM(engine, config);
  const opt = new AdamW(model.parameters(), { lr: 5e-3, weightDecay: 0.01, betas: [0.9, 0.98] });
  const sched = new LRScheduler(opt, cosineSchedule({ warmupSteps: 20, totalSteps: STEPS, minLr: 0.1 }));
  console.log(`model: ${model.numParameters().toLocaleString('en')} parameters (dModel 64, 2 layers, 4 heads, T ${SEQ}, batch ${BATCH}, ${STEPS} steps)`);

  const step = (_i: number): Tensor => {
    const b = batchToTensors(engine, trainBatches.next());
    const loss = engine.tidy(() => {
      opt.zeroGrad();
      const l = model.loss(b.inputs, b.targets);
      l.backward();
      clipGradNorm(model.parameters(), 1.0).dispose();
      opt.step();
      return l;
    });
    sched.step();
    for (const t of Object.values(b)) t.dispose();
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

  console.log('\nsamples (temperature 0.7, top-k 40)');
  for (const [k, domain] of DOMAINS.entries()) {
    const prompt = PROMPTS[domain];
    const ids = tokenizer.encode(prompt);
    const g = await generate(model, [ids], { maxNewTokens: 40, temperature: 0.7, topK: 40, seed: SEED + k });
    const text = tokenizer.decode(g.tokens[0]).split('<eos>')[0];
    console.log(`  [${domain}] ${JSON.stringify(prompt + text)}`);
  }

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

  for (const s of evalSets) for (const b of s.batches) (b.inputs.dispose(), b.targets.dispose());
  opt.dispose();
  model.dispose();
  engine.destroy();
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
