#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Self-test of the chaos checker: it must pass a consistent crafted run and
find each kind of violation in a crafted bad one.

Usage: test_checker.py CHECKER_PY
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile

S = 1_000_000  # one second in microseconds
G = "chaos-g1"
A, B = "32.1", "64.1"  # the providers of good_run: instances 32 and 64 on node 1


def call(fn, t0, rc=0, sess=1, g="", tok=0, t1=None, **extra):
    r = {"ev": "call", "fn": fn, "g": g, "tok": tok, "rc": rc, "t0": t0,
         "t1": t0 + 1000 if t1 is None else t1, "sess": sess}
    r.update(extra)
    return r


def note(ev, t, tok, proto, cur, chg, old, new, summary=1, phase=1, nphases=1, tl=None, msg=None):
    r = {"ev": ev, "g": G, "tok": tok, "t": t, "proto": proto, "summary": summary, "sess": 1,
         "phase": phase, "nphases": nphases, "cur": cur, "chg": chg, "old": old, "new": new,
         "msg": msg}
    if tl is not None:
        r["tl"] = tl
    return r


def sub(t, tok, typ, state=None, full=None, chg=None):
    r = {"ev": "sub", "g": G, "tok": tok, "t": t, "type": typ, "sess": 1}
    if state is not None:
        r["state"] = state
    if full is not None:
        r["full"] = full
    if chg is not None:
        r["chg"] = chg
    return r


def good_run():
    """Two providers (instances 32 and 64) and a subscriber in one group;
    an n-phase state change approved, one rejected; gsd restarted."""
    driver = [
        {"ev": "run", "t": 0},
        {"ev": "gsd_start", "life": 1, "pid": 10, "t": 0},
        {"ev": "client_spawn", "id": 1, "pid": 11, "seed": 1, "role": "provider",
         "groups": [1], "t": 1000},
        {"ev": "client_spawn", "id": 2, "pid": 12, "seed": 2, "role": "provider",
         "groups": [1], "t": 1000},
        {"ev": "client_spawn", "id": 3, "pid": 13, "seed": 3, "role": "subscriber",
         "groups": [1], "t": 1000},
        {"ev": "gsd_stop", "life": 1, "sig": 9, "t_signal": 10 * S, "t_exit": 10 * S + 5000,
         "status": -9, "t": 10 * S + 5000},
        {"ev": "gsd_start", "life": 2, "pid": 20, "t": 11 * S},
        {"ev": "stopping", "t": 20 * S},
        {"ev": "client_exit", "id": 1, "status": 0, "t": 20 * S},
        {"ev": "client_exit", "id": 2, "status": 0, "t": 20 * S},
        {"ev": "client_exit", "id": 3, "status": 0, "t": 20 * S},
        {"ev": "gsd_stop", "life": 2, "sig": 15, "t_signal": 21 * S, "t_exit": 21 * S,
         "status": 0, "t": 21 * S},
        {"ev": "done", "t": 21 * S},
    ]
    a, b = A, B
    c1 = [
        {"ev": "start", "id": 1, "t": 2000},
        call("init", 10_000),
        call("join", 20_000, g=G, tok=5, inst=32),
        note("approved", 30_000, 5, 1, [a], [a], "", None),
        note("approved", 1 * S, 5, 1, [a, b], [b], "", None),
        call("state", 2 * S, g=G, tok=5, value="s1.1", nph=2, tl=2),
        note("nphase", 2 * S + 2000, 5, 6, [a, b], None, "", "s1.1", summary=0, nphases=2, tl=2),
        call("vote", 2 * S + 3000, g=G, tok=5, vote=1),
        note("approved", 2 * S + 500_000, 5, 6, [a, b], None, "", "s1.1", nphases=2),
        note("nphase", 3 * S, 5, 6, [a, b], None, "s1.1", "s2.2", summary=0, nphases=2, tl=1),
        note("rejected", 3 * S + 900_000, 5, 6, [a, b], None, "s1.1", "s2.2", summary=0x18,
             nphases=2),
        call("dispatch", 10 * S + 10_000, rc=1),
        call("quit", 10 * S + 20_000, why="lost"),
        call("init", 11 * S + 10_000, sess=2),
        call("quit", 20 * S, sess=2, why="end"),
        {"ev": "end", "t": 20 * S},
    ]
    c2 = [
        {"ev": "start", "id": 2, "t": 2000},
        call("init", 10_000),
        call("join", 500_000, g=G, tok=6, inst=64),
        note("approved", 1 * S + 1000, 6, 1, [a, b], [b], "", None),
        note("nphase", 2 * S + 3000, 6, 6, [a, b], None, "", "s1.1", summary=0, nphases=2, tl=2),
        call("vote", 2 * S + 4000, g=G, tok=6, vote=1),
        note("approved", 2 * S + 501_000, 6, 6, [a, b], None, "", "s1.1", nphases=2),
        note("nphase", 3 * S + 1000, 6, 6, [a, b], None, "s1.1", "s2.2", summary=0, nphases=2,
             tl=1),
        note("rejected", 3 * S + 901_000, 6, 6, [a, b], None, "s1.1", "s2.2", summary=0x18,
             nphases=2),
        call("state", 9 * S + 999_000, rc=1, t1=10 * S + 8000, g=G, tok=6, value="s2.9"),
        call("quit", 10 * S + 20_000, why="lost"),
        call("init", 11 * S + 10_000, sess=2),
        call("quit", 20 * S, sess=2, why="end"),
        {"ev": "end", "t": 20 * S},
    ]
    c3 = [
        {"ev": "start", "id": 3, "t": 2000},
        call("init", 10_000),
        call("subscribe", 100_000, g=G, tok=9),
        sub(110_000, 9, 0x9, state="", full=[a]),
        sub(1 * S + 2000, 9, 0xA, full=[a, b], chg=[b]),
        sub(2 * S + 502_000, 9, 0x1, state="s1.1"),
        call("dispatch", 10 * S + 10_000, rc=1),
        sub(10 * S + 10_500, 9, 0x40),
        call("quit", 10 * S + 20_000, why="lost"),
        call("init", 11 * S + 10_000, sess=2),
        call("quit", 20 * S, sess=2, why="end"),
        {"ev": "end", "t": 20 * S},
    ]
    return {"driver": driver, 1: c1, 2: c2, 3: c3}


