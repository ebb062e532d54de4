/* SPDX-License-Identifier: MIT */
/*
 * The engine under the attacks of docs/security.md: cascades through long
 * source chains and long queues run without recursion (issue 10 item 2),
 * and everything a proposal holds counts against the state memory budget
 * (item 7).
 */
#include "sim.hpp"

#include <doctest/doctest.h>

using namespace gs;
using namespace gs::test;

namespace {

constexpr int kChain = 5000;

std::string chainName(int i)
{
    return "chain" + std::to_string(i);
}

/* A request straight to the engine, for the many steps of an attack: the
 * Sim would check every invariant and keep every notification at each step;
 * the tests check the invariants at the end instead. */
std::vector<TimerId> directTimers; /* timers the direct requests started */

Reply direct(Sim &s, ClientId client, Request request)
{
    static RequestId next = 1000000;
    const auto actions = s.engine.process(ClientRequest{client, next++, std::move(request)});
    Reply reply;
    for (const auto &a : actions) {
        if (const auto *r = std::get_if<Reply>(&a))
            reply = *r;
        if (const auto *t = std::get_if<StartTimer>(&a))
            directTimers.push_back(t->timer);
    }
    return reply;
}

void fireDirectTimers(Sim &s)
{
    for (TimerId t : directTimers)
        s.engine.process(TimerFired{t});
    directTimers.clear();
}

/* Client 1 joins chain0 .. chain<n-1>, each the target of the one before. */
std::vector<Token> joinChain(Sim &s, int n)
{
    std::vector<Token> tokens;
    for (int i = 0; i < n; ++i) {
        JoinRequest j = join(chainName(i), 1);
        if (i > 0)
            j.attributes.sourceGroupName = chainName(i - 1);
        const Reply r = direct(s, 1, j);
        REQUIRE(r.rc == HA_GS_OK);
        tokens.push_back(r.token);
    }
    REQUIRE(s.engine.checkInvariants().empty());
    return tokens;
}

EngineConfig chainConfig()
{
    EngineConfig cfg;
    cfg.limits.maxGroupsPerClient = kChain + 10;
    return cfg;
}

size_t countApproved(const std::vector<Delivered> &notes, int protocol)
{
    size_t n = 0;
    for (const auto &d : notes)
        if (const auto *a = as<ApprovedNote>(d); a && a->protocol == protocol)
            ++n;
    return n;
}

} // namespace

TEST_CASE("a source chain of 5000 groups dissolves when its head leaves")
{
    Sim s(chainConfig());
    s.hello(1);
    s.hello(2);
    std::vector<Token> tokens = joinChain(s, kChain);
    /* A bystander in a group of its own is not part of the cascade. */
    REQUIRE(s.rc(2, join("bystander", 2)) == HA_GS_OK);
    s.take(1);

    LeaveRequest leave;
    leave.token = tokens.front();
    REQUIRE(s.rc(1, leave) == HA_GS_OK);

    const auto notes = s.take(1);
    CHECK(countApproved(notes, HA_GS_LEAVE) == 1);
    CHECK(countApproved(notes, HA_GS_CAST_OUT) == kChain - 1);
    CHECK(s.engine.groupNames() == std::vector<std::string>{"bystander"});
    CHECK(s.engine.checkInvariants().empty());
    /* The cascade runs depth-first, in chain order. */
    int expected = 1;
    for (const auto &d : notes)
        if (const auto *a = as<ApprovedNote>(d); a && a->protocol == HA_GS_CAST_OUT)
            CHECK(d.token == tokens[static_cast<size_t>(expected++)]);
    REQUIRE(s.rc(2, join("after", 2)) == HA_GS_OK);
}

TEST_CASE("a source chain of 5000 groups dissolves when its client dies")
{
    Sim s(chainConfig());
    s.hello(1);
    s.hello(2);
    joinChain(s, kChain);
    JoinRequest middle = join(chainName(kChain / 2), 2);
    middle.attributes.sourceGroupName = chainName(kChain / 2 - 1);
    REQUIRE(s.rc(2, middle) == HA_GS_OK);
    s.take(2);
    s.gone(1);
    /* The bystander's group loses client 1 (failure leave), then its source
     * dissolves and casts the bystander out: every group is gone. */
    CHECK(s.engine.groupNames().empty());
    CHECK(s.engine.clientCount() == 1);
    CHECK(countApproved(s.take(2), HA_GS_CAST_OUT) == 1);
}

