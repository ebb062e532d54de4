/* SPDX-License-Identifier: MIT */
/* The sync protocol (gsd/domain_sync.hpp) over a simulated agreed order. */
#include "sync_sim.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using namespace gs;
using gs::test::Sim;

namespace {

constexpr size_t kSnapBegin = 2; /* cluster::Message index */

Input hello(ClientId client)
{
    return Event{ClientHello{client, false}};
}

std::vector<std::string> lines(std::initializer_list<const char *> list)
{
    return {list.begin(), list.end()};
}

/* Nodes 1..n of `sim` start a domain together. */
void coldStart(Sim &sim, int n)
{
    std::vector<int> ids;
    for (int id = 1; id <= n; ++id) {
        sim.add(id);
        ids.push_back(id);
    }
    sim.join(ids);
    sim.run();
}

void requireEqualReplicas(Sim &sim, std::initializer_list<int> ids)
{
    const int first = *ids.begin();
    for (int id : ids) {
        CAPTURE(id);
        REQUIRE(sim.node(id).host.isSynced);
        REQUIRE(sim.node(id).sync->synced());
        CHECK(sim.node(id).host.state == sim.node(first).host.state);
        CHECK(sim.node(id).host.stateDigest() == sim.node(first).host.stateDigest());
    }
}

bool contains(const std::vector<std::string> &list, const std::string &line)
{
    return std::find(list.begin(), list.end(), line) != list.end();
}

} // namespace

TEST_CASE("cold start: every member is synced at the same point, with NodeUp for each")
{
    Sim sim(3);
    coldStart(sim, 3);
    requireEqualReplicas(sim, {1, 2, 3});
    for (int id : {1, 2, 3}) {
        CAPTURE(id);
        CHECK(sim.node(id).host.state == lines({"NodeUp 1", "NodeUp 2", "NodeUp 3"}));
        CHECK(sim.node(id).host.syncedCalls == 1);
        CHECK(sim.node(id).host.restores == 0);
    }
    /* The lowest synced node keeps time, and only it. */
    CHECK(sim.node(1).sync->keepsTime());
    CHECK_FALSE(sim.node(2).sync->keepsTime());
    CHECK_FALSE(sim.node(3).sync->keepsTime());
    CHECK(sim.node(1).host.timekeeperCalls == 1);
    CHECK(sim.node(2).host.timekeeperCalls == 0);

    /* Inputs of every node reach every node in one order. */
    sim.submit(2, hello(21));
    sim.submit(3, hello(31));
    sim.submit(1, hello(11));
    sim.run();
    requireEqualReplicas(sim, {1, 2, 3});
    CHECK(sim.node(3).host.state.back() == "Hello 11");
}

TEST_CASE("a \"not synced\" STATE sent before the node synced is stale, not a departure")
{
    Sim sim(3);
    sim.add(1);
    sim.add(2);
    sim.join({1, 2});
    /* Each node sent a STATE at the change and another once quorate. */
    REQUIRE(sim.pending() == 4);
    sim.step();
    sim.step();
    sim.step();
    /* Node 2, not synced yet, says so once more (a quorum flap). */
    sim.node(2).sync->onQuorum(99, false);
    sim.node(2).sync->onQuorum(99, true);
    REQUIRE(sim.pending() == 2);
    sim.step(); /* the decision: cold start */
    REQUIRE(sim.node(2).sync->synced());
    sim.run(); /* the stale STATE */
    requireEqualReplicas(sim, {1, 2});
    CHECK(sim.node(1).host.state == lines({"NodeUp 1", "NodeUp 2"}));
    CHECK(sim.node(2).host.syncedCalls == 1);
}

TEST_CASE("no quorum, no domain: a lone node of three waits, the second one starts it")
{
    Sim sim(3);
    sim.add(1);
    sim.join({1});
    sim.run();
    CHECK_FALSE(sim.node(1).sync->synced());
    sim.add(2);
    sim.join({2});
    sim.run();
    requireEqualReplicas(sim, {1, 2});
    CHECK(sim.node(1).host.state == lines({"NodeUp 1", "NodeUp 2"}));
}

