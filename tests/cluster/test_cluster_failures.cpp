/* SPDX-License-Identifier: MIT */
/* Failures across the domain (contract §6.4-§6.6): gsd killed on a node,
 * Corosync killed on a node, a link cut and healed, a gsd that starts late,
 * a node that joins while changes flow, a rolling restart of every node.
 * Each case has a cluster of its own: each disturbs it. */
#include "domain.hpp"

#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>
#include <sys/wait.h>
#include <vector>

using namespace cluster;
using api::field;
using api::subSummary;

namespace {

/* Bounds checked with a wide margin (the machine also compiles): the
 * contract's are 100 ms for a gsd death and 1 s after Corosync's new
 * membership, which itself comes token + consensus (~0.7 s) after a cut. */
constexpr int64_t kGsdDeathMarginMs = 1000;
constexpr int64_t kNodeLossMarginMs = 5000;

/* Three providers a@n1, b@n2, c@n3 in group g with state "s0". */
struct Trio {
    Cluster c;
    std::unique_ptr<ClientProcess> a, b, cc;
    explicit Trio(const std::vector<int> &gsdNodes = {1, 2, 3}) { startDomain(c, gsdNodes); }
    void joinAll()
    {
        a = clientAt(c, 1, "a");
        b = clientAt(c, 2, "b");
        cc = clientAt(c, 3, "c");
        joinAcross({{a.get(), 1, 1}, {b.get(), 1, 2}, {cc.get(), 1, 3}}, "g");
        REQUIRE(a->rc("state g s0") == "HA_GS_OK");
        for (Client *p : {a.get(), b.get(), cc.get()})
            p->waitFor({"g: approved STATE_VALUE_CHANGE", {"prop=\"s0\""}});
    }
};

} // namespace

TEST_CASE("cluster: gsd SIGKILLed on a node: failure leaves at the others at once; restarted, it "
          "re-syncs")
{
    Trio t;
    t.joinAll();
    auto s1 = clientAt(t.c, 1, "s1");
    REQUIRE(s1->rc("subscribe g membership") == "HA_GS_OK");
    s1->waitFor("g: sub");
    REQUIRE(t.cc->rc("subscribe g state") == "HA_GS_OK");
    t.cc->waitFor("g: sub");

    const int64_t killed = nowMs();
    t.c.killGsd(3, SIGKILL);
    const std::string leave = atAll({t.a.get(), t.b.get()}, "g: approved FAILURE_LEAVE");
    const int64_t seen = nowMs() - killed;
    CHECK(field(leave, "chg") == "[1.3]");
    CHECK(field(leave, "cur") == "[1.1,1.2]"); /* after the change */
    MESSAGE("gsd SIGKILLed on node 3: failure leave at nodes 1 and 2 after " << seen << " ms");
    CHECK(seen < kGsdDeathMarginMs);
    CHECK(subSummary(s1->nextWith("g: ")) == "g: sub type=MEMBERSHIP full=[1.1,1.2]");
    /* Its own client learns that its gsd died. */
    t.cc->waitFor("g: sub type=GS_HAS_DIED");
    CHECK(t.cc->rc("state g x") == "HA_GS_NOT_OK");
    REQUIRE(t.c.waitGsdExit(3, 5000).has_value());

    /* The domain goes on without it. */
    REQUIRE(t.b->rc("state g s1") == "HA_GS_OK");
    atAll({t.a.get(), t.b.get()}, {"g: approved STATE_VALUE_CHANGE", {"prop=\"s1\""}});

    /* Restarted, it holds the current state before it takes clients. */
    t.c.startGsd(3);
    REQUIRE_MESSAGE(t.c.waitSynced(3), t.c.describe());
    auto s3 = clientAt(t.c, 3, "s3");
    REQUIRE(s3->rc("subscribe g membership,state") == "HA_GS_OK");
    CHECK(subSummary(s3->nextWith("g: ")) == "g: sub type=STATE|MEMBERSHIP state=\"s1\" "
                                             "full=[1.1,1.2]");
    REQUIRE(t.cc->rc("init") == "HA_GS_OK");
    REQUIRE(t.cc->rc("join g 1") == "HA_GS_OK");
    CHECK(field(atAll({t.a.get(), t.b.get(), t.cc.get()}, {"g: approved JOIN", {"chg=[1.3]"}}),
                "cur") == "[1.1,1.2,1.3]");
}

