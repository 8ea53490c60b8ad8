// A minimal protobuf writer for small ONNX models, so the ONNX Runtime peer needs no model files
// and no `onnx` package. Only the fields ORT needs: ModelProto{ir_version, opset_import, graph},
// GraphProto{node, name, initializer, input, output}, NodeProto{input, output, op_type, attribute},
// AttributeProto{name, i|f|ints, type}, TensorProto{dims, data_type, name, raw_data} (f32
// initializers), ValueInfoProto{name, type: tensor_type{elem_type, shape}}.

/** Bytes of a protobuf message built field by field (wire types 0 = varint, 2 = length-delimited, 5 = 32-bit). */
export class Pb {
  private bytes: number[] = [];

  private varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v)); // negative int64 values are 10-byte two's complement
    while (x >= 0x80n) {
      this.bytes.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.bytes.push(Number(x));
  }

  private key(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number): this {
    this.key(field, 0);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.key(field, 5);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.bytes.push(...b);
    return this;
  }

  raw(field: number, data: Uint8Array): this {
    this.key(field, 2);
    this.varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }

  str(field: number, s: string): this {
    return this.raw(field, new TextEncoder().encode(s));
  }

  msg(field: number, m: Pb): this {
    return this.raw(field, m.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

/** ONNX TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_FLOAT16 = 10;

export interface OnnxValue {
  name: string;
  shape: readonly number[];
  elemType?: number;
}

export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  /** Integer, float or integer-list attributes (e.g. Softmax axis, LayerNormalization epsilon, Transpose perm). */
  attrs?: Record<string, { i: number } | { f: number } | { ints: number[] }>;
}

/** A constant f32 tensor stored in the graph (GraphProto.initializer). */
export interface OnnxInitializer {
  name: string;
  shape: readonly number[];
  data: Float32Array;
}

function tensorProto(t: OnnxInitializer): Pb {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) throw new Error(`onnx initializer ${t.name}: shape [${t.shape}] needs ${n} values, got ${t.data.length}`);
  const p = new Pb();
  for (const d of t.shape) p.int(1, d); // dims (repeated, unpacked)
  p.int(2, ONNX_FLOAT).str(8, t.name);
  // raw_data: little-endian f32, which is how a Float32Array lies in memory on every JS platform that runs this
  return p.raw(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

function valueInfo(v: OnnxValue): Pb {
  const shape = new Pb();
  for (const d of v.shape) shape.msg(1, new Pb().int(1, d)); // Dimension.dim_value
  const tensorType = new Pb().int(1, v.elemType ?? ONNX_FLOAT).msg(2, shape);
  return new Pb().str(1, v.name).msg(2, new Pb().msg(1, tensorType));
}

/** A serialized ModelProto with one graph of `nodes` (default domain, opset 17) and optional constant initializers. */
export function onnxModel(nodes: OnnxNode[], inputs: OnnxValue[], outputs: OnnxValue[], opset = 17, initializers: OnnxInitializer[] = []): Uint8Array {
  const graph = new Pb();
  nodes.forEach((n, k) => {
    const node = new Pb();
    for (const i of n.inputs) node.str(1, i);
    for (const o of n.outputs) node.str(2, o);
    node.str(3, `n${k}`).str(4, n.opType);
    for (const [name, a] of Object.entries(n.attrs ?? {})) {
      // AttributeProto: name = 1, f = 2, i = 3, ints = 8, type = 20 (FLOAT = 1, INT = 2, INTS = 7)
      const attr = new Pb().str(1, name);
      if ('i' in a) attr.int(3, a.i).int(20, 2);
      else if ('ints' in a) {
        for (const v of a.ints) attr.int(8, v);
        attr.int(20, 7);
      } else attr.float(2, a.f).int(20, 1);
      node.msg(5, attr);
    }
    graph.msg(1, node);
  });
  graph.str(2, 'bench');
  for (const t of initializers) graph.msg(5, tensorProto(t));
  for (const v of inputs) graph.msg(11, valueInfo(v));
  for (const v of outputs) graph.msg(12, valueInfo(v));
  return new Pb()
    .int(1, 8) // ir_version 8
    .str(2, 'kiln-bench') // producer_name
    .msg(7, graph)
    .msg(8, new Pb().str(1, '').int(2, opset))
    .finish();
}

/**
 * Causal attention as an ONNX subgraph, unfused: MatMul(q, Transpose(k)) * scale + causal mask ->
 * Softmax -> MatMul(v), for q, k, v of shape (B, H, T, D) (inputs 'q', 'k', 'v', output 'o').
 * The scale (1/sqrt(D)) and the (T, T) additive mask (0 on and below the diagonal, -1e9 above) are
 * initializers, so a call uploads only q, k and v.
 */
export function attentionModel(b: number, h: number, t: number, d: number): Uint8Array {
  const mask = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) mask[i * t + j] = -1e9;
  const qkv = (name: string) => ({ name, shape: [b, h, t, d] });
  return onnxModel(
    [
      { opType: 'Transpose', inputs: ['k'], outputs: ['kt'], attrs: { perm: { ints: [0, 1, 3, 2] } } },
      { opType: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'] },
      { opType: 'Mul', inputs: ['s', 'scale'], outputs: ['ss'] },
      { opType: 'Add', inputs: ['ss', 'mask'], outputs: ['sm'] },
      { opType: 'Softmax', inputs: ['sm'], outputs: ['p'], attrs: { axis: { i: -1 } } },
      { opType: 'MatMul', inputs: ['p', 'v'], outputs: ['o'] },
    ],
    [qkv('q'), qkv('k'), qkv('v')],
    [qkv('o')],
    17,
    [
      { name: 'scale', shape: [], data: Float32Array.of(1 / Math.sqrt(d)) },
      { name: 'mask', shape: [t, t], data: mask },
    ],
  );
}
