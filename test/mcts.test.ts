// UCT MCTS (nn/mcts.ts) on toy MDPs with known optima: a deceptive two-level tree where the greedy
// first action is wrong, a chain that needs several steps to reach the goal, and the bookkeeping
// (expansions, argument checks); mctsBatched against the searches run one by one.
import { expect } from 'chai';
import { RangeArgumentError } from '../engine/index.js';
import { mcts, mctsBatched, type MCTSChild, type MCTSExpandRequest } from '../nn/index.js';

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

  describe('mctsBatched', function () {
    // Chains with different goals (and so different search trees and expansion counts).
    const chain = (goal: number) => (s: number): MCTSChild<number>[] =>
      [-1, 0, 1].map((d) => {
        const n = Math.min(9, Math.max(0, s + d));
        return { state: n, reward: 1 - Math.abs(goal - n) / 10 + (n === goal ? 1 : 0), terminal: n === goal };
      });
    const goals = [4, 9, 1, 6, 0];
    const roots = [0, 2, 5, 6, 3];
    const options = { iterations: 40, maxDepth: 7, explorationWeight: 1 };

    it('equals the searches run one by one, with one expandBatch call per lockstep round', async function () {
      const alone = [];
      for (let i = 0; i < roots.length; i++) alone.push(await mcts(roots[i], { numActions: 3, expand: chain(goals[i]) }, options));
      const batches: number[] = [];
      const expandBatch = async (reqs: readonly MCTSExpandRequest<number>[]) => {
        batches.push(reqs.length);
        expect(new Set(reqs.map((r) => r.search)).size).to.equal(reqs.length); // one request per waiting search
        return reqs.map((r) => chain(goals[r.search])(r.state));
      };
      const together = await mctsBatched(roots, { numActions: 3, expandBatch }, options);
      expect(together).to.deep.equal(alone);
      const expansions = alone.map((r) => r.expansions);
      expect(batches.length).to.equal(Math.max(...expansions)); // every round serves all unfinished searches
      expect(batches.reduce((a, b) => a + b, 0)).to.equal(expansions.reduce((a, b) => a + b, 0));
      expect(batches[0]).to.equal(roots.length);
      expect(new Set(expansions).size).to.be.greaterThan(1); // the searches finish at different rounds
    });

    it('passes expandBatch errors and wrong result counts to the caller', async function () {
      const failing = () => Promise.reject(new Error('world model failed'));
      await mctsBatched(roots, { numActions: 3, expandBatch: failing }, options).then(
        () => expect.fail('should throw'),
        (e) => expect(String(e)).to.match(/world model failed/),
      );
      await mctsBatched(roots, { numActions: 3, expandBatch: (reqs) => reqs.slice(1).map((r) => chain(0)(r.state)) }, options).then(
        () => expect.fail('should throw'),
        (e) => expect(String(e)).to.match(/mctsBatched: expandBatch returned 4 results for 5 requests/),
      );
    });
  });
});
