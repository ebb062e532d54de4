// SPDX-License-Identifier: MIT
/* Scenario 6: scale. One gsd holds G groups of 2 providers and 10 G
 * subscriptions, spread over child processes because gsd admits at most
 * 4096 tokens per client. Reports gsd's resident memory per provider and
 * per subscription (VmRSS growth divided by the count) and the one-phase
 * join latency in an empty gsd and in the full one. */
#include "gs_client.hpp"
#include "roles.hpp"
#include "scenarios.hpp"

#include <algorithm>
#include <csignal>

namespace bench {

namespace {

constexpr int kSubscriptionsPerGroup = 10;
/* Below HA_GS_MAX_GROUPS_PER_CLIENT (4096), with room for nothing else. */
constexpr int kTokensPerClient = 4000;
constexpr int kGroupsPerProviderClient = 2000;

/* Two bulk providers (instances 1 and 2) per block of groups. */
std::vector<pid_t> startBulkProviders(ReportPipe &pipe, int groups)
{
    std::vector<pid_t> pids;
    int child = 0;
    for (int first = 0; first < groups; first += kGroupsPerProviderClient) {
        const int count = std::min(kGroupsPerProviderClient, groups - first);
        for (int instance = 1; instance <= 2; instance++)
            pids.push_back(
                spawnRole("bulk-provider", child++, pipe,
                          {"--first", std::to_string(first), "--count", std::to_string(count),
                           "--instance", std::to_string(instance)}));
    }
    awaitReports(pipe, pids.size(), {Report::Done});
    return pids;
}

/* Client i subscribes to a run of consecutive groups starting where client
 * i-1 stopped, wrapping around; a run is shorter than the number of groups,
 * so no client subscribes twice to one group. */
std::vector<pid_t> startBulkSubscribers(ReportPipe &pipe, int groups, int subscriptions)
{
    std::vector<pid_t> pids;
    const int perClient = std::min(kTokensPerClient, groups);
    int child = 100;
    for (int first = 0; first < subscriptions; first += perClient) {
        const int count = std::min(perClient, subscriptions - first);
        pids.push_back(spawnRole("bulk-subscriber", child++, pipe,
                                 {"--first", std::to_string(first % groups), "--count",
                                  std::to_string(count), "--groups", std::to_string(groups)}));
    }
    awaitReports(pipe, pids.size(), {Report::Done});
    return pids;
}

} // namespace

void runScale(const Config &config)
{
    const int groups = config.scaleGroups;
    const int providers = 2 * groups;
    const int subscriptions = kSubscriptionsPerGroup * groups;
    const int iterations = fraction(config.iterations, 2, 100);
    PrivateGsd gsd(config.gsd);
    gs::init();

    const Summary emptyJoin = measureJoin("scale-probe", config.warmup, iterations);
    const int64_t baseRss = residentBytes(gsd.pid());

    ReportPipe pipe;
    const int64_t providersStart = nowNs();
    const auto providerPids = startBulkProviders(pipe, groups);
    const double providersSeconds = static_cast<double>(nowNs() - providersStart) / 1e9;
    const int64_t providersRss = residentBytes(gsd.pid());

    const int64_t subscriptionsStart = nowNs();
    const auto subscriberPids = startBulkSubscribers(pipe, groups, subscriptions);
    const double subscriptionsSeconds = static_cast<double>(nowNs() - subscriptionsStart) / 1e9;
    const int64_t fullRss = residentBytes(gsd.pid());

    const Summary fullJoin = measureJoin("scale-probe", config.warmup, iterations);

    /* The empty gsd once more, after the others are gone, so that a drift in
     * the machine's load between the two measurements shows. */
    killAndReap(subscriberPids, SIGKILL);
    killAndReap(providerPids, SIGKILL);
    waitUntilIdle(gsd.pid());
    const Summary emptiedJoin = measureJoin("scale-probe", config.warmup, iterations);

    emitLatency("scale.join.groups=1", emptyJoin);
    emitLatency("scale.join.groups=" + std::to_string(groups), fullJoin);
    emitLatency("scale.join.groups=1.after", emptiedJoin);
    emitValues(
        "scale.memory",
        {{"groups", groups},
         {"providers", providers},
         {"subscriptions", subscriptions},
         {"client_processes", static_cast<double>(providerPids.size() + subscriberPids.size())},
         {"rss_empty_bytes", static_cast<double>(baseRss)},
         {"rss_providers_bytes", static_cast<double>(providersRss)},
         {"rss_full_bytes", static_cast<double>(fullRss)},
         {"bytes_per_provider", static_cast<double>(providersRss - baseRss) / providers},
         {"bytes_per_subscription", static_cast<double>(fullRss - providersRss) / subscriptions},
         {"providers_seconds", providersSeconds},
         {"subscriptions_seconds", subscriptionsSeconds}});
    ha_gs_quit();
}

} // namespace bench