/* The host is synced before the starters' NodeUps are delivered: a gsd
 * that told its CMM clients it was out (every node lost quorum, then the
 * domain starts again) tells them VALID_CLUSTER before the elections, as
 * a joiner does (docs/cluster.md: "VALID_CLUSTER(0), then the same
 * MEMBER_JOINED"). */
TEST_CASE("cold start: synced() comes before the NodeUps, also after every node lost quorum")
{
    /* Five configured nodes, three running: a side needs all three. */
    Sim sim(5);
    coldStart(sim, 3);
    for (int id : {1, 2, 3})
        CHECK(sim.node(id).host.deliveriesWhileUnsynced == 0);
    /* Neither side has quorum. */
    sim.partition({1});
    sim.run();
    for (int id : {1, 2, 3}) {
        CAPTURE(id);
        REQUIRE_FALSE(sim.node(id).host.isSynced);
        sim.node(id).host.deliveriesWhileUnsynced = 0;
    }
    sim.heal();
    sim.run();
    for (int id : {1, 2, 3}) {
        CAPTURE(id);
        REQUIRE(sim.node(id).host.isSynced);
        CHECK(sim.node(id).host.syncedCalls == 2);
        CHECK(sim.node(id).host.deliveriesWhileUnsynced == 0);
    }
}

TEST_CASE("a joiner gets the state at the cut and replays what followed; only it waits")
{
    Sim sim(3);
    coldStart(sim, 2);
    sim.submit(1, hello(11));
    sim.submit(2, hello(21));
    sim.run();

    sim.add(3);
    sim.join({3});
    REQUIRE(sim.runUntilNext(kSnapBegin));
    /* Node 2's input is delivered after the cut and before the snapshot's
     * end: node 3 must buffer and replay it. */
    sim.submit(2, hello(22));
    REQUIRE(sim.step()); /* SNAP_BEGIN: the cut */
    CHECK(sim.node(1).host.state.back() == "NodeUp 3");
    CHECK_FALSE(sim.node(3).sync->synced());
    sim.submit(1, hello(12)); /* synced nodes go on during the transfer */
    sim.run();

    requireEqualReplicas(sim, {1, 2, 3});
    CHECK(sim.node(3).host.restores == 1);
    CHECK(sim.node(3).host.deliveriesWhileUnsynced >= 1);
    CHECK(sim.node(3).host.state == lines({"NodeUp 1", "NodeUp 2", "Hello 11", "Hello 21",
                                           "NodeUp 3", "Hello 22", "Hello 12"}));
    /* The donor and the others never restored anything. */
    CHECK(sim.node(1).host.restores == 0);
    CHECK(sim.node(2).host.syncedCalls == 1);
    CHECK(sim.node(1).sync->keepsTime());
    CHECK_FALSE(sim.node(3).sync->keepsTime());
}

TEST_CASE("a change during a transfer voids it; its stale messages are ignored; a new plan "
          "starts over")
{
    Sim sim(5);
    coldStart(sim, 3);
    sim.submit(1, hello(11));
    sim.run();

    /* Node 4 joins; node 5 joins while the transfer to 4 runs. */
    sim.add(4);
    sim.join({4});
    REQUIRE(sim.runUntilNext(kSnapBegin));
    REQUIRE(sim.step()); /* the cut; the chunk and the end of the plan follow */
    REQUIRE(sim.pending() >= 2);
    sim.add(5);
    sim.join({5});
    /* The old plan's chunk and end arrive after the change: ignored. */
    sim.step();
    sim.step();
    CHECK_FALSE(sim.node(4).sync->synced());
    CHECK(sim.node(4).host.restores == 0);

    sim.run();
    requireEqualReplicas(sim, {1, 2, 3, 4, 5});
    CHECK(sim.node(4).host.restores == 1);
    CHECK(sim.node(5).host.restores == 1);
    CHECK(sim.node(5).host.state.back() == "NodeUp 5");
    /* The voided plan's cut brought node 4 up; the new cut does not again. */
    CHECK(std::count(sim.node(1).host.state.begin(), sim.node(1).host.state.end(), "NodeUp 4") ==
          1);
    /* Each joiner is told of both entries (its clients hear what the
     * others' heard), the synced nodes of none. */
    using Entered = std::vector<std::vector<uint32_t>>;
    CHECK(sim.node(4).host.enteredCalls == Entered{{4, 5}});
    CHECK(sim.node(5).host.enteredCalls == Entered{{4, 5}});
    CHECK(sim.node(1).host.enteredCalls.empty());
}

