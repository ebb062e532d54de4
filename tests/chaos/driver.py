#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Chaos test driver (docs/testing.md, "Chaos test").

Starts a private gsd on a unique ipc:// endpoint in a new temporary
directory, spawns chaos_client processes (seeded; roles provider,
subscriber or mixed; a few groups each), kills random clients with SIGKILL
and starts new ones, restarts gsd a few times (alternately SIGKILL and
SIGTERM), then stops everything and runs the checker over the logs.

Everything it does is written to driver.jsonl in the run directory, with
CLOCK_MONOTONIC microseconds (Python's time.monotonic on Linux) like the
clients' logs: gsd lifetimes (start, signal, exit), client spawns, kills and
exits. Client i's log is client-<i>.jsonl.

The driver's random choices come from --seed; each client's seed is logged
(driver.jsonl, and the client's own "start" line). Timing is real, so a run
is not replayed exactly, but one client's choices are: run chaos_client with
the logged --seed, or the whole test with the same --seed.

Exit status: the checker's (0 = no violation), 2 on a setup error. The run
directory is removed on success unless --keep is given; it is kept (and
named) on failure.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

MAX_CLIENT_ID = 1023  # chaos_client: instance numbers id*32 + k fit in a short


def now_us():
    return int(time.monotonic() * 1_000_000)


class Driver:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.dir = tempfile.mkdtemp(prefix="ha_gs-chaos-")
        self.endpoint = "ipc://" + os.path.join(self.dir, "gsd.sock")
        self.log = open(os.path.join(self.dir, "driver.jsonl"), "a", buffering=1)
        self.gsd = None
        self.lifetime = 0
        self.clients = {}  # id -> Popen
        self.next_id = 1
        self.kills = 0
        self.restarts = 0
        self.spawned = 0
        self.exhausted = False

    def record(self, **event):
        event.setdefault("t", now_us())
        self.log.write(json.dumps(event) + "\n")

    # ---- gsd ------------------------------------------------------------
    def start_gsd(self):
        self.lifetime += 1
        out = open(os.path.join(self.dir, f"gsd-{self.lifetime}.log"), "ab")
        t = now_us()
        self.gsd = subprocess.Popen(
            [self.args.gsd, "--socket", self.endpoint, "--node-number", "1",
             "--log-level", "warn"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        self.record(ev="gsd_start", life=self.lifetime, pid=self.gsd.pid, t=t)
        path = self.endpoint[len("ipc://"):]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.gsd.poll() is not None:
                raise RuntimeError(f"gsd exited at start-up with {self.gsd.returncode}")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                return
            except OSError:
                time.sleep(0.01)
            finally:
                s.close()
        raise RuntimeError("gsd did not accept connections within 20 s")

    def stop_gsd(self, sig):
        t = now_us()
        self.gsd.send_signal(sig)
        try:
            status = self.gsd.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.gsd.kill()
            status = self.gsd.wait()
            self.record(ev="gsd_hung", life=self.lifetime)
        self.record(ev="gsd_stop", life=self.lifetime, sig=int(sig), t_signal=t,
                    t_exit=now_us(), status=status)
        self.gsd = None

    # ---- clients --------------------------------------------------------
    def spawn_client(self):
        if self.next_id > MAX_CLIENT_ID:
            if not self.exhausted:
                self.record(ev="ids_exhausted")
                self.exhausted = True
            return
        cid = self.next_id
        self.next_id += 1
        seed = self.rng.randrange(1, 2**62)
        r = self.rng.random()
        role = "provider" if r < 0.5 else ("subscriber" if r < 0.75 else "mixed")
        n = min(self.args.groups, self.rng.choice([1, 2, 2, 3]))
        groups = sorted(self.rng.sample(range(self.args.groups), n))
        program = self.args.client
        if self.args.client_r and cid % 2 == 0:
            program = self.args.client_r
        env = dict(os.environ, HA_GS_SOCKET=self.endpoint)
        out = open(os.path.join(self.dir, f"client-{cid}.err"), "ab")
        cmd = [program, "--id", str(cid), "--seed", str(seed),
               "--groups", ",".join(map(str, groups)), "--role", role,
               "--log", os.path.join(self.dir, f"client-{cid}.jsonl")]
        t = now_us()
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        out.close()
        self.clients[cid] = p
        self.spawned += 1
        self.record(ev="client_spawn", id=cid, pid=p.pid, seed=seed, role=role,
                    groups=groups, program=os.path.basename(program), t=t)

    def kill_client(self):
        live = [cid for cid, p in self.clients.items() if p.poll() is None]
        if not live:
            return
        cid = self.rng.choice(live)
        t = now_us()
        self.clients[cid].kill()
        self.kills += 1
        self.record(ev="client_kill", id=cid, t=t)

    def reap(self):
        """Records exited clients; returns how many exited."""
        gone = 0
        for cid, p in list(self.clients.items()):
            status = p.poll()
            if status is not None:
                self.record(ev="client_exit", id=cid, status=status)
                del self.clients[cid]
                gone += 1
        return gone

    # ---- the run --------------------------------------------------------
    def run(self):
        a = self.args
        self.record(ev="run", seed=a.seed, clients=a.clients, groups=a.groups,
                    duration=a.duration, restarts=a.restarts,
                    kill_interval=a.kill_interval)
        self.start_gsd()
        for _ in range(a.clients):
            self.spawn_client()
        t_start = time.monotonic()
        t_end = t_start + a.duration
        restart_at = sorted(
            t_start + a.duration * (k + 1) / (a.restarts + 1) + self.rng.uniform(-1, 1)
            for k in range(a.restarts))
        next_kill = t_start + self.rng.uniform(0.5, 1.5) * a.kill_interval
        pending_spawns = []  # times at which to start a replacement
        while time.monotonic() < t_end:
            now = time.monotonic()
            for _ in range(self.reap()):
                # A client that exited by itself (retired) is replaced too.
                pending_spawns.append(now + self.rng.uniform(0.1, 1.0))
            if restart_at and now >= restart_at[0]:
                restart_at.pop(0)
                sig = signal.SIGKILL if self.restarts % 2 == 0 else signal.SIGTERM
                self.restarts += 1
                self.stop_gsd(sig)
                time.sleep(self.rng.uniform(0.2, 1.5))
                self.start_gsd()
                continue
            if a.kill_interval > 0 and now >= next_kill:
                self.kill_client()
                next_kill = now + self.rng.uniform(0.5, 1.5) * a.kill_interval
            while pending_spawns and pending_spawns[0] <= now:
                pending_spawns.pop(0)
                self.spawn_client()
            pending_spawns.sort()
            if self.gsd.poll() is not None:
                self.record(ev="gsd_died", life=self.lifetime, status=self.gsd.returncode)
                print(f"chaos: gsd died by itself (status {self.gsd.returncode})",
                      file=sys.stderr)
                self.start_gsd()
            time.sleep(0.02)
        # Stop the clients (they quit and log "end"), then gsd.
        self.record(ev="stopping")
        for p in self.clients.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for cid, p in self.clients.items():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.record(ev="client_hung", id=cid)
                p.kill()
                p.wait()
        self.reap()
        self.stop_gsd(signal.SIGTERM)
        self.record(ev="done")
        self.log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gsd", required=True)
    ap.add_argument("--client", required=True, help="chaos_client program")
    ap.add_argument("--client-r", help="chaos_client linked with libha_gs_r: "
                    "every client with an even id runs it")
    ap.add_argument("--checker", required=True, help="checker.py")
    ap.add_argument("--duration", type=float, default=45, help="seconds of chaos")
    ap.add_argument("--clients", type=int, default=14, help="clients alive at once")
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--restarts", type=int, default=3, help="gsd restarts")
    ap.add_argument("--kill-interval", type=float, default=2.0,
                    help="mean seconds between client kills (0: none)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the run directory")
    args = ap.parse_args()

    d = Driver(args)
    print(f"chaos: seed {args.seed}, {args.clients} clients, {args.groups} groups, "
          f"{args.duration:g} s, {args.restarts} gsd restarts; logs in {d.dir}", flush=True)
    t0 = time.monotonic()
    try:
        d.run()
    except Exception as e:  # setup failure: say so, keep the logs
        print(f"chaos: driver failed: {e}; logs kept in {d.dir}", file=sys.stderr)
        for p in d.clients.values():
            p.kill()
        if d.gsd is not None:
            d.gsd.kill()
        return 2
    print(f"chaos: ran {time.monotonic() - t0:.1f} s: {d.spawned} clients started, "
          f"{d.kills} killed, {d.restarts} gsd restarts; checking", flush=True)
    rc = subprocess.call([sys.executable, args.checker, d.dir])
    if rc == 0 and not args.keep:
        shutil.rmtree(d.dir, ignore_errors=True)
    else:
        print(f"chaos: logs kept in {d.dir}", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
