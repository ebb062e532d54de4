/* SPDX-License-Identifier: MIT */
/*
 * Time as an ordered input: the engine reads no clock; a time limit expires
 * only when TimerFired is delivered, so replicas that deliver the same
 * events in the same order agree on whether a vote came before or after
 * the limit. A TimerFired delivered twice (two nodes may both report it)
 * or after its protocol ended changes nothing.
 */
#include "fuzz/engine_events.hpp"
#include "sim.hpp"

#include <doctest/doctest.h>

#include <random>

using namespace gs;
using namespace gs::test;

namespace {

/* Two providers of an n-phase group, client 1 proposing a state change;
 * client 1 has voted APPROVE, client 2 not yet. */
struct Voting {
    Sim s;
    Token t1 = 0, t2 = 0;
    TimerId timer = 0;

    Voting()
    {
        s.hello(1);
        s.hello(2);
        t1 = s.request(1, join("g", 1, HA_GS_N_PHASE, 0, 5)).token;
        s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
        t2 = s.request(2, join("g", 2, HA_GS_N_PHASE, 0, 5)).token;
        s.rc(1, vote(t1, HA_GS_VOTE_APPROVE));
        s.rc(2, vote(t2, HA_GS_VOTE_APPROVE));
        REQUIRE(s.engine.group("g")->members.size() == 2);
        REQUIRE(s.rc(1, StateChangeRequest{t1, HA_GS_N_PHASE, 0, "new"}) == HA_GS_OK);
        for (const auto &a : s.last)
            if (const auto *start = std::get_if<StartTimer>(&a))
                timer = start->timer;
        REQUIRE(timer != 0);
        REQUIRE(s.rc(1, vote(t1, HA_GS_VOTE_APPROVE)) == HA_GS_OK);
        s.take(1);
        s.take(2);
    }
};

} // namespace

TEST_CASE("a vote delivered before the TimerFired counts")
{
    Voting v;
    REQUIRE(v.s.rc(2, vote(v.t2, HA_GS_VOTE_REJECT)) == HA_GS_OK);
    const auto told = v.s.take(1);
    REQUIRE(told.size() == 1);
    const auto *rejected = as<RejectedNote>(told[0]);
    REQUIRE(rejected);
    CHECK((rejected->summary & HA_GS_EXPLICIT_REJECT) != 0);
    CHECK(v.s.engine.group("g")->state.empty());
    /* Its timer was cancelled: firing it now is a no-op. */
    const std::string before = v.s.engine.snapshot();
    CHECK(v.s.step(TimerFired{v.timer}).empty());
    CHECK(v.s.engine.snapshot() == before);
}

TEST_CASE("a vote delivered after the TimerFired is refused; the default counted")
{
    Voting v;
    v.s.step(TimerFired{v.timer});
    const auto told = v.s.take(1);
    REQUIRE(told.size() == 2);
    const auto *late = as<AnnouncementNote>(told[0]);
    REQUIRE(late);
    CHECK(late->summary == HA_GS_TIME_LIMIT_EXCEEDED);
    CHECK(late->providers == ids({2}));
    const auto *approved = as<ApprovedNote>(told[1]);
    REQUIRE(approved);
    CHECK((approved->summary & HA_GS_TIME_LIMIT_EXCEEDED) != 0);
    CHECK(v.s.engine.group("g")->state == "new");
    /* The late REJECT comes after the limit in the order: refused. */
    CHECK(v.s.rc(2, vote(v.t2, HA_GS_VOTE_REJECT)) == HA_GS_VOTE_NOT_EXPECTED);
    CHECK(v.s.engine.group("g")->state == "new");
}

TEST_CASE("the same TimerFired delivered twice, or unknown, is a no-op")
{
    Voting v;
    const auto first = v.s.step(TimerFired{v.timer});
    CHECK_FALSE(first.empty());
    const std::string after = v.s.engine.snapshot();
    CHECK(v.s.step(TimerFired{v.timer}).empty());
    CHECK(v.s.engine.snapshot() == after);
    CHECK(v.s.step(TimerFired{v.timer + 1000}).empty());
    CHECK(v.s.engine.snapshot() == after);
}

TEST_CASE("two engines fed the same events, timers included, give the same actions and digest")
{
    uint64_t timersFired = 0;
    for (uint32_t seed = 1; seed <= 200; ++seed) {
        CAPTURE(seed);
        std::mt19937 rng(seed);
        std::vector<uint8_t> bytes(16 * 1024);
        for (auto &b : bytes)
            b = static_cast<uint8_t>(rng());
        fuzz::ByteReader in(bytes.data(), bytes.size());
        Engine a, b;
        fuzz::EngineEvents events(in, &a);
        std::set<TimerId> timers;
        for (int step = 0; step < 200; ++step) {
            const Event e = events.next(timers);
            if (const auto *t = std::get_if<TimerFired>(&e))
                timersFired += timers.erase(t->timer);
            const auto outA = a.process(e);
            const auto outB = b.process(e);
            REQUIRE(outA.size() == outB.size());
            for (size_t i = 0; i < outA.size(); ++i)
                REQUIRE(fuzz::sameAction(outA[i], outB[i]));
            REQUIRE(a.digest() == b.digest());
            for (const auto &action : outA) {
                if (const auto *s = std::get_if<StartTimer>(&action))
                    timers.insert(s->timer);
                else if (const auto *c = std::get_if<CancelTimer>(&action))
                    timers.erase(c->timer);
            }
        }
    }
    CHECK(timersFired > 0);
}
