/* SPDX-License-Identifier: MIT */
/*
 * Tests of the CMM engine (engine/cmm_engine.hpp).
 *
 * First one test per notification scenario of the reference's §4.3, the
 * documented rows and the inferred ones, checking the exact order; then the
 * reply codes of every request, the queries, incarnation numbers, config
 * reload, determinism, and a seeded randomized run that checks the election
 * invariants and replays the notification stream over a shadow model after
 * every step.
 *
 * Notifications are compared as text ("MASTER_DEMOTED(1) MEMBER_LEFT(1)") so
 * that a failure shows the whole sequence.
 */
#include "engine/cmm_engine.hpp"

#include "../support/cmm_names.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace gs::cmm;

namespace {

constexpr cmm_domainid_t kDomain = 7;

NodeConfig eligibleNode(cmm_nodeid_t id)
{
    NodeConfig c;
    c.id = id;
    c.name = "node" + std::to_string(id);
    c.address = "10.0.0." + std::to_string(id);
    c.domain = kDomain;
    c.softwareLoad = "load-1";
    return c;
}

/* A diskless or dataless node: never master or vice-master. */
NodeConfig clientNode(cmm_nodeid_t id)
{
    NodeConfig c = eligibleNode(id);
    c.eligible = false;
    return c;
}

std::string text(const std::vector<Notification> &notes)
{
    std::string s;
    for (const Notification &n : notes) {
        if (!s.empty())
            s += ' ';
        s += gs::test::cmmChangeName(n.change);
        s += '(' + std::to_string(n.node) + ')';
    }
    return s;
}

/* Processes an event that must succeed; returns its notifications as text. */
std::string ok(Engine &e, const Event &event)
{
    Outcome o = e.process(event);
    CHECK(o.rc == CMM_OK);
    return text(o.notifications);
}

/* Processes an event that must fail with `rc` and change nothing. */
void refused(Engine &e, const Event &event, cmm_error_t rc);

/* The role of a node as the queries show it. */
std::string role(const Engine &e, cmm_nodeid_t id)
{
    Member m;
    if (e.potentialInfo(id, m) != CMM_OK && e.potentialInfo(id, m) != CMM_EAGAIN)
        return "unknown";
    switch (m.sflag & CMM_ROLE_MASK) {
    case CMM_MASTER:
        return "master";
    case CMM_VICEMASTER:
        return "vice";
    case CMM_OUT_OF_CLUSTER:
        return "out";
    case 0:
        return "in";
    }
    return "bad role bits";
}

/* Everything a client could observe, to check that refusals change nothing. */
struct Snapshot {
    std::vector<Member> nodes;
    std::optional<cmm_nodeid_t> master;
    std::optional<cmm_nodeid_t> vice;
    Health health = Health::Valid;
    bool operator==(const Snapshot &) const = default;
};

Snapshot snapshot(const Engine &e)
{
    Snapshot s;
    for (cmm_nodeid_t id : e.nodeIds()) {
        Member m;
        e.potentialInfo(id, m);
        s.nodes.push_back(m);
    }
    s.master = e.master();
    s.vice = e.viceMaster();
    s.health = e.health();
    return s;
}

void refused(Engine &e, const Event &event, cmm_error_t rc)
{
    Snapshot before = snapshot(e);
    Outcome o = e.process(event);
    CHECK(o.rc == rc);
    CHECK(o.notifications.empty());
    CHECK(snapshot(e) == before);
}

/* An engine over `table` with the listed nodes brought up in order. */
Engine cluster(const NodeTable &table, const std::vector<cmm_nodeid_t> &up)
{
    Engine e(table);
    for (cmm_nodeid_t id : up)
        REQUIRE(e.process(NodeUp{id}).rc == CMM_OK);
    REQUIRE(e.checkInvariants() == "");
    return e;
}

/* Two master-eligible nodes A = 1 (master) and B = 2 (vice-master). */
Engine twoServers()
{
    return cluster({eligibleNode(1), eligibleNode(2)}, {1, 2});
}

} // namespace

/* ======================================================================== */
/*  §4.3 documented scenarios                                               */
/* ======================================================================== */

TEST_CASE("(out,out) -> (master,out): the first node up is elected master, nothing else")
{
    Engine e({eligibleNode(1), eligibleNode(2)});
    CHECK(ok(e, NodeUp{1}) == "MASTER_ELECTED(1)");
    CHECK(role(e, 1) == "master");
    CHECK(role(e, 2) == "out");
}

TEST_CASE("(master,out) -> (master,vice-master): a second eligible node gets only "
          "VICEMASTER_ELECTED")
{
    Engine e = cluster({eligibleNode(1), eligibleNode(2)}, {1});
    CHECK(ok(e, NodeUp{2}) == "VICEMASTER_ELECTED(2)");
    CHECK(role(e, 2) == "vice");
}

TEST_CASE("(master,out) -> (master,in): a non-eligible node joining later gets MEMBER_JOINED")
{
    Engine e = cluster({eligibleNode(1), clientNode(2)}, {1});
    CHECK(ok(e, NodeUp{2}) == "MEMBER_JOINED(2)");
    CHECK(role(e, 2) == "in");
}

TEST_CASE("(master,out) -> (master,in) at start-up: a non-eligible node up first joins, the "
          "master is elected when an eligible node comes")
{
    Engine e({eligibleNode(1), clientNode(2)});
    CHECK(ok(e, NodeUp{2}) == "MEMBER_JOINED(2)");
    CHECK(ok(e, NodeUp{1}) == "MASTER_ELECTED(1)");
    CHECK(role(e, 1) == "master");
    CHECK(role(e, 2) == "in");
}

TEST_CASE("(master,in) -> (master,vice-master): a disqualified node requalified is elected "
          "vice-master")
{
    NodeConfig b = eligibleNode(2);
    b.disqualified = true;
    Engine e = cluster({eligibleNode(1), b}, {1});
    CHECK(ok(e, NodeUp{2}) == "MEMBER_JOINED(2)");
    CHECK(ok(e, SetQualif{1, 2, CMM_QUALIFIED_MEMBER}) == "VICEMASTER_ELECTED(2)");
    CHECK(role(e, 2) == "vice");
}

TEST_CASE("(master,in) -> (master,vice-master): a node that becomes able to serve late "
          "(synchro ready) is elected vice-master")
{
    NodeConfig b = eligibleNode(2);
    b.synchroNeeded = true;
    Engine e = cluster({eligibleNode(1), b}, {1, 2});
    CHECK(role(e, 2) == "in");
    CHECK(ok(e, SetQualif{1, 2, CMM_SYNCHRO_READY}) == "VICEMASTER_ELECTED(2)");
}

TEST_CASE("(master,any) -> stale: STALE_CLUSTER with node id 0")
{
    Engine e = twoServers();
    CHECK(ok(e, ClusterStale{}) == "STALE_CLUSTER(0)");
    CHECK(e.health() == Health::Stale);
    CHECK(ok(e, ClusterStale{}) == ""); /* no change, no notification */
}

TEST_CASE("(any,any) -> (master,master): split brain gives INVALID_CLUSTER")
{
    Engine e = twoServers();
    CHECK(ok(e, ClusterInvalid{}) == "INVALID_CLUSTER(0)");
    CHECK(e.health() == Health::Invalid);
    CHECK(ok(e, ClusterInvalid{}) == "");
}

/* ======================================================================== */
/*  §4.3 inferred scenarios                                                 */
/* ======================================================================== */

TEST_CASE("a client node that leaves, fails or removes itself: MEMBER_LEFT only")
{
    for (int how = 0; how < 2; ++how) {
        Engine e = cluster({eligibleNode(1), eligibleNode(2), clientNode(3)}, {1, 2, 3});
        Event ev = how == 0 ? Event{NodeDown{3}} : Event{RemoveSelf{3}};
        CHECK(ok(e, ev) == "MEMBER_LEFT(3)");
        CHECK(role(e, 3) == "out");
        CHECK(role(e, 1) == "master");
        CHECK(role(e, 2) == "vice");
    }
}

TEST_CASE("the vice-master leaves, fails or removes itself: VICEMASTER_DEMOTED, MEMBER_LEFT")
{
    for (int how = 0; how < 2; ++how) {
        Engine e = twoServers();
        Event ev = how == 0 ? Event{NodeDown{2}} : Event{RemoveSelf{2}};
        CHECK(ok(e, ev) == "VICEMASTER_DEMOTED(2) MEMBER_LEFT(2)");
        CHECK(role(e, 2) == "out");
        CHECK(e.viceMaster() == std::nullopt);
    }
}

