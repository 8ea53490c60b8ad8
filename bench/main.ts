// `npm run bench -- [--quick] [--filter=…] [--only=…] [--out=FILE.json] [--peers=…] [--profile] [--replot=…]`
// (every flag in ./flags.ts; --help lists them): device ceilings, kiln's kernels and whole steps, with TF.js-WebGPU,
// ONNX Runtime (WebGPU EP) and jax-js on the same adapter. Prints a table; --out writes the rows as
// JSON ({ name, unit, kiln, tfjs?, ort?, jaxjs?, ceiling? }, higher is better) plus FILE.svg/.png.
import { globals } from 'webgpu';
import { dawnGPU } from '../nn/node/gpu.js';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Engine } from '../engine/index.js';
import { measureCeilings } from './ceilings.js';
import { PEERS, formatTable, median, ratio, rowMatcher, tableCells, tableLine, TABLE_HEADER, type Row } from './format.js';
import { benchKernels } from './kernels.js';
import { benchMoE } from './moe.js';
import type { Peer } from './peers/peer.js';
import { benchRouter } from './router.js';
import { benchSteps } from './steps.js';
import { benchMethodSteps, profileMethodSteps } from './method-steps.js';
import { alternateRounds, type TimeOptions } from './timing.js';
import { UsageError } from '../methods/flags.js';
import { benchHelp, parseBenchFlags, type BenchOptions } from './flags.js';

// Every flag is declared in ./flags.ts (`npm run bench -- --help`); a wrong one exits 2 before any work.
let opts: BenchOptions;
try {
  const r = parseBenchFlags(process.argv.slice(2));
  if (r.help) {
    console.log(benchHelp());
    process.exit(0);
  }
  opts = r;
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(e.message);
  process.exit(2);
}

/** Row names the router/moe/attention groups produce, so --filter can skip a whole group. */
const GROUP_NAMES: Record<string, string[]> = {
  router: [8, 64, 256].flatMap((e) => [`router fused E=${e}`, `router composed E=${e}`]),
  moe: [8, 32, 64].flatMap((e) => ['dispatch', 'loop', 'dense'].flatMap((n) => [`moe ${n} E=${e}`, `moe ${n} E=${e} fwd+bwd`])),
  attention: [128, 256, 512, 1024].flatMap((t) => ['fused', 'composed'].flatMap((n) => [`attention ${n} fwd T=${t}`, `attention ${n} fwd+bwd T=${t}`])),
};

/** Rounds of [kiln, peers] for the rows with peers timed in alternation (attention fused fwd, dense train step). */
const PEER_ROUNDS = 3;

async function loadPeers(names: string[], time: TimeOptions, gpu: GPU): Promise<Peer[]> {
  // The peers find WebGPU through navigator.gpu (one Dawn instance shared with kiln); jax-js also
  // reads navigator.userAgent at import.
  Object.assign(globalThis, globals);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'Node.js' }, configurable: true, writable: true });
  const peers: Peer[] = [];
  const loaders: Record<string, () => Promise<Peer>> = {
    tfjs: async () => (await import('./peers/tfjs.js')).createTfjs(time),
    ort: async () => (await import('./peers/ort.js')).createOrt(time),
    jaxjs: async () => (await import('./peers/jaxjs.js')).createJaxjs(time),
  };
  for (const n of names) {
    try {
      peers.push(await loaders[n]());
      console.log(`peer ${n}: loaded`);
    } catch (e) {
      console.log(`peer ${n}: unavailable (${(e as Error).message.split('\n')[0]})`);
    }
  }
  return peers;
}

