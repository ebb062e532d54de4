// SPDX-License-Identifier: MIT
/* Scenario 5: failure detection. A group with this process as provider,
 * a second provider in a child, and 10 subscribers of DELTA_LEAVE. The
 * child is killed with SIGKILL; timed until this process's approved
 * callback of the failure leave, and until the last subscriber has its
 * delta-leave notification. A new child joins for every round. */
#include "gs_client.hpp"
#include "roles.hpp"
#include "scenarios.hpp"

#include <csignal>

#include <sys/wait.h>

namespace bench {

namespace {

constexpr int kSubscribers = 10;

} // namespace

void runFailure(const Config &config)
{
    PrivateGsd gsd(config.gsd);
    gs::init();
    const std::string group = "failure";
    const ha_gs_token_t token = gs::joinAndAwait(group, 1, HA_GS_1_PHASE);

    ReportPipe pipe;
    const auto subscribers =
        startSubscribers(pipe, kSubscribers, group, HA_GS_SUBSCRIBE_DELTA_LEAVE, {"--each"});

    std::vector<double> providerUs;
    std::vector<double> subscribersUs;
    for (int round = 0; round < config.failureRounds; round++) {
        const int64_t victimJoins = gs::approvedCount(HA_GS_JOIN);
        const pid_t victim =
            spawnRole("provider", 1000 + round, pipe,
                      {"--group", group, "--instance", std::to_string(2 + round % 2)});
        awaitReports(pipe, 1, {Report::Ready});
        gs::awaitApproved(HA_GS_JOIN, victimJoins, "the victim's join");

        const int64_t leaves = gs::approvedCount(HA_GS_FAILURE_LEAVE);
        const int64_t start = nowNs();
        kill(victim, SIGKILL);
        const int64_t approvedAt = gs::awaitApproved(HA_GS_FAILURE_LEAVE, leaves, "failure leave");
        const int64_t lastAt = awaitReports(pipe, kSubscribers, {HA_GS_SUBSCRIPTION_DELTA_LEAVE});
        providerUs.push_back(toUs(approvedAt - start));
        subscribersUs.push_back(toUs(lastAt - start));
        int status = 0;
        waitpid(victim, &status, 0);
    }
    emitLatency("failure.provider", summarize(providerUs));
    emitLatency("failure.subscribers", summarize(subscribersUs));
    killAndReap(subscribers, SIGTERM);
    gs::check(ha_gs_goodbye(token), "ha_gs_goodbye");
    ha_gs_quit();
}

} // namespace bench
