// Diagonal Gaussians parameterised by mean and log standard deviation: the KL divergence in closed
// form, the log-density, and reparameterised sampling (for VAEs and latent transition priors).
import { ShapeError, broadcastShapes, fmtShape, type Tensor } from '../engine/index.js';

const LOG_2PI = Math.log(2 * Math.PI);

function sameShape(op: string, ...ts: Tensor[]): void {
  try {
    broadcastShapes(op, ...ts.map((t) => t.shape));
  } catch {
    throw new ShapeError(`${op}: shapes ${ts.map((t) => fmtShape(t.shape)).join(', ')} do not broadcast`);
  }
}

/**
 * KL( N(muQ, σq²) ‖ N(muP, σp²) ) elementwise, with σ = exp(logStd):
 * log σp − log σq + (σq² + (muQ − muP)²) / (2 σp²) − ½.
 */
export function normalKL(muQ: Tensor, logStdQ: Tensor, muP: Tensor, logStdP: Tensor): Tensor {
  sameShape('normalKL', muQ, logStdQ, muP, logStdP);
  return muQ.engine.tidy(() => {
    const varRatio = logStdQ.sub(logStdP).mul(2).exp(); // σq² / σp²
    const dm = muQ.sub(muP);
    const mahal = dm.mul(dm).mul(logStdP.mul(-2).exp()); // (muQ − muP)² / σp²
    return logStdP.sub(logStdQ).add(varRatio.add(mahal).mul(0.5)).sub(0.5);
  });
}

/** KL( N(mu, σ²) ‖ N(0, 1) ) elementwise: ½ (σ² + mu² − 1) − log σ. */
export function standardNormalKL(mu: Tensor, logStd: Tensor): Tensor {
  sameShape('standardNormalKL', mu, logStd);
  return mu.engine.tidy(() => logStd.mul(2).exp().add(mu.mul(mu)).sub(1).mul(0.5).sub(logStd));
}

/** log N(x; mu, σ²) elementwise. */
export function normalLogProb(x: Tensor, mu: Tensor, logStd: Tensor): Tensor {
  sameShape('normalLogProb', x, mu, logStd);
  return x.engine.tidy(() => {
    const z = x.sub(mu).mul(logStd.neg().exp());
    return z.mul(z).mul(-0.5).sub(logStd).sub(0.5 * LOG_2PI);
  });
}

/** mu + exp(logStd) · ε with ε ~ N(0, 1) from the engine's generator (the reparameterisation trick). */
export function reparameterize(mu: Tensor, logStd: Tensor): Tensor {
  sameShape('reparameterize', mu, logStd);
  return mu.engine.tidy(() => mu.add(logStd.exp().mul(mu.engine.randn(mu.shape))));
}
