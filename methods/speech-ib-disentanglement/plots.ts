// Vega-Lite specs of the report's figures (rendered to SVG + PNG by nn/node/plot), the writer of
// report.json + plots, and the summary table the CLI prints.
import { join } from 'node:path';
import { writeFileAtomic, writePlot } from '../../nn/node/index.js';
import type { Report } from './run.js';

const FONT = { font: 'DejaVu Sans, Helvetica, Arial, sans-serif' };
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

const SERIES = {
  taskAccRaw: 'probe on the raw layer H',
  taskAccAcoustic: 'stage 2 (z_text + z_acoustic)',
  taskAccAcousticOnly: 'probe on z_acoustic',
  taskAccContent: 'probe on z_text',
} as const;

/** Per task: accuracy per layer (four series, seed means with per-seed points) and the CERs per layer. */
export function perLayerSpec(report: Report): Record<string, unknown> {
  const acc: Record<string, unknown>[] = [];
  const cer: Record<string, unknown>[] = [];
  for (const [task, layers] of Object.entries(report.perTask)) {
    for (const [layer, r] of Object.entries(layers!)) {
      for (const [k, name] of Object.entries(SERIES)) {
        const s = r[k as keyof typeof SERIES];
        acc.push({ task, layer: Number(layer), series: name, value: s.mean, lo: Math.min(...s.perSeed), hi: Math.max(...s.perSeed) });
      }
      cer.push({ task, layer: Number(layer), series: 'CTC probe on z_acoustic', value: r.acousticCER.mean, lo: Math.min(...r.acousticCER.perSeed), hi: Math.max(...r.acousticCER.perSeed) });
    }
  }
  const firstTask = Object.keys(report.perTask)[0];
  for (const [layer, r] of Object.entries(report.perTask[firstTask as keyof Report['perTask']]!)) {
    cer.push({ task: 'content (stage 1)', layer: Number(layer), series: 'stage 1 on z_text', value: r.contentCER.mean, lo: Math.min(...r.contentCER.perSeed), hi: Math.max(...r.contentCER.perSeed) });
  }
  const chance = Object.entries(report.chance).filter(([k]) => k !== 'cerAllBlank').map(([task, v]) => ({ task, v }));
  const x = { field: 'layer', type: 'ordinal', title: 'encoder layer' };
  const color = { field: 'series', type: 'nominal', scale: { scheme: 'tableau10' }, title: null };
  return {
    $schema: SCHEMA,
    title: { text: 'textual vs acoustic information per layer', subtitle: [`seed mean (${report.config.seeds.length} seeds), bars: min–max over seeds; dashed: majority-class chance`] },
    background: 'white',
    padding: 12,
    vconcat: [
      {
        data: { values: acc },
        facet: { column: { field: 'task', type: 'nominal', title: null } },
        spec: {
          width: 240, height: 200,
          layer: [
            { mark: { type: 'line', point: true }, encoding: { x, y: { field: 'value', type: 'quantitative', scale: { domain: [0, 1] }, title: 'test accuracy' }, color } },
            { mark: { type: 'rule' }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } },
          ],
        },
        resolve: { scale: { y: 'shared' } },
      },
      {
        data: { values: chance },
        mark: { type: 'text', align: 'left' },
        encoding: { text: { field: 'task' } },
        transform: [{ calculate: "datum.task + ' chance: ' + format(datum.v, '.2f')", as: 'task' }],
        width: 500, height: 14,
      },
      {
        data: { values: cer },
        width: 500, height: 160,
        layer: [
          { mark: { type: 'line', point: true }, encoding: { x, y: { field: 'value', type: 'quantitative', scale: { domain: [0, 1.2] }, title: 'test CER (greedy)' }, color: { field: 'series', type: 'nominal', title: null }, strokeDash: { field: 'task', type: 'nominal', title: 'code / task' } } },
          { mark: { type: 'rule' }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color: { field: 'series', type: 'nominal' } } },
        ],
      },
    ],
    config: FONT,
  };
}

/** Frame-level attribution of one test utterance: the stage-2 attention of both poolers over time, words shaded. */
export function attributionSpec(report: Report): Record<string, unknown> {
  const a = report.attribution;
  const values = a.acoustic.flatMap((w, t) => [{ t, weight: w, pooler: 'acoustic (z_acoustic)' }, { t, weight: a.textual[t], pooler: 'textual (z_text)' }]);
  const words = a.wordFrames.map(([s, e], i) => ({ s, e, word: a.text.split(' ')[i] }));
  return {
    $schema: SCHEMA,
    title: { text: `stage-2 attention over frames: "${a.text}"`, subtitle: [`task ${a.task}, layer ${a.layer}, label ${a.label}, predicted ${a.predicted}; grey: word frames (the rest is silence)`] },
    background: 'white',
    padding: 12,
    width: 560,
    height: 220,
    layer: [
      { data: { values: words }, mark: { type: 'rect', color: '#ddd' }, encoding: { x: { field: 's', type: 'quantitative' }, x2: { field: 'e' } } },
      { data: { values: words }, mark: { type: 'text', dy: -100, fontSize: 11 }, encoding: { x: { field: 's', type: 'quantitative' }, text: { field: 'word' } } },
      { data: { values }, mark: { type: 'line', interpolate: 'step-after' }, encoding: { x: { field: 't', type: 'quantitative', title: 'encoder frame (40 ms)' }, y: { field: 'weight', type: 'quantitative', title: 'attention weight' }, color: { field: 'pooler', type: 'nominal', title: null } } },
    ],
    config: FONT,
  };
}

/** report.json (atomic) and the figures under `dir`; returns the written paths. */
export async function writeArtifacts(report: Report, dir: string): Promise<string[]> {
  const paths = [join(dir, 'report.json')];
  await writeFileAtomic(paths[0], JSON.stringify(report, null, 1));
  for (const [name, spec] of [['per-layer', perLayerSpec(report)], ['attribution', attributionSpec(report)]] as const) {
    const p = await writePlot(spec, join(dir, name));
    paths.push(p.svg, p.png);
  }
  return paths;
}

/** Task × layer table of the seed means, then the IB ablation. */
export function summaryTable(report: Report): string {
  const f = (v: number) => v.toFixed(3);
  const rows = [['task', 'layer', 'contentCER', 'z_ac CER', 'acc raw', 'acc stage2', 'acc z_ac', 'acc z_text', 'text share', 'ac mass']];
  for (const [task, layers] of Object.entries(report.perTask)) {
    for (const [l, r] of Object.entries(layers!)) {
      rows.push([task, l, f(r.contentCER.mean), f(r.acousticCER.mean), f(r.taskAccRaw.mean), f(r.taskAccAcoustic.mean), f(r.taskAccAcousticOnly.mean), f(r.taskAccContent.mean), f(r.textContribution.mean), `${f(r.acousticSpeechMass.mean)} (share ${f(r.speechFrameShare)})`]);
    }
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((v, i) => v.padEnd(w[i])).join('  '));
  const a = report.ibAblation;
  lines.push(`IB ablation (layer ${a.layer}): β ${a.beta}: KL ${f(a.kl.mean)} CER ${f(a.cer.mean)}; fixed β ${a.lowBeta}: KL ${f(a.klLowBeta.mean)} CER ${f(a.cerLowBeta.mean)}`);
  lines.push(`encoder: test CER ${f(report.encoder.testCER)}; chance: ${Object.entries(report.chance).map(([k, v]) => `${k} ${f(v)}`).join(', ')}`);
  return lines.join('\n');
}
