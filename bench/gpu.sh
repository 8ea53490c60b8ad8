#!/usr/bin/env bash
# Benchmarks on a borrowed GPU machine (see ../shared/gpu/README.md).
#   here:   bash bench/gpu.sh pack     build dist-gpu/, pack .gpu/ (Node, Vulkan loader, webgpu) and
#                                      .gpu/bench_modules.tgz (peers + plot packages, linux-x64 only)
#   there:  bash .gpu/enter.sh bash bench/gpu.sh run [bench args...]
#           writes bench/results/<device>.json (+ .svg/.png/.meta.json); copy that folder back.
# `run` also works here (lavapipe) as a dry run of the remote half.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mode=${1:-}
shift || true
case "$mode" in
pack)
  node scripts/build.mjs --outdir=dist-gpu --no-types
  bash ../shared/gpu/pack.sh webgpu
  # The bench bundle keeps packages external: carry the peers and the plot renderer with their
  # dependencies (walked from node_modules), dropping other platforms' native binaries.
  node -e '
    const fs = require("fs");
    const seen = new Set();
    const walk = (n) => {
      if (seen.has(n) || !fs.existsSync(`node_modules/${n}/package.json`)) return;
      seen.add(n);
      const p = JSON.parse(fs.readFileSync(`node_modules/${n}/package.json`, "utf8"));
      for (const d of Object.keys({ ...p.dependencies, ...p.optionalDependencies })) walk(d);
    };
    for (const n of process.argv.slice(1)) walk(n);
    seen.delete("webgpu");
    console.log([...seen].join("\n"));
  ' @tensorflow/tfjs-core @tensorflow/tfjs-backend-webgpu onnxruntime-node @jax-js/jax vega vega-lite @resvg/resvg-js > .gpu/bench_modules.txt
  stage=$(mktemp -d)
  while read -r p; do mkdir -p "$stage/node_modules/$p" && cp -r "node_modules/$p/." "$stage/node_modules/$p/"; done < .gpu/bench_modules.txt
  ort="$stage/node_modules/onnxruntime-node/bin/napi-v6"
  [ -d "$ort" ] && find "$ort" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} + && find "$ort/linux" -mindepth 1 -maxdepth 1 ! -name x64 -exec rm -rf {} +
  tar -C "$stage" -czf .gpu/bench_modules.tgz node_modules
  rm -rf "$stage"
  du -sh .gpu/bench_modules.tgz dist-gpu
  echo "send the tree with .gpu/ and dist-gpu/, then run there: bash .gpu/enter.sh bash bench/gpu.sh run"
  ;;
run)
  [ -d node_modules/onnxruntime-node ] || tar -xzf .gpu/bench_modules.tgz
  # Results are named by the adapter Dawn reports (e.g. nvidia-h100-80gb-hbm3).
  device=$(node -e "import('webgpu').then(async ({ create }) => { const a = await create([]).requestAdapter(); const i = a?.info ?? {}; console.log((i.description || i.vendor + '-' + i.architecture || 'unknown').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')); })" 2>/dev/null | tail -1)
  mkdir -p bench/results
  dist=dist-gpu
  [ -f "$dist/bench/main.js" ] || dist=dist
  node "$dist/bench/main.js" --out="bench/results/${device:-unknown}.json" "$@"
  ;;
*)
  echo "usage: bash bench/gpu.sh pack | run [bench args]" >&2
  exit 2
  ;;
esac
