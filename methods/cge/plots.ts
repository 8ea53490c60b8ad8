// Vega-Lite specs of the report's figures (rendered to SVG + PNG by nn/node/plot) and the writer of
// report.json + plots: precision and coverage per procedure, generations per domain, training curves.
import { join } from 'node:path';
import { writeFileAtomic, writePlot } from '../../nn/node/index.js';
import { PROCEDURES, type Report, type Stat } from './run.js';

const FONT = { font: 'DejaVu Sans, Helvetica, Arial, sans-serif' };
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Bars of seed means with per-seed points, one bar per named statistic. */
function barsSpec(title: string, yTitle: string, entries: [string, Stat][], seeds: number[], yMax?: number): Record<string, unknown> {
  const names = entries.map(([n]) => n);
  const means = entries.map(([name, s]) => ({ name, value: s.mean }));
  const points = entries.flatMap(([name, s]) => s.perSeed.map((value, i) => ({ name, value, seed: String(seeds[i]) })));
  const y = { field: 'value', type: 'quantitative', title: yTitle, ...(yMax !== undefined ? { scale: { domain: [0, yMax] } } : {}) };
  return {
    $schema: SCHEMA, title, background: 'white', padding: 12, width: 60 * entries.length + 80, height: 240,
    layer: [
      { data: { values: means }, mark: { type: 'bar', color: '#4c78a8' }, encoding: { x: { field: 'name', type: 'nominal', sort: names, title: null, axis: { labelAngle: -30 } }, y } },
      { data: { values: points }, mark: { type: 'point', filled: true, size: 40 }, encoding: { x: { field: 'name', type: 'nominal', sort: names }, y, color: { field: 'seed', type: 'nominal', scale: { scheme: 'dark2' } } } },
    ],
    config: FONT,
  };
}

export function precisionSpec(r: Report): Record<string, unknown> {
  const p = r.precision;
  return barsSpec(`precision@N: share of generations in a novel domain (known share of fine-tuning: ${(1 - r.config.novelShare).toFixed(2)})`, 'precision', [
    ['θ_ft sample @10', p.ftSample10], ['θ_ft sample @30', p.ftSample30], ['CGE static @10', p.cgeStatic10], ['CGE static @30', p.cgeStatic30],
    ['CGE static sampled @30', p.cgeStaticSample30], ['CGE iterative @10', p.cgeIterative10], ['CGE iterative @30', p.cgeIterative30],
  ], r.config.seeds, 1);
}

export function coverageSpec(r: Report): Record<string, unknown> {
  const c = r.coverage;
  return barsSpec(`coverage@N: distinct novel domains generated (of ${r.novelDomains.length})`, 'novel domains', [
    ['θ_ft sample @30', c.ftSample30], ['CGE static @30', c.cgeStatic30], ['CGE static sampled @30', c.cgeStaticSample30],
    ['CGE iterative @10', c.cgeIterative10], ['CGE iterative @30', c.cgeIterative30],
  ], r.config.seeds, r.novelDomains.length);
}

/** Generations per domain and procedure, summed over seeds; novel domains marked. */
export function examplesPerDomainSpec(r: Report): Record<string, unknown> {
  const novel = new Set(r.novelDomains);
  const values = PROCEDURES.flatMap((p) => r.examplesPerDomain[p].map((count, d) => ({ procedure: p, domain: `${novel.has(d) ? 'novel' : 'known'} d${d}`, count })));
  return {
    $schema: SCHEMA, title: `generations per domain (${r.config.cge.generations} per procedure × ${r.config.seeds.length} seeds)`,
    background: 'white', padding: 12, data: { values }, width: 360, height: 220,
    mark: 'bar',
    encoding: {
      x: { field: 'procedure', type: 'nominal', sort: [...PROCEDURES], title: null, axis: { labelAngle: -20 } },
      y: { field: 'count', type: 'quantitative', stack: 'zero', title: 'generations' },
      color: { field: 'domain', type: 'nominal', scale: { scheme: 'tableau10' } },
    },
    config: FONT,
  };
}

