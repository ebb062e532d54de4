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
                                  std::to_string(count), "--group-count", std::to_string(groups)}));
    }
    awaitReports(pipe, pids.size(), {Report::Done});
    return pids;
}

/* A child timing joins in the gsd HA_GS_SOCKET names when it starts. */
class JoinProbe {
  public:
    JoinProbe(ReportPipe &pipe, int child)
        : pid_(spawnRole(
              "join-probe", 200 + child, pipe,
              {"--group", "scale-probe", "--command-fd", std::to_string(commands_.childFd())}))
    {
        commands_.childStarted();
    }
    ~JoinProbe() { killAndReap(pid_, SIGTERM); }
    JoinProbe(const JoinProbe &) = delete;
    JoinProbe &operator=(const JoinProbe &) = delete;

    /* `count` joins; their times in microseconds. */
    std::vector<double> run(ReportPipe &pipe, int count)
    {
        commands_.send(count);
        std::vector<double> samples;
        for (;;) {
            const Report report = pipe.read();
            if (report.kind == Report::Done)
                return samples;
            if (report.kind == Report::Sample)
                samples.push_back(toUs(report.atNs));
        }
    }

  private:
    CommandPipe commands_;
    pid_t pid_;
};

} // namespace

void runScale(const Config &config)
{
    const int groups = config.scaleGroups;
    const int providers = 2 * groups;
    const int subscriptions = kSubscriptionsPerGroup * groups;
    ReportPipe pipe;

    /* Join latency is compared between two gsds, one empty and one full,
     * by two probe processes measuring in alternate blocks: the machine's
     * load drifts more than 10 % between two measurements minutes apart. */
    PrivateGsd emptyGsd(config.gsd);
    JoinProbe emptyProbe(pipe, 0);
    PrivateGsd fullGsd(config.gsd);
    JoinProbe fullProbe(pipe, 1);
    awaitReports(pipe, 2, {Report::Ready});
    emptyProbe.run(pipe, config.warmup);
    fullProbe.run(pipe, config.warmup);
    const int64_t baseRss = residentBytes(fullGsd.pid());

    const int64_t providersStart = nowNs();
    const auto providerPids = startBulkProviders(pipe, groups);
    const double providersSeconds = static_cast<double>(nowNs() - providersStart) / 1e9;
    const int64_t providersRss = residentBytes(fullGsd.pid());

    const int64_t subscriptionsStart = nowNs();
    const auto subscriberPids = startBulkSubscribers(pipe, groups, subscriptions);
    const double subscriptionsSeconds = static_cast<double>(nowNs() - subscriptionsStart) / 1e9;
    const int64_t fullRss = residentBytes(fullGsd.pid());

    const int iterations = fraction(config.iterations, 2, 100);
    constexpr int kBlocks = 100;
    std::vector<double> emptySamples;
    std::vector<double> fullSamples;
    for (int block = 0; block < kBlocks; block++) {
        /* Alternate which goes first, too. */
        JoinProbe &first = block % 2 ? fullProbe : emptyProbe;
        JoinProbe &second = block % 2 ? emptyProbe : fullProbe;
        auto &firstSamples = block % 2 ? fullSamples : emptySamples;
        auto &secondSamples = block % 2 ? emptySamples : fullSamples;
        const auto add = [](std::vector<double> &to, const std::vector<double> &from) {
            to.insert(to.end(), from.begin(), from.end());
        };
        add(firstSamples, first.run(pipe, iterations / kBlocks));
        add(secondSamples, second.run(pipe, iterations / kBlocks));
    }

    emitLatency("scale.join.groups=1", summarize(emptySamples));
    emitLatency("scale.join.groups=" + std::to_string(groups), summarize(fullSamples));
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
    /* gsd first: then the children lose their connection and exit, and gsd
     * is not kept busy dissolving 10,000 groups. */
    fullGsd.stop();
    killAndReap(subscriberPids, SIGTERM);
    killAndReap(providerPids, SIGTERM);
}

} // namespace bench
