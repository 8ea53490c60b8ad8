// The command lines of `npm run method` and `npm run bench` (methods/flags.ts, methods/*/flags.ts,
// bench/flags.ts), without running anything: every config key of each method has a flag whose --help
// line shows its default, the old flags keep their meaning, and unknown flags or bad values are
// UsageErrors naming the flag (with the closest known flag for a typo). Then scripts/stale.mjs (what
// `build.mjs --if-stale` skips on): a fresh esbuild build is up to date, touching an input makes it stale.
import { expect } from 'chai';
import { build } from 'esbuild';
import { mkdtempSync, rmSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_FLAGS, BENCH_PEERS, benchHelp, parseBenchFlags } from '../bench/flags.js';
import { UsageError, closest, kebab, methodCommand, methodHelp, methodsHelp, parseMethodFlags, type MethodFlags } from '../methods/flags.js';
import { DEFAULTS as CWM_DEFAULTS } from '../methods/causal-world-model/config.js';
import { FLAGS as CWM } from '../methods/causal-world-model/flags.js';
import { DEFAULTS as CGE_DEFAULTS } from '../methods/cge/config.js';
import { FLAGS as CGE } from '../methods/cge/flags.js';
import { DEFAULTS as CBP_DEFAULTS } from '../methods/copy-bias-pruning/config.js';
import { FLAGS as CBP } from '../methods/copy-bias-pruning/flags.js';
import { DEFAULTS as GBL_DEFAULTS, QUICK as GBL_QUICK, makeConfig as gblConfig } from '../methods/global-batch-lbl/config.js';
import { FLAGS as GBL } from '../methods/global-batch-lbl/flags.js';
import { MARKOV_DEFAULTS } from '../methods/global-batch-lbl/markov.js';
import { DEFAULTS as JOLA_DEFAULTS, QUICK as JOLA_QUICK, makeConfig as jolaConfig } from '../methods/jola/config.js';
import { FLAGS as JOLA } from '../methods/jola/flags.js';
import { DEFAULTS as TTS_DEFAULTS } from '../methods/two-tier-selection/config.js';
import { FLAGS as TTS } from '../methods/two-tier-selection/flags.js';
import { METHODS } from '../methods/registry.js';
import { DEFAULTS as UNTRAC_DEFAULTS } from '../methods/untrac/config.js';
import { FLAGS as UNTRAC } from '../methods/untrac/flags.js';
import { WORLD_DEFAULTS } from '../methods/untrac/topics.js';
import { DEFAULTS as RC_DEFAULTS } from '../methods/reward-calibration/config.js';
import { FLAGS as RC } from '../methods/reward-calibration/flags.js';
import { DEFAULTS as STEP_DEFAULTS } from '../methods/step/config.js';
import { FLAGS as STEP } from '../methods/step/flags.js';
import { DEFAULTS as SPEECH_DEFAULTS } from '../methods/speech-ib-disentanglement/config.js';
import { FLAGS as SPEECH } from '../methods/speech-ib-disentanglement/flags.js';
import { GRAMMAR_DEFAULTS } from '../methods/step/trees.js';
import { staleAware, staleReason } from '../scripts/stale.mjs';

