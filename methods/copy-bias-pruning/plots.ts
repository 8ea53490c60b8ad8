// Vega-Lite specs of the report's figures (rendered to SVG + PNG by nn/node/plot), the writer of
// report.json + plots, and the summary table the CLI prints.
import { join } from 'node:path';
import { writeFileAtomic, writePlot } from '../../nn/node/index.js';
import { TASKS, VARIANTS, type Report } from './run.js';

const FONT = { font: 'DejaVu Sans, Helvetica, Arial, sans-serif' };
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const VARIANT_LABEL = { base: 'unpruned', pruned: 'IG-pruned', randomPruned: 'random-pruned' } as const;

/** 4-shot accuracy per task: bars base / IG-pruned / random-pruned (seed mean), per-seed points. */
export function accuracySpec(report: Report): Record<string, unknown> {
  const means = TASKS.flatMap((task) => VARIANTS.map((v) => ({ task, variant: VARIANT_LABEL[v], accuracy: report.iclAccuracy[task][v].mean })));
  const seeds = TASKS.flatMap((task) => VARIANTS.flatMap((v) => report.iclAccuracy[task][v].perSeed.map((accuracy, i) => ({ task, variant: VARIANT_LABEL[v], accuracy, seed: report.config.seeds[i] }))));
  const order = VARIANTS.map((v) => VARIANT_LABEL[v]);
  const x = { field: 'task', type: 'nominal', sort: [...TASKS], title: null, axis: { labelAngle: 0 } };
  const xOffset = { field: 'variant', type: 'nominal', sort: order };
  const color = { field: 'variant', type: 'nominal', sort: order, title: null, scale: { scheme: 'tableau10' } };
  return {
    $schema: SCHEMA,
    title: { text: '4-shot ICL accuracy per task', subtitle: ['vowels = proxy test; vowels…firstVowel: gold not a demo label (a copy is wrong); mixed: F1–F4 unrestricted; lookup: copying is right', 'bars: seed mean; points: seeds'] },
    background: 'white',
    padding: 12,
    width: 560,
    height: 300,
    layer: [
      { data: { values: means }, mark: 'bar', encoding: { x, xOffset, y: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' }, title: 'accuracy' }, color } },
      { data: { values: seeds }, mark: { type: 'point', filled: true, size: 18, color: 'black', opacity: 0.6 }, encoding: { x, xOffset, y: { field: 'accuracy', type: 'quantitative' } } },
    ],
    config: FONT,
  };
}

/** Proxy-test accuracy against the number of globally pruned neurons: IG top-k vs random-k. */
export function curveSpec(report: Report): Record<string, unknown> {
  const values = report.curve.flatMap((p) => [
    ...p.igProxy.perSeed.map((accuracy, i) => ({ k: p.k, selection: 'IG top-k', accuracy, seed: `seed ${report.config.seeds[i]}` })),
    ...p.randomProxy.perSeed.map((accuracy, i) => ({ k: p.k, selection: 'random k', accuracy, seed: `seed ${report.config.seeds[i]}` })),
  ]);
  const means = report.curve.flatMap((p) => [{ k: p.k, selection: 'IG top-k', accuracy: p.igProxy.mean }, { k: p.k, selection: 'random k', accuracy: p.randomProxy.mean }]);
  const x = { field: 'k', type: 'quantitative', scale: { type: 'symlog' }, axis: { values: report.curve.map((p) => p.k) }, title: 'pruned neurons k (symlog scale)' };
  const color = { field: 'selection', type: 'nominal', title: null, sort: ['IG top-k', 'random k'], scale: { scheme: 'tableau10' } };
  return {
    $schema: SCHEMA,
    title: { text: 'proxy-test accuracy vs number of pruned neurons (global top-k)', subtitle: [`4-shot vowel counting, gold not a demo label; lines: seed means, points: seeds; random: ${report.config.prune.randomDraws} draws with the same per-layer counts; k = 0: unpruned`] },
    background: 'white',
    padding: 12,
    width: 480,
    height: 300,
    layer: [
      { data: { values: means }, mark: { type: 'line', point: true, strokeWidth: 2 }, encoding: { x, y: { field: 'accuracy', type: 'quantitative', axis: { format: '%' }, scale: { zero: false }, title: 'accuracy' }, color } },
      { data: { values }, mark: { type: 'point', size: 18, opacity: 0.5 }, encoding: { x, y: { field: 'accuracy', type: 'quantitative' }, color } },
    ],
    config: FONT,
  };
}

/** Accuracy against the number of shots per task (one panel each): base / IG-pruned / random-pruned seed means, per-seed points. */
export function shotsSpec(report: Report): Record<string, unknown> {
  const shots = report.config.evaluation.shots;
  const means = TASKS.flatMap((task) => shots.flatMap((k) => VARIANTS.map((v) => ({ task, shots: k, variant: VARIANT_LABEL[v], accuracy: report.iclAccuracyByShots[task][k][v].mean }))));
  const seeds = TASKS.flatMap((task) => shots.flatMap((k) => report.iclAccuracyByShots[task][k].base.perSeed.map((accuracy, i) => ({ task, shots: k, accuracy, seed: report.config.seeds[i] }))));
  const order = VARIANTS.map((v) => VARIANT_LABEL[v]);
  const x = { field: 'shots', type: 'quantitative', axis: { values: shots, format: 'd' }, scale: { domain: [Math.min(...shots), Math.max(...shots)] }, title: 'shots' };
  const y = { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' }, title: 'accuracy' };
  return {
    $schema: SCHEMA,
    title: { text: 'ICL accuracy vs number of shots', subtitle: ['vowels…firstVowel: gold not a demo label (a copy is wrong); mixed: F1–F4 unrestricted; lookup: copying is right', 'lines: seed means; grey points: the unpruned model per seed'] },
    background: 'white',
    padding: 12,
    data: { values: [...means.map((m) => ({ ...m, kind: 'mean' })), ...seeds.map((m) => ({ ...m, variant: VARIANT_LABEL.base, kind: 'seed' }))] },
    facet: { field: 'task', type: 'nominal', sort: [...TASKS], title: null },
    columns: 3,
    spec: {
      width: 170,
      height: 140,
      layer: [
        { transform: [{ filter: "datum.kind === 'mean'" }], mark: { type: 'line', point: true }, encoding: { x, y, color: { field: 'variant', type: 'nominal', sort: order, title: null, scale: { scheme: 'tableau10' } } } },
        { transform: [{ filter: "datum.kind === 'seed'" }], mark: { type: 'point', filled: true, size: 14, color: 'grey', opacity: 0.6 }, encoding: { x, y } },
      ],
    },
    config: FONT,
  };
}

/** Pretraining: held-out query loss per seed against the step, beside the label-prior (unigram) and uniform (ln 10) baselines. */
export function pretrainSpec(report: Report): Record<string, unknown> {
  const values = report.models.flatMap((m, i) => m.curve.map((p) => ({ step: p.step, loss: p.loss, seed: `seed ${report.config.seeds[i]}` })));
  const unigram = report.models.reduce((a, m) => a + m.unigram.loss, 0) / report.models.length;
  const rules = [{ level: 'label prior (unigram, seed mean)', loss: unigram }, { level: 'uniform (ln 10)', loss: Math.log(10) }];
  const bests = report.models.map((m, i) => ({ step: m.bestStep, loss: m.bestLoss, seed: `seed ${report.config.seeds[i]}` }));
  // Plateau cuts: the checks after which the lr scale fell (older cached logs have no lrScale).
  const cuts = report.models.flatMap((m, i) => m.curve.slice(0, -1).flatMap((q, j) => ((m.curve[j + 1].lrScale ?? 1) < (q.lrScale ?? 1) ? [{ step: q.step, loss: q.loss, seed: `seed ${report.config.seeds[i]}` }] : [])));
  const p = report.config.pretrain;
  const schedule = p.schedule === 'plateau' ? `constant lr cut ×${p.plateauFactor} on held-out plateaus (crosses)` : `${p.schedule} lr`;
  return {
    $schema: SCHEMA,
    title: { text: 'pretraining: held-out query loss', subtitle: [
      `cap ${p.steps} steps × ${p.batchSize} episodes (${schedule}${p.patience ? `, early stop after ${p.patience} checks without improvement` : ''}); cross-entropy of the query label (nats)`,
      `ringed: the best check, whose weights the model keeps (best step ${report.models.map((m) => m.bestStep).join(' / ')})`,
    ] },
    background: 'white',
    padding: 12,
    width: 480,
    height: 280,
    layer: [
      { data: { values }, mark: { type: 'line', point: true }, encoding: { x: { field: 'step', type: 'quantitative', title: 'step' }, y: { field: 'loss', type: 'quantitative', scale: { zero: false }, title: 'held-out query loss (nats)' }, color: { field: 'seed', type: 'nominal', title: null, scale: { scheme: 'tableau10' } } } },
      { data: { values: bests }, mark: { type: 'point', size: 160, strokeWidth: 2, filled: false }, encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'loss', type: 'quantitative' }, color: { field: 'seed', type: 'nominal' } } },
      { data: { values: cuts }, mark: { type: 'point', shape: 'cross', size: 120, filled: true }, encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'loss', type: 'quantitative' }, color: { field: 'seed', type: 'nominal' } } },
      { data: { values: rules }, mark: { type: 'rule', strokeDash: [4, 3], color: 'grey' }, encoding: { y: { field: 'loss', type: 'quantitative' } } },
      { data: { values: rules }, mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: 'grey' }, encoding: { x: { datum: 0 }, y: { field: 'loss', type: 'quantitative' }, text: { field: 'level' } } },
    ],
    config: FONT,
  };
}

