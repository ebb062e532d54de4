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

namespace bench {

namespace {

const int kSubscriberCounts[] = {1, 10, 100, 1000};

/* gsd ends a session whose queue reaches its send high-water mark
 * (100,000 messages); K stays far below it. */
constexpr int kMaxChanges = 20000;

} // namespace

void runFanout(const Config &config)
{
    PrivateGsd gsd(config.gsd);
    gs::init();
    for (int subscribers : kSubscriberCounts) {
        const int changes = std::clamp(config.fanoutBudget / subscribers, 100, kMaxChanges);
        const std::string group = "fanout-" + std::to_string(subscribers);
        const int64_t joined = gs::approvedCount(HA_GS_JOIN);
        const ha_gs_token_t token = gs::join(group, 1, HA_GS_1_PHASE);
        gs::awaitApproved(HA_GS_JOIN, joined, "join");

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

} // namespace bench
