// UCT MCTS (nn/mcts.ts) on toy MDPs with known optima: a deceptive two-level tree where the greedy
// first action is wrong, a chain that needs several steps to reach the goal, and the bookkeeping
// (expansions, argument checks).
import { expect } from 'chai';
import { RangeArgumentError } from '../engine/index.js';
import { mcts, type MCTSChild } from '../nn/index.js';

describe('mcts', function () {
  it('finds the optimum of a deceptive depth-2 tree (the greedy first step is wrong) and reports its value', async function () {
    // State = the action path so far. Level 1: action 0 pays 0.6, actions 1 and 2 pay 0.1.
    // Level 2 after action 1, then action 2: reward 1 (the only terminal goal); everything else 0.
    const expand = (path: number[]): MCTSChild<number[]>[] =>
      [0, 1, 2].map((a) => {
        const p = [...path, a];
        const reward = p.length === 1 ? (a === 0 ? 0.6 : 0.1) : p[0] === 1 && a === 2 ? 1 : 0;
        return { state: p, reward, terminal: p.length === 2 && reward === 1 };
      });
    const r = await mcts<number[]>([], { numActions: 3, expand }, { iterations: 60, maxDepth: 2, explorationWeight: 1 });
    expect(r.plan).to.deep.equal([1, 2]);
    expect(r.value).to.be.closeTo((0.1 + 1) / 2, 1e-12); // the best mean step reward of any depth-2 path
    expect(r.expansions).to.be.at.most(1 + 3); // the root and at most the three level-1 nodes
  });

  it('reaches a goal 4 steps along a chain with distance-shaped rewards', async function () {
    // State: position on 0..9; actions −1, 0, +1; reward 1 − |goal − s| / 10, plus 1 at the goal.
    const goal = 4;
    const expand = (s: number): MCTSChild<number>[] =>
      [-1, 0, 1].map((d) => {
        const n = Math.min(9, Math.max(0, s + d));
        return { state: n, reward: 1 - Math.abs(goal - n) / 10 + (n === goal ? 1 : 0), terminal: n === goal };
      });
    const r = await mcts(0, { numActions: 3, expand }, { iterations: 50, maxDepth: 6, explorationWeight: 1 });
    expect(r.plan).to.deep.equal([2, 2, 2, 2]);
  });

  it('checks its options and the number of children', async function () {
    const expand = () => [{ state: 0, reward: 0, terminal: false }];
    await mcts(0, { numActions: 2, expand }, { iterations: 1, maxDepth: 1, explorationWeight: 1 }).then(
      () => expect.fail('should throw'),
      (e) => expect(String(e)).to.match(/mcts: expand returned 1 children for 2 actions/),
    );
    for (const o of [{ iterations: 0, maxDepth: 1, explorationWeight: 1 }, { iterations: 1, maxDepth: 0, explorationWeight: 1 }, { iterations: 1, maxDepth: 1, explorationWeight: -1 }]) {
      await mcts(0, { numActions: 1, expand }, o).then(() => expect.fail('should throw'), (e) => expect(e).to.be.instanceOf(RangeArgumentError));
    }
  });
});
