// SPDX-License-Identifier: MIT
/* Scenario 3: an n-phase state change in a group of 1, 2, 8 or 32
 * providers that all vote approve, so the protocol ends after one phase:
 * the time measured is the time of that phase (proposal, n-phase
 * notification to every provider, every vote, approved callback). */
#include "gs_client.hpp"
#include "roles.hpp"
#include "scenarios.hpp"

#include <csignal>

namespace bench {

namespace {

const int kProviderCounts[] = {1, 2, 8, 32};

} // namespace

void runNPhase(const Config &config)
{
    PrivateGsd gsd(config.gsd);
    gs::init();
    for (int providers : kProviderCounts) {
        const std::string group = "nphase-" + std::to_string(providers);
        const ha_gs_token_t token = gs::joinAndAwait(group, 1, HA_GS_N_PHASE);

        /* The others join one by one; every join is an n-phase protocol this
         * process votes on, which awaitReports lets it do. */
        ReportPipe pipe;
        std::vector<pid_t> children;
        for (int i = 1; i < providers; i++) {
            children.push_back(
                spawnRole("provider", i, pipe,
                          {"--group", group, "--instance", std::to_string(i + 1), "--n-phase"}));
            awaitReports(pipe, 1, {Report::Ready});
        }

        const int iterations = fraction(config.iterations, providers >= 8 ? 8 : 2, 50);
        const int warmup = fraction(config.warmup, providers >= 8 ? 8 : 2, 10);
        emitLatency(
            "nphase.providers=" + std::to_string(providers),
            summarize(measureStateChanges(token, HA_GS_N_PHASE, nullptr, 0, warmup, iterations)
                          .approvedUs));
        killAndReap(children, SIGTERM);
        gs::check(ha_gs_goodbye(token), "ha_gs_goodbye");
    }
    ha_gs_quit();
}

} // namespace bench
