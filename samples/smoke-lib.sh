# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2154 # smoke_name and gsd are set by the sourcing script
#
# smoke-lib.sh - helpers shared by the samples' smoke tests (sourced, not run).
# The sourcing script sets `smoke_name` (used in failure messages) first.
#
# Sets `dir` (a temporary directory removed at exit) and `pids` (background
# programs, stopped at exit).

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
    echo "FAIL ($smoke_name): $*" >&2
    for f in "$dir"/*.out "$dir"/gsd.log; do
        [ -e "$f" ] || continue
        echo "----- $(basename "$f") -----" >&2
        cat "$f" >&2
    done
    exit 1
}

# running PID: the process exists and is not a zombie waiting to be reaped.
running() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# wait_for FILE TEXT [PID]: wait (at most 10 s) until FILE contains the fixed
# string TEXT; give up early when the program PID, which writes FILE, is gone.
wait_for() {
    local file=$1 text=$2 pid=${3:-} i
    for ((i = 0; i < 200; i++)); do
        if [ -e "$file" ] && grep -qF -- "$text" "$file"; then
            return 0
        fi
        if [ -n "$pid" ] && ! running "$pid"; then
            grep -qF -- "$text" "$file" 2>/dev/null && return 0
            fail "$(basename "$file" .out) exited before printing '$text'"
        fi
        sleep 0.05
    done
    fail "timed out waiting for '$text' in $(basename "$file")"
}

# expect FILE TEXT...: every TEXT occurs in FILE, each on a later line than the
# previous one.
expect() {
    local file=$1 line=0 text found
    shift
    for text in "$@"; do
        found=$(tail -n +$((line + 1)) "$file" | grep -nF -m1 -- "$text" | cut -d: -f1 || true)
        [ -n "$found" ] || fail "'$text' not found (in order) in $(basename "$file")"
        line=$((line + found))
    done
}

# wait_exit PID NAME [SECONDS]: wait for a background program and check it exited 0.
wait_exit() {
    local pid=$1 name=$2 limit=${3:-10} i rc
    for ((i = 0; i < limit * 20; i++)); do
        running "$pid" || break
        sleep 0.05
    done
    running "$pid" && fail "$name did not exit within $limit s"
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "$name exited with status $rc"
}

# start_gsd ARGS...: start gsd ($gsd) on ipc://$dir/gsd.sock with ARGS, export
# HA_GS_SOCKET for the samples, set gsd_pid; fail unless the socket appears.
start_gsd() {
    local i
    export HA_GS_SOCKET="ipc://$dir/gsd.sock"
    "$gsd" --socket "$HA_GS_SOCKET" "$@" >"$dir/gsd.log" 2>&1 &
    gsd_pid=$!
    pids+=("$gsd_pid")
    for ((i = 0; i < 200; i++)); do
        [ -S "$dir/gsd.sock" ] && return 0
        running "$gsd_pid" || fail "gsd exited at startup"
        sleep 0.05
    done
    fail "gsd did not create $dir/gsd.sock"
}
