// Command-line flags for `npm run method` and `npm run bench`: one typed declaration per flag (name,
// value type, meaning, default), parsed by node:util parseArgs in strict mode, with --help generated
// from the same declarations. Unknown flags and bad values are UsageErrors (the CLIs exit 2) that name
// the flag and suggest the closest known one.
//
// A method declares a FlagTable over its config type: one row per leaf of the config (a mapped type,
// so a config key without a row does not compile), each row saying how to parse the flag and what it
// means; the default shown is read from the method's own makeConfig(), never restated.
import { parseArgs } from 'node:util';
import { editDistance } from '../nn/index.js';

/** A wrong command line: the message names the flag; the CLIs print it and exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** How one flag's text becomes a value, and how a value is shown in --help. */
export interface ValueType<T> {
  /** After `=` in --help: INT, NUM, DIR, NAME,… (empty for a boolean switch). */
  label: string;
  /** Appended to the meaning in --help, e.g. the accepted names. */
  note?: string;
  /** Throws an Error saying what is wrong with `text` (the caller adds the flag's name). */
  parse(text: string): T;
  format(value: T): string;
}

const numberText = (s: string): number => {
  const v = s.trim() === '' ? NaN : Number(s);
  if (!Number.isFinite(v)) throw new Error('not a number');
  return v;
};

/** An integer in [min, max]. */
export function int(o: { min?: number; max?: number } = {}): ValueType<number> {
  const { min = -Infinity, max = Infinity } = o;
  const what = min === 1 && max === Infinity ? 'a positive integer' : min === 0 && max === Infinity ? 'an integer >= 0' : `an integer in ${min}..${max}`;
  return {
    label: 'INT',
    parse(s) {
      const v = numberText(s);
      if (!Number.isInteger(v) || v < min || v > max) throw new Error(`must be ${what}`);
      return v;
    },
    format: String,
  };
}

/** A finite number; `min`/`max` inclusive, `above` exclusive. */
export function num(o: { min?: number; max?: number; above?: number } = {}): ValueType<number> {
  const { min = -Infinity, max = Infinity, above = -Infinity } = o;
  const bounds = [above > -Infinity ? `> ${above}` : '', min > -Infinity ? `>= ${min}` : '', max < Infinity ? `<= ${max}` : ''].filter(Boolean).join(' and ');
  return {
    label: 'NUM',
    parse(s) {
      const v = numberText(s);
      if (v < min || v > max || !(v > above)) throw new Error(`must be a number ${bounds}`);
      return v;
    },
    format: String,
  };
}

/** Any non-empty text (a path, a pattern, a name). */
export function text(label = 'TEXT'): ValueType<string> {
  return {
    label,
    parse(s) {
      if (s === '') throw new Error('must not be empty');
      return s;
    },
    format: (v) => v,
  };
}

/** A switch: `--name` sets true, `--no-name` sets false (parse is not called). */
export const bool: ValueType<boolean> = {
  label: '',
  parse() {
    throw new Error('a switch takes no value');
  },
  format: String,
};

/** One of a fixed set of names; a misspelt one gets the closest as a suggestion. */
export function oneOf<const V extends string>(values: readonly V[]): ValueType<V> {
  return {
    label: 'NAME',
    note: `one of ${values.join(', ')}`,
    parse(s) {
      if ((values as readonly string[]).includes(s)) return s as V;
      throw new Error(`unknown name "${s}"${didYouMean(s, values)} (one of ${values.join(', ')})`);
    },
    format: (v) => v,
  };
}

/** Comma-separated values; at least `min` of them (min 0: an empty value means none). */
export function list<T>(item: ValueType<T>, o: { min?: number } = {}): ValueType<T[]> {
  const { min = 1 } = o;
  return {
    label: `${item.label},…`,
    note: item.note && `each ${item.note}`,
    parse(s) {
      const parts = s === '' ? [] : s.split(',').map((p) => p.trim());
      if (parts.length < min) throw new Error(min === 1 ? 'needs at least one value' : `needs at least ${min} values`);
      return parts.map((p, i) => {
        try {
          return item.parse(p);
        } catch (e) {
          throw new Error(`item ${i + 1} ("${p}"): ${(e as Error).message}`);
        }
      });
    },
    format: (v) => (v.length ? v.map(item.format).join(',') : 'none'),
  };
}

/** `LO,HI` with LO <= HI (an inclusive range). */
export function range(item: ValueType<number>): ValueType<[number, number]> {
  return {
    label: `LO,HI`,
    parse(s) {
      const parts = s.split(',');
      if (parts.length !== 2) throw new Error('must be two numbers LO,HI');
      const [lo, hi] = parts.map((p) => item.parse(p.trim()));
      if (lo > hi) throw new Error('LO must not exceed HI');
      return [lo, hi];
    },
    format: (v) => v.join(','),
  };
}