TEST_CASE("the vice-master leaves with a third candidate in: it is elected after MEMBER_LEFT")
{
    Engine e = cluster({eligibleNode(1), eligibleNode(2), eligibleNode(3)}, {1, 2, 3});
    CHECK(role(e, 3) == "in");
    CHECK(ok(e, NodeDown{2}) == "VICEMASTER_DEMOTED(2) MEMBER_LEFT(2) VICEMASTER_ELECTED(3)");
}

TEST_CASE("the vice-master is disqualified: VICEMASTER_DEMOTED, it stays in")
{
    Engine e = twoServers();
    CHECK(ok(e, SetQualif{1, 2, CMM_DISQUALIFIED_MEMBER}) == "VICEMASTER_DEMOTED(2)");
    CHECK(role(e, 2) == "in");
    Member m;
    REQUIRE(e.memberInfo(2, m) == CMM_OK);
    CHECK((m.sflag & CMM_FLAG_DISQUALIFIED) != 0);
}

TEST_CASE("switchover: MASTER_DEMOTED(A), MASTER_ELECTED(B), VICEMASTER_ELECTED(A)")
{
    Engine e = twoServers();
    CHECK(ok(e, MastershipRelease{1}) ==
          "MASTER_DEMOTED(1) MASTER_ELECTED(2) VICEMASTER_ELECTED(1)");
    CHECK(role(e, 1) == "vice");
    CHECK(role(e, 2) == "master");
    /* And back. */
    CHECK(ok(e, MastershipRelease{2}) ==
          "MASTER_DEMOTED(2) MASTER_ELECTED(1) VICEMASTER_ELECTED(2)");
}

TEST_CASE("switchover from a synchro-needed master: the old master cannot be vice-master")
{
    Engine e = twoServers();
    CHECK(ok(e, SetQualif{1, 1, CMM_SYNCHRO_NEEDED}) == ""); /* the master keeps its role */
    CHECK(role(e, 1) == "master");
    CHECK(ok(e, MastershipRelease{1}) == "MASTER_DEMOTED(1) MASTER_ELECTED(2)");
    CHECK(role(e, 1) == "in");
}

TEST_CASE("failover, the master fails: MASTER_DEMOTED(A), MEMBER_LEFT(A), MASTER_ELECTED(B)")
{
    Engine e = twoServers();
    CHECK(ok(e, NodeDown{1}) == "MASTER_DEMOTED(1) MEMBER_LEFT(1) MASTER_ELECTED(2)");
    CHECK(role(e, 2) == "master");
    CHECK(e.viceMaster() == std::nullopt);
    /* A comes back as vice-master: no pre-emption of B. */
    CHECK(ok(e, NodeUp{1}) == "VICEMASTER_ELECTED(1)");
    CHECK(role(e, 2) == "master");
}

TEST_CASE("failover, the master removes itself: same sequence as a failure")
{
    Engine e = twoServers();
    CHECK(ok(e, RemoveSelf{1}) == "MASTER_DEMOTED(1) MEMBER_LEFT(1) MASTER_ELECTED(2)");
    CHECK(role(e, 1) == "out");
}

TEST_CASE("a node that removed itself stays out when the same gsd comes back; a new gsd brings "
          "it back")
{
    Engine e = twoServers();
    REQUIRE(ok(e, RemoveSelf{1}) == "MASTER_DEMOTED(1) MEMBER_LEFT(1) MASTER_ELECTED(2)");
    /* Its link cut and healed: out of the domain (nothing to tell), back. */
    CHECK(ok(e, NodeDown{1}) == "");
    CHECK(ok(e, NodeBack{1}) == "");
    CHECK(role(e, 1) == "out");
    CHECK(ok(e, NodeBack{1}) == "");
    CHECK(e.checkInvariants() == "");
    /* Its gsd restarted: a new gsd is a new member. */
    CHECK(ok(e, NodeDown{1}) == "");
    CHECK(ok(e, NodeUp{1}) == "VICEMASTER_ELECTED(1)");
    /* From then on the mark is gone: back after a cut, it is in again. */
    CHECK(ok(e, NodeDown{1}) == "VICEMASTER_DEMOTED(1) MEMBER_LEFT(1)");
    CHECK(ok(e, NodeBack{1}) == "VICEMASTER_ELECTED(1)");
    /* NodeBack of a node that never removed itself is NodeUp. */
    Engine f = cluster({eligibleNode(1), eligibleNode(2)}, {1});
    CHECK(ok(f, NodeBack{2}) == "VICEMASTER_ELECTED(2)");
    /* The mark travels in the snapshot. */
    REQUIRE(ok(e, RemoveSelf{1}) == "VICEMASTER_DEMOTED(1) MEMBER_LEFT(1)");
    Engine copy;
    copy.restore(e.snapshot());
    CHECK(ok(copy, NodeBack{1}) == "");
    CHECK(role(copy, 1) == "out");
}

TEST_CASE("failover with a third candidate: the vice-master takes over, the next candidate "
          "becomes vice-master")
{
    Engine e =
        cluster({eligibleNode(1), eligibleNode(2), eligibleNode(3), clientNode(4)}, {1, 2, 3, 4});
    CHECK(ok(e, NodeDown{1}) ==
          "MASTER_DEMOTED(1) MEMBER_LEFT(1) MASTER_ELECTED(2) VICEMASTER_ELECTED(3)");
}

TEST_CASE("the master fails with no vice-master: the cluster has no master")
{
    Engine e = cluster({eligibleNode(1), clientNode(2)}, {1, 2});
    CHECK(ok(e, NodeDown{1}) == "MASTER_DEMOTED(1) MEMBER_LEFT(1)");
    CHECK(e.master() == std::nullopt);
    Member m;
    CHECK(e.masterInfo(m) == CMM_ENOCLUSTER);
    CHECK(role(e, 2) == "in");
}

TEST_CASE("failover by disqualifying the master: MASTER_DEMOTED(A), MASTER_ELECTED(B), A stays "
          "in")
{
    Engine e = twoServers();
    CHECK(ok(e, SetQualif{1, 1, CMM_DISQUALIFIED_MEMBER}) == "MASTER_DEMOTED(1) MASTER_ELECTED(2)");
    CHECK(role(e, 1) == "in");
    CHECK(role(e, 2) == "master");
    Member m;
    REQUIRE(e.memberInfo(1, m) == CMM_OK);
    CHECK((m.sflag & CMM_FLAG_DISQUALIFIED) != 0);
    /* Requalified, A becomes vice-master. */
    CHECK(ok(e, SetQualif{2, 1, CMM_QUALIFIED_MEMBER}) == "VICEMASTER_ELECTED(1)");
}

TEST_CASE("the stale view clears and the split brain heals: VALID_CLUSTER")
{
    Engine e = twoServers();
    CHECK(ok(e, ClusterValid{}) == ""); /* already valid */
    CHECK(ok(e, ClusterStale{}) == "STALE_CLUSTER(0)");
    CHECK(ok(e, ClusterValid{}) == "VALID_CLUSTER(0)");
    CHECK(ok(e, ClusterInvalid{}) == "INVALID_CLUSTER(0)");
    CHECK(ok(e, ClusterValid{}) == "VALID_CLUSTER(0)");
    CHECK(e.health() == Health::Valid);
}

TEST_CASE("config_reload adds a node: nothing until it boots, then MEMBER_JOINED")
{
    Engine e = twoServers();
    CHECK(ok(e, ConfigReload{1, {eligibleNode(1), eligibleNode(2), clientNode(3)}}) == "");
    CHECK(role(e, 3) == "out");
    CHECK(ok(e, NodeUp{3}) == "MEMBER_JOINED(3)");
}

/* gsd compares the table in force (table()) with every joiner's file
 * (gsd/broker_domain.cpp): after a reload that was accepted, the table in
 * force must be the table that was reloaded, else every gsd that restarts
 * with the very file the master reloaded is refused at sync. */
TEST_CASE("config_reload: the table in force is the reloaded one, qualification flags included")
{
    Engine e = twoServers();
    NodeTable edited = {eligibleNode(1), eligibleNode(2)};
    edited[1].disqualified = true;
    edited[1].synchroNeeded = true;
    edited[0].name = "renamed";
    CHECK(ok(e, ConfigReload{1, edited}) == "");
    CHECK(e.table() == edited);
    /* Known nodes keep their current flags (cmm.h): node 2 stays
     * vice-master, qualified and synchronised. */
    Member m;
    REQUIRE(e.potentialInfo(2, m) == CMM_OK);
    CHECK((m.sflag & (CMM_FLAG_DISQUALIFIED | CMM_FLAG_SYNCHRO_NEEDED)) == 0);
    CHECK(role(e, 2) == "vice");
    /* And the same table reloaded again is no change at all. */
    const Snapshot before = snapshot(e);
    CHECK(ok(e, ConfigReload{1, edited}) == "");
    CHECK(snapshot(e) == before);
}