TEST_CASE("the chunks of a voided plan that arrive during the next plan are ignored")
{
    Sim sim(5);
    coldStart(sim, 3);
    sim.add(4);
    sim.join({4});
    REQUIRE(sim.runUntilNext(kSnapBegin));
    REQUIRE(sim.step()); /* the cut of plan A: its chunk and end follow */
    sim.hold(2);
    sim.add(5);
    sim.join({5}); /* voids plan A */
    REQUIRE(sim.runUntilNext(kSnapBegin));
    REQUIRE(sim.step()); /* the cut of plan B */
    sim.releaseFirst();  /* plan A's chunk and end, before plan B's */
    sim.run();
    requireEqualReplicas(sim, {1, 2, 3, 4, 5});
    CHECK(sim.node(4).host.state.back() == "NodeUp 5");
    CHECK(sim.node(4).host.restores == 1);
}

TEST_CASE("a joiner that leaves after a voided cut gets NodeGone and NodeDown")
{
    Sim sim(5);
    coldStart(sim, 3);
    sim.add(4);
    sim.join({4});
    REQUIRE(sim.runUntilNext(kSnapBegin));
    REQUIRE(sim.step()); /* the cut: NodeUp 4 */
    sim.leave(4, false);
    sim.run();
    requireEqualReplicas(sim, {1, 2, 3});
    CHECK(sim.node(1).host.state ==
          lines({"NodeUp 1", "NodeUp 2", "NodeUp 3", "NodeUp 4", "NodeGone 4", "NodeDown 4"}));
}

TEST_CASE("the donor dies: the next lowest synced node sends the state")
{
    Sim sim(3);
    coldStart(sim, 2);
    sim.submit(2, hello(21));
    sim.run();
    sim.add(3);
    sim.join({3});
    REQUIRE(sim.runUntilNext(kSnapBegin));
    sim.leave(1, false); /* its SNAP_BEGIN is lost with it */
    sim.run();
    requireEqualReplicas(sim, {2, 3});
    CHECK(sim.node(2).host.state ==
          lines({"NodeUp 1", "NodeUp 2", "Hello 21", "NodeGone 1", "NodeDown 1", "NodeUp 3"}));
    CHECK(sim.node(2).sync->keepsTime());
    CHECK(sim.node(2).host.timekeeperCalls == 1);
}

TEST_CASE("a gsd that leaves: NodeGone then CMM NodeDown at the same point everywhere")
{
    Sim sim(3);
    coldStart(sim, 3);
    sim.submit(1, hello(11));
    sim.submit(2, hello(21));
    sim.submit(3, hello(31));
    sim.step();
    sim.leave(2, false);
    sim.submit(3, hello(32));
    sim.run();
    requireEqualReplicas(sim, {1, 3});
    const auto &state = sim.node(1).host.state;
    const auto gone = std::find(state.begin(), state.end(), "NodeGone 2");
    REQUIRE(gone != state.end());
    REQUIRE(gone + 1 != state.end());
    CHECK(*(gone + 1) == "NodeDown 2");
    CHECK_FALSE(contains(state, "Hello 21")); /* lost with its sender */
    CHECK(state.back() == "Hello 32");
}

