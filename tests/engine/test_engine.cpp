/* SPDX-License-Identifier: MIT */
/* Scenario tests of the protocol engine: one rule per test case. */
#include "sim.hpp"

#include "engine/validate.hpp"

#include <doctest/doctest.h>

using namespace gs;
using namespace gs::test;

namespace {

/* Joins `instance` of client `c` into `group`; returns the token. */
Token joined(Sim &s, ClientId c, const std::string &group, int instance, int phases = HA_GS_1_PHASE,
             int batch = 0, int timeLimit = 0)
{
    Reply r = s.request(c, join(group, instance, phases, batch, timeLimit));
    REQUIRE(r.rc == HA_GS_OK);
    REQUIRE(r.token > 0);
    return r.token;
}

StateChangeRequest stateChange(Token t, const std::string &value, int phases = HA_GS_1_PHASE,
                               int timeLimit = 0)
{
    StateChangeRequest r;
    r.token = t;
    r.newState = value;
    r.numPhases = phases;
    r.timeLimit = timeLimit;
    return r;
}

SubscribeRequest subscribe(const std::string &group, uint32_t control)
{
    SubscribeRequest r;
    r.group = group;
    r.control = control;
    return r;
}

/* The single notification of type T delivered to client c, or fail. */
template <class T>
T only(Sim &s, ClientId c, Delivered *meta = nullptr)
{
    auto got = s.take(c);
    REQUIRE(got.size() == 1);
    const T *body = as<T>(got[0]);
    REQUIRE(body != nullptr);
    if (meta)
        *meta = got[0];
    return *body;
}

} // namespace

TEST_CASE("first join creates the group and is approved at once")
{
    Sim s;
    s.hello(1);
    Token t = joined(s, 1, "g", 5);
    Delivered meta;
    auto a = only<ApprovedNote>(s, 1, &meta);
    CHECK(meta.token == t);
    CHECK(a.protocol == HA_GS_JOIN);
    CHECK(a.proposal.currentProviders == ids({5})); /* in force after the join */
    CHECK(a.proposal.changingProviders == ids({5}));
    auto g = s.engine.group("g");
    REQUIRE(g);
    REQUIRE(g->members.size() == 1);
    CHECK(g->members[0].id == ProviderId{5, kTestNode});
}

TEST_CASE("second join is seen by both providers, membership in join order")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    joined(s, 1, "g", 1);
    s.take(1);
    joined(s, 2, "g", 2);
    auto a1 = only<ApprovedNote>(s, 1);
    auto a2 = only<ApprovedNote>(s, 2);
    CHECK(a1 == a2);
    CHECK(a1.proposal.currentProviders == ids({1, 2}));
    CHECK(a1.proposal.changingProviders == ids({2}));
    CHECK(s.engine.group("g")->members.size() == 2);
}

TEST_CASE("join validation errors")
{
    EngineConfig cfg;
    cfg.limits.maxGroupsPerClient = 2;
    cfg.limits.maxProvidersPerGroup = 2;
    Sim s(cfg);
    s.hello(1);
    s.hello(2);
    s.hello(3);
    joined(s, 1, "g", 1);

    SUBCASE("immutable attributes must match the group's")
    {
        auto j = join("g", 2);
        j.attributes.mergeControl = HA_GS_DISSOLVE_ON_MERGE;
        CHECK(s.rc(2, j) == HA_GS_BAD_GROUP_ATTRIBUTES);
        j = join("g", 2);
        j.attributes.sourceGroupName = "g0";
        joined(s, 3, "g0", 1);
        CHECK(s.rc(2, j) == HA_GS_BAD_GROUP_ATTRIBUTES);
        j = join("g", 2);
        j.attributes.clientVersion = 42;
        CHECK(s.rc(2, j) == HA_GS_OK);
    }
    SUBCASE("mutable attributes need not match; the group keeps its own")
    {
        auto j = join("g", 2, HA_GS_N_PHASE, HA_GS_BATCH_BOTH, 7);
        j.attributes.defaultVote = HA_GS_VOTE_REJECT;
        j.attributes.sourceReflectionNumPhases = HA_GS_N_PHASE;
        j.attributes.sourceReflectionTimeLimit = 9;
        CHECK(s.rc(2, j) == HA_GS_OK);
        CHECK(s.engine.group("g")->attributes == normalizeAttributes(attrs("g")));
        j = join("g", 2);
        j.attributes.timeLimit = -1; /* still checked for range */
        CHECK(s.rc(3, j) == HA_GS_BAD_GROUP_ATTRIBUTES);
    }
    SUBCASE("zero fields mean the defaults")
    {
        auto j = join("g", 2);
        j.attributes.numPhases = HA_GS_1_PHASE;
        j.attributes.defaultVote = HA_GS_VOTE_APPROVE;
        j.attributes.timeLimit = HA_GS_TIME_LIMIT_CEILING;
        CHECK(s.rc(2, j) == HA_GS_OK);
    }
    SUBCASE("bad version, size or values")
    {
        auto j = join("h", 1);
        j.attributes.version = 2;
        CHECK(s.rc(2, j) == HA_GS_BAD_GROUP_ATTRIBUTES);
        j = join("h", 1);
        j.attributes.sizeofAttributes = 4;
        CHECK(s.rc(2, j) == HA_GS_BAD_GROUP_ATTRIBUTES);
        j = join("h", 1);
        j.attributes.defaultVote = HA_GS_VOTE_CONTINUE;
        CHECK(s.rc(2, j) == HA_GS_BAD_GROUP_ATTRIBUTES);
        j = join("h", 1);
        j.attributes.batchControl = 9;
        CHECK(s.rc(2, j) == HA_GS_BAD_GROUP_ATTRIBUTES);
        j = join("h", 1);
        j.attributes.timeLimit = -1;
        CHECK(s.rc(2, j) == HA_GS_BAD_GROUP_ATTRIBUTES);
        j = join("h", 1);
        j.attributes.timeLimit = HA_GS_TIME_LIMIT_CEILING + 1;
        CHECK(s.rc(2, j) == HA_GS_BAD_GROUP_ATTRIBUTES);
        j = join("h", 1);
        j.attributes.sourceReflectionTimeLimit = HA_GS_TIME_LIMIT_CEILING + 1;
        CHECK(s.rc(2, j) == HA_GS_BAD_GROUP_ATTRIBUTES);
    }
    SUBCASE("names")
    {
        CHECK(s.rc(2, join(std::string(128, 'x'), 1)) == HA_GS_NAME_TOO_LONG);
        CHECK(s.rc(2, join(std::string(127, 'x'), 1)) == HA_GS_OK);
        CHECK(s.rc(2, join("a b", 1)) == HA_GS_INVALID_GROUP);
        CHECK(s.rc(2, join("", 1)) == HA_GS_INVALID_GROUP);
        CHECK(s.rc(2, join("tab\t", 1)) == HA_GS_INVALID_GROUP);
    }
    SUBCASE("instance numbers")
    {
        CHECK(s.rc(2, join("g", 1)) == HA_GS_DUPLICATE_INSTANCE_NUMBER);
        CHECK(s.rc(2, join("g", -1)) == HA_GS_BAD_PARAMETER);
        CHECK(s.rc(2, join("g", 40000)) == HA_GS_BAD_PARAMETER);
    }
    SUBCASE("one provider token per group per client")
    {
        CHECK(s.rc(1, join("g", 9)) == HA_GS_EXISTS);
    }
    SUBCASE("limits")
    {
        CHECK(s.rc(2, join("g", 2)) == HA_GS_OK);
        CHECK(s.rc(3, join("g", 3)) == HA_GS_TOO_MANY_GROUPS); /* providers per group */
        CHECK(s.rc(1, join("h1", 1)) == HA_GS_OK);
        CHECK(s.rc(1, join("h2", 1)) == HA_GS_TOO_MANY_GROUPS); /* groups per client */
    }
    SUBCASE("source groups")
    {
        auto j = join("t", 1);
        j.attributes.sourceGroupName = "t";
        CHECK(s.rc(2, j) == HA_GS_INVALID_SOURCE_GROUP);
        j.attributes.sourceGroupName = "bad name";
        CHECK(s.rc(2, j) == HA_GS_INVALID_SOURCE_GROUP);
        j.attributes.sourceGroupName = "absent";
        CHECK(s.rc(2, j) == HA_GS_NO_SOURCE_GROUP_PROVIDER);
        j.attributes.sourceGroupName = "g";
        CHECK(s.rc(2, j) == HA_GS_OK);
    }
    SUBCASE("requests before hello")
    {
        CHECK(s.rc(99, join("g", 4)) == HA_GS_NO_INIT);
    }
}

