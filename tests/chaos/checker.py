#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Chaos test checker: proves properties over the logs of one chaos run.

Usage: checker.py RUN_DIR     (driver.jsonl and client-<id>.jsonl inside)

Exit status 0 when no property is violated, 1 otherwise (each violation is
printed), 2 when the logs cannot be read. docs/testing.md explains the test.

Terms
-----
Times are CLOCK_MONOTONIC microseconds from every process.
* gsd lifetime L: from the driver's gsd_start to its gsd_stop (or an
  unexpected gsd_died). The driver starts a gsd only after the previous one
  has exited, so lifetimes do not overlap.
* session: a client's successful ha_gs_init until its ha_gs_quit, its
  connection loss (a call or dispatch returning HA_GS_NOT_OK) or its death.
  A session belongs to the lifetime L with the latest start <= the end time
  of that ha_gs_init call (the gsd that answered was running then, and any
  earlier one had exited before L started).
* window: what one observer saw of one group in one session. For a provider
  token: its approved notifications, from the approval of its own join to
  its end (its final approved leave/expel, goodbye, death, quit or lost
  connection). For a subscriber token: its subscription notifications after
  the first one (the snapshot), to its end (dissolved, unsubscribe, death,
  quit, GS_HAS_DIED).
* change: one approved protocol, identified by the content of its approved
  notification (type, summary, phases, current and changing providers, old
  and proposed state, message, leave info, expel flag). The clients make every
  proposal unique (nonces, unique instance number per join), so two different
  protocols of one group never look alike.
* subscriber item: what a subscriber with control flags C sees of a change:
  (type flags, changing providers, full membership, state, and with
  MEMBERSHIP the membership before), derived from a provider's approved
  notification as the engine's table says (joins -> DELTA_JOIN and/or
  MEMBERSHIP, removals -> DELTA_LEAVE and/or MEMBERSHIP, STATE when a state
  was proposed, each as far as C asks; nothing when none applies), plus a
  DISSOLVED item after a change whose summary has GROUP_DISSOLVED.

Properties (per group and gsd lifetime unless said otherwise)
------------------------------------------------------------
P1 same sequence: there is one sequence of changes of which every provider
   window is a contiguous run, and for each subscription control C one
   sequence of subscriber items of which every window of a subscriber with C
   and every provider window (mapped to what C shows) is a contiguous run. Checked by overlaying the windows: the "next" and
   "previous" relations they define must be functions (no item followed or
   preceded by two different items in two windows), with no cycle and no item
   twice in one window. Each window is also gap-free: in a provider window
   every change starts from the membership and state the previous one left
   (its current providers, the membership in force after it, are the
   previous change's with its joiners appended or leavers removed; its old
   state is the previous change's new one); in a subscriber window every delta applies
   to the membership the previous notification gave, starting from the
   snapshot, and no notification has a flag the subscriber did not ask for;
   and a snapshot equals the membership (when C follows it) and state (when
   C asks for it) the group had just before the subscriber's first item.
P2 no rejected change seen: no subscriber notification (snapshot included)
   carries a state value proposed only by rejected protocols, or a provider
   whose join was rejected.
P3 protocol time: every n-phase protocol, from the phase-1 notification to the
   approved/rejected one at each provider, took at most the sum over its
   phases of the phase's time limit (for phases without a limit, the
   HA_GS_TIME_LIMIT_CEILING, VOTE_BOUND_S: the chaos clients always vote
   within 0.3 s of such a notification) plus SLACK_S + PHASE_SLACK_S per
   phase; and no provider saw a protocol start before the previous one ended.
P4 call time: no call (nor any non-blocking dispatch) took longer than
   HA_GS_REQUEST_TIMEOUT_MS + SLACK_S.
P5 told: after every gsd restart, every session of the ended lifetime that
   was still open, in a client alive REQUEST_TIMEOUT + SLACK_S after gsd
   exited and that did not call ha_gs_quit itself before that, got
   HA_GS_NOT_OK by then, and every subscription it held got
   HA_GS_SUBSCRIPTION_GS_HAS_DIED. And no call returned HA_GS_NOT_OK while
   its gsd was still running (no spurious loss).
P7 nothing after the end: no callback names a token the client does not
   hold: never got, or ended (goodbye or unsubscribe returned HA_GS_OK, or a
   final notification: its leave or expel approved, its join rejected,
   DISSOLVED, GS_HAS_DIED, a delayed error).
