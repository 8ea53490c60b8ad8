// Checkpoints: model weights, optimizer state, RNG state, step and config, saved so that a crash
// mid-save never damages the checkpoint before it.
//
// Layout under `dir`:
//   step-00000120/model.safetensors      model.stateDict()
//   step-00000120/optimizer.safetensors  optimizer tensors; its `hyper` as JSON in __metadata__
//   step-00000120/state.json             step, config, RNG state, extra, and the size + CRC-32 of each file
//   latest                               the name of the newest complete step folder
// A save writes a fresh step folder (each file atomically) and only then replaces `latest`
// atomically. Until that last rename the previous checkpoint is what `latest` names, untouched; a
// crash can at worst leave an unreferenced folder or temporary file behind, which the next save's
// pruning removes (it counts only complete folders toward `keep`). Loading checks sizes and checksums and
// decodes everything before it changes the model, so a corrupt checkpoint changes nothing.
// Web-standard code: file access comes through `CheckpointIO` (nn/node/fs.ts for Node).
import { KilnError, type Engine, type Tensor } from '../engine/index.js';
import type { Module } from './module.js';
import { SafetensorsError, decodeSafetensors, encodeSafetensors, fromHost, toHost, type HostTensor } from './safetensors.js';

/** A checkpoint that is missing, inconsistent or corrupt. */
export class CheckpointError extends KilnError {
  override name = 'CheckpointError';
}

/** File access for checkpoints. Paths use '/' separators. */
export interface CheckpointIO {
  readFile(path: string): Promise<Uint8Array>;
  /**
   * Replace `path` all at once (temporary file + rename): readers see the old file or the new, never a
   * part. Creates parent folders. Temporary files are named `.tmp-…` in the same folder, so pruning
   * can remove those a killed save left behind.
   */
  writeFileAtomic(path: string, bytes: Uint8Array): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** Optional: names in a folder, for pruning old step folders. */
  list?(dir: string): Promise<string[]>;
  /** Optional: delete a file or folder recursively, for pruning. */
  remove?(path: string): Promise<void>;
}

/** What checkpoints need of an optimizer (nn/optim.ts's AdamW and SGD fit it). */
export interface OptimizerState {
  stateDict(): { hyper: unknown; tensors: Record<string, Tensor> };
  loadStateDict(state: { hyper: unknown; tensors: Record<string, Tensor> }): void;
}

export interface SaveOptions {
  model: Module;
  optimizer?: OptimizerState;
  engine: Engine;
  step: number;
  /** JSON-serialisable model/training configuration (to rebuild the model before loading). */
  config: unknown;
  /** JSON-serialisable extra state (data position, best metric, …). */
  extra?: unknown;
  /** Step folders to keep (default 2); older ones are removed when `io` can list and remove. */
  keep?: number;
}

export interface LoadOptions {
  model: Module;
  optimizer?: OptimizerState;
  engine: Engine;
  /** A particular step folder name (e.g. "step-00000120"); default: the one `latest` names. */
  folder?: string;
}

export interface CheckpointState {
  format: 'kiln-checkpoint';
  version: 1;
  step: number;
  config: unknown;
  rng: { seed: number; offset: number };
  extra: unknown;
  files: Record<string, { bytes: number; crc32: number }>;
  savedAt: string;
}

const join = (...parts: string[]) => parts.join('/').replace(/\/+/g, '/');
const FOLDER = /^step-\d{8,}(-r\d+)?$/;
const TEMP_PREFIX = '.tmp-';
export const stepFolder = (step: number) => `step-${String(step).padStart(8, '0')}`;