TEST_CASE("tokens belong to their client and have a kind")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    Token t1 = joined(s, 1, "g", 1);
    Token sub = s.request(2, subscribe("g", HA_GS_SUBSCRIBE_STATE)).token;
    CHECK(s.rc(2, stateChange(t1, "x")) == HA_GS_BAD_MEMBER_TOKEN);
    CHECK(s.rc(2, GoodbyeRequest{t1}) == HA_GS_BAD_MEMBER_TOKEN);
    CHECK(s.rc(1, UnsubscribeRequest{sub}) == HA_GS_BAD_MEMBER_TOKEN);
    /* A token of the wrong kind is not a valid provider or subscriber. */
    CHECK(s.rc(2, stateChange(sub, "x")) == HA_GS_BAD_MEMBER_TOKEN);
    CHECK(s.rc(2, vote(sub, HA_GS_VOTE_APPROVE)) == HA_GS_BAD_MEMBER_TOKEN);
    CHECK(s.rc(2, GoodbyeRequest{sub}) == HA_GS_BAD_MEMBER_TOKEN);
    CHECK(s.rc(2, LeaveRequest{sub, HA_GS_1_PHASE, 0, 0}) == HA_GS_BAD_MEMBER_TOKEN);
    CHECK(s.rc(1, UnsubscribeRequest{t1}) == HA_GS_BAD_MEMBER_TOKEN);
    CHECK(s.rc(1, stateChange(12345, "x")) == HA_GS_BAD_MEMBER_TOKEN);
}

TEST_CASE("one-phase state change reaches providers and state subscribers")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    Token t = joined(s, 1, "g", 1);
    Token sub =
        s.request(2, subscribe("g", HA_GS_SUBSCRIBE_STATE | HA_GS_SUBSCRIBE_MEMBERSHIP)).token;
    s.take(1);
    auto initial = only<SubscriptionNote>(s, 2);
    CHECK(initial.type == (HA_GS_SUBSCRIPTION_STATE | HA_GS_SUBSCRIPTION_MEMBERSHIP));
    CHECK(*initial.fullMembership == ids({1}));
    CHECK(*initial.state == "");

    CHECK(s.rc(1, stateChange(t, std::string("a\0b", 3))) == HA_GS_OK);
    auto a = only<ApprovedNote>(s, 1);
    CHECK(a.protocol == HA_GS_STATE_VALUE_CHANGE);
    CHECK(*a.proposal.proposedState == std::string("a\0b", 3));
    Delivered meta;
    auto n = only<SubscriptionNote>(s, 2, &meta);
    CHECK(meta.token == sub);
    CHECK(n.type == HA_GS_SUBSCRIPTION_STATE);
    CHECK(*n.state == std::string("a\0b", 3));
    CHECK(s.engine.group("g")->state == std::string("a\0b", 3));
}

