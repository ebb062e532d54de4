#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-cpg.sh - run the Corosync CPG probe (bench/cpg/cpg_probe) against a
# single-node corosync on loopback, in a private network and mount namespace
# so it never meets another corosync: the IPC socket names are fixed
# abstract sockets (one namespace each) and the pid lock is
# /var/run/corosync.pid (a private tmpfs on /run). Prints the probe's JSON
# lines; when it cannot run, prints "not_run" lines saying why.
#
#   scripts/bench-cpg.sh PROBE [probe arguments...]
#   scripts/bench-cpg.sh --not-run REASON    # only the "not run" lines
set -euo pipefail

probe_ids=(cpg.join cpg.mcast.receivers=1 cpg.mcast.receivers=10
    cpg.mcast.receivers=100 cpg.kill.member cpg.kill.watchers)

not_run() {
    local id
    for id in "${probe_ids[@]}"; do
        printf '{"id": "%s", "not_run": "%s"}\n' "$id" "$1"
    done
    exit 0
}

if [ "${1:-}" = "--not-run" ]; then
    not_run "${2:?--not-run needs a reason}"
fi

if [ "${1:-}" = "--inside" ]; then
    shift
    workdir=$1
    shift
    # Inside the namespaces: loopback up, private /run and /dev/shm.
    ip link set lo up
    mount -t tmpfs none /run
    mount -t tmpfs none /dev/shm
    corosync -f -c "$workdir/corosync.conf" >"$workdir/corosync.log" 2>&1 &
    corosync_pid=$!
    trap 'kill "$corosync_pid" 2>/dev/null; wait "$corosync_pid" 2>/dev/null || true' EXIT
    for _ in $(seq 100); do
        if corosync-quorumtool -s >/dev/null 2>&1; then
            exec_status=0
            "$@" || exec_status=$?
            exit "$exec_status"
        fi
        if ! kill -0 "$corosync_pid" 2>/dev/null; then
            echo "bench-cpg: corosync exited; its log:" >&2
            cat "$workdir/corosync.log" >&2
            exit 3
        fi
        sleep 0.1
    done
    echo "bench-cpg: corosync not quorate after 10 s" >&2
    exit 3
fi

probe=${1:?usage: bench-cpg.sh PROBE [probe arguments...]}
shift
[ "$(id -u)" -eq 0 ] || not_run "needs root (network namespace)"
[ -x "$probe" ] || not_run "no cpg_probe (libcpg-dev missing at build time)"
command -v corosync >/dev/null || not_run "corosync is not installed"
command -v unshare >/dev/null || not_run "unshare is not installed"

workdir=$(mktemp -d /tmp/ha_gs-cpg.XXXXXX)
trap 'rm -rf "$workdir"' EXIT
# Single node on 127.0.0.1 (docs/performance.md; peers.md section 6.2).
cat >"$workdir/corosync.conf" <<CONF
totem {
    version: 2
    cluster_name: gs-bench
    transport: knet
    crypto_cipher: none
    crypto_hash: none
    token: 1000
}
nodelist {
    node {
        name: bench1
        nodeid: 1
        ring0_addr: 127.0.0.1
    }
}
quorum {
    provider: corosync_votequorum
}
logging {
    to_stderr: yes
    to_syslog: no
    to_logfile: no
}
system {
    state_dir: $workdir
    sched_rr: no
    allow_knet_handle_fallback: yes
}
CONF

status=0
unshare --net --mount --fork "$0" --inside "$workdir" "$probe" "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "bench-cpg: the probe failed (status $status)" >&2
    not_run "probe failed (status $status)"
fi
