#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo-cluster.sh - a three-node Group Services domain on this machine: three
# network namespaces on a bridge, Corosync in each (knet, crypto on), one
# `gsd --cluster` per node, the samples run across the nodes (a subscriber on
# node 3 watches providers on nodes 1 and 2; an n-phase voter on node 3),
# then node 2 is killed (its Corosync and gsd, SIGKILL) and the others show
# the failure leave. Needs root (namespaces); installs what is missing and
# builds like demo.sh. Everything it started is stopped on exit, by pid, and
# the namespaces and files are removed.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD

if [ "$(id -u)" -ne 0 ]; then
    echo "demo-cluster: run as root: it creates network namespaces and runs Corosync" >&2
    exit 1
fi

step=0
heading() {
    step=$((step + 1))
    echo
    echo "==> $step. $*"
}
indent() { sed 's/^/    /'; }
note() { echo "    # $*"; }

# Unique per run: namespaces gsdemo<pid>n1..n3 and ...br, subnet 10.X.Y.0/24.
prefix=gsdemo$$
net=10.$((($$ >> 8) & 255)).$(($$ & 255))
dir=""
pids=()           # every process started here (clients, gsd, corosync)
corosync_pids=()  # their /dev/shm files are removed after they die
namespaces=()
cleanup() {
    local pid ns
    set +e
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null
        kill -CONT "$pid" 2>/dev/null
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null
    done
    for pid in "${corosync_pids[@]}"; do
        rm -f /dev/shm/qb-corosync-"$pid"-* # left behind after SIGKILL
    done
    for ns in "${namespaces[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
    [ -n "$dir" ] && rm -rf "$dir"
}
trap cleanup EXIT

# wait_for FILE TEXT [SECONDS]: wait until FILE contains TEXT.
wait_for() {
    local i limit=$((${3:-10} * 20))
    for ((i = 0; i < limit; i++)); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "demo-cluster: timed out waiting for '$2' in $1" >&2
    [ -e "$1" ] && indent <"$1" >&2
    exit 1
}

# on NODE CMD...: run CMD in node NODE's network namespace.
on() {
    local node=$1
    shift
    ip netns exec "${prefix}n$node" "$@"
}

heading "Install missing packages (scripts/install-deps.sh)"
./scripts/install-deps.sh | indent

heading "Build in build/ (meson + ninja)"
if [ ! -e build/meson-private/coredata.dat ]; then
    meson setup build 2>&1 | tail -n 2 | indent
fi
ninja -C build gsd/gsd samples/subscriber samples/provider samples/voter | tail -n 1 | indent
gsd=$root/build/gsd/gsd
bin=$root/build/samples
dir=$(mktemp -d /tmp/gsdemo-XXXXXX)
chmod 755 "$dir"

heading "Three nodes: network namespaces ${prefix}n1..n3 on a bridge, $net.1-3"
namespaces+=("${prefix}br")
ip netns add "${prefix}br"
ip -n "${prefix}br" link set lo up
ip -n "${prefix}br" link add br0 type bridge
ip -n "${prefix}br" link set br0 up
for k in 1 2 3; do
    namespaces+=("${prefix}n$k")
    ip netns add "${prefix}n$k"
    ip -n "${prefix}n$k" link set lo up
    ip -n "${prefix}n$k" link add eth0 type veth peer name "p$k" netns "${prefix}br"
    ip -n "${prefix}n$k" addr add "$net.$k/24" dev eth0
    ip -n "${prefix}n$k" link set eth0 up
    ip -n "${prefix}br" link set "p$k" master br0
    ip -n "${prefix}br" link set "p$k" up
done
note "node k: namespace ${prefix}nk, address $net.k (Corosync node id k)"

heading "Corosync on each node (knet, aes256 + sha256, token 300 ms)"
corosync-keygen -k "$dir/authkey" >/dev/null 2>&1
for k in 1 2 3; do
    mkdir -p "$dir/n$k"
    {
        printf 'totem {\n version: 2\n cluster_name: gsdemo\n transport: knet\n'
        printf ' token: 300\n token_coefficient: 0\n'
        printf ' crypto_cipher: aes256\n crypto_hash: sha256\n keyfile: %s\n}\n' "$dir/authkey"
        printf 'nodelist {\n'
        for j in 1 2 3; do
            printf ' node {\n  name: node%d\n  nodeid: %d\n  ring0_addr: %s.%d\n }\n' "$j" "$j" "$net" "$j"
        done
        printf '}\nquorum {\n provider: corosync_votequorum\n}\n'
        printf 'logging {\n to_stderr: yes\n to_syslog: no\n timestamp: hires\n}\n'
        printf 'system {\n state_dir: %s\n}\n' "$dir/n$k"
    } >"$dir/n$k/corosync.conf"
    # A private /run per node (Corosync's pid lock); /dev/shm stays shared.
    # (ip netns exec and unshare exec the next program: $! is Corosync.)
    ip netns exec "${prefix}n$k" unshare --mount --propagation private sh -c \
        'mount -t tmpfs -o mode=0755 tmpfs /run && exec corosync -f -c "$1"' \
        sh "$dir/n$k/corosync.conf" >"$dir/n$k/corosync.log" 2>&1 </dev/null &
    pids+=("$!")
    corosync_pids+=("$!")
