#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the demo of a hub and
# three tablets syncing (examples/demo.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BIRGA_BUILD_DIR:-$root/build}
echo "building Birga (first time: a few minutes) ..." >&2
"$root/scripts/build.sh" >"${TMPDIR:-/tmp}/birga-build.log" 2>&1 || {
  cat "${TMPDIR:-/tmp}/birga-build.log" >&2
  exit 1
}
exec bash "$root/examples/demo.sh" "$build/cli/birga"
