// The models: the small speech encoder that stands in for wav2vec2 (conv1d front end + transformer,
// trained here with CTC and masked log-mel reconstruction, then frozen), and the paper's VIB pieces
// (vib/vib.py): the variational encoder, the stage-1 frame decoder (CTC) and the stage-2 utterance
// decoder with two attention poolers (one over z_textual, one over z_acoustic).
import type { Engine, Tensor } from '../../engine/index.js';
import { AttentionPool, Conv1d, Embedding, LayerNorm, Linear, Module, ModuleList, TransformerBlock, transformerLMConfig } from '../../nn/index.js';

export interface EncoderShape {
  dModel: number;
  nLayers: number;
  nHeads: number;
  dFF: number;
}

export const MAX_FRAMES = 512;
/** Mel frames (10 ms) per encoder frame: two stride-2 convolutions, 40 ms frames. */
export const STRIDE = 4;

/** conv1d(40→D, k5, s2) + GELU → conv1d(D→D, k5, s2) + GELU → + learned positions → nLayers pre-norm transformer blocks. */
export class SpeechEncoder extends Module {
  readonly conv1: Conv1d;
  readonly conv2: Conv1d;
  readonly pos: Embedding;
  readonly blocks: ModuleList<TransformerBlock>;
  readonly lnF: LayerNorm;
  readonly ctcHead: Linear;
  readonly reconHead: Linear;

  constructor(engine: Engine, readonly nMels: number, readonly shape: EncoderShape, vocabSize: number) {
    super(engine);
    const D = shape.dModel;
    this.conv1 = this.registerModule('conv1', new Conv1d(engine, nMels, D, 5, { stride: 2, padding: 2 }));
    this.conv2 = this.registerModule('conv2', new Conv1d(engine, D, D, 5, { stride: 2, padding: 2 }));
    this.pos = this.registerModule('pos', new Embedding(engine, MAX_FRAMES, D));
    const c = transformerLMConfig({ vocabSize: 1, dModel: D, nLayers: shape.nLayers, nHeads: shape.nHeads, dFF: shape.dFF, maxSeqLen: MAX_FRAMES });
    this.blocks = this.registerModule('blocks', new ModuleList(engine, Array.from({ length: shape.nLayers }, () => new TransformerBlock(engine, c))));
    this.lnF = this.registerModule('lnF', new LayerNorm(engine, D));
    this.ctcHead = this.registerModule('ctcHead', new Linear(engine, D, vocabSize));
    this.reconHead = this.registerModule('reconHead', new Linear(engine, D, STRIDE * nMels));
  }

  /** Frames out for `melFrames` in (two convolutions of kernel 5, stride 2, padding 2). */
  static outFrames(melFrames: number): number {
    const half = (n: number) => Math.floor((n - 1) / 2) + 1;
    return half(half(melFrames));
  }

  /**
   * mel (B, Tm, nMels), padMask (B, T) 1 = padded output frame -> the hidden state after each block,
   * nLayers × (B, T, D) (the residual stream, like wav2vec2's hidden_states[1..L]).
   */
  hiddenStates(mel: Tensor, padMask: Tensor): Tensor[] {
    const e = this.engine;
    const [B, Tm] = mel.shape;
    const T = SpeechEncoder.outFrames(Tm);
    let h = e.tidy(() => {
      const x = mel.transpose(1, 2); // (B, nMels, Tm)
      const c1 = this.conv1.forward(x).gelu(); // (B, D, T)
      const c2 = this.conv2.forward(c1).gelu(); // (B, D, T)
      const pos = this.pos.forward(e.arange(T, undefined, undefined, { dtype: 'i32' })); // (T, D)
      return c2.transpose(1, 2).add(pos); // (B, T, D)
    });
    const out: Tensor[] = [];
    for (const block of this.blocks) {
      h = block.forward(h, { keyPaddingMask: padMask });
      out.push(h);
    }
    return out;
  }

