// UCT Monte-Carlo tree search as in RAP (llm-reasoners' MCTS), for planning with a learned world
// model: every expansion asks the model for all children of a node at once (one batched query), the
// simulation follows the best immediate reward, and each node on the path records the mean reward of
// the rest of the path (cum_reward = mean, Q = max as the official code). Host-side search; the world
// model behind `expand` may run on the GPU. `mctsBatched` runs many searches in lockstep so that one
// world-model query serves the pending expansion of every search (one GPU round trip, not one each).
import { RangeArgumentError } from '../engine/index.js';

export interface MCTSChild<S> {
  state: S;
  /** The reward of taking this action (RAP's fast reward: e.g. the share of the goal met). */
  reward: number;
  /** The goal is met (or the episode ends) in `state`. */
  terminal: boolean;
}

export interface MCTSProblem<S> {
  numActions: number;
  /** The child of `state` under every action 0..numActions-1 (one world-model query for all of them). */
  expand(state: S): Promise<MCTSChild<S>[]> | MCTSChild<S>[];
}

export interface MCTSOptions {
  iterations: number;
  /** Plans are at most this long (nodes at this depth are terminal). */
  maxDepth: number;
  /** w_exp of UCT = Q + w_exp · sqrt(ln N(parent) / max(1, N(node))). */
  explorationWeight: number;
}

interface Node<S> {
  state: S;
  action: number;
  reward: number;
  terminal: boolean;
  depth: number;
  children: Node<S>[] | null;
  cumRewards: number[];
}

