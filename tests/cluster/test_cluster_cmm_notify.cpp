/* SPDX-License-Identifier: MIT */
/*
 * CMM across the domain (contract §5, §6.7; cmm-api.md §4.3), through cmm.h
 * only: a registered CMM application at every node (CmmAgent) and, for each
 * scenario, the exact notification sequence each of them dispatches, then
 * the same answers from cmm_member_getall, cmm_master_getinfo and
 * cmm_vicemaster_getinfo at every node that is in the cluster.
 *
 * The gsds start one after the other, each synced before the next, so the
 * roles are known: node 1 master, node 2 vice-master, node 3 in.
 */
#include "cmm_agent.hpp"
#include "domain.hpp"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>
#include <source_location>

using namespace cluster;

namespace {

using Sequence = std::vector<std::string>;

/* One CMM application per node, and how far each one's notifications have
 * been checked. */
class Watchers {
  public:
    explicit Watchers(Cluster &c) : c_(c) {}

    void start(int node, std::source_location where = std::source_location::current())
    {
        agents_[node] =
            std::make_unique<CmmAgent>("cmm@n" + std::to_string(node), c_.endpoint(node));
        checked_[node] = 0;
        if (!agents_[node]->ready())
            DOCTEST_ADD_FAIL_AT(where.file_name(), static_cast<int>(where.line()),
                                "CMM agent at node " << node << ": "
                                                     << agents_[node]->registration());
    }
    void drop(int node) { agents_.erase(node); }
    CmmAgent &at(int node) { return *agents_.at(node); }

    /* Each of `nodes` dispatches exactly `expected` next (and nothing more
     * within a short quiet time). */
    void expect(const std::vector<int> &nodes, const Sequence &expected,
                std::source_location where = std::source_location::current())
    {
        for (int k : nodes) {
            CmmAgent &agent = at(k);
            agent.waitNotes(checked_[k] + expected.size(), 20000);
            agent.settle(500);
            const Sequence seen = agent.texts(checked_[k]);
            checked_[k] = agent.notes().size();
            if (seen != expected)
                DOCTEST_ADD_FAIL_AT(where.file_name(), static_cast<int>(where.line()),
                                    "node " << k << " dispatched [" << joined(seen)
                                            << "], expected [" << joined(expected) << "]\n"
                                            << c_.describe());
        }
    }

    /* The view of every node of `nodes`: all the same; returns it. */
    std::string sameView(const std::vector<int> &nodes,
                         std::source_location where = std::source_location::current())
    {
        std::string first;
        for (int k : nodes) {
            const std::string view = at(k).call("view");
            if (first.empty())
                first = view;
            if (view != first || view.empty())
                DOCTEST_ADD_FAIL_AT(where.file_name(), static_cast<int>(where.line()),
                                    "node " << k << " answers '" << view << "', node "
                                            << nodes.front() << " '" << first << "'");
        }
        return first;
    }

    size_t checked(int k) const { return checked_.at(k); }

  private:
    Cluster &c_;
    std::map<int, std::unique_ptr<CmmAgent>> agents_;
    std::map<int, size_t> checked_;
};

/* Starts the gsds of `nodes` one after the other, each synced before the
 * next: the first is master, the second vice-master. */
void startInOrder(Cluster &c, const std::vector<int> &nodes)
{
    for (int k : nodes) {
        c.startGsd(k);
        REQUIRE_MESSAGE(c.waitSynced(k), c.describe());
    }
}

void restartGsd(Cluster &c, int node)
{
    REQUIRE(c.waitGsdExit(node, 5000).has_value());
    c.startGsd(node);
    REQUIRE_MESSAGE(c.waitSynced(node), c.describe());
}

const std::string kFull = "count=3 members=[1:gsnode1:M 2:gsnode2:V 3:gsnode3:-] master=1 vice=2";

/* Three gsds started in order (node 1 master, 2 vice-master, 3 in), a
 * watcher at each. */
struct Domain {
    Domain()
    {
        startInOrder(c, c.all());
        for (int k : c.all())
            w.start(k);
        REQUIRE(w.sameView(c.all()) == kFull);
    }
    Cluster c;
    Watchers w{c};
};

} // namespace

