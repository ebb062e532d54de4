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

smoke_name=cluster_monitor
# shellcheck source=samples/smoke-lib.sh
. "$(dirname "$0")/smoke-lib.sh"

start_gsd --node-number 4

"$monitor" -n 2 >"$dir/passive.out" 2>&1 &
passive=$!
pids+=("$passive")
wait_for "$dir/passive.out" "monitoring from node 4" || fail "the passive monitor did not start"

timeout 30 "$monitor" -n 2 -s >"$dir/active.out" 2>&1 || fail "the exercising monitor failed"
wait "$passive" || fail "the passive monitor failed"

for f in passive active; do
    out="$dir/$f.out"
    grep -qF "node 4 " "$out" || fail "$f: no member line"
    demoted=$(grep -n "notification: MASTER_DEMOTED node 4" "$out" | head -1 | cut -d: -f1)
    elected=$(grep -n "notification: MASTER_ELECTED node 4" "$out" | head -1 | cut -d: -f1)
    if [ -z "$demoted" ] || [ -z "$elected" ]; then
        fail "$f: missing notifications"
    fi
    [ "$demoted" -lt "$elected" ] || fail "$f: notifications out of order"
    grep -qF "done after 2 notification(s)" "$out" || fail "$f: did not finish"
done
echo "cluster_monitor: ok"
