/* SPDX-License-Identifier: MIT */
/* Deactivate scripts of expels: when the engine asks for them, how their
 * outcome (DeactivateFinished) holds the expel back and lands in its
 * summary code, and what the expel's time limit does to them. */
#include "sim.hpp"

#include <doctest/doctest.h>

using namespace gs;
using namespace gs::test;

namespace {

constexpr uint32_t kDeactivateBits = HA_GS_DEACTIVATE_SUCCESSFUL | HA_GS_DEACTIVATE_UNSUCCESSFUL |
                                     HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED;

/* Clients 1..3 join "g" as instances 1..3; client 2 has a deactivate
 * script, the others none unless `allScripts`. */
struct Group3 {
    Sim s;
    Token t[4] = {};
    explicit Group3(bool allScripts = false)
    {
        for (ClientId c = 1; c <= 3; ++c) {
            s.hello(c, allScripts || c == 2);
            Reply r = s.request(c, join("g", static_cast<int>(c)));
            REQUIRE(r.rc == HA_GS_OK);
            t[c] = r.token;
        }
        for (ClientId c = 1; c <= 3; ++c)
            s.take(c);
    }
};

ExpelRequest expel(Token by, std::initializer_list<int> who, int phases, unsigned deactivatePhase,
                   int timeLimit = 5)
{
    ExpelRequest e;
    e.token = by;
    e.expelList = ids(who);
    e.numPhases = phases;
    e.timeLimit = timeLimit;
    e.deactivatePhase = deactivatePhase;
    e.deactivateFlag = "stop-now";
    return e;
}

template <class T>
const T *lastOf(const std::vector<Delivered> &got)
{
    for (auto it = got.rbegin(); it != got.rend(); ++it)
        if (const T *body = as<T>(*it))
            return body;
    return nullptr;
}
/* The notifications must outlive the pointer. */
template <class T>
const T *lastOf(std::vector<Delivered> &&) = delete;

} // namespace

TEST_CASE("deactivate: a one-phase expel runs the script and waits for its outcome")
{
    Group3 g;
    REQUIRE(g.s.rc(1, expel(g.t[1], {2}, HA_GS_1_PHASE, 1)) == HA_GS_OK);
    REQUIRE(g.s.runningScripts().size() == 1);
    const RunDeactivate run = g.s.runningScripts().begin()->second;
    CHECK(run.client == 2);
    CHECK(run.group == "g");
    CHECK(run.provider == ProviderId{2, kTestNode});
    CHECK(run.flag == "stop-now");
    CHECK(run.seconds == 5);
    /* Nothing is approved before the script ends. */
    CHECK(g.s.take(1).empty());
    CHECK(g.s.engine.group("g")->protocolRunning);
    CHECK(g.s.rc(3, StateChangeRequest{g.t[3], HA_GS_1_PHASE, 0, "x"}) == HA_GS_COLLIDE);

    uint32_t outcome = 0;
    SUBCASE("exit 0")
    {
        outcome = HA_GS_DEACTIVATE_SUCCESSFUL;
    }
    SUBCASE("failed")
    {
        outcome = HA_GS_DEACTIVATE_UNSUCCESSFUL;
    }
    SUBCASE("a value that is no outcome counts as unsuccessful")
    {
        outcome = 0x7;
    }
    REQUIRE(g.s.finishScript(run.run, outcome));
    const uint32_t expected = outcome == 0x7 ? HA_GS_DEACTIVATE_UNSUCCESSFUL : outcome;
    for (ClientId c : {1, 2, 3}) {
        const auto got = g.s.take(c);
        const auto *a = lastOf<ApprovedNote>(got);
        REQUIRE(a != nullptr);
        CHECK(a->protocol == HA_GS_EXPEL);
        CHECK((a->summary & kDeactivateBits) == expected);
    }
    CHECK(g.s.engine.group("g")->members.size() == 2);
    CHECK(g.s.activeTimers() == 0);
}

TEST_CASE("deactivate: the time limit ends the wait with TIME_LIMIT_EXCEEDED and stops the script")
{
    Group3 g;
    REQUIRE(g.s.rc(1, expel(g.t[1], {2}, HA_GS_1_PHASE, 1, 2)) == HA_GS_OK);
    const DeactivateId run = g.s.runningScripts().begin()->first;
    REQUIRE(g.s.activeTimers() == 1);
    REQUIRE(g.s.fireTimer());
    bool stopped = false;
    for (const auto &a : g.s.last)
        if (const auto *k = std::get_if<StopDeactivate>(&a))
            stopped = k->run == run;
    CHECK(stopped);
    const auto got1 = g.s.take(1);
    const auto *a = lastOf<ApprovedNote>(got1);
    REQUIRE(a != nullptr);
    CHECK((a->summary & kDeactivateBits) == HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED);
    /* A late report of the killed script changes nothing. */
    g.s.step(DeactivateFinished{run, HA_GS_DEACTIVATE_SUCCESSFUL});
    CHECK(g.s.last.empty());
}

TEST_CASE("deactivate: phase 0 or no registered script runs nothing")
{
    Group3 g;
    SUBCASE("deactivate phase 0")
    {
        REQUIRE(g.s.rc(1, expel(g.t[1], {2}, HA_GS_1_PHASE, 0)) == HA_GS_OK);
    }
    SUBCASE("the expelled client registered no script")
    {
        REQUIRE(g.s.rc(1, expel(g.t[1], {3}, HA_GS_1_PHASE, 1)) == HA_GS_OK);
    }
    CHECK(g.s.runningScripts().empty());
    const auto got1 = g.s.take(1);
    const auto *a = lastOf<ApprovedNote>(got1);
    REQUIRE(a != nullptr);
    CHECK((a->summary & kDeactivateBits) == 0);
}

