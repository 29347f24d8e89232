#!/usr/bin/env bash
# A sync over a bad link: two network namespaces joined by a veth pair, with tc netem adding
# 10% loss and 100 ms delay each way; a hub serves in one, a tablet syncs from the other, and
# both end with the same state. Where the kernel has no netem (sch_netem), the namespaces are
# joined instead by two TUN devices and lossy_link.py, which moves packets between them with
# the same loss and delay in user space. Needs root (network namespaces): skipped, with a clear
# message, otherwise. Traffic stays between the two namespaces this test creates (192.0.2.0/24, a
# documentation range); every wait is bounded.
#
# usage: netns_sync_test.sh PATH_TO_BIRGA
set -u
birga=${1:?usage: netns_sync_test.sh PATH_TO_BIRGA}
skip() { echo "SKIPPED: $*"; exit 0; }    # ctest: SKIP_REGULAR_EXPRESSION "SKIPPED:"
fail() { echo "FAILED: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || skip "not root: network namespaces need root"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
command -v tc >/dev/null || skip "tc (iproute2) is not installed"

ns_hub="birga-hub-$$"
ns_tab="birga-tab-$$"
work=$(mktemp -d)
hub_pid=""
hub_rc=""
link_pid=""
stop_hub() {  # SIGTERM, at most 10 s, then SIGKILL; sets hub_rc
  [ -n "$hub_pid" ] || return 0
  kill "$hub_pid" 2>/dev/null
  for _ in $(seq 1 100); do
    kill -0 "$hub_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$hub_pid" 2>/dev/null
  wait "$hub_pid" 2>/dev/null
  hub_rc=$?
  hub_pid=""
}
cleanup() {
  stop_hub
  [ -n "$link_pid" ] && kill "$link_pid" 2>/dev/null && wait "$link_pid" 2>/dev/null
  ip netns del "$ns_hub" 2>/dev/null
  ip netns del "$ns_tab" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns_hub" 2>/dev/null || skip "cannot create network namespaces here"
ip netns add "$ns_tab" || skip "cannot create a second network namespace"
# The link: a veth pair with netem on both ends, or TUN devices and lossy_link.py.
link=""
if ip link add "vh$$" netns "$ns_hub" type veth peer name "vt$$" netns "$ns_tab" 2>/dev/null &&
  ip netns exec "$ns_hub" tc qdisc add dev "vh$$" root netem loss 10% delay 100ms 2>/dev/null &&
  ip netns exec "$ns_tab" tc qdisc add dev "vt$$" root netem loss 10% delay 100ms 2>/dev/null; then
  link="veth + tc netem"
  dev_hub="vh$$"
  dev_tab="vt$$"
else
  ip -n "$ns_hub" link del "vh$$" 2>/dev/null
  command -v python3 >/dev/null || skip "no tc netem in this kernel, and no python3 for the user-space link"
  [ -c /dev/net/tun ] || skip "no tc netem in this kernel, and no /dev/net/tun for the user-space link"
  mkfifo "$work/link.in"
  python3 "$(dirname "$0")/lossy_link.py" "$ns_hub" "$ns_tab" 0.10 0.100 240 \
    <"$work/link.in" >"$work/link.out" 2>&1 &
  link_pid=$!
  exec 9>"$work/link.in"  # keeps the link running until this script ends
  for _ in $(seq 1 50); do
    grep -q ready "$work/link.out" 2>/dev/null && break
    sleep 0.1
  done
  grep -q ready "$work/link.out" || skip "the user-space link did not start: $(cat "$work/link.out")"
  link="TUN + lossy_link.py (the kernel has no sch_netem)"
  dev_hub=tl0
  dev_tab=tl0
fi
{ ip -n "$ns_hub" addr add 192.0.2.1/24 dev "$dev_hub" &&
  ip -n "$ns_tab" addr add 192.0.2.2/24 dev "$dev_tab" &&
  ip -n "$ns_hub" link set "$dev_hub" up &&
  ip -n "$ns_tab" link set "$dev_tab" up &&
  ip -n "$ns_hub" link set lo up &&
  ip -n "$ns_tab" link set lo up; } || fail "cannot configure the link ($link)"
echo "link: $link, 10% loss and 100 ms delay each way"

export BIRGA_PASSPHRASE="netns test passphrase"
export BIRGA_FAST_KDF=1
scope=tashkent/yunusobod/m0421
run() { "$birga" "$@" || fail "birga $*"; }

run authority init --dir "$work/authority" >/dev/null
run init --dir "$work/hub" >/dev/null
run init --dir "$work/tablet" >/dev/null
run enrol --dir "$work/authority" --device "$work/hub" --name hub --role hub \
  --scope tashkent/yunusobod:r+relay >/dev/null
run enrol --dir "$work/authority" --device "$work/tablet" --name tablet --role field \
  --scope "$scope:rw" >/dev/null
run authority export --dir "$work/authority" --out "$work/control.log" >/dev/null
run import "$work/control.log" --dir "$work/hub" >/dev/null
for i in $(seq 1 30); do
  run household add --dir "$work/tablet" --address "Street $i, house $((i * 7))" >/dev/null
done

ip netns exec "$ns_hub" "$birga" serve --dir "$work/hub" --listen 192.0.2.1:7400 \
  >"$work/serve.log" 2>&1 &
hub_pid=$!
for _ in $(seq 1 50); do  # wait for the listener, at most 10 s
  grep -q "listening" "$work/serve.log" 2>/dev/null && break
  sleep 0.2
done
grep -q "listening" "$work/serve.log" || fail "hub did not start: $(cat "$work/serve.log")"

start=$(date +%s)
timeout 120 ip netns exec "$ns_tab" "$birga" sync 192.0.2.1:7400 --dir "$work/tablet" \
  --timeout 30 --json >"$work/sync.json" 2>"$work/sync.err" ||
  fail "sync over the lossy link failed: $(cat "$work/sync.json" "$work/sync.err")"
echo "sync over 10% loss / 100 ms delay took $(($(date +%s) - start)) s: $(cat "$work/sync.json")"
grep -q '"changes_sent":30,' "$work/sync.json" || fail "the tablet did not send its 30 changes"
stop_hub
[ "$hub_rc" -eq 0 ] || fail "the hub exited $hub_rc after SIGTERM: $(cat "$work/serve.log")"

# Both hold the same 30 households (list --json: one line, records in id order).
hub_json=$("$birga" list household --dir "$work/hub" --json) || fail "list at the hub"
tab_json=$("$birga" list household --dir "$work/tablet" --json) || fail "list at the tablet"
hub_count=$(grep -o '"kind":"household"' <<<"$hub_json" | wc -l)
tab_count=$(grep -o '"kind":"household"' <<<"$tab_json" | wc -l)
[ "$hub_count" -eq 30 ] && [ "$tab_count" -eq 30 ] ||
  fail "not converged: hub has $hub_count households, tablet $tab_count"
[ "$hub_json" = "$tab_json" ] || fail "the hub's households differ from the tablet's"
grep -q '"address":"Street 30, house 210"' <<<"$hub_json" || fail "a household's address is wrong"
"$birga" verify --dir "$work/hub" >/dev/null || fail "hub store does not verify"
"$birga" verify --dir "$work/tablet" >/dev/null || fail "tablet store does not verify"
echo "1 passed, 0 failed"
