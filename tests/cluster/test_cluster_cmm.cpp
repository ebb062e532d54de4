/* SPDX-License-Identifier: MIT */
/* CMM over the domain (contract §6.7), through cmm.h only: every clustered
 * gsd is a CMM node, named from Corosync's nodelist; every node answers
 * alike; a lost gsd leaves the cluster at the others; a cut-off node is out
 * of the cluster until it is back. A CMM application per node (CmmAgent)
 * asks; the exact notification sequences are test_cluster_cmm_notify.cpp's. */
#include "cmm_agent.hpp"
#include "domain.hpp"

#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

using namespace cluster;

namespace {

using Agents = std::map<int, std::unique_ptr<CmmAgent>>;

Agents agentsAt(Cluster &c, const std::vector<int> &nodes)
{
    Agents agents;
    for (int k : nodes) {
        agents[k] = std::make_unique<CmmAgent>("cmm@n" + std::to_string(k), c.endpoint(k));
        REQUIRE_MESSAGE(agents[k]->ready(), "node " << k << ": " << agents[k]->registration());
    }
    return agents;
}

/* Until node k's view has `count` members; returns the last view. */
std::string waitCount(CmmAgent &agent, int count, int timeoutMs = 15000)
{
    const int64_t deadline = nowMs() + timeoutMs;
    std::string view;
    while (nowMs() < deadline) {
        view = agent.call("view");
        if (view.rfind("count=" + std::to_string(count) + " ", 0) == 0)
            return view;
        sleepMs(100);
    }
    return view;
}

/* The node a view names for `role` ("master", "vice"), or 0. */
int roleIn(const std::string &view, const std::string &role)
{
    const size_t at = view.find(" " + role + "=");
    return at == std::string::npos ? 0 : std::atoi(view.c_str() + at + role.size() + 2);
}

} // namespace

TEST_CASE("cluster cmm: every gsd is a CMM node named from Corosync's nodelist; all answer alike")
{
    Cluster c;
    startDomain(c, c.all());
    Agents agents = agentsAt(c, c.all());
    std::string first;
    for (int k : c.all()) {
        CAPTURE(k);
        CHECK(agents[k]->call("self").rfind("me=" + std::to_string(k) + " rc=OK", 0) == 0);
        const std::string view = waitCount(*agents[k], 3);
        INFO("node " << k << " says: " << view);
        CHECK(view.find("1:gsnode1:") != std::string::npos);
        CHECK(view.find("2:gsnode2:") != std::string::npos);
        CHECK(view.find("3:gsnode3:") != std::string::npos);
        CHECK(roleIn(view, "master") != 0);
        CHECK(roleIn(view, "vice") != 0);
        for (int node : c.all())
            CHECK(agents[k]->call("potential " + std::to_string(node)).find(" eligible") !=
                  std::string::npos);
        if (first.empty())
            first = view;
        CHECK(view == first);
    }
}

TEST_CASE("cluster cmm: the master's gsd killed: the others drop it and agree on a new master")
{
    Cluster c;
    startDomain(c, c.all());
    Agents agents = agentsAt(c, c.all());
    const std::string before = waitCount(*agents[1], 3);
    const int master = roleIn(before, "master");
    REQUIRE_MESSAGE(master != 0, before);
    std::vector<int> others;
    for (int k : c.all())
        if (k != master)
            others.push_back(k);

    c.killGsd(master, SIGKILL);
    agents.erase(master);
    std::string agreed;
    for (int k : others) {
        CAPTURE(k);
        const std::string view = waitCount(*agents[k], 2);
        INFO("node " << k << " says: " << view);
        REQUIRE(view.rfind("count=2 ", 0) == 0);
        CHECK(view.find(std::to_string(master) + ":gsnode") == std::string::npos);
        CHECK(roleIn(view, "master") != 0);
        CHECK(roleIn(view, "master") != master);
        if (agreed.empty())
            agreed = view;
        CHECK(view == agreed);
    }
    REQUIRE(c.waitGsdExit(master, 5000).has_value());
    c.startGsd(master);
    REQUIRE_MESSAGE(c.waitSynced(master), c.describe());
    agents[master] = std::make_unique<CmmAgent>("cmm@again", c.endpoint(master));
    for (int k : c.all()) {
        CAPTURE(k);
        CHECK(waitCount(*agents[k], 3).rfind("count=3 ", 0) == 0);
    }
}

TEST_CASE("cluster cmm: a cut-off node is out of the cluster, its CMM clients still served")
{
    Cluster c;
    startDomain(c, c.all());
    Agents agents = agentsAt(c, c.all());
    for (int k : c.all())
        REQUIRE(waitCount(*agents[k], 3).rfind("count=3 ", 0) == 0);
    c.cut(3);
    for (int k : {1, 2}) {
        CAPTURE(k);
        const std::string view = waitCount(*agents[k], 2);
        INFO("node " << k << " says: " << view);
        CHECK(view.rfind("count=2 ", 0) == 0);
    }
    /* Node 3 answers (its gsd stays up for CMM clients) and says it is out;
     * a new client connects there too. */
    std::string self;
    for (const int64_t deadline = nowMs() + 15000; nowMs() < deadline; sleepMs(100))
        if ((self = agents[3]->call("self")) == "me=3 rc=EAGAIN flags=O")
            break;
    CHECK(self == "me=3 rc=EAGAIN flags=O");
    CmmAgent late("cmm@late", c.endpoint(3));
    CHECK(late.ready());
    CHECK(late.call("self") == "me=3 rc=EAGAIN flags=O");
    CHECK(late.call("view") == "getall=ENOCLUSTER");

    c.heal(3);
    REQUIRE_MESSAGE(c.waitQuorate(c.all(), 3), c.describe());
    REQUIRE_MESSAGE(c.waitSynced(3), c.describe());
    CHECK(waitCount(*agents[3], 3).rfind("count=3 ", 0) == 0);
}
