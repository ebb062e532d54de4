/* SPDX-License-Identifier: MIT */
/* Groups across three nodes (contract §6.3): joins, state changes,
 * messages, n-phase votes with voters on every node, a time limit missed by
 * a stopped voter on another node, collisions between nodes, dissolving; and
 * the same sequence everywhere. The cases share one domain (each uses its
 * own group and its own clients). */
#include "domain.hpp"

#include <csignal>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace cluster;
using api::field;
using api::hasFlag;
using api::subSummary;

namespace {

Cluster &domain()
{
    static std::unique_ptr<Cluster> shared;
    if (!shared) {
        auto c = std::make_unique<Cluster>();
        startDomain(*c, c->all());
        shared = std::move(c);
    }
    return *shared;
}

/* Providers a@n1, b@n2, c@n3 (instance 1 each: 1.1, 1.2, 1.3) and one
 * subscriber per node, s1@n1, s2@n2, s3@n3. */
struct Spread {
    Cluster &c = domain();
    std::unique_ptr<ClientProcess> a = clientAt(c, 1, "a"), b = clientAt(c, 2, "b"),
                                   cc = clientAt(c, 3, "c");
    std::unique_ptr<ClientProcess> s1 = clientAt(c, 1, "s1"), s2 = clientAt(c, 2, "s2"),
                                   s3 = clientAt(c, 3, "s3");
    std::vector<Client *> providers() { return {a.get(), b.get(), cc.get()}; }
    std::vector<Client *> subscribers() { return {s1.get(), s2.get(), s3.get()}; }
    std::vector<Provider> members() { return {{a.get(), 1, 1}, {b.get(), 1, 2}, {cc.get(), 1, 3}}; }
    void joinAll(const std::string &group) { joinAcross(members(), group); }
    void subscribeAll(const std::string &group, const std::string &flags)
    {
        for (Client *s : subscribers()) {
            REQUIRE(s->rc("subscribe " + group + " " + flags) == "HA_GS_OK");
            s->waitFor(group + ": sub");
        }
    }
    void voteAll(const std::string &group, const std::string &vote)
    {
        for (Client *p : providers())
            REQUIRE(p->rc("vote " + group + " " + vote) == "HA_GS_OK");
    }
};

} // namespace

TEST_CASE("cluster: providers on three nodes join one group; members and subscribers everywhere "
          "see each join")
{
    Spread t;
    /* The node number is Corosync's node id of the gsd's node. */
    CHECK(t.a->call("node").get("value") == "1");
    CHECK(t.b->call("node").get("value") == "2");
    CHECK(t.cc->call("node").get("value") == "3");

    REQUIRE(t.a->rc("join j 1") == "HA_GS_OK");
    t.a->waitFor({"j: approved JOIN", {"chg=[1.1]"}});
    for (Client *s : t.subscribers()) {
        REQUIRE(s->rc("subscribe j all,state") == "HA_GS_OK");
        CHECK(subSummary(s->nextWith("j: ")) ==
              "j: sub type=STATE|MEMBERSHIP state=\"\" full=[1.1]");
    }
    /* Instance 1 on another node is another provider. */
    REQUIRE(t.b->rc("join j 1") == "HA_GS_OK");
    atAll({t.a.get(), t.b.get()}, {"j: approved JOIN", {"chg=[1.2]"}});
    for (Client *s : t.subscribers())
        CHECK(subSummary(s->nextWith("j: ")) ==
              "j: sub type=DELTA_JOIN|MEMBERSHIP full=[1.1,1.2] chg=[1.2]");
    REQUIRE(t.cc->rc("join j 1") == "HA_GS_OK");
    const std::string joined =
        atAll({t.a.get(), t.b.get(), t.cc.get()}, {"j: approved JOIN", {"chg=[1.3]"}});
    CHECK(field(joined, "cur") == "[1.1,1.2,1.3]"); /* after the change */
    for (Client *s : t.subscribers())
        CHECK(subSummary(s->nextWith("j: ")) ==
              "j: sub type=DELTA_JOIN|MEMBERSHIP full=[1.1,1.2,1.3] chg=[1.3]");
    /* The same instance on the same node is a duplicate, wherever asked. */
    auto d = clientAt(t.c, 2, "d");
    CHECK(d->rc("join j 1") == "HA_GS_DUPLICATE_INSTANCE_NUMBER");
}

