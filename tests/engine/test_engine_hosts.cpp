/* SPDX-License-Identifier: MIT */
/*
 * HostMembership (engine_hosts.cpp): the nodes up, as a group clients
 * subscribe to and nobody joins. Subscribers get the usual first
 * notification, then delta joins, delta leaves and full memberships as
 * their control flags ask; a node's departure reaches them before the
 * failure leaves of its providers, in the same event; the name is refused
 * to joins; the host set and its subscribers survive a snapshot.
 */
#include "sim.hpp"

#include <doctest/doctest.h>

using namespace gs;
using namespace gs::test;

namespace {

const std::string kHosts(kHostMembershipGroup);
const ClientId n1 = makeClientId(1, 1);
const ClientId n2 = makeClientId(2, 1);
const ClientId n3 = makeClientId(3, 1);

ProviderId host(int16_t node)
{
    return ProviderId{node, node};
}

SubscribeRequest subscribe(uint32_t control, const std::string &group = kHosts)
{
    SubscribeRequest s;
    s.group = group;
    s.control = control;
    return s;
}

/* Nodes 1..3 up, a client on each. */
void threeNodes(Sim &s)
{
    /* Out of order: the membership is in node order all the same. */
    for (int16_t node : {3, 1, 2})
        s.step(NodeJoined{node});
    for (ClientId c : {n1, n2, n3})
        s.hello(c);
}

/* The one subscription notification `client` got since the last take(). */
SubscriptionNote onlyNote(Sim &s, ClientId client)
{
    const auto got = s.take(client);
    REQUIRE(got.size() == 1);
    const auto *note = as<SubscriptionNote>(got[0]);
    REQUIRE(note != nullptr);
    CHECK_FALSE(got[0].final);
    return *note;
}

} // namespace

TEST_CASE("HostMembership: the first notification gives the nodes up, as the flags ask")
{
    Sim s;
    threeNodes(s);
    CHECK(s.engine.hosts() == std::vector<int16_t>{1, 2, 3});
    const std::vector<ProviderId> all{host(1), host(2), host(3)};

    SUBCASE("membership: the full list")
    {
        REQUIRE(s.request(n1, subscribe(HA_GS_SUBSCRIBE_MEMBERSHIP)).rc == HA_GS_OK);
        const auto note = onlyNote(s, n1);
        CHECK(note.type == HA_GS_SUBSCRIPTION_MEMBERSHIP);
        CHECK(note.fullMembership == all);
        CHECK_FALSE(note.changingMembership);
    }
    SUBCASE("delta join only: every node up as joining")
    {
        REQUIRE(s.request(n1, subscribe(HA_GS_SUBSCRIBE_DELTA_JOIN)).rc == HA_GS_OK);
        const auto note = onlyNote(s, n1);
        CHECK(note.type == HA_GS_SUBSCRIPTION_DELTA_JOIN);
        CHECK(note.changingMembership == all);
    }
    SUBCASE("delta leave only: nothing to tell yet")
    {
        REQUIRE(s.request(n1, subscribe(HA_GS_SUBSCRIBE_DELTA_LEAVE)).rc == HA_GS_OK);
        CHECK(s.take(n1).empty());
    }
    SUBCASE("state: the empty state value")
    {
        REQUIRE(s.request(n1, subscribe(HA_GS_SUBSCRIBE_STATE | HA_GS_SUBSCRIBE_MEMBERSHIP)).rc ==
                HA_GS_OK);
        const auto note = onlyNote(s, n1);
        CHECK(note.type == (HA_GS_SUBSCRIPTION_STATE | HA_GS_SUBSCRIPTION_MEMBERSHIP));
        CHECK(note.state == Bytes{});
        CHECK(note.fullMembership == all);
    }
    /* HostMembership is no ordinary group. */
    CHECK(s.engine.groupNames().empty());
}