done
note "node 1's corosync.conf:"
indent <"$dir/n1/corosync.conf" | sed -n '1,9p'
for ((i = 0; i < 300; i++)); do
    quorate=0
    for k in 1 2 3; do
        out=$(on "$k" corosync-quorumtool -s 2>/dev/null || true)
        grep -Eq '^Quorate: +Yes' <<<"$out" && grep -Eq '^Total votes: +3$' <<<"$out" &&
            quorate=$((quorate + 1))
    done
    [ "$quorate" = 3 ] && break
    sleep 0.1
done
[ "$quorate" = 3 ] || {
    echo "demo-cluster: Corosync did not form a quorate ring" >&2
    indent <"$dir/n1/corosync.log" >&2
    exit 1
}
on 1 corosync-quorumtool -s | grep -E '^(Nodes|Quorate|Expected votes|Total votes):' | indent

heading "gsd --cluster on each node, in the node's namespace"
for k in 1 2 3; do
    note "node $k: gsd --cluster --socket ipc://$dir/n$k.sock"
    ip netns exec "${prefix}n$k" "$gsd" --cluster --socket "ipc://$dir/n$k.sock" >"$dir/n$k/gsd.log" 2>&1 </dev/null &
    pids+=("$!")
    eval "gsd$k=$!"
done
# A gsd takes sessions once it holds the domain's state: until then
# ha_gs_init gives HA_GS_CONNECT_FAILED (the subscriber exits 2).
for k in 1 2 3; do
    for ((i = 0; i < 100; i++)); do
        rc=0
        HA_GS_SOCKET=ipc://$dir/n$k.sock "$bin/subscriber" no-such-group >/dev/null 2>&1 || rc=$?
        [ "$rc" != 2 ] && break
        sleep 0.2
    done
    [ "$rc" != 2 ] || {
        echo "demo-cluster: gsd on node $k takes no sessions" >&2
        indent <"$dir/n$k/gsd.log" >&2
        exit 1
    }
done
note "the three gsds form one domain; clients pick their node by HA_GS_SOCKET"

heading "A subscriber on node 3 watches group 'demo'"
HA_GS_SOCKET=ipc://$dir/n3.sock "$bin/subscriber" -w demo >"$dir/subscriber.out" 2>&1 &
subscriber_pid=$!
pids+=("$subscriber_pid")
wait_for "$dir/subscriber.out" "watching group demo"

heading "Provider 1 on node 1 creates the group and stays"
HA_GS_SOCKET=ipc://$dir/n1.sock "$bin/provider" -w demo 1 >"$dir/provider1.out" 2>&1 &
pids+=("$!")
wait_for "$dir/provider1.out" "staying in the group"
wait_for "$dir/subscriber.out" "#1 "

heading "Provider 1 on node 2 joins and stays; a provider on node 3 sets the state twice"
HA_GS_SOCKET=ipc://$dir/n2.sock "$bin/provider" -w demo 1 >"$dir/provider2.out" 2>&1 &
pids+=("$!")
wait_for "$dir/provider2.out" "staying in the group"
HA_GS_SOCKET=ipc://$dir/n3.sock "$bin/provider" demo 5 starting ready 2>&1 | indent
note "providers are INSTANCE@NODE: 1@1, 1@2, 5@3"

heading "Voting across nodes: voter on node 3 rejects 'forbidden'; a provider on node 1 proposes"
HA_GS_SOCKET=ipc://$dir/n3.sock "$bin/voter" --reject-state forbidden votes 1 >"$dir/voter.out" 2>&1 &
voter_pid=$!
pids+=("$voter_pid")
wait_for "$dir/voter.out" "JOIN approved"
HA_GS_SOCKET=ipc://$dir/n1.sock "$bin/provider" -N votes 2 allowed forbidden 2>&1 | indent
kill -TERM "$voter_pid"
wait "$voter_pid" 2>/dev/null || true
note "the voter on node 3 saw:"
indent <"$dir/voter.out"

heading "Kill node 2: its Corosync and its gsd, SIGKILL"
pid2=$gsd2
corosync2=${corosync_pids[1]}
kill -KILL "$corosync2" "$pid2"
# Reaped here, so that bash does not report the two jobs as "Killed".
wait "$corosync2" "$pid2" 2>/dev/null || true
note "node 2 is gone; nodes 1 and 3 keep quorum (2 of 3 votes):"
for ((i = 0; i < 100; i++)); do
    out=$(on 1 corosync-quorumtool -s 2>/dev/null || true)
    grep -Eq '^Total votes: +2$' <<<"$out" && break
    sleep 0.1
done
grep -E '^(Quorate|Total votes):' <<<"$out" | indent
wait_for "$dir/provider1.out" "FAILURE_LEAVE" 10
wait_for "$dir/subscriber.out" "left=[1@2]" 10

heading "What provider 1@1 on node 1 saw"
indent <"$dir/provider1.out"

heading "What the subscriber on node 3 saw"
indent <"$dir/subscriber.out"

heading "Tear down: stop every process started here, remove the namespaces"
echo
echo "Done. A real three-machine setup: docs/cluster.md."
