// kiln's dense TransformerLM (nn/transformer.ts) written again in TF.js core ops, for the
// `train step dense LM` row: token + learned position embeddings, pre-norm blocks (LayerNorm ->
// causal multi-head attention -> residual, LayerNorm -> Linear/GELU(erf)/Linear -> residual), a final
// LayerNorm, the output head tied to the token embedding, mean softmax cross-entropy, and one AdamW
// step (decoupled weight decay, bias-corrected moments, as torch.optim.AdamW and kiln's AdamW).
// Attention is unfused, as TF.js has no fused kernel: matMul, additive causal mask, softmax, matMul.
// Linear layers run as tf.fused.matMul with the bias (what tfjs-layers' Dense does).
//
// Parameters carry kiln's names and shapes (Linear weights (out, in), so `x W^T + b`), so a kiln
// state dict loads as is; test/bench.node.test.ts checks the names, shapes and count against a kiln
// model and the loss and one AdamW step against kiln's on the same weights and tokens.
import type * as TF from '@tensorflow/tfjs-core';
import type { TransformerLMConfig } from '../../nn/index.js';

type Tf = typeof TF;
type Tensor = TF.Tensor;
type Variable = TF.Variable;

/** kiln's parameter names and shapes for `c`, in kiln's order (namedParameters()). */
export function lmParameterShapes(c: TransformerLMConfig): [string, number[]][] {
  const unsupported = [
    c.ffn !== 'gelu' && `ffn ${c.ffn}`,
    c.norm !== 'layernorm' && `norm ${c.norm}`,
    c.positions !== 'learned' && `positions ${c.positions}`,
    c.dropout !== 0 && `dropout ${c.dropout}`,
  ].filter(Boolean);
  if (unsupported.length) throw new Error(`TF.js transformer: only the dense GELU/LayerNorm/learned-position LM without dropout is written (got ${unsupported.join(', ')})`);
  const d = c.dModel;
  const out: [string, number[]][] = [
    ['tokEmb.weight', [c.vocabSize, d]],
    ['posEmb.weight', [c.maxSeqLen, d]],
  ];
  const linear = (name: string, inF: number, outF: number) => {
    out.push([`${name}.weight`, [outF, inF]]);
    if (c.bias) out.push([`${name}.bias`, [outF]]);
  };
  const norm = (name: string) => out.push([`${name}.weight`, [d]], [`${name}.bias`, [d]]);
  for (let i = 0; i < c.nLayers; i++) {
    const p = `layers.${i}`;
    norm(`${p}.ln1`);
    for (const proj of ['qProj', 'kProj', 'vProj', 'outProj']) linear(`${p}.attn.${proj}`, d, d);
    norm(`${p}.ln2`);
    linear(`${p}.mlp.fc1`, d, c.dFF);
    linear(`${p}.mlp.fc2`, c.dFF, d);
  }
  norm('lnF');
  if (!c.tiedEmbeddings) out.push(['head.weight', [c.vocabSize, d]]);
  return out;
}

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

let instances = 0;

/** The model's variables (kiln's names) and its loss; `step` adds AdamW's moments on first use. */
export class TfjsTransformerLM {
  /** kiln name -> variable. */
  readonly params = new Map<string, Variable>();
  private readonly byVarName = new Map<string, string>();
  private readonly consts = new Map<number, TF.Scalar>();
  private readonly masks = new Map<number, Tensor>();
  private moments: Map<string, [Variable, Variable]> | null = null;
  private t = 0;
  private readonly opt: Required<AdamWOptions>;

