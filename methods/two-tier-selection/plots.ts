// Vega-Lite specs of the report's figures (rendered to SVG + PNG by nn/node/plot), the writer of
// report.json + plots, and the summary table the CLI prints.
import { join } from 'node:path';
import { writeFileAtomic, writePlot } from '../../nn/node/index.js';
import { STRATEGIES, type Report } from './run.js';

const FONT = { font: 'DejaVu Sans, Helvetica, Arial, sans-serif' };
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Accuracy vs average budget per query, one panel per cost setting, one line per strategy (seed means). */
export function budgetSpec(report: Report): Record<string, unknown> {
  const values = Object.entries(report.curves).flatMap(([cost, cv]) =>
    STRATEGIES.flatMap((strategy) => cv.budgets.map((b, i) => ({ cost: `${cost} (c_l = ${report.costs[cost].large.toFixed(1)})`, strategy, budget: (b - report.costs[cost].small) / (report.costs[cost].large - report.costs[cost].small), accuracy: cv[strategy][i] }))),
  );
  return {
    $schema: SCHEMA,
    title: { text: 'accuracy vs budget', subtitle: ['x: (B − c_s) / (c_l − c_s); seed means; margin = the small model\'s label-logit margin cascade'] },
    background: 'white',
    padding: 12,
    data: { values },
    facet: { field: 'cost', type: 'nominal', title: null, columns: 2 },
    spec: {
      width: 300,
      height: 220,
      mark: { type: 'line', strokeWidth: 1.8 },
      encoding: {
        x: { field: 'budget', type: 'quantitative', title: 'budget (share of the range c_s → c_l)' },
        y: { field: 'accuracy', type: 'quantitative', scale: { zero: false }, axis: { format: '%' }, title: 'accuracy' },
        color: { field: 'strategy', type: 'nominal', sort: [...STRATEGIES], scale: { scheme: 'tableau10' } },
        strokeDash: { condition: { test: "datum.strategy === 'random' || datum.strategy === 'oracle'", value: [4, 3] }, value: [1, 0] },
      },
    },
    config: FONT,
  };
}

/** Small-model accuracy per equal-count margin bin. */
export function marginBinSpec(report: Report): Record<string, unknown> {
  return {
    $schema: SCHEMA,
    title: { text: 'small-model accuracy per margin bin', subtitle: [`${report.marginBins.length} equal-count bins of the label-logit margin (top-1 − top-2); seed means`] },
    background: 'white',
    padding: 12,
    width: 420,
    height: 260,
    data: { values: report.marginBins.map((b, i) => ({ bin: i + 1, margin: b.margin, accuracy: b.accuracy })) },
    layer: [
      { mark: { type: 'line', point: true }, encoding: { x: { field: 'margin', type: 'quantitative', title: 'mean margin of the bin (logits)' }, y: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' }, title: 'small-model accuracy' } } },
      { data: { values: [{ y: 0.1 }] }, mark: { type: 'rule', strokeDash: [3, 3], color: 'gray' }, encoding: { y: { field: 'y', type: 'quantitative' } } },
    ],
    config: FONT,
  };
}

export async function writeArtifacts(report: Report, dir: string): Promise<string[]> {
  const paths = [join(dir, 'report.json')];
  await writeFileAtomic(paths[0], JSON.stringify(report, null, 1));
  for (const [name, spec] of [['accuracy-vs-budget', budgetSpec(report)], ['margin-bins', marginBinSpec(report)]] as const) {
    const p = await writePlot(spec, join(dir, name));
    paths.push(p.svg, p.png);
  }
  return paths;
}

/** Strategies × cost settings (AUC, seed mean [per seed]) and the headline statistics. */
export function summaryTable(report: Report): string {
  const names = Object.keys(report.costs);
  const f = (v: number) => v.toFixed(3);
  const rows = [['AUC', ...names.map((n) => `${n} (c_l ${report.costs[n].large.toFixed(1)})`)]];
  for (const k of STRATEGIES) rows.push([k, ...names.map((n) => `${f(report.auc[k][n].mean)} [${report.auc[k][n].perSeed.map(f).join(' ')}]`)]);
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const t = report.marginTercileAccuracy;
  return [
    ...rows.map((r) => r.map((v, i) => v.padEnd(w[i])).join('  ')),
    `accuracy: small ${pct(report.accuracy.small.mean)}, large ${pct(report.accuracy.large.mean)}; small by margin tercile: low ${pct(t.low.mean)}, mid ${pct(t.mid.mean)}, high ${pct(t.high.mean)}`,
    `max cost overrun ${report.maxCostOverrun.mean.toExponential(2)} (≤ 0: within budget); max escalation-rate error ${(report.maxEscalationRateError.mean * 100).toFixed(2)} pp`,
  ].join('\n');
}
