#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# smoke-test.sh - run one sample in a small scenario against a private gsd
# and check that its output contains the expected lines, in order.
#
# Usage: smoke-test.sh SCENARIO GSD SUBSCRIBER PROVIDER VOTER
#   SCENARIO  subscriber | provider | voter
#   the others are paths of the built programs (meson passes them).
#
# gsd listens on ipc://<temp dir>/gsd.sock; every program finds it through
# HA_GS_SOCKET. On failure the outputs and gsd's log are printed.
set -euo pipefail

if [ $# -ne 5 ]; then
    echo "usage: $0 SCENARIO GSD SUBSCRIBER PROVIDER VOTER" >&2
    exit 2
fi
scenario=$1
gsd=$2
subscriber=$3
provider=$4
voter=$5

smoke_name=$scenario
# shellcheck source=samples/smoke-lib.sh
. "$(dirname "$0")/smoke-lib.sh"

# run NAME PROGRAM ARGS...: run in the foreground (at most 30 s), output to NAME.out.
run() {
    local name=$1 rc=0
    shift
    timeout 30 "$@" >"$dir/$name.out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || fail "$name exited with status $rc"
}

# start NAME PROGRAM ARGS...: run in the background; sets $last_pid.
start() {
    local name=$1
    shift
    "$@" >"$dir/$name.out" 2>&1 &
    last_pid=$!
    pids+=("$last_pid")
}

# shellcheck disable=SC2119 # start_gsd takes gsd options, none needed here
start_gsd

case $scenario in
subscriber)
    # Provider 1 creates the group; the subscriber sees it, then provider 2
    # joins, changes the state twice and leaves; provider 1 leaves last and
    # the group dissolves.
    start p1 "$provider" -w grp 1
    p1=$last_pid
    wait_for "$dir/p1.out" "joined group grp" "$p1"
    start sub "$subscriber" grp
    sub=$last_pid
    wait_for "$dir/sub.out" "#1 " "$sub"
    run p2 "$provider" grp 2 one two
    kill -TERM "$p1"
    wait_exit "$p1" "provider 1"
    wait_exit "$sub" "subscriber"
    expect "$dir/sub.out" \
        "subscriber: watching group grp" \
        "members=[1@1]" \
        "DELTA_JOIN|MEMBERSHIP members=[1@1 2@1] joined=[2@1]" \
        'STATE state="one"' \
        'STATE state="two"' \
        "DELTA_LEAVE|MEMBERSHIP members=[1@1] left=[2@1]" \
        "left=[1@1]" \
        "DISSOLVED" \
        "subscriber: group grp dissolved"
    ;;
provider)
    # Two providers join and change the state at the same time: a proposal
    # made while the other's protocol runs may get HA_GS_COLLIDE and is
    # retried; every change is approved, in order; both leave.
    start p1 "$provider" -w grp 1 a1 a2 a3
    p1=$last_pid
    wait_for "$dir/p1.out" "joining group grp" "$p1"
    start p2 "$provider" grp 2 b1 b2 b3
    p2=$last_pid
    wait_exit "$p2" "provider 2" 20
    wait_for "$dir/p1.out" "staying in the group" "$p1"
    kill -TERM "$p1"
    wait_exit "$p1" "provider 1"
    expect "$dir/p1.out" \
        "provider 1: joining group grp (one-phase)" \
        "provider 1: JOIN approved:" \
        "provider 1: joined group grp" \
        'provider 1: proposed state "a1"' 'state="a1"' \
        'provider 1: proposed state "a2"' 'state="a2"' \
        'provider 1: proposed state "a3"' 'state="a3"' \
        "provider 1: staying in the group" \
        "provider 1: LEAVE approved: members_after=[] leaving=[1@1]" \
        "provider 1: left group grp"
    expect "$dir/p2.out" \
        "provider 2: joined group grp" \
        'provider 2: proposed state "b1"' 'state="b1"' \
        'provider 2: proposed state "b2"' 'state="b2"' \
        'provider 2: proposed state "b3"' 'state="b3"' \
        "provider 2: left group grp"
    expect "$dir/p1.out" "leaving=[2@1]"
    ;;
voter)
    # Voter 1 rejects the state "bad". Voter 2 joins (two phases, since each
    # voter says CONTINUE in phase 1), proposes "bad" (rejected), leaves.
    # An n-phase provider then proposes "good" (approved after two phases).
    start v1 "$voter" --reject-state bad grp 1
    v1=$last_pid
    wait_for "$dir/v1.out" "JOIN approved after 2 phase(s)" "$v1"
    run v2 "$voter" --propose bad -n 2 grp 2
    run p3 "$provider" -N grp 3 good
    kill -TERM "$v1"
    wait_exit "$v1" "voter 1"
    expect "$dir/v1.out" \
        "voter 1: joining group grp (n-phase), rejecting state bad" \
        "voter 1: JOIN phase 1 (vote within 10 s): joining=[1@1] -> CONTINUE" \
        "voter 1: JOIN phase 2 (vote within 10 s): joining=[1@1] -> APPROVE" \
        "voter 1: JOIN approved after 2 phase(s) (EXPLICIT_APPROVE): joining=[1@1]" \
        "voter 1: JOIN phase 1 (vote within 10 s): joining=[2@1] -> CONTINUE" \
        "voter 1: JOIN phase 2 (vote within 10 s): joining=[2@1] -> APPROVE" \
        "voter 1: JOIN approved after 2 phase(s) (EXPLICIT_APPROVE): joining=[2@1]" \
        'voter 1: STATE_VALUE_CHANGE phase 1 (vote within 10 s): state="bad" -> REJECT' \
        'voter 1: STATE_VALUE_CHANGE rejected after 1 phase(s) (EXPLICIT_REJECT): state="bad"' \
        "voter 1: LEAVE approved after 1 phase(s)" \
        "voter 1: JOIN approved after 2 phase(s) (EXPLICIT_APPROVE): joining=[3@1]" \
        'voter 1: STATE_VALUE_CHANGE phase 1 (vote within 10 s): state="good" -> CONTINUE' \
        'voter 1: STATE_VALUE_CHANGE phase 2 (vote within 10 s): state="good" -> APPROVE' \
        'voter 1: STATE_VALUE_CHANGE approved after 2 phase(s) (EXPLICIT_APPROVE): state="good"' \
        "voter 1: LEAVE approved after 1 phase(s)" \
        "voter 1: LEAVE approved after 1 phase(s) (GROUP_DISSOLVED): leaving=[1@1]" \
        "voter 1: left group grp"
    expect "$dir/v2.out" \
        'voter 2: proposed state "bad" (n-phase)' \
        'voter 2: STATE_VALUE_CHANGE phase 1 (vote within 10 s): state="bad" -> CONTINUE' \
        "voter 2: STATE_VALUE_CHANGE rejected after 1 phase(s) (EXPLICIT_REJECT)" \
        "voter 2: left group grp"
    expect "$dir/p3.out" \
        "provider 3: JOIN phase 1: members=[1@1] joining=[3@1] -> vote APPROVE" \
        'provider 3: proposed state "good"' \
        'provider 3: STATE_VALUE_CHANGE phase 2: members=[1@1 3@1] state="good" -> vote APPROVE' \
        'provider 3: STATE_VALUE_CHANGE approved: members_after=[1@1 3@1] state="good"'
    ;;
*)
    echo "unknown scenario $scenario" >&2
    exit 2
    ;;
esac

# gsd exits 0 on SIGTERM.
kill -TERM "$gsd_pid"
wait_exit "$gsd_pid" "gsd"
echo "ok: sample $scenario"
