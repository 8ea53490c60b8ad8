// Node file access for checkpoints, metrics and plots. Atomic replace = write a temporary file in the
// same folder (same file system, so rename is atomic), fsync it, rename it over the final name, then
// fsync the folder so the rename itself survives a power cut. A crash leaves either the old file or
// the new one under the final name, never a part (at worst a stray `.tmp-*` file).
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CheckpointIO } from '../checkpoint.js';

export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${basename(path)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fh = await open(tmp, 'wx');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  // Not every platform lets a folder be opened for fsync (Windows); the rename is still atomic there.
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* best effort */
  }
}

/** Checkpoint file access on the local file system. */
export const nodeIO: CheckpointIO = {
  async readFile(path) {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  },
  writeFileAtomic,
  async exists(path) {
    try {
      await stat(path);
      return true;
    } catch {
      return false;
    }
  },
  async list(dir) {
    try {
      return await readdir(dir);
    } catch {
      return [];
    }
  },
  async remove(path) {
    await rm(path, { recursive: true, force: true });
  },
};

/**
 * A metrics sink for `train({ log })`: appends each record as one JSON line. Appending a whole line
 * in one write call keeps the file parseable line by line even if the process dies.
 */
export function jsonlSink(path: string, options: { truncate?: boolean } = {}): (record: object) => void {
  mkdirSync(dirname(path), { recursive: true });
  if (options.truncate ?? true) appendFileSync(path, '', { flag: 'w' });
  return (record) => appendFileSync(path, JSON.stringify(record) + '\n');
}
