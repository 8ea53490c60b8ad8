// LoRA: a fresh adapter leaves a Linear's output unchanged (B = 0), applyLoRA freezes all but A and B
// and rebinds the parent's fields, merge() folds the update into the weight, and training an adapter
// reduces a small regression loss while the base weights stay untouched.
import { expect } from 'chai';
import type { Engine, Tensor } from '../engine/index.js';
import { AdamW, LoRALinear, Linear, Module, applyLoRA } from '../nn/index.js';
import { assertClose, assertEqualArrays } from './helpers/compare.js';
import { gpuEngine } from './helpers/gpu.js';
import { disposeAll, values } from './helpers/tensors.js';

describe('lora', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  class Block extends Module {
    readonly q: Linear;
    readonly v: Linear;
    readonly head: Linear;
    constructor(e: Engine, d: number) {
      super(e);
      this.q = this.registerModule('q', new Linear(e, d, d));
      this.v = this.registerModule('v', new Linear(e, d, d, { bias: false }));
      this.head = this.registerModule('head', new Linear(e, d, 2));
    }
    forward(x: Tensor): Tensor {
      return this.head.forward(this.q.forward(x).add(this.v.forward(x)));
    }
  }

  it('a fresh LoRALinear computes exactly what its base Linear does', async function () {
    const base = new Linear(engine, 6, 4);
    const x = engine.randn([3, 6]);
    const y0 = engine.noGrad(() => base.forward(x));
    const want = await values(y0);
    const lora = new LoRALinear(engine, base, { r: 2, alpha: 4 });
    expect(lora.scaling).to.equal(2);
    expect(lora.loraA.shape).to.deep.equal([2, 6]);
    expect(lora.loraB.shape).to.deep.equal([4, 2]);
    const y1 = engine.noGrad(() => lora.forward(x));
    assertEqualArrays(await values(y1), want, 'LoRA output with B = 0');
    // A is initialised uniformly within ±1/sqrt(in) and is not all zero.
    const a = await values(lora.loraA);
    expect(Math.max(...a.map(Math.abs))).to.be.within(1e-3, 1 / Math.sqrt(6));
    disposeAll(x, y0, y1);
    lora.dispose();
  });

  it('dropout on the LoRA path acts in training mode only', async function () {
    const lora = new LoRALinear(engine, new Linear(engine, 6, 3), { r: 2, dropout: 0.5 });
    const ones = engine.ones([3, 2]);
    lora.loraB.copy_(ones);
    ones.dispose();
    const x = engine.randn([4, 6]);
    const [trainA, trainB] = engine.noGrad(() => [lora.forward(x), lora.forward(x)]);
    expect(await values(trainA), 'two training passes draw different masks').to.not.deep.equal(await values(trainB));
    lora.eval();
    const [evalA, evalB] = engine.noGrad(() => [lora.forward(x), lora.forward(x)]);
    assertEqualArrays(await values(evalA), await values(evalB), 'eval mode is deterministic');
    disposeAll(x, trainA, trainB, evalA, evalB);
    lora.dispose();
  });

  it('applyLoRA wraps the targets, freezes everything else and reports the trainable count', function () {
    const model = new Block(engine, 8);
    const report = applyLoRA(model, { targets: ['q', 'v'], r: 2, alpha: 4 });
    expect(report.replaced).to.deep.equal(['q', 'v']);
    expect(model.q, 'the parent field points at the wrapper').to.be.instanceOf(LoRALinear);
    expect(model.getSubmodule('v')).to.be.instanceOf(LoRALinear);
    const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
    expect(trainable).to.deep.equal(['q.lora_A', 'q.lora_B', 'v.lora_A', 'v.lora_B']);
    expect(report.trainableParameters).to.equal(2 * 2 * (8 + 8));
    expect(report.totalParameters).to.equal(8 * 8 + 8 + 8 * 8 + 2 * 8 + 2 + 2 * 2 * (8 + 8));
    // Base names are unchanged, so a plain checkpoint still loads (non-strict).
    expect(model.namedParameters().map(([n]) => n)).to.include.members(['q.weight', 'q.bias', 'v.weight', 'head.weight']);
    // A RegExp target, and a clear error when nothing matches.
    const other = new Block(engine, 4);
    expect(applyLoRA(other, { targets: /^(q|head)$/, r: 1 }).replaced).to.deep.equal(['q', 'head']);
    const none = new Block(engine, 4);
    expect(() => applyLoRA(none, { targets: ['nope'], r: 1 })).to.throw(/no Linear submodule matches/);
    for (const m of [model, other, none]) m.dispose();
  });

  it('merge() gives the same outputs with the update folded into the weight', async function () {
    const lora = new LoRALinear(engine, new Linear(engine, 5, 3), { r: 2, alpha: 3 });
    engine.noGrad(() => {
      const b = engine.randn([3, 2]);
      lora.loraB.copy_(b);
      b.dispose();
    });
    const x = engine.randn([4, 5]);
    const before = engine.noGrad(() => lora.forward(x));
    const w0 = await values(lora.weight);
    lora.merge();
    expect(lora.merged).to.equal(true);
    const after = engine.noGrad(() => lora.forward(x));
    assertClose(await values(after), await values(before), { rtol: 1e-5, atol: 1e-5 }, 'merged output');
    // The weight moved by scaling * B A.
    const delta = lora.deltaWeight();
    assertClose(await values(lora.weight), (await values(delta)).map((d, i) => d + w0[i]), { rtol: 1e-6, atol: 1e-6 }, 'W + sBA');
    lora.unmerge();
    assertClose(await values(lora.weight), w0, { rtol: 1e-5, atol: 1e-6 }, 'unmerged weight');
    disposeAll(x, before, after, delta);
    lora.dispose();
  });

  it('training the adapters reduces a regression loss; only A and B change', async function () {
    const d = 8;
    const model = new Block(engine, d);
    // Targets come from the same model with a low-rank change to q's weight.
    const x = engine.keep(engine.randn([32, d]));
    const y = engine.keep(
      engine.noGrad(() =>
        engine.tidy(() => {
          const u = engine.randn([d, 1]).mul(0.5);
          const w = model.q.weight.add(u.matmul(engine.randn([1, d])));
          return model.head.forward(x.matmul(w.mT).add(model.q.bias!).add(model.v.forward(x)));
        }),
      ),
    );
    const { trainableParameters } = applyLoRA(model, { targets: ['q'], r: 2, alpha: 2 });
    expect(trainableParameters).to.equal(2 * (d + d));
    const frozen = await Promise.all(['q.weight', 'q.bias', 'v.weight', 'head.weight'].map((n) => values(model.stateDict()[n])));
    const q = model.q as unknown as LoRALinear;
    const a0 = await values(q.loraA);
    const opt = new AdamW(model.trainableParameters(), { lr: 3e-2, weightDecay: 0 });
    const lossOf = () => model.forward(x).sub(y).square().mean();
    const loss0 = engine.tidy(() => engine.noGrad(lossOf));
    const first = await loss0.item();
    loss0.dispose();
    for (let i = 0; i < 40; i++) {
      engine.tidy(() => lossOf().backward());
      opt.step();
      opt.zeroGrad();
    }
    const lossT = engine.tidy(() => engine.noGrad(lossOf));
    const last = await lossT.item();
    expect(last, `loss ${first} -> ${last}`).to.be.lessThan(first * 0.3);
    const names = ['q.weight', 'q.bias', 'v.weight', 'head.weight'];
    for (const [k, n] of names.entries()) assertEqualArrays(await values(model.stateDict()[n]), frozen[k], `${n} frozen`);
    expect(await values(q.loraA)).to.not.deep.equal(a0);
    expect(Math.max(...(await values(q.loraB)).map(Math.abs))).to.be.greaterThan(0);
    lossT.dispose();
    opt.dispose();
    model.dispose();
    disposeAll(x, y);
  });
});
