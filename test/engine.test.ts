// Engine internals: capabilities, the pipeline cache, command batching, the uniform Params structs of
// every shader against what the TypeScript writers pass, and the printable preview.
import { expect } from 'chai';
import { Engine, KilnError, type KernelCall, type Tensor } from '../engine/index.js';
import * as kiln from '../engine/index.js';
import { SHADER_NAMES, SHADERS, shaderSource, specialise, type ShaderFile, type ShaderName } from '../engine/shaders.js';
import { BindGroupCache } from '../engine/bindings.js';
import { BufferUsage } from '../engine/gpu-constants.js';
import { adapterText, gpuEngine, newEngine, openEngine } from './helpers/gpu.js';
import { disposeAll } from './helpers/tensors.js';

// ------------------------------------------------------------------ WGSL uniform layout

interface Field {
  name: string;
  type: string;
  offset: number;
  align: number;
  size: number;
}
interface StructLayout {
  fields: Field[];
  align: number;
  size: number;
}

const roundUp = (v: number, a: number) => Math.ceil(v / a) * a;

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
}

/** Split at top-level commas (not those inside <...>). */
function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '<') depth++;
    if (ch === '>') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out.map((x) => x.trim()).filter(Boolean);
}

const SCALARS: Record<string, number> = { u32: 4, i32: 4, f32: 4, f16: 2 };
const SHORT_VEC: Record<string, string> = { u: 'u32', i: 'i32', f: 'f32', h: 'f16' };

/** Alignment and size of a WGSL type in the uniform address space (WGSL spec, "Memory layout"). */
function typeLayout(type: string, src: string): { align: number; size: number } {
  const t = type.replace(/\s+/g, '');
  if (t in SCALARS) return { align: SCALARS[t], size: SCALARS[t] };
  let m = /^vec([234])(?:<(\w+)>|([uifh]))$/.exec(t);
  if (m) {
    const n = Number(m[1]);
    const s = SCALARS[m[2] ?? SHORT_VEC[m[3]]];
    if (!s) throw new Error(`unsupported vector element in ${type}`);
    return { align: (n === 3 ? 4 : n) * s, size: n * s };
  }
  m = /^array<(.+),([^,<>]+)>$/.exec(t);
  if (m) {
    const elem = typeLayout(m[1], src);
    const count = constValue(m[2], src);
    const stride = roundUp(elem.size, elem.align);
    // Uniform arrays need a 16-byte element stride; anything else does not compile.
    if (stride % 16 !== 0) throw new Error(`${type}: a uniform array needs a stride that is a multiple of 16 (got ${stride})`);
    return { align: Math.max(elem.align, 16), size: count * stride };
  }
  if (/^\w+$/.test(t)) {
    // A user struct (nested structs are 16-aligned in the uniform address space), or an alias.
    const alias = new RegExp(`\\balias\\s+${t}\\s*=\\s*([^;]+);`).exec(src);
    if (alias) return typeLayout(alias[1], src);
    const s = structLayout(t, src);
    return { align: roundUp(s.align, 16), size: roundUp(s.size, roundUp(s.align, 16)) };
  }
  throw new Error(`unsupported WGSL type ${type}`);
}

function constValue(expr: string, src: string): number {
  const lit = /^(\d+)[ui]?$/.exec(expr);
  if (lit) return Number(lit[1]);
  const c = new RegExp(`\\bconst\\s+${expr}\\s*(?::\\s*\\w+)?\\s*=\\s*(\\d+)[ui]?\\s*;`).exec(src);
  if (c) return Number(c[1]);
  throw new Error(`cannot evaluate array length ${expr}`);
}

