/* SPDX-License-Identifier: MIT */
/* CMM over the domain (contract §6.7), through cmm.h only: every clustered
 * gsd is a CMM node, named from Corosync's nodelist; every node answers
 * alike; a lost gsd leaves the cluster at the others; a cut-off node is out
 * of the cluster until it is back. Each query runs in a forked child (the
 * library's connection is per process), against the node's gsd. */
#include "domain.hpp"

#include <cmm.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <poll.h>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using namespace cluster;

namespace {

/* One node's answers, as a line: "count=3 members=[1:gsnode1:M ...] me=1"
 * ("M" master, "V" vice-master, "-" neither, "O" out of the cluster), or
 * "error <call> <rc>". */
std::string askCmm(Cluster &c, int node, bool selfOnly = false)
{
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const std::string ep = c.endpoint(node);
    std::fflush(nullptr);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        setenv("HA_GS_SOCKET", ep.c_str(), 1);
        std::string out;
        auto finish = [&](const std::string &text) {
            const ssize_t n = write(fds[1], text.data(), text.size());
            (void)n;
            _exit(0);
        };
        timespec_t timeout{5, 0};
        cmm_error_t rc = cmm_connect(timeout);
        if (rc != CMM_OK)
            finish("error cmm_connect " + std::to_string(rc));
        cmm_nodeid_t me = 0;
        rc = cmm_node_getid(&me);
        if (rc != CMM_OK)
            finish("error cmm_node_getid " + std::to_string(rc));
        if (selfOnly) {
            cmm_member_t self{};
            rc = cmm_member_getinfo(me, &self);
            finish("me=" + std::to_string(me) + " getinfo=" + std::to_string(rc) +
                   " out=" + std::to_string(cmm_member_isoutofcluster(&self)));
        }
        cmm_member_t table[16];
        uint32_t count = 0;
        rc = cmm_member_getall(16, table, &count);
        if (rc != CMM_OK)
            finish("error cmm_member_getall " + std::to_string(rc));
        out = "count=" + std::to_string(count) + " members=[";
        for (uint32_t i = 0; i < count; ++i) {
            out += (i ? " " : "") + std::to_string(table[i].nodeid) + ":" + table[i].name + ":" +
                   (cmm_member_isoutofcluster(&table[i]) ? "O"
                    : cmm_member_ismaster(&table[i])     ? "M"
                    : cmm_member_isvicemaster(&table[i]) ? "V"
                                                         : "-");
        }
        out += "] me=" + std::to_string(me);
        cmm_disconnect();
        finish(out);
    }
    close(fds[1]);
    std::string text;
    char buf[1024];
    const int64_t deadline = nowMs() + 20000;
    for (;;) {
        pollfd p{fds[0], POLLIN, 0};
        const int64_t left = deadline - nowMs();
        if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0)
            break;
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0)
            break;
        text.append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    return text;
}

/* The part of a view every node must agree on (without "me=..."). */
std::string shared(const std::string &view)
{
    return view.substr(0, view.find(" me="));
}

/* Until node k's view has `count` members; returns the last view. */
std::string waitCount(Cluster &c, int node, int count, int timeoutMs = 15000)
{
    const int64_t deadline = nowMs() + timeoutMs;
    std::string view;
    while (nowMs() < deadline) {
        view = askCmm(c, node);
        if (view.rfind("count=" + std::to_string(count) + " ", 0) == 0)
            return view;
        sleepMs(100);
    }
    return view;
}

/* The node id whose entry carries `flag` ("M", "V") in a view, or 0. */
int nodeWith(const std::string &view, const std::string &flag)
{
    const size_t open = view.find("members=[");
    const size_t close = view.find(']', open);
    if (open == std::string::npos || close == std::string::npos)
        return 0;
    std::istringstream is(view.substr(open + 9, close - open - 9));
    std::string entry;
    while (is >> entry) {
        if (entry.size() > flag.size() + 1 &&
            entry.compare(entry.size() - flag.size() - 1, std::string::npos, ":" + flag) == 0)
            return std::atoi(entry.c_str());
    }
    return 0;
}

} // namespace