P6 clean exits: every client not killed by the driver exited 0 (sanitizer
   reports make it non-zero; a client stopped before it logged its start
   line may die of the driver's SIGTERM), and gsd never died by itself and
   exited 0 on SIGTERM.
P8 (across a cluster) no replica diverged: no gsd log says its state differed
   from the domain's (the digest comparison).

Across a cluster (driver.jsonl from tests/cluster/test_cluster_chaos.cpp:
its gsd_start events name a node, client_spawn events the node whose gsd the
client talks to, and cut/heal events a node whose link was cut and healed)
the group histories are the domain's, not one gsd's: the driver disturbs one
node at a time, so a quorate majority always carries the groups, and every
window of every node is overlaid in one "domain" period per group (P1, P2:
every provider and subscriber on every node saw the same sequence). A
session belongs to the gsd lifetime of its own node. P5 then also covers a
cut: every session of the cut node open at the cut (or opened after it,
before Corosync noticed) was told (HA_GS_NOT_OK, GS_HAS_DIED) within
REQUEST_TIMEOUT + SLACK_S of the cut; the same for a loss of the domain's
state its gsd logged ("no longer holds the domain's state": Corosync may
re-form its ring after a heal and leave a node alone for a moment; the run
event's clock pair maps the log's wall-clock times to CLOCK_MONOTONIC). And
HA_GS_NOT_OK is spurious unless its node's gsd had been signalled, its node
cut or its gsd had logged that loss during the session. A session ended by
quorum loss or gsd death just stops early: its windows end there. When no
quorate side holds the state for a moment (every gsd lost quorum), the next
cold start ("domain: cold start with" in the gsd logs) begins a new domain
period, with new groups: windows are overlaid per group and period.

The slack is generous because the machine running the test is shared: the
bounds prove that nothing waits for a timer it should not, not how fast
things are.
"""
import collections
import datetime
import glob
import json
import os
import sys

REQUEST_TIMEOUT_MS = 10000  # HA_GS_REQUEST_TIMEOUT_MS in ha_gs.h
TIME_LIMIT_CEILING = 3600  # HA_GS_TIME_LIMIT_CEILING
SLACK_S = 2.0
PHASE_SLACK_S = 0.5
VOTE_BOUND_S = 1.0
CALL_BOUND_US = REQUEST_TIMEOUT_MS * 1000 + int(SLACK_S * 1e6)
# A gsd log's wall-clock time mapped to CLOCK_MONOTONIC: this much either way.
CLOCK_MAP_SLACK_US = 200000
S_US = 1000000
UNSYNC_MARK = "no longer holds the domain's state: "
COLD_START_MARK = "domain: cold start with "

HA_GS_OK = 0
HA_GS_NOT_OK = 1
JOIN, LEAVE, FAILURE_LEAVE, EXPEL, CAST_OUT = 1, 2, 3, 4, 5
REMOVALS = (LEAVE, FAILURE_LEAVE, EXPEL, CAST_OUT)
SUB_STATE, SUB_DJ, SUB_DL, SUB_MEM = 0x1, 0x2, 0x4, 0x8
SUB_DISSOLVED, SUB_HAS_DIED = 0x20, 0x40
ALL_FLAGS = SUB_STATE | SUB_DJ | SUB_DL | SUB_MEM
GROUP_DISSOLVED = 0x800


class Checker:
    def __init__(self, run_dir):
        self.dir = run_dir
        self.violations = []
        self.stats = collections.Counter()

    def violate(self, prop, text):
        self.violations.append(f"{prop}: {text}")

    # ---- reading ----------------------------------------------------------
    def read(self):
        self.driver = [json.loads(x) for x in open(os.path.join(self.dir, "driver.jsonl"))]
        self.lifetimes = {}  # L -> dict(start, signal, exit, restart, node)
        self.cluster = any(e["ev"] == "gsd_start" and "node" in e for e in self.driver)
        self.cuts = collections.defaultdict(list)  # node -> [[t_cut, t_heal or None]]
        self.stopping_at = None
        self.spawn, self.kill, self.exit = {}, {}, {}
        stopping = False
        for e in self.driver:
            ev = e["ev"]
            if ev == "gsd_start":
                self.lifetimes[e["life"]] = {"start": e["t"], "signal": None, "exit": None,
                                             "restart": False, "node": e.get("node")}
            elif ev == "gsd_stop":
                lt = self.lifetimes[e["life"]]
                lt.update(signal=e["t_signal"], exit=e["t_exit"], restart=not stopping)
                if not stopping:
                    self.stats["gsd SIGKILLs" if e["sig"] == 9 else "gsd SIGTERMs"] += 1
                if e["sig"] == 15 and e["status"] != 0:
                    self.violate("P6", f"gsd lifetime {e['life']} exited {e['status']} "
                                       "on SIGTERM")
            elif ev == "gsd_died":
                lt = self.lifetimes[e["life"]]
                lt.update(signal=e["t"], exit=e["t"], restart=True)
                self.violate("P6", f"gsd lifetime {e['life']} died by itself "
                                   f"(status {e['status']})")
            elif ev == "gsd_hung":
                self.violate("P6", f"gsd lifetime {e['life']} did not exit on its signal")
            elif ev == "client_spawn":
                self.spawn[e["id"]] = e
            elif ev == "client_kill":
                self.kill[e["id"]] = e["t"]
            elif ev == "client_exit":
                self.exit[e["id"]] = e
            elif ev == "client_hung":
                self.violate("P6", f"client {e['id']} did not exit on SIGTERM")
            elif ev == "stopping":
                stopping = True
                self.stopping_at = e.get("t")
            elif ev == "cut":
                self.cuts[e["node"]].append([e["t"], None])
                self.stats["partitions"] += 1
            elif ev == "heal":
                self.cuts[e["node"]][-1][1] = e["t"]
            elif ev == "synced":
                self.stats["resyncs"] += 1
            elif ev == "run":
                self.stats["nodes"] = e.get("nodes", 1)
        self.stats["restarts"] = sum(1 for lt in self.lifetimes.values() if lt["restart"])
        self.stats["kills"] = len(self.kill)
        self.stats["clients"] = len(self.spawn)
        started = set()
        for path in glob.glob(os.path.join(self.dir, "client-*.jsonl")):
            with open(path) as f:
                if '"ev":"start"' in f.readline():
                    started.add(int(os.path.basename(path)[len("client-"):-len(".jsonl")]))
        for cid, e in self.exit.items():
            # SIGTERM before its handler was set (no "start" line yet) is the
            # driver stopping a client that had only just been started.
            if e["status"] == -15 and cid not in started:
                continue
            if cid not in self.kill and e["status"] != 0:
                self.violate("P6", f"client {cid} exited with status {e['status']} "
                                   f"(see client-{cid}.err)")

        self.unsyncs = collections.defaultdict(list)  # node -> [t]
        self.cold_starts = []
        if self.cluster:
            self.read_unsyncs()

        self.logs = {}
        for path in glob.glob(os.path.join(self.dir, "client-*.jsonl")):
            cid = int(os.path.basename(path)[len("client-"):-len(".jsonl")])
            records = []
            for line in open(path):
                line = line.strip()
                if line:
                    records.append(json.loads(line))
            self.logs[cid] = records

    def read_unsyncs(self):
        """When each node's gsd stopped holding the domain's state, from its
        log (gsd-n<k>.log; wall-clock times, mapped with the run event's
        clock pair): quorum losses the driver did not make (Corosync may
        re-form its ring after a heal) end sessions as legitimately as its
        cuts. A replica that diverged is a violation (P8)."""
        run = next(e for e in self.driver if e["ev"] == "run")
        offset = run["real_us"] - run["mono_us"]
        cold = []
        for path in sorted(glob.glob(os.path.join(self.dir, "gsd-n*.log"))):
            node = int(os.path.basename(path)[len("gsd-n"):-len(".log")])
            for line in open(path, errors="replace"):
                if UNSYNC_MARK not in line and COLD_START_MARK not in line:
                    continue
                when = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f")
                t = int(when.timestamp() * 1e6) - offset
                if COLD_START_MARK in line:
                    cold.append(t)
                    continue
                why = line.split(UNSYNC_MARK, 1)[1].split(";")[0]
                self.unsyncs[node].append(t)
                if "differed" in why or "diverged" in why:
                    self.violate("P8", f"node {node}'s gsd found its state diverged from the "
                                       f"domain's at t={t}: {why}")
                if self.stopping_at is not None and t >= self.stopping_at:
                    continue  # the driver stopping the gsds one by one
                self.stats["quorum losses"] += 1
                planned = any(tc - CLOCK_MAP_SLACK_US <= t and
                              (th is None or t <= th + CLOCK_MAP_SLACK_US)
                              for tc, th in self.cuts.get(node, []))
                if not planned:
                    self.stats["unplanned losses"] += 1
        # The nodes of one cold start log it within moments of each other.
        self.cold_starts = []
        for t in sorted(cold):
            if not self.cold_starts or t - self.cold_starts[-1] > 2 * S_US:
                self.cold_starts.append(t)
        self.stats["cold starts"] = len(self.cold_starts)

    def lifetime_of(self, t, node=None):
        best = None
        for life, lt in self.lifetimes.items():
            if lt["start"] <= t and lt["node"] == node and \
                    (best is None or lt["start"] > self.lifetimes[best]["start"]):
                best = life
        return best

    # ---- sessions and windows ----------------------------------------------
    def build(self):
        """Splits each client log into sessions and windows."""
        self.sessions = []  # dicts
        # (life, group) -> lists
        self.pwin = collections.defaultdict(list)  # provider windows: (owner, [entries])
        self.swin = collections.defaultdict(list)  # subscriber windows: (owner, snap, [items])
        self.rejected_states = collections.defaultdict(set)
        self.rejected_joiners = collections.defaultdict(set)
        self.change_keys = collections.defaultdict(set)
        self.rejected_keys = collections.defaultdict(set)
        for cid, records in sorted(self.logs.items()):
            sess = None
            for r in records:
                ev = r["ev"]
                if ev == "call" and r["fn"] == "init":
                    self.check_call(cid, r)
                    if r["rc"] == HA_GS_OK:
                        sess = self.new_session(cid, r)
                    continue
                if ev == "dstat":
                    self.stats["calls"] += r["n"]
                    if r["max"] > CALL_BOUND_US:
                        self.violate("P4", f"client {cid}: ha_gs_dispatch took "
                                           f"{r['max'] / 1e6:.3f} s at t={r['at']}")
                    continue
                if ev == "call":
                    self.check_call(cid, r)
                if sess is None or r.get("sess") != sess["n"]:
                    continue
                self.session_record(sess, r)
        for s in self.sessions:
            self.close_session(s)

    def check_call(self, cid, r):
        self.stats["calls"] += 1 if r["fn"] != "dispatch" else 0
        if r["t1"] - r["t0"] > CALL_BOUND_US:
            self.violate("P4", f"client {cid}: {r['fn']} took {(r['t1'] - r['t0']) / 1e6:.3f} s "
                               f"(t0={r['t0']})")

    def new_session(self, cid, init):
        node = self.spawn.get(cid, {}).get("node")
        life = self.lifetime_of(init["t1"], node)
        # A cluster's groups live in the domain, through every gsd lifetime,
        # until every gsd lost them (no quorate side) and the next cold start
        # begins anew.
        epoch = life
        if self.cluster:
            epoch = sum(1 for t in self.cold_starts if t <= init["t1"] + CLOCK_MAP_SLACK_US)
        s = {"cid": cid, "n": init["sess"], "life": life, "start": init["t1"], "node": node,
             "epoch": epoch,
             "end": None, "end_why": None, "lost_at": None,
             "ptok": {}, "stok": {}, "pstream": collections.defaultdict(list),
             "sstream": collections.defaultdict(list), "has_died": set(), "sub_end": {}, "sctl": {}}
        self.sessions.append(s)
        return s

    def session_record(self, s, r):
        ev = r["ev"]
        if ev in ("nphase", "approved", "rejected", "announce", "sub", "delayed") \
                and r["g"] == "?":
            self.violate("P7", f"client {s['cid']} session {s['n']}: {ev} notification for "
                               f"token {r['tok']}, which it does not hold (t={r['t']})")
        if ev == "call":
            fn, rc = r["fn"], r["rc"]
            if rc == HA_GS_NOT_OK and s["lost_at"] is None:
                s["lost_at"] = r["t1"]
                lt = self.lifetimes.get(s["life"])
                if lt and (lt["signal"] is None or r["t1"] < lt["signal"]) \
                        and not self.cut_during(s, r["t1"]) \
                        and not self.unsynced_during(s, r["t1"]):
                    self.violate("P5", f"client {s['cid']} session {s['n']}: {fn} returned "
                                       f"HA_GS_NOT_OK at t={r['t1']} while gsd lifetime "
                                       f"{s['life']} was running"
                                       + (f" and node {s['node']} was not cut"
                                          if self.cluster else ""))
            if fn == "join" and rc == HA_GS_OK:
                s["ptok"][r["tok"]] = (r["g"], r["inst"])
            elif fn == "subscribe" and rc == HA_GS_OK:
                s["stok"][r["tok"]] = r["g"]
                s["sctl"][r["tok"]] = r.get("ctl", ALL_FLAGS)
            elif fn == "unsubscribe" and rc == HA_GS_OK:
                s["sub_end"].setdefault(r["tok"], "unsubscribed")
            elif fn == "quit":
                s["end"] = r["t0"]
                s["end_why"] = r["why"]
        elif ev in ("nphase", "approved", "rejected"):
            self.stats["notifications"] += 1
            s["pstream"][r["tok"]].append(r)
        elif ev == "sub":
            self.stats["notifications"] += 1
            if r["type"] & SUB_HAS_DIED:
                s["has_died"].add(r["tok"])
                s["sub_end"].setdefault(r["tok"], "gs_has_died")
            else:
                s["sstream"][r["tok"]].append(r)
                if r["type"] & SUB_DISSOLVED:
                    s["sub_end"].setdefault(r["tok"], "dissolved")
        elif ev == "delayed":
            self.stats["notifications"] += 1
            s["sub_end"].setdefault(r["tok"], "delayed_error")

    def cut_during(self, s, t):
        """Whether the session's node was cut off at some time before t while
        the session was open (or before it opened, not yet healed)."""
        return any(tc <= t and (th is None or th > s["start"])
                   for tc, th in self.cuts.get(s["node"], []))

    def unsynced_during(self, s, t):
        """Whether the session's gsd stopped holding the domain's state while
        the session was open, before t (its log says so)."""
        return any(s["start"] - CLOCK_MAP_SLACK_US <= tu <= t + CLOCK_MAP_SLACK_US
                   for tu in self.unsyncs.get(s["node"], []))

    def minority_from(self, s):
        """The time the session's node was cut off while the session was
        open, or None. From then until Corosync tells it that the others are
        gone (token + consensus later), the node may still approve what it
        alone ordered: CPG's agreed order is not safe order, and a message
        it sent as its link went down can be delivered to it and never to
        the others (docs/cluster.md, "Quorum"). The domain's history is the
        majority's; what the cut-off node approved from the cut on is not
        compared with it (its session ends with the quorum loss, P5)."""
        if s.get("node") is None:
            return None
        for tc, _ in self.cuts.get(s["node"], []):
            if tc >= s["start"]:
                return tc
        return None

    def close_session(self, s):
        life = s["epoch"]
        cut = self.minority_from(s)
        if cut is not None:
            for tok in s["pstream"]:
                s["pstream"][tok] = [r for r in s["pstream"][tok]
                                     if r["ev"] not in ("approved", "rejected")
                                     or r["t"] < cut]
            for tok in s["sstream"]:
                stream = s["sstream"][tok]
                if stream:
                    s["sstream"][tok] = stream[:1] + [r for r in stream[1:] if r["t"] < cut]
        for tok, stream in s["pstream"].items():
            group = s["ptok"].get(tok, ("?", -1))[0]
            owner = f"client {s['cid']} session {s['n']} provider token {tok}"
            self.check_protocol_times(owner, stream)
            window = []
            for r in stream:
                if r["ev"] == "approved":
                    window.append(r)
                    self.change_keys[(life, group)].add(change_key(r))
                elif r["ev"] == "rejected":
                    self.rejected_keys[(life, group)].add(change_key(r))
                    if r.get("new") is not None:
                        self.rejected_states[(life, group)].add(r["new"])
                    if r["proto"] == JOIN:
                        self.rejected_joiners[(life, group)].update(r.get("chg") or [])
            if window:
                self.pwin[(life, group)].append((owner, window))
        for tok, stream in s["sstream"].items():
            group = s["stok"].get(tok, "?")
            owner = f"client {s['cid']} session {s['n']} subscriber token {tok}"
            if stream:
                ctl = s["sctl"].get(tok, ALL_FLAGS)
                self.swin[(life, group)].append((owner, ctl, stream[0], stream[1:]))
        self.check_told(s)

    # ---- P3 -----------------------------------------------------------------
    def check_protocol_times(self, owner, stream):
        start, limits = None, []
        for r in stream:
            if r["ev"] == "nphase":
                if r["phase"] == 1:
                    if start is not None:
                        self.violate("P3", f"{owner}: a protocol started at t={r['t']} before "
                                           f"the one started at t={start} ended")
                    start, limits = r["t"], []
                limits.append(r["tl"])
            elif start is not None:
                bound = sum(tl if 0 < tl < TIME_LIMIT_CEILING else VOTE_BOUND_S
                            for tl in limits)
                bound += SLACK_S + PHASE_SLACK_S * len(limits)
                took = (r["t"] - start) / 1e6
                self.stats["protocols_timed"] += 1
                if took > bound:
                    self.violate("P3", f"{owner}: protocol {r['proto']} with time limits "
                                       f"{limits} took {took:.3f} s > {bound:.1f} s "
                                       f"(ended t={r['t']})")
                start = None

    # ---- P5 -----------------------------------------------------------------
    def check_told(self, s):
        """The first thing that had to end the session: its gsd's restart, or
        (across a cluster) a cut of its node."""
        ends = []
        lt = self.lifetimes.get(s["life"])
        if lt and lt["restart"]:
            ends.append((lt["signal"], lt["exit"] + CALL_BOUND_US,
                         f"gsd's exit at t={lt['exit']}"))
        for tc, th in self.cuts.get(s["node"], []):
            if th is None or th > s["start"]:
                ref = max(tc, s["start"])
                ends.append((ref, ref + CALL_BOUND_US, f"the cut of node {s['node']} at t={tc}"))
        for tu in self.unsyncs.get(s["node"], []):
            if tu >= s["start"]:
                ends.append((tu, tu + CALL_BOUND_US,
                             f"node {s['node']}'s loss of the domain's state at t={tu}"))
        if not ends:
            return
        gone, deadline, what = min(ends)
        if s["end"] is not None and s["end"] < gone and s["end_why"] != "lost":
            return  # quit before gsd went away
        killed = self.kill.get(s["cid"])
        if killed is not None and killed < deadline:
            return  # died before it had to know
        if (s["end_why"] not in (None, "lost") and s["end"] < deadline
                and (s["lost_at"] is None or s["end"] < s["lost_at"])):
            self.stats["sessions_quit_before_told"] += 1
            return  # called ha_gs_quit itself before it had to know
        self.stats["sessions_told_checked"] += 1
        if s["lost_at"] is None or s["lost_at"] > deadline:
            self.violate("P5", f"client {s['cid']} session {s['n']} (gsd lifetime {s['life']}) "
                               f"was not told of {what} (HA_GS_NOT_OK at {s['lost_at']})")
            return
        if s["end_why"] == "end":
            # Told, and stopped by the driver's SIGTERM before its next
            # dispatch could deliver GS_HAS_DIED (chaos_client quits at once).
            self.stats["sessions_told_then_stopped"] += 1
            return
        for tok, group in s["stok"].items():
            end = s["sub_end"].get(tok)
            if end in ("unsubscribed", "dissolved", "delayed_error"):
                continue
            if tok not in s["has_died"]:
                self.violate("P5", f"client {s['cid']} session {s['n']}: subscription {tok} to "
                                   f"{group} got no HA_GS_SUBSCRIPTION_GS_HAS_DIED")

    # ---- P1, P2 -------------------------------------------------------------
    def check_groups(self):
        keys = set(self.pwin) | set(self.swin)
        for life, group in sorted(keys):
            where = f"{group} in domain period {life}" if self.cluster \
                else f"{group} in gsd lifetime {life}"
            full = []
            for owner, window in self.pwin[(life, group)]:
                self.check_provider_chain(where, owner, window)
                full.append((owner, [change_key(r) for r in window]))
            self.overlay(where, "changes", full)
            # Subscribers see what their control flags ask for: one overlay per
            # control, of its subscribers and of every provider window mapped
            # to what such a subscriber sees.
            by_ctl = collections.defaultdict(list)
            for owner, ctl, snap, stream in self.swin[(life, group)]:
                by_ctl[ctl].append((owner, snap, stream))
            for ctl, subs in sorted(by_ctl.items()):
                items, before = [], {}
                for owner, window in self.pwin[(life, group)]:
                    items.append((owner, provider_items(window, ctl, before)))
                for owner, snap, stream in subs:
                    self.check_subscriber_chain(where, owner, ctl, snap, stream)
                    items.append((owner, subscriber_items(stream, snap)))
                _, prv = self.overlay(where, "subscriber items", items)
                for owner, snap, stream in subs:
                    self.check_snapshot(where, owner, ctl, snap, stream, prv, before)
                    self.check_not_rejected(where, owner, [snap] + stream,
                                            self.rejected_states[(life, group)],
                                            self.rejected_joiners[(life, group)])
            self.stats["approved"] += len(self.change_keys[(life, group)])
            self.stats["rejected"] += len(self.rejected_keys[(life, group)])

    def overlay(self, where, what, windows):
        nxt, prv, seen_in = {}, {}, {}
        for owner, seq in windows:
            if len(set(seq)) != len(seq):
                self.violate("P1", f"{where}: {owner} saw a {what[:-1]} twice")
            for a, b in zip(seq, seq[1:]):
                if nxt.setdefault(a, b) != b:
                    self.violate("P1", f"{where}: {what} diverge: {owner} saw {short(a)} "
                                       f"followed by {short(b)}, {seen_in[a]} by "
                                       f"{short(nxt[a])}")
                if prv.setdefault(b, a) != a:
                    self.violate("P1", f"{where}: {what} diverge: {owner} saw {short(b)} "
                                       f"after {short(a)}, {seen_in.get(b, '?')} after "
                                       f"{short(prv[b])}")
                seen_in.setdefault(a, owner)
            for a in seq:
                seen_in.setdefault(a, owner)
        # A cycle would make "the" sequence infinite.
        for start in nxt:
            x, steps = start, 0
            while x in nxt and steps <= len(nxt):
                x, steps = nxt[x], steps + 1
            if steps > len(nxt):
                self.violate("P1", f"{where}: {what} form a cycle through {short(start)}")
                break
        self.stats["windows"] += len(windows)
        seen = collections.Counter(a for _, seq in windows for a in set(seq))
        self.stats["shared " + what] += sum(1 for n in seen.values() if n >= 2)
        return nxt, prv

    def check_provider_chain(self, where, owner, window):
        first = window[0]
        if first["proto"] != JOIN:
            self.violate("P1", f"{where}: {owner}'s first approved change is not its join")
        for a, b in zip(window, window[1:]):
            members, state = after_of(a)
            if b["cur"] != applied(members, b) or b["old"] != state:
                self.violate("P1", f"{where}: {owner}: gap between changes: after "
                                   f"{short(change_key(a))} came one leaving "
                                   f"{b['cur']} from {b['old']!r}, not "
                                   f"{applied(members, b)} from {state!r}")

    def check_subscriber_chain(self, where, owner, ctl, snap, stream):
        # The membership can be followed with MEMBERSHIP, or with both deltas
        # (the snapshot lists the members under DELTA_JOIN without MEMBERSHIP).
        members = None
        if ctl & SUB_MEM:
            members = snap.get("full")
        elif ctl & SUB_DJ and ctl & SUB_DL:
            members = snap.get("chg")
        for r in stream:
            t = r["type"]
            if t & SUB_DISSOLVED:
                if members:
                    self.violate("P1", f"{where}: {owner}: dissolved while {members} were in")
                continue
            if t & ~ctl & ALL_FLAGS:
                self.violate("P1", f"{where}: {owner}: notification type {t:#x} beyond its "
                                   f"control {ctl:#x} (t={r['t']})")
            if t & SUB_DJ and t & SUB_DL:
                self.violate("P1", f"{where}: {owner}: DELTA_JOIN and DELTA_LEAVE together")
            if members is not None and t & SUB_DJ:
                if any(m in members for m in r["chg"]):
                    self.violate("P1", f"{where}: {owner}: {r['chg']} joined but were already "
                                       f"in {members} (t={r['t']})")
                members = members + r["chg"]
            elif members is not None and t & SUB_DL:
                if any(m not in members for m in r["chg"]):
                    self.violate("P1", f"{where}: {owner}: {r['chg']} left but were not all "
                                       f"in {members} (t={r['t']})")
                members = [m for m in members if m not in r["chg"]]
            if t & SUB_MEM:
                if t & (SUB_DJ | SUB_DL) and members is not None and r["full"] != members:
                    self.violate("P1", f"{where}: {owner}: membership {r['full']} after a delta "
                                       f"from {members} (t={r['t']})")
                members = r["full"]

    def check_snapshot(self, where, owner, ctl, snap, stream, prv, before):
        """The snapshot must show what the group had just before the
        subscriber's first item: the membership (when the subscriber can
        follow it) and the state (when it asked for it)."""
        items = subscriber_items(stream, snap)
        if not items:
            return
        members, state = before.get(items[0], (None, None))
        x = prv.get(items[0])
        while x is not None and (members is None or state is None):
            item = json.loads(x)
            if item[0] == "D":
                break
            if members is None and item[2] is not None:
                members = item[2]
            if state is None and item[3] is not None:
                state = item[3]
            x = prv.get(x)
        if ctl & SUB_MEM:
            seen = snap.get("full")
        elif ctl & SUB_DJ and ctl & SUB_DL:
            seen = snap.get("chg")
        else:
            seen = members = None
        if members is not None and seen != members:
            self.violate("P1", f"{where}: {owner}: snapshot membership {seen}, "
                               f"but the group had {members}")
        if not ctl & SUB_STATE:
            state = None
        if state is not None and snap.get("state") != state:
            self.violate("P1", f"{where}: {owner}: snapshot state {snap.get('state')!r}, "
                               f"but the group had {state!r}")

    def check_not_rejected(self, where, owner, records, states, joiners):
        for r in records:
            if r.get("state") is not None and r["state"] in states:
                self.violate("P2", f"{where}: {owner} saw state {r['state']!r} of a rejected "
                                   f"protocol (t={r['t']})")
            for m in (r.get("full") or []) + (r.get("chg") or []):
                if m in joiners:
                    self.violate("P2", f"{where}: {owner} saw provider {m} whose join was "
                                       f"rejected (t={r['t']})")

    # ---- all ----------------------------------------------------------------
    def run(self):
        self.read()
        self.build()
        self.check_groups()
        st = self.stats
        print(f"chaos checker: clients {st['clients']}, kills {st['kills']}, gsd restarts "
              f"{st['restarts']}, gsd lifetimes {len(self.lifetimes)}")
        print(f"chaos checker: protocols approved {st['approved']}, rejected {st['rejected']}, "
              f"n-phase protocol durations checked {st['protocols_timed']}")
        print(f"chaos checker: notifications checked {st['notifications']}, calls "
              f"{st['calls']}, windows {st['windows']}, sessions told-checked "
              f"{st['sessions_told_checked']}")
        print(f"chaos checker: changes seen by 2+ providers {st['shared changes']}, "
              f"subscriber-visible changes seen by 2+ observers {st['shared subscriber items']}")
        if self.cluster:
            print(f"chaos checker: cluster: nodes {st['nodes']}, clients {st['clients']}, "
                  f"protocols approved {st['approved']}, client kills {st['kills']}, gsd kills "
                  f"{st['gsd SIGKILLs']} (SIGKILL) + {st['gsd SIGTERMs']} (SIGTERM), partitions "
                  f"{st['partitions']}, resyncs {st['resyncs']}, violations "
                  f"{len(self.violations)}")
            print(f"chaos checker: cluster: gsds that lost the domain's state (their logs) "
                  f"{st['quorum losses']}, {st['unplanned losses']} of them outside the "
                  f"driver's cuts (Corosync re-forming its ring); cold starts of the domain "
                  f"{st['cold starts']} (more than 1: no quorate side held the state for a "
                  f"moment, and the groups began anew)")
        for v in self.violations[:200]:
            print("VIOLATION " + v)
        if len(self.violations) > 200:
            print(f"... and {len(self.violations) - 200} more")
        print(f"chaos checker: violations {len(self.violations)}")
        return 1 if self.violations else 0


def change_key(r):
    return json.dumps([r["proto"], r["summary"], r.get("phase"), r.get("nphases"), r.get("cur"),
                       r.get("chg"), r.get("old"), r.get("new"), r.get("msg"), r.get("leave"),
                       r.get("xflag")])


def after_of(r):
    """The membership and state in force after an approved change: an
    approved notification's current providers are the membership after it."""
    members = r.get("cur") or []
    state = r["new"] if r.get("new") is not None else r.get("old")
    return members, state


