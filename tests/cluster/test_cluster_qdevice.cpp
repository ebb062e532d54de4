/* SPDX-License-Identifier: MIT */
/* A two-node domain (the Netra layout) with Corosync's quorum device:
 * corosync-qnetd on a third machine that is no Corosync node, qdevice
 * (model net, ffsplit) on both nodes. When the link between the two nodes
 * breaks but both still reach qnetd, qnetd gives its vote to one side (the
 * lowest node id on a tie): that side goes on, the other loses quorum. Seen
 * through cmm.h (a registered client per node, every notification recorded
 * in order) and GSAPI. Then the link heals and the lost node comes back.
 * Twice: the vice-master lost, then (after a switchover) the master. Last,
 * the witness alone is lost, which changes nothing. docs/cluster.md, "Two
 * nodes", describes the setup and these results. */
#include "cmm_agent.hpp"
#include "domain.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

/* Sequences print in full when a check fails. */
template <>
struct doctest::StringMaker<std::vector<std::string>> {
    static doctest::String convert(const std::vector<std::string> &lines)
    {
        std::string text = "{";
        for (size_t i = 0; i < lines.size(); ++i)
            text += (i ? ", " : "") + lines[i];
        return (text + "}").c_str();
    }
};

using namespace cluster;

namespace {

/* Until both nodes' CMM views are `expected`; returns node 1's and node 2's. */
std::pair<std::string, std::string> waitViews(CmmAgent &one, CmmAgent &two,
                                              const std::string &expected, int timeoutMs = 15000)
{
    const int64_t deadline = nowMs() + timeoutMs;
    for (;;) {
        std::pair<std::string, std::string> views{one.call("view"), two.call("view")};
        if ((views.first == expected && views.second == expected) || nowMs() >= deadline)
            return views;
        sleepMs(100);
    }
}

using Lines = std::vector<std::string>;

/* Pids of the processes whose command line mentions `text`. */
std::vector<pid_t> processesNaming(const std::string &text)
{
    std::vector<pid_t> found;
    for (const auto &entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos)
            continue;
        std::ifstream in(entry.path() / "cmdline", std::ios::binary);
        std::stringstream cmdline;
        cmdline << in.rdbuf();
        if (cmdline.str().find(text) != std::string::npos)
            found.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return found;
}

/* The value of "key:" in corosync-qdevice-tool -s output ("" if absent). */
std::string statusField(const std::string &status, const std::string &key)
{
    std::istringstream is(status);
    for (std::string line; std::getline(is, line);) {
        if (line.rfind(key + ":", 0) != 0)
            continue;
        const size_t value = line.find_first_not_of(" \t", key.size() + 1);
        return value == std::string::npos ? "" : line.substr(value);
    }
    return "";
}

/* Until node k's Corosync says it is not quorate: when (monotonic ms). */
int64_t inquorateAt(Cluster &c, int node)
{
    REQUIRE_MESSAGE(c.waitInquorate(node, 30000), c.describe());
    return nowMs();
}

} // namespace