function structLayout(name: string, source: string): StructLayout {
  const src = stripComments(source);
  const m = new RegExp(`\\bstruct\\s+${name}\\s*\\{([^}]*)\\}`).exec(src);
  if (!m) throw new Error(`no struct ${name}`);
  const fields: Field[] = [];
  let offset = 0;
  let maxAlign = 1;
  for (const member of splitTopLevel(m[1])) {
    const fm = /^((?:@\w+\(\s*\d+\s*\)\s*)*)(\w+)\s*:\s*(.+)$/.exec(member);
    if (!fm) throw new Error(`cannot parse member "${member}" of struct ${name}`);
    let { align, size } = typeLayout(fm[3], src);
    const attrAlign = /@align\(\s*(\d+)\s*\)/.exec(fm[1]);
    const attrSize = /@size\(\s*(\d+)\s*\)/.exec(fm[1]);
    if (attrAlign) align = Number(attrAlign[1]);
    if (attrSize) size = Number(attrSize[1]);
    offset = roundUp(offset, align);
    fields.push({ name: fm[2], type: fm[3].replace(/\s+/g, ''), offset, align, size });
    offset += size;
    maxAlign = Math.max(maxAlign, align);
  }
  return { fields, align: maxAlign, size: roundUp(offset, maxAlign) };
}

// ------------------------------------------------------------------ suite

