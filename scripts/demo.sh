#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh - install what is missing, build, and show Group Services at work:
# a private gsd on a temporary endpoint, a subscriber, two providers (one
# changes the group state), then voters in an n-phase group where one value
# is rejected, and what an operator sees of it all with gsctl. Everything
# started here is stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD

step=0
heading() {
    step=$((step + 1))
    echo
    echo "==> $step. $*"
}
indent() { sed 's/^/    /'; }
note() { echo "    # $*"; }

dir=""
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    [ -n "$dir" ] && rm -rf "$dir"
}
trap cleanup EXIT

# wait_for FILE TEXT: wait (at most 10 s) until FILE contains TEXT.
wait_for() {
    local i
    for ((i = 0; i < 200; i++)); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "demo: timed out waiting for '$2' in $1" >&2
    [ -e "$1" ] && indent <"$1" >&2
    exit 1
}

# stop PID: SIGTERM and wait for it.
stop() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

heading "Install missing packages (scripts/install-deps.sh)"
./scripts/install-deps.sh | indent

heading "Build in build/ (meson + ninja)"
if [ ! -e build/meson-private/coredata.dat ]; then
    meson setup build 2>&1 | tail -n 2 | indent
fi
ninja -C build gsd/gsd tools/gsctl/gsctl samples/subscriber samples/provider samples/voter |
    tail -n 1 | indent
gsd=$root/build/gsd/gsd
gsctl=$root/build/tools/gsctl/gsctl
bin=$root/build/samples
for program in "$gsd" "$gsctl" "$bin/subscriber" "$bin/provider" "$bin/voter"; do
    [ -x "$program" ] || {
        echo "demo: $program was not built" >&2
        exit 1
    }
done

dir=$(mktemp -d)
export HA_GS_SOCKET="ipc://$dir/gsd.sock"

heading "Start a private gsd"
note "gsd --socket $HA_GS_SOCKET   (clients find it through HA_GS_SOCKET)"
"$gsd" --socket "$HA_GS_SOCKET" >"$dir/gsd.log" 2>&1 &
gsd_pid=$!
pids+=("$gsd_pid")
for ((i = 0; i < 200; i++)); do
    [ -S "$dir/gsd.sock" ] && break
    sleep 0.05
done
[ -S "$dir/gsd.sock" ] || {
    echo "demo: gsd did not start" >&2
    indent <"$dir/gsd.log" >&2
    exit 1
}
note "gsd is running, pid $gsd_pid"

heading "A subscriber watches group 'demo' (it does not exist yet)"
note "subscriber -w demo"
"$bin/subscriber" -w demo >"$dir/subscriber.out" 2>&1 &
subscriber_pid=$!
pids+=("$subscriber_pid")
wait_for "$dir/subscriber.out" "watching group demo"

heading "Provider 1 creates the group and stays in it"
note "provider -w demo 1"
"$bin/provider" -w demo 1 >"$dir/provider1.out" 2>&1 &
provider1_pid=$!
pids+=("$provider1_pid")
wait_for "$dir/provider1.out" "staying in the group"
wait_for "$dir/subscriber.out" "#1 "

heading "Provider 2 joins, changes the group state three times, leaves"
note "provider demo 2 starting ready serving"
"$bin/provider" demo 2 starting ready serving 2>&1 | indent

heading "Provider 1 leaves on SIGTERM; the group is empty and dissolves"
stop "$provider1_pid"
indent <"$dir/provider1.out"

heading "What the subscriber saw (a provider is INSTANCE@NODE)"
wait "$subscriber_pid" 2>/dev/null || true
indent <"$dir/subscriber.out"

heading "Voting: voter 1 joins n-phase group 'votes' and rejects the state 'forbidden'"
note "subscriber -w votes &   voter --reject-state forbidden votes 1 &"
"$bin/subscriber" -w votes >"$dir/subscriber-votes.out" 2>&1 &
pids+=("$!")
subscriber2_pid=$!
wait_for "$dir/subscriber-votes.out" "watching group votes"
"$bin/voter" --reject-state forbidden votes 1 >"$dir/voter1.out" 2>&1 &
voter1_pid=$!
pids+=("$voter1_pid")
wait_for "$dir/voter1.out" "JOIN approved"
wait_for "$dir/subscriber-votes.out" "#1 "

heading "An n-phase provider proposes 'allowed', then 'forbidden'"
note "provider -N votes 2 allowed forbidden"
"$bin/provider" -N votes 2 allowed forbidden 2>&1 | indent

heading "What an operator sees with gsctl: the groups, then the protocols counted"
note "gsctl groups; gsctl stats"
"$gsctl" groups 2>&1 | indent
"$gsctl" stats 2>&1 | sed -n '/^PROTOCOL/,/^$/p' | indent

heading "Voter 1's view: it voted CONTINUE in phase 1, so approvals took 2 phases"
stop "$voter1_pid"
indent <"$dir/voter1.out"

heading "The subscriber of 'votes' saw only approved changes ('forbidden' never)"
wait "$subscriber2_pid" 2>/dev/null || true
indent <"$dir/subscriber-votes.out"

heading "Stop gsd with SIGTERM"
kill -TERM "$gsd_pid"
rc=0
wait "$gsd_pid" || rc=$?
note "gsd exited with status $rc"

echo
echo "Done. Try it by hand: README.md, section 'Running gsd and the samples by hand'."