TEST_CASE("cluster qdevice: two nodes and qnetd: cut between the nodes, qnetd's side goes on; "
          "healed, the other comes back")
{
    const int64_t programStart = nowMs();
    ClusterOptions options;
    options.nodes = 2;
    options.quorumDevice = true;
    Cluster c(options); /* both nodes quorate with 3 votes (2 nodes + the device) */
    for (int k : c.all()) {
        CAPTURE(k);
        const QuorumView q = c.quorum(k);
        CHECK(q.quorate);
        CHECK(q.totalVotes == 3);
        INFO(q.text);
        CHECK(q.text.find("Qdevice") != std::string::npos);
        const std::string status = c.qdeviceStatus(k);
        INFO(status);
        CHECK(statusField(status, "State") == "Connected");
        CHECK(statusField(status, "Algorithm") == "Fifty-Fifty split");
        CHECK(statusField(status, "Poll timer running") == "Yes (cast vote)");
    }
    MESSAGE("two nodes and qnetd quorate with 3 votes after " << nowMs() - programStart << " ms");

    /* One after the other: node 1 is master, node 2 vice-master. */
    startDomain(c, {1});
    startDomain(c, {2});
    CmmAgent r1("cmm@n1", c.endpoint(1)), r2("cmm@n2", c.endpoint(2));
    REQUIRE(r1.ready());
    REQUIRE(r2.ready());
    const std::string pair = "count=2 members=[1:gsnode1:M 2:gsnode2:V] master=1 vice=2";
    auto views = waitViews(r1, r2, pair);
    CHECK(views.first == pair);
    CHECK(views.second == pair);

    auto a = clientAt(c, 1, "a");
    auto b = clientAt(c, 2, "b");
    joinAcross({{a.get(), 1, 1}, {b.get(), 1, 2}}, "g");

    /* ---- Round 1: the vice-master is on the losing side. ---- */
    const int64_t cut1 = nowMs();
    c.cutBetween({1, 2});
    const int64_t lost1 = inquorateAt(c, 2);
    /* Everything each client is to have been told so far, in order. */
    Lines loser{"STALE_CLUSTER(0)", "INVALID_CLUSTER(0)"};
    CHECK(r2.waitTexts(loser.size()) == loser);
    Lines winner{"VICEMASTER_DEMOTED(2)", "MEMBER_LEFT(2)"};
    CHECK(r1.waitTexts(winner.size()) == winner);
    MESSAGE("round 1: cut -> node 2 not quorate "
            << lost1 - cut1 << " ms, -> STALE at node 2 " << r2.when("STALE_CLUSTER(0)") - cut1
            << " ms; cut -> MEMBER_LEFT(2) at node 1 " << r1.when("MEMBER_LEFT(2)") - cut1
            << " ms");
    {
        const QuorumView q1 = c.quorum(1);
        CHECK(q1.quorate);
        CHECK(q1.totalVotes == 2); /* its own and qnetd's */
        const QuorumView q2 = c.quorum(2);
        CHECK(!q2.quorate);
        CHECK(q2.totalVotes == 1);
        /* Both devices still talk to qnetd: it voted for node 1 only. */
        const std::string s1 = c.qdeviceStatus(1), s2 = c.qdeviceStatus(2);
        INFO(s1 << s2);
        CHECK(statusField(s1, "State") == "Connected");
        CHECK(statusField(s2, "State") == "Connected");
        CHECK(statusField(s1, "Poll timer running") == "Yes (cast vote)");
        CHECK(statusField(s2, "Poll timer running") == "Yes");
    }
    /* GSAPI: node 1 goes on, node 2 ended its sessions and takes no client. */
    a->waitFor({"g: approved FAILURE_LEAVE", {"chg=[1.2]"}});
    b->waitFor("*: dispatch HA_GS_NOT_OK");
    CHECK(b->rc("state g cut") == "HA_GS_NOT_OK");
    CHECK(api::rcName(c.probeInit(2)) == "HA_GS_CONNECT_FAILED");
    CHECK(api::rcName(c.probeInit(1)) == "HA_GS_OK");
    CHECK(r2.call("view") == "getall=ENOCLUSTER");
    REQUIRE(a->rc("state g alone") == "HA_GS_OK");
    a->waitFor({"g: approved STATE_VALUE_CHANGE", {"prop=\"alone\""}});
    CHECK(r1.call("view") == "count=1 members=[1:gsnode1:M] master=1 vice=ESRCH");

    const int64_t heal1 = nowMs();
    c.healBetween({1, 2});
    REQUIRE_MESSAGE(c.waitQuorate(c.all(), 3), c.describe());
    REQUIRE_MESSAGE(c.waitSynced(2), c.describe());
    /* Node 2 is told it is valid again, then of its own election, as node
     * 1 was. */
    loser.insert(loser.end(), {"VALID_CLUSTER(0)", "VICEMASTER_ELECTED(2)"});
    CHECK(r2.waitTexts(loser.size()) == loser);
    winner.push_back("VICEMASTER_ELECTED(2)");
    CHECK(r1.waitTexts(winner.size()) == winner);
    MESSAGE("round 1: heal -> VALID at node 2 "
            << r2.when("VALID_CLUSTER(0)") - heal1 << " ms, -> VICEMASTER_ELECTED(2) at node 1 "
            << r1.when("VICEMASTER_ELECTED(2)") - heal1 << " ms");
    views = waitViews(r1, r2, pair);
    CHECK(views.first == pair);
    CHECK(views.second == pair);

    /* ---- Round 2: a switchover makes node 2 master; the master is on the
     * losing side. qnetd still favours the lowest node id: both halves come
     * from the quorate partition, so only its tie-breaker decides. ---- */
    REQUIRE(r1.call("release") == "OK");
    const Lines switchover{"MASTER_DEMOTED(1)", "MASTER_ELECTED(2)", "VICEMASTER_ELECTED(1)"};
    winner.insert(winner.end(), switchover.begin(), switchover.end());
    CHECK(r1.waitTexts(winner.size()) == winner);
    loser.insert(loser.end(), switchover.begin(), switchover.end());
    CHECK(r2.waitTexts(loser.size()) == loser);
    const std::string swapped = "count=2 members=[1:gsnode1:V 2:gsnode2:M] master=2 vice=1";
    views = waitViews(r1, r2, swapped);
    CHECK(views.first == swapped);
    CHECK(views.second == swapped);

    const int64_t cut2 = nowMs();
    c.cutBetween({1, 2});
    const int64_t lost2 = inquorateAt(c, 2);
    loser.insert(loser.end(), {"STALE_CLUSTER(0)", "INVALID_CLUSTER(0)"});
    CHECK(r2.waitTexts(loser.size()) == loser);
    winner.insert(winner.end(), {"MASTER_DEMOTED(2)", "MEMBER_LEFT(2)", "MASTER_ELECTED(1)"});
    CHECK(r1.waitTexts(winner.size()) == winner);
    MESSAGE("round 2: cut -> node 2 not quorate "
            << lost2 - cut2 << " ms, -> STALE at node 2 " << r2.when("STALE_CLUSTER(0)") - cut2
            << " ms; cut -> MEMBER_LEFT(2) at node 1 " << r1.when("MEMBER_LEFT(2)") - cut2
            << " ms, -> MASTER_ELECTED(1) " << r1.when("MASTER_ELECTED(1)") - cut2 << " ms");
    CHECK(c.quorum(1).quorate);
    CHECK(r1.call("view") == "count=1 members=[1:gsnode1:M] master=1 vice=ESRCH");

    c.healBetween({1, 2});
    REQUIRE_MESSAGE(c.waitQuorate(c.all(), 3), c.describe());
    REQUIRE_MESSAGE(c.waitSynced(2), c.describe());
    loser.insert(loser.end(), {"VALID_CLUSTER(0)", "VICEMASTER_ELECTED(2)"});
    CHECK(r2.waitTexts(loser.size()) == loser);
    winner.push_back("VICEMASTER_ELECTED(2)");
    CHECK(r1.waitTexts(winner.size()) == winner);
    views = waitViews(r1, r2, pair);
    CHECK(views.first == pair);
    CHECK(views.second == pair);

    /* ---- The witness alone lost: the two nodes hold 2 of 3 votes and go
     * on, nobody is told anything. ---- */
    c.stopQnetd();
    REQUIRE_MESSAGE(c.waitQuorate(c.all(), 2), c.describe());
    CHECK(r1.waitTexts(winner.size()) == winner);
    CHECK(r2.waitTexts(loser.size()) == loser);
    CHECK(api::rcName(c.probeInit(1)) == "HA_GS_OK");
    CHECK(api::rcName(c.probeInit(2)) == "HA_GS_OK");
    views = waitViews(r1, r2, pair);
    CHECK(views.first == pair);
    CHECK(views.second == pair);
    MESSAGE("whole test: " << nowMs() - programStart << " ms");

    /* Teardown leaves nothing: qnetd, the devices (and their heuristics
     * workers, which name the work directory too), Corosync, gsd. */
    const std::string dir = c.workDir();
    CHECK(processesNaming(dir).size() >= c.startedPids().size());
    c.teardown();
    CHECK(c.startedPids().size() == 7);
    for (pid_t p : c.startedPids()) {
        INFO("pid " << p);
        CHECK((kill(p, 0) != 0 && errno == ESRCH));
    }
    CHECK(processesNaming(dir).empty());
    CHECK(c.namespacesLeft().empty());
    CHECK_FALSE(std::filesystem::exists(dir));
}
