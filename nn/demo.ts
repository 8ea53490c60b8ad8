// `npm run demo`: trains a small MLP classifier on three interleaved spirals with kiln's tensors and
// autograd, then draws the decision regions it learned in the terminal.
// (The language-model demo replaces this once nn/ has its transformer.)
import { create } from 'webgpu';
import { crossEntropy, Engine, type Tensor } from '../engine/index.js';

const CLASSES = 3;
const PER_CLASS = 120;
const HIDDEN = 64;
const STEPS = 600;
const LR = 0.1;
const MOMENTUM = 0.9;

/** Three spirals with a little noise (deterministic): points (N, 2) and labels (N). */
function spirals(): { points: number[]; labels: number[] } {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const points: number[] = [];
  const labels: number[] = [];
  for (let c = 0; c < CLASSES; c++) {
    for (let i = 0; i < PER_CLASS; i++) {
      const r = i / PER_CLASS;
      const t = (c * 2 * Math.PI) / CLASSES + 4 * r + 0.25 * (rand() - 0.5);
      points.push(r * Math.sin(t), r * Math.cos(t));
      labels.push(c);
    }
  }
  return { points, labels };
}

function init(engine: Engine, fanIn: number, fanOut: number): [Tensor, Tensor] {
  const w = engine.keep(engine.randn([fanIn, fanOut], { std: Math.sqrt(2 / fanIn) }).requiresGrad_());
  const b = engine.keep(engine.zeros([fanOut]).requiresGrad_());
  return [w, b];
}

async function main(): Promise<void> {
  const engine = await Engine.create({ gpu: create([]) });
  engine.manualSeed(0);
  const c = engine.caps;
  console.log(`kiln demo on ${c.vendor || 'unknown vendor'} ${c.architecture} ${c.description}${c.isSoftware ? ' (software)' : ''}`);

  const { points, labels } = spirals();
  const n = labels.length;
  const x = engine.keep(engine.tensor(points, [n, 2]));
  const y = engine.keep(engine.tensor(Int32Array.from(labels)));
  const params = [...init(engine, 2, HIDDEN), ...init(engine, HIDDEN, HIDDEN), ...init(engine, HIDDEN, CLASSES)];
  const velocity = params.map((p) => engine.keep(engine.zerosLike(p)));

  const forward = (input: Tensor): Tensor => {
    const [w1, b1, w2, b2, w3, b3] = params;
    const h1 = input.matmul(w1).add(b1).relu();
    const h2 = h1.matmul(w2).add(b2).relu();
    return h2.matmul(w3).add(b3); // (N, CLASSES) logits
  };

  const t0 = performance.now();
  for (let step = 1; step <= STEPS; step++) {
    const loss = engine.tidy(() => {
      const l = crossEntropy(forward(x), y);
      l.backward();
      engine.noGrad(() => {
        params.forEach((p, i) => {
          // SGD with momentum: v = m v + g; p = p - lr v (new tensors; the old ones are freed)
          const v = engine.keep(velocity[i].mul(MOMENTUM).add(p.grad!));
          velocity[i].dispose();
          velocity[i] = v;
          const next = engine.keep(p.sub(v.mul(LR)).requiresGrad_());
          p.dispose();
          params[i] = next;
        });
      });
      return l.detach();
    });
    if (step % 100 === 0 || step === 1) console.log(`step ${String(step).padStart(4)}  loss ${(await loss.item()).toFixed(4)}`);
    loss.dispose();
  }
  await engine.sync();
  const seconds = (performance.now() - t0) / 1000;

  const predicted = engine.noGrad(() => engine.tidy(() => forward(x).argmax(-1)));
  const pred = await predicted.data();
  predicted.dispose();
  const accuracy = labels.filter((l, i) => pred[i] === l).length / n;
  console.log(`trained ${STEPS} steps in ${seconds.toFixed(1)} s; training accuracy ${(100 * accuracy).toFixed(1)} %`);

  // Decision regions on a grid, with the training points drawn over them.
  const W = 64;
  const H = 28;
  const grid: number[] = [];
  for (let r = 0; r < H; r++) for (let q = 0; q < W; q++) grid.push(-1.1 + (2.2 * q) / (W - 1), 1.1 - (2.2 * r) / (H - 1));
  const regions = engine.noGrad(() => engine.tidy(() => forward(engine.tensor(grid, [W * H, 2])).argmax(-1)));
  const cls = await regions.data();
  regions.dispose();
  const canvas = Array.from({ length: H }, (_, r) => Array.from({ length: W }, (_, q) => ' .:'[cls[r * W + q]]));
  for (let i = 0; i < n; i++) {
    const q = Math.round(((points[2 * i] + 1.1) / 2.2) * (W - 1));
    const r = Math.round(((1.1 - points[2 * i + 1]) / 2.2) * (H - 1));
    if (q >= 0 && q < W && r >= 0 && r < H) canvas[r][q] = 'ABC'[labels[i]];
  }
  console.log('\nwhat it learned (regions . : and blank; training points A B C):');
  console.log(canvas.map((row) => `  ${row.join('')}`).join('\n'));
  engine.destroy();
}

await main();