export interface MCTSResult {
  /** Action ids from the root. */
  plan: number[];
  /** Mean step reward of the returned plan (-Infinity when the root is terminal). */
  value: number;
  /** World-model queries made (expansions). */
  expansions: number;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Search from `root`; returns the terminal path of the highest mean step reward found in the tree
 * (RAP's "max_reward" output), or, when no explored path reached a terminal node, the path that
 * follows the highest Q from the root.
 */
export async function mcts<S>(root: S, problem: MCTSProblem<S>, options: MCTSOptions): Promise<MCTSResult> {
  const { iterations, maxDepth, explorationWeight: w } = options;
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeArgumentError(`mcts: iterations must be a positive integer, got ${iterations}`);
  if (!Number.isInteger(maxDepth) || maxDepth < 1) throw new RangeArgumentError(`mcts: maxDepth must be a positive integer, got ${maxDepth}`);
  if (!(w >= 0)) throw new RangeArgumentError(`mcts: explorationWeight must be >= 0, got ${w}`);
  const top: Node<S> = { state: root, action: -1, reward: 0, terminal: false, depth: 0, children: null, cumRewards: [] };
  let expansions = 0;
  const isTerminal = (n: Node<S>) => n.terminal || n.depth >= maxDepth;
  const expand = async (n: Node<S>) => {
    const kids = await problem.expand(n.state);
    expansions++;
    if (kids.length !== problem.numActions) throw new RangeArgumentError(`mcts: expand returned ${kids.length} children for ${problem.numActions} actions`);
    n.children = kids.map((c, a) => ({ state: c.state, action: a, reward: c.reward, terminal: c.terminal, depth: n.depth + 1, children: null, cumRewards: [] }));
  };
  // An unvisited child's Q is its immediate reward (RAP: fast_reward until the node has a state).
  const q = (n: Node<S>) => (n.cumRewards.length ? Math.max(...n.cumRewards) : n.reward);
  const uct = (n: Node<S>, parent: Node<S>) => q(n) + w * Math.sqrt(Math.log(Math.max(1, parent.cumRewards.length)) / Math.max(1, n.cumRewards.length));

  for (let it = 0; it < iterations; it++) {
    // Select.
    const path = [top];
    let node = top;
    while (node.children && !isTerminal(node)) {
      const parent = node;
      node = node.children.reduce((b, c) => (uct(c, parent) > uct(b, parent) ? c : b));
      path.push(node);
    }
    // Expand, then simulate by the best immediate reward until a terminal node.
    while (!isTerminal(node)) {
      if (!node.children) await expand(node);
      node = node.children!.reduce((b, c) => (c.reward > b.reward ? c : b));
      path.push(node);
    }
    // Back-propagate: each node records the mean reward of the path below (and including) it.
    const rewards: number[] = [];
    for (let i = path.length - 1; i >= 1; i--) {
      rewards.push(path[i].reward);
      path[i].cumRewards.push(mean(rewards));
    }
    top.cumRewards.push(rewards.length ? mean(rewards) : 0);
  }

  // Output: the explored terminal path with the highest mean step reward.
  let best: { plan: number[]; value: number } = { plan: [], value: -Infinity };
  const dfs = (n: Node<S>, plan: number[], rewards: number[]) => {
    if (n !== top && isTerminal(n)) {
      const v = mean(rewards);
      if (v > best.value || (v === best.value && plan.length < best.plan.length)) best = { plan: plan.slice(), value: v };
      return;
    }
    for (const c of n.children ?? []) if (c.cumRewards.length) dfs(c, [...plan, c.action], [...rewards, c.reward]);
  };
  dfs(top, [], []);
  if (!best.plan.length && !isTerminal(top)) {
    const plan: number[] = [], rewards: number[] = [];
    for (let n = top; n.children && !isTerminal(n); ) {
      n = n.children.reduce((b, c) => (q(c) > q(b) ? c : b));
      plan.push(n.action);
      rewards.push(n.reward);
    }
    best = { plan, value: rewards.length ? mean(rewards) : -Infinity };
  }
  return { ...best, expansions };
}

/** One pending expansion of `mctsBatched`: the node's state and which search (root index) asked. */
export interface MCTSExpandRequest<S> {
  state: S;
  search: number;
}

export interface BatchedMCTSProblem<S> {
  numActions: number;
  /** The children of every requested node (result i for request i), e.g. one batched world-model query. */
  expandBatch(requests: readonly MCTSExpandRequest<S>[]): Promise<MCTSChild<S>[][]> | MCTSChild<S>[][];
}

/**
 * `mcts` from each root, all searches advancing together: whenever every unfinished search is waiting
 * for an expansion, their requests go to `expandBatch` as one batch. Each search sees exactly what
 * `mcts` with a one-node `expand` would see, so the results equal running the searches one by one
 * (when the world model's answer for a node does not depend on what else is in the batch).
 */
export async function mctsBatched<S>(roots: readonly S[], problem: BatchedMCTSProblem<S>, options: MCTSOptions): Promise<MCTSResult[]> {
  type Pending = MCTSExpandRequest<S> & { resolve: (c: MCTSChild<S>[]) => void; reject: (e: unknown) => void };
  let pending: Pending[] = [];
  let active = roots.length;
  const flushIfAllWaiting = () => {
    if (!pending.length || pending.length < active) return;
    const batch = pending;
    pending = [];
    Promise.resolve()
      .then(() => problem.expandBatch(batch.map(({ state, search }) => ({ state, search }))))
      .then((out) => {
        if (out.length !== batch.length) throw new RangeArgumentError(`mctsBatched: expandBatch returned ${out.length} results for ${batch.length} requests`);
        batch.forEach((p, i) => p.resolve(out[i]));
      })
      .catch((e) => batch.forEach((p) => p.reject(e)));
  };
  const search = async (root: S, index: number) => {
    try {
      const expand = (state: S) =>
        new Promise<MCTSChild<S>[]>((resolve, reject) => {
          pending.push({ state, search: index, resolve, reject });
          flushIfAllWaiting();
        });
      return await mcts(root, { numActions: problem.numActions, expand }, options);
    } finally {
      active--;
      flushIfAllWaiting();
    }
  };
  return Promise.all(roots.map(search));
}