TEST_CASE("cluster: state changes and messages from any node reach every member; subscribers see "
          "the states")
{
    Spread t;
    t.joinAll("sm");
    t.subscribeAll("sm", "state");

    REQUIRE(t.b->rc("state sm fromB") == "HA_GS_OK");
    const std::string approved =
        atAll(t.providers(), {"sm: approved STATE_VALUE_CHANGE", {"prop=\"fromB\""}});
    CHECK(field(approved, "cur") == "[1.1,1.2,1.3]");
    for (Client *s : t.subscribers())
        CHECK(subSummary(s->nextWith("sm: ")) == "sm: sub type=STATE state=\"fromB\"");

    REQUIRE(t.cc->rc("msg sm hello") == "HA_GS_OK");
    CHECK(field(atAll(t.providers(), "sm: approved PROVIDER_MESSAGE"), "msg") == "\"hello\"");

    /* The subscribers' next line is the next state, not the message. */
    REQUIRE(t.a->rc("state sm fromA") == "HA_GS_OK");
    atAll(t.providers(), {"sm: approved STATE_VALUE_CHANGE", {"prop=\"fromA\""}});
    for (Client *s : t.subscribers())
        CHECK(subSummary(s->nextWith("sm: ")) == "sm: sub type=STATE state=\"fromA\"");
}

TEST_CASE("cluster: the same sequence at every node when all three propose at once")
{
    Spread t;
    t.joinAll("seq");
    t.subscribeAll("seq", "state");
    /* Every provider sends its proposals without waiting: the order among
     * nodes is Corosync's; what each request got is its own reply. */
    constexpr int kRounds = 12;
    std::map<std::string, std::string> outcome;
    for (int i = 0; i < kRounds; ++i) {
        for (Client *p : t.providers())
            p->send("state seq " + p->name().substr(0, 1) + std::to_string(i));
        for (Client *p : t.providers()) {
            const std::string value = p->name().substr(0, 1) + std::to_string(i);
            outcome[value] = p->reply("state seq " + value).rc;
        }
    }
    /* Collisions are allowed (a protocol may still run), nothing else. */
    int approvedCount = 0;
    for (const auto &[value, rc] : outcome) {
        INFO("proposal " << value);
        CHECK((rc == "HA_GS_OK" || rc == "HA_GS_COLLIDE"));
        approvedCount += rc == "HA_GS_OK";
    }
    CHECK(approvedCount > 0);
    REQUIRE(t.a->rc("state seq end") == "HA_GS_OK");
    atAll(t.providers(), {"seq: approved STATE_VALUE_CHANGE", {"prop=\"end\""}});
    for (Client *s : t.subscribers())
        s->waitFor({"seq: sub type=STATE", {"state=\"end\""}});

    /* From the state changes on: an earlier joiner also saw the later
     * joins. */
    const auto reference = historyWith(*t.a, "seq: approved STATE");
    for (Client *p : t.providers()) {
        INFO("provider " << p->name());
        CHECK(historyWith(*p, "seq: approved STATE") == reference);
    }
    const auto subReference = historyWith(*t.s1, "seq: ");
    for (Client *s : t.subscribers()) {
        INFO("subscriber " << s->name());
        CHECK(historyWith(*s, "seq: ") == subReference);
    }
    /* Every approved proposal is in the sequence, exactly once. */
    for (const auto &[value, rc] : outcome) {
        INFO("proposal " << value);
        int seen = 0;
        for (const auto &line : reference)
            seen +=
                api::Match("seq: approved STATE_VALUE_CHANGE", {"prop=\"" + value + "\""})(line);
        CHECK(seen == (rc == "HA_GS_OK" ? 1 : 0));
    }
}

