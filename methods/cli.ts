// `npm run method -- <name> [--quick] [--flag=value …]`: runs one research method and writes its report.
// `npm run method -- --help` lists the methods, `npm run method -- <name> --help` a method's flags
// (methods/<name>/flags.ts). A wrong command line exits 2 before any engine starts.
// Methods register in methods/registry.ts as they land (one folder each, see DESIGN.md §9).
import { Engine } from '../engine/index.js';
import { dawnGPU } from '../nn/node/gpu.js';
import { UsageError, methodCommand } from './flags.js';
import { METHODS } from './registry.js';

let cmd;
try {
  cmd = methodCommand(process.argv.slice(2), METHODS);
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(e.message);
  process.exit(2);
}
if (cmd.kind === 'usage') {
  (cmd.exitCode ? console.error : console.log)(cmd.text);
  process.exit(cmd.exitCode);
}
const engine = await Engine.create({ gpu: dawnGPU() });
try {
  await METHODS[cmd.name].main(engine, cmd.config, () => Engine.create({ gpu: dawnGPU() }));
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  engine.destroy();
}
