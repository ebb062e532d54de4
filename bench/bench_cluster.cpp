// SPDX-License-Identifier: MIT
/*
 * bench_cluster - GSAPI across a three-node Corosync cluster in network
 * namespaces (one Corosync and one gsd --cluster per node, started by
 * tests/cluster's harness), side by side with raw CPG in the same
 * namespaces and the same run: rounds alternate (a GSAPI protocol, a CPG
 * round, a local ZeroMQ round trip), and each GSAPI row is set against the
 * baseline measured in that run (cluster_bench.hpp). Needs root.
 *
 *   bench_cluster [--gsd PATH] [--iterations N] [--warmup N] [--kill-rounds N]
 *                 [--node-kill-rounds N] [--tokens MS,MS...] [--latency-token MS]
 *                 [--phases N] [--attempts N] [--cpg-only]
 *
 * Prints one Markdown table on stdout (progress on stderr): median, p99,
 * the baseline, the ratio, the target and whether it is met. Exit status 0
 * when everything ran (whatever the numbers), 1 otherwise (the table then
 * has what ran and says what did not). "bench_cluster
 * role|cpg-agent|zmq-echo ..." is how it starts its own child processes.
 */
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "cluster_bench.hpp"
#include "cluster_cpg.hpp"
#include "roles.hpp"
#include "zmq_echo.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>

#ifndef HA_GS_BENCH_GSD
#define HA_GS_BENCH_GSD "gsd"
#endif

namespace {

bench::ClusterConfig g_config;
bench::ClusterResult g_result;

std::string formatUs(double us)
{
    char buffer[32];
    if (us >= 1000)
        std::snprintf(buffer, sizeof buffer, "%.2f ms", us / 1000);
    else
        std::snprintf(buffer, sizeof buffer, "%.1f µs", us);
    return buffer;
}

void printTable(const std::vector<bench::Row> &rows)
{
    std::printf("| measurement | median | p99 | baseline (same run) | baseline median | ratio | "
                "target | met |\n|---|---:|---:|---|---:|---:|---|---|\n");
    for (const auto &r : rows) {
        std::string ratio;
        if (!r.baselineWhat.empty() && r.baselineUs > 0) {
            char buffer[32];
            std::snprintf(buffer, sizeof buffer, "%.2f", r.ours.medianUs / r.baselineUs);
            ratio = buffer;
        }
        std::printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.what.c_str(),
                    formatUs(r.ours.medianUs).c_str(),
                    r.ours.count < 2 ? "" : formatUs(r.ours.p99Us).c_str(), r.baselineWhat.c_str(),
                    r.baselineWhat.empty() ? "" : formatUs(r.baselineUs).c_str(), ratio.c_str(),
                    r.target.c_str(), !r.met ? "" : (*r.met ? "met" : "not met"));
    }
}

} // namespace

/* The measurements run inside a doctest case: tests/cluster's harness
 * reports set-up failures (no root, no Corosync, a gsd that does not start)
 * with doctest's FAIL, which needs one. */
TEST_CASE("bench_cluster")
{
    g_result = bench::runClusterBench(g_config);
}

int main(int argc, char **argv)
{
    using namespace bench;
    ClusterConfig &config = g_config;
    config.gsd = HA_GS_BENCH_GSD;
    config.tokens = {300, 1000, 1500};
    std::optional<int> warmup;

    CLI::App app{"bench_cluster - GSAPI across a 3-node Corosync cluster in network namespaces, "
                 "side by side with raw CPG; prints one table"};
    app.add_option("--gsd", config.gsd, "gsd to start on every node")->capture_default_str();
    app.add_option("--iterations", config.iterations, "timed rounds of the latency measurements")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--warmup", warmup, "untimed rounds first (default: iterations / 10)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--kill-rounds", config.killRounds, "gsd deaths timed per token")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--node-kill-rounds", config.nodeKillRounds, "node deaths timed per token")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--tokens", config.tokens,
                   "totem tokens in ms (token_coefficient 0), one cluster each, where the gsd "
                   "and node deaths are timed")
        ->delimiter(',')
        ->check(CLI::Range(100, 10000))
        ->capture_default_str();
    /* Knet declares a link down after a fraction of the token without
     * heartbeats: on a loaded machine a 300 ms token broke the cluster in
     * the middle of thousands of rounds (all links down at once, quorum
     * lost). GSAPI and CPG rows of a run share the cluster, so their ratio
     * holds under any token. */
    app.add_option("--latency-token", config.latencyToken,
                   "the token (one of --tokens) of the cluster where the latency and n-phase "
                   "rows run")
        ->capture_default_str();
    app.add_option("--phases", config.votePhases, "phases of the long n-phase protocol")
        ->check(CLI::Range(2, 50))
        ->capture_default_str();
    app.add_option("--node-settle", config.nodeSettleMs,
                   "ms to wait after a killed node rejoined, before the next node death")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    app.add_option("--attempts", config.attempts,
                   "clusters formed per token when one breaks (e.g. quorum lost under load)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_flag("--cpg-only", config.cpgOnly, "no gsd: only the CPG and ZeroMQ rows");

    RoleOptions role;
    CLI::App *roleCommand = app.add_subcommand("role", "run as a GSAPI child (roles.hpp)");
    addRoleOptions(*roleCommand, role);
    std::string netns, group, endpoint;
    int node = 0, reportFd = -1, commandFd = -1;
    CLI::App *agentCommand = app.add_subcommand("cpg-agent", "run as a CPG agent in a node");
    agentCommand->add_option("--netns", netns)->required();
    agentCommand->add_option("--group", group)->required();
    agentCommand->add_option("--node", node)->required();
    agentCommand->add_option("--report-fd", reportFd)->required();
    agentCommand->add_option("--command-fd", commandFd)->required();
    CLI::App *echoCommand = app.add_subcommand("zmq-echo", "run as the ZeroMQ echo process");
    echoCommand->add_option("--endpoint", endpoint)->required();
    app.require_subcommand(0, 1);

    CLI11_PARSE(app, argc, argv);
    if (*roleCommand)
        return runRole(role);
    if (*agentCommand)
        return cpg::runAgent(netns, group, node, reportFd, commandFd);
    if (*echoCommand) {
        runZmqEcho(endpoint);
        return 0;
    }
    config.warmup = warmup.value_or(config.iterations / 10);
    /* A write to a killed agent's command pipe must not end the run. */
    std::signal(SIGPIPE, SIG_IGN);

    doctest::Context context;
    context.setCout(&std::cerr);
    context.setOption("no-intro", true);
    context.setOption("minimal", true);
    const int failed = context.run();
    /* A set-up failure (the harness's FAIL) is counted by doctest and
     * caught by runClusterBench: the rows of the other tokens still print. */
    if (g_result.rows.empty())
        return 1;
    printTable(g_result.rows);
    if (!g_result.notes.empty()) {
        std::printf("\nClusters that broke (each formed again, up to --attempts):\n\n");
        for (const auto &note : g_result.notes)
            std::printf("- %s\n", note.c_str());
    }
    return failed || !g_result.complete ? 1 : 0;
}