TEST_CASE("n-phase: continue runs another phase, all approve approves")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    Token t1 = joined(s, 1, "g", 1);
    Token t2 = joined(s, 2, "g", 2);
    s.take(1);
    s.take(2);
    CHECK(s.rc(1, stateChange(t1, "v", HA_GS_N_PHASE, 5)) == HA_GS_OK);
    auto p1 = only<NPhaseNote>(s, 1);
    only<NPhaseNote>(s, 2);
    CHECK(p1.proposal.phaseNumber == 1);
    CHECK(p1.timeLimit == 5);
    CHECK(s.activeTimers() == 1);

    CHECK(s.rc(1, vote(t1, HA_GS_VOTE_CONTINUE)) == HA_GS_OK);
    CHECK(s.rc(1, vote(t1, HA_GS_VOTE_APPROVE)) == HA_GS_VOTE_NOT_EXPECTED); /* twice in a phase */
    CHECK(s.take(1).empty());
    CHECK(s.rc(2, vote(t2, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    auto p2 = only<NPhaseNote>(s, 1);
    CHECK(p2.proposal.phaseNumber == 2);
    only<NPhaseNote>(s, 2);
    CHECK(s.rc(1, vote(t1, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    CHECK(s.rc(2, vote(t2, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    auto a = only<ApprovedNote>(s, 1);
    CHECK(a.proposal.phaseNumber == 2);
    CHECK((a.summary & HA_GS_EXPLICIT_APPROVE) != 0);
    CHECK(s.engine.group("g")->state == "v");
    CHECK(s.activeTimers() == 0);
}

TEST_CASE("n-phase: any reject rejects, subscribers see nothing")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    s.hello(3);
    Token t1 = joined(s, 1, "g", 1);
    Token t2 = joined(s, 2, "g", 2);
    s.request(3, subscribe("g", HA_GS_SUBSCRIBE_STATE));
    s.take(1);
    s.take(2);
    s.take(3);
    CHECK(s.rc(1, stateChange(t1, "v", HA_GS_N_PHASE)) == HA_GS_OK);
    s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
    s.rc(2, vote(t2, HA_GS_VOTE_REJECT));
    auto got = s.take(1);
    REQUIRE(got.size() == 2);
    const auto *r = as<RejectedNote>(got[1]);
    REQUIRE(r);
    CHECK((r->summary & HA_GS_EXPLICIT_REJECT) != 0);
    CHECK(s.engine.group("g")->state == "");
    CHECK(s.take(3).empty());
}

TEST_CASE("one protocol at a time: proposals collide, joins queue")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    s.hello(3);
    Token t1 = joined(s, 1, "g", 1);
    Token t2 = joined(s, 2, "g", 2);
    CHECK(s.rc(1, stateChange(t1, "v", HA_GS_N_PHASE)) == HA_GS_OK);
    CHECK(s.rc(2, stateChange(t2, "w")) == HA_GS_COLLIDE);
    MessageRequest m;
    m.token = t2;
    m.message = "hi";
    CHECK(s.rc(2, m) == HA_GS_COLLIDE);
    Token t3 = joined(s, 3, "g", 3); /* queued behind the running protocol */
    CHECK(s.engine.group("g")->queuedMembershipChanges == 1);
    CHECK(s.rc(3, stateChange(t3, "x")) == HA_GS_NOT_A_MEMBER);
    s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
    s.rc(2, vote(t2, HA_GS_VOTE_APPROVE));
    /* The state change finished and the queued join ran at once (one phase). */
    CHECK(s.engine.group("g")->members.size() == 3);
    CHECK(s.rc(3, stateChange(t3, "x")) == HA_GS_OK);
}

TEST_CASE("votes carry state values and messages; earliest provider wins")
{
    Sim s;
    for (ClientId c = 1; c <= 3; ++c)
        s.hello(c);
    Token t1 = joined(s, 1, "g", 1);
    Token t2 = joined(s, 2, "g", 2);
    Token t3 = joined(s, 3, "g", 3);
    for (ClientId c = 1; c <= 3; ++c)
        s.take(c);
    MessageRequest m;
    m.token = t3;
    m.message = "original";
    m.numPhases = HA_GS_N_PHASE;
    CHECK(s.rc(3, m) == HA_GS_OK);
    CHECK(*only<NPhaseNote>(s, 1).proposal.message == "original");
    s.take(2);
    s.take(3);
    VoteRequest v3 = vote(t3, HA_GS_VOTE_CONTINUE);
    v3.proposedState = "from3";
    v3.message = "m3";
    VoteRequest v2 = vote(t2, HA_GS_VOTE_APPROVE);
    v2.proposedState = "from2";
    v2.message = "m2";
    s.rc(3, v3);
    s.rc(2, v2);
    s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
    auto p2 = only<NPhaseNote>(s, 1);
    CHECK(*p2.proposal.proposedState == "from2");
    CHECK(*p2.proposal.message == "m2");
    s.take(2);
    s.take(3);
    for (auto [c, t] : {std::pair{1, t1}, {2, t2}, {3, t3}})
        s.rc(c, vote(t, HA_GS_VOTE_APPROVE));
    auto a = only<ApprovedNote>(s, 1);
    CHECK(a.protocol == HA_GS_PROVIDER_MESSAGE);
    CHECK(*a.proposal.proposedState == "from2");
    /* m2 went out with the next notification only; the protocol's own
     * message is its subject and stays. */
    CHECK(*a.proposal.message == "original");
    CHECK(s.engine.group("g")->state == "from2");
}

TEST_CASE("time limit: late voters get the default vote and are announced")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    Token t1 = joined(s, 1, "g", 1);
    joined(s, 2, "g", 2);
    s.take(1);
    s.take(2);

    SUBCASE("default approve")
    {
        s.rc(1, stateChange(t1, "v", HA_GS_N_PHASE, 1));
        s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
        s.take(1);
        REQUIRE(s.fireTimer());
        auto got = s.take(1);
        REQUIRE(got.size() == 2);
        const auto *ann = as<AnnouncementNote>(got[0]);
        REQUIRE(ann);
        CHECK(ann->summary == HA_GS_TIME_LIMIT_EXCEEDED);
        CHECK(ann->providers == ids({2}));
        const auto *a = as<ApprovedNote>(got[1]);
        REQUIRE(a);
        CHECK((a->summary & HA_GS_DEFAULT_APPROVE) != 0);
        CHECK((a->summary & HA_GS_TIME_LIMIT_EXCEEDED) != 0);
        CHECK(s.engine.group("g")->state == "v");
    }
    SUBCASE("a voter's default vote REJECT decides")
    {
        s.rc(1, stateChange(t1, "v", HA_GS_N_PHASE, 1));
        s.rc(1, vote(t1, HA_GS_VOTE_APPROVE, HA_GS_VOTE_REJECT));
        s.take(1);
        REQUIRE(s.fireTimer());
        auto got = s.take(1);
        REQUIRE(got.size() == 2);
        const auto *r = as<RejectedNote>(got[1]);
        REQUIRE(r);
        CHECK((r->summary & HA_GS_DEFAULT_REJECT) != 0);
        CHECK(s.engine.group("g")->state == "");
    }
}

TEST_CASE("a provider dying mid-protocol votes the default, then leaves by failure")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    s.hello(3);
    Token t1 = joined(s, 1, "g", 1);
    joined(s, 2, "g", 2);
    s.request(3, subscribe("g", HA_GS_SUBSCRIBE_ALL_MEMBERSHIP | HA_GS_SUBSCRIBE_STATE));
    s.take(1);
    s.take(3);
    s.rc(1, stateChange(t1, "v", HA_GS_N_PHASE));
    s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
    s.take(1);
    s.gone(2);
    auto got = s.take(1);
    REQUIRE(got.size() == 2);
    const auto *a = as<ApprovedNote>(got[0]);
    REQUIRE(a);
    CHECK(a->protocol == HA_GS_STATE_VALUE_CHANGE);
    CHECK((a->summary & HA_GS_PROVIDER_FAILED) != 0);
    const auto *f = as<ApprovedNote>(got[1]);
    REQUIRE(f);
    CHECK(f->protocol == HA_GS_FAILURE_LEAVE);
    CHECK(f->proposal.changingProviders == ids({2}));
    REQUIRE(f->proposal.leaveInfo.size() == 1);
    CHECK(f->proposal.leaveInfo[0].reason == HA_GS_PROVIDER_FAILED_LEAVE);
    auto subs = s.take(3);
    REQUIRE(subs.size() == 2);
    CHECK(as<SubscriptionNote>(subs[0])->type == HA_GS_SUBSCRIPTION_STATE);
    CHECK(as<SubscriptionNote>(subs[1])->type ==
          (HA_GS_SUBSCRIPTION_DELTA_LEAVE | HA_GS_SUBSCRIPTION_MEMBERSHIP));
    CHECK(*as<SubscriptionNote>(subs[1])->fullMembership == ids({1}));
}

TEST_CASE("a default reject after a death rejects, and the failure leave follows")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    auto j = join("g", 1);
    j.attributes.defaultVote = HA_GS_VOTE_REJECT;
    Token t1 = s.request(1, j).token;
    j.instance = 2;
    s.request(2, j);
    s.take(1);
    s.rc(1, stateChange(t1, "v", HA_GS_N_PHASE));
    s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
    s.take(1);
    s.gone(2);
    auto got = s.take(1);
    REQUIRE(got.size() == 2);
    const auto *r = as<RejectedNote>(got[0]);
    REQUIRE(r);
    CHECK((r->summary & (HA_GS_DEFAULT_REJECT | HA_GS_PROVIDER_FAILED)) ==
          (HA_GS_DEFAULT_REJECT | HA_GS_PROVIDER_FAILED));
    CHECK(as<ApprovedNote>(got[1])->protocol == HA_GS_FAILURE_LEAVE);
}

TEST_CASE("goodbye: out at once, the others see a failure leave said-goodbye")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    joined(s, 1, "g", 1);
    Token t2 = joined(s, 2, "g", 2);
    s.take(1);
    s.take(2);
    CHECK(s.rc(2, GoodbyeRequest{t2}) == HA_GS_OK);
    CHECK(s.take(2).empty());
    auto f = only<ApprovedNote>(s, 1);
    CHECK(f.protocol == HA_GS_FAILURE_LEAVE);
    CHECK(f.proposal.leaveInfo[0].reason == HA_GS_PROVIDER_SAID_GOODBYE);
    CHECK(s.rc(2, GoodbyeRequest{t2}) == HA_GS_BAD_MEMBER_TOKEN);
}

TEST_CASE("leave: approved to everyone, final for the leaver")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    joined(s, 1, "g", 1);
    Token t2 = joined(s, 2, "g", 2);
    s.take(1);
    s.take(2);
    LeaveRequest l;
    l.token = t2;
    l.leaveCode = 77;
    CHECK(s.rc(2, l) == HA_GS_OK);
    Delivered meta;
    auto a = only<ApprovedNote>(s, 2, &meta);
    CHECK(meta.final);
    CHECK(a.proposal.leaveInfo[0].leaveCode == 77);
    CHECK(a.proposal.leaveInfo[0].reason == HA_GS_PROVIDER_LEFT);
    only<ApprovedNote>(s, 1, &meta);
    CHECK_FALSE(meta.final);
    CHECK(s.rc(2, l) == HA_GS_BAD_MEMBER_TOKEN);
}

TEST_CASE("expel")
{
    Sim s;
    for (ClientId c = 1; c <= 3; ++c)
        s.hello(c);
    Token t1 = joined(s, 1, "g", 1);
    Token t2 = joined(s, 2, "g", 2);
    joined(s, 3, "g", 3);
    for (ClientId c = 1; c <= 3; ++c)
        s.take(c);
    ExpelRequest e;
    e.token = t1;

    SUBCASE("errors")
    {
        CHECK(s.rc(1, e) == HA_GS_BAD_PARAMETER); /* empty list */
        e.expelList = ids({9});
        CHECK(s.rc(1, e) == HA_GS_UNKNOWN_PROVIDER);
        e.expelList = ids({2, 2});
        CHECK(s.rc(1, e) == HA_GS_BAD_PARAMETER);
        e.expelList = ids({2});
        e.deactivatePhase = 2;
        CHECK(s.rc(1, e) == HA_GS_INVALID_DEACTIVATE_PHASE);
    }
    SUBCASE("n-phase: the expelled do not vote")
    {
        e.expelList = ids({2});
        e.numPhases = HA_GS_N_PHASE;
        CHECK(s.rc(1, e) == HA_GS_OK);
        CHECK(s.take(2).empty());
        only<NPhaseNote>(s, 1);
        CHECK(s.rc(2, vote(t2, HA_GS_VOTE_REJECT)) == HA_GS_VOTE_NOT_EXPECTED);
        s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
        s.take(3);
        s.rc(3, vote(s.engine.group("g")->members[2].token, HA_GS_VOTE_APPROVE));
        Delivered meta;
        auto a = only<ApprovedNote>(s, 2, &meta);
        CHECK(meta.final);
        CHECK(a.proposal.leaveInfo[0].reason == HA_GS_PROVIDER_EXPELLED);
        CHECK(s.engine.group("g")->members.size() == 2);
    }
    SUBCASE("a provider may expel itself")
    {
        e.expelList = ids({1});
        CHECK(s.rc(1, e) == HA_GS_OK);
        Delivered meta;
        only<ApprovedNote>(s, 1, &meta);
        CHECK(meta.final);
        CHECK(s.engine.group("g")->members.size() == 2);
    }
}

TEST_CASE("subscriptions: initial notification, deltas, dissolve, unknown group")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    s.hello(9);

    SUBCASE("unknown group is a final delayed error")
    {
        Reply r = s.request(9, subscribe("nope", HA_GS_SUBSCRIBE_STATE));
        CHECK(r.rc == HA_GS_OK);
        Delivered meta;
        auto e = only<DelayedErrorNote>(s, 9, &meta);
        CHECK(meta.token == r.token);
        CHECK(meta.final);
        CHECK(e.rc == HA_GS_UNKNOWN_GROUP);
        CHECK(e.protocol == HA_GS_SUBSCRIPTION);
        CHECK(s.rc(9, UnsubscribeRequest{r.token}) == HA_GS_BAD_MEMBER_TOKEN);
    }
    SUBCASE("delta-join initial lists every provider")
    {
        joined(s, 1, "g", 1);
        joined(s, 2, "g", 2);
        s.request(9, subscribe("g", HA_GS_SUBSCRIBE_DELTA_JOIN));
        auto n = only<SubscriptionNote>(s, 9);
        CHECK(n.type == HA_GS_SUBSCRIPTION_DELTA_JOIN);
        CHECK(*n.changingMembership == ids({1, 2}));
    }
    SUBCASE("flags are respected and dissolve is final")
    {
        Token t1 = joined(s, 1, "g", 1);
        Token stateOnly = s.request(9, subscribe("g", HA_GS_SUBSCRIBE_STATE)).token;
        s.take(9);
        CHECK(s.rc(9, subscribe("g", HA_GS_SUBSCRIBE_STATE)) == HA_GS_EXISTS);
        CHECK(s.rc(9, subscribe("g", 0)) == HA_GS_BAD_PARAMETER);
        CHECK(s.rc(9, subscribe("g", HA_GS_SUBSCRIBE_SPECIAL_DATA)) == HA_GS_BAD_PARAMETER);
        CHECK(s.rc(9, subscribe("g", 0x100)) == HA_GS_BAD_PARAMETER);
        joined(s, 2, "g", 2);
        CHECK(s.take(9).empty()); /* membership change: not asked for */
        LeaveRequest l;
        l.token = t1;
        s.rc(1, l);
        CHECK(s.take(9).empty());
        Token t2 = s.engine.group("g")->members[0].token;
        s.rc(2, LeaveRequest{t2, 0, 0, 0});
        Delivered meta;
        auto d = only<SubscriptionNote>(s, 9, &meta);
        CHECK(d.type == HA_GS_SUBSCRIPTION_DISSOLVED);
        CHECK(meta.token == stateOnly);
        CHECK(meta.final);
        CHECK_FALSE(s.engine.group("g"));
        CHECK(s.rc(9, UnsubscribeRequest{stateOnly}) == HA_GS_BAD_MEMBER_TOKEN);
        /* The group can be created afresh with other attributes. */
        CHECK(s.rc(1, join("g", 1, HA_GS_N_PHASE)) == HA_GS_OK);
    }
    SUBCASE("no notification carries both delta flags")
    {
        s.request(9, subscribe("g", HA_GS_SUBSCRIBE_ALL_MEMBERSHIP)); /* unknown yet */
        s.take(9);
        Token t1 = joined(s, 1, "g", 1);
        s.request(9, subscribe("g", HA_GS_SUBSCRIBE_ALL_MEMBERSHIP));
        s.take(9);
        joined(s, 2, "g", 2);
        auto j = only<SubscriptionNote>(s, 9);
        CHECK(j.type == (HA_GS_SUBSCRIPTION_DELTA_JOIN | HA_GS_SUBSCRIPTION_MEMBERSHIP));
        s.rc(1, GoodbyeRequest{t1});
        auto l = only<SubscriptionNote>(s, 9);
        CHECK(l.type == (HA_GS_SUBSCRIPTION_DELTA_LEAVE | HA_GS_SUBSCRIPTION_MEMBERSHIP));
        CHECK(*l.changingMembership == ids({1}));
        CHECK(*l.fullMembership == ids({2}));
    }
    SUBCASE("the other subscriptions of a client survive a dissolve")
    {
        Token t1 = joined(s, 1, "g", 1);
        joined(s, 2, "h", 1);
        s.request(9, subscribe("g", HA_GS_SUBSCRIBE_STATE));
        Token h = s.request(9, subscribe("h", HA_GS_SUBSCRIBE_STATE)).token;
        s.rc(1, GoodbyeRequest{t1});
        s.take(9);
        CHECK(s.rc(9, UnsubscribeRequest{h}) == HA_GS_OK);
    }
}

