// Vega-Lite specs of the report's figures (rendered to SVG + PNG by nn/node/plot) and the writer of
// report.json + plots.
import { join } from 'node:path';
import { writeFileAtomic, writePlot } from '../../nn/node/index.js';
import type { Arm } from './config.js';
import type { Report } from './run.js';

const FONT = { font: 'DejaVu Sans, Helvetica, Arial, sans-serif' };

/** Expert × domain routing frequency of one layer, one panel per arm (seed mean). */
export function routingHeatmapSpec(report: Report, layer: number): Record<string, unknown> {
  const values = Object.entries(report.arms).flatMap(([arm, a]) =>
    a!.routing.mean[layer].flatMap((row, d) => row.map((v, i) => ({ arm, domain: report.domains[d], expert: `e${i}`, freq: v }))),
  );
  const K = report.config.model.topK, E = report.config.model.numExperts;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `routing frequency per domain, layer ${layer} (uniform ${(K / E).toFixed(2)}; rows sum to ${K})`,
    background: 'white',
    padding: 12,
    data: { values },
    facet: { column: { field: 'arm', type: 'nominal', title: null, sort: Object.keys(report.arms) } },
    spec: {
      width: 200,
      height: 120,
      layer: [
        { mark: 'rect', encoding: { x: { field: 'expert', type: 'nominal' }, y: { field: 'domain', type: 'nominal' }, color: { field: 'freq', type: 'quantitative', scale: { scheme: 'viridis', domain: [0, 1] } } } },
        { mark: { type: 'text', fontSize: 9 }, encoding: { x: { field: 'expert', type: 'nominal' }, y: { field: 'domain', type: 'nominal' }, text: { field: 'freq', type: 'quantitative', format: '.2f' }, color: { condition: { test: 'datum.freq > 0.5', value: 'black' }, value: 'white' } } },
      ],
    },
    config: FONT,
  };
}

/** Held-out loss per domain, grouped by arm (seed means, with per-seed points). */
export function lossByDomainSpec(report: Report): Record<string, unknown> {
  const values = Object.entries(report.arms).flatMap(([arm, a]) => report.domains.map((domain, d) => ({ arm, domain, loss: a!.heldoutLossPerDomain.mean[d] })));
  const all = Object.values(report.arms).flatMap((a) => a!.heldoutLossPerDomain.mean);
  const lo = Math.min(...all), hi = Math.max(...all), pad = Math.max(0.01, (hi - lo) * 0.2);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'held-out loss per domain (nats/token, seed mean)',
    background: 'white',
    padding: 12,
    data: { values },
    width: 480,
    height: 260,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'domain', type: 'nominal' },
      y: { field: 'loss', type: 'quantitative', scale: { domain: [lo - pad, hi + pad] }, title: 'loss' },
      color: { field: 'arm', type: 'nominal', sort: Object.keys(report.arms), scale: { scheme: 'tableau10' } },
    },
    config: FONT,
  };
}

/** MI domain;expert per arm: per-seed points and the mean (bar). */
export function miSpec(report: Report): Record<string, unknown> {
  const arms = Object.keys(report.arms) as Arm[];
  const means = arms.map((arm) => ({ arm, mi: report.arms[arm]!.mi.mean, kind: 'all tokens' }));
  const shared = arms.filter((a) => report.arms[a]!.miShared).map((arm) => ({ arm, mi: report.arms[arm]!.miShared!.mean, kind: 'shared tokens' }));
  const seeds = arms.flatMap((arm) => report.arms[arm]!.mi.perSeed.map((mi, s) => ({ arm, mi, seed: report.config.seeds[s], kind: 'all tokens' })));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `mutual information domain;expert (nats, mean over layers; max ln ${report.domains.length} = ${Math.log(report.domains.length).toFixed(3)})`,
    background: 'white',
    padding: 12,
    width: 360,
    height: 260,
    layer: [
      { data: { values: [...means, ...shared] }, mark: 'bar', encoding: { x: { field: 'arm', type: 'nominal', sort: arms }, xOffset: { field: 'kind' }, y: { field: 'mi', type: 'quantitative', title: 'MI (nats)' }, color: { field: 'kind', type: 'nominal', title: null } } },
      { data: { values: seeds }, mark: { type: 'point', color: 'black', filled: true, size: 30 }, encoding: { x: { field: 'arm', type: 'nominal', sort: arms }, xOffset: { field: 'kind' }, y: { field: 'mi', type: 'quantitative' } } },
    ],
    config: FONT,
  };
}

/** report.json (atomic) and the figures under `dir`; returns the written paths. */
export async function writeArtifacts(report: Report, dir: string): Promise<string[]> {
  const paths = [join(dir, 'report.json')];
  await writeFileAtomic(paths[0], JSON.stringify(report, null, 1));
  const L = Object.values(report.arms)[0]!.routing.mean.length;
  for (let l = 0; l < L; l++) {
    const p = await writePlot(routingHeatmapSpec(report, l), join(dir, `routing-layer${l}`));
    paths.push(p.svg, p.png);
  }
  for (const [name, spec] of [['heldout-loss', lossByDomainSpec(report)], ['mi', miSpec(report)]] as const) {
    const p = await writePlot(spec, join(dir, name));
    paths.push(p.svg, p.png);
  }
  return paths;
}

/** The arms side by side, one line each. */
export function summaryTable(report: Report): string {
  const f = (s: { mean: number; perSeed: number[] } | null, d = 3) => (s ? `${s.mean.toFixed(d)} [${s.perSeed.map((v) => v.toFixed(d)).join(' ')}]` : '-');
  const rows = [['arm', 'MI (nats)', 'MI shared tok.', 'held-out loss', 'imbalance', 'top-k score sum']];
  for (const [arm, a] of Object.entries(report.arms)) rows.push([arm, f(a!.mi), f(a!.miShared), f(a!.heldoutLoss, 4), f(a!.imbalance, 2), f(a!.topkScoreSum)]);
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((v, i) => v.padEnd(w[i])).join('  ')).join('\n');
}
