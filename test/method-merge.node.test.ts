// methods/merge.ts: the reports of runs of single seeds merge into the report of all their seeds
// (rebuilt from the union of the per-seed results, sorted by seed), and reports that do not belong
// together (another configuration, a seed twice) are refused.
import { expect } from 'chai';
import { mergeSeedReports } from '../methods/merge.js';

interface Toy {
  config: { seeds: number[]; out: string; steps: number };
  seedResults: { seed: number; loss: number }[];
  meanLoss: number;
  wallSec: number;
}
const build = (config: Toy['config'], seedResults: Toy['seedResults'], wallSec: number): Toy => ({
  config,
  seedResults,
  meanLoss: seedResults.reduce((a, r) => a + r.loss, 0) / seedResults.length,
  wallSec,
});
const part = (seeds: number[], out: string, steps = 10) => build({ seeds, out, steps }, seeds.map((s) => ({ seed: s, loss: s + 1 })), 5 * seeds.length);

describe('method report merging', () => {
  it('equals the report of one run over all the seeds, whatever the order of the parts', () => {
    const all = part([0, 1, 2], 'runs/all');
    const merged = mergeSeedReports('toy', [part([2], 'runs/b'), part([0, 1], 'runs/a')], build);
    expect(merged).to.deep.equal({ ...all, config: { ...all.config, out: 'runs/b' } });
    expect(merged.wallSec).to.equal(15);
  });

  it('refuses no reports, other configurations and repeated seeds', () => {
    expect(() => mergeSeedReports('toy', [], build)).to.throw(/toy mergeReports: no reports/);
    expect(() => mergeSeedReports('toy', [part([0], 'a'), part([1], 'b', 20)], build)).to.throw(/different configurations/);
    expect(() => mergeSeedReports('toy', [part([0, 1], 'a'), part([1], 'b')], build)).to.throw(/seeds 0, 1, 1 repeat/);
  });
});