def applied(members, r):
    """members with the change r applied (joiners appended, leavers removed)."""
    chg = r.get("chg") or []
    if r["proto"] == JOIN:
        return members + chg
    if r["proto"] in REMOVALS:
        return [m for m in members if m not in chg]
    return members


def provider_items(window, ctl, before):
    """What a subscriber with control flags ctl sees of the changes of a
    provider window (the engine's rules, docs/architecture.md "Who is told
    what"). before learns, for each item, the membership and state the group
    had just before it."""
    out = []
    previous = None  # the membership after the window's previous change
    for r in window:
        if previous is None:
            # The window's first change is the provider's join: the joiners
            # were appended to the membership before it.
            previous = [m for m in (r.get("cur") or []) if m not in (r.get("chg") or [])]
        delta = SUB_DJ if r["proto"] == JOIN else (SUB_DL if r["proto"] in REMOVALS else 0)
        changed = r.get("new") is not None
        t = delta if ctl & delta else 0
        t |= SUB_MEM if delta and ctl & SUB_MEM else 0
        t |= SUB_STATE if changed and ctl & SUB_STATE else 0
        if t:
            members, _ = after_of(r)
            item = json.dumps([t, r["chg"] if t & (SUB_DJ | SUB_DL) else None,
                               members if t & SUB_MEM else None,
                               r["new"] if t & SUB_STATE else None,
                               previous if t & SUB_MEM else None])
            before[item] = (previous, r["old"])
            out.append(item)
        previous = after_of(r)[0]
        if r["summary"] & GROUP_DISSOLVED:
            out.append(json.dumps(["D", out[-1] if out else None]))
    return out


def subscriber_items(stream, snap):
    """The items of a subscriber window. An item with MEMBERSHIP also names
    the membership before it (the snapshot's or the previous item's), so that
    items stay unique when the subscriber sees no deltas: every transition
    adds or removes providers with instance numbers used once."""
    out = []
    prev = snap.get("full")
    for r in stream:
        t = r["type"]
        if t & SUB_DISSOLVED:
            out.append(json.dumps(["D", out[-1] if out else None]))
            continue
        out.append(json.dumps([t, r.get("chg"), r.get("full"), r.get("state"),
                               prev if t & SUB_MEM else None]))
        if t & SUB_MEM:
            prev = r.get("full")
    return out


def short(key):
    return key if len(key) <= 160 else key[:157] + "..."


def main():
    if len(sys.argv) != 2:
        print(__doc__.split("\n")[2], file=sys.stderr)
        return 2
    try:
        return Checker(sys.argv[1]).run()
    except (OSError, ValueError, KeyError) as e:
        print(f"chaos checker: cannot read the logs: {e!r}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