TEST_CASE("partition: the minority unsyncs without applying the change; healed, it re-syncs")
{
    for (bool quorumFirst : {false, true}) {
        CAPTURE(quorumFirst);
        Sim sim(3);
        sim.quorumBeforeChange = quorumFirst;
        coldStart(sim, 3);
        sim.submit(3, hello(31));
        sim.run();

        sim.partition({3});
        sim.submit(1, hello(12));
        sim.submit(3, hello(33)); /* dropped: node 3 is not synced any more */
        sim.run();
        REQUIRE_FALSE(sim.node(3).sync->synced());
        REQUIRE(sim.node(3).host.unsyncs == std::vector<Unsync>{Unsync::QuorumLost});
        /* The minority approved nothing of the change. */
        CHECK_FALSE(contains(sim.node(3).host.history, "NodeGone 1"));
        CHECK_FALSE(contains(sim.node(3).host.history, "NodeDown 2"));
        requireEqualReplicas(sim, {1, 2});
        CHECK(contains(sim.node(1).host.state, "NodeGone 3"));
        CHECK_FALSE(contains(sim.node(1).host.state, "Hello 33"));

        sim.heal();
        sim.run();
        requireEqualReplicas(sim, {1, 2, 3});
        CHECK(sim.node(3).host.restores == 1);
        CHECK(sim.node(1).host.unsyncs.empty());
    }
}

TEST_CASE("a cut-off node whose ring was replaced before its quorum was told applies nothing of "
          "it and re-syncs")
{
    /* Corosync on a loaded machine: node 3 is cut off, forms a ring of its
     * own, and the healed ring replaces it before votequorum told the
     * lone ring's quorum. The healed ring is quorate; the lone one was
     * not. */
    Sim sim(3);
    coldStart(sim, 3);
    sim.quorumUntoldSides = {1};
    sim.partition({3});
    sim.submit(1, hello(12));
    sim.submit(3, hello(33)); /* ordered on node 3's side only */
    sim.run();
    requireEqualReplicas(sim, {1, 2});
    CHECK(contains(sim.node(1).host.state, "NodeGone 3"));
    /* Node 3's stream waits at its change: the quorum is not known yet. */
    CHECK(sim.node(3).sync->synced());
    CHECK_FALSE(contains(sim.node(3).host.history, "NodeGone 1"));

    sim.quorumUntoldSides.clear();
    sim.heal();
    sim.run();
    /* It set its ring aside; the side that went on without it wins. */
    CHECK(sim.node(3).host.unsyncs == std::vector<Unsync>{Unsync::Merged});
    CHECK_FALSE(contains(sim.node(3).host.history, "NodeGone 1"));
    CHECK_FALSE(contains(sim.node(3).host.history, "Hello 33"));
    requireEqualReplicas(sim, {1, 2, 3});
    CHECK(sim.node(3).host.restores == 1);
    CHECK(sim.node(1).host.unsyncs.empty());
    CHECK(sim.node(2).host.unsyncs.empty());
}

TEST_CASE("two synced sides meet: the larger goes on, the other re-syncs from it")
{
    /* A misconfigured quorum: both sides of the cut go on. */
    Sim sim(3);
    sim.everySideQuorate = true;
    coldStart(sim, 3);
    sim.partition({3});
    sim.submit(1, hello(12));
    sim.submit(3, hello(33));
    sim.run();
    REQUIRE(sim.node(3).sync->synced());
    REQUIRE(contains(sim.node(3).host.state, "Hello 33"));

    sim.heal();
    sim.run();
    CHECK(sim.node(3).host.unsyncs == std::vector<Unsync>{Unsync::Merged});
    CHECK(sim.node(1).host.unsyncs.empty());
    CHECK(sim.node(2).host.unsyncs.empty());
    requireEqualReplicas(sim, {1, 2, 3});
    CHECK(contains(sim.node(3).host.state, "Hello 12"));
    CHECK_FALSE(contains(sim.node(3).host.state, "Hello 33"));
    /* The same gsd back, not a new one: CMM keeps it out if it removed
     * itself (cmm::NodeBack). */
    CHECK(sim.node(1).host.state.back() == "NodeBack 3");
}

