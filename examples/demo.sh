#!/usr/bin/env bash
# The Birga demo: a district hub and three tablets (two in mahalla m0421, one in m0977), each a
# `birga` process with its own encrypted store, syncing over loopback TCP. Two tablets assign
# different guardians to the same child while apart; the hub relays both; the conflict is
# surfaced, a supervisor resolves it with a reason, and everything syncs again. A summary shows
# records per node, bytes moved, and what each node can and cannot read.
#
# usage: examples/demo.sh [PATH_TO_BIRGA]    (scripts/demo.sh builds it and runs this)
set -euo pipefail

birga=${1:-birga}
work=$(mktemp -d "${TMPDIR:-/tmp}/birga-demo.XXXXXX")
declare -a pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

export BIRGA_PASSPHRASE="demo: choose a long passphrase on a real device"
unset BIRGA_FAST_KDF  # the real Argon2id cost: about 0.1 s per command

m_a=tashkent/yunusobod/m0421
m_b=tashkent/yunusobod/m0977
declare -A bytes_moved=()

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
b() { "$birga" "$@"; }  # one birga process per call
# Prints a JSON number field of a one-line JSON object (no JSON tool needed).
json_num() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" | head -n1; }

# Starts `birga serve` for DEVICE on a free loopback port; sets $port and remembers the pid.
serve() {
  local dir=$1 log="$work/$(basename "$1").serve.log"
  "$birga" serve --dir "$dir" --listen 127.0.0.1:0 >"$log" 2>&1 &  # $! is birga's own pid
  pids+=($!)
  serve_pid=$!
  port=""
  for _ in $(seq 1 600); do  # at most 30 s: a loaded machine can be slow to start a node
    port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$log" | head -n1 || true)
    [ -n "$port" ] && return 0
    sleep 0.05
  done
  echo "the node $(basename "$dir") did not start:" >&2
  cat "$log" >&2
  exit 1
}

# Syncs DEVICE with 127.0.0.1:PORT, prints what moved, adds the bytes to its total.
sync_with() {
  local dir=$1 target=$2 name out
  name=$(basename "$dir")
  out=$(b sync "127.0.0.1:$target" --dir "$dir" --json)
  local sent recv bout bin
  sent=$(json_num changes_sent <<<"$out")
  recv=$(json_num changes_received <<<"$out")
  bout=$(json_num bytes_sent <<<"$out")
  bin=$(json_num bytes_received <<<"$out")
  bytes_moved[$name]=$((${bytes_moved[$name]:-0} + bout + bin))
  [ "$target" = "${hub_port:-}" ] && bytes_moved[hub]=$((${bytes_moved[hub]:-0} + bout + bin))
  say "$name: sent $sent change(s), received $recv ($((bout + bin)) bytes on the wire)"
}

# Counts matches of a pattern on stdin (0 when none, without tripping pipefail).
matches() { grep -o "$1" | wc -l || true; }
count() { b list "$1" --dir "$2" --json | matches '"id":'; }

step "1. The district administrator creates the deployment authority (kept offline)"
b authority init --dir "$work/authority" | sed 's/^/   authority key: /'

step "2. Five devices make their own keys; the authority enrols them"
for d in hub dilnoza jasur kamola supervisor; do b init --dir "$work/$d" >/dev/null; done
enrol() { b enrol --dir "$work/authority" --device "$work/$1" --name "$1" --role "$2" --scope "$3" >/dev/null; }
enrol hub hub tashkent/yunusobod:r+relay
enrol dilnoza field "$m_a:rw"
enrol jasur field "$m_a:rw"
enrol kamola field "$m_b:rw"
enrol supervisor supervisor tashkent/yunusobod:rw
b authority export --dir "$work/authority" --out "$work/control.log" >/dev/null
b import "$work/control.log" --dir "$work/hub" >/dev/null
say "hub        district hub, reads and relays tashkent/yunusobod"
say "dilnoza    field tablet, mahalla m0421"
say "jasur      field tablet, mahalla m0421"
say "kamola     field tablet, mahalla m0977"
say "supervisor Inson centre laptop, district-wide"

step "3. The hub starts: its own process, listening on loopback"
serve "$work/hub"
hub_port=$port
hub_pid=$serve_pid
say "birga serve is listening on 127.0.0.1:$hub_port (pid $hub_pid)"

