#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# cmm-smoke-test.sh - run cluster_monitor against a private gsd: a passive
# monitor and an exercising one (-s) must both print the master change.
#
# Usage: cmm-smoke-test.sh GSD CLUSTER_MONITOR
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 GSD CLUSTER_MONITOR" >&2
    exit 2
fi
gsd=$1
monitor=$2

dir=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT

fail() {
    local f
    echo "FAIL (cluster_monitor): $*" >&2
    for f in "$dir"/*.out "$dir"/gsd.log; do
        [ -e "$f" ] || continue
        echo "----- $(basename "$f") -----" >&2
        cat "$f" >&2
    done
    exit 1
}

wait_for() {
    local i
    for i in $(seq 1 200); do
        grep -qF "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

export HA_GS_SOCKET="ipc://$dir/gsd.sock"
"$gsd" --node-number 4 >"$dir/gsd.log" 2>&1 &
pids+=($!)
for i in $(seq 1 200); do
    [ -S "$dir/gsd.sock" ] && break
    sleep 0.05
done
[ -S "$dir/gsd.sock" ] || fail "gsd did not start"

"$monitor" -n 2 >"$dir/passive.out" 2>&1 &
passive=$!
pids+=($passive)
wait_for "$dir/passive.out" "monitoring from node 4" || fail "the passive monitor did not start"

timeout 30 "$monitor" -n 2 -s >"$dir/active.out" 2>&1 || fail "the exercising monitor failed"
wait "$passive" || fail "the passive monitor failed"

for f in passive active; do
    out="$dir/$f.out"
    grep -qF "node 4 " "$out" || fail "$f: no member line"
    demoted=$(grep -n "notification: MASTER_DEMOTED node 4" "$out" | head -1 | cut -d: -f1)
    elected=$(grep -n "notification: MASTER_ELECTED node 4" "$out" | head -1 | cut -d: -f1)
    [ -n "$demoted" ] && [ -n "$elected" ] || fail "$f: missing notifications"
    [ "$demoted" -lt "$elected" ] || fail "$f: notifications out of order"
    grep -qF "done after 2 notification(s)" "$out" || fail "$f: did not finish"
done
echo "cluster_monitor: ok"
