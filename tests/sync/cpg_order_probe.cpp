/* SPDX-License-Identifier: MIT */
/*
 * A manual check of CpgOrder against real Corosync daemons (not part of the
 * test suites; the cross-node tests with gsd are tests/cluster's): runs the
 * order with the simulated tests' fake host, submits a ClientHello every
 * --interval-ms while synced and --submit-seconds have not passed, and
 * at --settle-seconds (default: one second before --seconds) prints one
 * line: node, synced, inputs held, digest; again when it ends.
 * Transitions (synced, unsynced, timekeeper) are printed as they happen.
 *
 *   cpg_order_probe [--domain D] [--seconds N] [--submit-seconds S]
 *                   [--interval-ms I] [--digest-ms P]
 *
 * Run one per node (e.g. in corosync-netns.sh's namespaces, started at
 * once or staggered, killed with SIGKILL): nodes that stay synced print
 * the same digest.
 */
#include "gsd/corosync_info.hpp"
#include "gsd/cpg_order.hpp"
#include "sync_sim.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <poll.h>
#include <string>

using namespace gs;
using Clock = std::chrono::steady_clock;

namespace {

struct PrintingHost final : DomainHost {
    test::FakeHost state;
    int node = 0;
    std::string snapshotState() const override { return state.snapshotState(); }
    void restoreState(std::string_view blob) override
    {
        state.restoreState(blob);
        std::printf("node %d: restored %zu inputs\n", node, state.state.size());
    }
    StateDigest stateDigest() const override { return state.stateDigest(); }
    void synced() override
    {
        state.synced();
        std::printf("node %d: synced\n", node);
        std::fflush(stdout);
    }
    void unsynced(Unsync why) override
    {
        state.unsynced(why);
        std::printf("node %d: unsynced (%d)\n", node, static_cast<int>(why));
        std::fflush(stdout);
    }
    void becameTimekeeper() override
    {
        std::printf("node %d: timekeeper\n", node);
        std::fflush(stdout);
    }
};

long option(int argc, char **argv, const char *name, long fallback)
{
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], name) == 0)
            return std::strtol(argv[i + 1], nullptr, 10);
    return fallback;
}

} // namespace

int main(int argc, char **argv)
{
    std::string domain = "probe";
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--domain") == 0)
            domain = argv[i + 1];
    const auto seconds = std::chrono::seconds(option(argc, argv, "--seconds", 10));
    const auto submitFor = std::chrono::seconds(option(argc, argv, "--submit-seconds", 5));
    const auto interval = std::chrono::milliseconds(option(argc, argv, "--interval-ms", 10));
    const auto digestMs = std::chrono::milliseconds(option(argc, argv, "--digest-ms", 500));
    spdlog::set_level(spdlog::level::info);
    try {
        const CorosyncInfo info = readCorosyncInfo();
        std::printf("totem token %u ms, consensus %u ms;", info.tokenMs, info.consensusMs);
        for (const CorosyncNode &n : info.nodes)
            std::printf(" %u=%s@%s", n.nodeId, n.name.c_str(), n.ring0Addr.c_str());
        std::printf("\n");
        CpgOrder order(CpgOrderConfig{domain, digestMs});
        PrintingHost host;
        host.node = order.nodeId();
        order.onDelivery([&](const Input &input) { host.state.delivered(input); });
        order.attach(host);
        const auto start = Clock::now();
        auto nextSubmit = start;
        uint64_t serial = 0;
        const auto settle =
            std::chrono::seconds(option(argc, argv, "--settle-seconds", seconds.count() - 1));
        bool settled = false;
        while (Clock::now() - start < seconds) {
            if (!settled && Clock::now() - start >= settle) {
                settled = true;
                std::printf("node %d: settled synced=%d inputs=%zu digest=%016llx\n", host.node,
                            host.state.isSynced ? 1 : 0, host.state.state.size(),
                            static_cast<unsigned long long>(host.state.stateDigest()));
                std::fflush(stdout);
            }
            const auto now = Clock::now();
            if (host.state.isSynced && now - start < submitFor && now >= nextSubmit) {
                order.submit(Event{ClientHello{
                    (static_cast<ClientId>(host.node) << kClientSerialBits) | ++serial, false}});
                order.flush();
                nextSubmit = now + interval;
            }
            int timeout = static_cast<int>(interval.count());
            const int wanted = order.timeoutMs();
            if (wanted >= 0 && wanted < timeout)
                timeout = wanted;
            pollfd item{order.fd(), POLLIN, 0};
            ::poll(&item, 1, timeout);
            order.deliverArrived();
            order.flush();
        }
        std::printf("node %d: ended synced=%d inputs=%zu digest=%016llx\n", host.node,
                    host.state.isSynced ? 1 : 0, host.state.state.size(),
                    static_cast<unsigned long long>(host.state.stateDigest()));
        return 0;
    } catch (const std::exception &error) {
        std::fprintf(stderr, "cpg_order_probe: %s\n", error.what());
        return 1;
    }
}
