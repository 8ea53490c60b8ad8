// Float64 references for elementwise ops.
import { erf } from './core.js';

export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
export const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));
export const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
export const silu = (x: number) => x * sigmoid(x);
export const softplus = (x: number, beta = 1, threshold = 20) => (beta * x > threshold ? x : Math.log1p(Math.exp(beta * x)) / beta);
