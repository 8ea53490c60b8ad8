// Vega-Lite specs of the report's figures (rendered to SVG + PNG by nn/node/plot), the writer of
// report.json + plots, and the summary table the CLI prints.
import { join } from 'node:path';
import { writeFileAtomic, writePlot } from '../../nn/node/index.js';
import type { MethodName } from './config.js';
import type { Report } from './run.js';

const FONT = { font: 'DejaVu Sans, Helvetica, Arial, sans-serif' };
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Test exact match against N, one line per method (seed means), per-seed points. */
export function accuracySpec(report: Report): Record<string, unknown> {
  const methods = Object.keys(report.accuracy) as MethodName[];
  const means = methods.flatMap((method) => Object.entries(report.accuracy[method]!).map(([N, s]) => ({ method, N: Number(N), accuracy: s.mean })));
  const seeds = methods.flatMap((method) => Object.entries(report.accuracy[method]!).flatMap(([N, s]) => s.perSeed.map((a, i) => ({ method, N: Number(N), accuracy: a, seed: report.config.seeds[i] }))));
  const color = { field: 'method', type: 'nominal', sort: methods, scale: { scheme: 'tableau10' } };
  const x = { field: 'N', type: 'quantitative', scale: { type: 'log', base: 2 }, axis: { values: report.config.ns }, title: 'training examples N (log scale)' };
  return {
    $schema: SCHEMA,
    title: { text: 'exact match on the shifted test set', subtitle: ['greedy decoding; lines: seed mean, points: seeds'] },
    background: 'white',
    padding: 12,
    width: 520,
    height: 320,
    layer: [
      { data: { values: means }, mark: { type: 'line', point: true, strokeWidth: 2 }, encoding: { x, y: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' }, title: 'exact match' }, color } },
      { data: { values: seeds }, mark: { type: 'point', size: 18, opacity: 0.5 }, encoding: { x, y: { field: 'accuracy', type: 'quantitative' }, color } },
    ],
    config: FONT,
  };
}

/** JoLA's gates, layer × head, one panel per (gate kind, N): seed-mean P(g ≠ 0) with the eval gate value in the text. */
export function gateMapSpec(report: Report): Record<string, unknown> {
  const values = Object.entries(report.gateMaps).flatMap(([N, g]) =>
    (['additive', 'multiplicative'] as const).flatMap((kind) =>
      g.openProb[kind].flatMap((row, l) => row.map((p, h) => ({ N: `N = ${N}`, kind, layer: `layer ${l}`, head: `head ${h}`, p, gate: g.evalGate[kind][l][h] }))),
    ),
  );
  const enc = { x: { field: 'head', type: 'nominal', title: null }, y: { field: 'layer', type: 'nominal', title: null } };
  return {
    $schema: SCHEMA,
    title: { text: 'JoLA gates, layer × head (seed mean)', subtitle: [`colour: P(open) = σ(log α + 0.79); text: eval-mode gate value; λ = ${report.config.jola.lambda}`] },
    background: 'white',
    padding: 12,
    data: { values },
    facet: {
      row: { field: 'kind', type: 'nominal', title: null, sort: ['additive', 'multiplicative'] },
      column: { field: 'N', type: 'nominal', title: null, sort: report.config.ns.map((n) => `N = ${n}`) },
    },
    spec: {
      width: 34 * report.config.model.nHeads,
      height: 26 * report.config.model.nLayers,
      layer: [
        { mark: 'rect', encoding: { ...enc, color: { field: 'p', type: 'quantitative', title: 'P(open)', scale: { scheme: 'viridis', domain: [0, 1] } } } },
        { mark: { type: 'text', fontSize: 9 }, encoding: { ...enc, text: { field: 'gate', type: 'quantitative', format: '.2f' }, color: { condition: { test: 'datum.p > 0.6', value: 'black' }, value: 'white' } } },
      ],
    },
    config: FONT,
  };
}

/** report.json (atomic) and the figures under `dir`; returns the written paths. */
export async function writeArtifacts(report: Report, dir: string): Promise<string[]> {
  const paths = [join(dir, 'report.json')];
  await writeFileAtomic(paths[0], JSON.stringify(report, null, 1));
  const figures: [string, Record<string, unknown>][] = [['accuracy', accuracySpec(report)]];
  if (Object.keys(report.gateMaps).length) figures.push(['gates', gateMapSpec(report)]);
  for (const [name, spec] of figures) {
    const p = await writePlot(spec, join(dir, name));
    paths.push(p.svg, p.png);
  }
  return paths;
}

/** Methods × N (exact match %, seed mean [per seed]), trainable parameters, then JoLA's open gates. */
export function summaryTable(report: Report): string {
  const ns = report.config.ns;
  const pct = (v: number) => (v * 100).toFixed(1);
  const rows = [['method', 'trainable', ...ns.map((n) => `N=${n}`)]];
  for (const [method, byN] of Object.entries(report.accuracy)) {
    const p = report.trainableParams[method as MethodName] ?? 0;
    rows.push([method, `${p} (${((100 * p) / report.baseParams).toFixed(2)}%)`, ...ns.map((n) => `${pct(byN![n].mean)} [${byN![n].perSeed.map(pct).join(' ')}]`)]);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((v, i) => v.padEnd(w[i])).join('  '));
  for (const [N, g] of Object.entries(report.openGates)) {
    lines.push(`JoLA N=${N}: gates with P(open) > 0.5: additive ${pct(g.additive.mean)}%, multiplicative ${pct(g.multiplicative.mean)}%; active at inference (gate > 0): additive ${pct(g.activeAdditive.mean)}%, multiplicative ${pct(g.activeMultiplicative.mean)}%`);
  }
  return lines.join('\n');
}
