// Render Vega-Lite specs headless: vega-lite compiles the spec to Vega, vega renders it to an SVG
// string without a DOM (renderer 'none' + toSVG), and resvg (Rust, prebuilt per platform through
// optional dependencies, no install script) rasterises the SVG to PNG. Files are written atomically.
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from './fs.js';

/** A Vega-Lite spec → SVG text. */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const compiled = compile(spec as unknown as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG text → PNG bytes, at `scale` times the SVG's size (2 for crisp text). Uses the system's fonts. */
export function svgToPng(svg: string, options: { scale?: number } = {}): Uint8Array {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: options.scale ?? 2 },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  const png = resvg.render().asPng();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/** Write `<base>.svg` and `<base>.png` (atomically); returns their paths. */
export async function writePlot(spec: Record<string, unknown>, base: string, options: { scale?: number } = {}): Promise<{ svg: string; png: string }> {
  const svg = await renderSvg(spec);
  const paths = { svg: `${base}.svg`, png: `${base}.png` };
  await writeFileAtomic(paths.svg, svg);
  await writeFileAtomic(paths.png, svgToPng(svg, options));
  return paths;
}