  constructor(
    private readonly tf: Tf,
    readonly config: TransformerLMConfig,
    opt: AdamWOptions = {},
  ) {
    // PyTorch's / kiln's AdamW defaults.
    this.opt = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, ...opt };
    const id = instances++; // TF.js variable names are global to its engine
    for (const [name, shape] of lmParameterShapes(config)) {
      // kiln's initialisation: embeddings N(0, initStd^2), Linear U(±1/sqrt(in)), norms 1 and 0.
      const init = tf.tidy(() => {
        if (name.endsWith('Emb.weight') || name === 'head.weight') return tf.mul(tf.randomNormal(shape), config.initStd);
        if (/(ln\d|lnF)\.weight$/.test(name)) return tf.ones(shape);
        if (/(ln\d|lnF)\.bias$/.test(name)) return tf.zeros(shape);
        const fanIn = name.endsWith('.bias') ? (name.includes('fc2') ? config.dFF : config.dModel) : shape[1];
        const bound = 1 / Math.sqrt(fanIn);
        return tf.randomUniform(shape, -bound, bound);
      });
      const v = tf.variable(init, true, `kiln_lm${id}/${name}`);
      init.dispose();
      this.params.set(name, v);
      this.byVarName.set(v.name, name);
    }
  }

  /** Number of scalars in the parameters. */
  numParameters(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    return n;
  }

  /** Overwrite parameters with values (e.g. a kiln state dict read back), by kiln name. */
  load(values: Record<string, Float32Array>): void {
    for (const [name, v] of this.params) {
      const x = values[name];
      if (!x || x.length !== v.size) throw new Error(`TF.js transformer load: ${name} needs ${v.size} values, got ${x?.length}`);
      this.tf.tidy(() => v.assign(this.tf.tensor(x, v.shape)));
    }
  }

  /** A scalar kept for the model's lifetime (numbers passed to ops would be new tensors per call). */
  private c(x: number): TF.Scalar {
    let s = this.consts.get(x);
    if (!s) {
      s = this.tf.keep(this.tf.scalar(x));
      this.consts.set(x, s);
    }
    return s;
  }

  /** (T, T): 0 on and below the diagonal, -1e9 above (added to the scores). */
  private causalBias(T: number): Tensor {
    let m = this.masks.get(T);
    if (!m) {
      const tf = this.tf;
      m = tf.keep(tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9)));
      this.masks.set(T, m);
    }
    return m;
  }

  private p(name: string): Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`TF.js transformer: no parameter ${name}`);
    return v;
  }

  /** x (N, in) -> (N, out) with kiln's (out, in) weight. */
  private linear(x: Tensor, name: string): Tensor {
    const bias = this.config.bias ? this.p(`${name}.bias`) : undefined;
    return this.tf.fused.matMul({ a: x, b: this.p(`${name}.weight`), transposeB: true, bias });
  }

  private layerNorm(x: Tensor, name: string): Tensor {
    const tf = this.tf;
    const { mean, variance } = tf.moments(x, -1, true);
    const n = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.c(this.config.normEps))));
    return tf.add(tf.mul(n, this.p(`${name}.weight`)), this.p(`${name}.bias`));
  }

  /** Exact GELU, x/2 (1 + erf(x/sqrt 2)), as kiln's MLP (approximate 'none'). */
  private gelu(x: Tensor): Tensor {
    const tf = this.tf;
    return tf.mul(tf.mul(x, this.c(0.5)), tf.add(this.c(1), tf.erf(tf.mul(x, this.c(Math.SQRT1_2)))));
  }

  /** Logits (B*T, vocab) of ids (B, T) int32. */
  logits(ids: Tensor): Tensor {
    const tf = this.tf;
    const c = this.config;
    const [B, T] = ids.shape;
    const d = c.dModel;
    const H = c.nHeads;
    const dh = d / H;
    const tok = tf.gather(this.p('tokEmb.weight'), tf.reshape(ids, [B * T])); // (B*T, d)
    const pos = tf.slice(this.p('posEmb.weight'), [0, 0], [T, d]); // (T, d), broadcast over B
    let h = tf.reshape(tf.add(tf.reshape(tok, [B, T, d]), pos), [B * T, d]);
    const heads = (x: Tensor) => tf.transpose(tf.reshape(x, [B, T, H, dh]), [0, 2, 1, 3]); // (B, H, T, dh)
    const bias = this.causalBias(T);
    const scale = this.c(1 / Math.sqrt(dh));
    for (let i = 0; i < c.nLayers; i++) {
      const p = `layers.${i}`;
      const n1 = this.layerNorm(h, `${p}.ln1`);
      const q = heads(tf.mul(this.linear(n1, `${p}.attn.qProj`), scale));
      const k = heads(this.linear(n1, `${p}.attn.kProj`));
      const v = heads(this.linear(n1, `${p}.attn.vProj`));
      const probs = tf.softmax(tf.add(tf.matMul(q, k, false, true), bias)); // (B, H, T, T)
      const o = tf.reshape(tf.transpose(tf.matMul(probs, v), [0, 2, 1, 3]), [B * T, d]);
      h = tf.add(h, this.linear(o, `${p}.attn.outProj`));
      const n2 = this.layerNorm(h, `${p}.ln2`);
      h = tf.add(h, this.linear(this.gelu(this.linear(n2, `${p}.mlp.fc1`)), `${p}.mlp.fc2`));
    }
    const hf = this.layerNorm(h, 'lnF');
    return tf.matMul(hf, this.p(c.tiedEmbeddings ? 'tokEmb.weight' : 'head.weight'), false, true); // (B*T, V)
  }

  /** Mean next-token cross-entropy of logits(ids) against targets (B, T) int32. */
  loss(ids: Tensor, targets: Tensor): TF.Scalar {
    const tf = this.tf;
    const labels = tf.oneHot(tf.reshape(targets, [targets.size]), this.config.vocabSize);
    return tf.losses.softmaxCrossEntropy(labels, this.logits(ids)) as TF.Scalar;
  }

  /**
   * One training step: loss, gradients (tf.variableGrads) and the AdamW update of every parameter,
   * encoded without a readback. Returns the loss (before the update); the caller disposes it.
   */
  step(ids: Tensor, targets: Tensor): TF.Scalar {
    const tf = this.tf;
    if (!this.moments) {
      this.moments = new Map();
      for (const [name, v] of this.params) {
        const z = tf.zerosLike(v);
        this.moments.set(name, [tf.variable(z, false, `${v.name}/exp_avg`), tf.variable(z, false, `${v.name}/exp_avg_sq`)]);
        z.dispose();
      }
    }
    const { lr, betas, eps, weightDecay } = this.opt;
    const [b1, b2] = betas;
    const t = ++this.t;
    return tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => this.loss(ids, targets), [...this.params.values()]);
      // Float64 on the host, as kiln: p <- p (1 - lr wd) - lr/(1 - b1^t) m / (sqrt(v)/sqrt(1 - b2^t) + eps).
      const stepSize = tf.scalar(lr / (1 - b1 ** t));
      const bc2Sqrt = tf.scalar(Math.sqrt(1 - b2 ** t));
      for (const [varName, g] of Object.entries(grads)) {
        const name = this.byVarName.get(varName)!;
        const p = this.params.get(name)!;
        const [m, s] = this.moments!.get(name)!;
        m.assign(tf.add(tf.mul(m, this.c(b1)), tf.mul(g, this.c(1 - b1))));
        s.assign(tf.add(tf.mul(s, this.c(b2)), tf.mul(tf.square(g), this.c(1 - b2))));
        const update = tf.div(tf.mul(m, stepSize), tf.add(tf.div(tf.sqrt(s), bc2Sqrt), this.c(eps)));
        p.assign(tf.sub(tf.mul(p, this.c(1 - lr * weightDecay)), update));
      }
      return value;
    });
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    for (const [m, s] of this.moments?.values() ?? []) {
      m.dispose();
      s.dispose();
    }
    for (const x of this.consts.values()) x.dispose();
    for (const x of this.masks.values()) x.dispose();
    this.params.clear();
    this.moments = null;
  }
}
