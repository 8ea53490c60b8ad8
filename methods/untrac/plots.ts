// Vega-Lite specs of the report's figures (rendered to SVG + PNG by nn/node/plot) and the writer of
// report.json + plots.
import { join } from 'node:path';
import { writeFileAtomic, writePlot } from '../../nn/node/index.js';
import { ESTIMATORS } from './config.js';
import type { Report } from './run.js';

const FONT = { font: 'DejaVu Sans, Helvetica, Arial, sans-serif' };
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Estimated vs ground-truth influence, one panel per estimator (each with its own y scale), every (seed, corpus, test set) cell. */
export function scatterSpec(report: Report): Record<string, unknown> {
  const values = report.seeds.flatMap((r) =>
    ESTIMATORS.flatMap((e) => r.groundTruth.flatMap((row, k) => row.map((gt, j) => ({ estimator: e, seed: r.seed, corpus: `c${k}`, test: `base ${j}`, gt, estimate: r.estimates[e][k][j] })))),
  );
  return {
    $schema: SCHEMA,
    title: 'estimated vs ground-truth influence (leave-one-corpus-out Δ test loss, nats/token); all seeds',
    background: 'white',
    padding: 12,
    data: { values },
    facet: { field: 'estimator', type: 'nominal', sort: [...ESTIMATORS], title: null },
    columns: 3,
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 220,
      height: 170,
      mark: { type: 'point', filled: true, size: 40, opacity: 0.8 },
      encoding: {
        x: { field: 'gt', type: 'quantitative', title: 'ground truth' },
        y: { field: 'estimate', type: 'quantitative', title: 'estimate' },
        color: { field: 'test', type: 'nominal', title: 'test set', scale: { scheme: 'tableau10' } },
        shape: { field: 'seed', type: 'nominal' },
        tooltip: [{ field: 'corpus' }, { field: 'test' }, { field: 'seed' }],
      },
    },
    config: FONT,
  };
}

/** Pearson and Spearman per estimator (per-test mean and pooled): bars = seed mean, points = seeds. */
export function correlationSpec(report: Report): Record<string, unknown> {
  const kinds = [
    ['Pearson, per test set', report.pearson], ['Spearman, per test set', report.spearman],
    ['Pearson, pooled', report.pearsonPooled], ['Spearman, pooled', report.spearmanPooled],
  ] as const;
  const bars = kinds.flatMap(([kind, s]) => ESTIMATORS.map((e) => ({ estimator: e, kind, r: s[e].mean })));
  const points = kinds.flatMap(([kind, s]) => ESTIMATORS.flatMap((e) => s[e].perSeed.map((r, i) => ({ estimator: e, kind, r, seed: report.config.seeds[i] }))));
  const x = { field: 'estimator', type: 'nominal', sort: [...ESTIMATORS], title: null };
  return {
    $schema: SCHEMA,
    title: 'correlation with the leave-one-corpus-out ground truth (bars: seed mean; points: seeds)',
    background: 'white',
    padding: 12,
    facet: { column: { field: 'kind', type: 'nominal', title: null, sort: kinds.map(([k]) => k) } },
    data: { values: [...bars.map((b) => ({ ...b, layer: 'mean' })), ...points.map((p) => ({ ...p, layer: 'seed' }))] },
    spec: {
      width: 200,
      height: 220,
      layer: [
        { transform: [{ filter: "datum.layer === 'mean'" }], mark: 'bar', encoding: { x, y: { field: 'r', type: 'quantitative', scale: { domain: [-1, 1] }, title: 'correlation' }, color: { field: 'estimator', type: 'nominal', sort: [...ESTIMATORS], legend: null, scale: { scheme: 'tableau10' } } } },
        { transform: [{ filter: "datum.layer === 'seed'" }], mark: { type: 'point', color: 'black', filled: true, size: 25 }, encoding: { x, y: { field: 'r', type: 'quantitative' } } },
      ],
    },
    config: FONT,
  };
}

/** report.json (atomic) and the figures under `dir`; returns the written paths. */
export async function writeArtifacts(report: Report, dir: string): Promise<string[]> {
  const paths = [join(dir, 'report.json')];
  await writeFileAtomic(paths[0], JSON.stringify(report, null, 1));
  for (const [name, spec] of [['influence-scatter', scatterSpec(report)], ['correlation', correlationSpec(report)]] as const) {
    const p = await writePlot(spec, join(dir, name));
    paths.push(p.svg, p.png);
  }
  return paths;
}

/** One line per estimator: the correlations and top-corpus agreement, seed mean [per seed]. */
export function summaryTable(report: Report): string {
  const f = (s: { mean: number; perSeed: number[] }) => `${s.mean.toFixed(2)} [${s.perSeed.map((v) => v.toFixed(2)).join(' ')}]`;
  const rows = [['estimator', 'Pearson/test', 'Spearman/test', 'Pearson pooled', 'Spearman pooled', 'top corpus']];
  for (const e of ESTIMATORS) rows.push([e, f(report.pearson[e]), f(report.spearman[e]), f(report.pearsonPooled[e]), f(report.spearmanPooled[e]), f(report.topCorpusAgreement[e])]);
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((v, i) => v.padEnd(w[i])).join('  '));
  const noise = report.groundTruthNoise ? `, noise floor ${f(report.groundTruthNoise)}` : '';
  lines.push(`ground truth spread (sd over corpora) ${f(report.groundTruthSpread)}${noise}; θ0 test loss ${f(report.testLoss)} vs unigram ${f(report.unigramLoss)}`);
  return lines.join('\n');
}
