// Optimizers: AdamW and SGD against float64 host references of PyTorch's update rules (parameter
// groups with different lr), zeroGrad, state-dict round trips that continue bit-exactly, schedules
// against closed forms, clipGradNorm, no host readback, no leaks, gradient-accumulation equivalence.
import { expect } from 'chai';
import { adamwStep_, foreachSumOfSquares, sgdStep_, type Engine, type KernelCall, type Tensor } from '../engine/index.js';
import {
  AdamW, SGD, Linear, LRScheduler, Module, ReduceLROnPlateau, clipGradNorm, constantSchedule, cosineSchedule, linearSchedule,
  type OptimizerStateDict,
} from '../nn/index.js';
import { assertClose, assertEqualArrays } from './helpers/compare.js';
import { gpuEngine } from './helpers/gpu.js';
import { disposeAll, values } from './helpers/tensors.js';

/** Deterministic host data in [-1, 1). */
function hostData(n: number, seed: number): number[] {
  let s = (seed * 2654435761) >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

const TOL = { rtol: 1e-5, atol: 1e-6 };

interface AdamRefHyper {
  lr: number;
  b1: number;
  b2: number;
  eps: number;
  wd: number;
}

/** torch.optim.AdamW's single-tensor step in float64. */
class AdamRef {
  m: number[];
  v: number[];
  t = 0;
  constructor(public p: number[]) {
    this.m = p.map(() => 0);
    this.v = p.map(() => 0);
  }
  step(g: number[], h: AdamRefHyper): void {
    this.t++;
    const bc1 = 1 - h.b1 ** this.t;
    const bc2 = 1 - h.b2 ** this.t;
    for (let i = 0; i < this.p.length; i++) {
      this.p[i] *= 1 - h.lr * h.wd;
      this.m[i] += (1 - h.b1) * (g[i] - this.m[i]);
      this.v[i] = h.b2 * this.v[i] + (1 - h.b2) * g[i] * g[i];
      const denom = Math.sqrt(this.v[i]) / Math.sqrt(bc2) + h.eps;
      this.p[i] -= (h.lr / bc1) * (this.m[i] / denom);
    }
  }
}

interface SgdRefHyper {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  wd: number;
}

/** torch.optim.SGD's single-tensor step in float64. */
class SgdRef {
  buf: number[] | null = null;
  constructor(public p: number[]) {}
  step(g: number[], h: SgdRefHyper): void {
    let d = g.map((gi, i) => gi + h.wd * this.p[i]);
    if (h.momentum !== 0) {
      this.buf = this.buf === null ? [...d] : this.buf.map((b, i) => h.momentum * b + (1 - h.dampening) * d[i]);
      const buf = this.buf;
      d = h.nesterov ? d.map((di, i) => di + h.momentum * buf[i]) : [...buf];
    }
    this.p = this.p.map((pi, i) => pi - h.lr * d[i]);
  }
}

describe('optim', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  /** Replace a parameter's gradient with host data (as backward would leave it). */
  function setGrad(p: Tensor, data: number[]): void {
    p.grad?.dispose();
    p.grad = engine.keep(engine.tensor(data, [...p.shape]));
  }

  function param(shape: number[], seed: number): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    return engine.keep(engine.tensor(hostData(n, seed), shape).requiresGrad_());
  }

  describe('AdamW', function () {
    it('matches a float64 PyTorch reference over 6 steps with two parameter groups', async function () {
      const a = param([7], 1);
      const b = param([3, 5], 2);
      const c = param([4], 3);
      const opt = new AdamW(
        [
          { params: [a, b], lr: 1e-2 },
          { params: [c], lr: 3e-2, weightDecay: 0.1, betas: [0.8, 0.99] },
        ],
        { eps: 1e-6, weightDecay: 0.05 },
      );
      const h1: AdamRefHyper = { lr: 1e-2, b1: 0.9, b2: 0.999, eps: 1e-6, wd: 0.05 };
      const h2: AdamRefHyper = { lr: 3e-2, b1: 0.8, b2: 0.99, eps: 1e-6, wd: 0.1 };
      const refs = [new AdamRef(await values(a)), new AdamRef(await values(b)), new AdamRef(await values(c))];
      const buffers = [a, b, c].map((p) => p.storage.buffer);
      for (let step = 0; step < 6; step++) {
        [a, b, c].forEach((p, k) => {
          const g = hostData(p.size, 100 + step * 7 + k).map((x) => x * (k + 1));
          setGrad(p, g);
          refs[k].step(g, k < 2 ? h1 : h2);
        });
        opt.step();
      }
      for (const [k, p] of [a, b, c].entries()) {
        assertClose(await values(p), refs[k].p, TOL, `param ${k}`);
        expect(p.storage.buffer, 'updated in place').to.equal(buffers[k]);
        expect(opt.stepCount(p)).to.equal(6);
      }
      const sd = opt.stateDict();
      assertClose(await values(sd.tensors['state.1.exp_avg']), refs[1].m, TOL, 'exp_avg');
      assertClose(await values(sd.tensors['state.2.exp_avg_sq']), refs[2].v, TOL, 'exp_avg_sq');
      expect(sd.tensors['state.1.exp_avg'].shape).to.deep.equal([3, 5]);
      opt.dispose();
      disposeAll(a, b, c);
    });

    it('matches float64 AdamW to 1e-6 relative with betas (0.9, 0.9999) over 8 steps (derived scalars in float64)', async function () {
      // 1 - f32(0.9999) computed in f32 is off by 1.7e-4 relative: exp_avg_sq would miss this bound.
      const a = param([33], 4);
      const opt = new AdamW([a], { lr: 1e-2, betas: [0.9, 0.9999], eps: 1e-8, weightDecay: 0.01 });
      const ref = new AdamRef(await values(a));
      for (let step = 0; step < 8; step++) {
        const g = hostData(a.size, 300 + step);
        setGrad(a, g);
        ref.step(g, { lr: 1e-2, b1: 0.9, b2: 0.9999, eps: 1e-8, wd: 0.01 });
        opt.step();
      }
      const sd = opt.stateDict();
      // exp_avg_sq is a sum of positive terms: 1e-6 relative everywhere. exp_avg and the parameters
      // sum terms of either sign (|g| < 1, |p| ~ 1), so near-cancelled elements keep the f32 rounding
      // of their terms (~1e-8 absolute) as PyTorch's f32 update does.
      assertClose(await values(sd.tensors['state.0.exp_avg_sq']), ref.v, { rtol: 1e-6, atol: 1e-12 }, 'exp_avg_sq');
      assertClose(await values(sd.tensors['state.0.exp_avg']), ref.m, { rtol: 1e-6, atol: 1e-8 }, 'exp_avg');
      assertClose(await values(a), ref.p, { rtol: 1e-6, atol: 1e-8 }, 'param');
      opt.dispose();
      disposeAll(a);
    });

    it('skips parameters without a gradient, and zeroGrad drops the gradients', async function () {
      const a = param([5], 4);
      const b = param([3], 5);
      const opt = new AdamW([a, b], { lr: 0.1 });
      const b0 = await values(b);
      setGrad(a, hostData(5, 6));
      opt.step();
      expect(opt.stepCount(a)).to.equal(1);
      expect(opt.stepCount(b)).to.equal(0);
      assertEqualArrays(await values(b), b0, 'b untouched');
      opt.zeroGrad();
      expect(a.grad).to.equal(null);
      const a1 = await values(a);
      opt.step();
      assertEqualArrays(await values(a), a1, 'no gradient, no update');
      opt.dispose();
      disposeAll(a, b);
    });

    it('rejects bad hyper-parameters and duplicate parameters', function () {
      const a = param([2], 7);
      expect(() => new AdamW([a], { lr: -1 })).to.throw(/learning rate/);
      expect(() => new AdamW([a], { betas: [1, 0.9] })).to.throw(/beta1/);
      expect(() => new AdamW([{ params: [a] }, { params: [a] }])).to.throw(/more than one group/);
      expect(() => new SGD([a], { nesterov: true })).to.throw(/Nesterov/);
      a.dispose();
    });
  });

  describe('SGD', function () {
    const configs: [string, Partial<SgdRefHyper>][] = [
      ['momentum with dampening and weight decay', { momentum: 0.9, dampening: 0.1, wd: 0.01 }],
      ['Nesterov momentum with weight decay', { momentum: 0.9, nesterov: true, wd: 0.05 }],
      ['plain, no momentum', { momentum: 0, wd: 0 }],
    ];
    for (const [name, cfg] of configs) {
      it(`matches a float64 PyTorch reference over 6 steps: ${name}`, async function () {
        const a = param([6], 11);
        const b = param([2, 3], 12);
        const hyper = { momentum: cfg.momentum ?? 0, dampening: cfg.dampening ?? 0, nesterov: cfg.nesterov ?? false, weightDecay: cfg.wd ?? 0 };
        const opt = new SGD([{ params: [a], lr: 0.1 }, { params: [b], lr: 0.02 }], hyper);
        const refs = [new SgdRef(await values(a)), new SgdRef(await values(b))];
        const lrs = [0.1, 0.02];
        for (let step = 0; step < 6; step++) {
          [a, b].forEach((p, k) => {
            const g = hostData(p.size, 200 + step * 3 + k);
            setGrad(p, g);
            refs[k].step(g, { lr: lrs[k], momentum: hyper.momentum, dampening: hyper.dampening, nesterov: hyper.nesterov, wd: hyper.weightDecay });
          });
          opt.step();
        }
        assertClose(await values(a), refs[0].p, TOL, 'a');
        assertClose(await values(b), refs[1].p, TOL, 'b');
        if (hyper.momentum) assertClose(await values(opt.stateDict().tensors['state.1.momentum_buffer']), refs[1].buf!, TOL, 'momentum buffer');
        else expect(Object.keys(opt.stateDict().tensors)).to.deep.equal([]);
        opt.dispose();
        disposeAll(a, b);
      });
    }
  });

  describe('the engine updates (adamwStep_, sgdStep_)', function () {
    it('reject a mismatched gradient or state at the call, naming the op and the shapes', function () {
      const p = param([2, 3], 1);
      const g = engine.tensor(hostData(6, 2), [3, 2]);
      const m = engine.zeros([2, 3]);
      const h = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1 };
      expect(() => adamwStep_(p, g, m, m, h)).to.throw(/adamwStep_: gradient of shape \[3, 2\] for a parameter of shape \[2, 3\]/);
      const g2 = engine.tensor(hostData(6, 2), [2, 3]);
      const short = engine.zeros([5]);
      expect(() => adamwStep_(p, g2, short, m, h)).to.throw(/adamwStep_: expAvg must be contiguous, unoffset and of the parameter's 6 elements/);
      expect(() => adamwStep_(p, g2, m, m, { ...h, step: 0 })).to.throw(/adamwStep_: step must be a whole number >= 1/);
      const gi = engine.tensor([1, 2, 3, 4, 5, 6], [2, 3], { dtype: 'i32' });
      expect(() => adamwStep_(p, gi, m, m, h)).to.throw(/adamwStep_: gradient dtype i32 differs from the parameter's f32/);
      const s = { lr: 0.1, weightDecay: 0, momentum: 0.9, dampening: 0, nesterov: false, first: true };
      expect(() => sgdStep_(p, g2, null, s)).to.throw(/sgdStep_: momentum 0.9 needs a momentum buffer/);
      expect(() => sgdStep_(p, p.transpose(0, 1), m, s)).to.throw(/sgdStep_: gradient of shape \[3, 2\]/);
      disposeAll(p, g, m, g2, short, gi);
    });
  });

  describe('state dicts', function () {
    /** Copy a state dict as a checkpoint would: JSON for hyper, fresh tensors for the state. */
    function saveCopy(sd: OptimizerStateDict): OptimizerStateDict {
      return {
        hyper: JSON.parse(JSON.stringify(sd.hyper)) as OptimizerStateDict['hyper'],
        tensors: Object.fromEntries(Object.entries(sd.tensors).map(([k, t]) => [k, engine.keep(t.clone())])),
      };
    }

    const makers: [string, (ps: Tensor[], lr: number) => AdamW | SGD][] = [
      ['AdamW', (ps, lr) => new AdamW([{ params: [ps[0]], lr }, { params: [ps[1]], lr: lr / 2, weightDecay: 0.2 }])],
      ['SGD', (ps, lr) => new SGD([{ params: [ps[0]], lr }, { params: [ps[1]], lr: lr / 2, weightDecay: 0.2 }], { momentum: 0.9, nesterov: true })],
    ];
    for (const [name, make] of makers) {
      it(`${name}: a loaded state dict continues bit-exactly`, async function () {
        const ps = [param([5], 21), param([2, 4], 22)];
        const opt = make(ps, 0.05);
        const feed = (targets: Tensor[], step: number) => targets.forEach((p, k) => setGrad(p, hostData(p.size, 300 + step * 2 + k)));
        for (let s = 0; s < 3; s++) {
          feed(ps, s);
          opt.step();
        }
        const saved = saveCopy(opt.stateDict());
        // A second model and optimizer, built with other hyper-parameters, then restored.
        const qs = ps.map((p) => engine.keep(p.clone().requiresGrad_()));
        const opt2 = make(qs, 0.5);
        opt2.loadStateDict(saved);
        expect(opt2.paramGroups.map((g) => g.lr)).to.deep.equal([0.05, 0.025]);
        expect(opt2.stepCount(qs[1])).to.equal(3);
        for (let s = 3; s < 6; s++) {
          feed(ps, s);
          feed(qs, s);
          opt.step();
          opt2.step();
        }
        for (let k = 0; k < 2; k++) assertEqualArrays(await values(qs[k]), await values(ps[k]), `param ${k}`);
        const a = opt.stateDict().tensors;
        const b = opt2.stateDict().tensors;
        expect(Object.keys(b).sort()).to.deep.equal(Object.keys(a).sort());
        for (const k of Object.keys(a)) assertEqualArrays(await values(b[k]), await values(a[k]), k);
        opt.dispose();
        opt2.dispose();
        disposeAll(ps, qs, Object.values(saved.tensors));
      });
    }

    it('refuses a dict of another optimizer or of other shapes', function () {
      const ps = [param([3], 31)];
      const a = new AdamW(ps);
      setGrad(ps[0], [1, 2, 3]);
      a.step();
      const s = new SGD(ps, { momentum: 0.5 });
      expect(() => s.loadStateDict(a.stateDict())).to.throw(/AdamW state dict cannot load into SGD/);
      const other = [param([4], 32)];
      const b = new AdamW(other);
      expect(() => b.loadStateDict(a.stateDict())).to.throw(/elements/);
      expect(b.stepCount(other[0]), 'unchanged after a refused load').to.equal(0);
      for (const o of [a, s, b]) o.dispose();
      disposeAll(ps, other);
    });
  });

  describe('schedules', function () {
    it('cosine: warmup ramp, then half a cosine to minLr', function () {
      const f = cosineSchedule({ warmupSteps: 10, totalSteps: 110, minLr: 0.1 });
      expect(f(0)).to.equal(0);
      expect(f(5)).to.be.closeTo(0.5, 1e-12);
      expect(f(10)).to.be.closeTo(1, 1e-12);
      expect(f(35)).to.be.closeTo(0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI / 4)), 1e-12);
      expect(f(60)).to.be.closeTo(0.55, 1e-12);
      expect(f(110)).to.be.closeTo(0.1, 1e-12);
      expect(f(500)).to.be.closeTo(0.1, 1e-12);
      const abs = cosineSchedule({ warmupSteps: 0, totalSteps: 100, peakLr: 3e-4, minLr: 3e-5 });
      expect(abs(0)).to.be.closeTo(3e-4, 1e-15);
      expect(abs(50)).to.be.closeTo((3e-4 + 3e-5) / 2, 1e-15);
    });

    it('linear: warmup ramp, then a straight line to minLr', function () {
      const f = linearSchedule({ warmupSteps: 4, totalSteps: 24 });
      expect([0, 1, 2, 3, 4].map(f)).to.deep.equal([0, 0.25, 0.5, 0.75, 1]);
      expect(f(9)).to.be.closeTo(0.75, 1e-12);
      expect(f(14)).to.be.closeTo(0.5, 1e-12);
      expect(f(24)).to.equal(0);
      expect(f(30)).to.equal(0);
      expect(linearSchedule({ warmupSteps: 0, totalSteps: 10, minLr: 0.2 })(5)).to.be.closeTo(0.6, 1e-12);
    });

    it('constant with warmup', function () {
      const f = constantSchedule({ warmupSteps: 3 });
      expect([0, 1, 2, 3, 100].map(f).map((x) => +x.toFixed(12))).to.deep.equal([0, 0.333333333333, 0.666666666667, 1, 1]);
      expect(constantSchedule()(0)).to.equal(1);
    });

    it('LRScheduler scales each group from its initial lr, or sets it absolutely', function () {
      const ps = [param([2], 41), param([2], 42)];
      const opt = new AdamW([{ params: [ps[0]], lr: 1e-2 }, { params: [ps[1]], lr: 1e-3 }]);
      const f = cosineSchedule({ warmupSteps: 2, totalSteps: 10 });
      const sched = new LRScheduler(opt, f);
      expect(sched.getLastLr()).to.deep.equal([0, 0]);
      for (let k = 1; k <= 6; k++) {
        sched.step();
        const lr = sched.getLastLr();
        expect(lr[0]).to.be.closeTo(1e-2 * f(k), 1e-15);
        expect(lr[1]).to.be.closeTo(1e-3 * f(k), 1e-15);
      }
      // A restored optimizer keeps the initial lr the schedule scales.
      expect(opt.stateDict().hyper.groups[0].initialLr).to.equal(1e-2);
      const abs = new LRScheduler(opt, constantSchedule({ warmupSteps: 0, peakLr: 5e-4 }), { absolute: true });
      expect(abs.getLastLr()).to.deep.equal([5e-4, 5e-4]);
      opt.dispose();
      disposeAll(ps);
    });
    describe('ReduceLROnPlateau (PyTorch semantics, as a schedule multiplier)', function () {
      const run = (p: ReduceLROnPlateau, metrics: number[]) => metrics.map((m) => (p.step(m), p.scale));

      it("'min', relative threshold: a cut after patience + 1 evaluations without a relative improvement", function () {
        const p = new ReduceLROnPlateau({ factor: 0.5, patience: 1, threshold: 0.1 });
        // 0.95 and 0.92 are not below 1.0 × 0.9: two bad evaluations > patience 1, so the third call cuts.
        // 0.85 < 0.92... no: best stays 1.0 until an improvement; 0.85 < 0.9 is one. Then 0.8 is not < 0.765.
        expect(run(p, [1.0, 0.95, 0.92, 0.85, 0.8, 0.79, 0.7])).to.deep.equal([1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]);
        expect(p.best).to.equal(0.7);
      });

      it("'max', absolute threshold, cooldown, and the minScale floor", function () {
        const p = new ReduceLROnPlateau({ mode: 'max', factor: 0.1, patience: 0, threshold: 0.05, thresholdMode: 'abs', cooldown: 1, minScale: 0.02 });
        // 0.5 best; 0.54 is not > 0.55: cut (patience 0); the next bad evaluation is forgiven by the cooldown; the one
        // after cuts to the floor 0.02 (not 0.01); at the floor a due cut changes nothing and step() returns false.
        expect(run(p, [0.5, 0.54, 0.54, 0.54, 0.6, 0.6])).to.deep.equal([1, 0.1, 0.1, 0.02, 0.02, 0.02]);
        expect(p.step(0.6)).to.equal(false);
        expect(p.step(0.7)).to.equal(false);
        expect(p.best).to.equal(0.7);
      });

      it('composes with warmup through LRScheduler, and its state round-trips', function () {
        const ps = [param([2], 43)];
        const opt = new AdamW(ps, { lr: 1e-2 });
        const plateau = new ReduceLROnPlateau({ factor: 0.3, patience: 0 });
        const sched = new LRScheduler(opt, plateau.schedule(constantSchedule({ warmupSteps: 4 })));
        for (let k = 0; k < 4; k++) sched.step();
        expect(sched.getLastLr()[0]).to.be.closeTo(1e-2, 1e-15);
        plateau.step(2.0);
        expect(plateau.step(2.5), 'a worse metric with patience 0 cuts').to.equal(true);
        expect(sched.getLastLr()[0], 'the cut waits for the next scheduler step').to.be.closeTo(1e-2, 1e-15);
        sched.step();
        expect(sched.getLastLr()[0]).to.be.closeTo(3e-3, 1e-15);
        const copy = new ReduceLROnPlateau({ factor: 0.3, patience: 0 });
        copy.loadStateDict(JSON.parse(JSON.stringify(plateau.stateDict())));
        expect(copy.stateDict()).to.deep.equal(plateau.stateDict());
        expect([copy.step(2.4), plateau.step(2.4)]).to.deep.equal([true, true]);
        // Before any step the best is ±Infinity, which JSON would turn into null: it round-trips as such.
        const fresh = new ReduceLROnPlateau({ mode: 'max', patience: 0 });
        const back = new ReduceLROnPlateau({ mode: 'max', patience: 0 });
        back.loadStateDict(JSON.parse(JSON.stringify(fresh.stateDict())));
        expect(back.best).to.equal(-Infinity);
        expect(back.step(-5), 'any metric improves on a fresh state').to.equal(false);
        expect(back.best).to.equal(-5);
        opt.dispose();
        disposeAll(ps);
      });

      it('refuses bad options, naming the option', function () {
        expect(() => new ReduceLROnPlateau({ factor: 1 })).to.throw(/ReduceLROnPlateau: factor/);
        expect(() => new ReduceLROnPlateau({ patience: 1.5 })).to.throw(/ReduceLROnPlateau: patience/);
        expect(() => new ReduceLROnPlateau({ mode: 'up' as 'min' })).to.throw(/ReduceLROnPlateau: mode/);
        expect(() => new ReduceLROnPlateau({ threshold: -1 })).to.throw(/ReduceLROnPlateau: threshold/);
        expect(() => new ReduceLROnPlateau({ cooldown: -1 })).to.throw(/ReduceLROnPlateau: cooldown/);
        expect(() => new ReduceLROnPlateau({ minScale: 2 })).to.throw(/ReduceLROnPlateau: minScale/);
      });
    });
  });

  describe('clipGradNorm', function () {
    async function hostNorm(ps: Tensor[], type: number): Promise<number> {
      let acc = 0;
      for (const p of ps) for (const g of await values(p.grad!)) acc = type === Infinity ? Math.max(acc, Math.abs(g)) : acc + g * g;
      return type === Infinity ? acc : Math.sqrt(acc);
    }
    for (const [type, maxNorm] of [[2, 0.5], [2, 100], [Infinity, 0.3]] as const) {
      it(`norm ${type} with maxNorm ${maxNorm}: the norm and the scaled gradients`, async function () {
        const ps = [param([9], 51), param([4, 3], 52), param([1], 53)];
        ps.forEach((p, k) => setGrad(p, hostData(p.size, 60 + k).map((x) => x * 2)));
        const before = await Promise.all(ps.map((p) => values(p.grad!)));
        const expected = await hostNorm(ps, type);
        const norm = clipGradNorm(ps, maxNorm, type);
        expect(norm.shape).to.deep.equal([]);
        assertClose([await norm.item()], [expected], TOL, 'norm');
        const coef = Math.min(1, maxNorm / (expected + 1e-6));
        for (const [k, p] of ps.entries()) assertClose(await values(p.grad!), before[k].map((g) => g * coef), TOL, `grad ${k}`);
        if (maxNorm < expected) assertClose([await hostNorm(ps, type)], [maxNorm], { rtol: 1e-5, atol: 0 }, 'clipped norm');
        norm.dispose();
        disposeAll(ps);
      });
    }
  });

  describe('foreachSumOfSquares', function () {
    it('equals stack(square().sum()) exactly, one dispatch per tensor, on odd shapes and views, and a float64 sum of squares', async function () {
      const shapes = [[1], [7], [33], [45, 65], [3, 1, 257], [6, 5]];
      const ts = shapes.map((s, k) => engine.tensor(hostData(s.reduce((a, b) => a * b, 1), 80 + k), s));
      const views = [ts[3].mT, ts[4].narrow(2, 3, 200), ts[5].mT.narrow(0, 1, 4)]; // transposed, sliced, both
      const empty = engine.zeros([0, 3]);
      const all = [...ts, ...views, empty];
      const seen: string[] = [];
      const origRun = engine.run;
      engine.run = function (this: Engine, call: KernelCall) {
        seen.push(call.shader);
        return origRun.call(engine, call);
      };
      let fused: Tensor;
      try {
        fused = engine.noGrad(() => foreachSumOfSquares(all));
      } finally {
        engine.run = origRun;
      }
      // zeros() fills the vector; one reduce per non-empty tensor (views that are not one strided run are
      // first copied, as sum() copies them); no square and no stack copy.
      expect(seen.filter((s) => s === 'reduce')).to.have.length(all.length - 1);
      expect(seen.filter((s) => s !== 'reduce' && s !== 'unary')).to.deep.equal(['fill']);
      const composed = engine.noGrad(() => engine.tidy(() => engine.stack(all.map((t) => t.square().sum()))));
      assertEqualArrays(await values(fused!), await values(composed), 'fused vs composed');
      const host = await Promise.all(all.map(async (t) => (await values(t)).reduce((a, x) => a + x * x, 0)));
      assertClose(await values(fused!), host, { rtol: 1e-5, atol: 1e-6 }, 'float64');
      expect(() => foreachSumOfSquares([])).to.throw(/foreachSumOfSquares: got no tensors/);
      const ints = engine.zeros([3], { dtype: 'i32' });
      expect(() => foreachSumOfSquares([ts[0], ints])).to.throw(/foreachSumOfSquares: expected floating-point tensors, got i32 of shape \[3\]/);
      disposeAll([...ts, ...views, empty, ints, fused!, composed]);
    });
  });

  it('a training step (clip and step) reads nothing back and launches one fused kernel per parameter', function () {
    const ps = [param([8], 61), param([3, 3], 62)];
    ps.forEach((p, k) => setGrad(p, hostData(p.size, 70 + k)));
    const opts = [new AdamW(ps), new SGD(ps, { momentum: 0.9 })];
    const calls: KernelCall[] = [];
    const origRun = engine.run;
    const origRead = engine.read;
    engine.run = function (call: KernelCall) {
      calls.push(call);
      return origRun.call(engine, call);
    };
    engine.read = () => {
      throw new Error('host readback during a training step');
    };
    try {
      clipGradNorm(ps, 0.1).dispose();
      for (const o of opts) o.step();
    } finally {
      delete (engine as { run?: unknown }).run;
      delete (engine as { read?: unknown }).read;
    }
    const adam = calls.filter((c) => c.shader === 'adamw');
    const sgd = calls.filter((c) => c.shader === 'sgd');
    expect(adam.length).to.equal(2);
    expect(sgd.length).to.equal(2);
    // Uniform sizes match the WGSL structs: 9 and 8 four-byte scalars, padded to 16 bytes.
    expect(adam[0].params.byteLength).to.equal(48);
    expect(sgd[0].params.byteLength).to.equal(32);
    for (const o of opts) o.dispose();
    disposeAll(ps);
  });

  class MLP extends Module {
    readonly fc1: Linear;
    readonly fc2: Linear;
    constructor(e: Engine) {
      super(e);
      this.fc1 = this.registerModule('fc1', new Linear(e, 4, 8));
      this.fc2 = this.registerModule('fc2', new Linear(e, 8, 2));
    }
    forward(x: Tensor): Tensor {
      return this.fc2.forward(this.fc1.forward(x).relu());
    }
  }

  it('no buffer leaks over 50 steps of forward, backward, clip, step, schedule', async function () {
    const live = () => engine.memory().liveBuffers;
    const start = live();
    const model = new MLP(engine);
    const x = engine.keep(engine.randn([16, 4]));
    const y = engine.keep(engine.randn([16, 2]));
    const opt = new AdamW(model.parameters(), { lr: 1e-2 });
    const sched = new LRScheduler(opt, cosineSchedule({ warmupSteps: 5, totalSteps: 50 }));
    const losses: Tensor[] = [];
    const trainStep = () => {
      const loss = engine.tidy(() => {
        const l = model.forward(x).sub(y).square().mean();
        l.backward();
        return l.detach();
      });
      clipGradNorm(model.parameters(), 1).dispose();
      opt.step();
      opt.zeroGrad();
      sched.step();
      return loss;
    };
    losses.push(trainStep());
    const base = live(); // model, data, optimizer state, first loss
    const during: number[] = [];
    for (let i = 1; i < 50; i++) {
      const l = trainStep();
      if (i % 10 === 0) losses.push(l);
      else l.dispose();
      during.push(live() - losses.length + 1);
    }
    expect(new Set(during), 'live buffers between steps').to.deep.equal(new Set([base]));
    const first = await losses[0].item();
    const last = await losses[losses.length - 1].item();
    expect(last, 'the loop trained').to.be.lessThan(first);
    disposeAll(losses, x, y);
    opt.dispose();
    model.dispose();
    expect(live(), 'back to the baseline').to.equal(start);
  });

  it('gradient accumulation: N micro-batches of loss/N equal one full-batch step', async function () {
    const full = new MLP(engine);
    const acc = new MLP(engine);
    acc.loadStateDict(full.stateDict());
    const x = engine.keep(engine.randn([8, 4]));
    const y = engine.keep(engine.randn([8, 2]));
    const optFull = new AdamW(full.parameters(), { lr: 1e-2 });
    const optAcc = new AdamW(acc.parameters(), { lr: 1e-2 });
    const lossOf = (m: MLP, xs: Tensor, ys: Tensor) => m.forward(xs).sub(ys).square().mean();
    for (let step = 0; step < 3; step++) {
      engine.tidy(() => lossOf(full, x, y).backward());
      const N = 4;
      for (let k = 0; k < N; k++) engine.tidy(() => lossOf(acc, x.narrow(0, 2 * k, 2), y.narrow(0, 2 * k, 2)).div(N).backward());
      const names = full.namedParameters();
      const accParams = acc.namedParameters();
      for (const [i, [name, p]] of names.entries()) {
        assertClose(await values(accParams[i][1].grad!), await values(p.grad!), { rtol: 1e-5, atol: 1e-6 }, `grad of ${name}`);
      }
      optFull.step();
      optAcc.step();
      optFull.zeroGrad();
      optAcc.zeroGrad();
    }
    const a = full.namedParameters();
    const b = acc.namedParameters();
    for (const [i, [name, p]] of a.entries()) assertClose(await values(b[i][1]), await values(p), { rtol: 1e-4, atol: 1e-5 }, name);
    optFull.dispose();
    optAcc.dispose();
    full.dispose();
    acc.dispose();
    disposeAll(x, y);
  });
});