# ---- across a cluster (tests/cluster/test_cluster_chaos.cpp) ---------------
REAL0 = 1_800_000_000 * S  # the wall clock at monotonic 0
CA, CB = "32.1", "64.2"  # provider 32 on node 1, provider 64 on node 2


def gsd_line(t, text):
    """A gsd log line at monotonic time t (spdlog's local wall-clock format)."""
    when = datetime.datetime.fromtimestamp((REAL0 + t) / S)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")[:23] + f" gsd[100] {text}\n"


UNSYNC = ("warning: this gsd no longer holds the domain's state: {}; ending its GSAPI "
          "sessions and refusing new ones until it has re-synchronised")


def cluster_run():
    """Three nodes: a provider on node 1, one on node 2, a subscriber on node
    3. Both joins and a state change, then node 2 is cut (its provider fails
    at the others; its client is told) and healed, then node 3's gsd is
    SIGKILLed (its subscriber is told) and restarted."""
    a, b = CA, CB
    driver = [
        {"ev": "run", "t": 0, "nodes": 3, "mono_us": 0, "real_us": REAL0},
        {"ev": "gsd_start", "node": 1, "life": 1, "pid": 10, "t": 0},
        {"ev": "gsd_start", "node": 2, "life": 2, "pid": 20, "t": 0},
        {"ev": "gsd_start", "node": 3, "life": 3, "pid": 30, "t": 0},
        {"ev": "client_spawn", "id": 1, "node": 1, "pid": 11, "seed": 1, "role": "provider",
         "groups": [1], "t": 1000},
        {"ev": "client_spawn", "id": 2, "node": 2, "pid": 12, "seed": 2, "role": "provider",
         "groups": [1], "t": 1000},
        {"ev": "client_spawn", "id": 3, "node": 3, "pid": 13, "seed": 3, "role": "subscriber",
         "groups": [1], "t": 1000},
        {"ev": "cut", "node": 2, "t": 10 * S},
        {"ev": "heal", "node": 2, "t": 12 * S},
        {"ev": "synced", "node": 2, "t": 12 * S + 500_000},
        {"ev": "gsd_stop", "node": 3, "life": 3, "sig": 9, "t_signal": 15 * S,
         "t_exit": 15 * S + 5000, "status": -9},
        {"ev": "gsd_start", "node": 3, "life": 4, "pid": 40, "t": 16 * S},
        {"ev": "synced", "node": 3, "t": 16 * S + 500_000},
        {"ev": "stopping"},
        {"ev": "client_exit", "id": 1, "status": 0},
        {"ev": "client_exit", "id": 2, "status": 0},
        {"ev": "client_exit", "id": 3, "status": 0},
        {"ev": "gsd_stop", "node": 1, "life": 1, "sig": 15, "t_signal": 21 * S,
         "t_exit": 21 * S, "status": 0},
        {"ev": "gsd_stop", "node": 2, "life": 2, "sig": 15, "t_signal": 21 * S,
         "t_exit": 21 * S, "status": 0},
        {"ev": "gsd_stop", "node": 3, "life": 4, "sig": 15, "t_signal": 21 * S,
         "t_exit": 21 * S, "status": 0},
        {"ev": "done"},
    ]
    leave = note("approved", 11 * S, 5, 3, [a], [b], "s1.1", None)
    c1 = [
        {"ev": "start", "id": 1, "t": 2000},
        call("init", 10_000),
        call("join", 20_000, g=G, tok=5, inst=32),
        note("approved", 30_000, 5, 1, [a], [a], "", None),
        note("approved", 1 * S, 5, 1, [a, b], [b], "", None),
        call("state", 2 * S, g=G, tok=5, value="s1.1"),
        note("approved", 2 * S + 100_000, 5, 6, [a, b], None, "", "s1.1"),
        leave,
        call("quit", 20 * S, why="end"),
        {"ev": "end", "t": 20 * S},
    ]
    c2 = [
        {"ev": "start", "id": 2, "t": 2000},
        call("init", 10_000),
        call("join", 500_000, g=G, tok=6, inst=64),
        note("approved", 1 * S + 1000, 6, 1, [a, b], [b], "", None),
        note("approved", 2 * S + 101_000, 6, 6, [a, b], None, "", "s1.1"),
        call("dispatch", 10 * S + 800_000, rc=1),
        call("quit", 10 * S + 810_000, why="lost"),
        call("init", 12 * S + 600_000, sess=2),
        call("quit", 20 * S, sess=2, why="end"),
        {"ev": "end", "t": 20 * S},
    ]
    c3 = [
        {"ev": "start", "id": 3, "t": 2000},
        call("init", 10_000),
        call("subscribe", 100_000, g=G, tok=9),
        sub(110_000, 9, 0x9, state="", full=[a]),
        sub(1 * S + 2000, 9, 0xA, full=[a, b], chg=[b]),
        sub(2 * S + 102_000, 9, 0x1, state="s1.1"),
        sub(11 * S + 1000, 9, 0xC, full=[a], chg=[b]),
        call("dispatch", 15 * S + 10_000, rc=1),
        sub(15 * S + 10_500, 9, 0x40),
        call("quit", 15 * S + 20_000, why="lost"),
        call("init", 16 * S + 600_000, sess=2),
        call("quit", 20 * S, sess=2, why="end"),
        {"ev": "end", "t": 20 * S},
    ]
    return {"driver": driver, 1: c1, 2: c2, 3: c3,
            "gsd-n1.log": gsd_line(0, "info: domain: cold start with 3 node(s)"),
            "gsd-n2.log": gsd_line(10 * S + 700_000,
                                   UNSYNC.format("this node's membership lost quorum")),
            "gsd-n3.log": ""}