TEST_CASE("cluster: n-phase votes with voters on three nodes: approve, continue, reject")
{
    Spread t;
    t.joinAll("np");
    t.subscribeAll("np", "state");

    REQUIRE(t.b->rc("state np x phases=n") == "HA_GS_OK");
    const std::string n = atAll(t.providers(), "np: nphase STATE_VALUE_CHANGE");
    CHECK(field(n, "phase") == "1/N");
    CHECK(field(n, "cur") == "[1.1,1.2,1.3]");
    t.voteAll("np", "approve");
    CHECK(field(atAll(t.providers(), "np: approved STATE_VALUE_CHANGE"), "summary") ==
          "EXPLICIT_APPROVE");
    for (Client *s : t.subscribers())
        CHECK(subSummary(s->nextWith("np: ")) == "np: sub type=STATE state=\"x\"");

    /* One CONTINUE on node 3: a second phase at every node. */
    REQUIRE(t.a->rc("state np y phases=n") == "HA_GS_OK");
    atAll(t.providers(), {"np: nphase STATE_VALUE_CHANGE", {"phase=1/N"}});
    REQUIRE(t.a->rc("vote np approve") == "HA_GS_OK");
    REQUIRE(t.b->rc("vote np approve") == "HA_GS_OK");
    REQUIRE(t.cc->rc("vote np continue msg=again") == "HA_GS_OK");
    CHECK(field(atAll(t.providers(), {"np: nphase STATE_VALUE_CHANGE", {"phase=2/N"}}), "msg") ==
          "\"again\"");
    t.voteAll("np", "approve");
    CHECK(field(atAll(t.providers(), "np: approved STATE_VALUE_CHANGE"), "phase") == "2/N");
    for (Client *s : t.subscribers())
        CHECK(subSummary(s->nextWith("np: ")) == "np: sub type=STATE state=\"y\"");

    /* One REJECT on node 2: rejected everywhere; subscribers see nothing. */
    REQUIRE(t.cc->rc("state np z phases=n") == "HA_GS_OK");
    atAll(t.providers(), "np: nphase STATE_VALUE_CHANGE");
    REQUIRE(t.a->rc("vote np approve") == "HA_GS_OK");
    REQUIRE(t.b->rc("vote np reject") == "HA_GS_OK");
    REQUIRE(t.cc->rc("vote np approve") == "HA_GS_OK");
    atAll(t.providers(), {"np: rejected STATE_VALUE_CHANGE", {"prop=\"z\""}});
    REQUIRE(t.a->rc("state np after") == "HA_GS_OK");
    atAll(t.providers(), {"np: approved STATE_VALUE_CHANGE", {"prop=\"after\""}});
    for (Client *s : t.subscribers())
        CHECK(subSummary(s->nextWith("np: ")) == "np: sub type=STATE state=\"after\"");
}

TEST_CASE("cluster: a voter stopped on another node misses the time limit; its default vote counts")
{
    Spread t;
    t.joinAll("tl");
    const int64_t proposed = nowMs();
    REQUIRE(t.a->rc("state tl late phases=n tl=2") == "HA_GS_OK");
    atAll(t.providers(), "tl: nphase STATE_VALUE_CHANGE");
    /* c, on node 3, stops before voting; a (node 1) and b (node 2) vote. */
    t.cc->kill(SIGSTOP);
    REQUIRE(t.a->rc("vote tl approve") == "HA_GS_OK");
    REQUIRE(t.b->rc("vote tl approve") == "HA_GS_OK");
    for (Client *p : {static_cast<Client *>(t.a.get()), static_cast<Client *>(t.b.get())}) {
        INFO("client " << p->name());
        const std::string announce = p->nextWith("tl: ");
        CHECK(Match("tl: announce", {"who=[1.3]"})(announce));
        CHECK(field(announce, "summary") == "TIME_LIMIT_EXCEEDED");
        const std::string ok = p->nextWith("tl: ");
        CHECK(Match("tl: approved STATE_VALUE_CHANGE", {"prop=\"late\""})(ok));
        CHECK(hasFlag(ok, "summary", "DEFAULT_APPROVE"));
        CHECK(hasFlag(ok, "summary", "TIME_LIMIT_EXCEEDED"));
    }
    const int64_t decided = nowMs() - proposed;
    MESSAGE("time limit of 2 s: decided after " << decided << " ms");
    CHECK(decided >= 1900);
    CHECK(decided < 6000);
    /* Resumed, c reads the same outcome, and its vote is too late. */
    t.cc->kill(SIGCONT);
    CHECK(Match("tl: announce", {"who=[1.3]"})(t.cc->nextWith("tl: ")));
    CHECK(Match("tl: approved STATE_VALUE_CHANGE", {"prop=\"late\""})(t.cc->nextWith("tl: ")));
    CHECK(t.cc->rc("vote tl approve") == "HA_GS_VOTE_NOT_EXPECTED");
}

