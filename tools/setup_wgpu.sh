#!/usr/bin/env bash
# Mesa's software Vulkan driver (lavapipe), so that wgpu finds an adapter on a machine without a
# GPU (the CPU-only dev/CI machines) and `crates/lowbit-nn/tests/wgpu_smoke.rs` can run there.
# Debian/Ubuntu: installs the `mesa-vulkan-drivers` package through apt (root or sudo).
set -euo pipefail
if compgen -G "/usr/share/vulkan/icd.d/lvp_icd*.json" > /dev/null; then
  exit 0
fi
if ! command -v apt-get > /dev/null; then
  echo "setup_wgpu.sh: no apt-get here; install Mesa's Vulkan drivers (lavapipe) with your" \
    "package manager, or run the wgpu smoke test on a machine with a Vulkan GPU" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq mesa-vulkan-drivers > /dev/null 2>&1 || {
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq mesa-vulkan-drivers
}
compgen -G "/usr/share/vulkan/icd.d/lvp_icd*.json" > /dev/null || {
  echo "setup_wgpu.sh: mesa-vulkan-drivers installed but no lavapipe ICD in /usr/share/vulkan/icd.d" >&2
  exit 1
}