/* ======================================================================== */
/*  Elections                                                               */
/* ======================================================================== */

TEST_CASE("no pre-emption: a lower-id candidate joining later gets no role")
{
    Engine e({eligibleNode(1), eligibleNode(5), eligibleNode(9)});
    CHECK(ok(e, NodeUp{9}) == "MASTER_ELECTED(9)");
    CHECK(ok(e, NodeUp{5}) == "VICEMASTER_ELECTED(5)");
    CHECK(ok(e, NodeUp{1}) == "MEMBER_JOINED(1)");
    CHECK(e.master() == 9u);
    CHECK(e.viceMaster() == 5u);
}

TEST_CASE("a vacant vice-master role goes to the lowest-id candidate")
{
    Engine e({eligibleNode(1), eligibleNode(5), eligibleNode(9)});
    ok(e, NodeUp{9});
    ok(e, NodeUp{5});
    ok(e, NodeUp{1});
    CHECK(ok(e, NodeDown{5}) == "VICEMASTER_DEMOTED(5) MEMBER_LEFT(5) VICEMASTER_ELECTED(1)");
    /* Switchover: the old master 9 competes with 5 (back) and 1 (now master). */
    ok(e, NodeUp{5});
    CHECK(ok(e, MastershipRelease{9}) ==
          "MASTER_DEMOTED(9) MASTER_ELECTED(1) VICEMASTER_ELECTED(5)");
}

TEST_CASE("nodes started together: lowest id master, next one vice-master")
{
    Engine e =
        cluster({eligibleNode(4), eligibleNode(2), eligibleNode(3), clientNode(1)}, {1, 2, 3, 4});
    CHECK(e.master() == 2u);
    CHECK(e.viceMaster() == 3u);
    CHECK(e.checkInvariants() == "");
}

TEST_CASE("a synchro-needed or disqualified node is not elected at start-up")
{
    NodeConfig a = eligibleNode(1);
    a.synchroNeeded = true;
    NodeConfig b = eligibleNode(2);
    b.disqualified = true;
    Engine e({a, b, eligibleNode(3)});
    CHECK(ok(e, NodeUp{1}) == "MEMBER_JOINED(1)");
    CHECK(ok(e, NodeUp{2}) == "MEMBER_JOINED(2)");
    CHECK(ok(e, NodeUp{3}) == "MASTER_ELECTED(3)");
    CHECK(e.viceMaster() == std::nullopt);
}

TEST_CASE("item 13: a synchro-needed vice-master and master keep their roles")
{
    Engine e = twoServers();
    /* A resync costs no notification and leaves the vice-master in place. */
    CHECK(ok(e, SetQualif{1, 2, CMM_SYNCHRO_NEEDED}) == "");
    CHECK(role(e, 2) == "vice");
    Member m;
    REQUIRE(e.viceMasterInfo(m) == CMM_OK);
    CHECK(m.nodeid == 2);
    CHECK((m.sflag & CMM_FLAG_SYNCHRO_NEEDED) != 0);
    CHECK(ok(e, SetQualif{1, 2, CMM_SYNCHRO_READY}) == "");
    CHECK(role(e, 2) == "vice");
    CHECK(ok(e, SetQualif{1, 1, CMM_SYNCHRO_NEEDED}) == "");
    CHECK(role(e, 1) == "master");
    REQUIRE(e.masterInfo(m) == CMM_OK);
    CHECK((m.sflag & CMM_FLAG_SYNCHRO_NEEDED) != 0);
}

TEST_CASE("item 13: a synchro-needed vice-master cannot take over until synchro-ready")
{
    SUBCASE("no other candidate: switchover and removal of the master are canceled")
    {
        Engine e = twoServers();
        ok(e, SetQualif{1, 2, CMM_SYNCHRO_NEEDED});
        refused(e, MastershipRelease{1}, CMM_ECANCELED);
        refused(e, RemoveSelf{1}, CMM_ECANCELED);
        CHECK(ok(e, SetQualif{1, 2, CMM_SYNCHRO_READY}) == "");
        CHECK(ok(e, MastershipRelease{1}) ==
              "MASTER_DEMOTED(1) MASTER_ELECTED(2) VICEMASTER_ELECTED(1)");
    }
    SUBCASE("another candidate takes the master role; the vice-master keeps its own")
    {
        Engine e = cluster({eligibleNode(1), eligibleNode(2), eligibleNode(3)}, {1, 2, 3});
        ok(e, SetQualif{1, 2, CMM_SYNCHRO_NEEDED});
        CHECK(ok(e, NodeDown{1}) == "MASTER_DEMOTED(1) MEMBER_LEFT(1) MASTER_ELECTED(3)");
        CHECK(role(e, 2) == "vice");
        CHECK(role(e, 3) == "master");
    }
    SUBCASE("the master fails, nobody can take over: the vice-master waits, then seizes")
    {
        Engine e = twoServers();
        ok(e, SetQualif{1, 2, CMM_SYNCHRO_NEEDED});
        CHECK(ok(e, NodeDown{1}) == "MASTER_DEMOTED(1) MEMBER_LEFT(1)");
        CHECK(e.master() == std::nullopt);
        CHECK(role(e, 2) == "vice");
        Member m;
        CHECK(e.viceMasterInfo(m) == CMM_ENOCLUSTER); /* no master */
        CHECK(ok(e, SeizeQualif{2}) == "MASTER_ELECTED(2)");
        REQUIRE(e.masterInfo(m) == CMM_OK);
        CHECK((m.sflag & CMM_FLAG_SYNCHRO_NEEDED) == 0);
    }
    SUBCASE("the master fails, nobody can take over: the master's return ends the wait")
    {
        Engine e = twoServers();
        ok(e, SetQualif{1, 2, CMM_SYNCHRO_NEEDED});
        ok(e, NodeDown{1});
        CHECK(ok(e, NodeUp{1}) == "MASTER_ELECTED(1)");
        CHECK(role(e, 2) == "vice");
    }
}

TEST_CASE("item 14: a synchro-needed master that is disqualified can get its role back")
{
    SUBCASE("one node: seizequalif elects it again, the flag kept")
    {
        Engine e = cluster({eligibleNode(1)}, {1});
        ok(e, SetQualif{1, 1, CMM_SYNCHRO_NEEDED});
        CHECK(ok(e, SetQualif{1, 1, CMM_DISQUALIFIED_MEMBER}) == "MASTER_DEMOTED(1)");
        CHECK(e.master() == std::nullopt);
        CHECK(masterRecoverable(e));
        CHECK(ok(e, SeizeQualif{1}) == "MASTER_ELECTED(1)");
        Member m;
        REQUIRE(e.masterInfo(m) == CMM_OK);
        /* Still the only up-to-date copy. */
        CHECK((m.sflag & CMM_FLAG_SYNCHRO_NEEDED) != 0);
        CHECK((m.sflag & CMM_FLAG_DISQUALIFIED) == 0);
    }
    SUBCASE("the last master, synchro-needed, is elected when it rejoins")
    {
        Engine e = cluster({eligibleNode(1), clientNode(2)}, {1, 2});
        ok(e, SetQualif{1, 1, CMM_SYNCHRO_NEEDED});
        CHECK(ok(e, NodeDown{1}) == "MASTER_DEMOTED(1) MEMBER_LEFT(1)");
        CHECK(ok(e, NodeUp{1}) == "MASTER_ELECTED(1)");
    }
    SUBCASE("a stale copy does not win: another node has been master since")
    {
        Engine e = twoServers();
        ok(e, SetQualif{1, 1, CMM_SYNCHRO_NEEDED});
        /* Node 2 becomes master; node 1's copy falls behind. */
        CHECK(ok(e, MastershipRelease{1}) == "MASTER_DEMOTED(1) MASTER_ELECTED(2)");
        CHECK(ok(e, SetQualif{2, 2, CMM_DISQUALIFIED_MEMBER}) == "MASTER_DEMOTED(2)");
        REQUIRE(e.master() == std::nullopt);
        refused(e, SeizeQualif{1}, CMM_ECANCELED);
        CHECK(masterRecoverable(e));
        /* The newest copy's holder may seize. */
        CHECK(ok(e, SeizeQualif{2}) == "MASTER_ELECTED(2)");
    }
    SUBCASE("a stale copy waits for the last master's return")
    {
        Engine e = twoServers();
        ok(e, SetQualif{1, 1, CMM_SYNCHRO_NEEDED});
        ok(e, MastershipRelease{1});
        CHECK(ok(e, NodeDown{2}) == "MASTER_DEMOTED(2) MEMBER_LEFT(2)");
        refused(e, SeizeQualif{1}, CMM_ECANCELED);
        CHECK(e.lastMaster() == 2u);
        CHECK(masterRecoverable(e));
        CHECK(ok(e, NodeUp{2}) == "MASTER_ELECTED(2)");
    }
}