/** Held-out loss during pre-training and fine-tuning per seed, with the optimum and unigram levels. */
export function lossSpec(r: Report): Record<string, unknown> {
  const curves = (['pretrain', 'finetune'] as const).flatMap((phase) =>
    r.losses[phase].curve.flatMap((c, s) => c.filter((p) => p.step > 0).map((p) => ({ phase, seed: String(r.config.seeds[s]), step: p.step, loss: p.loss }))),
  );
  const levels = (['pretrain', 'finetune'] as const).flatMap((phase) => [
    { phase, level: 'optimum (entropy rate)', loss: r.losses[phase].optimal.reduce((a, b) => a + b, 0) / r.losses[phase].optimal.length },
    { phase, level: 'unigram', loss: r.losses[phase].unigram.reduce((a, b) => a + b, 0) / r.losses[phase].unigram.length },
  ]);
  return {
    $schema: SCHEMA, title: 'held-out loss (nats/token): θ_pt on known domains, θ_ft on the fine-tuning mixture', background: 'white', padding: 12,
    facet: { column: { field: 'phase', type: 'nominal', title: null, sort: ['pretrain', 'finetune'] } },
    data: { values: [...curves, ...levels] },
    spec: {
      width: 260, height: 200,
      layer: [
        { transform: [{ filter: 'datum.seed' }], mark: { type: 'line', point: true }, encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'loss', type: 'quantitative', scale: { zero: false } }, color: { field: 'seed', type: 'nominal', scale: { scheme: 'dark2' } } } },
        { transform: [{ filter: 'datum.level' }], mark: { type: 'rule', strokeDash: [4, 3] }, encoding: { y: { field: 'loss', type: 'quantitative' }, strokeWidth: { value: 1 }, opacity: { value: 0.7 }, detail: { field: 'level' } } },
      ],
    },
    resolve: { scale: { y: 'shared' } },
    config: FONT,
  };
}

/** report.json (atomic) and the figures under `dir`; returns the written paths. */
export async function writeArtifacts(report: Report, dir: string): Promise<string[]> {
  const paths = [join(dir, 'report.json')];
  await writeFileAtomic(paths[0], JSON.stringify(report, null, 1));
  for (const [name, spec] of [['precision', precisionSpec(report)], ['coverage', coverageSpec(report)], ['examples-per-domain', examplesPerDomainSpec(report)], ['losses', lossSpec(report)]] as const) {
    const p = await writePlot(spec, join(dir, name));
    paths.push(p.svg, p.png);
  }
  return paths;
}

export function summaryTable(r: Report): string {
  const f = (s: Stat | null | undefined, d = 2) => (s ? `${s.mean.toFixed(d)} [${s.perSeed.map((v) => v.toFixed(d)).join(' ')}]` : '-');
  const rows: string[][] = [['metric', 'seed mean [per seed]']];
  for (const [k, s] of Object.entries(r.precision)) rows.push([`precision.${k}`, f(s)]);
  for (const [k, s] of Object.entries(r.coverage)) rows.push([`coverage.${k}`, f(s)]);
  rows.push(['auroc.cge', f(r.auroc.cge, 3)], ['auroc.ftNll', f(r.auroc.ftNll, 3)]);
  for (const [k, s] of Object.entries(r.validity)) rows.push([`validity.${k}`, f(s)]);
  if (r.ablation) rows.push(['validity sampled α=0', f(r.ablation.validityNoPlausibility)], [`validity sampled α=${r.ablation.alpha}`, f(r.ablation.validityWithPlausibility)]);
  for (const w of r.iterativeLrSweep) rows.push([`iterative lr ${w.lr}: precision@10 / @N`, `${f(w.precision10)} / ${f(w.precisionN)}`], [`iterative lr ${w.lr}: coverage@10 / @N`, `${f(w.coverage10)} / ${f(w.coverageN)}`]);
  rows.push(['held-out loss θ_pt (known)', f(r.losses.pretrain.heldoutKnown, 3)], ['  optimum / unigram', `${r.losses.pretrain.optimal.map((v) => v.toFixed(3)).join(' ')} / ${r.losses.pretrain.unigram.map((v) => v.toFixed(3)).join(' ')}`]);
  rows.push(['held-out loss θ_ft (mixture)', f(r.losses.finetune.heldoutMixture, 3)], ['  optimum / unigram', `${r.losses.finetune.optimal.map((v) => v.toFixed(3)).join(' ')} / ${r.losses.finetune.unigram.map((v) => v.toFixed(3)).join(' ')}`]);
  if (r.dp) for (const [k, s] of Object.entries(r.dp)) rows.push([`dp.${k}`, f(s, k.startsWith('ms') ? 1 : 3)]);
  const w = rows[0].map((_, i) => Math.max(...rows.map((x) => x[i].length)));
  return rows.map((x) => x.map((v, i) => v.padEnd(w[i])).join('  ')).join('\n');
}
