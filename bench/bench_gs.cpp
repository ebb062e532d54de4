// SPDX-License-Identifier: MIT
/*
 * bench_gs - the GSAPI scenarios of the benchmark suite (scenarios 2 to 6 of
 * docs/performance.md). Each scenario starts its own gsd in a temporary
 * directory and prints one JSON object per result line; scripts/bench.sh
 * runs them all and scripts/bench_report.py makes the table.
 *
 *   bench_gs [--gsd PATH] [--iterations N] [--warmup N] [--fanout-budget N]
 *            [--failure-rounds N] [--scale-groups N] [--fanout-subscribers N,N...]
 *            [--fanout-providers N,N...] SCENARIO...
 *
 * SCENARIO: latency, nphase, fanout, fanout-parallel, failure, scale. Nothing is asserted
 * about the numbers. "bench_gs role ..." is how the program starts its own
 * child processes (roles.hpp).
 */
#include "roles.hpp"
#include "scenarios.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>
#include <optional>
#include <stdexcept>

#ifndef HA_GS_BENCH_GSD
#define HA_GS_BENCH_GSD "gsd"
#endif

int main(int argc, char **argv)
{
    using namespace bench;
    const std::map<std::string, void (*)(const Config &)> scenarios = {
        {"latency", runLatency}, {"nphase", runNPhase},
        {"fanout", runFanout},   {"fanout-parallel", runFanoutParallel},
        {"failure", runFailure}, {"scale", runScale}};

    Config config{};
    config.gsd = HA_GS_BENCH_GSD;
    config.iterations = 2000;
    config.fanoutBudget = 300000;
    config.failureRounds = 100;
    config.scaleGroups = 10000;
    config.fanoutSubscribers = {1, 10, 100, 1000};
    config.fanoutProviders = {4, 16, 64};
    std::optional<int> warmup;
    std::vector<std::string> wanted;

    CLI::App app{"bench_gs - the GSAPI scenarios of the benchmark suite; prints one JSON "
                 "object per result"};
    app.add_option("--gsd", config.gsd, "gsd to start")->capture_default_str();
    app.add_option("--iterations", config.iterations, "timed rounds of each measurement")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--warmup", warmup, "untimed rounds first (default: iterations / 10)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--fanout-budget", config.fanoutBudget,
                   "notifications the fan-out scenarios send at each size")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--failure-rounds", config.failureRounds, "provider deaths timed")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--scale-groups", config.scaleGroups, "groups of the scale scenario")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--fanout-subscribers", config.fanoutSubscribers,
                   "subscriber counts of the fan-out scenario, N,N...")
        ->delimiter(',')
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--fanout-providers", config.fanoutProviders,
                   "provider counts of the parallel fan-out scenario, N,N...")
        ->delimiter(',')
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("scenario", wanted, "latency, nphase, fanout, fanout-parallel, failure, scale")
        ->check(CLI::IsMember(scenarios));

    /* How the program starts its own child processes (roles.hpp). */
    RoleOptions role;
    CLI::App *roleCommand = app.add_subcommand("role", "run as a child of a scenario");
    addRoleOptions(*roleCommand, role);
    app.require_subcommand(0, 1);

    CLI11_PARSE(app, argc, argv);
    if (*roleCommand)
        return runRole(role);
    if (wanted.empty()) {
        std::fprintf(stderr, "bench_gs: name at least one scenario\n%s", app.help().c_str());
        return 1;
    }
    config.warmup = warmup.value_or(config.iterations / 10);
    try {
        for (const std::string &name : wanted)
            scenarios.at(name)(config);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_gs: %s\n", e.what());
        return 1;
    }
    return 0;
}
