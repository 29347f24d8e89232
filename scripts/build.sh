#!/usr/bin/env bash
# Installs missing Debian packages, configures and builds Birga in ./build (or $BIRGA_BUILD_DIR).
# Extra arguments go to cmake's configure step (e.g. -DBIRGA_SANITIZE=ON).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BIRGA_BUILD_DIR:-$root/build}
"$root/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=${BIRGA_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