/** The value types most flag tables use: counts, sizes and steps; rates; shares. */
export const positiveInt = int({ min: 1 });
export const nonNegativeInt = int({ min: 0 });
export const positiveNum = num({ above: 0 });
export const unitInterval = num({ min: 0, max: 1 });

/** `N`: the seeds 0 … N-1. */
export const seedCount: ValueType<number[]> = {
  label: 'N',
  parse(s) {
    const n = int({ min: 1 }).parse(s);
    return Array.from({ length: n }, (_, i) => i);
  },
  format: (v) => (v.every((x, i) => x === i) ? String(v.length) : `[${v.join(',')}]`),
};

/**
 * `N` (seeds 0 … N-1), `A-B` (seeds A … B) or `A,B,…` (those seeds): one seed per process
 * (`--seeds=2-2`, `--seeds=1,2`) so that runs of single seeds can be merged into one report.
 */
export const seedList: ValueType<number[]> = {
  label: 'N|A-B|A,B,…',
  parse(s) {
    const m = /^(\d+)-(\d+)$/.exec(s.trim());
    if (m) {
      const [a, b] = [Number(m[1]), Number(m[2])];
      if (a > b) throw new Error(`the range ${s} is empty`);
      return Array.from({ length: b - a + 1 }, (_, i) => a + i);
    }
    if (s.includes(',')) {
      const seeds = list(int({ min: 0 })).parse(s);
      if (new Set(seeds).size !== seeds.length) throw new Error('a seed repeats');
      return seeds;
    }
    const n = int({ min: 1 }).parse(s);
    return Array.from({ length: n }, (_, i) => i);
  },
  format: (v) => {
    if (v.every((x, i) => x === i)) return String(v.length);
    return v.every((x, i) => x === v[0] + i) ? `${v[0]}-${v[v.length - 1]}` : v.join(',');
  },
};

// ---- parsing ---------------------------------------------------------------------------------

export interface Flag {
  /** Without the dashes. */
  name: string;
  type: ValueType<any>;
  /** What it does, one line. */
  help: string;
  /** Heading it is listed under in --help. */
  group?: string;
  /** Shown as `default: …` (absent: nothing shown). */
  shown?: string;
  /** Shown as `--quick: …` when it differs from `shown`. */
  quick?: string;
}

/** The closest of `known` to `word` (case, dashes, dots and underscores ignored), if close enough. */
export function closest(word: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_.]/g, '');
  const w = norm(word);
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const n = norm(k);
    // A prefix of a longer flag (--pretrain-max for --pretrain-max-steps) counts as close.
    const d = n.startsWith(w) && w.length >= 3 ? 0.5 : editDistance(w, n);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(2, Math.floor(w.length / 3)) ? best : undefined;
}

const didYouMean = (word: string, known: readonly string[], prefix = '') => {
  const c = closest(word, known);
  return c === undefined ? '' : `; did you mean ${prefix}${c}?`;
};

/**
 * Parse `argv` (strict: every argument must be a declared flag) into values by flag name, last
 * occurrence winning. `--help`/`-h` is always accepted. Throws UsageError naming the flag.
 */
