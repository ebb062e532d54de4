/* SPDX-License-Identifier: MIT */
/*
 * What the engine tells its observers (gsd's log, gsctl events, metrics):
 * one observation per thing that happened, in the order it happened, with
 * who and how; and watching changes nothing the engine does.
 */
#include "sim.hpp"

#include <doctest/doctest.h>

using namespace gs;
using namespace gs::test;

namespace doctest {
template <>
struct StringMaker<Observation> {
    static String convert(const Observation &o)
    {
        std::string out = "#" + std::to_string(o.index());
        std::visit(
            [&](const auto &e) {
                out += " " + e.group;
                if constexpr (requires { e.type; })
                    out += " type " + std::to_string(e.type);
                if constexpr (requires { e.summary; })
                    out += " summary " + std::to_string(e.summary) + " phases " +
                           std::to_string(e.phases);
                if constexpr (requires { e.timeLimit; })
                    out += " limit " + std::to_string(e.timeLimit);
                if constexpr (requires { e.changing; })
                    out += " changing " + std::to_string(e.changing.size());
                if constexpr (requires { e.by; })
                    out += e.by ? " by " + std::to_string(e.by->id.instance) : " by none";
            },
            o);
        return out.c_str();
    }
};
} // namespace doctest

namespace {

ObservedProvider provider(int instance, ClientId client)
{
    return {ProviderId{static_cast<int16_t>(instance), kTestNode}, client};
}

} // namespace

