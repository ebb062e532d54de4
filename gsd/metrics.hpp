/* SPDX-License-Identifier: MIT */
/*
 * What gsd counts for operators since it started (gsctl stats, gsctl
 * metrics): protocols by type and outcome, collisions, refusals by reason,
 * time limits exceeded, and how long voters take per phase. Counted where
 * the engines' outcomes are carried out (gsd/observer.cpp), on every node
 * alike for the domain's protocols. The gauges (clients, groups, queues)
 * are read from the broker when asked.
 */
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace gs::broker {

/* A Prometheus histogram of seconds with fixed buckets. */
struct Histogram {
    /* Upper bounds (seconds) of the buckets below +Inf. */
    static constexpr std::array<double, 12> kBounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,   0.25,   0.5,   1,    5,     30};
    std::array<uint64_t, kBounds.size()> buckets{}; /* not cumulative */
    uint64_t count = 0;
    double sum = 0;
    void add(double seconds);
};

/* The values of the moment, read from the broker for one answer. */
struct Gauges {
    int node = 0;
    size_t sessionsGsapi = 0;
    size_t sessionsCmm = 0;
    size_t sessionsAdmin = 0;
    size_t domainClients = 0; /* GSAPI clients of every node (the engine's) */
    size_t groups = 0;
    size_t providers = 0;
    size_t subscribers = 0;
    size_t protocolsRunning = 0;
    size_t queuedChanges = 0;
    uint64_t stateBytes = 0;
    uint64_t queuedBytes = 0;    /* sent to local clients and not yet acknowledged, all */
    uint64_t maxQueuedBytes = 0; /* the same, of the client with the most */
    bool synced = false;
};

struct Metrics {
    /* Phases above this share the last histogram ("kMaxPhaseLabel+"). */
    static constexpr uint32_t kMaxPhaseLabel = 5;

    /* (ha_gs_request_t, approved) -> count; named when shown */
    std::map<std::pair<int, bool>, uint64_t> protocols;
    uint64_t collisions = 0;
    uint64_t timeLimitsExceeded = 0;
    uint64_t clientsGone = 0;
    uint64_t nodesGone = 0;
    /* reason (an ha_gs_rc_t name, or what gsd refused) -> count */
    std::map<std::string, uint64_t> refusals;
    /* phase (1 .. kMaxPhaseLabel) -> seconds from the phase's opening to
     * each vote */
    std::map<uint32_t, Histogram> voteLatency;

    void protocolEnded(int type, bool approved) { ++protocols[{type, approved}]; }
    void refused(const std::string &reason);
    void vote(uint32_t phase, double seconds);
    static std::string phaseLabel(uint32_t phase);

    /* Prometheus' text exposition format (version 0.0.4). */
    std::string prometheus(const Gauges &gauges) const;
};

} // namespace gs::broker