TEST_CASE("item 11: node_eligible / node_ineligible change the local node's eligibility")
{
    SUBCASE("a client node declares itself eligible and fills the vacant vice-master role")
    {
        Engine e = cluster({eligibleNode(1), clientNode(2)}, {1, 2});
        CHECK(ok(e, NodeEligibility{2, true}) == "NODE_ELIGIBLE(2) VICEMASTER_ELECTED(2)");
        Member m;
        REQUIRE(e.viceMasterInfo(m) == CMM_OK);
        CHECK((m.sflag & CMM_ELIGIBLE_MEMBER) != 0);
        CHECK(ok(e, NodeEligibility{2, true}) == ""); /* already */
    }
    SUBCASE("the first eligible node of a cluster becomes master")
    {
        Engine e = cluster({clientNode(1), clientNode(2)}, {1, 2});
        REQUIRE(e.master() == std::nullopt);
        CHECK(ok(e, NodeEligibility{2, true}) == "NODE_ELIGIBLE(2) MASTER_ELECTED(2)");
    }
    SUBCASE("no pre-emption: a lower id declaring eligibility gets no held role")
    {
        Engine e = cluster({clientNode(1), eligibleNode(2), eligibleNode(3)}, {1, 2, 3});
        CHECK(ok(e, NodeEligibility{1, true}) == "NODE_ELIGIBLE(1)");
        CHECK(role(e, 1) == "in");
    }
    SUBCASE("the vice-master withdraws: demoted first, then the next candidate")
    {
        Engine e = cluster({eligibleNode(1), eligibleNode(2), eligibleNode(3)}, {1, 2, 3});
        CHECK(ok(e, NodeEligibility{2, false}) ==
              "VICEMASTER_DEMOTED(2) NODE_INELIGIBLE(2) VICEMASTER_ELECTED(3)");
        Member m;
        REQUIRE(e.memberInfo(2, m) == CMM_OK);
        CHECK((m.sflag & CMM_ELIGIBLE_MEMBER) == 0);
        /* Now a client node for setqualif too. */
        refused(e, SetQualif{1, 2, CMM_DISQUALIFIED_MEMBER}, CMM_EINVAL);
    }
    SUBCASE("the master withdraws: a failover, or ECANCELED when nobody can take over")
    {
        Engine e = twoServers();
        CHECK(ok(e, NodeEligibility{1, false}) ==
              "MASTER_DEMOTED(1) NODE_INELIGIBLE(1) MASTER_ELECTED(2)");
        refused(e, NodeEligibility{2, false}, CMM_ECANCELED);
        CHECK(ok(e, NodeEligibility{1, true}) == "NODE_ELIGIBLE(1) VICEMASTER_ELECTED(1)");
    }
    SUBCASE("refusals: out of the cluster, not configured")
    {
        Engine e = cluster({eligibleNode(1), clientNode(2)}, {1});
        refused(e, NodeEligibility{2, true}, CMM_EPERM);
        refused(e, NodeEligibility{42, true}, CMM_ENOCLUSTER);
    }
    SUBCASE("a reload compares the configured attribute, not the run-time one")
    {
        Engine e = cluster({eligibleNode(1), clientNode(2)}, {1, 2});
        ok(e, NodeEligibility{2, true});
        CHECK(ok(e, ConfigReload{1, {eligibleNode(1), clientNode(2)}}) == "");
        CHECK(role(e, 2) == "vice");
        refused(e, ConfigReload{1, {eligibleNode(1), eligibleNode(2)}}, CMM_EINVAL);
    }
}

TEST_CASE("the master disqualified with no vice-master leaves the cluster without a master")
{
    Engine e = twoServers();
    ok(e, SetQualif{1, 2, CMM_DISQUALIFIED_MEMBER});
    CHECK(ok(e, SetQualif{1, 1, CMM_DISQUALIFIED_MEMBER}) == "MASTER_DEMOTED(1)");
    CHECK(e.master() == std::nullopt);
    CHECK(role(e, 1) == "in");
    CHECK(role(e, 2) == "in");
}

TEST_CASE("an excluded node never joins")
{
    NodeConfig b = eligibleNode(2);
    b.excluded = true;
    Engine e = cluster({eligibleNode(1), b}, {1});
    refused(e, NodeUp{2}, CMM_EPERM);
    CHECK(role(e, 2) == "out");
    Member m;
    REQUIRE(e.potentialInfo(2, m) == CMM_OK);
    CHECK((m.sflag & CMM_EXCLUDED_MEMBER) != 0);
}

TEST_CASE("the frozen attribute is carried and changes nothing")
{
    NodeConfig a = eligibleNode(1);
    a.frozen = true;
    Engine e({a});
    CHECK(ok(e, NodeUp{1}) == "MASTER_ELECTED(1)");
    Member m;
    REQUIRE(e.masterInfo(m) == CMM_OK);
    CHECK(m.sflag == (CMM_MASTER | CMM_FROZEN_MEMBER | CMM_ELIGIBLE_MEMBER));
}

/* ======================================================================== */
/*  Node events                                                             */
/* ======================================================================== */

TEST_CASE("node events: unknown ids, repeats, nodes already out")
{
    Engine e = twoServers();
    refused(e, NodeUp{42}, CMM_ESRCH);
    refused(e, NodeDown{42}, CMM_ESRCH);
    CHECK(ok(e, NodeUp{1}) == ""); /* already in */
    ok(e, NodeDown{2});
    CHECK(ok(e, NodeDown{2}) == ""); /* already out */
    CHECK(e.checkInvariants() == "");
}

/* ======================================================================== */
/*  Reply codes of the requests                                             */
/* ======================================================================== */

TEST_CASE("membership_remove: every reply code")
{
    SUBCASE("OK on a member without a role")
    {
        Engine e = cluster({eligibleNode(1), clientNode(2)}, {1, 2});
        CHECK(ok(e, RemoveSelf{2}) == "MEMBER_LEFT(2)");
    }
    SUBCASE("ECANCELED on a master alone")
    {
        Engine e = cluster({eligibleNode(1)}, {1});
        refused(e, RemoveSelf{1}, CMM_ECANCELED);
    }
    SUBCASE("ECANCELED on a master whose other members cannot take over")
    {
        NodeConfig b = eligibleNode(2);
        b.disqualified = true;
        Engine e = cluster({eligibleNode(1), b, clientNode(3)}, {1, 2, 3});
        refused(e, RemoveSelf{1}, CMM_ECANCELED);
    }
    SUBCASE("ENOCLUSTER on a node that never joined, and on one configured for no cluster")
    {
        Engine e = cluster({eligibleNode(1), eligibleNode(2)}, {1});
        refused(e, RemoveSelf{2}, CMM_ENOCLUSTER);
        refused(e, RemoveSelf{42}, CMM_ENOCLUSTER);
    }
    SUBCASE("ENOCLUSTER when called again after a removal")
    {
        Engine e = twoServers();
        ok(e, RemoveSelf{2});
        refused(e, RemoveSelf{2}, CMM_ENOCLUSTER);
    }
}

TEST_CASE("mastership_release: every reply code")
{
    SUBCASE("OK on the master with a vice-master")
    {
        Engine e = twoServers();
        CHECK(e.process(MastershipRelease{1}).rc == CMM_OK);
    }
    SUBCASE("EPERM on the vice-master, on a member and on an out node")
    {
        Engine e =
            cluster({eligibleNode(1), eligibleNode(2), clientNode(3), clientNode(4)}, {1, 2, 3});
        refused(e, MastershipRelease{2}, CMM_EPERM);
        refused(e, MastershipRelease{3}, CMM_EPERM);
        refused(e, MastershipRelease{4}, CMM_EPERM);
    }
    SUBCASE("ENOCLUSTER without a master, and for a node configured for no cluster")
    {
        Engine e = cluster({eligibleNode(1), clientNode(2)}, {2});
        refused(e, MastershipRelease{2}, CMM_ENOCLUSTER);
        refused(e, MastershipRelease{42}, CMM_ENOCLUSTER);
    }
    SUBCASE("ECANCELED without a vice-master")
    {
        Engine e = cluster({eligibleNode(1), clientNode(2)}, {1, 2});
        refused(e, MastershipRelease{1}, CMM_ECANCELED);
    }
}

