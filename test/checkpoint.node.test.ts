// Checkpoints on the real file system (nn/node/fs.ts): bit-exact model + optimizer + RNG round trip,
// a resumed run that reproduces the next losses exactly, crashes mid-save that leave the previous
// checkpoint intact, and corrupt files that raise a clear error and change nothing.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crossEntropy, dropout, type Engine, type Tensor } from '../engine/index.js';
import {
  AdamW, CheckpointError, Embedding, Linear, Module, loadCheckpoint, saveCheckpoint, latestCheckpoint, type CheckpointIO,
} from '../nn/index.js';
import { nodeIO, writeFileAtomic } from '../nn/node/index.js';
import { gpuEngine } from './helpers/gpu.js';

const V = 11;
const D = 8;
const B = 6;

/** A tiny LM-shaped model with dropout, so the RNG state matters for the next losses. */
class Tiny extends Module {
  emb: Embedding;
  hidden: Linear;
  out: Linear;
  constructor(engine: Engine) {
    super(engine);
    this.emb = this.registerModule('emb', new Embedding(engine, V, D));
    this.hidden = this.registerModule('hidden', new Linear(engine, D, D));
    this.out = this.registerModule('out', new Linear(engine, D, V));
  }
  forward(x: Tensor): Tensor {
    const h = dropout(this.hidden.forward(this.emb.forward(x)).relu(), 0.3, this.training);
    return this.out.forward(h);
  }
}

/** Deterministic batch for step i (as a resumable data loader would give). */
function batch(engine: Engine, i: number): { x: Tensor; y: Tensor } {
  const xs = Array.from({ length: B }, (_, j) => (i * 7 + j * 3) % V);
  const ys = xs.map((v) => (v * 5 + 1) % V);
  return { x: engine.tensor(xs, [B], { dtype: 'i32' }), y: engine.tensor(ys, [B], { dtype: 'i32' }) };
}

function trainStep(engine: Engine, model: Tiny, opt: AdamW, i: number): Tensor {
  const loss = engine.tidy(() => {
    const { x, y } = batch(engine, i);
    const l = crossEntropy(model.forward(x), y);
    opt.zeroGrad();
    l.backward();
    opt.step();
    return l;
  });
  return loss;
}

async function lossesOf(engine: Engine, model: Tiny, opt: AdamW, from: number, n: number): Promise<number[]> {
  const ls: Tensor[] = [];
  for (let i = from; i < from + n; i++) ls.push(trainStep(engine, model, opt, i));
  const out: number[] = [];
  for (const l of ls) {
    out.push(await l.item());
    l.dispose();
  }
  return out;
}

