// SPDX-License-Identifier: MIT
/* Scenario 2: one-phase join and one-phase state change until the approved
 * callback, alone and with 1, 10 and 100 subscribers (then also the time
 * until the last subscriber ran its callback for the change). */
#include "gs_client.hpp"
#include "roles.hpp"
#include "scenarios.hpp"

#include <csignal>

namespace bench {

namespace {

const int kSubscriberCounts[] = {1, 10, 100};

void emit(const std::string &id, const Samples &samples)
{
    emitLatency(id, summarize(samples.lastSubscriberUs));
    emitLatency(id + ".approved", summarize(samples.approvedUs));
}

/* A standing provider (child, instance 1) keeps the group alive while this
 * process joins and says goodbye; subscribers ask for DELTA_JOIN only, so
 * the goodbyes do not reach them. */
void joinWithSubscribers(int subscribers, int warmup, int iterations)
{
    const std::string group = "latency-join-" + std::to_string(subscribers);
    ReportPipe pipe;
    const pid_t standing =
        spawnRole("provider", 10000, pipe, {"--group", group, "--instance", "1"});
    awaitReports(pipe, 1, {Report::Ready});
    const auto children =
        startSubscribers(pipe, subscribers, group, HA_GS_SUBSCRIBE_DELTA_JOIN, {"--each"});

    Samples samples;
    for (int i = 0; i < warmup + iterations; i++) {
        const int64_t seen = gs::approvedCount(HA_GS_JOIN);
        const int64_t start = nowNs();
        const ha_gs_token_t token = gs::join(group, static_cast<short>(2 + i % 2), HA_GS_1_PHASE);
        const int64_t approvedAt = gs::awaitApproved(HA_GS_JOIN, seen, "join");
        const int64_t lastAt =
            awaitReports(pipe, static_cast<size_t>(subscribers), {HA_GS_SUBSCRIPTION_DELTA_JOIN});
        if (i >= warmup) {
            samples.approvedUs.push_back(toUs(approvedAt - start));
            samples.lastSubscriberUs.push_back(toUs(lastAt - start));
        }
        gs::check(ha_gs_goodbye(token), "ha_gs_goodbye");
    }
    killAndReap(children, SIGTERM);
    killAndReap(standing, SIGTERM);
    emit("join.subs=" + std::to_string(subscribers), samples);
}

} // namespace

void runLatency(const Config &config)
{
    PrivateGsd gsd(config.gsd);
    gs::init();

    emitLatency("join.subs=0", measureJoin("latency-join", config.warmup, config.iterations));

    const std::string stateGroup = "latency-state";
    const ha_gs_token_t token = gs::joinAndAwait(stateGroup, 1, HA_GS_1_PHASE);
    emitLatency("state.subs=0", summarize(measureStateChanges(token, HA_GS_1_PHASE, nullptr, 0,
                                                              config.warmup, config.iterations)
                                              .approvedUs));

    for (int subscribers : kSubscriberCounts) {
        const int iterations = fraction(config.iterations, subscribers >= 100 ? 10 : 4, 50);
        const int warmup = fraction(config.warmup, subscribers >= 100 ? 10 : 4, 10);
        {
            ReportPipe pipe;
            const auto children =
                startSubscribers(pipe, subscribers, stateGroup, HA_GS_SUBSCRIBE_STATE, {"--each"});
            emit("state.subs=" + std::to_string(subscribers),
                 measureStateChanges(token, HA_GS_1_PHASE, &pipe, subscribers, warmup, iterations));
            killAndReap(children, SIGTERM);
        }
        joinWithSubscribers(subscribers, warmup, iterations);
    }
    ha_gs_quit();
}

} // namespace bench
