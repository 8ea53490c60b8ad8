// GridWorld-lite (spec §2(d)): a 6×6 grid with three cars in fixed columns that move one cell per step
// (wrapping at the border) unless their traffic light is red or the obstacle stands in the next cell,
// three traffic lights (light k governs car k) and one movable obstacle. Actions intervene on a light
// or on the obstacle; the cars are never intervened on, only driven by their parents. The causal
// vector is (l1, l2, l3, ox, oy, c1y, c2y, c3y). Everything here is CPU data generation.
import type { SeededRng } from '../../nn/index.js';

export const GRID = 6;
/** Fixed car columns and directions (+1: down the image, -1: up). */
export const CAR_X = [0, 2, 4] as const;
export const CAR_DIR = [-1, -1, 1] as const;
export const NUM_CARS = 3;

export const VARIABLES = ['l1', 'l2', 'l3', 'ox', 'oy', 'c1y', 'c2y', 'c3y'] as const;
export type Variable = (typeof VARIABLES)[number];
/** Classes per causal variable: lights are binary (0 red, 1 green), positions 6-way. */
export const VARIABLE_CLASSES = [2, 2, 2, GRID, GRID, GRID, GRID, GRID] as const;
/** Variables a planning goal constrains (the obstacle is ignored, as in the paper). */
export const GOAL_VARIABLES = [0, 1, 2, 5, 6, 7] as const;

/** State as the causal vector: [l1, l2, l3, ox, oy, c1y, c2y, c3y]. */
export type State = number[];

export type Action =
  | { kind: 'toggle'; light: number }
  | { kind: 'move'; dir: 'left' | 'right' | 'up' | 'down' }
  | { kind: 'none' };

/** The 8 actions, in a fixed order (the planner's action ids). */
export const ACTIONS: readonly Action[] = [
  { kind: 'toggle', light: 0 }, { kind: 'toggle', light: 1 }, { kind: 'toggle', light: 2 },
  { kind: 'move', dir: 'left' }, { kind: 'move', dir: 'right' }, { kind: 'move', dir: 'up' }, { kind: 'move', dir: 'down' },
  { kind: 'none' },
];
const DELTA = { left: [-1, 0], right: [1, 0], up: [0, -1], down: [0, 1] } as const;

const wrap = (v: number) => ((v % GRID) + GRID) % GRID;

/** Is cell (x, y) held by a car in `s`? */
function carAt(s: State, x: number, y: number): boolean {
  return CAR_X.some((cx, k) => cx === x && s[5 + k] === y);
}

/** Apply the action (intervention), then move every car one cell unless its light is red or the obstacle is ahead. */
export function step(s: State, a: Action): State {
  if (s.length !== VARIABLES.length) throw new RangeError(`GridWorld step: a state has ${VARIABLES.length} variables, got ${s.length}`);
  const n = s.slice();
  if (a.kind === 'toggle') n[a.light] = 1 - n[a.light];
  else if (a.kind === 'move') {
    const [dx, dy] = DELTA[a.dir];
    const x = n[3] + dx, y = n[4] + dy;
    // Blocked moves (border or a car in the way) are no-ops.
    if (x >= 0 && x < GRID && y >= 0 && y < GRID && !carAt(n, x, y)) [n[3], n[4]] = [x, y];
  }
  for (let k = 0; k < NUM_CARS; k++) {
    if (n[k] === 0) continue; // red light: the car waits
    const y = wrap(n[5 + k] + CAR_DIR[k]);
    if (n[3] === CAR_X[k] && n[4] === y) continue; // the obstacle is in the next cell
    n[5 + k] = y;
  }
  return n;
}

/** A random valid state: the obstacle never shares a cell with a car. */
export function randomState(rng: SeededRng): State {
  const s = [rng.int(2), rng.int(2), rng.int(2), 0, 0, rng.int(GRID), rng.int(GRID), rng.int(GRID)];
  do [s[3], s[4]] = [rng.int(GRID), rng.int(GRID)];
  while (carAt(s, s[3], s[4]));
  return s;
}

/** The behaviour policy of the data: toggle a light 0.4, move the obstacle 0.4, nothing 0.2. */
export function behaviourAction(rng: SeededRng): number {
  const u = rng.next();
  if (u < 0.4) return rng.int(3);
  if (u < 0.8) return 3 + rng.int(4);
  return 7;
}

export interface Episode {
  /** T + 1 states. */
  states: State[];
  /** T action ids (index into ACTIONS); actions[t] leads from states[t] to states[t + 1]. */
  actions: number[];
}

