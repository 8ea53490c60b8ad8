// The causal world model ("BISCUIT-VAE-lite", spec §2(d)): an MLP VAE over frames, a text encoder of
// the action (word embedding, masked mean pool, MLP), one interaction variable per latent
// Ĩ_i = tanh(τ · g_i(e_L)), and a per-latent Gaussian transition prior
// p(z_i^{t+1} | z^t, Ĩ_i) with h_i = Ctx_i(z^t) + Inp_i(z_i^t) + Act_i(Ĩ_i) → (μ_i, log σ_i), all d
// per-latent MLPs run as grouped (batched) matmuls. Trained on unlabelled (frame, action text, frame)
// transitions with reconstruction + transition KL + a small prior KL + the gradient-only logit
// regulariser of the official code.
import { embedding, type Engine, type Tensor } from '../../engine/index.js';
import { GroupedLinear, Linear, Module, normalKL, normalLogProb, reparameterize, standardNormalKL } from '../../nn/index.js';
import { PAD, WORD_VOCAB } from './text.js';

export interface CWMSpec {
  /** Latents d. */
  latents: number;
  /** Encoder hidden widths (the decoder mirrors them). */
  hidden: [number, number];
  /** Width c of every per-latent MLP. */
  priorHidden: number;
  wordDim: number;
  textDim: number;
}

/** (…, 2d) → μ (…, d), log σ (…, d), log σ kept in a range where exp stays finite. */
function meanLogStd(y: Tensor, d: number): { mu: Tensor; logStd: Tensor } {
  return { mu: y.narrow(-1, 0, d), logStd: y.narrow(-1, d, d).clamp(-7, 3) };
}

export class CausalWorldModel extends Module {
  readonly enc: Linear[];
  readonly dec: Linear[];
  readonly words: Tensor;
  readonly text: Linear[];
  readonly interaction: GroupedLinear[];
  readonly ctx: GroupedLinear[];
  readonly inp: GroupedLinear;
  readonly act: GroupedLinear;
  readonly out: GroupedLinear[];

  constructor(engine: Engine, readonly imageSize: number, readonly spec: CWMSpec) {
    super(engine);
    const { latents: d, hidden: [h1, h2], priorHidden: c, wordDim, textDim } = spec;
    const lin = (name: string, i: number, o: number) => this.registerModule(name, new Linear(engine, i, o));
    const grp = (name: string, i: number, o: number, zeroInit = false) => this.registerModule(name, new GroupedLinear(engine, d, i, o, { zeroInit }));
    this.enc = [lin('enc0', imageSize, h1), lin('enc1', h1, h2), lin('enc2', h2, 2 * d)];
    this.dec = [lin('dec0', d, h2), lin('dec1', h2, h1), lin('dec2', h1, imageSize)];
    this.words = this.registerParameter('words', engine.randn([WORD_VOCAB, wordDim], { std: 0.5 }));
    this.text = [lin('text0', wordDim, wordDim), lin('text1', wordDim, textDim)];
    this.interaction = [grp('interaction0', textDim, c), grp('interaction1', c, 1)];
    this.ctx = [grp('ctx0', d, c), grp('ctx1', c, c)];
    this.inp = grp('inp', 1, c);
    // Act_i starts at zero, as the official code: the action enters once the data asks for it.
    this.act = grp('act', 1, c, true);
    this.out = [grp('out0', c, c), grp('out1', c, 2)];
  }

  get latents(): number {
    return this.spec.latents;
  }

  /** images (B, D) → posterior μ, log σ (B, d). */
  encode(x: Tensor): { mu: Tensor; logStd: Tensor } {
    const h = this.enc[1].forward(this.enc[0].forward(x).silu()).silu();
    return meanLogStd(this.enc[2].forward(h), this.latents);
  }

  /** z (B, d) → images (B, D) in (0, 1). */
  decode(z: Tensor): Tensor {
    return this.dec[2].forward(this.dec[1].forward(this.dec[0].forward(z).silu()).silu()).sigmoid();
  }

  /** Action word ids (B, L) i32, PAD-padded → e_L (B, textDim): masked mean of word vectors, then an MLP. */
  embedText(tokens: Tensor): Tensor {
    const mask = tokens.ne(PAD).float().unsqueeze(2); // (B, L, 1)
    const pooled = embedding(tokens, this.words).mul(mask).sum(1).div(mask.sum(1).clamp(1)); // (B, wordDim)
    return this.text[1].forward(this.text[0].forward(pooled).silu());
  }

  /** e_L (B, textDim) → interaction logits ℓ and Ĩ = tanh(τ ℓ), both (d, B, 1). */
  interact(eL: Tensor, tau: number): { logits: Tensor; I: Tensor } {
    const logits = this.interaction[1].forward(this.interaction[0].forward(eL).silu());
    return { logits, I: logits.mul(tau).tanh() };
  }

  /** z^t (B, d), Ĩ (d, B, 1) → prior μ, log σ of z^{t+1}, (B, d). */
  prior(z: Tensor, I: Tensor): { mu: Tensor; logStd: Tensor } {
    const ctx = this.ctx[1].forward(this.ctx[0].forward(z).tanh()); // (d, B, c), every latent sees all of z^t
    const own = this.inp.forward(z.t().unsqueeze(2)); // (d, B, 1) → (d, B, c)
    const h = ctx.add(own).add(this.act.forward(I));
    const y = this.out[1].forward(this.out[0].forward(h.silu()).silu()); // (d, B, 2)
    return { mu: y.select(2, 0).t(), logStd: y.select(2, 1).t().clamp(-7, 3) };
  }

