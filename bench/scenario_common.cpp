// SPDX-License-Identifier: MIT
#include "gs_client.hpp"
#include "roles.hpp"
#include "scenarios.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <poll.h>
#include <unistd.h>

namespace bench {

int64_t awaitReports(ReportPipe &pipe, size_t count, std::initializer_list<int32_t> kinds)
{
    const int64_t deadline = nowNs() + 60'000'000'000;
    int64_t latest = 0;
    for (size_t seen = 0; seen < count;) {
        pollfd fds[2] = {{pipe.readFd(), POLLIN, 0}, {gs::descriptor(), POLLIN, 0}};
        const int ready = poll(fds, gs::descriptor() >= 0 ? 2 : 1, 100);
        if (ready < 0 && errno != EINTR)
            throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        if (nowNs() > deadline)
            throw std::runtime_error("children did not report within 60 s (" +
                                     std::to_string(seen) + " of " + std::to_string(count) +
                                     " reports)");
        if (ready <= 0)
            continue;
        if (fds[1].revents & POLLIN)
            gs::dispatchFor(0);
        if (fds[0].revents & POLLIN) {
            const Report report = pipe.read();
            if (std::find(kinds.begin(), kinds.end(), report.kind) == kinds.end())
                continue;
            latest = std::max(latest, report.atNs);
            seen++;
        }
    }
    return latest;
}

std::vector<pid_t> startReadyChildren(ReportPipe &pipe, int count, const std::string &role,
                                      const std::vector<std::string> &args)
{
    std::vector<pid_t> pids;
    /* In batches: a thousand ha_gs_init at once on a busy machine outlast
     * the library's connect timeout. */
    constexpr int kBatch = 50;
    for (int first = 0; first < count; first += kBatch) {
        const int batch = std::min(kBatch, count - first);
        for (int i = first; i < first + batch; i++)
            pids.push_back(spawnRole(role, i, pipe, args));
        awaitReports(pipe, static_cast<size_t>(batch), {Report::Ready});
    }
    return pids;
}

std::vector<pid_t> startSubscribers(ReportPipe &pipe, int count, const std::string &group,
                                    ha_gs_subscription_ctrl_t flags,
                                    const std::vector<std::string> &extra)
{
    std::vector<std::string> args = {"--group", group, "--flags", std::to_string(flags)};
    args.insert(args.end(), extra.begin(), extra.end());
    return startReadyChildren(pipe, count, "subscriber", args);
}

double timeOneJoin(const std::string &group, int round)
{
    const int64_t seen = gs::approvedCount(HA_GS_JOIN);
    const int64_t start = nowNs();
    /* Instances 2 and 3 alternate: 1 may be a standing provider, and a
     * goodbye's failure leave may still hold the previous instance. */
    const ha_gs_token_t token = gs::join(group, static_cast<short>(2 + round % 2), HA_GS_1_PHASE);
    const int64_t approvedAt = gs::awaitApproved(HA_GS_JOIN, seen, "join");
    gs::check(ha_gs_goodbye(token), "ha_gs_goodbye");
    return toUs(approvedAt - start);
}

Summary measureJoin(const std::string &group, int warmup, int iterations)
{
    std::vector<double> samples;
    for (int i = 0; i < warmup + iterations; i++) {
        const double us = timeOneJoin(group, i);
        if (i >= warmup)
            samples.push_back(us);
    }
    return summarize(samples);
}

Samples measureStateChanges(ha_gs_token_t token, ha_gs_num_phases_t phases, ReportPipe *pipe,
                            int subscribers, int warmup, int iterations)
{
    const char *what = phases == HA_GS_N_PHASE ? "n-phase state change" : "state change";
    Samples samples;
    for (int i = 0; i < warmup + iterations; i++) {
        const int64_t seen = gs::approvedCount(HA_GS_STATE_VALUE_CHANGE);
        const int64_t start = nowNs();
        gs::changeState(token, phases, i);
        const int64_t approvedAt = gs::awaitApproved(HA_GS_STATE_VALUE_CHANGE, seen, what);
        const int64_t lastAt =
            pipe ? awaitReports(*pipe, static_cast<size_t>(subscribers), {HA_GS_SUBSCRIPTION_STATE})
                 : approvedAt;
        if (i >= warmup) {
            samples.approvedUs.push_back(toUs(approvedAt - start));
            samples.lastSubscriberUs.push_back(toUs(lastAt - start));
        }
    }
    return samples;
}

int fraction(int iterations, int divisor, int floor)
{
    return std::max(iterations / divisor, floor);
}

} // namespace bench
