// Types of scripts/stale.mjs (imported by test/cli.node.test.ts).
import type { BuildOptions, BuildResult, Metafile } from 'esbuild';

export const ALWAYS: string[];
export function staleReason(dist: string, outfile: string, root?: string): string | null;
export function recordInputs(dist: string, outfile: string, metafile: Metafile, started: number, root?: string): void;
export function staleAware(
  build: (options: BuildOptions) => Promise<BuildResult>,
  dist: string,
  argv: readonly string[],
  root?: string,
): (options: BuildOptions & { outfile: string }) => Promise<BuildResult | undefined>;
