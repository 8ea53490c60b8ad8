// Render Vega-Lite specs headless: vega-lite compiles the spec to Vega, vega renders it to an SVG
// string without a DOM (renderer 'none' + toSVG), and resvg (Rust, prebuilt per platform through
// optional dependencies, no install script) rasterises the SVG to PNG. Files are written atomically.
// All three are optional peer dependencies, loaded on first use (see peers.ts).
import type { TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from './fs.js';
import { importPeer, loadPeer } from './peers.js';

const PLOT_PEERS = ['vega', 'vega-lite', '@resvg/resvg-js'];

/** A Vega-Lite spec → SVG text. */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const vega = await importPeer<typeof import('vega')>('vega', 'renderSvg() (plots)', PLOT_PEERS);
  const { compile } = await importPeer<typeof import('vega-lite')>('vega-lite', 'renderSvg() (plots)', PLOT_PEERS);
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
  const { Resvg } = loadPeer<typeof import('@resvg/resvg-js')>('@resvg/resvg-js', 'svgToPng() (PNG plots)', PLOT_PEERS);
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
