// The CLIs' side of `--merge=DIR,…` (methods/merge.ts): read the report.json of each folder.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function readReports<R>(dirs: readonly string[]): Promise<R[]> {
  return Promise.all(dirs.map(async (d) => JSON.parse(await readFile(join(d, 'report.json'), 'utf8')) as R));
}