/** Write a checkpoint for `step`. Returns the step folder's path. */
export async function saveCheckpoint(io: CheckpointIO, dir: string, opts: SaveOptions): Promise<string> {
  const { model, optimizer, engine, step } = opts;
  if (!Number.isSafeInteger(step) || step < 0) throw new CheckpointError(`saveCheckpoint: step must be a non-negative integer, got ${step}`);
  // Read everything back first (one batch of GPU reads) so the saved state is one consistent moment.
  const rng = engine.getRngState();
  const opt = optimizer?.stateDict();
  const [modelHost, optHost] = await Promise.all([toHost(model.stateDict()), opt ? toHost(opt.tensors) : Promise.resolve(null)]);

  const files: Record<string, Uint8Array> = {
    'model.safetensors': encodeSafetensors(modelHost, { format: 'kiln' }),
  };
  if (opt && optHost) files['optimizer.safetensors'] = encodeSafetensors(optHost, { format: 'kiln', hyper: JSON.stringify(opt.hyper ?? null) });

  // Never write into an existing folder (it may be the one `latest` names): a re-save of the same
  // step gets a fresh suffix.
  let folder = stepFolder(step);
  for (let r = 1; await io.exists(join(dir, folder)); r++) folder = `${stepFolder(step)}-r${r}`;
  const state: CheckpointState = {
    format: 'kiln-checkpoint',
    version: 1,
    step,
    config: opts.config ?? null,
    rng,
    extra: opts.extra ?? null,
    files: Object.fromEntries(Object.entries(files).map(([k, b]) => [k, { bytes: b.byteLength, crc32: crc32(b) }])),
    savedAt: new Date().toISOString(),
  };
  for (const [name, bytes] of Object.entries(files)) await io.writeFileAtomic(join(dir, folder, name), bytes);
  await io.writeFileAtomic(join(dir, folder, 'state.json'), new TextEncoder().encode(JSON.stringify(state, null, 2) + '\n'));
  // The commit point: from here on `latest` names the new, complete folder.
  await io.writeFileAtomic(join(dir, 'latest'), new TextEncoder().encode(folder + '\n'));

  if (io.list && io.remove) await prune(io, dir, folder, opts.keep ?? 2);
  return join(dir, folder);
}

/**
 * Keep the current folder and the `keep - 1` newest other complete checkpoints; remove older ones,
 * step folders that never completed (a save killed before its state.json), and temporaries left by
 * killed atomic writes. One saver per `dir` at a time: another saver's files in flight would look
 * like leftovers.
 */
async function prune(io: CheckpointIO, dir: string, current: string, keep: number): Promise<void> {
  const names = await io.list!(dir);
  for (const n of names) if (n.startsWith(TEMP_PREFIX)) await io.remove!(join(dir, n));
  const complete: string[] = [];
  for (const f of names.filter((n) => FOLDER.test(n) && n !== current).sort()) {
    if (await isComplete(io, join(dir, f))) complete.push(f);
    else await removeFolder(io, join(dir, f));
  }
  const kept = Math.max(0, keep - 1);
  for (const f of complete.slice(0, Math.max(0, complete.length - kept))) await removeFolder(io, join(dir, f));
  for (const f of [current, ...complete.slice(Math.max(0, complete.length - kept))]) {
    for (const n of await io.list!(join(dir, f))) if (n.startsWith(TEMP_PREFIX)) await io.remove!(join(dir, f, n));
  }
}

/** A folder counts as a checkpoint once its state.json validates and names only files that exist. */
async function isComplete(io: CheckpointIO, base: string): Promise<boolean> {
  try {
    const state = await readState(io, base);
    for (const name of Object.keys(state.files)) if (!(await io.exists(join(base, name)))) return false;
    return true;
  } catch (e) {
    if (e instanceof CheckpointError) return false;
    throw e;
  }
}

/** Remove state.json first: a removal cut short leaves a folder that no longer counts as complete. */
async function removeFolder(io: CheckpointIO, base: string): Promise<void> {
  await io.remove!(join(base, 'state.json'));
  await io.remove!(base);
}

/** The step folder `latest` names, or null when `dir` holds no checkpoint. */
export async function latestCheckpoint(io: CheckpointIO, dir: string): Promise<string | null> {
  const p = join(dir, 'latest');
  if (!(await io.exists(p))) return null;
  const name = new TextDecoder().decode(await io.readFile(p)).trim();
  if (!FOLDER.test(name)) throw new CheckpointError(`checkpoint: ${p} holds "${name.slice(0, 40)}", not a step folder name`);
  return name;
}

/**
 * Read the checkpoint `latest` names (or `opts.folder`) into the model, the optimizer and the engine's
 * RNG. Everything is read and validated before anything changes. Returns the saved state (step, config, extra).
 */
