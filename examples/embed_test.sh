#!/usr/bin/env bash
# Runs examples/embed.cpp against a hub this test starts: the example records a visit, syncs,
# and must list the record another tablet had sent to the hub as changed.
# usage: embed_test.sh PATH_TO_BIRGA PATH_TO_BIRGA_EMBED
set -euo pipefail
birga=$1
embed=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/birga-embed-test.XXXXXX")
hub_pid=""
cleanup() {
  [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export BIRGA_PASSPHRASE="embed test" BIRGA_FAST_KDF=1
scope=tashkent/yunusobod/m0421
"$birga" authority init --dir "$work/auth" >/dev/null
for d in hub app other; do "$birga" init --dir "$work/$d" >/dev/null; done
"$birga" enrol --dir "$work/auth" --device "$work/hub" --name hub --role hub \
  --scope tashkent/yunusobod:r+relay >/dev/null
"$birga" enrol --dir "$work/auth" --device "$work/app" --name app --role field --scope "$scope:rw" >/dev/null
"$birga" enrol --dir "$work/auth" --device "$work/other" --name other --role field --scope "$scope:rw" >/dev/null
"$birga" authority export --dir "$work/auth" --out "$work/control" >/dev/null
"$birga" import "$work/control" --dir "$work/hub" >/dev/null
other_hh=$("$birga" household add --dir "$work/other" --address "Yunusobod 1-1")

"$birga" serve --dir "$work/hub" --listen 127.0.0.1:0 >"$work/serve.log" 2>&1 &
hub_pid=$!
port=""
# Bounded wait (30 s) for the hub to print its port; a loaded machine can be slow to start it.
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$work/serve.log" | head -n1 || true)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { cat "$work/serve.log"; exit 1; }
"$birga" sync "127.0.0.1:$port" --dir "$work/other" >/dev/null

# Bad arguments are refused before anything is written.
if "$embed" "$work/app" 127.0.0.1 2>"$work/err"; then exit 1; fi
grep -q "must be HOST:PORT" "$work/err"
if "$embed" "$work/nowhere" "127.0.0.1:$port" 2>"$work/err"; then exit 1; fi
grep -q "no replica in $work/nowhere" "$work/err"

out=$("$embed" "$work/app" "127.0.0.1:$port")
echo "$out"
grep -q "^recorded visit " <<<"$out"
grep -q "^synced with hub: sent 1 change(s)" <<<"$out"
grep -q "^changed: household $other_hh in $scope" <<<"$out"
# The hub now holds the example's visit.
visit=$(sed -n 's/^recorded visit //p' <<<"$out")
"$birga" show "$visit" --dir "$work/hub" | grep -q "monitoring"
echo "1 passed, 0 failed"
