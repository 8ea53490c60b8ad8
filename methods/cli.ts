// `npm run method -- <name> [--key=value …]`: runs one research method and writes its report.
// Methods register in methods/registry.ts as they land (one folder each, see DESIGN.md §9).
import { Engine } from '../engine/index.js';
import { dawnGPU } from '../nn/node/gpu.js';
import { METHODS } from './registry.js';

const [name, ...rest] = process.argv.slice(2);
const names = Object.keys(METHODS);
if (!name || !(name in METHODS)) {
  console.error(name ? `method: unknown method "${name}".` : 'usage: npm run method -- <name> [--key=value …]');
  for (const n of names) console.error(`  ${n.padEnd(20)} ${METHODS[n].summary}`);
  process.exit(2);
}
const flags: Record<string, string | true> = {};
for (const a of rest) {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
  if (!m) {
    console.error(`method: unexpected argument ${a} (flags are --key or --key=value)`);
    process.exit(2);
  }
  flags[m[1]] = m[2] ?? true;
}
const engine = await Engine.create({ gpu: dawnGPU() });
try {
  await METHODS[name].main(engine, flags, () => Engine.create({ gpu: dawnGPU() }));
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  engine.destroy();
}