export async function loadCheckpoint(io: CheckpointIO, dir: string, opts: LoadOptions): Promise<CheckpointState> {
  const folder = opts.folder ?? (await latestCheckpoint(io, dir));
  if (!folder) throw new CheckpointError(`loadCheckpoint: no checkpoint in ${dir} (no "latest" file)`);
  const base = join(dir, folder);
  const state = await readState(io, base);

  const read = async (name: string): Promise<{ tensors: Record<string, HostTensor>; metadata: Record<string, string> }> => {
    const path = join(base, name);
    if (!(await io.exists(path))) throw new CheckpointError(`loadCheckpoint: ${path} is missing`);
    const bytes = await io.readFile(path);
    const want = state.files[name];
    if (want && bytes.byteLength !== want.bytes) {
      throw new CheckpointError(`loadCheckpoint: ${path} has ${bytes.byteLength} bytes, state.json recorded ${want.bytes}: truncated or replaced`);
    }
    try {
      const decoded = decodeSafetensors(bytes);
      // Header checks cannot see flipped bits in tensor data; the checksum can.
      if (want && crc32(bytes) !== want.crc32) throw new CheckpointError(`loadCheckpoint: ${path} fails its CRC-32 check: the file is corrupt`);
      return decoded;
    } catch (e) {
      if (e instanceof SafetensorsError) throw new CheckpointError(`loadCheckpoint: ${path}: ${e.message}`);
      throw e;
    }
  };

  const modelFile = await read('model.safetensors');
  let optFile: Awaited<ReturnType<typeof read>> | null = null;
  if (opts.optimizer) {
    if (!state.files['optimizer.safetensors']) throw new CheckpointError(`loadCheckpoint: ${base} holds no optimizer state, but an optimizer was given`);
    optFile = await read('optimizer.safetensors');
  }
  // Names, shapes and dtypes against the model before any copy, so a mismatch changes nothing.
  const own = opts.model.stateDict();
  const ownKeys = Object.keys(own);
  const fileKeys = Object.keys(modelFile.tensors);
  const missing = ownKeys.filter((k) => !(k in modelFile.tensors));
  const unexpected = fileKeys.filter((k) => !(k in own));
  if (missing.length || unexpected.length) {
    throw new CheckpointError(`loadCheckpoint: model mismatch: missing [${missing.join(', ')}], unexpected [${unexpected.join(', ')}]`);
  }
  for (const k of ownKeys) {
    const f = modelFile.tensors[k];
    const t = own[k];
    if (f.dtype !== t.dtype || f.shape.length !== t.shape.length || f.shape.some((d, i) => d !== t.shape[i])) {
      throw new CheckpointError(`loadCheckpoint: ${k} is ${f.dtype} [${f.shape.join(', ')}] in the file, ${t.dtype} [${t.shape.join(', ')}] in the model`);
    }
  }
  let hyper: unknown = null;
  if (optFile) {
    try {
      hyper = JSON.parse(optFile.metadata.hyper ?? 'null');
    } catch {
      throw new CheckpointError(`loadCheckpoint: ${base}/optimizer.safetensors: its hyper-parameters are not valid JSON`);
    }
  }

  const created: Tensor[] = [];
  const upload = (host: Record<string, HostTensor>) => {
    const out: Record<string, Tensor> = {};
    for (const [k, h] of Object.entries(host)) {
      const t = opts.engine.keep(fromHost(opts.engine, h));
      created.push(t);
      out[k] = t;
    }
    return out;
  };
  try {
    opts.model.loadStateDict(upload(modelFile.tensors));
    if (opts.optimizer && optFile) opts.optimizer.loadStateDict({ hyper, tensors: upload(optFile.tensors) });
  } finally {
    // loadStateDict copies into the live tensors; the uploads are ours to free (copies are queued
    // on the GPU in stream order, so disposing now is safe).
    for (const t of created) if (!t.disposed) t.dispose();
  }
  opts.engine.setRngState(state.rng);
  return state;
}

async function readState(io: CheckpointIO, base: string): Promise<CheckpointState> {
  const path = join(base, 'state.json');
  if (!(await io.exists(path))) throw new CheckpointError(`loadCheckpoint: ${path} is missing`);
  let s: CheckpointState;
  try {
    s = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await io.readFile(path)));
  } catch (e) {
    throw new CheckpointError(`loadCheckpoint: ${path} is not valid JSON (${(e as Error).message})`);
  }
  if (s?.format !== 'kiln-checkpoint' || typeof s.step !== 'number' || typeof s.rng?.seed !== 'number' || typeof s.rng?.offset !== 'number' || typeof s.files !== 'object') {
    throw new CheckpointError(`loadCheckpoint: ${path} is not a kiln checkpoint state`);
  }
  return s;
}

// ------------------------------------------------------------------ CRC-32 (IEEE, as zlib and PNG)

let table: Uint32Array | null = null;
export function crc32(bytes: Uint8Array): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
