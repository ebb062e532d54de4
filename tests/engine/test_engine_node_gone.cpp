/* SPDX-License-Identifier: MIT */
/*
 * NodeGone: every client of a node fails at once. Failure leaves for exactly
 * the providers of that node, batched per each group's batch control, in
 * ascending client id order; subscriptions vanish; other nodes' clients are
 * untouched; the lost clients' tokens are unusable afterwards.
 */
#include "sim.hpp"

#include <doctest/doctest.h>

using namespace gs;
using namespace gs::test;

namespace {

const ClientId n1 = makeClientId(1, 1);
const ClientId n2a = makeClientId(2, 1);
const ClientId n2b = makeClientId(2, 2);
const ClientId n3 = makeClientId(3, 1);

/* The approved failure leaves among `actions`, per group, in order. */
std::vector<std::vector<ProviderId>> failureLeaves(const std::vector<Action> &actions,
                                                   ClientId observer)
{
    std::vector<std::vector<ProviderId>> out;
    for (const auto &a : actions)
        if (const auto *n = std::get_if<Notify>(&a))
            if (const auto *ok = std::get_if<ApprovedNote>(n->body.get());
                ok && ok->protocol == HA_GS_FAILURE_LEAVE)
                for (const auto &r : n->recipients)
                    if (r.client == observer)
                        out.push_back(ok->proposal.changingProviders);
    return out;
}

bool addressed(const std::vector<Action> &actions, int16_t node)
{
    for (const auto &a : actions)
        if (const auto *n = std::get_if<Notify>(&a))
            for (const auto &r : n->recipients)
                if (clientNode(r.client) == node)
                    return true;
    return false;
}

} // namespace

TEST_CASE("a node goes: failure leaves for exactly its providers, batched per group")
{
    Sim s;
    std::map<ClientId, std::map<std::string, Token>> tokens;
    /* Instances chosen so that id order and client order differ. */
    const std::map<ClientId, int> instance{{n1, 4}, {n2a, 3}, {n2b, 1}, {n3, 2}};
    for (ClientId c : {n1, n2a, n2b, n3}) {
        s.hello(c);
        for (const auto &[group, batch] :
             std::map<std::string, int>{{"batched", HA_GS_BATCH_LEAVES}, {"single", 0}}) {
            const Reply r = s.request(c, join(group, instance.at(c), HA_GS_1_PHASE, batch));
            REQUIRE(r.rc == HA_GS_OK);
            tokens[c][group] = r.token;
        }
    }
    SubscribeRequest sub;
    sub.group = "single";
    sub.control = HA_GS_SUBSCRIBE_ALL_MEMBERSHIP;
    const Reply subscribed = s.request(n2a, sub);
    REQUIRE(subscribed.rc == HA_GS_OK);
    REQUIRE(s.engine.group("single")->subscribers == 1);
    for (ClientId c : {n1, n2a, n2b, n3})
        s.take(c);

    const auto actions = s.step(NodeGone{2});
    const ProviderId of2a{3, 2}, of2b{1, 2};
    /* One protocol with both in the batched group; one each, n2a's first
     * (lower client id), in the other; groups in name order. */
    const std::vector<std::vector<ProviderId>> expected{{of2a, of2b}, {of2a}, {of2b}};
    CHECK(failureLeaves(actions, n1) == expected);
    CHECK(failureLeaves(actions, n3) == expected);
    CHECK_FALSE(addressed(actions, 2));

    for (const char *group : {"batched", "single"}) {
        const auto g = s.engine.group(group);
        REQUIRE(g);
        std::vector<ProviderId> left;
        for (const auto &m : g->members)
            left.push_back(m.id);
        CHECK(left == std::vector<ProviderId>{{4, 1}, {2, 3}});
        CHECK(g->subscribers == 0);
    }
    CHECK(s.engine.clientCount() == 2);

    /* The lost clients' tokens are unusable: by the gone clients, and by a
     * new client of the same node. */
    CHECK(s.rc(n2a, StateChangeRequest{tokens[n2a]["single"], HA_GS_1_PHASE, 0, "x"}) ==
          HA_GS_NO_INIT);
    const ClientId back = makeClientId(2, 3);
    s.hello(back);
    for (Token t : {tokens[n2a]["single"], tokens[n2b]["batched"], subscribed.token}) {
        CHECK(s.rc(back, LeaveRequest{t, HA_GS_1_PHASE, 0, 0}) == HA_GS_BAD_MEMBER_TOKEN);
        CHECK(s.rc(back, UnsubscribeRequest{t}) == HA_GS_BAD_MEMBER_TOKEN);
    }
    /* The others go on as before. */
    CHECK(s.rc(n1, StateChangeRequest{tokens[n1]["single"], HA_GS_1_PHASE, 0, "x"}) == HA_GS_OK);
}

