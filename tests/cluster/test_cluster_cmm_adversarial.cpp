/* SPDX-License-Identifier: MIT */
/*
 * CMM across the domain, cases the other cluster-cmm programs do not try
 * (an adversarial review, notes/x4-adv.md), through cmm.h only:
 *  - a node that removed itself (cmm_membership_remove) stays out of the
 *    cluster "until its gsd restarts" (docs/cluster.md), also when its link
 *    is cut and healed, which makes its gsd re-sync as a joiner;
 *  - a reload that edits a known node's qualification flags (accepted:
 *    cmm.h says they apply to new nodes only) leaves the master's file as
 *    the table in force, so a gsd restarted with that file is let in;
 *  - when every node lost quorum and the domain starts again, the CMM
 *    clients that were told stale and invalid hear VALID_CLUSTER before the
 *    elections (docs/cluster.md: "VALID_CLUSTER(0), then ...").
 */
#include "cmm_agent.hpp"
#include "domain.hpp"

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <sys/wait.h>
#include <vector>

using namespace cluster;

namespace {

/* Until `agent` answers `command` with `answer` (or 15 s); the last answer. */
std::string waitAnswer(CmmAgent &agent, const std::string &command, const std::string &answer)
{
    std::string seen;
    for (const int64_t deadline = nowMs() + 15000; nowMs() < deadline; sleepMs(200))
        if ((seen = agent.call(command)) == answer)
            break;
    return seen;
}

std::string tableOf(Cluster &c, int node)
{
    return c.workDir() + "/cmm-n" + std::to_string(node) + ".table";
}

void writeTable(Cluster &c, int node, const char *text)
{
    std::ofstream(tableOf(c, node)) << text;
}

} // namespace

TEST_CASE("cluster cmm adversarial: a node that removed itself stays out when its link is cut "
          "and healed")
{
    Cluster c;
    for (int k : c.all()) {
        c.startGsd(k);
        REQUIRE_MESSAGE(c.waitSynced(k), c.describe());
    }
    CmmAgent one("cmm@n1", c.endpoint(1)), three("cmm@n3", c.endpoint(3));
    REQUIRE(one.ready());
    REQUIRE(three.ready());

    CHECK(three.call("remove") == "OK");
    const std::string out = "count=2 members=[1:gsnode1:M 2:gsnode2:V] master=1 vice=2";
    CHECK(waitAnswer(one, "view", out) == out);
    CHECK(three.call("self") == "me=3 rc=OK flags=O");

    /* Its gsd goes on: a cut and a heal make it re-sync from the domain. */
    c.cut(3);
    CHECK(waitAnswer(three, "self", "me=3 rc=EAGAIN flags=O") == "me=3 rc=EAGAIN flags=O");
    c.heal(3);
    REQUIRE_MESSAGE(c.waitQuorate(c.all(), 3), c.describe());
    REQUIRE_MESSAGE(c.waitSynced(3), c.describe());
    /* Back in the domain, still out of the cluster: the same gsd. */
    CHECK(waitAnswer(three, "self", "me=3 rc=OK flags=O") == "me=3 rc=OK flags=O");
    REQUIRE_MESSAGE(c.waitSynced(1), c.describe());
    REQUIRE_MESSAGE(c.waitSynced(2), c.describe());
    one.settle(1000);
    /* Every node says the same: nodes 1 and 2, node 3 out. */
    const std::string view = one.call("view");
    CHECK(three.call("view") == view);
    for (int k : c.all()) {
        CAPTURE(k);
        const std::string log = c.gsdLog(k);
        CHECK(log.find("state diverged from the domain") == std::string::npos);
        CHECK(log.find("two sides that each went on met") == std::string::npos);
    }
    /* Node 1 is still the master, unless on a loaded machine Corosync's
     * re-formation left node 1 alone for a moment while nodes 2 and 3 were
     * quorate: node 2, the hot standby, then took over, and node 1 came
     * back as its vice-master. */
    const std::string logOne = c.gsdLog(1);
    const bool oneAlone = logOne.find("this node's membership lost quorum") != std::string::npos;
    INFO("node 1 lost quorum meanwhile: " << oneAlone);
    INFO("gsd on node 1 said:\n" << logOne);
    if (oneAlone)
        CHECK((view == out || view == "count=2 members=[1:gsnode1:V 2:gsnode2:M] master=2 vice=1"));
    else
        CHECK(view == out);
}