TEST_CASE("cluster: Corosync killed on a node: its gsd ends its sessions and refuses clients "
          "until Corosync is back and it re-synced")
{
    Trio t;
    t.joinAll();
    REQUIRE(t.cc->rc("subscribe g state") == "HA_GS_OK");
    t.cc->waitFor("g: sub");

    const int64_t killed = nowMs();
    t.c.killCorosync(3, SIGKILL);
    const std::string leave = atAll({t.a.get(), t.b.get()}, "g: approved FAILURE_LEAVE");
    const int64_t seen = nowMs() - killed;
    CHECK(field(leave, "chg") == "[1.3]");
    MESSAGE("Corosync SIGKILLed on node 3: failure leave at nodes 1 and 2 after " << seen << " ms");
    CHECK(seen < kNodeLossMarginMs);
    t.cc->waitFor("g: sub type=GS_HAS_DIED");
    CHECK(t.cc->rc("state g x") == "HA_GS_NOT_OK");
    /* gsd stays up (contract §6.6: like a loss of quorum) and refuses. */
    CHECK(t.c.gsdRunning(3));
    CHECK(api::rcName(t.c.probeInit(3)) == "HA_GS_CONNECT_FAILED");

    REQUIRE(t.a->rc("state g during") == "HA_GS_OK");
    atAll({t.a.get(), t.b.get()}, {"g: approved STATE_VALUE_CHANGE", {"prop=\"during\""}});

    t.c.startCorosync(3);
    REQUIRE_MESSAGE(t.c.waitQuorate(t.c.all(), 3), t.c.describe());
    const int64_t back = nowMs();
    REQUIRE_MESSAGE(t.c.waitSynced(3), t.c.describe());
    MESSAGE("Corosync back on node 3: its gsd synced after " << nowMs() - back << " ms");
    CHECK(t.c.gsdRunning(3));
    auto s3 = clientAt(t.c, 3, "s3");
    REQUIRE(s3->rc("subscribe g membership,state") == "HA_GS_OK");
    CHECK(subSummary(s3->nextWith("g: ")) == "g: sub type=STATE|MEMBERSHIP state=\"during\" "
                                             "full=[1.1,1.2]");
}