export function parseFlags(argv: readonly string[], flags: readonly Flag[], prog: string, helpCommand = `${prog} --help`): { help: boolean; values: Map<string, unknown> } {
  const byName = new Map(flags.map((f) => [f.name, f]));
  type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'] & {};
  const options: Options = { help: { type: 'boolean', short: 'h' } };
  for (const f of flags) {
    if (f.type === bool) {
      options[f.name] = { type: 'boolean' };
      options[`no-${f.name}`] = { type: 'boolean' };
    } else options[f.name] = { type: 'string' };
  }
  const known = Object.keys(options);
  const seeHelp = `(see ${helpCommand})`;
  let tokens;
  try {
    ({ tokens } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false, tokens: true }));
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      // Find which one (the error's text is all parseArgs gives), by a lenient parse.
      const loose = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true }).tokens;
      const bad = loose.find((t) => t.kind === 'option' && !(t.name in options));
      if (bad && bad.kind === 'option') throw new UsageError(`${prog}: unknown flag ${bad.rawName}${didYouMean(bad.name, known, '--')} ${seeHelp}`);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const loose = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true }).tokens;
      const pos = loose.find((t) => t.kind === 'positional');
      const v = pos && pos.kind === 'positional' ? pos.value : '';
      throw new UsageError(`${prog}: unexpected argument "${v}" (flags are --name=value or --switch) ${seeHelp}`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const loose = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true }).tokens;
      for (const t of loose) {
        if (t.kind !== 'option' || !(t.name in options)) continue;
        const f = byName.get(t.name);
        if (options[t.name].type === 'boolean' && t.value !== undefined) throw new UsageError(`${prog}: ${t.rawName} is a switch and takes no value ${seeHelp}`);
        if (options[t.name].type === 'string' && !t.inlineValue && t.value?.startsWith('-')) {
          throw new UsageError(`${prog}: ${t.rawName} ${t.value}: a value starting with a dash is written ${t.rawName}=${t.value} ${seeHelp}`);
        }
        if (options[t.name].type === 'string' && t.value === undefined) throw new UsageError(`${prog}: ${t.rawName} needs a value: ${t.rawName}=${f?.type.label ?? 'VALUE'} ${seeHelp}`);
      }
    }
    throw new UsageError(`${prog}: ${(e as Error).message.replace(/\n/g, ' ')} ${seeHelp}`);
  }
  let help = false;
  const values = new Map<string, unknown>();
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    if (t.name === 'help') {
      help = true;
      continue;
    }
    const f = byName.get(t.name);
    if (!f) {
      values.set(t.name.slice(3), false); // --no-<switch>
      continue;
    }
    if (f.type === bool) {
      values.set(f.name, true);
      continue;
    }
    const raw = t.value ?? '';
    try {
      values.set(f.name, f.type.parse(raw));
    } catch (e) {
      throw new UsageError(`${prog}: --${f.name}=${raw}: ${(e as Error).message}`);
    }
  }
  return { help, values };
}

/** --help text: usage, description, then every flag with its value type, meaning and default. */
export function helpText(o: { usage: string; about?: string; flags: readonly Flag[]; footer?: string }): string {
  const left = (f: Flag) => (f.type === bool ? `--${f.name}` : `--${f.name}=${f.type.label}`);
  const width = Math.min(36, Math.max(...o.flags.map((f) => left(f).length), 10) + 2);
  const lines = [`usage: ${o.usage}`, ''];
  if (o.about) lines.push(o.about, '');
  let group: string | undefined;
  for (const f of o.flags) {
    if (f.group !== group) {
      group = f.group;
      if (group) lines.push('', `${group}:`);
    }
    const bits = [f.help + (f.type.note ? ` (${f.type.note})` : '')];
    if (f.shown !== undefined) bits.push(`default: ${f.shown}${f.quick !== undefined && f.quick !== f.shown ? `; --quick: ${f.quick}` : ''}`);
    if (f.type === bool && f.shown === 'true') bits.push(`--no-${f.name} turns it off`);
    const l = left(f);
    lines.push(`  ${l.padEnd(width)}${l.length >= width ? `\n  ${''.padEnd(width)}` : ''}${bits.join('. ')}`);
  }
  lines.push('', `  ${'--help, -h'.padEnd(width)}this text`);
  if (o.footer) lines.push('', o.footer);
  return lines.join('\n');
}

// ---- a method's config as flags ---------------------------------------------------------------

/** Dotted paths of a config's leaves (arrays and tuples are leaves): 'seeds' | 'model.dModel' | … */
export type Leaves<T> = {
  [K in keyof T & string]-?: NonNullable<T[K]> extends readonly unknown[] ? K : NonNullable<T[K]> extends object ? `${K}.${Leaves<NonNullable<T[K]>>}` : K;
}[keyof T & string];

/** The type at a dotted path. */
export type At<T, P extends string> = P extends `${infer K}.${infer R}`
  ? K extends keyof T
    ? At<NonNullable<T[K]>, R>
    : never
  : P extends keyof T
    ? NonNullable<T[P]>
    : never;

export interface ConfigFlag<V> {
  /** The flag's name; default: the path in kebab case (`pretrain.maxSteps` → `pretrain-max-steps`). */
  flag?: string;
  type: ValueType<V>;
  help: string;
  /** Shown as the default where the config leaves the key out (a library default applies). */
  fallback?: V;
}

/** One row per config leaf: leaving a key out, or giving a row a wrongly typed parser, does not compile. */
export type FlagTable<C> = { [P in Leaves<C>]: ConfigFlag<At<C, P>> };

/** What `npm run method -- <name>` needs of a method to parse its command line. */
export interface MethodFlags<C> {
  name: string;
  summary: string;
  table: FlagTable<C>;
  /** The default config, or the QUICK preset's (makeConfig(QUICK)). */
  defaults(quick: boolean): C;
  /** Validate a full config (makeConfig(config)); throws RangeError on a bad combination. */
  validate(config: C): C;
  /** What --quick is, for --help. */
  quickHelp: string;
}