TEST_CASE("HostMembership: nodes up and down reach each subscriber as its flags ask")
{
    Sim s;
    threeNodes(s);
    const std::map<ClientId, uint32_t> control{
        {makeClientId(1, 10), HA_GS_SUBSCRIBE_DELTA_JOIN},
        {makeClientId(1, 11), HA_GS_SUBSCRIBE_DELTA_LEAVE},
        {makeClientId(1, 12), HA_GS_SUBSCRIBE_MEMBERSHIP},
        {makeClientId(2, 13), HA_GS_SUBSCRIBE_ALL_MEMBERSHIP},
        {makeClientId(2, 14), HA_GS_SUBSCRIBE_STATE},
    };
    std::map<ClientId, Token> token;
    for (const auto &[client, flags] : control) {
        s.hello(client);
        const Reply r = s.request(client, subscribe(flags));
        REQUIRE(r.rc == HA_GS_OK);
        token[client] = r.token;
        s.take(client);
    }
    const auto [joinOnly, leaveOnly, membership, allOf, stateOnly] =
        std::tuple{makeClientId(1, 10), makeClientId(1, 11), makeClientId(1, 12),
                   makeClientId(2, 13), makeClientId(2, 14)};

    s.step(NodeJoined{4});
    const std::vector<ProviderId> four{host(1), host(2), host(3), host(4)};
    auto note = onlyNote(s, joinOnly);
    CHECK(note.type == HA_GS_SUBSCRIPTION_DELTA_JOIN);
    CHECK(note.changingMembership == std::vector<ProviderId>{host(4)});
    CHECK_FALSE(note.fullMembership);
    CHECK(s.take(leaveOnly).empty());
    note = onlyNote(s, membership);
    CHECK(note.type == HA_GS_SUBSCRIPTION_MEMBERSHIP);
    CHECK(note.fullMembership == four);
    CHECK_FALSE(note.changingMembership);
    note = onlyNote(s, allOf);
    CHECK(note.type == (HA_GS_SUBSCRIPTION_DELTA_JOIN | HA_GS_SUBSCRIPTION_MEMBERSHIP));
    CHECK(note.changingMembership == std::vector<ProviderId>{host(4)});
    CHECK(note.fullMembership == four);
    CHECK(s.take(stateOnly).empty());

    /* A node that is up already, or no node number: nothing changes. */
    CHECK(s.step(NodeJoined{4}).empty());
    CHECK(s.step(NodeJoined{0}).empty());
    CHECK(s.engine.hosts() == std::vector<int16_t>{1, 2, 3, 4});

    /* Node 3 goes: a delta leave, as a provider's failure leave is. */
    s.step(NodeGone{3});
    const std::vector<ProviderId> after{host(1), host(2), host(4)};
    CHECK(s.take(joinOnly).empty());
    note = onlyNote(s, leaveOnly);
    CHECK(note.type == HA_GS_SUBSCRIPTION_DELTA_LEAVE);
    CHECK(note.changingMembership == std::vector<ProviderId>{host(3)});
    note = onlyNote(s, membership);
    CHECK(note.type == HA_GS_SUBSCRIPTION_MEMBERSHIP);
    CHECK(note.fullMembership == after);
    note = onlyNote(s, allOf);
    CHECK(note.type == (HA_GS_SUBSCRIPTION_DELTA_LEAVE | HA_GS_SUBSCRIPTION_MEMBERSHIP));
    CHECK(note.changingMembership == std::vector<ProviderId>{host(3)});
    CHECK(note.fullMembership == after);
    CHECK(s.take(stateOnly).empty());
    CHECK(s.engine.hosts() == std::vector<int16_t>{1, 2, 4});

    /* Node 2's own subscribers vanish with it, untold. */
    s.step(NodeGone{2});
    CHECK(s.take(allOf).empty());
    CHECK(s.take(stateOnly).empty());
    CHECK(onlyNote(s, leaveOnly).changingMembership == std::vector<ProviderId>{host(2)});
    CHECK(onlyNote(s, membership).fullMembership == std::vector<ProviderId>{host(1), host(4)});
    CHECK(s.request(allOf, UnsubscribeRequest{token[allOf]}).rc == HA_GS_NO_INIT);

    /* Unsubscribed: no more notifications. */
    CHECK(s.request(joinOnly, UnsubscribeRequest{token[joinOnly]}).rc == HA_GS_OK);
    s.step(NodeJoined{2});
    CHECK(s.take(joinOnly).empty());
    CHECK(onlyNote(s, membership).fullMembership ==
          std::vector<ProviderId>{host(1), host(2), host(4)});
}

TEST_CASE("HostMembership: a node's departure comes before its providers' failure leaves")
{
    Sim s;
    threeNodes(s);
    REQUIRE(s.request(n1, join("app", 1)).rc == HA_GS_OK);
    const Reply leaver = s.request(n3, join("app", 1));
    REQUIRE(leaver.rc == HA_GS_OK);
    REQUIRE(s.request(n1, subscribe(HA_GS_SUBSCRIBE_ALL_MEMBERSHIP)).rc == HA_GS_OK);
    s.take(n1);

    s.step(NodeGone{3});
    const auto got = s.take(n1);
    REQUIRE(got.size() == 2);
    const auto *first = as<SubscriptionNote>(got[0]);
    REQUIRE(first != nullptr);
    CHECK(first->type == (HA_GS_SUBSCRIPTION_DELTA_LEAVE | HA_GS_SUBSCRIPTION_MEMBERSHIP));
    CHECK(first->changingMembership == std::vector<ProviderId>{host(3)});
    const auto *second = as<ApprovedNote>(got[1]);
    REQUIRE(second != nullptr);
    CHECK(second->protocol == HA_GS_FAILURE_LEAVE);
    CHECK(second->proposal.changingProviders == std::vector<ProviderId>{{1, 3}});
}