TEST_CASE("cluster: a cut link: the minority ends its sessions and refuses clients, the majority "
          "goes on; healed, the node re-syncs")
{
    Trio t;
    t.joinAll();
    auto s1 = clientAt(t.c, 1, "s1");
    auto s3 = clientAt(t.c, 3, "s3");
    REQUIRE(s1->rc("subscribe g state") == "HA_GS_OK");
    REQUIRE(s3->rc("subscribe g state") == "HA_GS_OK");
    s1->waitFor("g: sub");
    s3->waitFor("g: sub");

    const int64_t cut = nowMs();
    t.c.cut(3);
    const std::string leave =
        atAll({t.a.get(), t.b.get()}, "g: approved FAILURE_LEAVE", std::source_location::current());
    const int64_t majoritySeen = nowMs() - cut;
    CHECK(field(leave, "chg") == "[1.3]");
    MESSAGE("node 3 cut off: failure leave at nodes 1 and 2 after " << majoritySeen << " ms");
    CHECK(majoritySeen < kNodeLossMarginMs);
    s3->waitFor("g: sub type=GS_HAS_DIED");
    MESSAGE("node 3 cut off: its subscriber got GS_HAS_DIED after " << nowMs() - cut << " ms");
    /* A provider without subscriptions learns it from ha_gs_dispatch. */
    t.cc->waitFor("*: dispatch HA_GS_NOT_OK");
    /* The minority approves nothing and takes no client. */
    CHECK(t.cc->rc("state g minority") == "HA_GS_NOT_OK");
    CHECK(api::rcName(t.c.probeInit(3)) == "HA_GS_CONNECT_FAILED");
    CHECK(t.c.gsdRunning(3));

    /* The majority goes on. */
    REQUIRE(t.b->rc("state g majority") == "HA_GS_OK");
    atAll({t.a.get(), t.b.get()}, {"g: approved STATE_VALUE_CHANGE", {"prop=\"majority\""}});
    CHECK(subSummary(s1->nextWith("g: ")) == "g: sub type=STATE state=\"majority\"");

    /* Still cut: still refused. */
    CHECK(api::rcName(t.c.probeInit(3)) == "HA_GS_CONNECT_FAILED");

    const auto quorumLosses = [&](int node) {
        const std::string log = t.c.gsdLog(node);
        size_t count = 0;
        for (size_t at = log.find("lost quorum"); at != std::string::npos;
             at = log.find("lost quorum", at + 1))
            ++count;
        return count;
    };
    const size_t lossesBefore = quorumLosses(1) + quorumLosses(2);
    const int64_t healed = nowMs();
    t.c.heal(3);
    REQUIRE_MESSAGE(t.c.waitQuorate(t.c.all(), 3), t.c.describe());
    REQUIRE_MESSAGE(t.c.waitSynced(3), t.c.describe());
    MESSAGE("node 3 healed: quorate and synced after " << nowMs() - healed << " ms");
    auto s3b = clientAt(t.c, 3, "s3b");
    REQUIRE(s3b->rc("subscribe g membership,state") == "HA_GS_OK");
    const std::string first = subSummary(s3b->nextWith("g: "));
    if (quorumLosses(1) + quorumLosses(2) != lossesBefore) {
        /* Corosync flapped while merging (on a loaded machine it may put
         * each node in a ring of its own for a moment): nodes 1 or 2 lost
         * quorum and their providers left, as they must. What still holds:
         * node 3 re-synced to the domain's replica, the one a new
         * subscriber at node 1 sees. */
        MESSAGE("Corosync flapped during the heal; checking the replicas only\n" << t.c.describe());
        REQUIRE_MESSAGE(t.c.waitSynced(1), t.c.describe());
        auto s1b = clientAt(t.c, 1, "s1b");
        REQUIRE(s1b->rc("subscribe g membership,state") == "HA_GS_OK");
        CHECK(subSummary(s1b->nextWith("g: ")) == first);
        return;
    }
    CHECK(first == "g: sub type=STATE|MEMBERSHIP state=\"majority\" full=[1.1,1.2]");
    REQUIRE(t.cc->rc("init") == "HA_GS_OK");
    REQUIRE(t.cc->rc("join g 1") == "HA_GS_OK");
    atAll({t.a.get(), t.b.get(), t.cc.get()}, {"g: approved JOIN", {"chg=[1.3]"}});
    CHECK(subSummary(s3b->nextWith("g: ")) == "g: sub type=MEMBERSHIP full=[1.1,1.2,1.3]");
}