def cross_node_divergent(run):  # P1: node 2 saw another state change than node 1
    i = find(run[2], lambda r: r["ev"] == "approved" and r["proto"] == 6)
    run[2][i]["new"] = "s9.9"


def cluster_spurious_loss(run):  # P5: NOT_OK at node 1, neither cut nor out of quorum
    i = find(run[1], lambda r: r.get("fn") == "quit")
    run[1][i:i] = [call("dispatch", 18 * S, rc=1), call("quit", 18 * S + 10_000, why="lost")]
    del run[1][i + 2]


def cluster_loss_excused(run):  # the same NOT_OK, after node 1's gsd logged its quorum loss
    cluster_spurious_loss(run)
    run["gsd-n1.log"] += gsd_line(17 * S + 950_000,
                                  UNSYNC.format("this node's membership lost quorum"))


def cut_not_told(run):  # P5: the client of the cut node never got HA_GS_NOT_OK
    i = find(run[2], lambda r: r.get("fn") == "dispatch" and r["rc"] == 1)
    del run[2][i:]
    run[2] += [call("quit", 23 * S, why="random"), {"ev": "end", "t": 23 * S}]


def diverged_replica(run):  # P8: a gsd found its state differed from the domain's
    run["gsd-n3.log"] += gsd_line(17 * S, UNSYNC.format(
        "its state differed from the domain's (it re-syncs)"))


