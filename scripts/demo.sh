#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the demo.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BIRGA_BUILD_DIR:-$root/build}
"$root/scripts/build.sh" >&2
exec "$build/examples/birga-crdt-demo"