TEST_CASE("cluster: a gsd that starts late gets the current state, a running protocol included")
{
    Trio t({1, 2});
    t.a = clientAt(t.c, 1, "a");
    t.b = clientAt(t.c, 2, "b");
    joinAcross({{t.a.get(), 1, 1}, {t.b.get(), 2, 2}}, "g");
    REQUIRE(t.b->rc("state g v1") == "HA_GS_OK");
    atAll({t.a.get(), t.b.get()}, {"g: approved STATE_VALUE_CHANGE", {"prop=\"v1\""}});
    REQUIRE(t.a->rc("state g pending phases=n") == "HA_GS_OK");
    atAll({t.a.get(), t.b.get()}, "g: nphase STATE_VALUE_CHANGE");

    t.c.startGsd(3);
    /* Until it holds the state: HA_GS_CONNECT_FAILED, never a session on
     * an empty replica. */
    const int first = t.c.probeInit(3);
    CHECK((first == HA_GS_CONNECT_FAILED || first == HA_GS_OK));
    REQUIRE_MESSAGE(t.c.waitSynced(3), t.c.describe());
    auto s3 = clientAt(t.c, 3, "s3");
    REQUIRE(s3->rc("subscribe g membership,state") == "HA_GS_OK");
    CHECK(subSummary(s3->nextWith("g: ")) == "g: sub type=STATE|MEMBERSHIP state=\"v1\" "
                                             "full=[1.1,2.2]");
    /* The protocol that ran during the transfer ends here too. */
    REQUIRE(t.a->rc("vote g approve") == "HA_GS_OK");
    REQUIRE(t.b->rc("vote g approve") == "HA_GS_OK");
    atAll({t.a.get(), t.b.get()}, {"g: approved STATE_VALUE_CHANGE", {"prop=\"pending\""}});
    CHECK(subSummary(s3->nextWith("g: ")) == "g: sub type=STATE state=\"pending\"");
    t.cc = clientAt(t.c, 3, "c");
    REQUIRE(t.cc->rc("join g 3") == "HA_GS_OK");
    CHECK(field(atAll({t.a.get(), t.b.get(), t.cc.get()}, {"g: approved JOIN", {"chg=[3.3]"}}),
                "cur") == "[1.1,2.2,3.3]");
}

TEST_CASE("cluster: a node that joins while state changes flow ends with the same replica")
{
    Trio t({1, 2});
    t.a = clientAt(t.c, 1, "a");
    t.b = clientAt(t.c, 2, "b");
    joinAcross({{t.a.get(), 1, 1}, {t.b.get(), 1, 2}}, "g");
    auto s1 = clientAt(t.c, 1, "s1");
    REQUIRE(s1->rc("subscribe g state") == "HA_GS_OK");
    s1->waitFor("g: sub");

    t.c.spawnGsd(3);
    int i = 0;
    int syncedAt = -1;
    const int64_t deadline = nowMs() + 40000;
    /* A change is always in flight while node 3 syncs: one request sent,
     * the probe, then its outcome. */
    while (nowMs() < deadline && (syncedAt < 0 || i < syncedAt + 10)) {
        const std::string value = "v" + std::to_string(i);
        Client &proposer = i % 2 ? static_cast<Client &>(*t.b) : static_cast<Client &>(*t.a);
        proposer.send("state g " + value);
        if (syncedAt < 0 && i % 3 == 0 && t.c.probeInit(3) == HA_GS_OK)
            syncedAt = i;
        REQUIRE(proposer.reply("state g " + value).rc == "HA_GS_OK");
        atAll({t.a.get(), t.b.get()},
              {"g: approved STATE_VALUE_CHANGE", {"prop=\"" + value + "\""}});
        ++i;
    }
    REQUIRE_MESSAGE(syncedAt >= 0, t.c.describe());
    MESSAGE("node 3 synced after " << syncedAt << " of " << i << " state changes");
    const std::string last = "v" + std::to_string(i - 1);
    auto s3 = clientAt(t.c, 3, "s3");
    REQUIRE(s3->rc("subscribe g membership,state") == "HA_GS_OK");
    CHECK(subSummary(s3->nextWith("g: ")) ==
          "g: sub type=STATE|MEMBERSHIP state=\"" + last + "\" full=[1.1,1.2]");
    /* From here on node 3 sees what node 1 sees. */
    s1->waitFor({"g: sub type=STATE", {"state=\"" + last + "\""}});
    s1->clearPending();
    for (int k = 0; k < 5; ++k)
        REQUIRE(t.a->rc("state g w" + std::to_string(k)) == "HA_GS_OK");
    for (int k = 0; k < 5; ++k) {
        const std::string want = "g: sub type=STATE state=\"w" + std::to_string(k) + "\"";
        CHECK(subSummary(s1->nextWith("g: ")) == want);
        CHECK(subSummary(s3->nextWith("g: ")) == want);
    }
}

