// What each peer library offers the kernel benchmarks: median ms per call for an op at a shape, or
// undefined where the library has no such op. Throughput is computed by the caller with the same
// formula as kiln's row, so the ratio compares like with like.
import type { PeerName } from '../format.js';

export interface Peer {
  name: PeerName;
  /** (batch?) M x K @ K x N. */
  matmul?(batch: number, m: number, k: number, n: number): Promise<number | undefined>;
  softmax?(rows: number, cols: number): Promise<number | undefined>;
  layerNorm?(rows: number, cols: number): Promise<number | undefined>;
  sumRows?(rows: number, cols: number): Promise<number | undefined>;
  /** Unfused causal attention on (B, H, T, D). */
  attention?(b: number, h: number, t: number, d: number): Promise<number | undefined>;
  dispose(): void;
}