TEST_CASE("cluster cmm: every gsd is a CMM node named from Corosync's nodelist; all answer alike")
{
    Cluster c;
    startDomain(c, c.all());
    std::string first;
    for (int k : c.all()) {
        CAPTURE(k);
        const std::string view = waitCount(c, k, 3);
        INFO("node " << k << " says: " << view);
        CHECK(view.find(" me=" + std::to_string(k)) != std::string::npos);
        CHECK(view.find("1:gsnode1:") != std::string::npos);
        CHECK(view.find("2:gsnode2:") != std::string::npos);
        CHECK(view.find("3:gsnode3:") != std::string::npos);
        CHECK(nodeWith(view, "M") != 0);
        CHECK(nodeWith(view, "V") != 0);
        if (first.empty())
            first = shared(view);
        CHECK(shared(view) == first);
    }
}

TEST_CASE("cluster cmm: the master's gsd killed: the others drop it and agree on a new master")
{
    Cluster c;
    startDomain(c, c.all());
    const std::string before = waitCount(c, 1, 3);
    const int master = nodeWith(before, "M");
    REQUIRE_MESSAGE(master != 0, before);
    std::vector<int> others;
    for (int k : c.all())
        if (k != master)
            others.push_back(k);

    const int64_t killed = nowMs();
    c.killGsd(master, SIGKILL);
    std::string agreed;
    for (int k : others) {
        CAPTURE(k);
        const std::string view = waitCount(c, k, 2);
        INFO("node " << k << " says: " << view);
        REQUIRE(view.rfind("count=2 ", 0) == 0);
        CHECK(view.find(std::to_string(master) + ":gsnode") == std::string::npos);
        CHECK(nodeWith(view, "M") != 0);
        CHECK(nodeWith(view, "M") != master);
        if (agreed.empty())
            agreed = shared(view);
        CHECK(shared(view) == agreed);
    }
    MESSAGE("master's gsd (node " << master << ") SIGKILLed: both others show 2 members after "
                                  << nowMs() - killed << " ms (polling)");
    REQUIRE(c.waitGsdExit(master, 5000).has_value());
    c.startGsd(master);
    REQUIRE_MESSAGE(c.waitSynced(master), c.describe());
    for (int k : c.all()) {
        CAPTURE(k);
        CHECK(waitCount(c, k, 3).rfind("count=3 ", 0) == 0);
    }
}

TEST_CASE("cluster cmm: a cut-off node is out of the cluster, its CMM clients still served")
{
    Cluster c;
    startDomain(c, c.all());
    for (int k : c.all())
        REQUIRE(waitCount(c, k, 3).rfind("count=3 ", 0) == 0);
    c.cut(3);
    for (int k : {1, 2}) {
        CAPTURE(k);
        const std::string view = waitCount(c, k, 2);
        INFO("node " << k << " says: " << view);
        CHECK(view.rfind("count=2 ", 0) == 0);
    }
    /* Node 3 answers (its gsd stays up for CMM clients) and says it is out. */
    const int64_t deadline = nowMs() + 15000;
    std::string self;
    while (nowMs() < deadline) {
        self = askCmm(c, 3, true);
        if (self.find(" out=1") != std::string::npos)
            break;
        sleepMs(100);
    }
    INFO("node 3 says: " << self);
    CHECK(self.rfind("me=3 ", 0) == 0);
    CHECK(self.find(" out=1") != std::string::npos);

    c.heal(3);
    REQUIRE_MESSAGE(c.waitQuorate(c.all(), 3), c.describe());
    REQUIRE_MESSAGE(c.waitSynced(3), c.describe());
    CHECK(waitCount(c, 3, 3).rfind("count=3 ", 0) == 0);
}
