// Vega-Lite specs of the report's figures (rendered to SVG + PNG by nn/node/plot) and the writer of
// report.json + plots: accuracy and plan success against the horizon, and the latent × variable R².
import { join } from 'node:path';
import { writeFileAtomic, writePlot } from '../../nn/node/index.js';
import type { Report, Stat } from './run.js';

const FONT = { font: 'DejaVu Sans, Helvetica, Arial, sans-serif' };
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Seed-mean lines with per-seed points of a { model: { horizon: Stat } } table. */
function byHorizonSpec(table: Record<string, Record<string, Stat>>, title: string, yTitle: string): Record<string, unknown> {
  const names = Object.keys(table);
  const means = names.flatMap((model) => Object.entries(table[model]).map(([N, s]) => ({ model, N: Number(N), value: s.mean })));
  const seeds = names.flatMap((model) => Object.entries(table[model]).flatMap(([N, s]) => s.perSeed.map((value, seed) => ({ model, N: Number(N), value, seed }))));
  const color = { field: 'model', type: 'nominal', sort: names, scale: { scheme: 'tableau10' } };
  return {
    $schema: SCHEMA,
    title,
    background: 'white',
    padding: 12,
    width: 420,
    height: 260,
    layer: [
      { data: { values: means }, mark: { type: 'line', point: true }, encoding: { x: { field: 'N', type: 'quantitative', title: 'horizon N (steps)' }, y: { field: 'value', type: 'quantitative', title: yTitle, scale: { domain: [0, 1] } }, color } },
      { data: { values: seeds }, mark: { type: 'point', opacity: 0.4, size: 20 }, encoding: { x: { field: 'N', type: 'quantitative' }, y: { field: 'value', type: 'quantitative' }, color } },
    ],
    config: FONT,
  };
}

export const accuracySpec = (r: Report) => byHorizonSpec(r.nextStateAccuracy, 'causal inference: exact match of all 8 variables after N action texts', 'exact-match accuracy');
export const perVariableSpec = (r: Report) => byHorizonSpec(r.perVariableAccuracy, 'causal inference: per-variable accuracy after N action texts (mean over the 8 variables)', 'per-variable accuracy');
export const planSpec = (r: Report) => byHorizonSpec(r.planSuccess, 'planning: MCTS plans executed in the true simulator reach the goal', 'plan success');

/** Latent × variable R² of one seed (rows: latents matched to variables first). */
export function r2MatrixSpec(r: Report, seedIndex = 0): Record<string, unknown> {
  const m = r.r2Matrix.perSeed[seedIndex];
  const values = m.values.flatMap((row, k) => row.map((v, i) => ({ latent: `z${m.latents[k]}`, variable: r.r2Matrix.variables[i], r2: v })));
  return {
    $schema: SCHEMA,
    title: `R² of each causal variable from one latent (seed ${r.config.seeds[seedIndex]}; diagonal mean ${r.r2Diagonal.perSeed[seedIndex].toFixed(2)})`,
    background: 'white',
    padding: 12,
    width: 300,
    height: 300,
    data: { values },
    layer: [
      { mark: 'rect', encoding: { x: { field: 'variable', type: 'nominal', sort: r.r2Matrix.variables }, y: { field: 'latent', type: 'nominal', sort: m.latents.map((j) => `z${j}`) }, color: { field: 'r2', type: 'quantitative', scale: { scheme: 'viridis', domain: [0, 1] }, title: 'R²' } } },
      { mark: { type: 'text', fontSize: 8 }, encoding: { x: { field: 'variable', type: 'nominal', sort: r.r2Matrix.variables }, y: { field: 'latent', type: 'nominal', sort: m.latents.map((j) => `z${j}`) }, text: { field: 'r2', type: 'quantitative', format: '.2f' }, color: { condition: { test: 'datum.r2 > 0.5', value: 'black' }, value: 'white' } } },
    ],
    config: FONT,
  };
}

/** report.json (atomic) and the figures under `dir`; returns the written paths. */
export async function writeArtifacts(report: Report, dir: string): Promise<string[]> {
  const paths = [join(dir, 'report.json')];
  await writeFileAtomic(paths[0], JSON.stringify(report, null, 1));
  for (const [name, spec] of [['accuracy-vs-horizon', accuracySpec(report)], ['per-variable-accuracy-vs-horizon', perVariableSpec(report)], ['plan-success-vs-horizon', planSpec(report)], ['r2-matrix', r2MatrixSpec(report)]] as const) {
    const p = await writePlot(spec, join(dir, name));
    paths.push(p.svg, p.png);
  }
  return paths;
}

/** One line per model and horizon. */
export function summaryTable(r: Report): string {
  const f = (s: Stat | undefined) => (s ? `${(100 * s.mean).toFixed(1)} [${s.perSeed.map((v) => (100 * v).toFixed(0)).join(' ')}]` : '-');
  const lines = [`R² diagonal ${r.r2Diagonal.mean.toFixed(3)} [${r.r2Diagonal.perSeed.map((v) => v.toFixed(2)).join(' ')}]; mapper accuracy on assigned latents ${f(r.mapperAccuracy.assigned.meanPerVariable)}% (lights ${f(r.mapperAccuracy.assigned.lights)}%), on all latents ${f(r.mapperAccuracy.all.meanPerVariable)}% (lights ${f(r.mapperAccuracy.all.lights)}%)`];
  const table = (title: string, t: Record<string, Record<string, Stat>>) => {
    const Ns = Object.keys(Object.values(t)[0]);
    const rows = [[title, ...Ns.map((N) => `N=${N}`)], ...Object.entries(t).map(([m, byN]) => [m, ...Ns.map((N) => f(byN[N]))])];
    const w = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    return rows.map((row) => row.map((v, i) => v.padEnd(w[i])).join('  ')).join('\n');
  };
  lines.push(table('exact match %', r.nextStateAccuracy), table('per-variable accuracy %', r.perVariableAccuracy), table('plan success %', r.planSuccess));
  lines.push(`held-out paraphrases (N=1 exact %): ${Object.entries(r.heldoutParaphrases).map(([m, h]) => `${m} seen ${f(h.seen)} / held-out ${f(h.heldout)}`).join('; ')}`);
  lines.push(`gap widening (causal − textOnly at N=max minus at N=1): ${r.gapWidening.mean.toFixed(3)} [${r.gapWidening.perSeed.map((v) => v.toFixed(2)).join(' ')}]`);
  return lines.join('\n');
}