TEST_CASE("batching of joins")
{
    for (int batch : {HA_GS_NO_BATCHING, HA_GS_BATCH_JOINS}) {
        CAPTURE(batch);
        Sim s;
        for (ClientId c = 1; c <= 5; ++c)
            s.hello(c);
        Token t1 = s.request(1, join("g", 1, HA_GS_1_PHASE, batch)).token;
        StateChangeRequest hold = stateChange(t1, "x", HA_GS_N_PHASE);
        CHECK(s.rc(1, hold) == HA_GS_OK);
        for (ClientId c = 2; c <= 4; ++c)
            CHECK(s.rc(c, join("g", static_cast<int>(c), HA_GS_1_PHASE, batch)) == HA_GS_OK);
        s.take(1);
        s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
        int joinProtocols = 0;
        for (const auto &d : s.take(1))
            if (const auto *a = as<ApprovedNote>(d); a && a->protocol == HA_GS_JOIN) {
                ++joinProtocols;
                if (batch)
                    CHECK(a->proposal.changingProviders == ids({2, 3, 4}));
            }
        CHECK(joinProtocols == (batch ? 1 : 3));
        CHECK(s.engine.group("g")->members.size() == 4);
    }
}

TEST_CASE("batching of failure leaves")
{
    Sim s;
    for (ClientId c = 1; c <= 4; ++c)
        s.hello(c);
    Token t1 = s.request(1, join("g", 1, HA_GS_1_PHASE, HA_GS_BATCH_LEAVES)).token;
    for (ClientId c = 2; c <= 4; ++c)
        s.request(c, join("g", static_cast<int>(c), HA_GS_1_PHASE, HA_GS_BATCH_LEAVES));
    s.rc(1, stateChange(t1, "x", HA_GS_N_PHASE));
    s.gone(2);
    s.gone(3);
    s.take(1);
    const auto view = *s.engine.group("g");
    for (const auto &m : view.members)
        if (m.client == 4)
            s.rc(4, vote(m.token, HA_GS_VOTE_APPROVE));
    s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
    auto got = s.take(1);
    REQUIRE(got.size() == 2);
    const auto *f = as<ApprovedNote>(got[1]);
    REQUIRE(f);
    CHECK(f->protocol == HA_GS_FAILURE_LEAVE);
    CHECK(f->proposal.changingProviders == ids({2, 3}));
}