/** Histogram of the copying scores (all seeds pooled), stacked by layer, with the selected neurons marked. */
export function scoreSpec(report: Report): Record<string, unknown> {
  const dFF = report.config.model.dFF;
  const chosen = report.prunedNeurons.perSeed.map((s) => new Set(s.neurons.map((n) => n.layer * dFF + n.unit)));
  const values = report.scores.flatMap((scores, seed) => scores.map((score, i) => ({ score, layer: `layer ${Math.floor(i / dFF)}`, pruned: chosen[seed].has(i) ? 'pruned' : 'kept' })));
  return {
    $schema: SCHEMA,
    title: { text: 'copying scores of the FFN neurons', subtitle: ['IG of log Σ p(demo labels) − log p(gold), min–max normalised per prompt, mean over the IG prompts; all seeds pooled', 'dark outline: the pruned neurons'] },
    background: 'white',
    padding: 12,
    width: 520,
    height: 280,
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'score', type: 'quantitative', bin: { maxbins: 40 }, title: 'copying score' },
      y: { aggregate: 'count', type: 'quantitative', title: 'neurons', scale: { type: 'symlog' } },
      color: { field: 'layer', type: 'nominal', title: null, scale: { scheme: 'tableau10' } },
      stroke: { field: 'pruned', type: 'nominal', title: null, scale: { domain: ['kept', 'pruned'], range: ['transparent', 'black'] } },
    },
    config: FONT,
  };
}