TEST_CASE("two synced sides of equal size meet: the side with the lowest node id goes on")
{
    Sim sim(4);
    sim.everySideQuorate = true;
    coldStart(sim, 4);
    sim.partition({1, 2});
    sim.submit(1, hello(11));
    sim.submit(4, hello(44));
    sim.run();
    sim.heal();
    sim.run();
    for (int id : {3, 4}) {
        CAPTURE(id);
        CHECK(sim.node(id).host.unsyncs == std::vector<Unsync>{Unsync::Merged});
    }
    CHECK(sim.node(1).host.unsyncs.empty());
    requireEqualReplicas(sim, {1, 2, 3, 4});
    CHECK(contains(sim.node(4).host.state, "Hello 11"));
    CHECK_FALSE(contains(sim.node(4).host.state, "Hello 44"));
}

TEST_CASE("a node down holds the stream until the new ring's quorum is known")
{
    Sim sim(5);
    coldStart(sim, 5);
    sim.leave(5, true);
    sim.run();
    requireEqualReplicas(sim, {1, 2, 3, 4});
    /* 4 of 5 stay quorate: the change is applied. */
    CHECK(sim.node(1).host.state.back() == "NodeDown 5");
    sim.leave(4, true);
    sim.run();
    requireEqualReplicas(sim, {1, 2, 3});
    sim.leave(3, true); /* 2 of 5: no quorum */
    sim.run();
    for (int id : {1, 2}) {
        CAPTURE(id);
        CHECK_FALSE(sim.node(id).sync->synced());
        CHECK(sim.node(id).host.unsyncs == std::vector<Unsync>{Unsync::QuorumLost});
        CHECK_FALSE(contains(sim.node(id).host.history, "NodeGone 3"));
    }
}

TEST_CASE("divergence: the node whose digest differs re-syncs, the others go on")
{
    Sim sim(3, 1000);
    coldStart(sim, 3);
    sim.tick(0);
    sim.node(2).host.corruptNext = true;
    sim.submit(1, hello(11));
    sim.run();
    CHECK(sim.node(2).host.state != sim.node(1).host.state);

    sim.tick(1000); /* the timekeeper probes */
    sim.run();
    CHECK(sim.node(2).host.unsyncs == std::vector<Unsync>{Unsync::Diverged});
    CHECK(sim.node(1).host.unsyncs.empty());
    CHECK(sim.node(3).host.unsyncs.empty());
    requireEqualReplicas(sim, {1, 2, 3});
    CHECK(sim.node(2).host.restores == 1);
    CHECK(contains(sim.node(1).host.state, "NodeGone 2"));
    CHECK(sim.node(1).host.state.back() == "NodeBack 2");

    /* Equal replicas pass the next check. */
    sim.tick(2000);
    sim.run();
    CHECK(sim.node(2).host.unsyncs.size() == 1);
    CHECK(sim.node(3).host.unsyncs.empty());
}

TEST_CASE("divergence: when the timekeeper's replica differs from most, the timekeeper re-syncs")
{
    Sim sim(3, 1000);
    coldStart(sim, 3);
    sim.tick(0);
    sim.node(1).host.corruptNext = true;
    sim.submit(2, hello(21));
    sim.run();
    CHECK(sim.node(1).host.state != sim.node(2).host.state);

    sim.tick(1000); /* the timekeeper probes */
    sim.run();
    CHECK(sim.node(1).host.unsyncs == std::vector<Unsync>{Unsync::Diverged});
    CHECK(sim.node(2).host.unsyncs.empty());
    CHECK(sim.node(3).host.unsyncs.empty());
    requireEqualReplicas(sim, {1, 2, 3});
    CHECK(sim.node(1).host.restores == 1);
    CHECK(sim.node(2).host.restores == 0);
    /* The majority's inputs survive: no corrupted record anywhere. */
    for (int id : {1, 2, 3})
        CHECK(std::none_of(
            sim.node(id).host.state.begin(), sim.node(id).host.state.end(),
            [](const std::string &line) { return line.find("corrupted") != std::string::npos; }));
    CHECK(contains(sim.node(2).host.state, "NodeGone 1"));
    CHECK_FALSE(contains(sim.node(1).host.state, "NodeGone 2"));
}

