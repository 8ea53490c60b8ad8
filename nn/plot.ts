// Vega-Lite specs for training curves. Plain JSON objects (no dependency here): nn/node/plot.ts renders
// them to SVG/PNG, and in a browser vega-embed can show the same spec.

export interface Series {
  /** Legend label, e.g. "train" or "val: brown". */
  name: string;
  points: { step: number; value: number }[];
  /** Dashed line (e.g. for the training loss beside per-domain validation lines). */
  dashed?: boolean;
}

export interface CurveOptions {
  title?: string;
  xTitle?: string;
  yTitle?: string;
  /** Logarithmic y axis (default false). */
  logY?: boolean;
  width?: number;
  height?: number;
}

/** A Vega-Lite spec: one line per series, colour by series, points on short series. */
export function lossCurveSpec(series: Series[], options: CurveOptions = {}): Record<string, unknown> {
  const values = series.flatMap((s) =>
    s.points.filter((p) => Number.isFinite(p.value)).map((p) => ({ step: p.step, value: p.value, series: s.name, dashed: !!s.dashed })),
  );
  const names = series.map((s) => s.name);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: options.title ?? 'loss',
    width: options.width ?? 640,
    height: options.height ?? 360,
    background: 'white',
    padding: 12,
    data: { values },
    mark: { type: 'line', point: values.length / Math.max(1, series.length) <= 30, strokeWidth: 2 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: options.xTitle ?? 'step' },
      y: {
        field: 'value',
        type: 'quantitative',
        title: options.yTitle ?? 'loss (nats/token)',
        scale: options.logY ? { type: 'log' } : { zero: false },
      },
      // Keep the legend in the caller's order rather than alphabetical.
      color: { field: 'series', type: 'nominal', title: null, sort: names, scale: { scheme: 'tableau10' } },
      strokeDash: { field: 'dashed', type: 'nominal', legend: null, scale: { domain: [false, true], range: [[1, 0], [6, 4]] } },
    },
    config: { font: 'DejaVu Sans, Helvetica, Arial, sans-serif', legend: { labelFontSize: 12, orient: 'right' }, axis: { labelFontSize: 11, titleFontSize: 12 } },
  };
}