export function episode(rng: SeededRng, steps: number): Episode {
  const states = [randomState(rng)];
  const actions: number[] = [];
  for (let t = 0; t < steps; t++) {
    const a = behaviourAction(rng);
    actions.push(a);
    states.push(step(states[t], ACTIONS[a]));
  }
  return { states, actions };
}

// ------------------------------------------------------------------ renderer

/**
 * Pixels per cell. The image is the 6×6 grid with a light strip (one cell row) above it, and the
 * obstacle's column and row repeated as orange ticks in a bottom row and a right-hand column: each
 * coordinate is then a 1-D sprite like a car's (without the ticks the 2-D obstacle position was not
 * learned within the training budget; see the README).
 */
export const CELL = 2;
export const IMAGE_H = (GRID + 2) * CELL;
export const IMAGE_W = (GRID + 1) * CELL;
export const IMAGE_SIZE = IMAGE_H * IMAGE_W * 3;

const CAR_RGB = [[0.2, 0.4, 1], [1, 0.2, 0.9], [0.1, 0.9, 0.9]];
const OBSTACLE_RGB = [1, 0.55, 0];
const RED = [1, 0, 0], GREEN = [0, 0.8, 0];

/** (IMAGE_H, IMAGE_W, 3) in [0, 1] as a flat row-major array written at `out[offset…]`, plus Gaussian pixel noise. */
export function render(s: State, out: Float32Array, offset = 0, noise = 0, rng?: SeededRng): void {
  const put = (cx: number, cy: number, rgb: readonly number[]) => {
    for (let dy = 0; dy < CELL; dy++) for (let dx = 0; dx < CELL; dx++) {
      const p = offset + ((cy * CELL + dy) * IMAGE_W + cx * CELL + dx) * 3;
      out[p] = rgb[0], out[p + 1] = rgb[1], out[p + 2] = rgb[2];
    }
  };
  out.fill(0, offset, offset + IMAGE_SIZE);
  // The light strip (row 0): light k fills the two cells above its car's column and the next, red or green.
  for (let k = 0; k < NUM_CARS; k++) for (const dx of [0, 1]) put(CAR_X[k] + dx, 0, s[k] ? GREEN : RED);
  for (let k = 0; k < NUM_CARS; k++) put(CAR_X[k], 1 + s[5 + k], CAR_RGB[k]);
  put(s[3], 1 + s[4], OBSTACLE_RGB);
  put(s[3], GRID + 1, OBSTACLE_RGB); // column tick
  put(GRID, 1 + s[4], OBSTACLE_RGB); // row tick
  if (noise > 0) {
    if (!rng) throw new RangeError('GridWorld render: pixel noise needs an rng');
    for (let i = offset; i < offset + IMAGE_SIZE; i += 2) {
      // Box–Muller: two normals per pair of uniforms.
      const r = noise * Math.sqrt(-2 * Math.log(rng.next() || 1e-12)), t = 2 * Math.PI * rng.next();
      out[i] += r * Math.cos(t);
      if (i + 1 < offset + IMAGE_SIZE) out[i + 1] += r * Math.sin(t);
    }
  }
}

// ------------------------------------------------------------------ state text

/** The compact state descriptor of the spec: "L1=G L2=R L3=G O=3,4 C1=2 C2=5 C3=0". */
export function describe(s: State): string {
  const l = (v: number) => (v ? 'G' : 'R');
  return `L1=${l(s[0])} L2=${l(s[1])} L3=${l(s[2])} O=${s[3]},${s[4]} C1=${s[5]} C2=${s[6]} C3=${s[7]}`;
}

const DESCRIPTION = /^L1=([RG]) L2=([RG]) L3=([RG]) O=([0-5]),([0-5]) C1=([0-5]) C2=([0-5]) C3=([0-5])$/;

/** The inverse of describe; throws on text that is not a state description. */
export function parse(text: string): State {
  const m = DESCRIPTION.exec(text);
  if (!m) throw new RangeError(`GridWorld parse: not a state description: "${text}"`);
  return [m[1] === 'G' ? 1 : 0, m[2] === 'G' ? 1 : 0, m[3] === 'G' ? 1 : 0, ...m.slice(4).map(Number)];
}

/** Do `s` and `goal` agree on every goal variable? */
export function meetsGoal(s: State, goal: State): boolean {
  return GOAL_VARIABLES.every((i) => s[i] === goal[i]);
}

/** Share of goal variables `s` matches. */
export function goalFraction(s: State, goal: State): number {
  return GOAL_VARIABLES.filter((i) => s[i] === goal[i]).length / GOAL_VARIABLES.length;
}
