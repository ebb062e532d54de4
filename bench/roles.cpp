// SPDX-License-Identifier: MIT
#include "roles.hpp"

#include "gs_client.hpp"
#include "scenarios.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <unordered_set>
#include <vector>

namespace bench {

namespace {

/* The child's side: who it is and where it reports. Callbacks are plain
 * functions, so the state they update is file-wide. */
int g_child = 0;
int g_reportFd = -1;
bool g_reportEach = false;
int64_t g_notifications = 0;
int64_t g_doneAfter = -1;
/* Subscriptions that had their initial notification (bulk subscribers). */
std::unordered_set<ha_gs_token_t> g_greeted;

void report(int32_t kind, int64_t atNs)
{
    sendReport(g_reportFd, Report{g_child, kind, g_notifications, atNs});
}

/* The initial notification may come as one or several notifications; the
 * first one for a token is what counts. */
void onBulkSubscription(const ha_gs_subscription_notification_t *n)
{
    g_greeted.insert(n->gs_subscriber_token);
}

void onSubscription(const ha_gs_subscription_notification_t *n)
{
    const int64_t at = nowNs();
    g_notifications++;
    if (g_reportEach)
        report(static_cast<int32_t>(n->gs_subscription_type), at);
    else if (g_notifications == g_doneAfter)
        report(Report::Done, at);
}

/* Until the parent kills us (or gsd goes away). */
void serveForever()
{
    while (gs::dispatchFor(1000)) {
    }
}

/* Subscribes to one group; reports Ready once the subscription is in place
 * (after its initial notification, if the flags ask for one). Then, with
 * --each, reports every notification (kind = subscription type); otherwise
 * reports Done when --count notifications arrived after the initial one. */
void runSubscriber(const RoleOptions &o)
{
    const auto flags = static_cast<ha_gs_subscription_ctrl_t>(o.flags);
    const bool initialExpected =
        (flags & (HA_GS_SUBSCRIBE_STATE | HA_GS_SUBSCRIBE_DELTA_JOIN | HA_GS_SUBSCRIBE_MEMBERSHIP));
    gs::init();
    gs::subscribe(o.group, flags, onSubscription);
    while (initialExpected && g_notifications == 0)
        if (!gs::dispatchFor(1000))
            throw std::runtime_error("connection lost before the initial notification");
    g_notifications = 0;
    g_reportEach = o.each;
    g_doneAfter = o.count.value_or(-1);
    report(Report::Ready, nowNs());
    serveForever();
}

/* Joins one group and stays a provider, voting approve, until killed. */
void runProvider(const RoleOptions &o)
{
    const auto phases = o.nPhase ? HA_GS_N_PHASE : HA_GS_1_PHASE;
    gs::init();
    gs::joinAndAwait(o.group, o.instance, phases);
    report(Report::Ready, nowNs());
    serveForever();
}

std::string scaleGroup(long long index)
{
    return "scale-" + std::to_string(index);
}

/* Joins groups scale-FIRST .. scale-(FIRST+COUNT-1) without waiting for each
 * approval, then reports Done when all are approved. */
void runBulkProvider(const RoleOptions &o)
{
    const long long first = o.first;
    const long long count = o.count.value_or(0);
    const auto instance = o.instance;
    gs::init();
    for (long long i = 0; i < count; i++) {
        gs::join(scaleGroup(first + i), instance, HA_GS_1_PHASE);
        gs::dispatchFor(0);
    }
    while (gs::approvedCount(HA_GS_JOIN) < count)
        if (!gs::dispatchFor(1000))
            throw std::runtime_error("connection lost during bulk joins");
    report(Report::Done, nowNs());
    serveForever();
}

/* Subscribes to COUNT groups from FIRST on, wrapping at GROUP-COUNT; reports Done
 * when every initial notification arrived. */
void runBulkSubscriber(const RoleOptions &o)
{
    const long long first = o.first;
    const long long count = o.count.value_or(0);
    const long long groups = o.groupCount;
    gs::init();
    for (long long i = 0; i < count; i++) {
        gs::subscribe(scaleGroup((first + i) % groups),
                      HA_GS_SUBSCRIBE_STATE | HA_GS_SUBSCRIBE_ALL_MEMBERSHIP, onBulkSubscription);
        gs::dispatchFor(0);
    }
    while (static_cast<long long>(g_greeted.size()) < count)
        if (!gs::dispatchFor(1000))
            throw std::runtime_error("connection lost during bulk subscriptions");
    report(Report::Done, nowNs());
    serveForever();
}

/* Subscribes (state only) to every group in --groups (comma-separated); the
 * first notification of each subscription is its initial one. Reports Ready
 * when all are greeted, then Done when --count more notifications arrived
 * over all of them. */
void onMultiSubscription(const ha_gs_subscription_notification_t *n)
{
    if (g_greeted.insert(n->gs_subscriber_token).second)
        return;
    g_notifications++;
    if (g_notifications == g_doneAfter)
        report(Report::Done, nowNs());
}

void runMultiSubscriber(const RoleOptions &o)
{
    const std::vector<std::string> &groups = o.groups;
    g_doneAfter = o.count.value_or(-1);
    gs::init();
    for (const std::string &group : groups)
        gs::subscribe(group, HA_GS_SUBSCRIBE_STATE, onMultiSubscription);
    while (g_greeted.size() < groups.size())
        if (!gs::dispatchFor(1000))
            throw std::runtime_error("connection lost before the initial notifications");
    report(Report::Ready, nowNs());
    serveForever();
}

/* Joins --group, reports Ready, then for each command K makes K one-phase
 * state changes back to back (each waits for its reply only) and reports
 * Done. */
void runPusher(const RoleOptions &o)
{
    const int commandFd = o.commandFd;
    gs::init();
    const ha_gs_token_t token = gs::joinAndAwait(o.group, 1, HA_GS_1_PHASE);
    report(Report::Ready, nowNs());
    int value = 0;
    for (int32_t count; (count = readCommand(commandFd)) > 0;) {
        for (int32_t i = 0; i < count; i++) {
            gs::changeState(token, HA_GS_1_PHASE, value++);
            gs::dispatchFor(0);
        }
        report(Report::Done, nowNs());
    }
}

/* Times joins on command: reads a count N from --command-fd, reports N
 * Samples (one-phase join until approved, in nanoseconds) and Done; stops
 * at 0 or when the parent closes the pipe. */
void runJoinProbe(const RoleOptions &o)
{
    const int commandFd = o.commandFd;
    const std::string group = o.group;
    gs::init();
    report(Report::Ready, nowNs());
    int round = 0;
    for (int32_t count; (count = readCommand(commandFd)) > 0;) {
        for (int32_t i = 0; i < count; i++) {
            const double us = timeOneJoin(group, round++);
            sendReport(g_reportFd,
                       Report{g_child, Report::Sample, i, static_cast<int64_t>(us * 1000.0)});
        }
        report(Report::Done, nowNs());
    }
}

} // namespace

int runRole(const RoleOptions &o)
{
    g_child = o.child;
    g_reportFd = o.reportFd;
    const std::string &role = o.role;
    try {
        if (role == "subscriber")
            runSubscriber(o);
        else if (role == "provider")
            runProvider(o);
        else if (role == "bulk-provider")
            runBulkProvider(o);
        else if (role == "bulk-subscriber")
            runBulkSubscriber(o);
        else if (role == "join-probe")
            runJoinProbe(o);
        else if (role == "multi-subscriber")
            runMultiSubscriber(o);
        else if (role == "pusher")
            runPusher(o);
        else
            throw std::runtime_error("unknown role '" + role + "'");
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_gs role %s (child %d): %s\n", role.c_str(), g_child, e.what());
        return 1;
    }
    return 0;
}

void addRoleOptions(CLI::App &app, RoleOptions &o)
{
    app.add_option("name", o.role, "the role")->required();
    app.add_option("--child", o.child, "this child's number in its Reports");
    app.add_option("--report-fd", o.reportFd, "pipe to write Reports to");
    app.add_option("--group", o.group, "the group of subscriber, provider, pusher, join-probe");
    app.add_option("--groups", o.groups, "multi-subscriber: its groups")->delimiter(',');
    app.add_option("--group-count", o.groupCount, "bulk-subscriber: groups to wrap at")
        ->check(CLI::PositiveNumber);
    app.add_option("--flags", o.flags, "subscriber: ha_gs_subscription_ctrl_t flags");
    app.add_flag("--each", o.each, "subscriber: report every notification");
    app.add_option("--count", o.count, "notifications to wait for, or groups to join");
    app.add_flag("--n-phase", o.nPhase, "provider: join n-phase");
    app.add_option("--instance", o.instance, "provider instance number");
    app.add_option("--first", o.first, "bulk roles: the first scale group");
    app.add_option("--command-fd", o.commandFd, "pipe to read commands from");
}

pid_t spawnRole(const std::string &role, int child, const ReportPipe &pipe,
                const std::vector<std::string> &args)
{
    std::vector<std::string> all = {"role",        role,
                                    "--child",     std::to_string(child),
                                    "--report-fd", std::to_string(pipe.writeFd())};
    all.insert(all.end(), args.begin(), args.end());
    return spawnSelf(all);
}

} // namespace bench