TEST_CASE("setqualif: every reply code, in the documented order")
{
    Engine e =
        cluster({eligibleNode(1), eligibleNode(2), clientNode(3), eligibleNode(4)}, {1, 2, 3});
    refused(e, SetQualif{42, 2, CMM_DISQUALIFIED_MEMBER}, CMM_ENOCLUSTER);
    refused(e, SetQualif{4, 2, CMM_DISQUALIFIED_MEMBER}, CMM_EPERM); /* caller out */
    refused(e, SetQualif{1, 2, 0}, CMM_EINVAL);
    refused(e, SetQualif{1, 2, -146}, CMM_EINVAL);
    refused(e, SetQualif{1, 42, CMM_DISQUALIFIED_MEMBER}, CMM_ESRCH);
    refused(e, SetQualif{1, 3, CMM_DISQUALIFIED_MEMBER}, CMM_EINVAL); /* in, not eligible */
    refused(e, SetQualif{2, 1, CMM_DISQUALIFIED_MEMBER}, CMM_EPERM);  /* not the master */
    refused(e, SetQualif{3, 2, CMM_SYNCHRO_NEEDED}, CMM_EPERM);
    /* Nothing to change: accepted from any member. */
    CHECK(ok(e, SetQualif{2, 1, CMM_QUALIFIED_MEMBER}) == "");
    CHECK(ok(e, SetQualif{3, 2, CMM_SYNCHRO_READY}) == "");
    /* An out-of-cluster target is accepted, its flags apply when it joins. */
    CHECK(ok(e, SetQualif{1, 4, CMM_DISQUALIFIED_MEMBER}) == "");
    Member m;
    REQUIRE(e.potentialInfo(4, m) == CMM_OK);
    CHECK((m.sflag & (CMM_OUT_OF_CLUSTER | CMM_FLAG_DISQUALIFIED)) ==
          (CMM_OUT_OF_CLUSTER | CMM_FLAG_DISQUALIFIED));
    ok(e, NodeDown{2});
    CHECK(ok(e, NodeUp{4}) == "MEMBER_JOINED(4)");
    /* Without a master: ENOCLUSTER. */
    ok(e, NodeDown{1});
    REQUIRE(e.master() == std::nullopt);
    refused(e, SetQualif{3, 4, CMM_QUALIFIED_MEMBER}, CMM_ENOCLUSTER);
}

TEST_CASE("setqualif: two disqualifications of the master both succeed, the second without "
          "effect")
{
    Engine e = twoServers();
    CHECK(ok(e, SetQualif{1, 1, CMM_DISQUALIFIED_MEMBER}) == "MASTER_DEMOTED(1) MASTER_ELECTED(2)");
    CHECK(ok(e, SetQualif{1, 1, CMM_DISQUALIFIED_MEMBER}) == "");
    CHECK(e.master() == 2u);
}

TEST_CASE("seizequalif: every reply code")
{
    SUBCASE("OK: both servers disqualified, one seizes and is master")
    {
        Engine e = twoServers();
        ok(e, SetQualif{1, 2, CMM_DISQUALIFIED_MEMBER});
        ok(e, SetQualif{1, 1, CMM_DISQUALIFIED_MEMBER});
        CHECK(ok(e, SeizeQualif{2}) == "MASTER_ELECTED(2)");
        Member m;
        REQUIRE(e.masterInfo(m) == CMM_OK);
        CHECK((m.sflag & CMM_FLAG_DISQUALIFIED) == 0);
        CHECK(role(e, 1) == "in"); /* still disqualified */
    }
    SUBCASE("OK: a synchro-needed node that was never master seizes")
    {
        NodeConfig a = eligibleNode(1);
        a.synchroNeeded = true;
        Engine e = cluster({a, clientNode(2)}, {1, 2});
        REQUIRE(e.master() == std::nullopt);
        CHECK(ok(e, SeizeQualif{1}) == "MASTER_ELECTED(1)");
        Member m;
        REQUIRE(e.masterInfo(m) == CMM_OK);
        CHECK((m.sflag & (CMM_FLAG_SYNCHRO_NEEDED | CMM_FLAG_DISQUALIFIED)) == 0);
    }
    SUBCASE("ECANCELED: a former master, synchro-needed, with a master since, falls back")
    {
        Engine e = twoServers();
        ok(e, SetQualif{1, 1, CMM_SYNCHRO_NEEDED});
        ok(e, MastershipRelease{1}); /* 2 master, 1 in: synchro-needed */
        ok(e, SetQualif{2, 2, CMM_DISQUALIFIED_MEMBER});
        REQUIRE(e.master() == std::nullopt);
        refused(e, SeizeQualif{1}, CMM_ECANCELED);
        /* The last master may seize. */
        CHECK(ok(e, SeizeQualif{2}) == "MASTER_ELECTED(2)");
    }
    SUBCASE("EPERM: a master exists")
    {
        Engine e = twoServers();
        refused(e, SeizeQualif{2}, CMM_EPERM);
        refused(e, SeizeQualif{1}, CMM_EPERM);
    }
    SUBCASE("EPERM: caller not eligible, or out; ENOCLUSTER: not configured")
    {
        NodeConfig a = eligibleNode(1);
        a.disqualified = true;
        Engine e = cluster({a, clientNode(2), eligibleNode(3)}, {1, 2});
        REQUIRE(e.master() == std::nullopt);
        refused(e, SeizeQualif{2}, CMM_EPERM);
        refused(e, SeizeQualif{3}, CMM_EPERM);
        refused(e, SeizeQualif{42}, CMM_ENOCLUSTER);
        CHECK(ok(e, SeizeQualif{1}) == "MASTER_ELECTED(1)");
    }
}

TEST_CASE("config_reload: every reply code")
{
    const NodeTable base = {eligibleNode(1), eligibleNode(2), clientNode(3), clientNode(4)};
    Engine e = cluster(base, {1, 2, 3});
    NodeTable same = base;

    refused(e, ConfigReload{42, same}, CMM_ENOCLUSTER);
    refused(e, ConfigReload{4, same}, CMM_EPERM); /* out */
    refused(e, ConfigReload{2, same}, CMM_EPERM); /* vice-master */
    refused(e, ConfigReload{3, same}, CMM_EPERM); /* member */

    NodeTable dropsMember = {eligibleNode(1), eligibleNode(2), clientNode(4)};
    refused(e, ConfigReload{1, dropsMember}, CMM_EINVAL);
    NodeTable eligibility = base;
    eligibility[2].eligible = true;
    refused(e, ConfigReload{1, eligibility}, CMM_EINVAL);
    NodeTable excluded = base;
    excluded[3].excluded = true;
    refused(e, ConfigReload{1, excluded}, CMM_EINVAL);
    NodeTable repeated = base;
    repeated.push_back(clientNode(4));
    refused(e, ConfigReload{1, repeated}, CMM_EINVAL);
    NodeTable reserved = base;
    reserved.push_back(clientNode(CMM_INVALID_NODE_ID));
    refused(e, ConfigReload{1, reserved}, CMM_EINVAL);
    NodeTable zero = base;
    zero.push_back(clientNode(CMM_NO_NODE));
    refused(e, ConfigReload{1, zero}, CMM_EINVAL);
    NodeTable mixed = base;
    mixed.push_back(clientNode(5));
    mixed.back().domain = kDomain + 1;
    refused(e, ConfigReload{1, mixed}, CMM_EINVAL);
    NodeTable moved = base;
    for (NodeConfig &c : moved)
        c.domain = kDomain + 1;
    refused(e, ConfigReload{1, moved}, CMM_EINVAL);
    NodeTable longName = base;
    longName[3].name.assign(CMM_MAX_NAME_SIZE, 'x');
    refused(e, ConfigReload{1, longName}, CMM_EINVAL);
    NodeTable longAddr = base;
    longAddr[3].address.assign(CMM_MAX_ADDR_SIZE, '1');
    refused(e, ConfigReload{1, longAddr}, CMM_EINVAL);
    NodeTable longLoad = base;
    longLoad[3].softwareLoad.assign(CMM_MAX_SWLOADID_SIZE, 'l');
    refused(e, ConfigReload{1, longLoad}, CMM_EINVAL);
    NodeTable huge;
    for (cmm_nodeid_t id = 1; id <= CMM_MAX_MEMBER_TABLE_SIZE + 1; ++id)
        huge.push_back(id <= 2 ? eligibleNode(id) : clientNode(id));
    refused(e, ConfigReload{1, huge}, CMM_EINVAL);

    CHECK(ok(e, ConfigReload{1, same}) == "");

    /* Without a master. */
    Engine noMaster = cluster(base, {3});
    refused(noMaster, ConfigReload{3, same}, CMM_ENOCLUSTER);
}

