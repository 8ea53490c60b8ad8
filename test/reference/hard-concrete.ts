// Float64 closed forms of JoLA's HardConcrete gates (methods/jola/jola.ts), as the spec writes them:
// the references its GPU gates are tested against.
import { HARD_CONCRETE, type HardConcreteOptions } from '../../methods/jola/jola.js';
import { sigmoid } from './elementwise.js';

export const hardConcreteRef = {
  /** Eval-mode gate: clamp(σ(log α)·(ζ−γ) + γ, 0, 1). */
  eval(logAlpha: number, hc: HardConcreteOptions = HARD_CONCRETE): number {
    const [gamma, zeta] = hc.stretch;
    return Math.min(1, Math.max(0, sigmoid(logAlpha) * (zeta - gamma) + gamma));
  },
  /** Expected-L0 term P(g ≠ 0) = σ(log α − β·log(−γ/ζ)), clamped to [ε, 1 − ε]. */
  openProb(logAlpha: number, hc: HardConcreteOptions = HARD_CONCRETE): number {
    const [gamma, zeta] = hc.stretch;
    return Math.min(1 - hc.eps, Math.max(hc.eps, sigmoid(logAlpha - hc.temperature * Math.log(-gamma / zeta))));
  },
};