TEST_CASE("a thousand joins queued behind a running protocol start one after another")
{
    EngineConfig cfg;
    cfg.limits.maxProvidersPerGroup = 1100;
    Sim s(cfg);
    s.hello(1);
    Reply first = s.request(1, join("g", 0));
    REQUIRE(first.rc == HA_GS_OK);
    StateChangeRequest change;
    change.token = first.token;
    change.numPhases = HA_GS_N_PHASE;
    change.newState = "v";
    REQUIRE(s.rc(1, change) == HA_GS_OK);
    for (ClientId c = 2; c < 1002; ++c) {
        s.engine.process(ClientHello{c});
        REQUIRE(direct(s, c, join("g", static_cast<int>(c))).rc == HA_GS_OK);
    }
    CHECK(s.engine.group("g")->queuedMembershipChanges == 1000);
    REQUIRE(direct(s, 1, vote(first.token, HA_GS_VOTE_APPROVE)).rc == HA_GS_OK);
    CHECK(s.engine.checkInvariants().empty());
    const auto g = s.engine.group("g");
    CHECK(g->members.size() == 1001);
    CHECK(g->queuedMembershipChanges == 0);
    CHECK_FALSE(g->protocolRunning);
}

TEST_CASE("pending n-phase proposals count against the state memory budget")
{
    /* Issue 10 item 7: 3,000 groups, each with a pending n-phase proposal
     * of 64 KiB, against a 1 MiB budget. */
    EngineConfig cfg;
    cfg.limits.maxStateMemory = 1 << 20;
    cfg.limits.maxGroupsPerClient = 3100;
    Sim s(cfg);
    s.hello(1);
    s.hello(2);
    const Bytes big(HA_GS_MAX_STATE_VALUE_LENGTH, 'x');
    int accepted = 0, refused = 0;
    for (int i = 0; i < 3000; ++i) {
        Reply r = direct(s, 1, join("attack" + std::to_string(i), 1));
        REQUIRE(r.rc == HA_GS_OK);
        int rc = 0;
        if (i % 2 == 0) {
            StateChangeRequest change;
            change.token = r.token;
            change.numPhases = HA_GS_N_PHASE;
            change.newState = big;
            rc = direct(s, 1, change).rc;
        } else {
            MessageRequest message;
            message.token = r.token;
            message.numPhases = HA_GS_N_PHASE;
            message.message = big;
            rc = direct(s, 1, message).rc;
        }
        REQUIRE((rc == HA_GS_OK || rc == HA_GS_NO_MEMORY));
        (rc == HA_GS_OK ? accepted : refused)++;
        REQUIRE(s.engine.stateMemory() <= cfg.limits.maxStateMemory);
    }
    CHECK(s.engine.checkInvariants().empty());
    CHECK(accepted == 16);
    CHECK(refused == 3000 - 16);

    /* A bystander still joins, and its small one-phase state change fits. */
    Reply b = s.request(2, join("bystander", 2));
    REQUIRE(b.rc == HA_GS_OK);
    StateChangeRequest small;
    small.token = b.token;
    small.newState = "ok";
    /* The attacker holds the whole budget until its protocols end. */
    CHECK(s.rc(2, small) == HA_GS_NO_MEMORY);

    /* The phases time out (default vote approve): the 8 state values stay,
     * the messages and the copies are given back. */
    fireDirectTimers(s);
    CHECK(s.engine.checkInvariants().empty());
    CHECK(s.engine.stateMemory() == 8u * big.size());
    small.newState = "ok";
    CHECK(s.rc(2, small) == HA_GS_OK);
    s.gone(1);
    CHECK(s.engine.stateMemory() == 2);
}