TEST_CASE("cluster cmm adversarial: a reload that edits a known node's qualification flags; a gsd "
          "restarted with the master's file is let in")
{
    const char *const before = "1 1 alpha eligible\n"
                               "2 1 beta eligible\n"
                               "3 1 gamma eligible\n";
    const char *const after = "1 1 alpha eligible\n"
                              "2 1 beta eligible\n"
                              "3 1 gamma eligible,disqualified\n";
    Cluster c;
    for (int k : c.all()) {
        writeTable(c, k, before);
        c.startGsd(k, {"--cmm-nodes", tableOf(c, k)});
        REQUIRE_MESSAGE(c.waitSynced(k), c.describe());
    }
    CmmAgent one("cmm@n1", c.endpoint(1));
    REQUIRE(one.ready());

    /* The operator edits the file on every node, then reloads on the
     * master: accepted (node 3 keeps its current qualification). */
    for (int k : c.all())
        writeTable(c, k, after);
    CHECK(one.call("reload") == "OK");
    CHECK(one.call("view") == "count=3 members=[1:alpha:M 2:beta:V 3:gamma:-] master=1 vice=2");

    /* Node 3's gsd restarts with the file every node now has. */
    c.stopGsd(3);
    c.spawnGsd(3, {"--cmm-nodes", tableOf(c, 3)});
    const bool synced = c.waitSynced(3, 20000);
    INFO("gsd on node 3 said:\n" << c.gsdLog(3));
    CHECK(synced);
}

TEST_CASE("cluster cmm adversarial: every node loses quorum; back, each CMM client hears "
          "VALID_CLUSTER before anything else")
{
    Cluster c;
    for (int k : c.all()) {
        c.startGsd(k);
        REQUIRE_MESSAGE(c.waitSynced(k), c.describe());
    }
    std::vector<std::unique_ptr<CmmAgent>> agents;
    for (int k : c.all()) {
        agents.push_back(std::make_unique<CmmAgent>("cmm@n" + std::to_string(k), c.endpoint(k)));
        REQUIRE(agents.back()->ready());
    }
    /* Nodes 2 and 3 cut off: three sides of one node, none quorate. */
    c.cut(2);
    c.cut(3);
    const auto invalidAt = [](CmmAgent &agent) {
        const std::vector<std::string> seen = agent.texts();
        const auto it = std::find(seen.rbegin(), seen.rend(), "INVALID_CLUSTER(0)");
        return it == seen.rend() ? -1 : static_cast<int>(seen.rend() - it) - 1;
    };
    for (auto &agent : agents) {
        CAPTURE(agent->name());
        for (const int64_t deadline = nowMs() + 20000; invalidAt(*agent) < 0 && nowMs() < deadline;)
            agent->waitNotes(agent->notes().size() + 1, 500);
        REQUIRE(invalidAt(*agent) >= 0);
    }
    c.heal(2);
    c.heal(3);
    REQUIRE_MESSAGE(c.waitQuorate(c.all(), 3), c.describe());
    for (int k : c.all())
        REQUIRE_MESSAGE(c.waitSynced(k), c.describe());
    for (auto &agent : agents) {
        CAPTURE(agent->name());
        const int invalid = invalidAt(*agent);
        agent->waitNotes(static_cast<size_t>(invalid) + 3, 20000);
        agent->settle(1000);
        const std::vector<std::string> seen = agent->texts();
        INFO("dispatched: " << joined(seen));
        REQUIRE(seen.size() >= static_cast<size_t>(invalid) + 3);
        CHECK(seen[static_cast<size_t>(invalid) + 1] == "VALID_CLUSTER(0)");
    }
}
