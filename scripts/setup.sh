#!/usr/bin/env bash
# One set-up step for a fresh Debian 12/13 or Ubuntu machine, GPU or not. Idempotent.
# - installs npm dependencies (npm ci when a lockfile exists)
# - installs Mesa's lavapipe (software Vulkan) only when no Vulkan driver is present;
#   Debian 12's own Mesa 22.3 is too old for Dawn, so there it comes from bookworm-backports.
# A machine with a GPU driver keeps its drivers untouched.
set -euo pipefail
cd "$(dirname "$0")/.."

have_vulkan_driver() {
  local d
  for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
    compgen -G "$d/*.json" >/dev/null && return 0
  done
  return 1
}

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if have_vulkan_driver; then
  echo "setup: a Vulkan driver is present; drivers left as they are"
else
  . /etc/os-release
  export DEBIAN_FRONTEND=noninteractive
  if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
    echo "setup: Debian 12 — installing Mesa lavapipe from bookworm-backports"
    list=/etc/apt/sources.list.d/kiln-backports.list
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo 'deb http://deb.debian.org/debian bookworm-backports main' | sudo_ tee "$list" >/dev/null
    fi
    sudo_ apt-get update -q
    sudo_ apt-get install -y -q -t bookworm-backports mesa-vulkan-drivers libvulkan1
  else
    echo "setup: installing Mesa lavapipe from the distribution"
    sudo_ apt-get update -q
    sudo_ apt-get install -y -q mesa-vulkan-drivers libvulkan1
  fi
  have_vulkan_driver || { echo "setup: no Vulkan driver after install" >&2; exit 1; }
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