TEST_CASE("divergence of two replicas: the timekeeper's digest decides the tie")
{
    Sim sim(2, 1000);
    coldStart(sim, 2);
    sim.tick(0);
    sim.node(2).host.corruptNext = true;
    sim.submit(1, hello(11));
    sim.run();
    sim.tick(1000);
    sim.run();
    CHECK(sim.node(2).host.unsyncs == std::vector<Unsync>{Unsync::Diverged});
    CHECK(sim.node(1).host.unsyncs.empty());
    requireEqualReplicas(sim, {1, 2});
}

TEST_CASE("a gsd of another inter-node format version is refused at sync")
{
    Sim sim(3);
    coldStart(sim, 2);
    sim.add(3).foreign = true;
    sim.join({3});
    sim.run();
    CHECK(sim.node(3).refused.find("format 2") != std::string::npos);
    CHECK_FALSE(sim.node(3).sync->synced());
    requireEqualReplicas(sim, {1, 2});
    CHECK_FALSE(contains(sim.node(1).host.state, "NodeUp 3"));
    CHECK(sim.node(1).refused.empty());
}

TEST_CASE("a state with other domain settings is refused at sync; a damaged one is asked for "
          "again")
{
    Sim sim(3);
    coldStart(sim, 2);
    sim.add(3).host.refuseRestore = StateRefused::Why::Settings;
    sim.join({3});
    sim.run();
    CHECK(sim.node(3).refused.find("refused at sync") != std::string::npos);
    CHECK_FALSE(sim.node(3).sync->synced());

    Sim again(3);
    coldStart(again, 2);
    again.add(3).host.refuseRestore = StateRefused::Why::Damaged;
    again.join({3});
    /* The first transfer fails; the next one is good. */
    REQUIRE(again.runUntilNext(kSnapBegin));
    again.step();
    again.node(3).host.refuseRestore.reset();
    again.run();
    CHECK(again.node(3).refused.empty());
    requireEqualReplicas(again, {1, 2, 3});
    CHECK(again.node(3).host.restores == 1);

    /* A state it can never load (another gsd version): after three tries
     * it gives up rather than ask for it forever; the domain is unharmed. */
    Sim never(3);
    coldStart(never, 2);
    never.add(3).host.refuseRestore = StateRefused::Why::Damaged;
    never.join({3});
    never.run();
    CHECK(never.node(3).refused.find("could not be loaded 3 times in a row") != std::string::npos);
    CHECK_FALSE(never.node(3).sync->synced());
    requireEqualReplicas(never, {1, 2});
}

/* The settings a replayed input can change (cmm_config_reload) are checked
 * once the joiner has replayed what followed the cut, before it is synced. */
TEST_CASE("a joiner is checked again after the replay: refused there, it is never synced")
{
    Sim sim(3);
    coldStart(sim, 2);
    sim.add(3);
    sim.join({3});
    REQUIRE(sim.runUntilNext(kSnapBegin));
    sim.submit(2, hello(22)); /* delivered after the cut, replayed by node 3 */
    REQUIRE(sim.step());      /* the cut */
    sim.run();
    CHECK(sim.node(3).refused.empty());
    CHECK(sim.node(3).host.stateWhenReplayed.back() == "Hello 22");
    CHECK(sim.node(3).host.syncedCalls == 1);

    Sim again(3);
    coldStart(again, 2);
    again.add(3).host.refuseReplayed = true;
    again.join({3});
    again.run();
    CHECK(again.node(3).refused.find("refused at sync: cmm node 4") != std::string::npos);
    CHECK(again.node(3).host.syncedCalls == 0);
}