describe('engine internals', function () {
  let engine: Engine;
  before(async function () {
    engine = await gpuEngine(this);
  });

  it('populates the capabilities', function () {
    const c = engine.caps;
    const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';
    expect(c.runtime).to.equal(isDeno ? 'wgpu' : 'dawn');
    for (const [k, v] of Object.entries(c.limits)) expect(v, `limit ${k}`).to.be.a('number').and.greaterThan(0);
    // WebGPU's guaranteed minimums: kiln raises limits, it never gets less than these.
    expect(c.limits.maxComputeInvocationsPerWorkgroup).to.be.at.least(256);
    expect(c.limits.maxComputeWorkgroupStorageSize).to.be.at.least(16384);
    expect(c.limits.maxStorageBufferBindingSize).to.be.at.least(128 * 2 ** 20);
    expect(c.shaderF16).to.equal(c.features.has('shader-f16'));
    expect(c.subgroups).to.equal(c.features.has('subgroups'));
    expect(c.timestampQuery).to.equal(c.features.has('timestamp-query'));
    if (c.subgroups) expect(c.subgroupMinSize).to.be.at.most(c.subgroupMaxSize);
    expect(`${c.vendor}${c.architecture}${c.description}`, 'the adapter describes itself').to.not.equal('');
  });

  it('flags lavapipe (and other CPU adapters) as software, and known GPU vendors as not', function () {
    const text = adapterText(engine);
    const vendor = engine.caps.vendor.toLowerCase();
    // Dawn: vendor "mesa", architecture "software", "llvmpipe" in the description; wgpu: Mesa's PCI
    // vendor id 0x10005 (65541) and "llvmpipe" in the name.
    const lavapipe = /llvmpipe|lavapipe/.test(text) || (vendor === 'mesa' && engine.caps.architecture === 'software');
    const knownGpu = /^(nvidia|amd|ati|intel|apple|qualcomm|arm|imagination|4318|4098|32902|4203)$/.test(vendor);
    if (!lavapipe && !knownGpu) this.skip();
    expect(engine.caps.isSoftware, text).to.equal(lavapipe);
  });

  it('caches pipelines: the same ops on new shapes compile nothing new', function () {
    const ops = (r: number, c: number) =>
      engine.tidy(() => {
        const a = engine.rand([r, c]);
        const b = engine.randn([r, c]);
        a.add(b).mul(b).exp().sum(1);
        a.sub(b.narrow(0, 0, 1)); // broadcast
        engine.zeros([r, c]).add(a.t().contiguous().t());
        engine.where(a.gt(b), a, b).max(0);
      });
    ops(3, 5);
    const warm = engine.pipelineCount;
    expect(warm).to.be.greaterThan(0);
    ops(7, 2);
    ops(4, 9);
    ops(2, 30); // (a size-1 dim would legitimately pick the contiguous kernel variant)
    expect(engine.pipelineCount).to.equal(warm);
  });

  it('counters() counts dispatches, submits, readbacks and cache misses as they happen', async function () {
    const x = engine.randn([32]);
    await x.data();
    const a = engine.counters();
    // 30 dispatches (mul, add, abs ten times) on shapes seen before in this suite: no new pipeline.
    const y = engine.tidy(() => {
      let t = x;
      for (let i = 0; i < 10; i++) t = t.mul(0.99).add(0.01).abs();
      return t;
    });
    const b = engine.counters();
    expect(b.dispatches - a.dispatches).to.equal(30);
    expect(b.readbacks - a.readbacks).to.equal(0);
    await y.data();
    const c = engine.counters();
    expect(c.readbacks - b.readbacks).to.equal(1);
    expect(c.submits - a.submits).to.be.within(1, 2); // one at the readback, one if 64 filled up before
    // A repeat of the same work on the same pooled buffers creates no bind group, buffer or pipeline.
    engine.tidy(() => {
      let t = x;
      for (let i = 0; i < 10; i++) t = t.mul(0.99).add(0.01).abs();
    });
    engine.tidy(() => {
      let t = x;
      for (let i = 0; i < 10; i++) t = t.mul(0.99).add(0.01).abs();
    });
    await engine.sync();
    const d0 = engine.counters();
    engine.tidy(() => {
      let t = x;
      for (let i = 0; i < 10; i++) t = t.mul(0.99).add(0.01).abs();
    });
    await engine.sync();
    const d = engine.counters();
    expect([d.bindGroups - d0.bindGroups, d.buffers - d0.buffers, d.pipelines - d0.pipelines]).to.deep.equal([0, 0, 0]);
    x.dispose();
    y.dispose();
  });

  it('batches dispatches: no submit or readback until asked', async function () {
    const q = engine.device.queue;
    const x = engine.randn([32]);
    await engine.sync();
    const origSubmit = q.submit;
    const origRead = engine.read;
    let submits = 0;
    let reads = 0;
    q.submit = function (this: GPUQueue, ...args: Parameters<GPUQueue['submit']>) {
      submits++;
      return origSubmit.apply(q, args);
    };
    engine.read = function (this: Engine, ...args: Parameters<Engine['read']>) {
      reads++;
      return origRead.apply(engine, args);
    };
    try {
      const y = engine.tidy(() => {
        let t = x;
        for (let i = 0; i < 40; i++) t = t.mul(0.99).add(0.01).abs();
        return t;
      });
      expect(submits, 'submits while encoding 120 small dispatches with the default batch size').to.be.at.most(Math.ceil(120 / 64));
      expect(reads).to.equal(0);
      await y.data();
      expect(reads).to.equal(1);
      y.dispose();
    } finally {
      delete (q as { submit?: unknown }).submit;
      if (q.submit !== origSubmit) q.submit = origSubmit;
      delete (engine as { read?: unknown }).read;
      x.dispose();
    }
  });

  it('gpuTime sums the timed passes: positive, more for more work, null without timestamp-query', async function () {
    const a = engine.randn([128, 128]);
    const run = (n: number) => () => {
      for (let i = 0; i < n; i++) engine.tidy(() => a.matmul(a)).dispose();
    };
    // Ten products, not one: without disable-dawn-features=timestamp_quantization Dawn rounds
    // timestamps to ~65 us, which a single small product may not span.
    // On lavapipe a timestamp is the CPU clock, so a pass the OS descheduled reads long: the smallest of
    // three timings of the small workload is its cost (one inflated reading failed this under load 12).
    const few = await engine.gpuTime(run(10));
    if (!engine.caps.timestampQuery) {
      expect(few).to.equal(null);
      a.dispose();
      return;
    }
    // 200 products span several submits (64 dispatches each), so several passes are summed.
    const fewest = Math.min(few!, (await engine.gpuTime(run(10)))!, (await engine.gpuTime(run(10)))!);
    const many = await engine.gpuTime(run(200));
    expect(fewest).to.be.greaterThan(0);
    expect(many!).to.be.greaterThan(5 * fewest);
    // Calls do not nest; a throw inside still submits what was encoded, and the engine keeps working.
    let inner: Promise<number | null> | undefined;
    await engine.gpuTime(() => {
      inner = engine.gpuTime(() => {});
    });
    const nested = await inner!.then(() => '', (e: Error) => e.message);
    expect(nested).to.match(/gpuTime: already timing/);
    const thrown = await engine
      .gpuTime(() => {
        run(3)();
        throw new Error('boom');
      })
      .then(() => '', (e: Error) => e.message);
    expect(thrown).to.equal('boom');
    const s = engine.tidy(() => a.sum());
    expect(Number.isFinite(await s.item())).to.equal(true);
    expect(engine.deviceErrors).to.deep.equal([]);
    s.dispose();
    a.dispose();
  });

  it('profileKernels times each dispatch and groups the times by shader', async function () {
    const a = engine.randn([128, 128]);
    const work = (n: number) => () => {
      for (let i = 0; i < n; i++) engine.tidy(() => a.matmul(a).exp()).dispose();
    };
    const prof = await engine.profileKernels(work(5));
    if (!engine.caps.timestampQuery) {
      expect(prof).to.equal(null);
      a.dispose();
      return;
    }
    // Five products (B is contiguous, so the vec4 variant) and five exps: two rows, five calls each, times that add up to the total.
    expect(prof!.dispatches).to.equal(10);
    expect(prof!.kernels.map((r) => [r.shader, r.calls]).sort()).to.deep.equal([['matmulVec4', 5], ['unary', 5]]);
    const sum = prof!.kernels.reduce((s, r) => s + r.ms, 0);
    expect(prof!.totalMs).to.be.closeTo(sum, 1e-9);
    expect(prof!.kernels.every((r) => r.ms > 0)).to.equal(true);
    expect(prof!.kernels[0].ms).to.be.at.least(prof!.kernels[1].ms); // sorted by time
    // The dispatch cap names the call, and the engine keeps working after it.
    const capped = await engine.profileKernels(work(3), 4).then(() => '', (e: Error) => e.message);
    expect(capped).to.match(/profileKernels: more than 4 dispatches/);
    const tooMany = await engine.profileKernels(work(1), 5000).then(() => '', (e: Error) => e.message);
    expect(tooMany).to.match(/profileKernels: the pass cap must be an integer in \[1, 2048\], got 5000/);
    const s = engine.tidy(() => a.sum());
    expect(Number.isFinite(await s.item())).to.equal(true);
    expect(engine.deviceErrors).to.deep.equal([]);
    s.dispose();
    a.dispose();
  });

  it('submits every dispatchesPerSubmit dispatches', async function () {
    const other = await newEngine({ dispatchesPerSubmit: 8 });
    try {
      const q = other.device.queue;
      const x = other.randn([16]);
      await other.sync();
      const orig = q.submit;
      let submits = 0;
      q.submit = (...args: Parameters<GPUQueue['submit']>) => {
        submits++;
        return orig.apply(q, args);
      };
      const y = other.tidy(() => {
        let t = x;
        for (let i = 0; i < 40; i++) t = t.exp().neg();
        return t;
      });
      // 80 dispatches in batches of 8: a few submits, not one per dispatch and not zero.
      expect(submits).to.be.within(1, Math.ceil(80 / 8));
      disposeAll(x, y);
    } finally {
      other.destroy();
    }
  });

  it('a full bind-group cache empties itself and asks the host to collect (lavapipe frees a group only when V8 collects it)', function () {
    const cache = new BindGroupCache(engine.device, 3);
    const uniform = engine.device.createBuffer({ size: 256, usage: BufferUsage.UNIFORM });
    const buffers = Array.from({ length: 5 }, () => engine.device.createBuffer({ size: 256, usage: BufferUsage.STORAGE }));
    const host = globalThis as { gc?: () => void };
    const saved = host.gc;
    let collections = 0;
    host.gc = () => collections++;
    try {
      const source = shaderSource('fill');
      const storage = cache.layout('fill', source).storageBindings;
      const group = (i: number) => cache.get('fill', source, uniform, 16, buffers.slice(i, i + storage));
      const first = group(0);
      expect(group(0), 'a cached group is returned again').to.equal(first);
      group(1);
      group(2);
      expect([cache.size, collections]).to.deep.equal([3, 0]);
      group(3); // the fourth distinct group: the cache empties, collects once, then holds the new one
      expect([cache.size, collections]).to.deep.equal([1, 1]);
      expect(group(0), 'a dropped group is made anew').to.not.equal(first);
    } finally {
      host.gc = saved;
      for (const b of [uniform, ...buffers]) b.destroy();
    }
  });

  it('reuses bind groups: a repeated step stops creating them once the pool settles', async function () {
    const w = engine.randn([16, 16]);
    const x = engine.randn([4, 16]);
    const step = () => engine.tidy(() => x.matmul(w).relu().sum().exp()).dispose();
    // The pool settles into a cycle of buffers within a few steps; after that nothing new is bound.
    for (let i = 0; i < 5; i++) step();
    const settled = engine.bindGroupCount;
    for (let i = 0; i < 50; i++) step();
    expect(engine.bindGroupCount, 'bind groups created by 50 more identical steps').to.equal(settled);
    await engine.sync();
    w.dispose();
    x.dispose();
  });

  it('reuses bind groups when tensors are disposed in a different order every step', async function () {
    // Which pooled buffer an op gets must not depend on the order earlier tensors were disposed in,
    // or a loop whose dispose order varies binds new buffer combinations every step (each live bind
    // group costs lavapipe a memory mapping; a long run crashed at the kernel's map limit).
    const x = engine.randn([64]);
    const step = (i: number) => {
      const ts = [x.exp(), x.neg(), x.abs(), x.sin()]; // four buffers of one size class
      const y = engine.tidy(() => ts[0].add(ts[1]).mul(ts[2]).sub(ts[3]));
      const order = [0, 1, 2, 3].sort((a, b) => ((a * 7 + i) % 5) - ((b * 7 + i) % 5) || a - b);
      for (const k of order) ts[k].dispose();
      y.dispose();
    };
    for (let i = 0; i < 5; i++) step(i);
    const settled = engine.bindGroupCount;
    for (let i = 5; i < 40; i++) step(i);
    expect(engine.bindGroupCount, 'bind groups created by 35 more steps with permuted disposal').to.equal(settled);
    await engine.sync();
    x.dispose();
  });

  it('destroys buffers leaving a full pool only after the commands that use them are submitted', async function () {
    // With a zero pool cap every released buffer leaves the pool. Here the exp output is released (at
    // the end of tidy) while the add that reads it is still only encoded: destroying it then would
    // invalidate the whole submit.
    const other = await newEngine({ poolCapBytes: 0 });
    try {
      const x = other.tensor([0, 1, 2, 3]);
      const y = other.tidy(() => x.exp().add(1));
      const got = Array.from(await y.data());
      expect(other.deviceErrors).to.deep.equal([]);
      got.forEach((v, i) => expect(v).to.be.closeTo(Math.exp(i) + 1, 1e-4));
      expect(other.memory().pooledBytes).to.equal(0);
    } finally {
      other.destroy();
    }
  });

  it('copy_ writes in place into a view, broadcasting, and leaves the rest untouched', async function () {
    const base = engine.zeros([3, 4]);
    const src = engine.tensor([7, 8]);
    const view = base.narrow(1, 1, 2);
    const before = engine.memory().liveBuffers;
    view.copy_(src);
    expect(engine.memory().liveBuffers, 'no buffer kept by copy_').to.equal(before);
    view.dispose();
    src.dispose();
    expect(Array.from(await base.data())).to.deep.equal([0, 7, 8, 0, 0, 7, 8, 0, 0, 7, 8, 0]);
    expect(() => base.copy_(engine.tensor([1, 2, 3], [3], { dtype: 'i32' }))).to.throw(/copy_: dtypes differ/);
    base.dispose();
  });

  describe('every shader compiles', function () {
    // Each file as it stands (valid WGSL on its own), and what the engine compiles (the file with its
    // generated and shared blocks filled in; for a variant, the file specialised), on this runtime's
    // compiler (Tint under Dawn, Naga under Deno).
    const errorsOf = async (code: string) => {
      const info = await engine.device.createShaderModule({ code }).getCompilationInfo();
      return info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
    };
    const needsSubgroups = (code: string) => /^enable subgroups;/m.test(code);
    for (const name of Object.keys(SHADERS) as ShaderFile[]) {
      it(`${name}.wgsl as it stands`, async function () {
        expect(await errorsOf(SHADERS[name])).to.deep.equal([]);
      });
    }
    for (const name of SHADER_NAMES) {
      it(`${name}, as the engine compiles it`, async function () {
        if (needsSubgroups(shaderSource(name)) && !engine.caps.subgroups) this.skip(); // the feature is not on this device
        expect(await errorsOf(shaderSource(name))).to.deep.equal([]);
      });
    }
    it('the elementwise and MoE GEMM kernels hold a generated block, filled from the op table', function () {
      for (const name of ['unary', 'binary', 'moeGemm', 'moeGemmBwd'] as const) {
        expect(SHADERS[name]).to.match(/^\/\/ @generated/m);
        expect(shaderSource(name)).to.include('switch ').and.to.include('erf_(').and.not.match(/^\/\/ @generated/m);
      }
    });
    it('variants replace marked blocks, and name only blocks the file marks', function () {
      const file = ['// @block a', 'let x = 1;', '// @end block', 'keep', '// @variant v a', '// let x = 2;', '// @end variant', ''].join('\n');
      expect(specialise(file, 'v')).to.equal(['// v: a', 'let x = 2;', 'keep', ''].join('\n'));
      expect(() => specialise(file, 'w')).to.throw(/no "\/\/ @variant w/);
      expect(() => specialise(file.replace('@block a', '@block b'), 'v')).to.throw(/replaces block 'a', which the file does not mark/);
      expect(() => specialise(file.replace('// let x = 2;', 'let x = 2;'), 'v')).to.throw(/must be commented out/);
      // The variant kernels no longer differ from their file outside the marked blocks.
      expect(shaderSource('softmaxVec4')).to.include('array<vec4<T>>').and.not.include('@variant');
      expect(shaderSource('routerSubgroup')).to.match(/^enable subgroups;/m);
    });
  });

  describe('uniform Params structs', function () {
    const layouts = new Map<string, StructLayout>();
    for (const [name, source] of Object.entries(SHADERS)) {
      it(`${name}.wgsl declares a Params struct that parses`, function () {
        const layout = structLayout('Params', source);
        expect(layout.fields.length, 'fields').to.be.greaterThan(0);
        layouts.set(name, layout);
      });
    }

    it('match the byteLength each TypeScript writer passes at run time', function () {
      const seen = new Map<string, KernelCall[]>();
      const origRun = engine.run;
      engine.run = function (call: KernelCall) {
        const list = seen.get(call.shader) ?? [];
        list.push({ ...call, params: call.params.slice() });
        seen.set(call.shader, list);
        return origRun.call(engine, call);
      };
      const exercised: string[] = [];
      const notYet: string[] = [];
      const attempt = (what: string, fn: () => unknown) => {
        try {
          engine.tidy(fn);
          exercised.push(what);
        } catch (e) {
          // Ops still being written throw "not implemented": skip them; anything else is a failure.
          if (e instanceof KilnError && /not implemented/.test(e.message)) notYet.push(what);
          else throw e;
        }
      };
      try {
        const g = (f: (...xs: kiln.Tensor[]) => kiln.Tensor, ...xs: kiln.Tensor[]) => engine.grad((...a) => f(...a).sum())(...xs);
        attempt('creation', () => [engine.zeros([3, 4]), engine.arange(7), engine.rand([5]), engine.randn([2, 3]), engine.eye(3)]);
        attempt('elementwise', () => g((a, b) => a.add(b).mul(b.exp()).div(a.abs().add(1)).relu(), engine.randn([3, 5]), engine.randn([1, 5])));
        attempt('views and copies', () => g((a) => engine.cat([a.t().contiguous(), a.t().slice(0, 1, 4, 2).contiguous()], 0), engine.randn([2, 5, 3]).select(1, 2)));
        attempt('reductions', () => g((a) => a.sum(0).add(a.max(1).sum()).add(a.logsumexp(1).sum()), engine.randn([40, 50])));
        attempt('where', () => g((a, b) => engine.where(a.gt(b), a, b), engine.randn([4, 3]), engine.randn([3])));
        attempt('matmul', () => g((a, b) => a.matmul(b), engine.randn([2, 5, 7]), engine.randn([7, 3])));
        attempt('softmax', () => g((a) => a.softmax(-1).mul(a.logSoftmax(0)), engine.randn([6, 9])));
        attempt('layerNorm', () => g((a, w, b) => kiln.layerNorm(a, 8, w, b), engine.randn([3, 8]), engine.randn([8]), engine.randn([8])));
        attempt('rmsNorm', () => g((a, w) => kiln.rmsNorm(a, 8, w), engine.randn([3, 8]), engine.randn([8])));
        attempt('crossEntropy', () => g((a) => kiln.crossEntropy(a, engine.tensor([0, 3, 1], [3], { dtype: 'i32' })), engine.randn([3, 5])));
        attempt('dropout', () => kiln.dropout(engine.randn([4, 8]), 0.5));
        attempt('gather', () => g((a) => kiln.gather(a, 1, engine.tensor([[0, 2], [1, 1]], undefined, { dtype: 'i32' })), engine.randn([2, 4])));
        attempt('indexSelect', () => g((a) => kiln.indexSelect(a, 0, engine.tensor([2, 0, 2], [3], { dtype: 'i32' })), engine.randn([3, 4])));
        attempt('embedding', () => g((w) => kiln.embedding(engine.tensor([[1, 0, 1]], undefined, { dtype: 'i32' }), w), engine.randn([4, 6])));
        attempt('cumsum', () => g((a) => kiln.cumsum(a, 1), engine.randn([3, 10])));
        attempt('topk', () => kiln.topk(engine.randn([3, 10]), 3).values);
        attempt('oneHot', () => kiln.oneHot(engine.tensor([0, 2, 1], [3], { dtype: 'i32' }), 4));
      } finally {
        delete (engine as { run?: unknown }).run;
      }
      expect(exercised.length, `ops run (not yet implemented: ${notYet.join(', ')})`).to.be.greaterThan(0);

      const problems: string[] = [];
      for (const [shader, calls] of seen) {
        const layout = layouts.get(shader) ?? structLayout('Params', shaderSource(shader as ShaderName));
        // The writer pads to 16 bytes (Params.finish), so its bytes are the WGSL size rounded up to 16;
        // fewer is a binding-size validation error, more means it writes fields the shader lacks.
        const want = roundUp(layout.size, 16);
        for (const c of calls) {
          if (c.params.byteLength !== want) {
            problems.push(`${shader}: WGSL Params is ${layout.size} bytes (${want} padded), the writer passed ${c.params.byteLength}`);
            break;
          }
        }
        // Where a struct has shape, rank and n, the words at those offsets must agree (catches swapped fields).
        const f = Object.fromEntries(layout.fields.map((x) => [x.name, x]));
        if (f.shape && f.rank && f.n && f.rank.type === 'u32' && f.n.type === 'u32') {
          for (const c of calls) {
            const rank = c.params[f.rank.offset / 4];
            const dims = Array.from(c.params.subarray(f.shape.offset / 4, f.shape.offset / 4 + rank));
            const n = c.params[f.n.offset / 4];
            if (rank > f.shape.size / 4 || dims.reduce((p, d) => p * d, 1) !== n) {
              problems.push(`${shader}: shape [${dims}] (rank ${rank}) does not hold n = ${n} elements: fields out of order?`);
              break;
            }
          }
        }
      }
      expect(problems).to.deep.equal([]);
      expect(seen.size, 'shaders exercised').to.be.at.least(7);
    });
  });

  describe('printable preview', function () {
    it('formats a small f32 tensor', async function () {
      const t = engine.tensor([[1, 2.5], [-3, 4]]);
      const s = await t.print();
      expect(s.replace(/\s+/g, '')).to.equal('tensor([[1.,2.5000],[-3.,4.]],dtype=f32)');
      // A transposed view prints in logical order.
      const tt = t.t();
      expect((await tt.print()).replace(/\s+/g, '')).to.equal('tensor([[1.,-3.],[2.5000,4.]],dtype=f32)');
      disposeAll(t, tt);
    });

    it('toString and console.log (inspect) show shape, dtype and the last values read while they are current', async function () {
      const inspect = (t: Tensor) => (t as unknown as Record<symbol, () => string>)[Symbol.for('nodejs.util.inspect.custom')]();
      const t = engine.tensor([[1, 2.5], [-3, 4]]);
      // Never read: shape and dtype, one line, and how to see the values (no engine internals).
      expect(String(t)).to.equal('Tensor(shape=[2, 2], dtype=f32) [values on the GPU: await t.print()]');
      expect(inspect(t)).to.equal(String(t));
      await t.data();
      expect(String(t).replace(/\s+/g, '')).to.equal('tensor([[1.,2.5000],[-3.,4.]],dtype=f32)');
      // A write into the storage (here an in-place copy) makes the remembered values stale.
      const src = engine.tensor([[0, 0], [0, 7]]);
      t.copy_(src);
      expect(String(t)).to.match(/^Tensor\(shape=\[2, 2\], dtype=f32\) \[values on the GPU/);
      expect(String(await t.print()).replace(/\s+/g, '')).to.equal('tensor([[0.,0.],[0.,7.]],dtype=f32)');
      expect(inspect(t).replace(/\s+/g, '')).to.equal('tensor([[0.,0.],[0.,7.]],dtype=f32)');
      // Reading another tensor does not make this one stale; an op result shows its gradFn.
      const w = engine.ones([2], { requiresGrad: true });
      const y = w.mul(2);
      await y.data();
      expect(inspect(t).replace(/\s+/g, '')).to.equal('tensor([[0.,0.],[0.,7.]],dtype=f32)');
      expect(inspect(y)).to.match(/^tensor\(\[2\., 2\.\], dtype=f32, requiresGrad=true, gradFn=\w+\)$/);
      y.dispose();
      expect(String(y)).to.equal('Tensor(shape=[2], dtype=f32, disposed)');
      disposeAll(t, src, w);
    });

    it('elides long dims and shows integer dtypes and requiresGrad', async function () {
      const r = engine.arange(100);
      const s = (await r.print()).replace(/\s+/g, '');
      expect(s).to.equal('tensor([0,1,2,...,97,98,99],dtype=i32)');
      const g = engine.ones([2], { requiresGrad: true });
      expect(await g.print()).to.include('requiresGrad=true');
      disposeAll(r, g);
    });
  });
});

describe('engine: test harness', function () {
  it('refuses to run without an adapter in CI, and skips loudly outside CI', async function () {
    const noAdapter = () => Promise.reject(new Error('requestAdapter() returned no adapter'));
    let error: unknown = null;
    await openEngine(noAdapter, true, () => {}).catch((e) => (error = e));
    expect((error as Error | null)?.message).to.match(/no adapter/);
    const warnings: string[] = [];
    const r = await openEngine(noAdapter, false, (m) => warnings.push(m));
    expect(r).to.equal(null);
    expect(warnings.join('')).to.match(/SKIPPED/);
  });

  it('refuses an adapter that looks like Dawn\'s null backend', async function () {
    const fake = {
      caps: { vendor: '', architecture: '', description: '' },
      device: { adapterInfo: { device: 'null-backend' } },
      destroy() {},
    } as unknown as Engine;
    let error: unknown = null;
    await openEngine(() => Promise.resolve(fake), true, () => {}).catch((e) => (error = e));
    expect((error as Error | null)?.message).to.match(/null backend/);
  });
});
