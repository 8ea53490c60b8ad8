// Vega-Lite specs of the report's figures (rendered to SVG + PNG by nn/node/plot) and the writer of
// report.json + plots.
import { join } from 'node:path';
import { writeFileAtomic, writePlot } from '../../nn/node/index.js';
import type { ModelName, Report, Stat } from './run.js';
import type { TaskName } from './tasks.js';

const FONT = { font: 'DejaVu Sans, Helvetica, Arial, sans-serif' };
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Exact-match accuracy vs N per model, one panel per task (seed means as lines, seeds as points). */
export function accuracyVsNSpec(report: Report): Record<string, unknown> {
  const means: Record<string, unknown>[] = [];
  const seeds: Record<string, unknown>[] = [];
  for (const [model, tasks] of Object.entries(report.fewShot)) {
    for (const [task, byN] of Object.entries(tasks!)) {
      for (const [n, r] of Object.entries(byN)) {
        means.push({ model, task, n: Number(n), accuracy: r.accuracy.mean });
        r.accuracy.perSeed.forEach((a, s) => seeds.push({ model, task, n: Number(n), accuracy: a, seed: s }));
      }
    }
  }
  const models = Object.keys(report.fewShot);
  const color = { field: 'model', type: 'nominal', sort: models, scale: { scheme: 'tableau10' } };
  const x = { field: 'n', type: 'quantitative', title: 'training examples N', scale: { type: 'log', nice: false } };
  return {
    $schema: SCHEMA,
    title: 'few-shot exact match vs N (greedy, EOS included)',
    background: 'white',
    padding: 12,
    facet: { column: { field: 'task', type: 'nominal', title: null } },
    data: { values: [...means.map((v) => ({ ...v, kind: 'mean' })), ...seeds.map((v) => ({ ...v, kind: 'seed' }))] },
    spec: {
      width: 260,
      height: 220,
      layer: [
        { transform: [{ filter: "datum.kind === 'mean'" }], mark: { type: 'line', point: true }, encoding: { x, y: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, title: 'exact match' }, color } },
        { transform: [{ filter: "datum.kind === 'seed'" }], mark: { type: 'point', opacity: 0.5, size: 20 }, encoding: { x, y: { field: 'accuracy', type: 'quantitative' }, color } },
      ],
    },
    config: FONT,
  };
}

/** Per encoder head: attention mass from sentence tokens to the rule prefix, and its look-up score (STEP model, seed mean). */
export function prefixAttentionSpec(report: Report): Record<string, unknown> {
  const a = report.headAblation!;
  const lookup = new Set(a.lookupHeads.flat().map(([l, h]) => `L${l}H${h}`));
  const values = a.prefixMass.flatMap((row, l) =>
    row.flatMap((mass, h) => [
      { head: `L${l}H${h}`, measure: 'attention mass on the prefix', value: mass, lookup: lookup.has(`L${l}H${h}`) },
      { head: `L${l}H${h}`, measure: "argmax on the token's own rule (look-up score)", value: a.lookupScore[l][h], lookup: lookup.has(`L${l}H${h}`) },
    ]),
  );
  return {
    $schema: SCHEMA,
    title: 'STEP encoder: attention from sentence tokens to the rule prefix, per head (seed mean)',
    background: 'white',
    padding: 12,
    data: { values },
    width: 420,
    height: 220,
    mark: 'bar',
    encoding: {
      x: { field: 'head', type: 'nominal', title: 'encoder layer / head' },
      xOffset: { field: 'measure' },
      y: { field: 'value', type: 'quantitative', scale: { domain: [0, 1] }, title: null },
      color: { field: 'measure', type: 'nominal', title: null, legend: { orient: 'bottom' } },
      opacity: { condition: { test: 'datum.lookup', value: 1 }, value: 0.55 },
    },
    config: FONT,
  };
}

/** Hit rate per label and head (STEP model, seed mean). */
export function hitRateSpec(report: Report): Record<string, unknown> {
  const a = report.headAblation!;
  const values = Object.entries(a.hitRate).flatMap(([label, m]) => m.flatMap((row, l) => row.map((v, h) => ({ label, head: `L${l}H${h}`, rate: v }))));
  return {
    $schema: SCHEMA,
    title: "share of tokens whose argmax attention is their own label's rule",
    background: 'white',
    padding: 12,
    data: { values },
    width: 320,
    height: 200,
    layer: [
      { mark: 'rect', encoding: { x: { field: 'head', type: 'nominal' }, y: { field: 'label', type: 'nominal' }, color: { field: 'rate', type: 'quantitative', scale: { scheme: 'viridis', domain: [0, 1] } } } },
      { mark: { type: 'text', fontSize: 9 }, encoding: { x: { field: 'head', type: 'nominal' }, y: { field: 'label', type: 'nominal' }, text: { field: 'rate', type: 'quantitative', format: '.2f' }, color: { condition: { test: 'datum.rate > 0.5', value: 'black' }, value: 'white' } } },
    ],
    config: FONT,
  };
}