TEST_CASE("cold start: a gsd whose settings differ from most is left out, and refused at sync")
{
    for (int odd : {1, 3}) {
        CAPTURE(odd);
        Sim sim(3);
        for (int id : {1, 2, 3})
            sim.add(id);
        sim.node(odd).host.settings = "max-groups-per-client 77";
        sim.node(odd).host.refuseRestore = StateRefused::Why::Settings;
        sim.join({1, 2, 3});
        sim.run();
        CHECK(sim.node(odd).refused.find("refused at sync") != std::string::npos);
        CHECK_FALSE(sim.node(odd).sync->synced());
        CHECK(sim.node(odd).host.syncedCalls == 0);
        CHECK(sim.node(odd).host.history.empty());
        std::vector<int> starters;
        for (int id : {1, 2, 3})
            if (id != odd)
                starters.push_back(id);
        for (int id : starters) {
            CAPTURE(id);
            REQUIRE(sim.node(id).sync->synced());
            CHECK(sim.node(id).refused.empty());
            CHECK(sim.node(id).host.syncedCalls == 1);
            CHECK(sim.node(id).host.restores == 0);
            /* Only the starters are up at the cold start; the odd one at the
             * cut of its transfer. */
            REQUIRE(sim.node(id).host.state.size() >= 2);
            CHECK(sim.node(id).host.state[0] == "NodeUp " + std::to_string(starters[0]));
            CHECK(sim.node(id).host.state[1] == "NodeUp " + std::to_string(starters[1]));
        }
        CHECK(sim.node(starters[0]).host.state == sim.node(starters[1]).host.state);
    }
}

TEST_CASE("cold start of two with different settings: the lowest node's start the domain")
{
    Sim sim(2);
    sim.add(1);
    sim.add(2).host.settings = "max-tokens 9";
    sim.node(2).host.refuseRestore = StateRefused::Why::Settings;
    sim.join({1, 2});
    sim.run();
    CHECK(sim.node(1).sync->synced());
    CHECK(sim.node(1).refused.empty());
    CHECK(sim.node(2).refused.find("refused at sync") != std::string::npos);
    CHECK(sim.node(2).host.syncedCalls == 0);
}

TEST_CASE("a second gsd with a node id already in the domain is refused")
{
    Sim sim(3);
    coldStart(sim, 2);
    sim.add(2, 4242);
    sim.node(102).joined = true;
    sim.join({102});
    sim.run();
    CHECK(sim.node(102).refused.find("node id 2") != std::string::npos);
    requireEqualReplicas(sim, {1, 2});
    CHECK(sim.node(1).host.state == lines({"NodeUp 1", "NodeUp 2"}));
}

TEST_CASE("an unsynced node delivers nothing and drops its submits")
{
    Sim sim(3);
    sim.add(1);
    sim.join({1});
    sim.submit(1, hello(11));
    sim.run();
    CHECK(sim.node(1).host.history.empty());
}

TEST_CASE("Corosync lost: unsynced, and back as a joiner")
{
    Sim sim(3);
    coldStart(sim, 3);
    sim.node(3).sync->corosyncLost();
    CHECK(sim.node(3).host.unsyncs == std::vector<Unsync>{Unsync::CorosyncLost});
    sim.leave(3, false);
    sim.run();
    sim.join({3});
    sim.run();
    requireEqualReplicas(sim, {1, 2, 3});
    CHECK(sim.node(3).host.restores == 1);
}

namespace {

/* What Corosync delivered in the cluster chaos test after a heal (seed 1):
 * the ring broke into `sides`, each side's gsds saw the others leave with
 * their node, and the sides merged again before Corosync installed any of
 * their rings: one totem change, and votequorum only says that the merged
 * ring is quorate. The others come back in a second change, or (oneChange)
 * in the same one as they left. */
void flashPartition(Sim &sim, const std::vector<std::vector<int>> &sides, uint64_t ring,
                    bool oneChange)
{
    std::vector<SyncMember> all;
    for (const auto &side : sides)
        for (int id : side)
            all.push_back(sim.node(id).me);
    std::sort(all.begin(), all.end());
    for (const auto &side : sides) {
        std::vector<SyncMember> here;
        std::vector<SyncLeft> gone;
        for (const SyncMember &m : all) {
            if (std::find(side.begin(), side.end(), static_cast<int>(m.node)) != side.end())
                here.push_back(m);
            else
                gone.push_back(SyncLeft{m, true});
        }
        for (int id : side) {
            DomainSync &s = *sim.node(id).sync;
            if (oneChange) {
                /* The others left and joined in one change. */
                s.onConfchg(all, gone);
            } else {
                s.onConfchg(here, gone);
                s.onConfchg(all, {});
            }
            s.onTotemRing(ring);
            s.onQuorum(ring, true);
        }
    }
}

} // namespace

