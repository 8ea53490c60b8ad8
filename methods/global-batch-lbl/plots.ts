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
  // The reference levels as horizontal rules, so the losses read against "no structure" and "perfect".
  const lv = report.levels;
  const levels = lv ? [{ level: `domain unigram ${lv.unigram.toFixed(3)}`, loss: lv.unigram }, { level: `entropy floor ${lv.entropyFloor.toFixed(3)}`, loss: lv.entropyFloor }] : [];
  const all = [...Object.values(report.arms).flatMap((a) => a!.heldoutLossPerDomain.mean), ...levels.map((l) => l.loss)];
  const lo = Math.min(...all), hi = Math.max(...all), pad = Math.max(0.01, (hi - lo) * 0.1);
  const y = { field: 'loss', type: 'quantitative', scale: { domain: [lo - pad, hi + pad] }, title: 'loss (nats/token)' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'held-out loss per domain (seed mean), with the unigram level and the entropy floor',
    background: 'white',
    padding: 12,
    width: 480,
    height: 300,
    layer: [
      { data: { values }, mark: { type: 'line', point: true }, encoding: { x: { field: 'domain', type: 'nominal' }, y, color: { field: 'arm', type: 'nominal', sort: Object.keys(report.arms), scale: { scheme: 'tableau10' } } } },
      ...(levels.length ? [{ data: { values: levels }, mark: { type: 'rule', strokeDash: [4, 3], color: 'gray' }, encoding: { y } },
        { data: { values: levels }, mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: 'gray' }, encoding: { y, x: { value: 0 }, text: { field: 'level' } } }] : []),
    ],
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

/** Balance-BSZ sweep: MI (all and shared tokens) and held-out loss against the balance group (seed points, mean line). */
export function sweepSpec(report: Report): Record<string, unknown> {
  const sw = report.balanceSweep ?? [];
  const seeds = report.config.seeds;
  const pts = (metric: string, pick: (b: (typeof sw)[number]) => { mean: number; perSeed: number[] } | null) =>
    sw.flatMap((b) => (pick(b) ? pick(b)!.perSeed.map((v, i) => ({ metric, sequences: b.sequences, value: v, seed: seeds[i], mean: pick(b)!.mean })) : []));
  const values = [...pts('MI, all tokens (nats)', (b) => b.mi), ...pts('MI, shared tokens (nats)', (b) => b.miShared), ...pts('held-out loss (nats/token)', (b) => b.heldoutLoss)];
  const x = { field: 'sequences', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'balance group (sequences)' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `balance-BSZ sweep: f pooled over groups of sequences (${seeds.length} seeds; micro-batches are ${report.config.seqsPerMicroBatch} sequences of one domain)`,
    background: 'white',
    padding: 12,
    data: { values },
    facet: { column: { field: 'metric', type: 'nominal', title: null } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 220,
      height: 200,
      layer: [
        { mark: { type: 'line', point: true }, encoding: { x, y: { field: 'mean', type: 'quantitative', aggregate: 'mean', title: null, scale: { zero: false } } } },
        { mark: { type: 'point', color: 'black', filled: true, size: 20, opacity: 0.6 }, encoding: { x, y: { field: 'value', type: 'quantitative', scale: { zero: false } } } },
      ],
    },
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
  const specs: [string, Record<string, unknown>][] = [['heldout-loss', lossByDomainSpec(report)], ['mi', miSpec(report)]];
  if (report.balanceSweep?.length) specs.push(['balance-sweep', sweepSpec(report)]);
  for (const [name, spec] of specs) {
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
  for (const a of report.alphaSweep ?? []) {
    for (const [arm, x] of Object.entries(a.arms)) rows.push([`${arm} α=${a.alpha}`, f(x!.mi), f(x!.miShared), f(x!.heldoutLoss, 4), f(x!.imbalance, 2), '']);
  }
  for (const b of report.balanceSweep ?? []) rows.push([`group ${b.sequences} seqs`, f(b.mi), f(b.miShared), f(b.heldoutLoss, 4), f(b.imbalance, 2), '']);
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lv = report.levels;
  const levels = lv ? `\nheld-out levels (nats/token): entropy floor ${lv.entropyFloor.toFixed(4)}, domain unigram ${lv.unigram.toFixed(4)}, unigram ${lv.globalUnigram.toFixed(4)}; ${report.trainTokens} training tokens per run` : '';
  return rows.map((r) => r.map((v, i) => v.padEnd(w[i])).join('  ')).join('\n') + levels;
}
