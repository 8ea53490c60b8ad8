// Vega-Lite specs of the report's figures (rendered to SVG + PNG by nn/node/plot) and the writer of
// report.json + plots.
import { join } from 'node:path';
import { lossCurveSpec } from '../../nn/index.js';
import { writeFileAtomic, writePlot } from '../../nn/node/index.js';
import { ARMS, CALIBRATORS, type Calibrator, type Report, type Stat } from './run.js';

const FONT = { font: 'DejaVu Sans, Helvetica, Arial, sans-serif' };
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const LABEL: Record<Calibrator, string> = { Raw: 'raw', Penalty: 'length penalty', Mean: 'RC-Mean', LWR: 'RC-LWR', LWRPenalty: 'RC-LWR-Penalty' };
const ARM_LABEL = { biased: 'length-biased RM', unbiased: 'unbiased RM' } as const;

/** Reward vs length of seed 0's pooled evaluation responses, raw (with the LOWESS fit) and after RC-LWR; one row per reward model. */
export function rewardVsLengthSpec(report: Report): Record<string, unknown> {
  const values = ARMS.flatMap((arm) =>
    report.scatter[arm].flatMap((p) => [
      { arm: ARM_LABEL[arm], stage: 'raw', kind: 'point', length: p.length, score: p.raw, quality: p.quality },
      { arm: ARM_LABEL[arm], stage: 'raw', kind: 'fit', length: p.length, score: p.bias, quality: p.quality },
      { arm: ARM_LABEL[arm], stage: 'after RC-LWR', kind: 'point', length: p.length, score: p.calibrated, quality: p.quality },
    ]),
  );
  const unit = report.config.lengthUnit === 'chars' ? 'characters' : 'tokens';
  const x = { field: 'length', type: 'quantitative', title: `response length (${unit})` };
  return {
    $schema: SCHEMA,
    title: `reward vs length, seed 0 (line: LOWESS fit b̂, frac ${report.config.calibration.frac}; calibrated scores carry no offset)`,
    background: 'white',
    padding: 12,
    data: { values },
    facet: {
      row: { field: 'arm', type: 'nominal', title: null, sort: Object.values(ARM_LABEL) },
      column: { field: 'stage', type: 'nominal', title: null, sort: ['raw', 'after RC-LWR'] },
    },
    spec: {
      width: 320,
      height: 220,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'point'" }],
          mark: { type: 'circle', size: 12, opacity: 0.6 },
          encoding: { x, y: { field: 'score', type: 'quantitative', title: 'reward' }, color: { field: 'quality', type: 'quantitative', title: 'true quality', scale: { scheme: 'viridis' } } },
        },
        {
          transform: [{ filter: "datum.kind === 'fit'" }],
          mark: { type: 'line', color: 'crimson', strokeWidth: 2.5 },
          encoding: { x, y: { field: 'score', type: 'quantitative' } },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
    config: FONT,
  };
}

/** Accuracy against the true preference per calibrator: all pairs, hard (the better one is shorter) and easy; seed means as bars, seeds as points. */
export function accuracySpec(report: Report): Record<string, unknown> {
  const subsets = [['', 'all pairs'], ['Hard', 'hard (better is shorter)'], ['Easy', 'easy (better is longer)']] as const;
  const rows = ARMS.flatMap((arm) =>
    CALIBRATORS.flatMap((k) =>
      subsets.map(([suffix, subset]) => ({ arm: ARM_LABEL[arm], method: LABEL[k], subset, s: report[arm][`acc${k}${suffix}`] as Stat })),
    ),
  );
  const means = rows.map(({ s, ...r }) => ({ ...r, acc: s.mean, kind: 'mean' }));
  const seeds = rows.flatMap(({ s, ...r }) => s.perSeed.map((acc) => ({ ...r, acc, kind: 'seed' })));
  const lo = Math.min(...seeds.map((v) => v.acc));
  const x = { field: 'method', type: 'nominal', sort: CALIBRATORS.map((k) => LABEL[k]), title: null, axis: { labelAngle: -30 } };
  const y = { field: 'acc', type: 'quantitative', title: 'accuracy vs true preference', scale: { domain: [Math.max(0, Math.floor(lo * 20) / 20 - 0.05), 1] } };
  return {
    $schema: SCHEMA,
    title: `pairwise accuracy per calibration (seed mean; points: ${report.config.seeds.length} seeds)`,
    background: 'white',
    padding: 12,
    data: { values: [...means, ...seeds] },
    facet: { column: { field: 'arm', type: 'nominal', title: null, sort: Object.values(ARM_LABEL) } },
    spec: {
      width: 330,
      height: 240,
      layer: [
        { transform: [{ filter: "datum.kind === 'mean'" }], mark: { type: 'bar', clip: true }, encoding: { x, xOffset: { field: 'subset', sort: subsets.map((s) => s[1]) }, y, color: { field: 'subset', type: 'nominal', title: null, sort: subsets.map((s) => s[1]), legend: { labelLimit: 300 } } } },
        { transform: [{ filter: "datum.kind === 'seed'" }], mark: { type: 'point', color: 'black', filled: true, size: 14 }, encoding: { x, xOffset: { field: 'subset', sort: subsets.map((s) => s[1]) }, y } },
      ],
    },
    config: FONT,
  };
}

/** RC-LWR accuracy against the calibration constant λ and the LOWESS frac. */
export function sweepSpec(report: Report): Record<string, unknown> {
  const panel = (key: 'lambda' | 'frac', title: string) => {
    const values = report.sweeps[key].flatMap((p) => [
      { value: p.value, series: 'biased RM, all pairs', acc: p.biased.accLWR.mean },
      { value: p.value, series: 'biased RM, hard pairs', acc: p.biased.accLWRHard.mean },
      { value: p.value, series: 'unbiased RM, all pairs', acc: p.unbiased.accLWR.mean },
    ]);
    return {
      title,
      width: 300,
      height: 220,
      data: { values },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'value', type: 'quantitative', title: key === 'lambda' ? 'calibration constant λ (0 = raw)' : 'LOWESS frac' },
        y: { field: 'acc', type: 'quantitative', title: 'RC-LWR accuracy (seed mean)', scale: { zero: false } },
        color: { field: 'series', type: 'nominal', title: null, legend: { labelLimit: 300 } },
      },
    };
  };
  const c = report.config.calibration;
  return {
    $schema: SCHEMA,
    background: 'white',
    padding: 12,
    hconcat: [panel('lambda', `RC-LWR vs λ (frac ${c.frac})`), panel('frac', `RC-LWR vs frac (λ ${c.lambda})`)],
    config: FONT,
  };
}

