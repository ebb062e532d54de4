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
#include "options.hpp"
#include "roles.hpp"
#include "scenarios.hpp"

#include <cstdio>
#include <map>
#include <sstream>
#include <stdexcept>

#ifndef HA_GS_BENCH_GSD
#define HA_GS_BENCH_GSD "gsd"
#endif

namespace {

/* "1,10,100": positive numbers separated by commas. */
std::vector<int> numberList(const bench::Options &options, const std::string &name,
                            const std::string &fallback)
{
    std::vector<int> numbers;
    std::stringstream words(options.text(name, fallback));
    for (std::string word; std::getline(words, word, ',');) {
        size_t used = 0;
        int number = 0;
        try {
            number = std::stoi(word, &used);
        } catch (const std::exception &) {
        }
        if (used != word.size() || number <= 0)
            throw std::runtime_error("--" + name + " needs positive numbers separated by commas");
        numbers.push_back(number);
    }
    if (numbers.empty())
        throw std::runtime_error("--" + name + " needs at least one number");
    return numbers;
}

} // namespace

int main(int argc, char **argv)
{
    using namespace bench;
    try {
        const Options options(argc, argv, 1);
        if (!options.positional.empty() && options.positional[0] == "role")
            return runRole(options);

        Config config{};
        config.gsd = options.text("gsd", HA_GS_BENCH_GSD);
        config.iterations = static_cast<int>(options.number("iterations", 2000));
        config.warmup = static_cast<int>(options.number("warmup", config.iterations / 10));
        config.fanoutBudget = static_cast<int>(options.number("fanout-budget", 300000));
        config.failureRounds = static_cast<int>(options.number("failure-rounds", 100));
        config.scaleGroups = static_cast<int>(options.number("scale-groups", 10000));
        config.fanoutSubscribers = numberList(options, "fanout-subscribers", "1,10,100,1000");
        config.fanoutProviders = numberList(options, "fanout-providers", "4,16,64");
        if (config.iterations <= 0 || config.warmup < 0 || config.fanoutBudget <= 0 ||
            config.failureRounds <= 0 || config.scaleGroups <= 0 || options.positional.empty())
            throw std::runtime_error(
                "usage: bench_gs [--gsd PATH] [--iterations N] [--warmup N] "
                "[--fanout-budget N] [--failure-rounds N] "
                "[--scale-groups N] [--fanout-subscribers N,N...] [--fanout-providers N,N...] "
                "latency|nphase|fanout|fanout-parallel|failure|scale...");

        const std::map<std::string, void (*)(const Config &)> scenarios = {
            {"latency", runLatency}, {"nphase", runNPhase},
            {"fanout", runFanout},   {"fanout-parallel", runFanoutParallel},
            {"failure", runFailure}, {"scale", runScale}};
        for (const std::string &name : options.positional) {
            const auto it = scenarios.find(name);
            if (it == scenarios.end())
                throw std::runtime_error("unknown scenario '" + name + "'");
            it->second(config);
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_gs: %s\n", e.what());
        return 1;
    }
    return 0;
}