/** Dotted paths of every leaf (arrays are leaves) of a config object. */
function leaves(o: object, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? leaves(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
}
const get = (o: unknown, path: string): unknown => path.split('.').reduce<any>((x, k) => x?.[k], o);
/** The default as --help should print it, computed here independently of the flag types. */
const shown = (path: string, v: unknown) =>
  path === 'seeds' ? String((v as number[]).length) : Array.isArray(v) ? (v.length ? v.join(',') : 'none') : String(v);

const usage = (f: () => unknown, re: RegExp) => expect(f).to.throw(UsageError, re);

describe('CLI flags', function () {
  // The full configs, with the keys a method leaves to a library default filled in (the Markov corpus's).
  const cases: [string, MethodFlags<any>, object][] = [
    ['jola', JOLA, JOLA_DEFAULTS],
    ['cge', CGE, CGE_DEFAULTS],
    ['copy-bias-pruning', CBP, CBP_DEFAULTS],
    ['global-batch-lbl', GBL, { ...GBL_DEFAULTS, markov: { ...MARKOV_DEFAULTS, ...GBL_DEFAULTS.markov } }],
    ['untrac', UNTRAC, { ...UNTRAC_DEFAULTS, world: WORLD_DEFAULTS }],
    ['reward-calibration', RC, RC_DEFAULTS],
    ['two-tier-selection', TTS, TTS_DEFAULTS],
    ['step', STEP, { ...STEP_DEFAULTS, grammar: { ...GRAMMAR_DEFAULTS, ...STEP_DEFAULTS.grammar } }],
    ['causal-world-model', CWM, CWM_DEFAULTS],
    ['speech-ib-disentanglement', SPEECH, SPEECH_DEFAULTS],
  ];

  it('every method is registered with its flag table', function () {
    expect(Object.keys(METHODS).sort()).to.deep.equal(cases.map((c) => c[0]).sort());
    for (const [name, flags] of cases) expect(METHODS[name].FLAGS).to.equal(flags);
  });

  for (const [name, flags, full] of cases) {
    it(`${name}: one flag per config key, and --help lists each with its default`, function () {
      expect(Object.keys(flags.table).sort()).to.deep.equal(leaves(full).sort());
      const help = methodHelp(flags).split('\n');
      const quick = flags.defaults(true);
      for (const path of leaves(full)) {
        const flag = (flags.table as Record<string, { flag?: string }>)[path].flag ?? kebab(path);
        const line = help.findIndex((l) => l.startsWith(`  --${flag}=`) || l.startsWith(`  --${flag} `));
        expect(line, `--${flag} (${path}) in --help`).to.be.at.least(0);
        // A long flag name puts its meaning on the next line.
        const text = help[line] + (help[line + 1]?.startsWith('   ') ? help[line + 1] : '');
        const def = shown(path, get(full, path));
        expect(text, path).to.include(`default: ${def}`);
        const q = get(quick, path);
        if (q !== undefined && shown(path, q) !== def) expect(text, path).to.include(`--quick: ${shown(path, q)}`);
      }
      expect(help.some((l) => l.startsWith('  --quick'))).to.equal(true);
    });
  }

  it('jola: the old flags keep their meaning', function () {
    const r = parseMethodFlags(JOLA, ['--quick', '--seeds=1', '--ns=8,16', '--methods=zeroShot,jola', '--lambda=0', '--out=runs/x', '--cache=/tmp/c']);
    expect(r.help).to.equal(false);
    const want = jolaConfig(JOLA_QUICK, { seeds: [0], ns: [8, 16], methods: ['zeroShot', 'jola'], out: 'runs/x', cacheDir: '/tmp/c', jola: { ...JOLA_DEFAULTS.jola, lambda: 0 } });
    expect(r.help === false && r.config).to.deep.equal(want);
    const plain = parseMethodFlags(JOLA, []);
    expect(plain.help === false && plain.config).to.deep.equal(jolaConfig());
    // Order does not matter for --quick; the last occurrence of a flag wins; new nested flags apply.
    const nested = parseMethodFlags(JOLA, ['--seeds=4', '--quick', '--seeds=2', '--pretrain-max-steps=7', '--downstream-test-len=2,5', '--no-distinct-symbols', '--lora-targets=qProj,kProj']);
    expect(nested.help === false && nested.config).to.deep.equal(
      jolaConfig(JOLA_QUICK, { seeds: [0, 1], distinctSymbols: false, pretrain: { ...JOLA_DEFAULTS.pretrain, maxSteps: 7 }, downstream: { ...JOLA_QUICK.downstream!, testLen: [2, 5] }, lora: { ...JOLA_DEFAULTS.lora, targets: ['qProj', 'kProj'] } }),
    );
  });

  it('global-batch-lbl: the old flags keep their meaning', function () {
    const argv = ['--quick', '--seeds=1', '--steps=10', '--replicas=2', '--out=runs/y', '--arms=micro,global', '--corpus=real', '--alpha=0.01', '--balance-sweep=1,2,4'];
    const r = parseMethodFlags(GBL, argv);
    const want = gblConfig(GBL_QUICK, { seeds: [0], steps: 10, replicas: 2, out: 'runs/y', arms: ['micro', 'global'], corpus: 'real', lblWeight: 0.01, balanceSweep: [1, 2, 4] });
    expect(r.help === false && r.config).to.deep.equal(want);
    const m = parseMethodFlags(GBL, ['--markov-domains=3', '--model-top-k=1']);
    expect(m.help === false && m.config).to.deep.equal(gblConfig({ markov: { domains: 3 }, model: { ...GBL_DEFAULTS.model, topK: 1 } }));
  });

  it('step and causal-world-model: --seeds takes a count, a range A-B or a list A,B (runs of single seeds to merge)', function () {
    const seeds = (flags: MethodFlags<any>, v: string) => {
      const r = parseMethodFlags(flags, [`--seeds=${v}`]);
      return r.help === false ? (r.config as { seeds: number[] }).seeds : null;
    };
    for (const flags of [STEP, CWM] as MethodFlags<any>[]) {
      expect(seeds(flags, '3')).to.deep.equal([0, 1, 2]);
      expect(seeds(flags, '1-2')).to.deep.equal([1, 2]);
      expect(seeds(flags, '2-2')).to.deep.equal([2]);
      expect(seeds(flags, '2,0')).to.deep.equal([2, 0]);
      usage(() => parseMethodFlags(flags, ['--seeds=1,1']), /--seeds=1,1: a seed repeats/);
      usage(() => parseMethodFlags(flags, ['--seeds=2-1']), /--seeds=2-1: the range 2-1 is empty/);
      usage(() => parseMethodFlags(flags, ['--seeds=0']), /--seeds=0: must be a positive integer/);
    }
    const m = parseMethodFlags(STEP, ['--merge=runs/a,runs/b', '--out=runs/c']);
    expect(m.help === false && [m.config.merge, m.config.out]).to.deep.equal([['runs/a', 'runs/b'], 'runs/c']);
  });

  it('unknown flags are errors that suggest the closest known flag', function () {
    usage(() => parseMethodFlags(JOLA, ['--seed=2']), /unknown flag --seed; did you mean --seeds\?/);
    usage(() => parseMethodFlags(JOLA, ['--lamda=0.1']), /did you mean --lambda\?/);
    usage(() => parseMethodFlags(JOLA, ['--model.dModel=32']), /did you mean --model-d-model\?/);
    usage(() => parseMethodFlags(JOLA, ['--pretrain-max=5']), /did you mean --pretrain-max-steps\?/);
    usage(() => parseMethodFlags(GBL, ['--balance_sweep=1']), /did you mean --balance-sweep\?/);
    usage(() => parseMethodFlags(GBL, ['--completely-different']), /unknown flag --completely-different \(see npm run method -- global-batch-lbl --help\)/);
    usage(() => parseMethodFlags(GBL, ['stray']), /unexpected argument "stray"/);
    usage(() => parseMethodFlags(GBL, ['-x']), /unknown flag -x/);
    expect(closest('quik', ['quick', 'filter'])).to.equal('quick');
    expect(closest('zzzz', ['quick', 'filter'])).to.equal(undefined);
  });

  it('bad values are errors naming the flag', function () {
    usage(() => parseMethodFlags(JOLA, ['--seeds=1.5']), /--seeds=1\.5: must be a positive integer/);
    usage(() => parseMethodFlags(JOLA, ['--seeds=0']), /--seeds=0: must be a positive integer/);
    usage(() => parseMethodFlags(JOLA, ['--seeds=two']), /--seeds=two: not a number/);
    usage(() => parseMethodFlags(JOLA, ['--ns=8,-1']), /--ns=8,-1: item 2 \("-1"\): must be a positive integer/);
    usage(() => parseMethodFlags(JOLA, ['--ns=8,,16']), /--ns=8,,16: item 2/);
    usage(() => parseMethodFlags(JOLA, ['--methods=jola,lorra']), /--methods=jola,lorra: .*unknown name "lorra"; did you mean lora\?/);
    usage(() => parseMethodFlags(JOLA, ['--lambda=-1']), /--lambda=-1: must be a number >= 0/);
    usage(() => parseMethodFlags(JOLA, ['--lambda', '-1']), /--lambda -1: a value starting with a dash is written --lambda=-1/);
    usage(() => parseMethodFlags(JOLA, ['--lambda']), /--lambda needs a value/);
    usage(() => parseMethodFlags(JOLA, ['--out=']), /--out=: must not be empty/);
    usage(() => parseMethodFlags(JOLA, ['--quick=1']), /--quick is a switch and takes no value/);
    usage(() => parseMethodFlags(JOLA, ['--downstream-test-len=5,3']), /LO must not exceed HI/);
    usage(() => parseMethodFlags(JOLA, ['--downstream-test-len=1,9']), /--downstream-test-len=1,9: must be an integer in 1\.\.6/);
    usage(() => parseMethodFlags(JOLA, ['--pretrain-untagged=1.5']), /--pretrain-untagged=1\.5: must be a number >= 0 and <= 1/);
    // Checks across keys are the method's own makeConfig's, reported the same way.
    usage(() => parseMethodFlags(JOLA, ['--model-n-heads=3']), /npm run method -- jola: dModel 64 is not divisible by nHeads 3/);
    usage(() => parseMethodFlags(GBL, ['--corpus=reel']), /--corpus=reel: unknown name "reel"; did you mean real\?/);
    usage(() => parseMethodFlags(GBL, ['--arms=micro,globl']), /did you mean global\?/);
    usage(() => parseMethodFlags(GBL, ['--balance-sweep=0']), /--balance-sweep=0: item 1 \("0"\): must be a positive integer/);
    usage(() => parseMethodFlags(GBL, ['--steps=-5']), /--steps=-5: must be a positive integer/);
  });

  it('npm run method: --help and no arguments list the methods; a method --help lists its flags', function () {
    const none = methodCommand([], METHODS);
    expect(none).to.deep.include({ kind: 'usage', exitCode: 2 });
    const help = methodCommand(['--help'], METHODS);
    expect(help).to.deep.include({ kind: 'usage', exitCode: 0, text: methodsHelp(METHODS) });
    for (const [name, entry] of Object.entries(METHODS)) {
      expect(methodsHelp(METHODS)).to.include(`${name}`).and.to.include(entry.summary);
      expect(methodCommand([name, '--help'], METHODS)).to.deep.equal({ kind: 'usage', exitCode: 0, text: methodHelp(entry.FLAGS) });
      expect(methodCommand([name, '-h', '--seeds=2'], METHODS).kind).to.equal('usage');
    }
    usage(() => methodCommand(['jolla'], METHODS), /unknown method "jolla"; did you mean jola\?/);
    usage(() => methodCommand(['--quick'], METHODS), /expected a method name first, got --quick/);
    usage(() => methodCommand(['jola', '--sed=1'], METHODS), /did you mean --seeds\?/);
    const run = methodCommand(['jola', '--quick'], METHODS);
    expect(run).to.deep.equal({ kind: 'run', name: 'jola', quick: true, config: jolaConfig(JOLA_QUICK) });
  });

  it('npm run bench: every flag documented, the old flags kept, unknown flags and values rejected', function () {
    const help = benchHelp();
    for (const f of BENCH_FLAGS) expect(help).to.match(new RegExp(`^  --${f.name}[= ]`, 'm'));
    expect(parseBenchFlags([])).to.deep.equal({ help: false, quick: false, filter: undefined, only: undefined, out: undefined, peers: [...BENCH_PEERS], profile: false, replot: undefined });
    expect(parseBenchFlags(['--quick', '--filter=/matmul/i', '--only=core,steps', '--out', 'r/x.json', '--no-peers', '--profile'])).to.deep.equal({
      help: false, quick: true, filter: '/matmul/i', only: ['core', 'steps'], out: 'r/x.json', peers: [], profile: true, replot: undefined,
    });
    expect(parseBenchFlags(['--peers=ort,tfjs'])).to.deep.include({ peers: ['ort', 'tfjs'] });
    expect(parseBenchFlags(['--peers='])).to.deep.include({ peers: [] });
    expect(parseBenchFlags(['--replot=bench/results/a.json'])).to.deep.include({ replot: 'bench/results/a.json' });
    expect(parseBenchFlags(['--help'])).to.deep.equal({ help: true });
    usage(() => parseBenchFlags(['--quik']), /unknown flag --quik; did you mean --quick\? \(see npm run bench -- --help\)/);
    usage(() => parseBenchFlags(['--filtre=x']), /did you mean --filter\?/);
    usage(() => parseBenchFlags(['--only=core,moee']), /--only=core,moee: .*did you mean moe\?/);
    usage(() => parseBenchFlags(['--peers=tfjs,onnx']), /--peers=tfjs,onnx: .*unknown name "onnx"/);
    usage(() => parseBenchFlags(['--out']), /--out needs a value/);
    usage(() => parseBenchFlags(['--quick=yes']), /--quick is a switch/);
  });
});

describe('build --if-stale (scripts/stale.mjs)', function () {
  this.timeout(30_000);
  let root: string;
  const esbuild = (o: Parameters<typeof build>[0]) => build({ ...o, logLevel: 'silent' });
  const options = { entryPoints: ['src/a.ts'], outfile: 'out/a.js', bundle: true, format: 'esm' as const, platform: 'node' as const };
  const future = (f: string) => {
    const t = new Date(Date.now() + 5000);
    utimesSync(join(root, f), t, t);
  };

  before(function () {
    root = mkdtempSync(join(tmpdir(), 'kiln-stale-'));
    mkdirSync(join(root, 'src'));
    writeFileSync(join(root, 'src/a.ts'), "import { b } from './b.js';\nconsole.log(b);\n");
    writeFileSync(join(root, 'src/b.ts'), 'export const b: number = 1;\n');
    writeFileSync(join(root, 'src/unused.ts'), 'export const u = 2;\n');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('a fresh build is up to date; touching an input, or a build file, makes it stale', async function () {
    const stale = staleAware(esbuild, 'out', ['--if-stale'], root);
    expect(staleReason('out', 'out/a.js', root)).to.match(/out\/a\.js is missing/);
    expect(await stale(options), 'first build').to.not.equal(undefined);
    expect(staleReason('out', 'out/a.js', root)).to.equal(null);
    expect(await stale(options), 'nothing changed: skipped').to.equal(undefined);
    // A file the bundle does not read does not matter.
    future('src/unused.ts');
    expect(staleReason('out', 'out/a.js', root)).to.equal(null);
    future('src/b.ts');
    expect(staleReason('out', 'out/a.js', root)).to.equal('src/b.ts changed');
    expect(await stale(options), 'rebuilt').to.not.equal(undefined);
    // b.ts's mtime is still ahead of that build's start: back to the past, and a plain build.
    utimesSync(join(root, 'src/b.ts'), new Date(Date.now() - 5000), new Date(Date.now() - 5000));
    await staleAware(esbuild, 'out', [], root)(options);
    expect(staleReason('out', 'out/a.js', root)).to.equal(null);
    writeFileSync(join(root, 'package.json'), '{}');
    future('package.json');
    expect(staleReason('out', 'out/a.js', root)).to.equal('package.json changed');
    rmSync(join(root, 'package.json'));
    expect(staleReason('out', 'out/a.js', root)).to.equal(null);
    rmSync(join(root, 'out/.inputs'), { recursive: true });
    expect(staleReason('out', 'out/a.js', root)).to.equal('no record of its inputs');
  });

  it('a removed input makes it stale; without --if-stale it always builds; --only limits the bundles', async function () {
    const always = staleAware(esbuild, 'out', [], root);
    expect(await always(options)).to.not.equal(undefined);
    expect(await always(options)).to.not.equal(undefined);
    expect(await staleAware(esbuild, 'out', ['--only=other.js'], root)(options)).to.equal(undefined);
    expect(await staleAware(esbuild, 'out', ['--only=a.js', '--if-stale'], root)(options)).to.equal(undefined); // up to date
    rmSync(join(root, 'src/b.ts'));
    expect(staleReason('out', 'out/a.js', root)).to.equal('src/b.ts is gone');
  });
});