TEST_CASE("cluster: proposals from two nodes at once: one wins, the other collides, everywhere "
          "alike")
{
    Spread t;
    t.joinAll("co");
    for (int round = 0; round < 4; ++round) {
        CAPTURE(round);
        const std::string va = "a" + std::to_string(round), vb = "b" + std::to_string(round);
        t.a->send("state co " + va + " phases=n");
        t.b->send("state co " + vb + " phases=n");
        const std::string ra = t.a->reply("state co " + va).rc;
        const std::string rb = t.b->reply("state co " + vb).rc;
        INFO("a: " << ra << ", b: " << rb);
        REQUIRE(((ra == "HA_GS_OK") != (rb == "HA_GS_OK")));
        CHECK((ra == "HA_GS_COLLIDE" || rb == "HA_GS_COLLIDE"));
        const std::string winner = ra == "HA_GS_OK" ? va : vb;
        CHECK(field(atAll(t.providers(), "co: nphase STATE_VALUE_CHANGE"), "prop") ==
              "\"" + winner + "\"");
        /* Anything else collides while it runs, from any node. */
        CHECK(t.cc->rc("msg co hi") == "HA_GS_COLLIDE");
        CHECK(t.cc->rc("leave co") == "HA_GS_COLLIDE");
        CHECK(t.a->rc("expel co 1.3") == "HA_GS_COLLIDE");
        t.voteAll("co", "approve");
        atAll(t.providers(), {"co: approved STATE_VALUE_CHANGE", {"prop=\"" + winner + "\""}});
    }
}

TEST_CASE("cluster: the last provider's leave dissolves the group at subscribers on every node")
{
    Spread t;
    joinAcross({{t.a.get(), 1, 1}, {t.b.get(), 1, 2}}, "dz");
    t.subscribeAll("dz", "all");
    REQUIRE(t.b->rc("leave dz") == "HA_GS_OK");
    atAll({t.a.get(), t.b.get()}, {"dz: approved LEAVE", {"chg=[1.2]"}});
    for (Client *s : t.subscribers())
        CHECK(subSummary(s->nextWith("dz: ")) ==
              "dz: sub type=DELTA_LEAVE|MEMBERSHIP full=[1.1] chg=[1.2]");
    REQUIRE(t.a->rc("leave dz") == "HA_GS_OK");
    CHECK(hasFlag(t.a->waitFor("dz: approved LEAVE"), "summary", "GROUP_DISSOLVED"));
    for (Client *s : t.subscribers()) {
        INFO("subscriber " << s->name());
        CHECK(subSummary(s->nextWith("dz: ")) ==
              "dz: sub type=DELTA_LEAVE|MEMBERSHIP full=[] chg=[1.1]");
        CHECK(field(s->nextWith("dz: "), "type") == "DISSOLVED");
    }
    /* Gone on every node. */
    REQUIRE(t.s3->rc("subscribe dz all") == "HA_GS_OK");
    CHECK(Match("dz: delayed rc=HA_GS_UNKNOWN_GROUP proto=SUBSCRIPTION")(t.s3->nextWith("dz: ")));
    /* Re-created from node 3, it starts afresh. */
    REQUIRE(t.cc->rc("join dz 7") == "HA_GS_OK");
    t.cc->waitFor({"dz: approved JOIN", {"chg=[7.3]"}});
    REQUIRE(t.s1->rc("subscribe dz membership,state") == "HA_GS_OK");
    CHECK(subSummary(t.s1->nextWith("dz: ")) ==
          "dz: sub type=STATE|MEMBERSHIP state=\"\" full=[7.3]");
}
