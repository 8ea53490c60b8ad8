// Type-level test (checked by `npm run typecheck`, never run): engine.grad and engine.valueAndGrad
// return one gradient per argument, as a tuple of the arguments' arity.
import type { Engine, Tensor } from '../../engine/index.js';

declare const engine: Engine;
declare const x: Tensor;
declare const y: Tensor;

const one: [Tensor] = engine.grad((a) => a.mul(a).sum())(x);
const two: [Tensor, Tensor] = engine.grad((a, b) => a.mul(b).sum())(x, y);
const [gx, gy] = two;
gx.dispose();
gy.dispose();
const vg: { value: Tensor; grads: [Tensor, Tensor] } = engine.valueAndGrad((a: Tensor, b: Tensor) => a.add(b).sum())(x, y);
const many: Tensor[] = engine.grad((...ts: Tensor[]) => ts[0].sum())(x, y, x);

// @ts-expect-error the gradient of a one-argument function has no second element
engine.grad((a) => a.sum())(x)[1];
// @ts-expect-error the arguments must match f's parameters
engine.grad((a, b) => a.add(b).sum())(x);
// @ts-expect-error not a pair
const wrong: [Tensor, Tensor] = engine.grad((a) => a.sum())(x);

export { one, vg, many, wrong };