TEST_CASE("n-phase join: joiners vote; a rejected join ends the joiner's token")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    Reply r1 = s.request(1, join("g", 1, HA_GS_N_PHASE));
    auto first = only<NPhaseNote>(s, 1); /* the creator votes on its own join */
    CHECK(first.protocol == HA_GS_JOIN);
    s.rc(1, vote(r1.token, HA_GS_VOTE_APPROVE));
    only<ApprovedNote>(s, 1);
    Reply r2 = s.request(2, join("g", 2, HA_GS_N_PHASE));
    only<NPhaseNote>(s, 1);
    only<NPhaseNote>(s, 2);
    s.rc(2, vote(r2.token, HA_GS_VOTE_APPROVE));
    s.rc(1, vote(r1.token, HA_GS_VOTE_REJECT));
    Delivered meta;
    only<RejectedNote>(s, 2, &meta);
    CHECK(meta.final);
    only<RejectedNote>(s, 1, &meta);
    CHECK_FALSE(meta.final);
    CHECK(s.rc(2, vote(r2.token, HA_GS_VOTE_APPROVE)) == HA_GS_BAD_MEMBER_TOKEN);
    CHECK(s.engine.group("g")->members.size() == 1);
}

TEST_CASE("a rejected creating join leaves no group behind")
{
    Sim s;
    s.hello(1);
    Reply r = s.request(1, join("g", 1, HA_GS_N_PHASE));
    s.rc(1, vote(r.token, HA_GS_VOTE_REJECT));
    CHECK_FALSE(s.engine.group("g"));
    CHECK(s.rc(1, join("g", 1)) == HA_GS_OK);
}