TEST_CASE("cluster cmm notifications: a node joins, the vice-master's and the master's gsd die "
          "and come back")
{
    Cluster c;
    startInOrder(c, {1, 2});
    Watchers w(c);
    w.start(1);
    w.start(2);
    CHECK(w.sameView({1, 2}) == "count=2 members=[1:gsnode1:M 2:gsnode2:V] master=1 vice=2");

    /* A node without a role joins: the others see it join. */
    startInOrder(c, {3});
    w.start(3);
    w.expect({1, 2}, {"MEMBER_JOINED(3)"});
    CHECK(w.sameView({1, 2, 3}) == kFull);

    /* The vice-master's gsd dies: demoted, left, a new vice-master. */
    c.killGsd(2, SIGKILL);
    w.drop(2);
    w.expect({1, 3}, {"VICEMASTER_DEMOTED(2)", "MEMBER_LEFT(2)", "VICEMASTER_ELECTED(3)"});
    CHECK(w.sameView({1, 3}) == "count=2 members=[1:gsnode1:M 3:gsnode3:V] master=1 vice=3");

    /* Back, it takes no role from anyone. */
    restartGsd(c, 2);
    w.expect({1, 3}, {"MEMBER_JOINED(2)"});
    w.start(2);
    CHECK(w.sameView({1, 2, 3}) ==
          "count=3 members=[1:gsnode1:M 2:gsnode2:- 3:gsnode3:V] master=1 vice=3");

    /* The master's gsd dies: failover to the vice-master, a new one. */
    const int64_t killed = nowMs();
    c.killGsd(1, SIGKILL);
    w.drop(1);
    const size_t from = w.checked(3);
    w.expect({2, 3},
             {"MASTER_DEMOTED(1)", "MEMBER_LEFT(1)", "MASTER_ELECTED(3)", "VICEMASTER_ELECTED(2)"});
    CHECK(w.sameView({2, 3}) == "count=2 members=[2:gsnode2:V 3:gsnode3:M] master=3 vice=2");
    const int64_t elected = w.at(3).when("MASTER_ELECTED(3)", from);
    CHECK(elected >= killed);
    MESSAGE("master's gsd SIGKILLed -> MASTER_ELECTED at the new master: " << elected - killed
                                                                           << " ms");

    restartGsd(c, 1);
    w.expect({2, 3}, {"MEMBER_JOINED(1)"});
    w.start(1);
    CHECK(w.sameView({1, 2, 3}) ==
          "count=3 members=[1:gsnode1:- 2:gsnode2:V 3:gsnode3:M] master=3 vice=2");
}

TEST_CASE("cluster cmm notifications: switchover, disqualification, removal of the master, "
          "ECANCELED without a successor")
{
    Domain d;
    Cluster &c = d.c;
    Watchers &w = d.w;

    /* Only the master may release; then the vice-master takes over and the
     * old master becomes vice-master (cmm-api.md §4.3, switchover). */
    CHECK(w.at(3).call("release") == "EPERM");
    CHECK(w.at(1).call("release") == "OK");
    w.expect(c.all(), {"MASTER_DEMOTED(1)", "MASTER_ELECTED(2)", "VICEMASTER_ELECTED(1)"});
    CHECK(w.sameView(c.all()) ==
          "count=3 members=[1:gsnode1:V 2:gsnode2:M 3:gsnode3:-] master=2 vice=1");

    /* The vice-master disqualified: demoted, the next candidate elected. */
    CHECK(w.at(1).call("disqualify 3") == "EPERM");
    CHECK(w.at(2).call("disqualify 1") == "OK");
    w.expect(c.all(), {"VICEMASTER_DEMOTED(1)", "VICEMASTER_ELECTED(3)"});
    CHECK(w.at(2).call("disqualify 3") == "OK");
    w.expect(c.all(), {"VICEMASTER_DEMOTED(3)"});
    CHECK(w.sameView(c.all()) ==
          "count=3 members=[1:gsnode1:- 2:gsnode2:M 3:gsnode3:-] master=2 vice=ESRCH");

    /* Nobody can take the master role: removal and release are cancelled
     * and nothing is notified. */
    CHECK(w.at(2).call("remove") == "ECANCELED");
    CHECK(w.at(2).call("release") == "ECANCELED");
    CHECK(w.at(1).call("seize") == "EPERM");
    CHECK(w.at(2).call("qualify 1") == "OK");
    w.expect(c.all(), {"VICEMASTER_ELECTED(1)"});

    /* The master removes itself: failover; its gsd stays, out of the
     * cluster, answering queries like the others. */
    CHECK(w.at(2).call("remove") == "OK");
    w.expect(c.all(), {"MASTER_DEMOTED(2)", "MEMBER_LEFT(2)", "MASTER_ELECTED(1)"});
    CHECK(w.sameView(c.all()) == "count=2 members=[1:gsnode1:M 3:gsnode3:-] master=1 vice=ESRCH");
    CHECK(w.at(2).call("self") == "me=2 rc=OK flags=O");
    CHECK(w.at(2).call("release") == "EPERM");
    CHECK(w.at(2).call("remove") == "ENOCLUSTER");

    /* It comes back only with a new gsd, and fills the vacant role. */
    c.killGsd(2, SIGTERM);
    w.drop(2);
    restartGsd(c, 2);
    w.expect({1, 3}, {"VICEMASTER_ELECTED(2)"});
    w.start(2);
    CHECK(w.sameView(c.all()) ==
          "count=3 members=[1:gsnode1:M 2:gsnode2:V 3:gsnode3:-] master=1 vice=2");
}

