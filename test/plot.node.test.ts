// Plots: the Vega-Lite spec, its SVG (vega + vega-lite, headless) and PNG (resvg) renderings.
import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lossCurveSpec } from '../nn/index.js';
import { renderSvg, svgToPng, writePlot } from '../nn/node/index.js';

const series = [
  { name: 'train', points: Array.from({ length: 20 }, (_, i) => ({ step: i * 10, value: 4 / (1 + i / 4) })), dashed: true },
  { name: 'val: brown', points: [0, 50, 100, 150].map((s) => ({ step: s, value: 4.5 - s / 100 })) },
  { name: 'val: dyck', points: [0, 50, 100, 150].map((s) => ({ step: s, value: 3 - s / 80 })) },
];

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Uint8Array): { width: number; height: number } {
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

describe('plot', function () {
  this.timeout(60_000);

  it('builds a Vega-Lite spec with one series per name, in order', function () {
    const spec = lossCurveSpec(series, { title: 'demo' }) as { data: { values: { series: string }[] }; encoding: { color: { sort: string[] } } };
    expect(spec.data.values).to.have.length(28);
    expect(spec.encoding.color.sort).to.deep.equal(['train', 'val: brown', 'val: dyck']);
  });

  it('renders SVG naming every series, and a PNG of plausible size', async function () {
    const svg = await renderSvg(lossCurveSpec(series, { title: 'loss by domain', width: 500, height: 300 }));
    expect(svg.startsWith('<svg')).to.equal(true);
    for (const s of series) expect(svg).to.include(s.name);
    expect(svg).to.include('loss by domain');
    const png = svgToPng(svg, { scale: 2 });
    expect(Array.from(png.subarray(0, 8))).to.deep.equal([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const { width, height } = pngSize(png);
    // 500x300 plot area plus axes, legend and padding, at twice the size.
    expect(width).to.be.within(1000, 2000);
    expect(height).to.be.within(600, 1200);
  });

  it('writes the SVG and PNG files atomically (no temporary files left)', async function () {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-plot-'));
    try {
      const paths = await writePlot(lossCurveSpec(series), join(dir, 'out', 'loss'));
      expect((await readdir(join(dir, 'out'))).sort()).to.deep.equal(['loss.png', 'loss.svg']);
      expect(await readFile(paths.svg, 'utf8')).to.include('val: dyck');
      expect((await readFile(paths.png)).subarray(1, 4).toString()).to.equal('PNG');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