TEST_CASE("state memory budget")
{
    EngineConfig cfg;
    cfg.limits.maxStateMemory = 10;
    Sim s(cfg);
    s.hello(1);
    Token t = joined(s, 1, "g", 1);
    CHECK(s.rc(1, stateChange(t, std::string(11, 'x'))) == HA_GS_NO_MEMORY);
    CHECK(s.rc(1, stateChange(t, std::string(10, 'x'))) == HA_GS_OK);
    CHECK(s.engine.stateMemory() == 10);
    CHECK(s.rc(1, stateChange(t, std::string(HA_GS_MAX_STATE_VALUE_LENGTH + 1, 'x'))) ==
          HA_GS_BAD_PARAMETER);
}

TEST_CASE("attribute change: mutable fields only")
{
    Sim s;
    s.hello(1);
    Token t = joined(s, 1, "g", 1);
    s.take(1);
    AttributeChangeRequest r;
    r.token = t;
    r.attributes = attrs("g", HA_GS_N_PHASE, HA_GS_BATCH_BOTH, 30);
    CHECK(s.rc(1, r) == HA_GS_OK);
    auto a = only<ApprovedNote>(s, 1);
    CHECK(a.protocol == HA_GS_GROUP_ATTRIBUTE_CHANGE);
    CHECK(s.engine.group("g")->attributes.numPhases == HA_GS_N_PHASE);
    CHECK(s.engine.group("g")->attributes.timeLimit == 30);
    r.attributes.groupName = "other";
    CHECK(s.rc(1, r) == HA_GS_BAD_GROUP_ATTRIBUTES);
    r.attributes = attrs("g");
    r.attributes.mergeControl = HA_GS_DISSOLVE_ON_MERGE;
    CHECK(s.rc(1, r) == HA_GS_BAD_GROUP_ATTRIBUTES);
}

TEST_CASE("unresponsive client: announcement to the other providers")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    joined(s, 1, "g", 1);
    joined(s, 2, "g", 2);
    s.take(1);
    s.take(2);
    s.step(ClientUnresponsive{2});
    auto a = only<AnnouncementNote>(s, 1);
    CHECK(a.summary == HA_GS_RESPONSIVENESS_NO_RESPONSE);
    CHECK(a.providers == ids({2}));
    CHECK(s.take(2).empty());
}

TEST_CASE("source groups: reflection of state, cast-out on dissolve")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    Token src = joined(s, 1, "src", 1);
    auto j = join("tgt", 1);
    j.attributes.sourceGroupName = "src";
    Token tgt = s.request(2, j).token;
    s.take(1);
    s.take(2);
    s.rc(1, stateChange(src, "S1"));
    auto r = only<ApprovedNote>(s, 2);
    CHECK(r.protocol == HA_GS_SOURCE_STATE_REFLECTION);
    CHECK(*r.proposal.sourceState == "S1");
    s.take(1);
    s.rc(1, GoodbyeRequest{src});
    Delivered meta;
    auto c = only<ApprovedNote>(s, 2, &meta);
    CHECK(c.protocol == HA_GS_CAST_OUT);
    CHECK(meta.final);
    CHECK((c.summary & HA_GS_GROUP_DISSOLVED) != 0);
    CHECK_FALSE(s.engine.group("tgt"));
    CHECK(s.rc(2, GoodbyeRequest{tgt}) == HA_GS_BAD_MEMBER_TOKEN);
}

TEST_CASE("vote validation")
{
    Sim s;
    s.hello(1);
    Token t = joined(s, 1, "g", 1);
    CHECK(s.rc(1, vote(t, HA_GS_VOTE_APPROVE)) == HA_GS_VOTE_NOT_EXPECTED); /* nothing runs */
    CHECK(s.rc(1, vote(t, 0)) == HA_GS_BAD_PARAMETER);
    CHECK(s.rc(1, vote(t, HA_GS_VOTE_APPROVE, HA_GS_VOTE_CONTINUE)) == HA_GS_BAD_PARAMETER);
    VoteRequest big = vote(t, HA_GS_VOTE_APPROVE);
    big.message = std::string(HA_GS_MAX_MESSAGE_LENGTH + 1, 'm');
    CHECK(s.rc(1, big) == HA_GS_BAD_PARAMETER);
}

TEST_CASE("same events, same actions")
{
    auto run = [] {
        Sim s;
        s.hello(1);
        s.hello(2);
        Token t1 = s.request(1, join("g", 1, HA_GS_N_PHASE)).token;
        s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
        Token t2 = s.request(2, join("g", 2, HA_GS_N_PHASE)).token;
        s.rc(1, vote(t1, HA_GS_VOTE_CONTINUE));
        s.rc(2, vote(t2, HA_GS_VOTE_APPROVE));
        s.fireTimer();
        std::vector<std::pair<ClientId, std::vector<Delivered>>> seen;
        for (ClientId c : {1, 2})
            seen.emplace_back(c, s.take(c));
        return seen;
    };
    auto a = run(), b = run();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        REQUIRE(a[i].second.size() == b[i].second.size());
        for (size_t k = 0; k < a[i].second.size(); ++k) {
            CHECK(a[i].second[k].token == b[i].second[k].token);
            CHECK(a[i].second[k].body == b[i].second[k].body);
        }
    }
}

