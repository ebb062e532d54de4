/* SPDX-License-Identifier: MIT */
/*
 * Identities that name their node: a client id carries its node
 * (makeClientId), a provider's node is its client's, and tokens belong to
 * the whole domain-wide client id, so that a client of one node can never
 * use a token of a client of another node with the same serial.
 */
#include "sim.hpp"

#include <doctest/doctest.h>

using namespace gs;
using namespace gs::test;

namespace {

const ClientId onNode1 = makeClientId(1, 1);
const ClientId onNode2 = makeClientId(2, 1); /* same serial, another node */
const ClientId onNode7 = makeClientId(7, 5);

} // namespace

TEST_CASE("a provider's node is its client's node")
{
    Sim s;
    for (ClientId c : {onNode1, onNode2, onNode7})
        s.hello(c);
    REQUIRE(s.rc(onNode1, join("g", 4)) == HA_GS_OK);
    REQUIRE(s.rc(onNode2, join("g", 4)) == HA_GS_OK); /* instance 4 again, other node */
    REQUIRE(s.rc(onNode7, join("g", 9)) == HA_GS_OK);
    const auto g = s.engine.group("g");
    REQUIRE(g);
    REQUIRE(g->members.size() == 3);
    CHECK(g->members[0].id == ProviderId{4, 1});
    CHECK(g->members[1].id == ProviderId{4, 2});
    CHECK(g->members[2].id == ProviderId{9, 7});

    /* What providers are told names the same nodes. */
    const auto told = s.take(onNode1);
    REQUIRE(!told.empty());
    const auto *last = as<ApprovedNote>(told.back());
    REQUIRE(last);
    CHECK(last->proposal.currentProviders == std::vector<ProviderId>{{4, 1}, {4, 2}, {9, 7}});
    /* One node, one instance number: a duplicate. */
    const ClientId alsoOnNode2 = makeClientId(2, 2);
    s.hello(alsoOnNode2);
    CHECK(s.rc(alsoOnNode2, join("g", 4)) == HA_GS_DUPLICATE_INSTANCE_NUMBER);
}

TEST_CASE("a client cannot use a token of another node's client with the same serial")
{
    Sim s;
    s.hello(onNode1);
    s.hello(onNode2);
    const Reply joined = s.request(onNode1, join("g", 1));
    REQUIRE(joined.rc == HA_GS_OK);
    const Token provider = joined.token;
    SubscribeRequest subscribe;
    subscribe.group = "g";
    subscribe.control = HA_GS_SUBSCRIBE_STATE | HA_GS_SUBSCRIBE_ALL_MEMBERSHIP;
    const Reply subscribed = s.request(onNode1, subscribe);
    REQUIRE(subscribed.rc == HA_GS_OK);

    CHECK(s.rc(onNode2, LeaveRequest{provider, HA_GS_1_PHASE, 0, 0}) == HA_GS_BAD_MEMBER_TOKEN);
    CHECK(s.rc(onNode2, GoodbyeRequest{provider}) == HA_GS_BAD_MEMBER_TOKEN);
    CHECK(s.rc(onNode2, StateChangeRequest{provider, HA_GS_1_PHASE, 0, "x"}) ==
          HA_GS_BAD_MEMBER_TOKEN);
    CHECK(s.rc(onNode2, MessageRequest{provider, HA_GS_1_PHASE, 0, "m"}) == HA_GS_BAD_MEMBER_TOKEN);
    CHECK(s.rc(onNode2, vote(provider, HA_GS_VOTE_APPROVE)) == HA_GS_BAD_MEMBER_TOKEN);
    CHECK(s.rc(onNode2, UnsubscribeRequest{subscribed.token}) == HA_GS_BAD_MEMBER_TOKEN);

    /* The owner's tokens are untouched and still work. */
    const auto g = s.engine.group("g");
    REQUIRE(g);
    REQUIRE(g->members.size() == 1);
    CHECK(g->members[0].client == onNode1);
    CHECK(g->subscribers == 1);
    CHECK(s.rc(onNode1, StateChangeRequest{provider, HA_GS_1_PHASE, 0, "x"}) == HA_GS_OK);
}
