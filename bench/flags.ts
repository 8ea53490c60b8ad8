// `npm run bench` flags: declared once here, parsed strictly (node:util parseArgs), --help generated.
import { bool, helpText, list, oneOf, parseFlags, text, type Flag } from '../methods/flags.js';

export const BENCH_GROUPS = ['core', 'router', 'moe', 'attention', 'steps'] as const;
export const BENCH_PEERS = ['tfjs', 'ort', 'jaxjs'] as const;

export interface BenchOptions {
  quick: boolean;
  /** Only rows whose name matches (substring, case-insensitive; a regex when it has regex syntax or is /…/flags). */
  filter?: string;
  /** Only these groups (undefined: every group but moe under --quick). */
  only?: (typeof BENCH_GROUPS)[number][];
  out?: string;
  peers: (typeof BENCH_PEERS)[number][];
  profile: boolean;
  replot?: string;
}

export const BENCH_FLAGS: Flag[] = [
  { name: 'quick', type: bool, help: 'short timings (60 ms samples, at most 20 reps), small sizes, and the moe group left out (--only=moe brings it back)', shown: 'false' },
  { name: 'filter', type: text('PATTERN'), help: 'only rows whose name matches: a case-insensitive substring, or a regex (when it has regex characters, or written /re/flags)' },
  { name: 'only', type: list(oneOf(BENCH_GROUPS)), help: 'only these groups of rows', shown: 'all (under --quick: all but moe)' },
  { name: 'out', type: text('FILE.json'), help: 'also write the rows as JSON to FILE.json, with FILE.meta.json and the plot FILE.svg/.png' },
  { name: 'peers', type: list(oneOf(BENCH_PEERS), { min: 0 }), help: 'peer libraries timed on the same adapter (empty: none)', shown: BENCH_PEERS.join(',') },
  { name: 'no-peers', type: bool, help: 'no peers (the same as --peers=)' },
  { name: 'profile', type: bool, help: 'also profile the goal rows (bench/profile.ts) before the groups', shown: 'false' },
  { name: 'replot', type: text('FILE.json'), help: 'only redraw FILE.svg/.png from saved rows (e.g. results copied back from a GPU run), no benchmarks' },
];

export const benchHelp = (): string =>
  helpText({
    usage: 'npm run bench -- [--flag=value …]',
    about: "Device ceilings, kiln's kernels and whole steps, with TF.js-WebGPU, ONNX Runtime (WebGPU EP) and jax-js on the same adapter; prints a table (bench/README.md).",
    flags: BENCH_FLAGS,
  });

/** Parse the bench's command line; `help` when --help was asked for. Throws UsageError. */
export function parseBenchFlags(argv: readonly string[]): { help: true } | ({ help: false } & BenchOptions) {
  const { help, values } = parseFlags(argv, BENCH_FLAGS, 'npm run bench', 'npm run bench -- --help');
  if (help) return { help: true };
  const v = <T>(k: string) => values.get(k) as T | undefined;
  return {
    help: false,
    quick: v<boolean>('quick') ?? false,
    filter: v('filter'),
    only: v('only'),
    out: v('out'),
    peers: v<boolean>('no-peers') ? [] : (v('peers') ?? [...BENCH_PEERS]),
    profile: v<boolean>('profile') ?? false,
    replot: v('replot'),
  };
}