function plotSpec(rows: Row[], title: string): Record<string, unknown> {
  // kiln/peer ratio per row and peer (log scale; 1 = parity), and % of ceiling where there is one.
  const values = rows.flatMap((r) => [
    ...PEERS.flatMap((p) => {
      const x = ratio(r, p);
      return x === undefined ? [] : [{ row: r.name, series: `kiln / ${p}`, value: x }];
    }),
    ...(r.ceiling ? [{ row: r.name, series: 'kiln / ceiling', value: r.kiln / r.ceiling }] : []),
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    background: 'white',
    padding: 12,
    width: 560,
    height: { step: 16 },
    data: { values },
    // Points, not bars: bars on a log axis have no baseline. The rule marks parity.
    layer: [
      {
        mark: { type: 'point', filled: true, size: 70 },
        encoding: {
          y: { field: 'row', type: 'nominal', sort: rows.map((r) => r.name), title: null, axis: { labelLimit: 320 } },
          x: { field: 'value', type: 'quantitative', scale: { type: 'log' }, title: 'kiln / peer, kiln / ceiling (log; 1 = parity)' },
          color: { field: 'series', type: 'nominal', title: null, scale: { scheme: 'tableau10' } },
          shape: { field: 'series', type: 'nominal', title: null },
        },
      },
      { data: { values: [{ x: 1 }] }, mark: { type: 'rule', color: '#888', strokeDash: [4, 3] }, encoding: { x: { field: 'x', type: 'quantitative' } } },
    ],
    config: { font: 'DejaVu Sans, Helvetica, Arial, sans-serif' },
  };
}

async function main(): Promise<void> {
  const replot = opts.replot;
  if (replot) {
    // --replot=FILE.json: redraw FILE.svg/.png from saved rows (e.g. results copied back from a GPU run).
    const { writePlot } = await import('../nn/node/plot.js');
    const rows = JSON.parse(readFileSync(replot, 'utf8')) as Row[];
    console.log(Object.values(await writePlot(plotSpec(rows, `kiln: ${replot}`), replot.replace(/\.json$/, ''))).join(', '));
    return;
  }
  const { quick, out, only } = opts;
  const want = rowMatcher(opts.filter);
  // --quick leaves out the moe group (its loop and dense baselines take minutes on lavapipe); the
  // MoE LM training step still runs the layer. --only=moe brings it back.
  const group = (g: string) => (only ? (only as string[]).includes(g) : !(quick && g === 'moe'));
  const time: TimeOptions = { samples: 5, sampleMs: quick ? 60 : 300, maxReps: quick ? 20 : 100 };

  // Dawn quantises timestamps unless told not to; the ceilings' probes use them.
  const gpu = dawnGPU(['disable-dawn-features=timestamp_quantization']);
  const engine = await Engine.create({ gpu });
  const c = engine.caps;
  const small = quick || c.isSoftware;
  console.log(`adapter: ${c.vendor} ${c.architecture} ${c.description}${small ? ' (small sizes)' : ''}; f16 ${c.shaderF16}, subgroups ${c.subgroups}, timestamps ${c.timestampQuery}`);

  const rows: Row[] = [];
  const add = (r: Row) => {
    if (!want(r.name)) return;
    rows.push(r);
    console.log(tableLine(tableCells(r)));
  };
  const peerNames: string[] = opts.peers;
  // Peers have rows in the core group, the attention group (fused fwd rows) and the dense train step.
  const peers = ['core', 'attention', 'steps'].some(group) ? await loadPeers(peerNames, time, gpu) : [];

  const ceilings = await measureCeilings(engine.device, { small });
  console.log(`ceilings (${ceilings.timer}): FMA ${ceilings.fmaGflops.toFixed(1)} GFLOP/s, copy ${ceilings.copyGbps.toFixed(2)} GB/s`);
  console.log(tableLine(TABLE_HEADER));
  add({ name: 'ceiling FMA', unit: 'GFLOP/s', kiln: ceilings.fmaGflops, shape: ceilings.timer });
  add({ name: 'ceiling copy', unit: 'GB/s', kiln: ceilings.copyGbps, shape: ceilings.timer });
  add({ name: 'ceiling dispatch in one pass', unit: 'calls/s', kiln: ceilings.dispatchPerSec, shape: 'wall clock' });
  add({ name: 'ceiling submit and wait', unit: 'calls/s', kiln: ceilings.submitPerSec, shape: 'wall clock' });

  if (opts.profile) {
    await profileMethodSteps(engine, want);
    // With --filter only the matching method steps are profiled (the goal rows take minutes on lavapipe).
    const { profileGoals } = await import('./profile.js');
    if (!opts.filter) await profileGoals(engine, time, ceilings.dispatchPerSec);
  }
  const t0 = performance.now();
  if (group('core')) await benchKernels({ engine, peers, ceilings, small, time, want, add });
  console.log(`  (core group: ${((performance.now() - t0) / 1000).toFixed(0)} s)`);

  // The older groups report ms per call (and attention GFLOP/s): keep their names, convert to rates.
  type Legacy = { name: string; shape: string; msPerCall: number; gflops?: number; peakMiB?: number };
  const legacy = (r: Legacy) =>
    add({
      name: r.name,
      shape: r.shape,
      peakMiB: r.peakMiB,
      ...(r.gflops !== undefined ? { unit: 'GFLOP/s', kiln: r.gflops, ceiling: ceilings.fmaGflops } : { unit: 'calls/s', kiln: 1000 / r.msPerCall }),
    });
  const groups: [string, (e: Engine, add: (r: Legacy) => void, o: { small: boolean }) => Promise<void>][] = [
    ['router', benchRouter],
    ['moe', benchMoE],
  ];
  try {
    const mod = (await import('./attention.js')) as { benchAttention?: (typeof groups)[number][1] };
    if (mod.benchAttention) groups.push(['attention', mod.benchAttention]);
  } catch {
    // not finished yet
  }
  for (const [name, run] of groups) {
    if (!group(name) || !GROUP_NAMES[name].some(want)) continue;
    const t0 = performance.now();
    await run(engine, legacy, { small });
    console.log(`  (${name} group: ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  // TF.js's and ORT's unfused causal attention at the fused rows' shapes (B, H, D) = (1, 4, 64). The
  // machine is shared and its load drifts within seconds, so kiln's fused forward is timed again in
  // alternation with the peers, PEER_ROUNDS rounds of [kiln, each peer], and every column of
  // the row is the median of its rounds (kiln's first measurement, in the group, is replaced).
  const attnPeers = peers.filter((p) => p.attention);
  if (attnPeers.length) {
    const { timeFusedForward } = await import('./attention.js');
    for (const r of rows) {
      const m = /^attention fused fwd T=(\d+)$/.exec(r.name);
      if (!m) continue;
      const T = Number(m[1]);
      const gflops = (ms: number) => (4 * 4 * T * T * 64) / ms / 1e6;
      const { kiln, peers: theirs } = await alternateRounds(
        PEER_ROUNDS,
        () => timeFusedForward(engine, T, small),
        attnPeers.map((p) => [`${p.name} attention`, () => p.attention!(1, 4, T, 64)] as const),
      );
      const list = (ms: number[]) => ms.map((x) => gflops(x).toPrecision(3)).join(', ');
      console.log(`  ${r.name} rounds (GFLOP/s): kiln ${list(kiln)}; ${[...theirs].map(([n, ms]) => `${n.split(' ')[0]} ${list(ms)}`).join('; ')}`);
      r.kiln = gflops(median(kiln));
      for (const p of attnPeers) {
        const ms = theirs.get(`${p.name} attention`);
        if (ms?.length) r[p.name] = gflops(median(ms));
      }
      console.log(tableLine(tableCells(r)));
    }
  }
  const t1 = performance.now();
  if (group('steps')) {
    await benchSteps(engine, { small, time, want, add, peers, rounds: PEER_ROUNDS });
    await benchMethodSteps(engine, { time, want, add });
  }
  console.log(`  (steps group: ${((performance.now() - t1) / 1000).toFixed(0)} s)`);

  console.log(`\n${formatTable(rows)}`);
  if (out) {
    const meta = { adapter: { vendor: c.vendor, architecture: c.architecture, description: c.description }, quick, peers: peers.map((p) => p.name), date: new Date().toISOString() };
    mkdirSync(dirname(out) || '.', { recursive: true });
    writeFileSync(`${out}.tmp`, JSON.stringify(rows, null, 2));
    renameSync(`${out}.tmp`, out);
    writeFileSync(out.replace(/\.json$/, '') + '.meta.json', JSON.stringify(meta, null, 2));
    try {
      // Imported here so a machine without vega/resvg still gets the table and JSON.
      const { writePlot } = await import('../nn/node/plot.js');
      const p = await writePlot(plotSpec(rows, `kiln on ${c.description || c.vendor}`), out.replace(/\.json$/, ''));
      console.log(`wrote ${out}, ${p.svg}, ${p.png}`);
    } catch (e) {
      console.log(`wrote ${out} (plot failed: ${(e as Error).message})`);
    }
  }
  for (const p of peers) p.dispose();
  engine.destroy();
}

await main();