/** Pre-training loss curves (seed mean) per arm: training loss (solid), dev loss (dashed), the dev targets' unigram level (dotted). */
export function pretrainCurveSpec(report: Report): Record<string, unknown> {
  const values = Object.entries(report.pretrain).flatMap(([arm, r]) => [
    ...r!.curve.map((p) => ({ arm, curve: 'train', step: p.step, loss: p.loss })),
    ...(r!.devCurve ?? []).map((p) => ({ arm, curve: 'dev', step: p.step, loss: p.loss })),
    { arm, curve: 'unigram (dev targets)', step: 0, loss: r!.unigramLoss.mean },
    { arm, curve: 'unigram (dev targets)', step: Math.max(...r!.stepsRun.perSeed), loss: r!.unigramLoss.mean },
  ]);
  return {
    $schema: SCHEMA,
    title: 'pre-training loss (nats/token, seed mean)',
    background: 'white',
    padding: 12,
    data: { values },
    width: 420,
    height: 220,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'step', type: 'quantitative' },
      y: { field: 'loss', type: 'quantitative', scale: { type: 'log' } },
      color: { field: 'arm', type: 'nominal' },
      strokeDash: { field: 'curve', type: 'nominal', sort: ['train', 'dev', 'unigram (dev targets)'], scale: { range: [[1, 0], [6, 3], [1, 3]] } },
      detail: { field: 'curve' },
    },
    config: FONT,
  };
}

/** report.json (atomic) and the figures under `dir`; returns the written paths. */
export async function writeArtifacts(report: Report, dir: string): Promise<string[]> {
  const paths = [join(dir, 'report.json')];
  await writeFileAtomic(paths[0], JSON.stringify(report, null, 1));
  const specs: [string, Record<string, unknown>][] = [['accuracy-vs-n', accuracyVsNSpec(report)], ['pretrain-loss', pretrainCurveSpec(report)]];
  if (report.headAblation) specs.push(['prefix-attention', prefixAttentionSpec(report)], ['lookup-hit-rate', hitRateSpec(report)]);
  for (const [name, spec] of specs) {
    const p = await writePlot(spec, join(dir, name));
    paths.push(p.svg, p.png);
  }
  return paths;
}

const f = (s: Stat | undefined, d = 3) => (s ? `${s.mean.toFixed(d)} [${s.perSeed.map((v) => v.toFixed(d)).join(' ')}]` : '-');

/** Pre-training, few-shot, generalisation and ablation numbers, one line each. */
export function summaryTable(report: Report): string {
  const rows: string[][] = [['', 'metric', 'value']];
  for (const [arm, r] of Object.entries(report.pretrain)) {
    rows.push([`pre-train ${arm}`, 'train / dev (best step) / unigram loss', `${r!.trainLoss.mean.toFixed(3)} / ${r!.devLoss.mean.toFixed(3)} / ${r!.unigramLoss.mean.toFixed(3)}`]);
    rows.push([`pre-train ${arm}`, 'dev exact match', f(r!.devExactMatch)]);
    rows.push([`pre-train ${arm}`, `best dev step (kept) / steps run (cap ${report.config.pretrain.steps})`, `${f(r!.bestStep, 0)} / ${f(r!.stepsRun, 0)}`]);
  }
  for (const [model, tasks] of Object.entries(report.fewShot)) {
    for (const [task, byN] of Object.entries(tasks!)) {
      for (const [n, r] of Object.entries(byN)) {
        rows.push([`${model} ${task} N=${n}`, 'exact match', f(r.accuracy)]);
        rows.push([`${model} ${task} N=${n}`, 'test loss', f(r.testLoss)]);
        if (r.chunkF1) rows.push([`${model} ${task} N=${n}`, 'chunk F1', f(r.chunkF1)]);
      }
      const g = report.generalisation[model as ModelName]?.[task as TaskName];
      if (g) rows.push([`${model} ${task}`, 'generalisation exact match', f(g.accuracy)]);
    }
  }
  const a = report.headAblation;
  if (a) {
    rows.push(['ablation', 'dev EM none / look-up heads / random heads', `${f(a.accuracy.none)} / ${f(a.accuracy.lookup)} / ${f(a.accuracy.random)}`]);
    rows.push(['ablation', 'labels looked up (>= 0.5) by the best head', f(a.maxLabelsPerHead, 0)]);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((v, i) => v.padEnd(w[i])).join('  ')).join('\n');
}