async function bytesOfState(model: Module, opt?: AdamW): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  const add = async (prefix: string, sd: Record<string, Tensor>) => {
    for (const [k, t] of Object.entries(sd)) {
      const d = await t.data();
      out[prefix + k] = Array.from(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
  };
  await add('model.', model.stateDict());
  if (opt) await add('opt.', opt.stateDict().tensors);
  return out;
}

describe('checkpoint (Node file system)', function () {
  let engine: Engine;
  let dir: string;
  const made: { dispose(): void }[] = [];
  const fresh = (seed: number) => {
    engine.manualSeed(seed);
    const m = new Tiny(engine);
    const o = new AdamW(m.parameters(), { lr: 0.05, weightDecay: 0.01 });
    made.push(m, o);
    return { m, o };
  };

  before(async function () {
    engine = await gpuEngine(this);
  });
  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'kiln-ckpt-'));
  });
  afterEach(async function () {
    for (const x of made.splice(0)) x.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips model, optimizer, RNG, step, config and extra bit-exactly', async function () {
    const { m, o } = fresh(1);
    await lossesOf(engine, m, o, 0, 3);
    engine.manualSeed(77);
    engine.rand([5]).dispose(); // move the RNG offset off zero
    const rng = engine.getRngState();
    const want = await bytesOfState(m, o);
    const hyperBefore = JSON.stringify(o.stateDict().hyper);
    await saveCheckpoint(nodeIO, dir, { model: m, optimizer: o, engine, step: 3, config: { V, D }, extra: { cursor: 42 } });
    expect(await readdir(dir)).to.have.members(['latest', 'step-00000003']);
    expect((await readdir(join(dir, 'step-00000003'))).sort()).to.deep.equal(['model.safetensors', 'optimizer.safetensors', 'state.json']);

    engine.manualSeed(999);
    const { m: m2, o: o2 } = fresh(2);
    const state = await loadCheckpoint(nodeIO, dir, { model: m2, optimizer: o2, engine });
    expect(state.step).to.equal(3);
    expect(state.config).to.deep.equal({ V, D });
    expect(state.extra).to.deep.equal({ cursor: 42 });
    expect(engine.getRngState()).to.deep.equal(rng);
    expect(await bytesOfState(m2, o2)).to.deep.equal(want);
    expect(JSON.stringify(o2.stateDict().hyper)).to.equal(hyperBefore);
  });

  it('a resumed run reproduces the next five losses exactly (dropout on)', async function () {
    const { m, o } = fresh(5);
    await lossesOf(engine, m, o, 0, 4);
    await saveCheckpoint(nodeIO, dir, { model: m, optimizer: o, engine, step: 4, config: {} });
    const expected = await lossesOf(engine, m, o, 4, 5);

    const { m: m2, o: o2 } = fresh(123); // different init and RNG: everything must come from the file
    const { step } = await loadCheckpoint(nodeIO, dir, { model: m2, optimizer: o2, engine });
    const resumed = await lossesOf(engine, m2, o2, step, 5);
    expect(resumed).to.deep.equal(expected);
    // And the losses really depend on the dropout RNG: a different RNG gives different losses.
    const { m: m3, o: o3 } = fresh(9);
    await loadCheckpoint(nodeIO, dir, { model: m3, optimizer: o3, engine });
    engine.manualSeed(31337);
    expect(await lossesOf(engine, m3, o3, step, 5)).to.not.deep.equal(expected);
  });

  it('a crash mid-save (the writer fails at each file in turn) leaves the previous checkpoint loadable and unchanged', async function () {
    const { m, o } = fresh(3);
    await lossesOf(engine, m, o, 0, 2);
    await saveCheckpoint(nodeIO, dir, { model: m, optimizer: o, engine, step: 2, config: { v: 1 } });
    const saved = await bytesOfState(m, o);
    const rng = engine.getRngState();
    await lossesOf(engine, m, o, 2, 2);

    for (let failAt = 0; failAt < 4; failAt++) {
      let writes = 0;
      const crashing: CheckpointIO = {
        ...nodeIO,
        async writeFileAtomic(path, bytes) {
          if (writes++ === failAt) {
            // Simulate dying half-way through the write: a partial temp file, never the final name.
            await writeFile(join(dir, `.tmp-crash-${failAt}`), bytes.subarray(0, bytes.length >> 1));
            throw new Error(`simulated crash writing ${path}`);
          }
          return nodeIO.writeFileAtomic(path, bytes);
        },
      };
      let err: unknown;
      try {
        await saveCheckpoint(crashing, dir, { model: m, optimizer: o, engine, step: 4, config: { v: 2 } });
      } catch (e) {
        err = e;
      }
      expect((err as Error)?.message, `failAt ${failAt}`).to.match(/simulated crash/);
      expect(await latestCheckpoint(nodeIO, dir)).to.equal('step-00000002');
    }
    const { m: m2, o: o2 } = fresh(8);
    const state = await loadCheckpoint(nodeIO, dir, { model: m2, optimizer: o2, engine });
    expect(state.step).to.equal(2);
    expect(state.config).to.deep.equal({ v: 1 });
    expect(engine.getRngState()).to.deep.equal(rng);
    expect(await bytesOfState(m2, o2)).to.deep.equal(saved);
    // A later successful save still works next to the debris, and wins.
    await saveCheckpoint(nodeIO, dir, { model: m, optimizer: o, engine, step: 4, config: { v: 2 } });
    expect(await latestCheckpoint(nodeIO, dir)).to.match(/^step-00000004(-r\d+)?$/);
  });

  it('a truncated or corrupt file raises a clear CheckpointError and changes nothing', async function () {
    const { m, o } = fresh(4);
    await lossesOf(engine, m, o, 0, 2);
    await saveCheckpoint(nodeIO, dir, { model: m, optimizer: o, engine, step: 2, config: {} });
    const folder = join(dir, 'step-00000002');
    const pristine = {
      model: await readFile(join(folder, 'model.safetensors')),
      opt: await readFile(join(folder, 'optimizer.safetensors')),
      state: await readFile(join(folder, 'state.json')),
    };

    const { m: m2, o: o2 } = fresh(6);
    await lossesOf(engine, m2, o2, 0, 1);
    const before = await bytesOfState(m2, o2);
    const rngBefore = engine.getRngState();
    const expectFails = async (re: RegExp) => {
      let err: unknown;
      try {
        await loadCheckpoint(nodeIO, dir, { model: m2, optimizer: o2, engine });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(CheckpointError);
      expect((err as Error).name).to.equal('CheckpointError');
      expect((err as Error).message).to.match(re);
      expect(await bytesOfState(m2, o2)).to.deep.equal(before);
      expect(engine.getRngState()).to.deep.equal(rngBefore);
    };

    // Truncated model file (size recorded in state.json disagrees).
    await writeFile(join(folder, 'model.safetensors'), pristine.model.subarray(0, pristine.model.length - 10));
    await expectFails(/model\.safetensors has \d+ bytes, state\.json recorded \d+: truncated/);
    // Truncated to a bare header, with the size check out of the way: the safetensors decoder speaks.
    const st = JSON.parse(pristine.state.toString());
    st.files['model.safetensors'].bytes = 20;
    await writeFile(join(folder, 'state.json'), JSON.stringify(st));
    await writeFile(join(folder, 'model.safetensors'), pristine.model.subarray(0, 20));
    await expectFails(/model\.safetensors: safetensors: header length \d+ runs past the end of the file/);
    await writeFile(join(folder, 'state.json'), pristine.state);
    // A flipped bit in the optimizer's tensor data: only the checksum can see it.
    const flipped = Buffer.from(pristine.opt);
    flipped[flipped.length - 3] ^= 0x10;
    await writeFile(join(folder, 'model.safetensors'), pristine.model);
    await writeFile(join(folder, 'optimizer.safetensors'), flipped);
    await expectFails(/optimizer\.safetensors fails its CRC-32 check/);
    await writeFile(join(folder, 'optimizer.safetensors'), pristine.opt);
    // A corrupt state.json.
    await writeFile(join(folder, 'state.json'), pristine.state.subarray(0, 30));
    await expectFails(/state\.json is not valid JSON/);
    await writeFile(join(folder, 'state.json'), pristine.state);
    // A model of another shape.
    const other = new Linear(engine, 3, 3);
    made.push(other);
    let err: unknown;
    try {
      await loadCheckpoint(nodeIO, dir, { model: other, engine });
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.match(/model mismatch: missing \[weight, bias\]/);
    // Restored files load again.
    await loadCheckpoint(nodeIO, dir, { model: m2, optimizer: o2, engine });
    expect(await bytesOfState(m2, o2)).to.deep.equal(await bytesOfState(m, o));
  });

  it('no checkpoint: a clear error', async function () {
    const { m } = fresh(1);
    let err: unknown;
    try {
      await loadCheckpoint(nodeIO, dir, { model: m, engine });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(CheckpointError);
    expect((err as Error).message).to.match(/no checkpoint in/);
  });

  it('writes atomically: readers see the old file or the whole new one, never a part; failures leave no debris', async function () {
    const path = join(dir, 'sub', 'file.bin');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...(await readFile(path))]).to.deep.equal([1, 2, 3]);
    // Poll the final name while a 32 MiB write is in progress.
    const big = new Uint8Array(32 << 20).fill(7);
    let writing = true;
    const seen = new Set<number>();
    const done = writeFileAtomic(path, big).finally(() => (writing = false));
    while (writing) {
      const b = await readFile(path);
      seen.add(b.length);
      if (b.length === big.length) expect(b[b.length - 1]).to.equal(7);
      await new Promise((r) => setTimeout(r, 1));
    }
    await done;
    for (const n of seen) expect([3, big.length]).to.include(n);
    expect((await readFile(path)).length).to.equal(big.length);
    // A write that fails (its folder path runs through a file) throws and leaves nothing behind.
    await writeFile(join(dir, 'plain'), 'x');
    let err: unknown;
    try {
      await writeFileAtomic(join(dir, 'plain', 'f.bin'), new Uint8Array([1]));
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(Error);
    expect((await readdir(join(dir, 'sub'))).sort()).to.deep.equal(['file.bin']);
  });

  it('keeps the last two step folders', async function () {
    const { m, o } = fresh(1);
    await lossesOf(engine, m, o, 0, 1);
    for (const s of [1, 2, 3, 4]) await saveCheckpoint(nodeIO, dir, { model: m, optimizer: o, engine, step: s, config: {} });
    expect((await readdir(dir)).sort()).to.deep.equal(['latest', 'step-00000003', 'step-00000004']);
  });

  it('pruning removes leftovers of killed saves and counts only complete folders toward keep', async function () {
    const { m, o } = fresh(1);
    await lossesOf(engine, m, o, 0, 1);
    for (const s of [1, 2]) await saveCheckpoint(nodeIO, dir, { model: m, optimizer: o, engine, step: s, config: {} });
    // What kills leave: temporaries, a step folder without state.json, one with state.json but a file
    // gone (a removal cut short), an empty one.
    await writeFile(join(dir, '.tmp-latest-123-abcd'), 'step-00000009\n');
    await writeFile(join(dir, 'step-00000002', '.tmp-model.safetensors-123-beef'), 'partial');
    await mkdir(join(dir, 'step-00000003'));
    await writeFile(join(dir, 'step-00000003', 'model.safetensors'), 'partial');
    await mkdir(join(dir, 'step-00000004'));
    await writeFile(join(dir, 'step-00000004', 'state.json'), await readFile(join(dir, 'step-00000002', 'state.json')));
    await mkdir(join(dir, 'step-00000005'));
    await saveCheckpoint(nodeIO, dir, { model: m, optimizer: o, engine, step: 6, config: {} });
    // keep = 2: the new folder and the newest other complete one (2), not the partial 3, 4 or 5.
    expect((await readdir(dir)).sort()).to.deep.equal(['latest', 'step-00000002', 'step-00000006']);
    expect((await readdir(join(dir, 'step-00000002'))).sort()).to.deep.equal(['model.safetensors', 'optimizer.safetensors', 'state.json']);
    await loadCheckpoint(nodeIO, dir, { model: m, optimizer: o, engine, folder: 'step-00000002' });
  });

  it('a process killed (SIGKILL) at random moments of save-and-prune always leaves a loadable latest and two complete checkpoints', async function () {
    this.timeout(300_000);
    const here = new URL('.', import.meta.url); // dist/test/: the library bundles sit one level up
    const child = join(dir, '..', `kiln-saver-${process.pid}.mjs`);
    await writeFile(child, SAVER);
    const ckpt = join(dir, 'ckpt');
    const model = new Linear(engine, 64, 128);
    made.push(model);
    const complete = async () => {
      const names = (await readdir(ckpt)).filter((n) => n.startsWith('step-'));
      const ok = await Promise.all(names.map((n) => readFile(join(ckpt, n, 'state.json'), 'utf8').then(() => true, () => false)));
      return names.filter((_, i) => ok[i]);
    };
    let next = 0;
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    try {
      for (let round = 0; round < 20; round++) {
        const proc = spawn(process.execPath, [child, new URL('../kiln.js', here).href, new URL('../nn.js', here).href, new URL('../nn-node.js', here).href, ckpt, String(next)], { stdio: ['ignore', 'pipe', 'inherit'] });
        // The child says "ready" after its first save, then keeps saving until it is killed.
        await new Promise<void>((resolve, reject) => {
          proc.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
          proc.on('exit', (code) => reject(new Error(`saver exited early with ${code}`)));
        });
        await new Promise((r) => setTimeout(r, rand() * 30));
        const exited = new Promise((r) => proc.on('exit', r));
        proc.kill('SIGKILL');
        await exited;
        const state = await loadCheckpoint(nodeIO, ckpt, { model, engine });
        // Every weight of step s's save equals s: the load returned one consistent save.
        const w = new Set([...(await model.weight.data()), ...(await model.bias!.data())]);
        expect([...w], `round ${round}: the weights of one save`).to.deep.equal([state.step]);
        expect((await complete()).length, `round ${round}: complete checkpoints`).to.be.at.least(2);
        next = state.step + 1;
      }
      // A clean save removes whatever the kills left: two complete folders, no temporaries.
      await saveCheckpoint(nodeIO, ckpt, { model, engine, step: next, config: null });
      const names = (await readdir(ckpt)).sort();
      expect(names.filter((n) => n.startsWith('.tmp-')), 'temporaries left in the folder').to.deep.equal([]);
      expect(names.filter((n) => n.startsWith('step-'))).to.deep.equal(await complete());
      expect(await complete()).to.have.length(2);
      for (const f of await complete()) expect((await readdir(join(ckpt, f))).filter((n) => n.startsWith('.tmp-'))).to.deep.equal([]);
    } finally {
      await rm(child, { force: true });
    }
  });
});

/** A child that saves a Linear(64, 128) whose every weight equals the step, step after step (~8 ms each), forever. */
const SAVER = `
const [kilnUrl, nnUrl, nnNodeUrl, dir, first] = process.argv.slice(2);
const { Engine } = await import(kilnUrl);
const { Linear, saveCheckpoint } = await import(nnUrl);
const { nodeIO, dawnGPU } = await import(nnNodeUrl);
const engine = await Engine.create({ gpu: dawnGPU() });
const model = new Linear(engine, 64, 128);
for (let step = Number(first); ; step++) {
  engine.noGrad(() => engine.tidy(() => { for (const p of model.parameters()) p.copy_(engine.fullLike(p, step)); }));
  await saveCheckpoint(nodeIO, dir, { model, engine, step, config: null, keep: 2 });
  // Ready after the first save (the first child: after two, so two complete checkpoints exist): a
  // kill soon after then lands where a killed earlier save's leftovers are still around.
  if (step === Number(first) + (first === '0' ? 1 : 0)) console.log('ready');
}
`;
