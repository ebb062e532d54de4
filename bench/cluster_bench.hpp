// SPDX-License-Identifier: MIT
/* cluster_bench - the measurements of bench_cluster: GSAPI across a
 * three-node domain (tests/cluster's harness: Corosync and gsd --cluster
 * per network namespace) and, in the same namespaces and the same run,
 * alternating with it round by round, raw CPG agents (cluster_cpg.hpp) and
 * a local ZeroMQ round trip. Each GSAPI row is set against the baseline
 * measured in that run. */
#pragma once

#include "harness.hpp"

#include <optional>
#include <string>
#include <vector>

namespace bench {

struct ClusterConfig {
    std::string gsd;         /* gsd to start on every node */
    int iterations = 1000;   /* timed rounds of the latency and n-phase measurements */
    int warmup = 50;         /* untimed rounds before them */
    int killRounds = 20;     /* gsd deaths timed per token */
    int nodeKillRounds = 5;  /* node deaths timed per token */
    std::vector<int> tokens; /* totem tokens (ms), one cluster each */
    int latencyToken = 1000; /* the cluster (token, ms) of the latency and n-phase rows */
    bool cpgOnly = false;    /* no gsd: the CPG and ZeroMQ rows only */
    int votePhases = 3;      /* phases of the long n-phase protocol */
    int nodeSettleMs = 0;    /* pause after a node rejoined, before the next node death */
    int attempts = 2;        /* clusters formed per token before it is left out */
};

/* One line of the table. */
struct Row {
    std::string what;
    Summary ours;
    std::string baselineWhat; /* empty: no baseline */
    double baselineUs = 0;    /* median of the baseline series */
    std::string target;       /* empty: no target */
    std::optional<bool> met;
};

struct ClusterResult {
    std::vector<Row> rows;
    std::vector<std::string> notes; /* clusters that broke and were formed again */
    bool complete = true;           /* false: some token failed config.attempts times */
};

/* Runs everything and returns the rows; a token whose cluster fails
 * config.attempts times is left out (notes, complete). Throws on bad
 * options. */
ClusterResult runClusterBench(const ClusterConfig &config);

} // namespace bench
