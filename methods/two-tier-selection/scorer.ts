// The learned baselines' scorer: logistic regression trained on kiln (Linear(F, 1) and
// binaryCrossEntropyWithLogits, AdamW, full batch) to predict "the small model is right" from query
// features. FrugalGPT-like cascade: features with the small model's prediction; HybridLLM/FORC-like
// router: the query features alone. The score is P(small right): low means escalate / route up.
import { binaryCrossEntropyWithLogits, type Engine } from '../../engine/index.js';
import { AdamW, Linear } from '../../nn/index.js';

export interface LogisticFit {
  /** P(y = 1) for each row of `apply`. */
  scores: number[];
  /** Training loss (nats) at the end, and the loss of the constant predictor (the base rate) for comparison. */
  trainLoss: number;
  baseRateLoss: number;
}

export async function fitLogistic(engine: Engine, train: { x: number[][]; y: number[] }, apply: number[][], o: { steps: number; lr: number; weightDecay: number }): Promise<LogisticFit> {
  const n = train.x.length;
  const f = train.x[0]?.length ?? 0;
  if (!n || train.y.length !== n || apply.some((r) => r.length !== f) || train.x.some((r) => r.length !== f)) {
    throw new RangeError(`fitLogistic: expected x (N, F) with N >= 1, y (N) and apply (M, F); got x ${n}×${f}, y ${train.y.length}, apply rows of ${[...new Set(apply.map((r) => r.length))].join('/')}`);
  }
  const layer = new Linear(engine, f, 1);
  const opt = new AdamW(layer.parameters(), { lr: o.lr, weightDecay: o.weightDecay });
  const x = engine.keep(engine.tensor(Float32Array.from(train.x.flat()), [n, f])); // (N, F)
  const y = engine.keep(engine.tensor(Float32Array.from(train.y), [n, 1])); // (N, 1)
  try {
    let last = engine.zeros([]);
    for (let s = 0; s < o.steps; s++) {
      const l = engine.tidy(() => {
        opt.zeroGrad();
        const loss = binaryCrossEntropyWithLogits(layer.forward(x), y);
        loss.backward();
        opt.step();
        return loss.detach();
      });
      last.dispose();
      last = engine.keep(l);
    }
    const trainLoss = await last.item();
    last.dispose();
    const p = engine.noGrad(() => engine.tidy(() => layer.forward(engine.tensor(Float32Array.from(apply.flat()), [apply.length, f])).sigmoid())); // (M, 1)
    const scores = Array.from(await p.data());
    p.dispose();
    const rate = Math.min(1 - 1e-12, Math.max(1e-12, train.y.reduce((a, v) => a + v, 0) / n));
    return { scores, trainLoss, baseRateLoss: -(rate * Math.log(rate) + (1 - rate) * Math.log(1 - rate)) };
  } finally {
    x.dispose();
    y.dispose();
    opt.dispose();
    layer.dispose();
  }
}