TEST_CASE("cluster cmm notifications: a cut-off node and a dead node are out, stale then invalid; "
          "back, valid and in again")
{
    Domain d;
    Cluster &c = d.c;
    Watchers &w = d.w;

    /* A member without a role cut off. */
    c.cut(3);
    w.expect({1, 2}, {"MEMBER_LEFT(3)"});
    w.expect({3}, {"STALE_CLUSTER(0)", "INVALID_CLUSTER(0)"});
    CHECK(w.sameView({1, 2}) == "count=2 members=[1:gsnode1:M 2:gsnode2:V] master=1 vice=2");
    CHECK(w.at(3).call("view") == "getall=ENOCLUSTER");
    CHECK(w.at(3).call("self") == "me=3 rc=EAGAIN flags=O");
    c.heal(3);
    w.expect({1, 2}, {"MEMBER_JOINED(3)"});
    w.expect({3}, {"VALID_CLUSTER(0)", "MEMBER_JOINED(3)"});
    CHECK(w.sameView(c.all()) == kFull);

    /* The master's node cut off: failover at the others. */
    c.cut(1);
    w.expect({2, 3},
             {"MASTER_DEMOTED(1)", "MEMBER_LEFT(1)", "MASTER_ELECTED(2)", "VICEMASTER_ELECTED(3)"});
    w.expect({1}, {"STALE_CLUSTER(0)", "INVALID_CLUSTER(0)"});
    CHECK(w.at(1).call("release") == "ENOCLUSTER");
    c.heal(1);
    w.expect({2, 3}, {"MEMBER_JOINED(1)"});
    w.expect({1}, {"VALID_CLUSTER(0)", "MEMBER_JOINED(1)"});
    CHECK(w.sameView(c.all()) ==
          "count=3 members=[1:gsnode1:- 2:gsnode2:M 3:gsnode3:V] master=2 vice=3");

    /* The master's node dies (its Corosync killed): the same failover. */
    const size_t from = w.checked(3);
    const int64_t killed = nowMs();
    c.killCorosync(2, SIGKILL);
    w.expect({1, 3},
             {"MASTER_DEMOTED(2)", "MEMBER_LEFT(2)", "MASTER_ELECTED(3)", "VICEMASTER_ELECTED(1)"});
    MESSAGE("master's node lost (its Corosync SIGKILLed, token "
            << c.options().tokenMs << " ms) -> MASTER_ELECTED at the new master: "
            << w.at(3).when("MASTER_ELECTED(3)", from) - killed << " ms");
    w.expect({2}, {"STALE_CLUSTER(0)", "INVALID_CLUSTER(0)"});
    CHECK(w.sameView({1, 3}) == "count=2 members=[1:gsnode1:V 3:gsnode3:M] master=3 vice=1");
    c.startCorosync(2);
    REQUIRE_MESSAGE(c.waitQuorate(c.all(), 3), c.describe());
    REQUIRE_MESSAGE(c.waitSynced(2), c.describe());
    w.expect({1, 3}, {"MEMBER_JOINED(2)"});
    w.expect({2}, {"VALID_CLUSTER(0)", "MEMBER_JOINED(2)"});
    CHECK(w.sameView(c.all()) ==
          "count=3 members=[1:gsnode1:V 2:gsnode2:- 3:gsnode3:M] master=3 vice=1");
}

/* Failover time, measured: GS_FAILOVER_RUNS kills of the master's gsd (3 by
 * default; scripts/bench-cluster.sh --failover runs more). */
TEST_CASE("cluster cmm failover: the master's gsd SIGKILLed, MASTER_ELECTED at the new master")
{
    int runs = 3;
    if (const char *text = std::getenv("GS_FAILOVER_RUNS"))
        runs = std::max(1, std::atoi(text));
    Domain d;
    Cluster &c = d.c;
    Watchers &w = d.w;
    std::vector<int64_t> times;
    int master = 1, vice = 2;
    for (int run = 0; run < runs; ++run) {
        CAPTURE(run);
        std::vector<int> others;
        for (int k : c.all())
            if (k != master)
                others.push_back(k);
        const size_t from = w.checked(vice);
        const int64_t killed = nowMs();
        c.killGsd(master, SIGKILL);
        w.drop(master);
        const int third = others[0] == vice ? others[1] : others[0];
        w.expect(others, {"MASTER_DEMOTED(" + std::to_string(master) + ")",
                          "MEMBER_LEFT(" + std::to_string(master) + ")",
                          "MASTER_ELECTED(" + std::to_string(vice) + ")",
                          "VICEMASTER_ELECTED(" + std::to_string(third) + ")"});
        const int64_t elected =
            w.at(vice).when("MASTER_ELECTED(" + std::to_string(vice) + ")", from);
        REQUIRE(elected >= killed);
        times.push_back(elected - killed);
        restartGsd(c, master);
        w.expect(others, {"MEMBER_JOINED(" + std::to_string(master) + ")"});
        w.start(master);
        master = vice;
        vice = third;
    }
    std::sort(times.begin(), times.end());
    const auto at = [&](double q) {
        return times[std::min(times.size() - 1, static_cast<size_t>(q * times.size()))];
    };
    MESSAGE("failover, master's gsd SIGKILLed -> MASTER_ELECTED at the new master, "
            << times.size() << " runs: median " << at(0.5) << " ms, p99 " << at(0.99) << " ms, max "
            << times.back() << " ms");
    CHECK(at(0.5) < 1000);
}