TEST_CASE("a node goes while an n-phase protocol waits for its voter")
{
    Sim s;
    std::map<ClientId, Token> token;
    for (ClientId c : {n1, n2a, n3}) {
        s.hello(c);
        const Reply r =
            s.request(c, join("g", static_cast<int>(clientNode(c)), HA_GS_N_PHASE, 0, 5));
        REQUIRE(r.rc == HA_GS_OK);
        token[c] = r.token;
        /* Each join waits for the votes of everyone in it. */
        for (ClientId voter : {n1, n2a, n3})
            if (token.count(voter))
                s.rc(voter, vote(token[voter], HA_GS_VOTE_APPROVE));
    }
    REQUIRE(s.engine.group("g")->members.size() == 3);
    REQUIRE(s.rc(n1, StateChangeRequest{token[n1], HA_GS_N_PHASE, 0, "new"}) == HA_GS_OK);
    REQUIRE(s.rc(n1, vote(token[n1], HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    REQUIRE(s.rc(n3, vote(token[n3], HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    REQUIRE(s.engine.group("g")->runningProtocol == HA_GS_STATE_VALUE_CHANGE);
    for (ClientId c : {n1, n2a, n3})
        s.take(c);

    s.step(NodeGone{2});
    /* The missing vote is the failed voter's default: the change is
     * approved, marked PROVIDER_FAILED; then its failure leave begins. */
    const auto told = s.take(n1);
    REQUIRE(told.size() == 2);
    const auto *approved = as<ApprovedNote>(told[0]);
    REQUIRE(approved);
    CHECK(approved->protocol == HA_GS_STATE_VALUE_CHANGE);
    CHECK((approved->summary & HA_GS_PROVIDER_FAILED) != 0);
    CHECK(s.engine.group("g")->state == "new");
    const auto *leave = as<NPhaseNote>(told[1]);
    REQUIRE(leave);
    CHECK(leave->protocol == HA_GS_FAILURE_LEAVE);
    CHECK(leave->proposal.changingProviders == std::vector<ProviderId>{{2, 2}});
    CHECK(s.take(n3).size() == 2);
    CHECK(s.take(n2a).empty());
    REQUIRE(s.rc(n1, vote(token[n1], HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    REQUIRE(s.rc(n3, vote(token[n3], HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    const auto g = s.engine.group("g");
    CHECK_FALSE(g->protocolRunning);
    REQUIRE(g->members.size() == 2);
    CHECK(g->members[0].client == n1);
    CHECK(g->members[1].client == n3);
}

TEST_CASE("a node with no clients going is a no-op")
{
    Sim s;
    s.hello(n1);
    REQUIRE(s.rc(n1, join("g", 1)) == HA_GS_OK);
    const std::string before = s.engine.snapshot();
    CHECK(s.step(NodeGone{5}).empty());
    CHECK(s.engine.snapshot() == before);
}

TEST_CASE("NodeGone of one client's node is that client's ClientGone")
{
    auto build = [](Sim &s) {
        for (ClientId c : {n1, n2a, n3}) {
            s.hello(c);
            REQUIRE(s.rc(c, join("a", static_cast<int>(clientNode(c)))) == HA_GS_OK);
            REQUIRE(s.rc(c, join("b", static_cast<int>(clientNode(c)), HA_GS_1_PHASE,
                                 HA_GS_BATCH_LEAVES)) == HA_GS_OK);
        }
    };
    Sim byNode, byClient;
    build(byNode);
    build(byClient);
    const auto a = byNode.step(NodeGone{3});
    const auto b = byClient.step(ClientGone{n3});
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i)
        CHECK(a[i].index() == b[i].index());
    CHECK(byNode.engine.digest() == byClient.engine.digest());
}

TEST_CASE("a node goes with a source group, a subscriber, a queued and a running join; "
          "its NodeGone again and its clients' late ClientGone change nothing; it comes back")
{
    Sim s;
    const ClientId n2c = makeClientId(2, 3);
    for (ClientId c : {n1, n2a, n2b, n3})
        s.hello(c);
    /* "src" is node 2's alone; "tgt" reflects it, served from node 1. */
    REQUIRE(s.rc(n2a, join("src", 1)) == HA_GS_OK);
    JoinRequest target = join("tgt", 1);
    target.attributes.sourceGroupName = "src";
    REQUIRE(s.rc(n1, target) == HA_GS_OK);
    REQUIRE(s.engine.group("tgt")->members.size() == 1);
    /* Node 2 subscribes to "tgt", and has a running and a queued join in
     * the n-phase group "np" (node 3's provider votes on neither yet). */
    SubscribeRequest sub;
    sub.group = "tgt";
    sub.control = HA_GS_SUBSCRIPTION_MEMBERSHIP | HA_GS_SUBSCRIPTION_STATE;
    REQUIRE(s.rc(n2b, sub) == HA_GS_OK);
    REQUIRE(s.rc(n3, join("np", 3, HA_GS_N_PHASE, 0, 10)) == HA_GS_OK);
    while (s.engine.group("np")->protocolRunning)
        REQUIRE(s.fireTimer());
    REQUIRE(s.rc(n2a, join("np", 1, HA_GS_N_PHASE, 0, 10)) == HA_GS_OK);
    REQUIRE(s.rc(n2b, join("np", 2, HA_GS_N_PHASE, 0, 10)) == HA_GS_OK);
    REQUIRE(s.engine.group("np")->protocolRunning);
    const size_t clientsBefore = s.engine.clientCount();

    const auto actions = s.step(NodeGone{2});
    CHECK_FALSE(addressed(actions, 2));
    CHECK(s.engine.clientCount() == clientsBefore - 2);
    CHECK_FALSE(s.engine.group("src")); /* dissolved: node 2 was all of it */
    while (s.fireTimer()) {
    }
    /* "tgt" lost its source: its provider was cast out, and the group went. */
    CHECK_FALSE(s.engine.group("tgt"));
    const auto np = s.engine.group("np");
    REQUIRE(np);
    REQUIRE(np->members.size() == 1);
    CHECK(np->members[0].client == n3);

    const std::string settled = s.engine.snapshot();
    CHECK(s.step(NodeGone{2}).empty());
    CHECK(s.step(ClientGone{n2a}).empty());
    CHECK(s.step(ClientGone{n2b}).empty());
    CHECK(s.engine.snapshot() == settled);

    /* The node's gsd comes back: a new serial, a provider on node 2 again. */
    s.hello(n2c);
    REQUIRE(s.rc(n2c, join("np", 1, HA_GS_N_PHASE, 0, 10)) == HA_GS_OK);
    while (s.fireTimer()) {
    }
    const auto back = s.engine.group("np");
    REQUIRE(back->members.size() == 2);
    CHECK(back->members[1].client == n2c);
    CHECK(back->members[1].id == ProviderId{1, 2});
}
