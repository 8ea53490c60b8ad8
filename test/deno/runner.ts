// A small mocha-compatible runner (describe / it / before / after / beforeEach / afterEach, this.skip,
// this.timeout) so the same suites run under Deno's own WebGPU. Prints mocha-like lines and a final
// "N passed, N failed, N skipped" summary; the exit code is the number of failures (capped).

type Fn = (this: Ctx) => unknown;
interface Test { title: string; fn: Fn }
interface Suite {
  title: string;
  parent: Suite | null;
  suites: Suite[];
  tests: Test[];
  before: Fn[];
  after: Fn[];
  beforeEach: Fn[];
  afterEach: Fn[];
  order: (Suite | Test)[];
}

class SkipSignal extends Error {}

class Ctx {
  skip(): never {
    throw new SkipSignal('skipped');
  }
  timeout(_ms?: number): this {
    return this;
  }
  slow(_ms?: number): this {
    return this;
  }
}

function newSuite(title: string, parent: Suite | null): Suite {
  return { title, parent, suites: [], tests: [], before: [], after: [], beforeEach: [], afterEach: [], order: [] };
}

const root = newSuite('', null);
let current = root;

const g = globalThis as Record<string, unknown>;
g.describe = (title: string, body: () => void) => {
  const s = newSuite(title, current);
  current.suites.push(s);
  current.order.push(s);
  const prev = current;
  current = s;
  try {
    body.call(new Ctx());
  } finally {
    current = prev;
  }
};
g.it = (title: string, fn: Fn) => {
  const t = { title, fn };
  current.tests.push(t);
  current.order.push(t);
};
g.before = (fn: Fn) => current.before.push(fn);
g.after = (fn: Fn) => current.after.push(fn);
g.beforeEach = (fn: Fn) => current.beforeEach.push(fn);
g.afterEach = (fn: Fn) => current.afterEach.push(fn);

const counts = { passed: 0, failed: 0, skipped: 0 };
const failures: string[] = [];

function chain(s: Suite | null): Suite[] {
  const out: Suite[] = [];
  for (let x = s; x; x = x.parent) out.unshift(x);
  return out;
}

async function runSuite(s: Suite, depth: number, grep: RegExp | null): Promise<void> {
  const indent = '  '.repeat(depth);
  if (s.title) console.log(`${indent}${s.title}`);
  const ctx = new Ctx();
  let skipAll = false;
  try {
    for (const h of s.before) await h.call(ctx);
  } catch (e) {
    if (e instanceof SkipSignal) skipAll = true;
    else {
      counts.failed++;
      failures.push(`${s.title} (before hook): ${(e as Error).stack ?? e}`);
      console.log(`${indent}  ✗ before hook: ${(e as Error).message}`);
      return;
    }
  }
  for (const item of s.order) {
    if ('fn' in item) {
      const full = [...chain(s).map((x) => x.title), item.title].join(' ');
      if (grep && !grep.test(full)) continue;
      if (skipAll) {
        counts.skipped++;
        continue;
      }
      const tctx = new Ctx();
      try {
        for (const x of chain(s)) for (const h of x.beforeEach) await h.call(tctx);
        await item.fn.call(tctx);
        for (const x of chain(s).reverse()) for (const h of x.afterEach) await h.call(tctx);
        counts.passed++;
        console.log(`${indent}  ✓ ${item.title}`);
      } catch (e) {
        if (e instanceof SkipSignal) {
          counts.skipped++;
          console.log(`${indent}  - ${item.title} (skipped)`);
        } else {
          counts.failed++;
          failures.push(`${full}: ${(e as Error).stack ?? e}`);
          console.log(`${indent}  ✗ ${item.title}: ${(e as Error).message}`);
        }
      }
    } else {
      await runSuite(item, depth + 1, grep);
    }
  }
  for (const h of s.after) {
    try {
      await h.call(ctx);
    } catch (e) {
      counts.failed++;
      failures.push(`${s.title} (after hook): ${(e as Error).stack ?? e}`);
    }
  }
}

/** Run everything registered so far; returns the number of failures. */
export async function run(grep: RegExp | null = null): Promise<number> {
  const t0 = Date.now();
  await runSuite(root, 0, grep);
  if (failures.length) {
    console.log('\nFailures:');
    failures.forEach((f, i) => console.log(`\n${i + 1}) ${f}`));
  }
  console.log(`\n(${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  console.log(`deno: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  return counts.failed;
}
