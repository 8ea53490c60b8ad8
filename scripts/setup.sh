#!/usr/bin/env bash
# One set-up step for a fresh Debian 12/13 or Ubuntu machine, GPU or not. Idempotent; safe as root
# without stdin (CI) or as a user with sudo.
#  1. npm dependencies: `npm ci` when package-lock.json exists (else `npm install`), dev ones included.
#     Nothing relies on install scripts (npm 11 may skip them): webgpu ships its Dawn binary, esbuild and
#     deno resolve their platform packages at run time. Step 3 checks that each one runs.
#  2. A WebGPU adapter: if Dawn finds none and the machine has no GPU, install Mesa's lavapipe
#     (software Vulkan). Debian 12's own Mesa 22.3 is rejected by Dawn, so there it comes from
#     bookworm-backports. A machine with a GPU keeps its drivers untouched.
#  3. Checks: esbuild, deno and Dawn each run, and prints the adapter.
#  Also: Debian's fortunes-de (German text for nn/node/corpora.ts), fonts-dejavu-core (plot labels) and
#  espeak-ng + sox (speech synthesis for nn/node/speech.ts) whenever they are missing.
# XDG_RUNTIME_DIR is set for this script when unset (Dawn's Vulkan loader warns without it);
# scripts/test.mjs sets it for the tests too.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
export DEBIAN_FRONTEND=noninteractive

log() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo -n "$@" || die "needs root for: $* (run as root or with passwordless sudo)"
  else die "needs root for: $*"; fi
}
have_gpu_device() { compgen -G '/dev/dri/renderD*' >/dev/null || [ -e /dev/nvidia0 ] || [ -e /dev/dxg ]; }
have_vulkan_icd() {
  local d
  for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
    compgen -G "$d/*.json" >/dev/null && return 0
  done
  return 1
}

# ---- Node.js (mocha 12 needs Node >= 20.19)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  command -v apt-get >/dev/null || die "Node.js >= 20.19 and npm are required"
  log "installing Node.js and npm from the distribution"
  as_root apt-get update -q
  as_root apt-get install -y -q --no-install-recommends nodejs npm
fi
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
  die "Node.js $(node --version) is too old: kiln's test tools need >= 20.19"

# ---- 1. npm dependencies (--include=dev: the build and test tools are devDependencies)
# onnxruntime-node (a benchmark peer) would download CUDA files from a host we cannot reach in its
# install script, where npm runs install scripts; its CPU and WebGPU providers ship in the package.
export ONNXRUNTIME_NODE_INSTALL=skip
if [ -f package-lock.json ]; then
  npm ci --include=dev --no-audit --no-fund
else
  npm install --include=dev --no-audit --no-fund
fi

# ---- data and fonts: German prose for kiln/nn's corpus (nn/node/corpora.ts) and a font for the text of
# PNG plots. Before and independent of the GPU step below (which may stop the script); installed
# whenever missing, never upgraded.
missing=()
[ -d /usr/share/games/fortunes/de ] || missing+=(fortunes-de)
[ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v sox >/dev/null || missing+=(sox)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    log "installing ${missing[*]}"
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    log "warning: no apt-get; ${missing[*]} not installed (the German corpus and speech loaders will say so; PNG plots lose their labels)"
  fi
fi

# ---- 2. a WebGPU adapter
install_lavapipe() {
  command -v apt-get >/dev/null || die "no WebGPU adapter and no apt-get: install Mesa's Vulkan drivers (lavapipe) by hand"
  . /etc/os-release
  if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
    log "Debian 12: installing Mesa lavapipe from bookworm-backports"
    if ! grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo 'deb http://deb.debian.org/debian bookworm-backports main' | as_root tee /etc/apt/sources.list.d/kiln-backports.list >/dev/null
    fi
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1
  else
    log "installing Mesa lavapipe from the distribution"
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends mesa-vulkan-drivers libvulkan1
  fi
}

if node scripts/check-gpu.mjs 2>/dev/null; then
  :
elif have_gpu_device && have_vulkan_icd; then
  # A GPU with a Vulkan driver that Dawn cannot use: never replace a GPU's driver automatically.
  die "this machine has a GPU and a Vulkan driver, but Dawn finds no adapter: check it with vulkaninfo; drivers left as they are"
else
  log "no usable Vulkan driver for Dawn"
  install_lavapipe
  node scripts/check-gpu.mjs 2>/dev/null || die "still no WebGPU adapter after installing lavapipe"
fi

# ---- 3. the tools run without their install scripts
node -e "require('esbuild').transformSync('let a: number = 1', { loader: 'ts' })" || die "esbuild does not run"
log "esbuild $(node -p "require('esbuild').version")"
log "$(node node_modules/deno/bin.cjs --version | head -1)"
log "done: run 'npm test' or 'npm run demo'"