step "4. Dilnoza, offline, registers a household and a child and opens a guardianship case"
hh=$(b household add --dir "$work/dilnoza" --address "Yunusobod 4-17, kv. 12" --phone "+998 90 123 45 67")
child=$(b person add --dir "$work/dilnoza" --name "Aziza Karimova" --birth-date 2016-03-02 --household "$hh")
case_id=$(b case open --dir "$work/dilnoza" --child "$child" --type guardianship --status assessment)
b visit add --dir "$work/dilnoza" --household "$hh" --type initial-assessment \
  --notes "mother abroad for work; grandmother and uncle both offer care" --consent yes >/dev/null
b aid add --dir "$work/dilnoza" --household "$hh" --value 350000 --entitlement ENT-2026-0042 \
  --programme "winter support" >/dev/null
say "household $hh, child $child, case $case_id; a visit and an aid delivery"

step "5. At the mahalla office, Jasur's tablet gets the case from Dilnoza's, tablet to tablet"
serve "$work/dilnoza"
sync_with "$work/jasur" "$port"
kill "$serve_pid"
wait "$serve_pid" 2>/dev/null || true

step "6. Apart again, each assigns a different guardian; Jasur also delivers the same aid again"
b case assign-guardian "$case_id" --dir "$work/dilnoza" --guardian "Malika Karimova" --relation grandmother >/dev/null
b case assign-guardian "$case_id" --dir "$work/jasur" --guardian "Bekzod Karimov" --relation uncle >/dev/null
b aid add --dir "$work/jasur" --household "$hh" --value 350000 --entitlement ENT-2026-0042 \
  --programme "winter support" 2>/dev/null >/dev/null
hb=$(b household add --dir "$work/kamola" --address "Yunusobod 19-3")
b visit add --dir "$work/kamola" --household "$hb" --type monitoring --notes "rent arrears, referral made" >/dev/null
say "Dilnoza: guardian = grandmother; Jasur: guardian = uncle; Kamola records her own mahalla"

step "7. Everyone syncs with the hub"
for t in dilnoza jasur kamola dilnoza; do sync_with "$work/$t" "$hub_port"; done

step "8. The conflict is surfaced on every tablet of the mahalla, never silently overwritten"
b conflicts --dir "$work/dilnoza" | sed 's/^/   /'
b show "$case_id" --dir "$work/dilnoza" | sed 's/^/   /'
say "alerts at the hub:"
b alerts --dir "$work/hub" | sed 's/^/     /'

step "9. The supervisor syncs, resolves the conflict with a reason, and syncs back"
sync_with "$work/supervisor" "$hub_port"
b resolve "$case_id" guardian "Malika Karimova (grandmother)" --dir "$work/supervisor" \
  --reason "grandmother has housing and a school nearby; uncle works away" >/dev/null
sync_with "$work/supervisor" "$hub_port"

step "10. The tablets sync again: the resolution reaches them"
for t in dilnoza jasur kamola; do sync_with "$work/$t" "$hub_port"; done
b show "$case_id" --dir "$work/jasur" | sed 's/^/   /'
left=$(b conflicts --dir "$work/jasur" --json | matches '"id":')
say "conflicts left on Jasur's tablet: $left"

step "11. Summary"
printf '   %-11s %8s %9s %13s %13s %14s\n' node records households "m0421 cases" "m0977 visits" "bytes moved"
for d in hub dilnoza jasur kamola supervisor; do
  total=$(b status --dir "$work/$d" --json | sed -n 's/.*"records":{\([^}]*\)}.*/\1/p' |
    tr ',' '\n' | sed 's/.*://' | awk '{s+=$1} END {print s+0}')
  cases=$(count guardianship_case "$work/$d")
  visits_b=$(b list visit --dir "$work/$d" --json | matches "\"scope\":\"$m_b\"")
  printf '   %-11s %8s %9s %13s %13s %14s\n' "$d" "$total" "$(count household "$work/$d")" \
    "$cases" "$visits_b" "${bytes_moved[$d]:-0}"
done
say ""
say "Kamola (m0977) cannot read m0421's case: her certificate does not cover that mahalla, so no"
say "node offers her its changes, and she holds no key for them. The hub reads both mahallas."
b verify --dir "$work/hub" >/dev/null && say "birga verify: the hub's store is consistent"

kill "$hub_pid"
wait "$hub_pid" 2>/dev/null || true
pids=()
say "hub stopped; no birga process left running"
[ "$left" -eq 0 ]
