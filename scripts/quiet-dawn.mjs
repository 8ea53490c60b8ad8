// Dawn's Vulkan backend prints two warnings on lavapipe when it opens the adapter ("Warning:
// maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 …"), from C++
// straight to the process's stderr: no JavaScript in that process can silence them, and they say
// nothing a user can act on. kiln's own scripts run their Node processes through this filter, which
// drops exactly those lines and passes everything else through.
//   node scripts/quiet-dawn.mjs FILE [ARGS…]   runs `node --expose-gc FILE ARGS…`, stdin and stdout inherited
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';

export const DAWN_NOISE = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/;

/** `text` without Dawn's two lavapipe warnings. */
export function withoutDawnNoise(text) {
  return text
    .split('\n')
    .filter((line) => !DAWN_NOISE.test(line))
    .join('\n');
}

/** Forward a readable stream to `out` line by line, dropping Dawn's warnings. */
export function forwardFiltered(stream, out) {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop();
    for (const line of lines) if (!DAWN_NOISE.test(line)) out.write(`${line}\n`);
  });
  stream.on('end', () => {
    if (pending && !DAWN_NOISE.test(pending)) out.write(pending);
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, ...args] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node scripts/quiet-dawn.mjs FILE [ARGS…]');
    process.exit(2);
  }
  // --expose-gc: kiln's bind-group cache collects when it empties itself (engine/bindings.ts).
  const child = spawn(process.execPath, ['--expose-gc', file, ...args], { stdio: ['inherit', 'inherit', 'pipe'] });
  forwardFiltered(child.stderr, process.stderr);
  // Ctrl-C reaches the child through the terminal's process group: this process only waits for it.
  // Signals sent to this process alone are passed on.
  process.on('SIGINT', () => {});
  for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    if (!signal) process.exit(code ?? 1);
    process.removeAllListeners(signal);
    process.kill(process.pid, signal); // end the way the child ended
  });
}
