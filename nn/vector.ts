// Parameters and gradients as one flat vector on the device (PyTorch's parameters_to_vector and
// vector_to_parameters), for gradient-similarity attribution (GradDot, GradCos, TracIn) and anything
// else that treats a model's parameters as a point in R^P. No readback: the vector is a tensor.
import { DTypeError, KilnError, ShapeError, fmtShape, type Tensor } from '../engine/index.js';

function list(params: Iterable<Tensor>, fn: string): Tensor[] {
  const ps = [...params];
  if (ps.length === 0) throw new KilnError(`${fn}: got no parameters`);
  return ps;
}

/** The parameters' values concatenated in order, (P,) with P = Σ sizes. Not recorded by autograd. */
export function parametersToVector(params: Iterable<Tensor>): Tensor {
  const ps = list(params, 'parametersToVector');
  const e = ps[0].engine;
  return e.noGrad(() => e.tidy(() => e.cat(ps.map((p) => p.reshape([-1])), 0)));
}

/**
 * The parameters' gradients concatenated in order, (P,). A parameter without a gradient contributes
 * zeros (it did not take part in the loss), so vectors from different losses line up. f32 always.
 */
export function gradientsToVector(params: Iterable<Tensor>): Tensor {
  const ps = list(params, 'gradientsToVector');
  const e = ps[0].engine;
  return e.noGrad(() => e.tidy(() => e.cat(ps.map((p) => (p.grad ? p.grad.to('f32').reshape([-1]) : e.zeros([p.size]))), 0)));
}

/** Copy a (P,) vector's slices into the parameters in place (the inverse of parametersToVector). */
export function vectorToParameters(vec: Tensor, params: Iterable<Tensor>): void {
  const ps = list(params, 'vectorToParameters');
  const total = ps.reduce((a, p) => a + p.size, 0);
  if (vec.ndim !== 1 || vec.size !== total) {
    throw new ShapeError(`vectorToParameters: vector of shape ${fmtShape(vec.shape)} for parameters of ${total} elements in all; expected [${total}]`);
  }
  const e = vec.engine;
  e.noGrad(() => e.tidy(() => {
    let at = 0;
    for (const p of ps) {
      if (vec.dtype !== p.dtype) throw new DTypeError(`vectorToParameters: vector dtype ${vec.dtype} differs from a parameter's ${p.dtype}`);
      p.copy_(vec.narrow(0, at, p.size).reshape([...p.shape]));
      at += p.size;
    }
  }));
}