/** report.json (atomic) and the figures under `dir`; returns the written paths. */
export async function writeArtifacts(report: Report, dir: string): Promise<string[]> {
  const paths = [join(dir, 'report.json')];
  await writeFileAtomic(paths[0], JSON.stringify(report, null, 1));
  const figures: [string, Record<string, unknown>][] = [['accuracy', accuracySpec(report)], ['scores', scoreSpec(report)], ['pretraining', pretrainSpec(report)]];
  if (report.config.evaluation.shots.length > 1) figures.push(['accuracy-vs-shots', shotsSpec(report)]);
  if (report.curve.length) figures.push(['accuracy-vs-k', curveSpec(report)]);
  for (const [name, spec] of figures) {
    const p = await writePlot(spec, join(dir, name));
    paths.push(p.svg, p.png);
  }
  return paths;
}

/** Tasks × variants (accuracy %, seed mean [per seed]), then copy rates, transfer gains, task vectors and the prune. */
export function summaryTable(report: Report): string {
  const pct = (v: number) => (v * 100).toFixed(1);
  const cell = (s: { mean: number; perSeed: number[] }) => `${pct(s.mean)} [${s.perSeed.map(pct).join(' ')}]`;
  const rows = [['task (4-shot)', ...VARIANTS.map((v) => VARIANT_LABEL[v])]];
  for (const t of TASKS) rows.push([t, ...VARIANTS.map((v) => cell(report.iclAccuracy[t][v]))]);
  rows.push(['proxy copy rate', ...VARIANTS.map((v) => cell(report.copyRate[v]))]);
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((v, i) => v.padEnd(w[i])).join('  '));
  lines.push(`copies among the base model's proxy errors: ${cell(report.copyShareOfErrors.observed)} (chance ${cell(report.copyShareOfErrors.chance)})`);
  lines.push(`transfer gain (F2–F4 mean, pp): IG-pruned ${cell(report.transferGain.pruned)}, random-pruned ${cell(report.transferGain.randomPruned)}`);
  const tv = report.taskVectorAccuracy;
  lines.push(`task-vector accuracy (F1–F4 mean): unpruned ${cell(tv.base)}, pruned ${cell(tv.pruned)}; zero-shot without a vector ${cell(tv.zeroShotBase)} / ${cell(tv.zeroShotPruned)}`);
  lines.push(`pruned neurons: ${report.prunedNeurons.perSeed.map((s) => `${s.scope}${s.layer === null ? '' : ` layer ${s.layer}`} k=${s.k}`).join('; ')}`);
  const shots = report.config.evaluation.shots;
  lines.push(`unpruned accuracy by shots (${shots.join('/')}): ${TASKS.map((t) => `${t} ${shots.map((k) => pct(report.iclAccuracyByShots[t][k].base.mean)).join('/')}`).join(', ')}`);
  const pt = report.pretraining;
  lines.push(`pretraining: held-out query loss at the best check ${pt.heldoutLoss.perSeed.map((v) => v.toFixed(3)).join(' / ')} (label prior ${pt.labelPriorLoss.perSeed.map((v) => v.toFixed(3)).join(' / ')}, uniform ${pt.uniformLoss.toFixed(3)}); ` +
    `best step ${pt.bestStep.perSeed.join(' / ')} of ${pt.stepsRun.perSeed.join(' / ')} run (cap ${pt.stepCap}${pt.stoppedEarly.some((x) => x) ? `; stopped early: ${pt.stoppedEarly.map((x) => (x ? 'yes' : 'no')).join(' / ')}` : ''})`);
  return lines.join('\n');
}