TEST_CASE("config_reload: adds and drops out nodes, renames, keeps runtime flags")
{
    NodeConfig b = eligibleNode(2);
    Engine e = cluster({eligibleNode(1), b, clientNode(3)}, {1, 2});
    ok(e, SetQualif{1, 2, CMM_DISQUALIFIED_MEMBER});

    NodeTable next = {eligibleNode(1), b, eligibleNode(5)};
    next[1].name = "renamed";
    next[1].address = "192.168.0.2";
    next[1].softwareLoad = "load-2";
    next[1].disqualified = false; /* ignored for a known node */
    next[2].synchroNeeded = true; /* applied to a new node */
    CHECK(ok(e, ConfigReload{1, next}) == "");

    CHECK(e.nodeIds() == std::vector<cmm_nodeid_t>{1, 2, 5});
    Member m;
    CHECK(e.potentialInfo(3, m) == CMM_ESRCH);
    REQUIRE(e.memberInfo(2, m) == CMM_OK);
    CHECK(m.name == "renamed");
    CHECK(m.addr == "192.168.0.2");
    CHECK(m.softwareLoadId == "load-2");
    CHECK((m.sflag & CMM_FLAG_DISQUALIFIED) != 0);
    REQUIRE(e.potentialInfo(5, m) == CMM_OK);
    CHECK(m.sflag == (CMM_OUT_OF_CLUSTER | CMM_ELIGIBLE_MEMBER | CMM_FLAG_SYNCHRO_NEEDED));
    CHECK(ok(e, NodeUp{5}) == "MEMBER_JOINED(5)");
    CHECK(ok(e, SetQualif{1, 5, CMM_SYNCHRO_READY}) == "VICEMASTER_ELECTED(5)");
    refused(e, NodeUp{3}, CMM_ESRCH);
}

TEST_CASE("an out-of-cluster caller: queries work, modifying calls are refused")
{
    Engine e = cluster({eligibleNode(1), eligibleNode(2), eligibleNode(3)}, {1, 2, 3});
    CHECK(ok(e, RemoveSelf{1}) ==
          "MASTER_DEMOTED(1) MEMBER_LEFT(1) MASTER_ELECTED(2) VICEMASTER_ELECTED(3)");
    Member m;
    REQUIRE(e.potentialInfo(1, m) == CMM_OK);
    CHECK((m.sflag & CMM_ROLE_MASK) == CMM_OUT_OF_CLUSTER);
    /* Item 12: still described, with CMM_OUT_OF_CLUSTER. */
    REQUIRE(e.memberInfo(1, m) == CMM_OK);
    CHECK((m.sflag & CMM_ROLE_MASK) == CMM_OUT_OF_CLUSTER);
    CHECK(e.masterInfo(m) == CMM_OK);
    CHECK(m.nodeid == 2);
    refused(e, MastershipRelease{1}, CMM_EPERM);
    refused(e, SetQualif{1, 3, CMM_DISQUALIFIED_MEMBER}, CMM_EPERM);
    refused(e, SeizeQualif{1}, CMM_EPERM);
    refused(e, ConfigReload{1, {eligibleNode(1), eligibleNode(2), eligibleNode(3)}}, CMM_EPERM);
    refused(e, RemoveSelf{1}, CMM_ENOCLUSTER);
    /* Its gsd restarts: it rejoins, without a role (no pre-emption). */
    CHECK(ok(e, NodeUp{1}) == "MEMBER_JOINED(1)");
    REQUIRE(e.memberInfo(1, m) == CMM_OK);
    CHECK(m.incarnationNumber == 2);
}

/* ======================================================================== */
/*  Queries                                                                 */
/* ======================================================================== */

TEST_CASE("queries: member, potential, master and vice-master descriptors")
{
    Engine e =
        cluster({eligibleNode(1), eligibleNode(2), clientNode(3), eligibleNode(4)}, {1, 2, 3});
    Member m;
    REQUIRE(e.masterInfo(m) == CMM_OK);
    CHECK(m.nodeid == 1);
    CHECK(m.name == "node1");
    CHECK(m.addr == "10.0.0.1");
    CHECK(m.domainid == kDomain);
    CHECK(m.sflag == (CMM_MASTER | CMM_ELIGIBLE_MEMBER));
    CHECK(m.incarnationNumber == 1);
    CHECK(m.softwareLoadId == "load-1");
    REQUIRE(e.viceMasterInfo(m) == CMM_OK);
    CHECK(m.nodeid == 2);
    CHECK(m.sflag == (CMM_VICEMASTER | CMM_ELIGIBLE_MEMBER));
    REQUIRE(e.memberInfo(3, m) == CMM_OK);
    CHECK(m.sflag == 0);
    /* Item 12: a configured node that is out is described (never joined). */
    REQUIRE(e.memberInfo(4, m) == CMM_OK);
    CHECK(m.sflag == (CMM_OUT_OF_CLUSTER | CMM_ELIGIBLE_MEMBER));
    CHECK(e.memberInfo(42, m) == CMM_ESRCH);
    REQUIRE(e.potentialInfo(4, m) == CMM_OK);
    CHECK(m.sflag == (CMM_OUT_OF_CLUSTER | CMM_ELIGIBLE_MEMBER));
    CHECK(m.incarnationNumber == 0);
    CHECK(e.potentialInfo(42, m) == CMM_ESRCH);
    CHECK(e.configured(4));
    CHECK_FALSE(e.configured(42));

    cmm_member_t c;
    e.memberInfo(1, m);
    toCmmMember(m, c);
    CHECK(c.nodeid == 1);
    CHECK(std::string(c.name) == "node1");
    CHECK(std::string(c.addr) == "10.0.0.1");
    CHECK(c.domainid == kDomain);
    CHECK(c.sflag == (CMM_MASTER | CMM_ELIGIBLE_MEMBER));
    CHECK(c.incarnation_number == 1);
    CHECK(std::string(c.software_load_id) == "load-1");
}

TEST_CASE("queries: ENOCLUSTER without a master, ESRCH without a vice-master")
{
    Engine e = cluster({eligibleNode(1), clientNode(2)}, {2});
    Member m;
    CHECK(e.masterInfo(m) == CMM_ENOCLUSTER);
    CHECK(e.viceMasterInfo(m) == CMM_ENOCLUSTER);
    ok(e, NodeUp{1});
    CHECK(e.masterInfo(m) == CMM_OK);
    CHECK(e.viceMasterInfo(m) == CMM_ESRCH);
}

TEST_CASE("queries: count and getall include every member, self included, in node id order")
{
    Engine e = cluster({eligibleNode(9), clientNode(3), eligibleNode(5), clientNode(7)}, {9, 3, 5});
    uint32_t count = 0;
    REQUIRE(e.memberCount(count) == CMM_OK);
    CHECK(count == 3);

    std::vector<Member> table(3);
    REQUIRE(e.memberAll(3, table.data(), count) == CMM_OK);
    CHECK(count == 3);
    CHECK(table[0].nodeid == 3);
    CHECK(table[1].nodeid == 5);
    CHECK(table[2].nodeid == 9);
    CHECK(table[2].sflag == (CMM_MASTER | CMM_ELIGIBLE_MEMBER));
    CHECK(e.members() == table);

    /* NULL table: like getcount, whatever the size. */
    count = 0;
    CHECK(e.memberAll(5000, nullptr, count) == CMM_OK);
    CHECK(count == 3);

    /* Too small: ERANGE, count set, table untouched. */
    std::vector<Member> small(2);
    small[0].name = "untouched";
    count = 0;
    CHECK(e.memberAll(2, small.data(), count) == CMM_ERANGE);
    CHECK(count == 3);
    CHECK(small[0].name == "untouched");
    CHECK(small[1] == Member{});

    /* Above the documented maximum. */
    std::vector<Member> big(CMM_MAX_MEMBER_TABLE_SIZE + 1);
    CHECK(e.memberAll(CMM_MAX_MEMBER_TABLE_SIZE + 1, big.data(), count) == CMM_EINVAL);
    CHECK(e.memberAll(CMM_MAX_MEMBER_TABLE_SIZE, big.data(), count) == CMM_OK);

    /* Nobody in. */
    Engine empty({eligibleNode(1)});
    CHECK(empty.memberCount(count) == CMM_OK);
    CHECK(count == 0);
    CHECK(empty.memberAll(0, big.data(), count) == CMM_OK);
    CHECK(count == 0);
}