TEST_CASE("a client in a source group and its target dies: both are cleaned up")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    joined(s, 1, "S", 1);
    auto j = join("T", 1);
    j.attributes.sourceGroupName = "S";
    REQUIRE(s.rc(1, j) == HA_GS_OK);
    joined(s, 2, "other", 1);
    s.gone(1); /* S dissolves, which casts T out, while the client's T token is pending */
    CHECK_FALSE(s.engine.group("S"));
    CHECK_FALSE(s.engine.group("T"));
    CHECK(s.engine.clientCount() == 1);
}

TEST_CASE("a target whose creating join is rejected after its source dissolved goes away")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    joined(s, 1, "S", 1);
    auto j = join("T", 1, HA_GS_N_PHASE);
    j.attributes.sourceGroupName = "S";
    Token t = s.request(2, j).token;
    REQUIRE(t > 0);
    s.gone(1);                           /* cast-out queued behind T's join */
    s.rc(2, vote(t, HA_GS_VOTE_REJECT)); /* T never had a member */
    CHECK_FALSE(s.engine.group("T"));
    CHECK(s.rc(2, join("T", 1)) == HA_GS_OK); /* the name is free again */
}

TEST_CASE("a state value attached to a vote counts against the state memory budget")
{
    EngineConfig cfg;
    cfg.limits.maxStateMemory = 10;
    Sim s(cfg);
    s.hello(1);
    Token t = joined(s, 1, "g", 1);
    MessageRequest m;
    m.token = t;
    m.numPhases = HA_GS_N_PHASE;
    m.message = "m";
    REQUIRE(s.rc(1, m) == HA_GS_OK);
    CHECK(s.engine.stateMemory() == 1); /* the pending message counts too */
    VoteRequest v = vote(t, HA_GS_VOTE_APPROVE);
    v.proposedState = std::string(10, 'x');
    CHECK(s.rc(1, v) == HA_GS_NO_MEMORY);
    v.proposedState = std::string(9, 'x');
    CHECK(s.rc(1, v) == HA_GS_OK);
    CHECK(s.engine.stateMemory() == 9);
}