TEST_CASE("a group's life is observed step by step: created, protocols, votes, time limit, "
          "dissolved")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    const Token t1 = s.request(1, join("g", 1, HA_GS_N_PHASE, 0, 5)).token;
    s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
    const Token t2 = s.request(2, join("g", 2, HA_GS_N_PHASE, 0, 5)).token;
    s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
    s.rc(2, vote(t2, HA_GS_VOTE_APPROVE));
    s.seen.clear();

    /* A state change that provider 2 never votes on. */
    REQUIRE(s.rc(1, StateChangeRequest{t1, HA_GS_N_PHASE, 5, "v1"}) == HA_GS_OK);
    const auto view = s.engine.group("g");
    REQUIRE(view->protocol);
    CHECK(view->protocol->type == HA_GS_STATE_VALUE_CHANGE);
    CHECK(view->protocol->timeLimit == 5);
    CHECK(view->protocol->proposedState == std::optional<Bytes>("v1"));
    REQUIRE(s.rc(1, vote(t1, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    const auto voting = s.engine.group("g")->protocol;
    REQUIRE(voting->participants.size() == 2);
    CHECK(voting->participants[0].voted);
    CHECK(voting->participants[0].vote == HA_GS_VOTE_APPROVE);
    CHECK_FALSE(voting->participants[1].voted);
    CHECK(voting->participants[1].voter);
    const TimerId timer = voting->timer;
    s.step(TimerFired{timer});
    REQUIRE(s.rc(1, LeaveRequest{t1, HA_GS_1_PHASE, 5, 0}) == HA_GS_OK);
    REQUIRE(s.rc(2, LeaveRequest{t2, HA_GS_1_PHASE, 5, 0}) == HA_GS_OK);

    const uint32_t timedOut = HA_GS_DEFAULT_APPROVE | HA_GS_TIME_LIMIT_EXCEEDED;
    const std::vector<Observation> expected{
        ProtocolProposed{"g", HA_GS_STATE_VALUE_CHANGE, true, 5, provider(1, 1), {}},
        PhaseOpened{"g", HA_GS_STATE_VALUE_CHANGE, 1, 5, timer, {provider(1, 1), provider(2, 2)}},
        VoteCast{"g", 1, provider(1, 1), HA_GS_VOTE_APPROVE, HA_GS_NULL_VOTE, false, false},
        TimeLimitExceeded{"g", HA_GS_STATE_VALUE_CHANGE, 1, {provider(2, 2)}},
        ProtocolEnded{"g", HA_GS_STATE_VALUE_CHANGE, true, timedOut, 1, {}},
        ProtocolProposed{"g", HA_GS_LEAVE, false, 5, provider(1, 1), {provider(1, 1)}},
        /* One-phase: nobody voted, so no summary bit but the outcome's. */
        ProtocolEnded{"g", HA_GS_LEAVE, true, 0, 1, {provider(1, 1)}},
        ProtocolProposed{"g", HA_GS_LEAVE, false, 5, provider(2, 2), {provider(2, 2)}},
        ProtocolEnded{"g", HA_GS_LEAVE, true, HA_GS_GROUP_DISSOLVED, 1, {provider(2, 2)}},
        GroupDissolved{"g"},
    };
    REQUIRE(s.seen.size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
        CAPTURE(i);
        CHECK(s.seen[i] == expected[i]);
    }
}

TEST_CASE("the first join creates the group; a queued joiner is the join's changing provider")
{
    Sim s;
    s.hello(1);
    const Token t = s.request(1, join("solo", 7, HA_GS_1_PHASE, 0, 9)).token;
    REQUIRE(t != 0);
    REQUIRE(s.seen.size() == 3);
    CHECK(s.seen[0] == Observation{GroupCreated{"solo"}});
    CHECK(s.seen[1] ==
          Observation{ProtocolProposed{"solo", HA_GS_JOIN, false, 9, {}, {provider(7, 1)}}});
    const auto *ended = std::get_if<ProtocolEnded>(&s.seen[2]);
    REQUIRE(ended);
    CHECK(ended->approved);
    CHECK(ended->type == HA_GS_JOIN);
}

TEST_CASE("a rejected proposal is observed with its summary code, and a collision not at all")
{
    Sim s;
    s.hello(1);
    s.hello(2);
    const Token t1 = s.request(1, join("g", 1, HA_GS_N_PHASE, 0, 5)).token;
    s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
    const Token t2 = s.request(2, join("g", 2, HA_GS_N_PHASE, 0, 5)).token;
    s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
    s.rc(2, vote(t2, HA_GS_VOTE_APPROVE));
    REQUIRE(s.rc(2, MessageRequest{t2, HA_GS_N_PHASE, 5, "hello"}) == HA_GS_OK);
    s.seen.clear();
    /* The group is busy: the engine answers HA_GS_COLLIDE and nothing is
     * observed (gsd counts the reply). */
    CHECK(s.rc(1, StateChangeRequest{t1, HA_GS_N_PHASE, 0, "x"}) == HA_GS_COLLIDE);
    CHECK(s.seen.empty());
    REQUIRE(s.rc(1, vote(t1, HA_GS_VOTE_REJECT)) == HA_GS_OK);
    REQUIRE(s.rc(2, vote(t2, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    const auto *ended = std::get_if<ProtocolEnded>(&s.seen.back());
    REQUIRE(ended);
    CHECK_FALSE(ended->approved);
    CHECK(ended->type == HA_GS_PROVIDER_MESSAGE);
    CHECK(ended->summary == HA_GS_EXPLICIT_REJECT);
}

TEST_CASE("observing changes nothing: the same events give the same actions and state")
{
    Sim watched;
    Engine plain;
    const auto both = [&](const Event &event) {
        watched.step(event);
        const auto actions = plain.process(event);
        REQUIRE(actions.size() == watched.last.size());
        CHECK(plain.snapshot() == watched.engine.snapshot());
    };
    both(ClientHello{1});
    both(ClientHello{2});
    both(ClientRequest{1, 1, join("g", 1, HA_GS_N_PHASE, 0, 5)});
    both(ClientRequest{1, 2, vote(1, HA_GS_VOTE_APPROVE)});
    both(ClientRequest{2, 3, join("g", 2, HA_GS_N_PHASE, 0, 5)});
    both(ClientGone{1});
    both(TimerFired{1});
    both(ClientGone{2});
    CHECK_FALSE(watched.seen.empty());
}
