// Rows, ratios, the stdout table and the --filter matcher. Pure functions (unit-tested without a GPU).

/** One benchmark row. Every unit is a throughput: higher is better for kiln and each peer. */
export interface Row {
  name: string;
  unit: string;
  kiln: number;
  /** kiln's rate from GPU timestamps (kernel time only; the `kiln` column is wall time, like the peers'). */
  gpu?: number;
  tfjs?: number;
  ort?: number;
  jaxjs?: number;
  /** The device's measured ceiling in the same unit (FMA probe for GFLOP/s, copy probe for GB/s). */
  ceiling?: number;
  /** Shape or setting, for the reader. */
  shape?: string;
  /** GPU memory one call holds at its peak, above what was live before it (MiB). */
  peakMiB?: number;
}

export const PEERS = ['tfjs', 'ort', 'jaxjs'] as const;
export type PeerName = (typeof PEERS)[number];

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** kiln / peer, or undefined when the peer has no number. */
export function ratio(row: Row, peer: PeerName): number | undefined {
  const p = row[peer];
  return p !== undefined && p > 0 && Number.isFinite(p) ? row.kiln / p : undefined;
}

/**
 * `--filter=` by row name: a plain substring (case-insensitive), or a regex when written /re/ or when
 * it contains regex metacharacters and compiles.
 */
export function rowMatcher(spec: string | undefined): (name: string) => boolean {
  if (!spec) return () => true;
  const slash = /^\/(.*)\/([a-z]*)$/.exec(spec);
  if (slash) {
    const re = new RegExp(slash[1], slash[2] || 'i');
    return (n) => re.test(n);
  }
  if (/[\\^$.*+?()[\]{}|]/.test(spec)) {
    try {
      const re = new RegExp(spec, 'i');
      return (n) => re.test(n);
    } catch {
      // not a valid regex: fall through to a substring
    }
  }
  const s = spec.toLowerCase();
  return (n) => n.toLowerCase().includes(s);
}

/** Three significant digits, no exponent for the ranges benchmarks produce. */
export function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  const a = Math.abs(x);
  if (a >= 1000) return x.toFixed(0);
  if (a >= 100) return x.toFixed(1);
  if (a >= 10) return x.toFixed(2);
  return x.toPrecision(3);
}

export const TABLE_HEADER = ['name', 'shape', 'unit', 'kiln', '%ceil', 'kiln gpu', 'peak MiB', 'tfjs', 'k/tfjs', 'ort', 'k/ort', 'jaxjs', 'k/jaxjs'];
const WIDTHS = [34, 22, 9, 9, 6, 9, 9, 9, 7, 9, 7, 9, 7];

export function tableCells(row: Row): string[] {
  const pct = row.ceiling ? `${((100 * row.kiln) / row.ceiling).toFixed(0)}%` : '-';
  const cells = [row.name, row.shape ?? '', row.unit, fmt(row.kiln), pct, fmt(row.gpu), fmt(row.peakMiB)];
  for (const p of PEERS) {
    const r = ratio(row, p);
    cells.push(fmt(row[p]), r === undefined ? '-' : `${r.toFixed(2)}x`);
  }
  return cells;
}

export function tableLine(cells: readonly string[]): string {
  return cells.map((c, i) => (i < 3 ? c.padEnd(WIDTHS[i]) : c.padStart(WIDTHS[i]))).join(' ');
}

export function formatTable(rows: readonly Row[]): string {
  return [tableLine(TABLE_HEADER), ...rows.map((r) => tableLine(tableCells(r)))].join('\n');
}
