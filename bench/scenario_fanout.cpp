// SPDX-License-Identifier: MIT
/* Scenario 4: fan-out throughput. One provider makes K one-phase state
 * changes back to back (each ha_gs_change_state_value waits for its reply,
 * not for the subscribers); S subscriber processes each count K
 * notifications. The run lasts from the first request until the last
 * subscriber has its K-th notification. */
#include "gs_client.hpp"
#include "roles.hpp"
#include "scenarios.hpp"

#include <algorithm>
#include <csignal>
#include <memory>

namespace bench {

namespace {

/* gsd ends a session whose queue reaches its send queue limit (10,000
 * messages, --send-queue-limit); K changes to one subscriber stay below it
 * as long as the subscriber keeps up within that many. */
constexpr int kMaxChanges = 20000;

} // namespace

void runFanout(const Config &config)
{
    PrivateGsd gsd(config.gsd);
    gs::init();
    for (int subscribers : config.fanoutSubscribers) {
        const int changes = std::clamp(config.fanoutBudget / subscribers, 100, kMaxChanges);
        const std::string group = "fanout-" + std::to_string(subscribers);
        const ha_gs_token_t token = gs::joinAndAwait(group, 1, HA_GS_1_PHASE);

        ReportPipe pipe;
        const auto children = startSubscribers(pipe, subscribers, group, HA_GS_SUBSCRIBE_STATE,
                                               {"--count", std::to_string(changes)});
        const int64_t start = nowNs();
        for (int i = 0; i < changes; i++) {
            gs::changeState(token, HA_GS_1_PHASE, i);
            gs::dispatchFor(0);
        }
        const int64_t issuedAt = nowNs();
        const int64_t lastAt = awaitReports(pipe, static_cast<size_t>(subscribers), {Report::Done});
        const double seconds = static_cast<double>(lastAt - start) / 1e9;
        const double notifications = static_cast<double>(changes) * subscribers;
        emitValues("fanout.subs=" + std::to_string(subscribers),
                   {{"subscribers", subscribers},
                    {"changes", changes},
                    {"seconds", seconds},
                    {"changes_per_s", changes / seconds},
                    {"notifications_per_s", notifications / seconds},
                    {"ns_per_notification", seconds * 1e9 / notifications},
                    {"issue_seconds", static_cast<double>(issuedAt - start) / 1e9}});
        killAndReap(children, SIGTERM);
        gs::check(ha_gs_goodbye(token), "ha_gs_goodbye");
    }
    ha_gs_quit();
}

namespace {

/* One fanout-parallel run on gsd: `pushers` providers, `subscribers`
 * subscribers to all their groups. */
void runFanoutParallelOnce(const Config &config, int pushers, int subscribers)
{
    const int changes =
        std::clamp(config.fanoutBudget / (subscribers * pushers), 50, kMaxChanges / pushers);
    const std::string prefix =
        "fanpar-" + std::to_string(pushers) + "-" + std::to_string(subscribers) + "-";
    ReportPipe pipe;
    std::vector<std::unique_ptr<CommandPipe>> commands;
    std::vector<pid_t> pusherPids;
    std::string groups;
    for (int p = 0; p < pushers; p++) {
        const std::string group = prefix + std::to_string(p);
        groups += (p ? "," : "") + group;
        commands.push_back(std::make_unique<CommandPipe>());
        pusherPids.push_back(spawnRole(
            "pusher", 10000 + p, pipe,
            {"--group", group, "--command-fd", std::to_string(commands.back()->childFd())}));
        commands.back()->childStarted();
    }
    awaitReports(pipe, static_cast<size_t>(pushers), {Report::Ready});
    const auto children =
        startReadyChildren(pipe, subscribers, "multi-subscriber",
                           {"--groups", groups, "--count", std::to_string(changes * pushers)});
    const int64_t start = nowNs();
    for (auto &command : commands)
        command->send(changes);
    const int64_t lastAt =
        awaitReports(pipe, static_cast<size_t>(subscribers + pushers), {Report::Done});
    const double seconds = static_cast<double>(lastAt - start) / 1e9;
    const double total = static_cast<double>(changes) * pushers;
    const double notifications = total * subscribers;
    emitValues("fanout-parallel.providers=" + std::to_string(pushers) +
                   ".subs=" + std::to_string(subscribers),
               {{"subscribers", subscribers},
                {"providers", pushers},
                {"changes", total},
                {"seconds", seconds},
                {"changes_per_s", total / seconds},
                {"notifications_per_s", notifications / seconds},
                {"ns_per_notification", seconds * 1e9 / notifications}});
    killAndReap(children, SIGTERM);
    killAndReap(pusherPids, SIGTERM);
}

} // namespace

/* The same with P providers, each in its own group, pushing state changes
 * at the same time; every subscriber subscribes to all their groups. gsd
 * then has several requests per wake-up and sends each subscriber the
 * notifications they cause as one ZeroMQ message: this is gsd's fan-out
 * capacity, where the single-provider run above is bounded by one
 * provider's round trip (a group runs one protocol at a time). */
void runFanoutParallel(const Config &config)
{
    for (int pushers : config.fanoutProviders) {
        PrivateGsd gsd(config.gsd);
        for (int subscribers : config.fanoutSubscribers)
            runFanoutParallelOnce(config, pushers, subscribers);
    }
}

} // namespace bench
