// SPDX-License-Identifier: MIT
#include "cluster_cpg.hpp"

#include "harness.hpp"

#include <corosync/cpg.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <stdexcept>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

namespace bench::cpg {

namespace {

/* What travels in the group: 20 bytes, the size of a small gsd request. */
struct Message {
    uint32_t kind; /* kRoundMessage, kProposal, kVote */
    uint32_t sequence;
    uint32_t phases; /* proposal: phases of the run */
    uint32_t phase;  /* vote: its phase */
    uint32_t node;   /* sender */
};
constexpr uint32_t kRoundMessage = 1;
constexpr uint32_t kProposal = 2;
constexpr uint32_t kVote = 3;

/* The agent's state; libcpg's callbacks are plain functions. */
struct Agent {
    cpg_handle_t handle = 0;
    int node = 0;
    int reportFd = -1;
    uint32_t pid = 0;
    size_t members = 0;
    uint32_t nextSequence = 1;
    /* The vote run in progress: the proposal's sequence, its phases, the
     * current phase and the members whose vote for it was delivered. */
    uint32_t runSequence = 0;
    uint32_t runPhases = 0;
    uint32_t runPhase = 0;
    bool runMine = false;
    std::set<uint32_t> voted;
    std::string error;
};
Agent g_agent;

void report(int32_t kind, int64_t count, int64_t atNs)
{
    sendReport(g_agent.reportFd, Report{g_agent.node, kind, count, atNs});
}

void multicast(const Message &message)
{
    iovec iov{const_cast<Message *>(&message), sizeof message};
    cs_error_t rc;
    /* TRY_AGAIN: Corosync's queue is full or it is syncing; the parent
     * waits for the delivery, so a retry here only delays this sample. */
    while ((rc = cpg_mcast_joined(g_agent.handle, CPG_TYPE_AGREED, &iov, 1)) == CS_ERR_TRY_AGAIN)
        usleep(100);
    if (rc != CS_OK)
        g_agent.error = "cpg_mcast_joined: corosync error " + std::to_string(rc);
}

void vote(uint32_t sequence, uint32_t phase)
{
    multicast(Message{kVote, sequence, 0, phase, static_cast<uint32_t>(g_agent.node)});
}

void onDeliver(cpg_handle_t, const cpg_name *, uint32_t, uint32_t pid, void *data, size_t size)
{
    const int64_t at = nowNs();
    if (size != sizeof(Message))
        return;
    Message m;
    std::memcpy(&m, data, sizeof m);
    Agent &a = g_agent;
    switch (m.kind) {
    case kRoundMessage:
        report(kDelivered, m.sequence, at);
        break;
    case kProposal:
        a.runSequence = m.sequence;
        a.runPhases = m.phases;
        a.runPhase = 1;
        a.runMine = pid == a.pid;
        a.voted.clear();
        vote(m.sequence, 1);
        break;
    case kVote:
        if (m.sequence != a.runSequence || m.phase != a.runPhase)
            break;
        a.voted.insert(m.node);
        if (a.voted.size() < a.members)
            break;
        a.voted.clear();
        if (a.runPhase == a.runPhases) {
            if (a.runMine)
                report(kVotesDone, m.sequence, at);
            a.runSequence = 0;
        } else {
            a.runPhase++;
            vote(m.sequence, a.runPhase);
        }
        break;
    default:
        break;
    }
}

void onConfchg(cpg_handle_t, const cpg_name *, const cpg_address *, size_t memberCount,
               const cpg_address *left, size_t leftCount, const cpg_address *, size_t)
{
    const int64_t at = nowNs();
    g_agent.members = memberCount;
    for (size_t i = 0; i < leftCount; i++)
        report(kLeft, left[i].nodeid, at);
    report(kMembers, static_cast<int64_t>(memberCount), at);
}

void enterNetns(const std::string &netns)
{
    const std::string path = "/run/netns/" + netns;
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0)
        throw std::runtime_error("enter " + path + ": " + std::strerror(errno));
    close(fd);
}

void check(cs_error_t rc, const char *what)
{
    if (rc != CS_OK)
        throw std::runtime_error(std::string(what) + ": corosync error " + std::to_string(rc));
}

void serve(const std::string &group, int commandFd)
{
    cpg_model_v1_data_t model{};
    model.model = CPG_MODEL_V1;
    model.cpg_deliver_fn = onDeliver;
    model.cpg_confchg_fn = onConfchg;
    check(cpg_model_initialize(&g_agent.handle, CPG_MODEL_V1,
                               reinterpret_cast<cpg_model_data_t *>(&model), nullptr),
          "cpg_model_initialize");
    cpg_name name{};
    name.length = static_cast<uint32_t>(group.size());
    std::memcpy(name.value, group.data(), group.size());
    cs_error_t rc;
    while ((rc = cpg_join(g_agent.handle, &name)) == CS_ERR_TRY_AGAIN)
        usleep(1000);
    check(rc, "cpg_join");
    int cpgFd = -1;
    check(cpg_fd_get(g_agent.handle, &cpgFd), "cpg_fd_get");

    for (;;) {
        pollfd fds[2] = {{cpgFd, POLLIN, 0}, {commandFd, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        }
        if (fds[0].revents) {
            rc = cpg_dispatch(g_agent.handle, CS_DISPATCH_ALL);
            /* The node's Corosync killed (the node-death rounds): the
             * agent is killed next; nothing to report. */
            if (rc == CS_ERR_LIBRARY || rc == CS_ERR_BAD_HANDLE)
                break;
            if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN)
                check(rc, "cpg_dispatch");
        }
        if (fds[1].revents) {
            const int32_t command = readCommand(commandFd);
            if (command <= 0)
                break;
            const uint32_t sequence = g_agent.nextSequence++;
            const auto self = static_cast<uint32_t>(g_agent.node);
            report(kSent, sequence, nowNs());
            if (command == kRound)
                multicast(Message{kRoundMessage, sequence, 0, 0, self});
            else if (command > kVotesBase)
                multicast(Message{kProposal, sequence, static_cast<uint32_t>(command - kVotesBase),
                                  0, self});
        }
        if (!g_agent.error.empty())
            throw std::runtime_error(g_agent.error);
    }
    cpg_finalize(g_agent.handle);
}

} // namespace

int runAgent(const std::string &netns, const std::string &group, int node, int reportFd,
             int commandFd)
{
    g_agent.node = node;
    g_agent.reportFd = reportFd;
    g_agent.pid = static_cast<uint32_t>(getpid());
    try {
        enterNetns(netns);
        serve(group, commandFd);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_cluster cpg-agent (node %d): %s\n", node, e.what());
        return 1;
    }
    return 0;
}

} // namespace bench::cpg