CLUSTER_MUTATIONS = [
    ("P1", cross_node_divergent), ("P5", cluster_spurious_loss), ("P5", cut_not_told),
    ("P8", diverged_replica), (None, cluster_loss_excused),
]


def write(run, d):
    for name, records in run.items():
        if isinstance(name, str) and name.endswith(".log"):
            with open(os.path.join(d, name), "w") as f:
                f.write(records)
            continue
        path = os.path.join(d, "driver.jsonl" if name == "driver" else f"client-{name}.jsonl")
        with open(path, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")


def find(records, pred):
    for i, r in enumerate(records):
        if pred(r):
            return i
    raise AssertionError("crafted record not found")


# ---- one mutation per property --------------------------------------------
def divergent(run):  # P1: client 2 saw another state change after the join
    i = find(run[2], lambda r: r["ev"] == "approved" and r["proto"] == 6)
    run[2][i]["new"] = "s9.9"


def gap(run):  # P1: client 2 missed the approved state change
    i = find(run[2], lambda r: r["ev"] == "approved" and r["proto"] == 6)
    del run[2][i]
    run[2].insert(i, note("approved", 2 * S + 600_000, 6, 7, [A, B], None, "s1.1", None,
                          msg="m2.1"))


def sub_gap(run):  # P1: the subscriber's membership skips a change
    i = find(run[3], lambda r: r["ev"] == "sub" and r["type"] == 0xA)
    run[3][i]["full"] = [B]


def snapshot(run):  # P1: the snapshot disagrees with the sequence
    i = find(run[3], lambda r: r["ev"] == "sub" and r["type"] == 0x9)
    run[3][i]["state"] = "s0.0"


def beyond_control(run):  # P1: a subscriber without DELTA_JOIN got one
    i = find(run[3], lambda r: r.get("fn") == "subscribe")
    run[3][i]["ctl"] = 0x9


def rejected_seen(run):  # P2: the subscriber saw the rejected state
    run[3].insert(find(run[3], lambda r: r.get("fn") == "dispatch"),
                  sub(3 * S + 950_000, 9, 0x1, state="s2.2"))


def slow_protocol(run):  # P3: 2 s time limit, 1 phase, took 5 s
    for c in (1, 2):
        i = find(run[c], lambda r: r["ev"] == "approved" and r["proto"] == 6)
        run[c][i]["t"] += 5 * S


def overlapping_protocol(run):  # P3: a new phase 1 before the outcome
    i = find(run[1], lambda r: r["ev"] == "approved" and r["proto"] == 6)
    del run[1][i]


def slow_call(run):  # P4: a call blocked 13 s
    i = find(run[1], lambda r: r.get("fn") == "join")
    run[1][i]["t1"] = run[1][i]["t0"] + 13 * S


def slow_dispatch(run):  # P4: through the dispatch statistics
    run[1].insert(3, {"ev": "dstat", "n": 10, "max": 12_500_000, "at": 40_000})


def not_told(run):  # P5: client 2 never got HA_GS_NOT_OK
    i = find(run[2], lambda r: r.get("fn") == "state" and r["rc"] == 1)
    run[2][i]["rc"] = 16
    j = find(run[2], lambda r: r.get("fn") == "quit")
    run[2][j]["why"] = "random"
    run[2][j]["t0"] = 23 * S


def no_has_died(run):  # P5: the subscription got no GS_HAS_DIED
    i = find(run[3], lambda r: r["ev"] == "sub" and r["type"] == 0x40)
    del run[3][i]


def spurious_loss(run):  # P5: NOT_OK while gsd ran
    i = find(run[1], lambda r: r.get("fn") == "dispatch" and r["rc"] == 1)
    run[1][i]["t0"] = 5 * S
    run[1][i]["t1"] = 5 * S + 1000


def crashed(run):  # P6: a client exited non-zero without being killed
    i = find(run["driver"], lambda r: r["ev"] == "client_exit" and r["id"] == 2)
    run["driver"][i]["status"] = -6


def after_end(run):  # P7: a notification after unsubscribe
    run[3].insert(find(run[3], lambda r: r.get("fn") == "dispatch"),
                  {"ev": "sub", "g": "?", "tok": 9, "t": 3 * S, "type": 1, "sess": 1,
                   "state": "s1.1"})


MUTATIONS = [
    ("P1", divergent), ("P1", gap), ("P1", sub_gap), ("P1", snapshot), ("P1", beyond_control),
    ("P2", rejected_seen), ("P3", slow_protocol), ("P3", overlapping_protocol),
    ("P4", slow_call), ("P4", slow_dispatch), ("P5", not_told), ("P5", no_has_died),
    ("P5", spurious_loss), ("P6", crashed), ("P7", after_end),
]


def check(checker, run):
    d = tempfile.mkdtemp(prefix="ha_gs-chaos-selftest-")
    try:
        write(run, d)
        p = subprocess.run([sys.executable, checker, d], capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    checker = sys.argv[1]
    failures = 0
    rc, out = check(checker, good_run())
    if rc != 0:
        print(f"FAIL: the consistent run was rejected (exit {rc}):\n{out}")
        failures += 1
    else:
        print("ok: consistent run passes")
    for prop, mutate in MUTATIONS:
        run = good_run()  # a fresh one each time
        mutate(run)
        rc, out = check(checker, run)
        found = [line for line in out.splitlines() if line.startswith(f"VIOLATION {prop}:")]
        if rc != 1 or not found:
            print(f"FAIL: {mutate.__name__}: expected a {prop} violation (exit {rc}):\n{out}")
            failures += 1
        else:
            print(f"ok: {mutate.__name__}: {found[0]}")
    rc, out = check(checker, cluster_run())
    if rc != 0:
        print(f"FAIL: the consistent cluster run was rejected (exit {rc}):\n{out}")
        failures += 1
    else:
        print("ok: consistent cluster run passes")
    for prop, mutate in CLUSTER_MUTATIONS:
        run = cluster_run()
        mutate(run)
        rc, out = check(checker, run)
        if prop is None:  # must still pass
            if rc != 0:
                print(f"FAIL: {mutate.__name__}: expected no violation (exit {rc}):\n{out}")
                failures += 1
            else:
                print(f"ok: {mutate.__name__}: no violation")
            continue
        found = [line for line in out.splitlines() if line.startswith(f"VIOLATION {prop}:")]
        if rc != 1 or not found:
            print(f"FAIL: {mutate.__name__}: expected a {prop} violation (exit {rc}):\n{out}")
            failures += 1
        else:
            print(f"ok: {mutate.__name__}: {found[0]}")
    total = len(MUTATIONS) + len(CLUSTER_MUTATIONS) + 2
    print(f"{total - failures} of {total} cases passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
