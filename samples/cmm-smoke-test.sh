#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# cmm-smoke-test.sh - run the CMM samples against a private gsd: a passive
# cluster_monitor and an exercising one (-s) must both print the master
# change; cmm_check must print the one-node line, the same before and after,
# and fail clearly without gsd.
#
# Usage: cmm-smoke-test.sh GSD CLUSTER_MONITOR CMM_CHECK
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 GSD CLUSTER_MONITOR CMM_CHECK" >&2
    exit 2
fi
gsd=$1
monitor=$2
check=$3

smoke_name=cluster_monitor
# shellcheck source=samples/smoke-lib.sh
. "$(dirname "$0")/smoke-lib.sh"

# Without gsd: a clear message and status 1.
rc=0
HA_GS_SOCKET="ipc://$dir/none.sock" "$check" >"$dir/nogsd.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "cmm_check without gsd: status $rc, not 1"
grep -qF "cmm_check: cmm_connect: " "$dir/nogsd.out" || fail "cmm_check without gsd: no message"

start_gsd --node-number 4

# One node: master, no vice-master; -t sets the timeout.
one_node='^nodes=1 master=4 vicemaster=none members=4 names=[^ ,]+$'
"$check" >"$dir/check-before.out" 2>&1 || fail "cmm_check failed"
grep -qE "$one_node" "$dir/check-before.out" || fail "cmm_check: unexpected line"
[ "$(wc -l <"$dir/check-before.out")" -eq 1 ] || fail "cmm_check: more than one line"
"$check" -t 2 >"$dir/check-timeout.out" 2>&1 || fail "cmm_check -t 2 failed"
cmp -s "$dir/check-before.out" "$dir/check-timeout.out" || fail "cmm_check -t 2: another line"
rc=0
"$check" extra >"$dir/check-usage.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "cmm_check with an operand: status $rc, not 2"

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
# The master came back: the same line as before.
"$check" >"$dir/check-after.out" 2>&1 || fail "cmm_check failed after the monitors"
cmp -s "$dir/check-before.out" "$dir/check-after.out" || fail "cmm_check: the line changed"
echo "cluster_monitor, cmm_check: ok"