TEST_CASE("partitions that merge before Corosync installs their rings: every side sets the ring "
          "aside, no side went on, the domain goes on as if the rings never were")
{
    for (const auto &sides :
         std::vector<std::vector<std::vector<int>>>{{{1}, {2}, {3}}, {{2}, {1, 3}}, {{1, 2}, {3}}})
        for (bool oneChange : {false, true}) {
            CAPTURE(oneChange);
            Sim sim(3);
            coldStart(sim, 3);
            sim.submit(2, hello(21));
            sim.run();
            flashPartition(sim, sides, 1000, oneChange);
            sim.run();
            for (int id = 1; id <= 3; ++id) {
                CAPTURE(id);
                CHECK(sim.node(id).host.unsyncs.empty());
                /* It applied nothing of the change. */
                for (int other = 1; other <= 3; ++other)
                    CHECK_FALSE(
                        contains(sim.node(id).host.history, "NodeGone " + std::to_string(other)));
            }
            requireEqualReplicas(sim, {1, 2, 3});
            /* The state lived on: never two synced sides, never a domain
             * started anew for a ring that came and went. */
            CHECK(contains(sim.node(1).host.state, "Hello 21"));
            sim.submit(3, hello(31));
            sim.run();
            requireEqualReplicas(sim, {1, 2, 3});
            CHECK(sim.node(1).host.state.back() == "Hello 31");
        }
}

TEST_CASE("a side whose quorate ring was installed keeps the state; the side whose ring was "
          "replaced before votequorum spoke of it drops its state and re-syncs")
{
    for (bool oneChange : {false, true}) {
        CAPTURE(oneChange);
        Sim sim(3);
        coldStart(sim, 3);
        sim.submit(2, hello(21));
        sim.run();
        const SyncMember m1 = sim.node(1).me, m2 = sim.node(2).me, m3 = sim.node(3).me;
        /* Nodes 1 and 3 install a quorate ring without node 2 and go on. */
        for (int id : {1, 3}) {
            DomainSync &s = *sim.node(id).sync;
            s.onConfchg({m1, m3}, {SyncLeft{m2, true}});
            s.onTotemRing(1000);
            s.onQuorum(1000, true);
        }
        /* Node 2's own ring is replaced by the merged one before it is
         * installed: votequorum only speaks of the merged ring. */
        DomainSync &two = *sim.node(2).sync;
        if (oneChange) {
            two.onConfchg({m1, m2, m3}, {SyncLeft{m1, true}, SyncLeft{m3, true}});
        } else {
            two.onConfchg({m2}, {SyncLeft{m1, true}, SyncLeft{m3, true}});
            two.onConfchg({m1, m2, m3}, {});
        }
        two.onTotemRing(1001);
        two.onQuorum(1001, true);
        for (int id : {1, 3}) {
            DomainSync &s = *sim.node(id).sync;
            s.onConfchg({m1, m2, m3}, {});
            s.onTotemRing(1001);
            s.onQuorum(1001, true);
        }
        sim.submit(1, hello(11));
        sim.run();
        CHECK(sim.node(1).host.unsyncs.empty());
        CHECK(sim.node(3).host.unsyncs.empty());
        /* It set its ring aside; the side that went on wins. */
        CHECK(sim.node(2).host.unsyncs == std::vector<Unsync>{Unsync::Merged});
        CHECK_FALSE(contains(sim.node(2).host.history, "NodeGone 1"));
        CHECK_FALSE(contains(sim.node(2).host.history, "NodeGone 3"));
        requireEqualReplicas(sim, {1, 2, 3});
        CHECK(contains(sim.node(2).host.state, "NodeGone 2"));
        CHECK(contains(sim.node(2).host.state, "Hello 11"));
        CHECK(sim.node(2).host.restores == 1);
    }
}