  /** One latent step with the prior mean (the rollout of Algorithm 1, mean instead of a sample). */
  stepMean(z: Tensor, tokensOrEmbedding: Tensor, tau: number): Tensor {
    const eL = tokensOrEmbedding.dtype === 'i32' ? this.embedText(tokensOrEmbedding) : tokensOrEmbedding;
    return this.prior(z, this.interact(eL, tau).I).mu;
  }
}

export interface CWMLossWeights {
  /** Multiplies both reconstruction terms (pixel-weighted sum of squared errors per frame). */
  recon: number;
  /** Weight of KL(q(z^t | x^t) ‖ N(0, I)). */
  priorKL: number;
  /** λ of the logit regulariser. */
  logitReg: number;
  /** Gaussian noise on the t-frame latent that feeds the prior (the official code's noise on the input frame). */
  inputNoise: number;
}

export interface CWMLoss {
  total: Tensor;
  recon: Tensor;
  transitionKL: Tensor;
}

/**
 * The per-transition loss, batch mean: w·[recon(x^{t+1}) + recon(x^t)] + KL(q(z^{t+1}|x^{t+1}) ‖
 * p(·|μ_q(x^t) + ν ε, Ĩ)) + w·KL(q(z^t|x^t) ‖ N(0, I)) + (R − sg(R)) with
 * R = λ[(1 + sign ℓ + ℓ − sg ℓ)² + 0.01 ℓ²]: R adds no value to the loss, only the gradient
 * λ[2(1 + sign ℓ) + 0.02 ℓ] that pushes the interaction logits towards "no interaction".
 * x0, x1 (B, D); tokens (B, L) i32.
 */
export function cwmLoss(model: CausalWorldModel, x0: Tensor, x1: Tensor, tokens: Tensor, tau: number, w: CWMLossWeights): CWMLoss {
  const e = model.engine;
  const q0 = model.encode(x0), q1 = model.encode(x1);
  // Pixel-weighted squared error as the official autoencoder: 0.2 on black target values, 0.8 elsewhere,
  // so the few object pixels are not drowned by the background.
  const sse = (x: Tensor, y: Tensor) => x.sub(y).square().mul(y.gt(0.1).float().mul(0.6).add(0.2)).sum(1).mean();
  const recon = sse(model.decode(reparameterize(q0.mu, q0.logStd)), x0).add(sse(model.decode(reparameterize(q1.mu, q1.logStd)), x1));
  const { logits, I } = model.interact(model.embedText(tokens), tau);
  const zIn = w.inputNoise > 0 ? q0.mu.add(e.randn(q0.mu.shape, { std: w.inputNoise })) : q0.mu;
  const p = model.prior(zIn, I);
  const transitionKL = normalKL(q1.mu, q1.logStd, p.mu, p.logStd).sum(1).mean();
  const kl0 = standardNormalKL(q0.mu, q0.logStd).sum(1).mean();
  const total = recon.mul(w.recon).add(transitionKL).add(kl0.mul(w.priorKL)).add(logitRegulariser(logits, w.logitReg));
  return { total, recon, transitionKL };
}

/** R − sg(R), R = λ[(1 + sign ℓ + ℓ − sg ℓ)² + 0.01 ℓ²] summed over latents, batch mean: zero in value, only gradient. logits (d, B, 1). */
function logitRegulariser(logits: Tensor, lambda: number): Tensor {
  const sg = logits.detach();
  const sign = sg.gt(0).float().mul(2).sub(1);
  const R = sign.add(1).add(logits.sub(sg)).square().add(logits.square().mul(0.01)).mul(lambda).sum([0, 2]).mean();
  return R.sub(R.detach());
}

/**
 * The second stage on a frozen autoencoder, as the official BISCUIT-NF pipeline trains its prior on frozen
 * AE latents: −Σ_i log p(z_i^{t+1} | z^t + ν ε, Ĩ_i) per transition, batch mean, plus the logit regulariser.
 * z0, z1 (B, d) encoder means of the two frames; tokens (B, L) i32.
 */
export function priorLoss(model: CausalWorldModel, z0: Tensor, z1: Tensor, tokens: Tensor, tau: number, w: Pick<CWMLossWeights, 'logitReg' | 'inputNoise'>): Tensor {
  const e = model.engine;
  const { logits, I } = model.interact(model.embedText(tokens), tau);
  const zIn = w.inputNoise > 0 ? z0.add(e.randn(z0.shape, { std: w.inputNoise })) : z0;
  const p = model.prior(zIn, I);
  return normalLogProb(z1, p.mu, p.logStd).sum(1).mean().neg().add(logitRegulariser(logits, w.logitReg));
}

/** The parameters of the transition prior and its text path: everything but the frame encoder and decoder. */
export function priorParameters(model: CausalWorldModel): Tensor[] {
  const frames = new Set([...model.enc, ...model.dec].flatMap((m) => m.parameters()));
  return model.parameters().filter((p) => !frames.has(p));
}