TEST_CASE("queries: EAGAIN with data while the view is stale; ENOCLUSTER for master while "
          "invalid")
{
    Engine e = twoServers();
    ok(e, ClusterStale{});
    Member m;
    uint32_t count = 0;
    std::vector<Member> table(2);
    CHECK(e.masterInfo(m) == CMM_EAGAIN);
    CHECK(m.nodeid == 1);
    CHECK(e.viceMasterInfo(m) == CMM_EAGAIN);
    CHECK(m.nodeid == 2);
    CHECK(e.memberInfo(1, m) == CMM_EAGAIN);
    CHECK(e.potentialInfo(2, m) == CMM_EAGAIN);
    CHECK(e.memberCount(count) == CMM_EAGAIN);
    CHECK(count == 2);
    CHECK(e.memberAll(2, table.data(), count) == CMM_EAGAIN);
    CHECK(table[1].nodeid == 2);
    CHECK(e.memberAll(1, table.data(), count) == CMM_ERANGE);

    ok(e, ClusterInvalid{});
    CHECK(e.masterInfo(m) == CMM_ENOCLUSTER);
    CHECK(e.viceMasterInfo(m) == CMM_ENOCLUSTER);
    CHECK(e.memberInfo(1, m) == CMM_EAGAIN);

    ok(e, ClusterValid{});
    CHECK(e.masterInfo(m) == CMM_OK);
}

TEST_CASE("incarnation numbers: 0 before the first join, +1 at each join, kept across a reload "
          "that drops and re-adds the node")
{
    Engine e = cluster({eligibleNode(1), clientNode(2)}, {1});
    Member m;
    e.potentialInfo(2, m);
    CHECK(m.incarnationNumber == 0);
    ok(e, NodeUp{2});
    e.memberInfo(2, m);
    CHECK(m.incarnationNumber == 1);
    ok(e, NodeUp{2}); /* repeated report: same incarnation */
    e.memberInfo(2, m);
    CHECK(m.incarnationNumber == 1);
    ok(e, NodeDown{2});
    e.potentialInfo(2, m);
    CHECK(m.incarnationNumber == 1); /* last known */
    ok(e, NodeUp{2});
    e.memberInfo(2, m);
    CHECK(m.incarnationNumber == 2);
    ok(e, NodeDown{2});
    ok(e, ConfigReload{1, {eligibleNode(1)}});
    ok(e, ConfigReload{1, {eligibleNode(1), clientNode(2)}});
    ok(e, NodeUp{2});
    e.memberInfo(2, m);
    CHECK(m.incarnationNumber == 3);
    e.masterInfo(m);
    CHECK(m.incarnationNumber == 1);
}

TEST_CASE("a bad node table is refused at construction")
{
    CHECK_THROWS_AS(Engine({eligibleNode(1), eligibleNode(1)}), std::invalid_argument);
    CHECK_THROWS_AS(Engine({eligibleNode(0)}), std::invalid_argument);
    NodeConfig noDomain = eligibleNode(1);
    noDomain.domain = CMM_NO_DOMAIN;
    CHECK_THROWS_AS(Engine({noDomain}), std::invalid_argument);
    CHECK(validateTable({eligibleNode(1), eligibleNode(2)}).empty());
    CHECK_FALSE(validateTable({eligibleNode(1), eligibleNode(1)}).empty());
}

TEST_CASE("an engine without nodes answers every request")
{
    Engine e;
    refused(e, NodeUp{1}, CMM_ESRCH);
    refused(e, RemoveSelf{1}, CMM_ENOCLUSTER);
    refused(e, MastershipRelease{1}, CMM_ENOCLUSTER);
    refused(e, SeizeQualif{1}, CMM_ENOCLUSTER);
    refused(e, SetQualif{1, 1, CMM_QUALIFIED_MEMBER}, CMM_ENOCLUSTER);
    refused(e, ConfigReload{1, {}}, CMM_ENOCLUSTER);
    CHECK(e.nodeIds().empty());
    CHECK(e.checkInvariants() == "");
}

/* ======================================================================== */
/*  Determinism and randomized run                                          */
/* ======================================================================== */

namespace {

/* An application's view of the cluster built only from notifications. */
struct Shadow {
    std::optional<cmm_nodeid_t> master;
    std::optional<cmm_nodeid_t> vice;
    std::set<cmm_nodeid_t> in;

    /* Applies one notification; returns why it is impossible, or "". */
    std::string apply(const Notification &n)
    {
        std::ostringstream err;
        switch (n.change) {
        case CMM_MASTER_ELECTED:
            if (master)
                err << "MASTER_ELECTED(" << n.node << ") while " << *master << " is master";
            if (vice == n.node)
                vice.reset(); /* promotion ends the vice-master role silently */
            master = n.node;
            in.insert(n.node);
            break;
        case CMM_MASTER_DEMOTED:
            if (master != n.node)
                err << "MASTER_DEMOTED(" << n.node << ") of a non-master";
            master.reset();
            break;
        case CMM_VICEMASTER_ELECTED:
            if (vice)
                err << "VICEMASTER_ELECTED(" << n.node << ") while " << *vice << " is vice";
            if (!master)
                err << "VICEMASTER_ELECTED(" << n.node << ") without master";
            if (master == n.node)
                err << "VICEMASTER_ELECTED of the master";
            vice = n.node;
            in.insert(n.node);
            break;
        case CMM_VICEMASTER_DEMOTED:
            if (vice != n.node)
                err << "VICEMASTER_DEMOTED(" << n.node << ") of a non-vice";
            vice.reset();
            break;
        case CMM_MEMBER_JOINED:
            if (in.contains(n.node))
                err << "MEMBER_JOINED(" << n.node << ") of a member";
            in.insert(n.node);
            break;
        case CMM_MEMBER_LEFT:
            if (!in.contains(n.node))
                err << "MEMBER_LEFT(" << n.node << ") of a non-member";
            if (master == n.node || vice == n.node)
                err << "MEMBER_LEFT(" << n.node << ") before its role was dropped";
            in.erase(n.node);
            break;
        case CMM_NODE_ELIGIBLE:
        case CMM_NODE_INELIGIBLE:
            if (!in.contains(n.node))
                err << "eligibility change of a non-member " << n.node;
            if (n.change == CMM_NODE_INELIGIBLE && (master == n.node || vice == n.node))
                err << "NODE_INELIGIBLE(" << n.node << ") before its role was dropped";
            break;
        case CMM_STALE_CLUSTER:
        case CMM_INVALID_CLUSTER:
        case CMM_VALID_CLUSTER:
            if (n.node != CMM_NO_NODE)
                err << "cluster-wide notification with node " << n.node;
            break;
        default:
            err << "unexpected kind " << n.change;
        }
        return err.str();
    }
};

struct RandomRun {
    explicit RandomRun(uint32_t seed) : rng(seed)
    {
        int nodes = pick(2, 6);
        std::set<cmm_nodeid_t> ids;
        while (static_cast<int>(ids.size()) < nodes)
            ids.insert(static_cast<cmm_nodeid_t>(pick(1, 12)));
        for (cmm_nodeid_t id : ids) {
            NodeConfig c = eligibleNode(id);
            c.eligible = chance(70);
            c.disqualified = chance(15);
            c.synchroNeeded = chance(15);
            c.excluded = chance(5);
            table.push_back(c);
        }
        /* Table order must not matter. */
        std::shuffle(table.begin(), table.end(), rng);
        engine = std::make_unique<Engine>(table);
    }

    int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
    bool chance(int percent) { return pick(1, 100) <= percent; }

    /* A node id: mostly configured ones, sometimes an unknown one. */
    cmm_nodeid_t someNode()
    {
        if (chance(3))
            return 99;
        std::vector<cmm_nodeid_t> ids = engine->nodeIds();
        if (ids.empty())
            return 99;
        return ids[static_cast<size_t>(pick(0, static_cast<int>(ids.size()) - 1))];
    }
    /* The master most of the time, so that requests mostly succeed. */
    cmm_nodeid_t someCaller()
    {
        if (engine->master() && chance(70))
            return *engine->master();
        return someNode();
    }

