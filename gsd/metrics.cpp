/* SPDX-License-Identifier: MIT */
#include "gsd/metrics.hpp"

#include "common/names.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace gs::broker {

void Histogram::add(double seconds)
{
    ++count;
    sum += seconds;
    const auto bucket = std::lower_bound(kBounds.begin(), kBounds.end(), seconds);
    if (bucket != kBounds.end())
        ++buckets[static_cast<size_t>(std::distance(kBounds.begin(), bucket))];
}

void Metrics::refused(const std::string &reason)
{
    ++refusals[reason];
}

void Metrics::vote(uint32_t phase, double seconds)
{
    voteLatency[std::clamp(phase, 1u, kMaxPhaseLabel)].add(seconds);
}

std::string Metrics::phaseLabel(uint32_t phase)
{
    return phase >= kMaxPhaseLabel ? fmt::format("{}+", kMaxPhaseLabel) : std::to_string(phase);
}

namespace {

/* A label value: backslash, double quote and newline escaped. */
std::string quoted(const std::string &value)
{
    std::string out;
    for (const char c : value) {
        if (c == '\\' || c == '"')
            out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

void family(std::string &out, const char *name, const char *type, const char *help)
{
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

} // namespace

std::string Metrics::prometheus(const Gauges &g) const
{
    std::string out;
    const auto gauge = [&](const char *name, const char *help, auto value) {
        family(out, name, "gauge", help);
        out += fmt::format("{} {}\n", name, value);
    };
    gauge("gsd_synced", "1 when this gsd holds the domain's state and serves GSAPI clients",
          g.synced ? 1 : 0);
    family(out, "gsd_sessions", "gauge", "sessions served by this gsd, by kind");
    out += fmt::format("gsd_sessions{{kind=\"gsapi\"}} {}\n", g.sessionsGsapi);
    out += fmt::format("gsd_sessions{{kind=\"cmm\"}} {}\n", g.sessionsCmm);
    out += fmt::format("gsd_sessions{{kind=\"admin\"}} {}\n", g.sessionsAdmin);
    gauge("gsd_domain_clients", "GSAPI clients of every node of the domain", g.domainClients);
    gauge("gsd_groups", "groups of the domain (HostMembership left out)", g.groups);
    gauge("gsd_providers", "providers of every group", g.providers);
    gauge("gsd_subscribers", "subscriptions to every group", g.subscribers);
    gauge("gsd_protocols_running", "groups with a protocol running", g.protocolsRunning);
    gauge("gsd_queued_changes", "changes waiting in the groups' queues", g.queuedChanges);
    gauge("gsd_state_bytes", "bytes of group data held (--max-state-memory)", g.stateBytes);
    gauge("gsd_send_queue_bytes",
          "bytes sent to this gsd's clients and not yet acknowledged by them", g.queuedBytes);
    gauge("gsd_send_queue_bytes_max", "the same, of the client with the most", g.maxQueuedBytes);

    family(out, "gsd_protocols_total", "counter", "protocols ended, by type and outcome");
    for (const auto &[key, count] : protocols)
        out += fmt::format("gsd_protocols_total{{type=\"{}\",outcome=\"{}\"}} {}\n",
                           names::request(key.first), key.second ? "approved" : "rejected", count);
    const auto counter = [&](const char *name, const char *help, uint64_t value) {
        family(out, name, "counter", help);
        out += fmt::format("{} {}\n", name, value);
    };
    counter("gsd_collisions_total", "proposals refused with HA_GS_COLLIDE", collisions);
    counter("gsd_time_limits_exceeded_total", "phases closed with a voter late",
            timeLimitsExceeded);
    counter("gsd_clients_gone_total", "GSAPI clients of the domain gone", clientsGone);
    counter("gsd_nodes_gone_total", "nodes that left the domain", nodesGone);
    family(out, "gsd_refusals_total", "counter",
           "requests and connections refused, by reason (an ha_gs_rc_t name, or why gsd "
           "refused)");
    for (const auto &[reason, count] : refusals)
        out += fmt::format("gsd_refusals_total{{reason=\"{}\"}} {}\n", quoted(reason), count);

    family(out, "gsd_vote_latency_seconds", "histogram",
           "from a phase's opening to each vote, by phase");
    for (const auto &[phase, h] : voteLatency) {
        const std::string label = phaseLabel(phase);
        uint64_t cumulative = 0;
        for (size_t i = 0; i < h.buckets.size(); ++i) {
            cumulative += h.buckets[i];
            out += fmt::format("gsd_vote_latency_seconds_bucket{{phase=\"{}\",le=\"{}\"}} {}\n",
                               label, Histogram::kBounds[i], cumulative);
        }
        out += fmt::format("gsd_vote_latency_seconds_bucket{{phase=\"{}\",le=\"+Inf\"}} {}\n",
                           label, h.count);
        out += fmt::format("gsd_vote_latency_seconds_sum{{phase=\"{}\"}} {}\n", label, h.sum);
        out += fmt::format("gsd_vote_latency_seconds_count{{phase=\"{}\"}} {}\n", label, h.count);
    }
    return out;
}

} // namespace gs::broker
