#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench_report.py - the table of one benchmark run.

Reads the JSON lines the benchmark programs wrote (RESULTS_DIR/*.jsonl) and
the run's description (RESULTS_DIR/machine.json), prints one Markdown table
(median, p99, ratio to the raw ZeroMQ round trip of the same run, the CPG
counterpart and the ratio ours/CPG) and then each target of issue 4 next to
its measured value. Writes the same text to RESULTS_DIR/table.md.

    scripts/bench_report.py RESULTS_DIR
"""
import json
import pathlib
import sys

BASELINE = "floor.zmq"


def load(results_dir):
    """Rows by id, and every measurement of the ids measured more than once
    (the floor: bench.sh runs it several times during the run)."""
    rows = {}
    repeats = {}
    for path in sorted(results_dir.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            # A measured row wins over a "not run" line for the same id.
            if record["id"] in rows and "not_run" in record:
                continue
            if "median_us" in record:
                repeats.setdefault(record["id"], []).append(record)
            rows[record["id"]] = record
    # Of several measurements, the one with the middle median stands.
    for row_id, records in repeats.items():
        if len(records) > 1:
            records.sort(key=lambda r: r["median_us"])
            rows[row_id] = records[(len(records) - 1) // 2]
    return rows, {k: v for k, v in repeats.items() if len(v) > 1}


def us(value):
    if value >= 10000:
        return f"{value / 1000:.1f} ms"
    if value >= 1000:
        return f"{value / 1000:.2f} ms"
    return f"{value:.1f} µs"


def latency_rows(groups):
    """(title, our id, CPG id or None), in table order."""
    rows = [
        ("raw ZeroMQ DEALER→ROUTER round trip, ipc:// (baseline)", "floor.zmq", None),
        ("raw Unix stream socket round trip", "floor.unix", None),
        ("raw ZeroMQ relay: A → B, B replies to A and forwards to C → C has it "
         "(the shape of a state change with 1 subscriber)", "floor.zmq-relay", None),
        ("one-phase join → approved", "join.subs=0", "cpg.join"),
        ("one-phase state change → approved", "state.subs=0", None),
    ]
    for n in (1, 10, 100):
        s = "subscriber" if n == 1 else "subscribers"
        rows += [
            (f"one-phase join, {n} {s} → last subscriber notified", f"join.subs={n}",
             "cpg.join" if n == 1 else None),
            (f"… same runs, joiner's approved callback", f"join.subs={n}.approved", None),
            (f"one-phase state change, {n} {s} → last subscriber notified",
             f"state.subs={n}", f"cpg.mcast.receivers={n}"),
            (f"… same runs, proposer's approved callback", f"state.subs={n}.approved", None),
        ]
    for n in (1, 2, 8, 32):
        rows.append((f"n-phase state change, {n} provider{'s' if n > 1 else ''} approve"
                     " → approved (one phase)", f"nphase.providers={n}", None))
    rows += [
        ("SIGKILL of a provider → other provider's failure-leave approved",
         "failure.provider", "cpg.kill.member"),
        ("SIGKILL of a provider → last of 10 subscribers' delta-leave",
         "failure.subscribers", "cpg.kill.watchers"),
        ("one-phase join → approved, empty gsd (1 group)", "scale.join.groups=1", None),
        (f"one-phase join → approved, gsd with {groups:,} groups and "
         f"{10 * groups:,} subscriptions", f"scale.join.groups={groups}", None),
    ]
    return rows


def parallel_counts(rows):
    """Provider counts of the fanout-parallel rows, ascending."""
    counts = set()
    for row_id in rows:
        if row_id.startswith("fanout-parallel.providers="):
            counts.add(int(row_id.split("=")[1].split(".")[0]))
    return sorted(counts)


def fanout_lines(rows):
    """Fan-out rows: notifications/s (state changes/s; ns per notification)
    and, in the ratio column, ours / the raw ZeroMQ floor of the same shape
    (paced by one provider's round trip for the one-provider rows)."""
    def cell(fan):
        return (f"{fan['notifications_per_s']:,.0f}/s ({fan['changes_per_s']:,.0f}/s; "
                f"{fan['ns_per_notification']:,.0f} ns)")

    lines = []
    groups = [("floor.zmq-fanout.paced", "raw ZeroMQ fan-out paced by one provider's round trip, ", None),
              ("floor.zmq-fanout.open", "raw ZeroMQ fan-out, changes back to back, ", None),
              ("fanout", "fan-out, 1 provider, ", "floor.zmq-fanout.paced")]
    groups += [(f"fanout-parallel.providers={p}", f"fan-out, {p} providers in parallel, ", None)
               for p in parallel_counts(rows)]
    for prefix, label, floor in groups:
        for n in (1, 10, 100, 1000):
            fan = rows.get(f"{prefix}.subs={n}")
            title = (f"{label}{n} subscriber{'s' if n > 1 else ''}: "
                     "notifications/s (state changes/s; ns per notification)")
            if fan is None or "not_run" in fan:
                if prefix == "fanout":
                    lines.append(f"| {title} | not run | | | | |")
                continue
            ratio = ""
            base = rows.get(f"{floor}.subs={n}") if floor else None
            if base and "notifications_per_s" in base:
                ratio = f"{fan['notifications_per_s'] / base['notifications_per_s']:.2f} × floor"
            lines.append(f"| {title} | {cell(fan)} | | {ratio} | | |")
    return lines


def table(rows, groups):
    lines = ["| scenario | median | p99 | × ZeroMQ RTT | CPG median | ours / CPG |",
             "|---|---:|---:|---:|---:|---:|"]
    base = rows.get(BASELINE, {}).get("median_us")
    for title, ours_id, cpg_id in latency_rows(groups):
        ours = rows.get(ours_id)
        cpg = rows.get(cpg_id) if cpg_id else None
        cells = [title]
        if ours is None or "not_run" in ours:
            reason = ours["not_run"] if ours else "no result (see the logs)"
            cells += [f"not run: {reason}", "", "", ""]
        else:
            cells += [us(ours["median_us"]), us(ours["p99_us"]),
                      f"{ours['median_us'] / base:.2f}" if base else ""]
        if cpg_id is None:
            cells += ["", ""]
        elif cpg is None or "not_run" in cpg:
            reason = cpg["not_run"] if cpg else "no result"
            cells += [f"not run: {reason}", ""]
        else:
            cells.append(us(cpg["median_us"]))
            cells.append(f"{ours['median_us'] / cpg['median_us']:.2f}"
                         if ours and "median_us" in ours else "")
        lines.append("| " + " | ".join(cells) + " |")

    lines += fanout_lines(rows)
    memory = rows.get("scale.memory")
    if memory is None or "not_run" in memory:
        lines.append("| gsd resident memory per provider / per subscription | not run | | | | |")
    else:
        lines.append(f"| gsd resident memory per provider ({memory['providers']:,.0f} providers, "
                     f"{memory['groups']:,.0f} groups) | {memory['bytes_per_provider']:,.0f} B | | | | |")
        lines.append(f"| gsd resident memory per subscription ({memory['subscriptions']:,.0f}) "
                     f"| {memory['bytes_per_subscription']:,.0f} B | | | | |")
    return lines


def targets(rows, groups):
    """(target, measured, met) triples; met is None when a value is missing."""
    def median(row_id):
        row = rows.get(row_id)
        return row.get("median_us") if row else None

    def value(row_id, field):
        row = rows.get(row_id)
        return row.get(field) if row else None

    out = []
    base = median(BASELINE)
    relay = median("floor.zmq-relay")
    for kind in ("join", "state"):
        ours = median(f"{kind}.subs=1")
        measured = (f"{us(ours)} = {ours / base:.2f} × {us(base)}"
                    if ours and base else "missing")
        if ours and relay:
            measured += f" (raw ZeroMQ relay {us(relay)}: ours {ours / relay:.2f} × that)"
        out.append((f"one-phase {kind}, 1 subscriber: median ≤ 1.2 × raw ZeroMQ round trip",
                    measured, ours <= 1.2 * base if ours and base else None))
    ours, cpg = median("join.subs=1"), median("cpg.join")
    out.append(("one-phase join, 1 subscriber: median below CPG's cpg_join → own confchg",
                f"{us(ours)} vs {us(cpg)}" if ours and cpg else "missing",
                ours < cpg if ours and cpg else None))
    for ours_id, cpg_id, who in (("failure.provider", "cpg.kill.member", "other provider"),
                                 ("failure.subscribers", "cpg.kill.watchers", "subscribers")):
        ours = median(ours_id)
        out.append((f"failure detection ({who}): median ≤ 10 ms",
                    us(ours) if ours else "missing", ours <= 10000 if ours else None))
        cpg = median(cpg_id)
        out.append((f"failure detection ({who}): median ≤ CPG's kill → confchg",
                    f"{us(ours)} vs {us(cpg)}" if ours and cpg else "missing",
                    ours <= cpg if ours and cpg else None))
    fanouts = [("fanout", "1 provider", "floor.zmq-fanout.paced")]
    fanouts += [(f"fanout-parallel.providers={p}", f"{p} providers in parallel", None)
                for p in parallel_counts(rows)]
    for prefix, label, floor in fanouts:
        rate = value(f"{prefix}.subs=100", "notifications_per_s")
        measured = f"{rate:,.0f}/s" if rate else "missing"
        floor_rate = value(f"{floor}.subs=100", "notifications_per_s") if floor else None
        if rate and floor_rate:
            measured += (f" (raw ZeroMQ paced the same way: {floor_rate:,.0f}/s, "
                         f"ours {rate / floor_rate:.2f} × that)")
        out.append((f"fan-out, 100 subscribers, {label}: ≥ 500,000 notifications/s",
                    measured, rate >= 500000 if rate else None))
    for prefix, label, _ in fanouts:
        costs = [value(f"{prefix}.subs={n}", "ns_per_notification") for n in (10, 100, 1000)]
        title = (f"fan-out, {label}: cost per notification roughly flat from 10 to 1000 "
                 "subscribers (max/min ≤ 1.5)")
        if all(costs):
            spread = max(costs) / min(costs)
            out.append((title, " / ".join(f"{c:,.0f}" for c in costs) +
                        f" ns; max/min {spread:.2f}", spread <= 1.5))
        else:
            out.append((title, "missing", None))
    one, full = median("scale.join.groups=1"), median(f"scale.join.groups={groups}")
    out.append((f"join latency with {groups:,} groups within 10 % of 1 group",
                f"{us(full)} vs {us(one)} ({(full / one - 1) * 100:+.0f} %)" if one and full
                else "missing", full <= 1.1 * one if one and full else None))
    per_provider = value("scale.memory", "bytes_per_provider")
    per_subscription = value("scale.memory", "bytes_per_subscription")
    out.append(("gsd memory ≤ 2 KiB per provider",
                f"{per_provider:,.0f} B" if per_provider is not None else "missing",
                per_provider <= 2048 if per_provider is not None else None))
    out.append(("gsd memory ≤ 1 KiB per subscription",
                f"{per_subscription:,.0f} B" if per_subscription is not None else "missing",
                per_subscription <= 1024 if per_subscription is not None else None))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench_report.py RESULTS_DIR")
    results_dir = pathlib.Path(sys.argv[1])
    rows, repeats = load(results_dir)
    machine_path = results_dir / "machine.json"
    machine = json.loads(machine_path.read_text()) if machine_path.exists() else {}
    groups = int(machine.get("scale_groups", 10000))

    lines = []
    if machine:
        lines.append(f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
                     f"{machine.get('kernel', '?')}; load average {machine.get('load_before', '?')}"
                     f" before, {machine.get('load_after', '?')} after; mode {machine.get('mode', '?')}"
                     f", {machine.get('iterations', '?')} iterations (fewer with more processes)")
        lines.append("")
    lines += table(rows, groups)
    for row_id, records in sorted(repeats.items()):
        lines += ["", f"{row_id} was measured {len(records)} times during the run (medians "
                  + ", ".join(us(r["median_us"]) for r in records)
                  + "); the table shows the middle one."]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for target, measured, met in targets(rows, groups):
        verdict = "n/a" if met is None else ("met" if met else "not met")
        lines.append(f"| {target} | {measured} | {verdict} |")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    (results_dir / "table.md").write_text(text)


if __name__ == "__main__":
    main()