/** Validation BT loss during training (seed mean) beside the annotators' floors and chance. */
export function trainingSpec(report: Report): Record<string, unknown> {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const steps = report.curves.biased.map((p) => p.step);
  const flat = (v: number) => steps.map((step) => ({ step, value: v }));
  const spec = lossCurveSpec(
    [
      ...ARMS.map((arm) => ({ name: `${ARM_LABEL[arm]}: validation`, points: report.curves[arm].map((p) => ({ step: p.step, value: mean(p.valLoss) })) })),
      ...ARMS.map((arm) => ({ name: `${ARM_LABEL[arm]}: annotator floor`, points: flat(report[arm].valLossFloor.mean), dashed: true })),
      { name: 'chance (ln 2)', points: flat(report.chanceLoss), dashed: true },
    ],
    { title: 'Bradley-Terry loss on held-out annotated pairs (seed mean)', yTitle: 'BT loss (nats/pair)', width: 520, height: 300 },
  );
  const config = spec.config as { legend: Record<string, unknown> };
  config.legend = { ...config.legend, labelLimit: 300 };
  return spec;
}

/** report.json (atomic) and the figures under `dir`; returns the written paths. */
export async function writeArtifacts(report: Report, dir: string): Promise<string[]> {
  const paths = [join(dir, 'report.json')];
  await writeFileAtomic(paths[0], JSON.stringify(report, null, 1));
  for (const [name, spec] of [
    ['reward-vs-length', rewardVsLengthSpec(report)],
    ['accuracy', accuracySpec(report)],
    ['sweeps', sweepSpec(report)],
    ['training', trainingSpec(report)],
  ] as const) {
    const p = await writePlot(spec, join(dir, name));
    paths.push(p.svg, p.png);
  }
  return paths;
}

/** The calibrators side by side, one line each. */
export function summaryTable(report: Report): string {
  const f = (s: Stat, d = 3) => `${s.mean.toFixed(d)} [${s.perSeed.map((v) => v.toFixed(d)).join(' ')}]`;
  const { biased: b, unbiased: u } = report;
  const rows = [['calibration', 'biased: acc', 'biased: hard', 'biased: Spearman(len, r)', 'unbiased: acc', 'unbiased: hard']];
  for (const k of CALIBRATORS) rows.push([LABEL[k], f(b[`acc${k}`]), f(b[`acc${k}Hard`]), f(b[`spearmanLen${k}`]), f(u[`acc${k}`]), f(u[`acc${k}Hard`])]);
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((v, i) => v.padEnd(w[i])).join('  '));
  lines.push(
    `RC-Mean coverage: biased ${f(b.meanCoverage, 2)}, unbiased ${f(u.meanCoverage, 2)}; hard share ${f(b.hardShare, 2)}; ${b.evalPairs.mean.toFixed(0)} evaluation pairs`,
    `LOWESS bias error (RMS vs the annotator's β ln c, centred): biased ${f(b.biasError)} of spread ${f(b.biasSpread)}; unbiased ${f(u.biasError)}`,
    `validation BT loss: biased ${f(b.valLoss, 4)} (best step ${b.bestStep.perSeed.join(' ')}; floor ${b.valLossFloor.mean.toFixed(4)}), ` +
      `unbiased ${f(u.valLoss, 4)} (best step ${u.bestStep.perSeed.join(' ')}; floor ${u.valLossFloor.mean.toFixed(4)}); chance ${report.chanceLoss.toFixed(4)}`,
  );
  return lines.join('\n');
}