TEST_CASE("a message attached to a vote goes out with the next notification only")
{
    Sim s;
    for (ClientId c = 1; c <= 2; ++c)
        s.hello(c);
    Token t1 = joined(s, 1, "g", 1);
    Token t2 = joined(s, 2, "g", 2);
    s.take(1);
    s.take(2);
    REQUIRE(s.rc(1, stateChange(t1, "x", HA_GS_N_PHASE)) == HA_GS_OK);
    CHECK_FALSE(only<NPhaseNote>(s, 1).proposal.message);
    s.take(2);
    /* Phase 1: t2 attaches a command; phase 2 carries it. */
    VoteRequest v = vote(t2, HA_GS_VOTE_CONTINUE);
    v.message = "run-once";
    REQUIRE(s.rc(2, v) == HA_GS_OK);
    REQUIRE(s.rc(1, vote(t1, HA_GS_VOTE_CONTINUE)) == HA_GS_OK);
    CHECK(only<NPhaseNote>(s, 1).proposal.message == std::optional<Bytes>("run-once"));
    CHECK(only<NPhaseNote>(s, 2).proposal.message == std::optional<Bytes>("run-once"));
    /* Phase 2 without riders: phase 3 and the approval do not repeat it. */
    REQUIRE(s.rc(1, vote(t1, HA_GS_VOTE_CONTINUE)) == HA_GS_OK);
    REQUIRE(s.rc(2, vote(t2, HA_GS_VOTE_CONTINUE)) == HA_GS_OK);
    CHECK_FALSE(only<NPhaseNote>(s, 1).proposal.message);
    s.take(2);
    REQUIRE(s.rc(1, vote(t1, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    REQUIRE(s.rc(2, vote(t2, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    CHECK_FALSE(only<ApprovedNote>(s, 1).proposal.message);

    /* A rider of the last phase rides on the approval (or rejection). */
    REQUIRE(s.rc(1, stateChange(t1, "y", HA_GS_N_PHASE)) == HA_GS_OK);
    s.take(1);
    s.take(2);
    v = vote(t2, HA_GS_VOTE_REJECT);
    v.message = "last";
    REQUIRE(s.rc(2, v) == HA_GS_OK);
    REQUIRE(s.rc(1, vote(t1, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    CHECK(only<RejectedNote>(s, 1).proposal.message == std::optional<Bytes>("last"));
}

TEST_CASE("approved notifications carry the membership after the change")
{
    Sim s;
    for (ClientId c = 1; c <= 4; ++c)
        s.hello(c);
    Token t1 = joined(s, 1, "g", 1);
    Token t2 = joined(s, 2, "g", 2);
    Token t3 = joined(s, 3, "g", 3);
    Token sub = s.request(4, subscribe("g", HA_GS_SUBSCRIBE_MEMBERSHIP)).token;
    REQUIRE(sub > 0);
    for (ClientId c = 1; c <= 4; ++c)
        s.take(c);

    SUBCASE("a failure leave: the dead provider is gone, as subscribers are told")
    {
        s.gone(3);
        auto a = only<ApprovedNote>(s, 1);
        CHECK(a.protocol == HA_GS_FAILURE_LEAVE);
        CHECK(a.proposal.changingProviders == ids({3}));
        CHECK(a.proposal.currentProviders == ids({1, 2}));
        CHECK(*only<SubscriptionNote>(s, 4).fullMembership == a.proposal.currentProviders);
        /* "leader = first provider after each approved change" */
        s.take(2);
        s.gone(1);
        a = only<ApprovedNote>(s, 2);
        CHECK(a.proposal.currentProviders == ids({2}));
        CHECK(a.proposal.currentProviders.front() == ProviderId{2, kTestNode});
    }
    SUBCASE("a leave and an expel")
    {
        REQUIRE(s.rc(2, LeaveRequest{t2, HA_GS_1_PHASE, 0, 0}) == HA_GS_OK);
        CHECK(only<ApprovedNote>(s, 1).proposal.currentProviders == ids({1, 3}));
        CHECK(only<ApprovedNote>(s, 2).proposal.currentProviders == ids({1, 3}));
        s.take(3);
        ExpelRequest e;
        e.token = t3;
        e.numPhases = HA_GS_1_PHASE;
        e.expelList = ids({1});
        REQUIRE(s.rc(3, e) == HA_GS_OK);
        CHECK(only<ApprovedNote>(s, 3).proposal.currentProviders == ids({3}));
    }
    SUBCASE("n-phase and rejected notifications keep the membership before")
    {
        LeaveRequest l{t3, HA_GS_N_PHASE, 0, 0};
        REQUIRE(s.rc(3, l) == HA_GS_OK);
        CHECK(only<NPhaseNote>(s, 1).proposal.currentProviders == ids({1, 2, 3}));
        s.take(2);
        s.take(3);
        REQUIRE(s.rc(1, vote(t1, HA_GS_VOTE_REJECT)) == HA_GS_OK);
        REQUIRE(s.rc(2, vote(t2, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
        REQUIRE(s.rc(3, vote(t3, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
        CHECK(only<RejectedNote>(s, 1).proposal.currentProviders == ids({1, 2, 3}));
        /* An approved n-phase leave: the phase notification before, the
         * approval after. */
        s.take(2);
        s.take(3);
        REQUIRE(s.rc(3, l) == HA_GS_OK);
        for (auto [c, t] : {std::pair{1, t1}, {2, t2}, {3, t3}})
            REQUIRE(s.rc(c, vote(t, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
        auto got = s.take(1);
        REQUIRE(got.size() == 2);
        CHECK(as<NPhaseNote>(got[0])->proposal.currentProviders == ids({1, 2, 3}));
        CHECK(as<ApprovedNote>(got[1])->proposal.currentProviders == ids({1, 2}));
    }
}

TEST_CASE("a cast-out runs the target's source-reflection phases and cannot be rejected")
{
    Sim s;
    for (ClientId c = 1; c <= 3; ++c)
        s.hello(c);
    Token src = joined(s, 1, "src", 1);
    auto j = join("tgt", 1);
    j.attributes.sourceGroupName = "src";
    j.attributes.sourceReflectionNumPhases = HA_GS_N_PHASE;
    j.attributes.sourceReflectionTimeLimit = 20;
    Token a = s.request(2, j).token;
    j.instance = 2;
    Token b = s.request(3, j).token;
    REQUIRE(a > 0);
    REQUIRE(b > 0);
    for (ClientId c = 1; c <= 3; ++c)
        s.take(c);

    REQUIRE(s.rc(1, GoodbyeRequest{src}) == HA_GS_OK);
    /* The target's providers are asked to vote on their own cast-out. */
    auto n = only<NPhaseNote>(s, 2);
    CHECK(n.protocol == HA_GS_CAST_OUT);
    CHECK(n.timeLimit == 20);
    CHECK(n.proposal.numPhases == HA_GS_N_PHASE);
    CHECK(n.proposal.changingProviders == ids({1, 2}));
    CHECK(n.proposal.leaveInfo.front().reason == HA_GS_PROVIDER_CAST_OUT);
    s.take(3);
    REQUIRE(s.engine.group("tgt"));
    CHECK(s.engine.group("tgt")->runningProtocol == HA_GS_CAST_OUT);

    /* A barrier: CONTINUE runs another phase... */
    REQUIRE(s.rc(2, vote(a, HA_GS_VOTE_CONTINUE)) == HA_GS_OK);
    REQUIRE(s.rc(3, vote(b, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    CHECK(only<NPhaseNote>(s, 2).proposal.phaseNumber == 2);
    s.take(3);
    /* ...and REJECT does not reject it. */
    REQUIRE(s.rc(2, vote(a, HA_GS_VOTE_REJECT)) == HA_GS_OK);
    REQUIRE(s.rc(3, vote(b, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    Delivered meta;
    auto approved = only<ApprovedNote>(s, 2, &meta);
    CHECK(approved.protocol == HA_GS_CAST_OUT);
    CHECK((approved.summary & HA_GS_EXPLICIT_REJECT) != 0);
    CHECK((approved.summary & HA_GS_GROUP_DISSOLVED) != 0);
    CHECK(approved.proposal.currentProviders.empty());
    CHECK(meta.final);
    CHECK_FALSE(s.engine.group("tgt"));

    SUBCASE("a one-phase target is cast out at once")
    {
        Token src2 = joined(s, 1, "src", 1);
        auto k = join("tgt1", 1);
        k.attributes.sourceGroupName = "src";
        REQUIRE(s.rc(2, k) == HA_GS_OK);
        s.take(1);
        s.take(2);
        REQUIRE(s.rc(1, GoodbyeRequest{src2}) == HA_GS_OK);
        auto c = only<ApprovedNote>(s, 2);
        CHECK(c.protocol == HA_GS_CAST_OUT);
        CHECK(c.proposal.numPhases == HA_GS_1_PHASE);
    }
}

TEST_CASE("time limits: 0 means the ceiling; above it is refused, never clamped")
{
    Sim s;
    s.hello(1);
    Token t = joined(s, 1, "g", 1);
    s.take(1);
    CHECK(s.rc(1, stateChange(t, "x", HA_GS_N_PHASE, HA_GS_TIME_LIMIT_CEILING + 1)) ==
          HA_GS_BAD_PARAMETER);
    CHECK(s.rc(1, LeaveRequest{t, HA_GS_N_PHASE, HA_GS_TIME_LIMIT_CEILING + 1, 0}) ==
          HA_GS_BAD_PARAMETER);
    CHECK(s.take(1).empty());
    AttributeChangeRequest r;
    r.token = t;
    r.attributes = attrs("g", HA_GS_1_PHASE, 0, HA_GS_TIME_LIMIT_CEILING + 1);
    CHECK(s.rc(1, r) == HA_GS_BAD_GROUP_ATTRIBUTES);

    REQUIRE(s.rc(1, stateChange(t, "x", HA_GS_N_PHASE, 0)) == HA_GS_OK);
    CHECK(only<NPhaseNote>(s, 1).timeLimit == HA_GS_TIME_LIMIT_CEILING);
    REQUIRE(s.rc(1, vote(t, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    s.take(1);
    REQUIRE(s.rc(1, stateChange(t, "y", HA_GS_N_PHASE, HA_GS_TIME_LIMIT_CEILING)) == HA_GS_OK);
    CHECK(only<NPhaseNote>(s, 1).timeLimit == HA_GS_TIME_LIMIT_CEILING);
}