export const kebab = (path: string) =>
  path
    .replace(/\./g, '-')
    .replace(/([a-z0-9])([A-Z]+)/g, '$1-$2')
    .toLowerCase();

const getPath = (o: unknown, path: string): unknown => path.split('.').reduce<any>((x, k) => (x == null ? undefined : x[k]), o);

function setPath(o: any, path: string, v: unknown): void {
  const ks = path.split('.');
  for (const k of ks.slice(0, -1)) o = o[k] ??= {};
  o[ks[ks.length - 1]] = v;
}

/** The rows of a method's table as flags (path attached), in declaration order, grouped by section. */
export function methodFlagList<C>(m: MethodFlags<C>): (Flag & { path: string })[] {
  const [full, quick] = [m.defaults(false), m.defaults(true)];
  const rows = Object.entries(m.table) as [string, ConfigFlag<unknown>][];
  const show = (c: C, path: string, row: ConfigFlag<unknown>) => {
    const v = getPath(c, path) ?? row.fallback;
    return v === undefined ? undefined : row.type.format(v);
  };
  const flags = rows.map(([path, row]) => ({
    path,
    name: row.flag ?? kebab(path),
    type: row.type,
    help: row.help,
    group: path.includes('.') ? path.split('.')[0] : undefined,
    shown: show(full, path, row),
    quick: show(quick, path, row),
  }));
  // Top-level keys first, then each section together.
  return [...flags.filter((f) => !f.group), ...flags.filter((f) => f.group)];
}

const QUICK_FLAG = (help: string): Flag => ({ name: 'quick', type: bool, help });

export function methodHelp<C>(m: MethodFlags<C>): string {
  return helpText({
    usage: `npm run method -- ${m.name} [--quick] [--flag=value …]`,
    about: m.summary,
    flags: [QUICK_FLAG(m.quickHelp), ...methodFlagList(m)],
    footer: 'Flags apply on top of the defaults, or of the --quick preset when it is given (in any order). Lists are comma-separated.',
  });
}

/** Parse a method's flags into its validated config; `help` set when --help was asked for. */
export function parseMethodFlags<C>(m: MethodFlags<C>, argv: readonly string[]): { help: true } | { help: false; quick: boolean; config: C } {
  const list = methodFlagList(m);
  const { help, values } = parseFlags(argv, [QUICK_FLAG(m.quickHelp), ...list], `npm run method -- ${m.name}`);
  if (help) return { help: true };
  const quick = values.get('quick') === true;
  const config = structuredClone(m.defaults(quick));
  for (const f of list) if (values.has(f.name)) setPath(config, f.path, values.get(f.name));
  try {
    return { help: false, quick, config: m.validate(config) };
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(`npm run method -- ${m.name}: ${e.message.replace(`${m.name}: `, '')}`);
    throw e;
  }
}

/** `npm run method -- --help` (or no arguments): the methods with their summaries. */
export function methodsHelp(methods: Record<string, { summary: string }>): string {
  const names = Object.keys(methods);
  const w = Math.max(...names.map((n) => n.length)) + 2;
  return [
    'usage: npm run method -- <name> [--quick] [--flag=value …]',
    '       npm run method -- <name> --help     every flag of a method, with its default and meaning',
    '',
    'methods:',
    ...names.map((n) => `  ${n.padEnd(w)}${methods[n].summary}`),
  ].join('\n');
}

export type MethodCommand =
  | { kind: 'usage'; text: string; exitCode: 0 | 2 }
  | { kind: 'run'; name: string; quick: boolean; config: unknown };

/**
 * The whole `npm run method -- …` command line: `--help`/no arguments list the methods, `<name>
 * --help` that method's flags; otherwise the named method's validated config. Throws UsageError.
 */
export function methodCommand(argv: readonly string[], methods: Record<string, { summary: string; FLAGS: MethodFlags<any> }>): MethodCommand {
  const [name, ...rest] = argv;
  if (name === undefined) return { kind: 'usage', text: methodsHelp(methods), exitCode: 2 };
  if (name === '--help' || name === '-h' || name === 'help') return { kind: 'usage', text: methodsHelp(methods), exitCode: 0 };
  const names = Object.keys(methods);
  if (!names.includes(name)) {
    const what = name.startsWith('-') ? `expected a method name first, got ${name}` : `unknown method "${name}"${didYouMean(name, names)}`;
    throw new UsageError(`npm run method: ${what} (methods: ${names.join(', ')}; see npm run method -- --help)`);
  }
  const m = methods[name].FLAGS;
  const r = parseMethodFlags(m, rest);
  if (r.help) return { kind: 'usage', text: methodHelp(m), exitCode: 0 };
  return { kind: 'run', name, quick: r.quick, config: r.config };
}