TEST_CASE("HostMembership: joins naming it are refused, and nothing is created")
{
    Sim s;
    threeNodes(s);
    CHECK(s.rc(n1, join(kHosts, 1)) == HA_GS_INVALID_GROUP);
    /* Whatever the attributes say. */
    JoinRequest odd = join(kHosts, 1, HA_GS_1_PHASE, 99);
    CHECK(s.rc(n1, odd) == HA_GS_INVALID_GROUP);
    /* Not even as a source group. */
    JoinRequest target = join("target", 1);
    target.attributes.sourceGroupName = kHosts;
    CHECK(s.rc(n1, target) == HA_GS_INVALID_SOURCE_GROUP);
    CHECK(s.engine.groupNames().empty());
    CHECK(s.engine.hosts() == std::vector<int16_t>{1, 2, 3});
    /* A subscriber token is no provider token. */
    const Reply sub = s.request(n1, subscribe(HA_GS_SUBSCRIBE_MEMBERSHIP));
    REQUIRE(sub.rc == HA_GS_OK);
    StateChangeRequest change;
    change.token = sub.token;
    change.numPhases = HA_GS_1_PHASE;
    change.newState = Bytes{'x'};
    CHECK(s.rc(n1, change) == HA_GS_BAD_MEMBER_TOKEN);
    CHECK(s.rc(n1, subscribe(HA_GS_SUBSCRIBE_STATE)) == HA_GS_EXISTS);
}

TEST_CASE("HostMembership with no node up does not exist; the last node's departure dissolves it")
{
    Sim s;
    const ClientId elsewhere = makeClientId(9, 1);
    s.hello(elsewhere);
    const Reply early = s.request(elsewhere, subscribe(HA_GS_SUBSCRIBE_MEMBERSHIP));
    REQUIRE(early.rc == HA_GS_OK);
    auto got = s.take(elsewhere);
    REQUIRE(got.size() == 1);
    const auto *error = as<DelayedErrorNote>(got[0]);
    REQUIRE(error != nullptr);
    CHECK(error->rc == HA_GS_UNKNOWN_GROUP);
    CHECK(got[0].final);

    s.step(NodeJoined{1});
    const Reply sub = s.request(elsewhere, subscribe(HA_GS_SUBSCRIBE_MEMBERSHIP));
    REQUIRE(sub.rc == HA_GS_OK);
    CHECK(onlyNote(s, elsewhere).fullMembership == std::vector<ProviderId>{host(1)});
    s.step(NodeGone{1});
    got = s.take(elsewhere);
    REQUIRE(got.size() == 1);
    const auto *dissolved = as<SubscriptionNote>(got[0]);
    REQUIRE(dissolved != nullptr);
    CHECK(dissolved->type == HA_GS_SUBSCRIPTION_DISSOLVED);
    CHECK(got[0].final);
    CHECK(s.request(elsewhere, UnsubscribeRequest{sub.token}).rc == HA_GS_BAD_MEMBER_TOKEN);
}

TEST_CASE("HostMembership: nodes and subscribers survive a snapshot")
{
    Sim s;
    threeNodes(s);
    const Reply sub = s.request(n1, subscribe(HA_GS_SUBSCRIBE_ALL_MEMBERSHIP));
    REQUIRE(sub.rc == HA_GS_OK);
    const std::string bytes = s.engine.snapshot();

    Engine copy;
    copy.restore(bytes);
    CHECK(copy.snapshot() == bytes);
    CHECK(copy.digest() == s.engine.digest());
    CHECK(copy.hosts() == std::vector<int16_t>{1, 2, 3});
    CHECK(copy.checkInvariants().empty());

    /* The restored subscriber is told alike, and the node set counts in
     * the digest. */
    const auto mine = s.step(NodeGone{2});
    const auto theirs = copy.process(NodeGone{2});
    REQUIRE(mine.size() == 1);
    REQUIRE(theirs.size() == 1);
    const auto &a = std::get<Notify>(mine[0]);
    const auto &b = std::get<Notify>(theirs[0]);
    CHECK(a.recipients == b.recipients);
    CHECK(*a.body == *b.body);
    CHECK(a.recipients == std::vector<Recipient>{{n1, sub.token, false}});
    CHECK(copy.digest() == s.engine.digest());
    copy.process(NodeJoined{7});
    CHECK(copy.digest() != s.engine.digest());
    /* Applying a node up the snapshot has already is a no-op. */
    s.step(NodeJoined{7});
    CHECK(s.step(NodeJoined{7}).empty());
    CHECK(copy.digest() == s.engine.digest());
}