TEST_CASE("cluster: a rolling restart of all three nodes; the group survives with its state")
{
    Trio t;
    t.joinAll();
    std::vector<std::unique_ptr<ClientProcess> *> providers = {&t.a, &t.b, &t.cc};
    std::string current = "s0";
    for (int k = 1; k <= 3; ++k) {
        CAPTURE(k);
        const std::string id = "1." + std::to_string(k);
        std::vector<Client *> others;
        for (int j = 1; j <= 3; ++j)
            if (j != k)
                others.push_back(providers[static_cast<size_t>(j - 1)]->get());
        /* The whole node: gsd, then Corosync, stopped cleanly; then back. */
        t.c.stopGsd(k);
        CHECK(field(atAll(others, "g: approved FAILURE_LEAVE"), "chg") == "[" + id + "]");
        t.c.killCorosync(k, SIGTERM);
        std::vector<int> otherNodes;
        for (int j = 1; j <= 3; ++j)
            if (j != k)
                otherNodes.push_back(j);
        REQUIRE_MESSAGE(t.c.waitQuorate(otherNodes, 2), t.c.describe());
        t.c.startCorosync(k);
        REQUIRE_MESSAGE(t.c.waitQuorate(t.c.all(), 3), t.c.describe());
        t.c.startGsd(k);
        REQUIRE_MESSAGE(t.c.waitSynced(k), t.c.describe());
        /* The restarted node has the group as the others left it. */
        auto s = clientAt(t.c, k, "s");
        REQUIRE(s->rc("subscribe g state") == "HA_GS_OK");
        CHECK(subSummary(s->nextWith("g: ")) == "g: sub type=STATE state=\"" + current + "\"");
        auto &slot = *providers[static_cast<size_t>(k - 1)];
        slot.reset();
        slot = clientAt(t.c, k, std::string(1, static_cast<char>('a' + k - 1)));
        REQUIRE(slot->rc("join g 1") == "HA_GS_OK");
        std::vector<Client *> all = others;
        all.push_back(slot.get());
        atAll(all, {"g: approved JOIN", {"chg=[" + id + "]"}});
        current = "after" + std::to_string(k);
        REQUIRE(slot->rc("state g " + current) == "HA_GS_OK");
        atAll(all, {"g: approved STATE_VALUE_CHANGE", {"prop=\"" + current + "\""}});
    }
    /* Each restart moved that node's provider to the end of the list:
     * after three, the order is the first one again. */
    for (int k = 1; k <= 3; ++k) {
        auto s = clientAt(t.c, k, "final");
        REQUIRE(s->rc("subscribe g membership,state") == "HA_GS_OK");
        CHECK(subSummary(s->nextWith("g: ")) ==
              "g: sub type=STATE|MEMBERSHIP state=\"after3\" full=[1.1,1.2,1.3]");
    }
}

TEST_CASE("cluster: gsd refuses a --node-number unlike Corosync's, and a second gsd of a node")
{
    Cluster c;
    startDomain(c, {1});
    const std::string gsd = std::getenv("GSD_PATH") ? std::getenv("GSD_PATH") : "";
    REQUIRE_FALSE(gsd.empty());
    const Run wrong = c.runIn(1,
                              {gsd, "--cluster", "--domain", c.options().domain, "--socket",
                               "ipc://" + c.workDir() + "/wrong.sock", "--node-number", "2"},
                              15000);
    INFO("gsd --node-number 2 on node 1 said:\n" << wrong.output);
    CHECK_FALSE(wrong.timedOut);
    CHECK_FALSE(wrong.ok());
    CHECK(wrong.output.find("2") != std::string::npos);

    const Run second = c.runIn(1,
                               {gsd, "--cluster", "--domain", c.options().domain, "--socket",
                                "ipc://" + c.workDir() + "/second.sock"},
                               15000);
    INFO("a second gsd on node 1 said:\n" << second.output);
    CHECK_FALSE(second.timedOut);
    CHECK_FALSE(second.ok());
    /* The first one is unharmed. */
    CHECK(c.gsdRunning(1));
    CHECK(c.probeInit(1) == HA_GS_OK);
}