    NodeTable reloadedTable()
    {
        NodeTable next = table;
        if (chance(50) && !next.empty()) {
            /* Drop a node (refused unless it is out). */
            next.erase(next.begin() + pick(0, static_cast<int>(next.size()) - 1));
        } else {
            NodeConfig c = pick(0, 1) ? eligibleNode(static_cast<cmm_nodeid_t>(pick(1, 12)))
                                      : clientNode(static_cast<cmm_nodeid_t>(pick(1, 12)));
            next.push_back(c); /* may repeat an id: refused */
        }
        return next;
    }

    Event randomEvent()
    {
        static const int qualifs[] = {CMM_QUALIFIED_MEMBER, CMM_SYNCHRO_READY,
                                      CMM_DISQUALIFIED_MEMBER, CMM_SYNCHRO_NEEDED};
        switch (pick(0, 16)) {
        case 0:
        case 1:
        case 2:
            return NodeUp{someNode()};
        case 3:
        case 4:
            return NodeDown{someNode()};
        case 5:
            return RemoveSelf{someCaller()};
        case 6:
        case 7:
            return MastershipRelease{someCaller()};
        case 8:
        case 9:
        case 10: {
            int q = chance(5) ? 7 : qualifs[pick(0, 3)];
            return SetQualif{someCaller(), someNode(), q};
        }
        case 11:
            return SeizeQualif{someNode()};
        case 12:
            return ConfigReload{someCaller(), reloadedTable()};
        case 13:
            return chance(50) ? Event{ClusterStale{}} : Event{ClusterInvalid{}};
        case 14:
            return ClusterValid{};
        default:
            return NodeEligibility{someNode(), chance(50)};
        }
    }

    /* Runs `steps` events, checking everything after each; returns the
     * outcomes for the determinism check. */
    std::vector<Outcome> run(int steps)
    {
        std::vector<Outcome> outcomes;
        for (int i = 0; i < steps; ++i) {
            Event ev = randomEvent();
            Snapshot before = snapshot(*engine);
            Outcome o = engine->process(ev);
            outcomes.push_back(o);
            if (const auto *reload = std::get_if<ConfigReload>(&ev); reload && o.rc == CMM_OK)
                table = reload->table;
            check(ev, before, o, i);
        }
        return outcomes;
    }

    void check(const Event &ev, const Snapshot &before, const Outcome &o, int step)
    {
        INFO("step " << step << ", event index " << ev.index() << ", rc " << o.rc
                     << ", notifications " << text(o.notifications));
        REQUIRE(engine->checkInvariants() == "");

        if (o.rc != CMM_OK) {
            REQUIRE(o.notifications.empty());
            REQUIRE(snapshot(*engine) == before);
        }

        for (const Notification &n : o.notifications)
            REQUIRE(shadow.apply(n) == "");

        /* The shadow, fed only notifications, agrees with the queries. */
        REQUIRE(shadow.master == engine->master());
        REQUIRE(shadow.vice == engine->viceMaster());
        std::set<cmm_nodeid_t> in;
        for (const Member &m : engine->members())
            in.insert(m.nodeid);
        REQUIRE(shadow.in == in);

        /* Election rules, from the descriptors alone. */
        int masters = 0;
        int vices = 0;
        bool candidateIn = false;
        bool otherCandidate = false;
        bool viceSynchronized = false;
        for (cmm_nodeid_t id : engine->nodeIds()) {
            Member m;
            cmm_error_t rc = engine->potentialInfo(id, m);
            REQUIRE((rc == CMM_OK || rc == CMM_EAGAIN));
            const uint32_t r = m.sflag & CMM_ROLE_MASK;
            REQUIRE((r == 0 || r == CMM_MASTER || r == CMM_VICEMASTER || r == CMM_OUT_OF_CLUSTER));
            const bool eligible = (m.sflag & CMM_ELIGIBLE_MEMBER) != 0;
            const bool qualified = (m.sflag & CMM_FLAG_DISQUALIFIED) == 0;
            const bool synchronized = (m.sflag & CMM_FLAG_SYNCHRO_NEEDED) == 0;
            const bool isCandidate =
                r != CMM_OUT_OF_CLUSTER && eligible && qualified && synchronized;
            if (r == CMM_MASTER) {
                ++masters;
                REQUIRE(eligible);
                REQUIRE(qualified);
                REQUIRE(engine->master() == id);
            }
            if (r == CMM_VICEMASTER) {
                ++vices;
                /* Item 13: a synchro-needed vice-master keeps its role. */
                REQUIRE(eligible);
                REQUIRE(qualified);
                REQUIRE(engine->viceMaster() == id);
                viceSynchronized = synchronized;
            }
            candidateIn = candidateIn || isCandidate;
            otherCandidate = otherCandidate || (isCandidate && r != CMM_MASTER);
        }
        REQUIRE(masters <= 1);
        REQUIRE(vices <= 1);
        /* Without a master only a vice-master that cannot take over stays. */
        if (vices == 1 && masters == 0)
            REQUIRE_FALSE(viceSynchronized);
        /* Item 14: documented calls can always get a master back. */
        REQUIRE(masterRecoverable(*engine));
        if (masters == 0)
            REQUIRE_FALSE(candidateIn);
        if (masters == 1 && vices == 0)
            REQUIRE_FALSE(otherCandidate);

        /* A join raises the incarnation by exactly one. */
        if (const auto *up = std::get_if<NodeUp>(&ev)) {
            auto was = std::find_if(before.nodes.begin(), before.nodes.end(),
                                    [&](const Member &m) { return m.nodeid == up->node; });
            Member now;
            if (was != before.nodes.end() && (was->sflag & CMM_OUT_OF_CLUSTER) &&
                engine->memberInfo(up->node, now) == CMM_OK &&
                (now.sflag & CMM_OUT_OF_CLUSTER) == 0)
                REQUIRE(now.incarnationNumber == was->incarnationNumber + 1);
        }
    }

    std::mt19937 rng;
    NodeTable table;
    std::unique_ptr<Engine> engine;
    Shadow shadow;
};

} // namespace

TEST_CASE("determinism: the same events in the same order give the same outputs")
{
    for (uint32_t seed = 1; seed <= 20; ++seed) {
        RandomRun a(seed);
        RandomRun b(seed);
        std::vector<Outcome> first = a.run(300);
        std::vector<Outcome> second = b.run(300);
        CHECK(first == second);
        CHECK(snapshot(*a.engine) == snapshot(*b.engine));
    }
    /* And a fixed script gives a fixed result. */
    auto script = [] {
        Engine e({eligibleNode(3), eligibleNode(1), eligibleNode(2), clientNode(4)});
        std::string all;
        for (const Event &ev :
             std::vector<Event>{NodeUp{3}, NodeUp{4}, NodeUp{2}, NodeUp{1}, MastershipRelease{3},
                                NodeDown{2}, SetQualif{1, 3, CMM_DISQUALIFIED_MEMBER}})
            all += text(e.process(ev).notifications) + "; ";
        return all;
    };
    CHECK(script() == script());
    CHECK(script() == "MASTER_ELECTED(3); MEMBER_JOINED(4); VICEMASTER_ELECTED(2); "
                      "MEMBER_JOINED(1); MASTER_DEMOTED(3) MASTER_ELECTED(2) "
                      "VICEMASTER_ELECTED(1); MASTER_DEMOTED(2) MEMBER_LEFT(2) "
                      "MASTER_ELECTED(1) VICEMASTER_ELECTED(3); "
                      "VICEMASTER_DEMOTED(3); ");
}

TEST_CASE("randomized: election invariants and notification replay over 2 to 6 nodes")
{
    int totalSteps = 0;
    int succeeded = 0;
    std::map<cmm_error_t, int> codes;
    for (uint32_t seed = 100; seed < 400; ++seed) {
        CAPTURE(seed);
        RandomRun run(seed);
        for (const Outcome &o : run.run(400)) {
            ++totalSteps;
            ++codes[o.rc];
            if (o.rc == CMM_OK && !o.notifications.empty())
                ++succeeded;
        }
    }
    CHECK(totalSteps == 120000);
    /* The mix exercises both accepted and refused requests. */
    CHECK(succeeded > totalSteps / 10);
    for (cmm_error_t rc : {CMM_OK, CMM_EPERM, CMM_ECANCELED, CMM_EINVAL, CMM_ESRCH, CMM_ENOCLUSTER})
        CHECK(codes[rc] > 0);
}
