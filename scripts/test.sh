#!/usr/bin/env bash
# The README's second command: installs what is missing, builds, and runs every test (ctest).
# Extra arguments go to cmake's configure step (e.g. -DBIRGA_SANITIZE=ON).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BIRGA_BUILD_DIR:-$root/build}
"$root/scripts/build.sh" "$@"
cd "$build"
ctest --output-on-failure --timeout 600 -j "$(nproc)"