TEST_CASE("deactivate: in an n-phase expel the script runs in its phase, which waits for it")
{
    Group3 g;
    REQUIRE(g.s.rc(1, expel(g.t[1], {2}, HA_GS_N_PHASE, 2)) == HA_GS_OK);
    CHECK(g.s.runningScripts().empty()); /* phase 1 */
    REQUIRE(g.s.rc(1, vote(g.t[1], HA_GS_VOTE_CONTINUE)) == HA_GS_OK);
    REQUIRE(g.s.rc(3, vote(g.t[3], HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    REQUIRE(g.s.runningScripts().size() == 1); /* phase 2 started it */
    const DeactivateId run = g.s.runningScripts().begin()->first;
    g.s.take(1);
    g.s.take(3);
    REQUIRE(g.s.rc(1, vote(g.t[1], HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    REQUIRE(g.s.rc(3, vote(g.t[3], HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    /* Every vote is in, the script is not done: the phase stays open. */
    CHECK(g.s.take(1).empty());
    CHECK(g.s.engine.group("g")->protocolRunning);
    REQUIRE(g.s.finishScript(run, HA_GS_DEACTIVATE_UNSUCCESSFUL));
    const auto got3 = g.s.take(3);
    const auto *a = lastOf<ApprovedNote>(got3);
    REQUIRE(a != nullptr);
    CHECK((a->summary & kDeactivateBits) == HA_GS_DEACTIVATE_UNSUCCESSFUL);
    CHECK(a->proposal.phaseNumber == 2);
}

TEST_CASE("deactivate: voting that ends before the deactivate phase runs the script before "
          "approval")
{
    Group3 g;
    REQUIRE(g.s.rc(1, expel(g.t[1], {2}, HA_GS_N_PHASE, 3)) == HA_GS_OK);
    REQUIRE(g.s.rc(1, vote(g.t[1], HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    g.s.take(1);
    REQUIRE(g.s.rc(3, vote(g.t[3], HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    REQUIRE(g.s.runningScripts().size() == 1);
    CHECK(g.s.take(1).empty());
    /* No vote is expected while it waits. */
    CHECK(g.s.rc(3, vote(g.t[3], HA_GS_VOTE_REJECT)) == HA_GS_VOTE_NOT_EXPECTED);
    REQUIRE(g.s.finishScript(g.s.runningScripts().begin()->first, HA_GS_DEACTIVATE_SUCCESSFUL));
    const auto got1 = g.s.take(1);
    const auto *a = lastOf<ApprovedNote>(got1);
    REQUIRE(a != nullptr);
    CHECK((a->summary & kDeactivateBits) == HA_GS_DEACTIVATE_SUCCESSFUL);
}

TEST_CASE("deactivate: a rejected expel before its deactivate phase runs no script")
{
    Group3 g;
    REQUIRE(g.s.rc(1, expel(g.t[1], {2}, HA_GS_N_PHASE, 2)) == HA_GS_OK);
    REQUIRE(g.s.rc(3, vote(g.t[3], HA_GS_VOTE_REJECT)) == HA_GS_OK);
    REQUIRE(g.s.rc(1, vote(g.t[1], HA_GS_VOTE_APPROVE)) == HA_GS_OK);
    CHECK(g.s.runningScripts().empty());
    const auto got1 = g.s.take(1);
    CHECK(lastOf<RejectedNote>(got1) != nullptr);
    CHECK(g.s.engine.group("g")->members.size() == 3);
}

TEST_CASE("deactivate: an expelled client that dies meanwhile still has its script's outcome")
{
    Group3 g(true);
    REQUIRE(g.s.rc(1, expel(g.t[1], {2, 3}, HA_GS_1_PHASE, 1)) == HA_GS_OK);
    REQUIRE(g.s.runningScripts().size() == 2);
    auto it = g.s.runningScripts().begin();
    const DeactivateId first = it->first, second = std::next(it)->first;
    g.s.gone(2);
    CHECK(g.s.engine.group("g")->protocolRunning);
    REQUIRE(g.s.finishScript(first, HA_GS_DEACTIVATE_SUCCESSFUL));
    CHECK(g.s.take(1).empty());
    REQUIRE(g.s.finishScript(second, HA_GS_DEACTIVATE_UNSUCCESSFUL));
    const auto got1 = g.s.take(1);
    const auto *a = lastOf<ApprovedNote>(got1);
    REQUIRE(a != nullptr);
    CHECK((a->summary & kDeactivateBits) ==
          (HA_GS_DEACTIVATE_SUCCESSFUL | HA_GS_DEACTIVATE_UNSUCCESSFUL));
    CHECK(g.s.engine.group("g")->members.size() == 1);
}

TEST_CASE("deactivate: a provider expelling itself as the only voter still runs its script")
{
    Sim s;
    s.hello(1, true);
    Token t = s.request(1, join("g", 1)).token;
    s.take(1);
    REQUIRE(s.rc(1, expel(t, {1}, HA_GS_N_PHASE, 1)) == HA_GS_OK);
    REQUIRE(s.runningScripts().size() == 1);
    REQUIRE(s.finishScript(s.runningScripts().begin()->first, HA_GS_DEACTIVATE_SUCCESSFUL));
    const auto got1 = s.take(1);
    const auto *a = lastOf<ApprovedNote>(got1);
    REQUIRE(a != nullptr);
    CHECK((a->summary & HA_GS_DEACTIVATE_SUCCESSFUL) != 0);
    CHECK((a->summary & HA_GS_GROUP_DISSOLVED) != 0);
    CHECK(s.engine.groupNames().empty());
}