  /** CTC log-probs (T, B, V) and reconstruction (B, T, STRIDE·nMels) from the last hidden state. */
  heads(last: Tensor): { logProbs: Tensor; recon: Tensor } {
    return this.engine.tidy(() => {
      const n = this.lnF.forward(last);
      return { logProbs: this.ctcHead.forward(n).logSoftmax(-1).transpose(0, 1), recon: this.reconHead.forward(n) };
    });
  }
}

/**
 * The VIB encoder of vib/vib.py: e = GELU(W2 GELU(W1 h)), μ = Wμ e, σ² = softplus(Wv e) (a variance),
 * z = μ + sqrt(σ²)·ε in training, z = μ in eval mode.
 */
export class VariationalEncoder extends Module {
  readonly l1: Linear;
  readonly l2: Linear;
  readonly mu: Linear;
  readonly logVarRaw: Linear;

  constructor(engine: Engine, readonly dim: number, readonly latent: number) {
    super(engine);
    this.l1 = this.registerModule('l1', new Linear(engine, dim, dim));
    this.l2 = this.registerModule('l2', new Linear(engine, dim, dim));
    this.mu = this.registerModule('mu', new Linear(engine, dim, latent));
    this.logVarRaw = this.registerModule('var', new Linear(engine, dim, latent));
  }

  /** h (B, T, D) -> z, μ (B, T, K) and the KL to N(0, I) per frame (B, T). `noise` false: z = μ. */
  forward(h: Tensor, noise = this.training): { z: Tensor; mu: Tensor; kl: Tensor } {
    const e = this.engine;
    return e.tidy(() => {
      const enc = this.l2.forward(this.l1.forward(h).gelu()).gelu();
      const mu = this.mu.forward(enc);
      const variance = this.logVarRaw.forward(enc).softplus().add(1e-6);
      // KL(N(μ, σ²) ‖ N(0, I)) = −½ Σ_k (1 + log σ² − μ² − σ²)
      const kl = variance.log().add(1).sub(mu.square()).sub(variance).sum(-1).mul(-0.5);
      const z = noise ? mu.add(variance.sqrt().mul(e.randn(mu.shape))) : mu;
      return { z, mu, kl };
    });
  }
}

/** Stage 1: VIB encoder + a linear frame decoder to the CTC vocabulary. */
export class ContentVIB extends Module {
  readonly encoder: VariationalEncoder;
  readonly decoder: Linear;
  constructor(engine: Engine, dim: number, latent: number, vocab: number) {
    super(engine);
    this.encoder = this.registerModule('encoder', new VariationalEncoder(engine, dim, latent));
    this.decoder = this.registerModule('decoder', new Linear(engine, latent, vocab));
  }
}

/** Stage 2: a new VIB encoder (z_acoustic) and the utterance decoder over [pool(z_textual); pool(z_acoustic)]. */
export class AcousticVIB extends Module {
  readonly encoder: VariationalEncoder;
  readonly poolText: AttentionPool;
  readonly poolAcoustic: AttentionPool;
  readonly classifier: Linear;
  constructor(engine: Engine, dim: number, latent: number, classes: number) {
    super(engine);
    this.encoder = this.registerModule('encoder', new VariationalEncoder(engine, dim, latent));
    this.poolText = this.registerModule('poolText', new AttentionPool(engine, latent));
    this.poolAcoustic = this.registerModule('poolAcoustic', new AttentionPool(engine, latent));
    this.classifier = this.registerModule('classifier', new Linear(engine, 2 * latent, classes));
  }
}

/** A probe of an utterance property: attention pooler (query of ones) + linear. */
export class UtteranceProbe extends Module {
  readonly pool: AttentionPool;
  readonly classifier: Linear;
  constructor(engine: Engine, dim: number, classes: number) {
    super(engine);
    this.pool = this.registerModule('pool', new AttentionPool(engine, dim));
    this.classifier = this.registerModule('classifier', new Linear(engine, dim, classes));
  }
}