TEST_CASE("vote riders and reflections count against the state memory budget")
{
    EngineConfig cfg;
    cfg.limits.maxStateMemory = 100;
    Sim s(cfg);
    s.hello(1);
    Reply source = s.request(1, join("source", 1));
    REQUIRE(source.rc == HA_GS_OK);
    for (const char *name : {"t1", "t2", "t3"}) {
        JoinRequest j = join(name, 1);
        j.attributes.sourceGroupName = "source";
        j.attributes.sourceReflectionNumPhases = HA_GS_N_PHASE;
        REQUIRE(s.rc(1, j) == HA_GS_OK);
    }
    /* A state value of a source with 3 targets is held 4 times: the value
     * and one reflection per target. */
    StateChangeRequest change;
    change.token = source.token;
    change.newState = Bytes(26, 's');
    CHECK(s.rc(1, change) == HA_GS_NO_MEMORY);
    change.newState = Bytes(25, 's');
    CHECK(s.rc(1, change) == HA_GS_OK);
    CHECK(s.engine.stateMemory() == 100); /* the value, 3 sources of running reflections */
    while (s.fireTimer()) {
    }
    CHECK(s.engine.stateMemory() == 25);

    /* A message rider is held until the phase ends. */
    MessageRequest m;
    m.token = source.token;
    m.numPhases = HA_GS_N_PHASE;
    m.message = "m";
    REQUIRE(s.rc(1, m) == HA_GS_OK);
    CHECK(s.engine.stateMemory() == 25 + 25 + 1); /* state, its copy, the message */
    VoteRequest v = vote(source.token, HA_GS_VOTE_CONTINUE);
    v.message = Bytes(50, 'r');
    CHECK(s.rc(1, v) == HA_GS_NO_MEMORY);
    v.message = Bytes(49, 'r');
    CHECK(s.rc(1, v) == HA_GS_OK);
    /* The next phase starts: the protocol's message stays and the rider is
     * held until the next notification has carried it. */
    CHECK(s.engine.stateMemory() == 25 + 25 + 1 + 49);
    while (s.fireTimer()) {
    }
    CHECK(s.engine.stateMemory() == 25);
}

TEST_CASE("the tokens of all clients together are limited")
{
    EngineConfig cfg;
    cfg.limits.maxTokens = 3;
    Sim s(cfg);
    s.hello(1);
    s.hello(2);
    REQUIRE(s.rc(1, join("a", 1)) == HA_GS_OK);
    REQUIRE(s.rc(2, join("b", 2)) == HA_GS_OK);
    SubscribeRequest sub;
    sub.group = "a";
    sub.control = HA_GS_SUBSCRIBE_STATE;
    REQUIRE(s.rc(2, sub) == HA_GS_OK);
    CHECK(s.rc(1, join("c", 1)) == HA_GS_TOO_MANY_GROUPS);
    sub.group = "b";
    CHECK(s.rc(1, sub) == HA_GS_TOO_MANY_GROUPS);
    s.gone(2); /* its two tokens are free again */
    CHECK(s.rc(1, join("c", 1)) == HA_GS_OK);
}

TEST_CASE("over the budget through a copy gsd made itself, bare votes still count")
{
    /* An n-phase join keeps a copy of the group's state value: it cannot
     * be refused, so it may take the count over the budget. Votes without
     * attachments are never refused then: they are what ends protocols. */
    EngineConfig cfg;
    cfg.limits.maxStateMemory = 100;
    Sim s(cfg);
    s.hello(1);
    s.hello(2);
    Reply first = s.request(1, join("g", 1, HA_GS_N_PHASE));
    REQUIRE(first.rc == HA_GS_OK);
    REQUIRE(s.rc(1, vote(first.token, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    StateChangeRequest change;
    change.token = first.token;
    change.newState = Bytes(60, 's');
    REQUIRE(s.rc(1, change) == HA_GS_OK);
    Reply second = s.request(2, join("g", 2, HA_GS_N_PHASE));
    REQUIRE(second.rc == HA_GS_OK);
    CHECK(s.engine.stateMemory() == 120);
    VoteRequest withMessage = vote(second.token, HA_GS_VOTE_APPROVE);
    withMessage.message = "m";
    CHECK(s.rc(2, withMessage) == HA_GS_NO_MEMORY);
    CHECK(s.rc(2, vote(second.token, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    CHECK(s.rc(1, vote(first.token, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    CHECK(s.engine.group("g")->members.size() == 2);
    CHECK(s.engine.stateMemory() == 60);
    MessageRequest oneShot;
    oneShot.token = first.token;
    oneShot.message = Bytes(50, 'm'); /* one-phase: nothing stays */
    CHECK(s.rc(1, oneShot) == HA_GS_OK);
}
