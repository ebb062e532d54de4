/* SPDX-License-Identifier: MIT */
/* The harness itself, without gsd: three Corosync nodes in network
 * namespaces form and are quorate; a cut node loses quorum while the others
 * keep it; a healed node is back; teardown leaves nothing behind. */
#include "harness.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <set>
#include <sys/types.h>

using namespace cluster;

namespace {

bool processGone(pid_t pid)
{
    return kill(pid, 0) != 0 && errno == ESRCH;
}

} // namespace

TEST_CASE("cluster harness: three nodes form, a cut node loses quorum, heal brings it back")
{
    Cluster c;
    for (int k : c.all()) {
        INFO("node " << k);
        const QuorumView q = c.quorum(k);
        CHECK(q.quorate);
        CHECK(q.totalVotes == 3);
    }

    c.cut(3);
    const int64_t t0 = nowMs();
    REQUIRE_MESSAGE(c.waitInquorate(3, 10000), c.describe());
    /* token 300, coefficient 0: the ring re-forms in about 0.7 s. */
    REQUIRE_MESSAGE(c.waitQuorate({1, 2}, 2, 10000), c.describe());
    const int64_t reformed = nowMs() - t0;
    MESSAGE("node 3 cut: the majority re-formed with 2 votes after " << reformed << " ms");
    CHECK(reformed < 5000);
    CHECK_FALSE(c.quorum(3).quorate);

    c.heal(3);
    REQUIRE_MESSAGE(c.waitQuorate(c.all(), 3, 15000), c.describe());
}

TEST_CASE("cluster harness: teardown leaves no process, namespace or /dev/shm file")
{
    std::vector<pid_t> pids;
    std::vector<std::string> namespaces;
    std::string dir;
    /* Files another run left behind may carry a number that is now one of
     * these pids: only new files count. */
    std::set<std::string> before;
    for (const auto &entry : std::filesystem::directory_iterator("/dev/shm"))
        before.insert(entry.path().filename().string());
    const auto newShmLeft = [&](const std::vector<pid_t> &of) {
        std::vector<std::string> left;
        for (const std::string &name : Cluster::shmLeft(of))
            if (!before.count(name))
                left.push_back(name);
        return left;
    };
    {
        Cluster c;
        dir = c.workDir();
        for (int k : c.all())
            namespaces.push_back(c.netns(k));
        namespaces.push_back(c.bridgeNetns());
        CHECK(c.namespacesLeft().size() == 4);
        /* A SIGKILLed Corosync leaves libqb's files in /dev/shm: the harness
         * removes them. */
        const pid_t killed = c.corosyncPid(2);
        c.killCorosync(2, SIGKILL);
        CHECK(newShmLeft({killed}).empty());
        REQUIRE(c.waitQuorate({1, 3}, 2, 10000));
        pids = c.startedPids();
        REQUIRE(pids.size() == 3);
        /* The others are torn down at the end of the scope, running. */
    }
    for (pid_t p : pids) {
        INFO("pid " << p);
        CHECK(processGone(p));
    }
    for (const auto &ns : namespaces) {
        INFO("namespace " << ns);
        CHECK_FALSE(std::filesystem::exists("/run/netns/" + ns));
    }
    CHECK(newShmLeft(pids).empty());
    CHECK_FALSE(std::filesystem::exists(dir));
}
