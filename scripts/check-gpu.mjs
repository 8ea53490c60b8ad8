// Prints the WebGPU adapter Node's Dawn finds, and exits non-zero when there is none (or only Dawn's
// null backend, which executes nothing). Used by scripts/setup.sh; handy on its own too.
import { create } from 'webgpu';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
let code = 1;
try {
  const adapter = await create([]).requestAdapter();
  if (!adapter) {
    console.log('check-gpu: no WebGPU adapter (no usable Vulkan driver?)');
  } else {
    const { vendor, architecture, device, description } = adapter.info;
    const text = [vendor, architecture, device, description].filter(Boolean).join(' / ');
    if (/null-backend|\bnull\b/i.test(`${device} ${description}`)) console.log(`check-gpu: only Dawn's null backend (${text})`);
    else {
      console.log(`check-gpu: WebGPU adapter: ${text}`);
      code = 0;
    }
  }
} catch (e) {
  console.log(`check-gpu: requesting an adapter failed: ${e.message}`);
}
// Exit explicitly: a live Dawn instance would otherwise keep Node running.
process.exit(code);
