/* SPDX-License-Identifier: MIT */
/*
 * Engine state you can move (Engine::snapshot/restore/digest), as a
 * property over seeded random histories (events from fuzz/engine_events.hpp
 * over random bytes):
 *   - restore(snapshot(e)) into a fresh engine r, then the same
 *     continuation fed to both: identical actions at every step (bodies
 *     compared by value) and equal digests after every step;
 *   - equal histories give equal digests; a history that differs by one
 *     event gives a different digest;
 *   - restore refuses truncated, damaged, garbage and wrong-version bytes
 *     with std::invalid_argument, and the engine is then unchanged.
 */
#include "engine/engine.hpp"
#include "fuzz/engine_events.hpp"
#include "ha_gs.h"
#include "tests/engine/fed_engine.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace gs;
using gs::fuzz::ByteReader;
using gs::fuzz::EngineEvents;
using gs::fuzz::sameAction;
using gs::test::Fed;
using gs::test::randomBytes;
using gs::test::smallLimits;

namespace {

#ifdef HA_GS_SANITIZED_BUILD
constexpr uint32_t kSeeds = 60;
#else
constexpr uint32_t kSeeds = 400;
#endif
constexpr int kSteps = 300;

/* Every history starts from two n-phase groups of four providers each, so
 * that random requests from their providers find protocols to vote in. */
void prelude(Fed &fed)
{
    for (unsigned k = 0; k < EngineEvents::kClients; ++k) {
        const ClientId client = EngineEvents::clientNumber(k);
        fed.feed(ClientHello{client, k % 2 == 0});
        for (const char *group : {"a", "b"}) {
            JoinRequest join;
            join.attributes.sizeofAttributes = static_cast<int>(sizeof(ha_gs_group_attributes_t));
            join.attributes.groupName = group;
            join.attributes.numPhases = HA_GS_N_PHASE;
            join.attributes.timeLimit = 2;
            join.instance = static_cast<int32_t>(k);
            fed.feed(ClientRequest{client, 1000 + k, join});
        }
    }
    while (!fed.timers.empty())
        fed.feed(TimerFired{*fed.timers.begin()});
}

/* A seeded history of kSteps events, as fed to one engine. */
std::vector<Event> history(uint32_t seed, int steps = kSteps)
{
    const auto bytes = randomBytes(seed);
    ByteReader in(bytes.data(), bytes.size());
    Fed fed;
    prelude(fed);
    EngineEvents events(in, &fed.engine);
    std::vector<Event> out;
    for (int i = 0; i < steps; ++i) {
        out.push_back(events.next(fed.timers));
        fed.feed(out.back());
    }
    return out;
}

StateDigest digestAfter(const std::vector<Event> &events)
{
    Fed fed;
    prelude(fed);
    for (const auto &e : events)
        fed.feed(e);
    return fed.engine.digest();
}

void requireSameActions(const std::vector<Action> &a, const std::vector<Action> &b, int step)
{
    REQUIRE_MESSAGE(a.size() == b.size(),
                    "step " << step << ": " << a.size() << " actions against " << b.size());
    for (size_t i = 0; i < a.size(); ++i)
        REQUIRE_MESSAGE(sameAction(a[i], b[i]), "step " << step << ": action " << i << " (kind "
                                                        << a[i].index()
                                                        << ") differs after restore");
}

bool protocolRunning(const Engine &engine)
{
    for (const auto &name : engine.groupNames())
        if (engine.group(name)->protocolRunning)
            return true;
    return false;
}

/* Whether restore refuses `bytes` with std::invalid_argument and leaves
 * the engine as it was. */
bool refusedCleanly(Engine &engine, const std::string &bytes)
{
    const std::string before = engine.snapshot();
    bool refused = false;
    try {
        engine.restore(bytes);
    } catch (const std::invalid_argument &) {
        refused = true;
    }
    return refused && engine.snapshot() == before;
}

/* A realistic snapshot to damage: a history of one seed. */
std::string someSnapshot(uint32_t seed, int steps)
{
    Fed fed;
    prelude(fed);
    for (const auto &e : history(seed, steps))
        fed.feed(e);
    return fed.engine.snapshot();
}

} // namespace

TEST_CASE("restore(snapshot) then any continuation gives the same actions and digests")
{
    uint64_t comparedActions = 0;
    uint64_t runningAtCut = 0;
    uint64_t acceptedVotes = 0;
    for (uint32_t seed = 1; seed <= kSeeds; ++seed) {
        CAPTURE(seed);
        const auto bytes = randomBytes(seed);
        /* A dry run finds the steps after which a protocol runs: the cut
         * falls at one of them when there are any (the state worth moving
         * is mid-protocol, votes cast and riders held). */
        std::vector<int> inside;
        {
            ByteReader in(bytes.data(), bytes.size());
            Fed dry;
            prelude(dry);
            EngineEvents events(in, &dry.engine);
            for (int i = 0; i < kSteps; ++i) {
                dry.feed(events.next(dry.timers));
                if (protocolRunning(dry.engine))
                    inside.push_back(i + 1);
            }
        }
        std::mt19937 rng(seed);
        const int cut =
            inside.empty() ? static_cast<int>(rng() % kSteps) : inside[rng() % inside.size()];

        ByteReader in(bytes.data(), bytes.size());
        Fed original;
        prelude(original);
        EngineEvents events(in, &original.engine);
        int i = 0;
        for (; i < cut; ++i)
            original.feed(events.next(original.timers));
        /* Other limits: the restored engine must take the snapshot's. */
        Fed restored(EngineConfig{});
        restored.engine.restore(original.engine.snapshot());
        restored.timers = original.timers; /* what gsd would re-arm */
        REQUIRE(restored.engine.snapshot() == original.engine.snapshot());
        REQUIRE(restored.engine.digest() == original.engine.digest());
        REQUIRE(restored.engine.checkInvariants().empty());
        runningAtCut += protocolRunning(original.engine) ? 1 : 0;

        for (; i < kSteps; ++i) {
            const Event e = events.next(original.timers);
            const auto a = original.feed(e);
            const auto b = restored.feed(e);
            requireSameActions(a, b, i);
            comparedActions += a.size();
            if (const auto *request = std::get_if<ClientRequest>(&e))
                if (std::holds_alternative<VoteRequest>(request->request))
                    for (const auto &action : a)
                        if (const auto *reply = std::get_if<Reply>(&action))
                            acceptedVotes += reply->rc == HA_GS_OK ? 1 : 0;
            REQUIRE_MESSAGE(original.engine.digest() == restored.engine.digest(),
                            "step " << i << ": digests differ after restore");
        }
        /* The timers end every protocol the same way on both. */
        for (int guard = 0; !original.timers.empty(); ++guard) {
            REQUIRE(guard < 10000);
            const Event e = TimerFired{*original.timers.begin()};
            requireSameActions(original.feed(e), restored.feed(e), kSteps + guard);
        }
        REQUIRE(original.engine.digest() == restored.engine.digest());
    }
    MESSAGE(comparedActions << " actions compared, " << acceptedVotes
                            << " votes accepted after a cut; " << runningAtCut << " of " << kSeeds
                            << " cuts fell inside a protocol");
    CHECK(comparedActions > 0);
    CHECK(acceptedVotes > kSeeds / 4);
    CHECK(runningAtCut > kSeeds / 4); /* inside protocols, not only between */
}

TEST_CASE("equal histories give equal digests; one event more or different gives another")
{
    for (uint32_t seed = 1; seed <= kSeeds / 4; ++seed) {
        CAPTURE(seed);
        const auto events = history(seed);
        const StateDigest digest = digestAfter(events);
        CHECK(digestAfter(events) == digest);

        std::mt19937 rng(seed);
        const auto at = static_cast<std::ptrdiff_t>(rng() % events.size());
        /* One more event: a client nobody else names says hello. */
        auto more = events;
        more.insert(more.begin() + at, ClientHello{makeClientId(9, 1), false});
        CHECK(digestAfter(more) != digest);
        /* One event different: that client registered a deactivate script. */
        auto other = more;
        other[static_cast<size_t>(at)] = ClientHello{makeClientId(9, 1), true};
        CHECK(digestAfter(other) != digestAfter(more));
    }
}

TEST_CASE("the limits are the snapshot's: restore takes the domain's values")
{
    EngineConfig domain;
    domain.limits.maxGroupsPerClient = 1;
    domain.limits.maxClients = 7;
    Engine source(domain);
    const ClientId c = makeClientId(1, 1);
    source.process(ClientHello{c, false});

    Engine replica; /* started with the defaults */
    REQUIRE(replica.limits().maxGroupsPerClient != 1);
    replica.restore(source.snapshot());
    CHECK(replica.limits().maxGroupsPerClient == 1);
    CHECK(replica.limits().maxClients == 7);
    CHECK(replica.limits().maxStateMemory == domain.limits.maxStateMemory);
    /* And the replica replies by them. */
    auto joinOf = [](const char *group) {
        JoinRequest j;
        j.attributes.sizeofAttributes = static_cast<int>(sizeof(ha_gs_group_attributes_t));
        j.attributes.groupName = group;
        j.attributes.numPhases = HA_GS_1_PHASE;
        return j;
    };
    const auto first = replica.process(ClientRequest{c, 1, joinOf("a")});
    REQUIRE(!first.empty());
    CHECK(std::get<Reply>(first.front()).rc == HA_GS_OK);
    const auto out = replica.process(ClientRequest{c, 2, joinOf("b")});
    REQUIRE(!out.empty());
    CHECK(std::get<Reply>(out.front()).rc == HA_GS_TOO_MANY_GROUPS);
    /* Two engines with different limits are in different states. */
    CHECK(Engine(domain).digest() != Engine().digest());
}

TEST_CASE("the digest is the digest of the snapshot bytes and changes with the state")
{
    Engine e;
    const StateDigest empty = e.digest();
    CHECK(empty == digestOf(e.snapshot()));
    e.process(ClientHello{makeClientId(1, 1), false});
    CHECK(e.digest() != empty);
    CHECK(e.digest() == digestOf(e.snapshot()));
}

TEST_CASE("restore refuses truncated, damaged and garbage bytes and changes nothing")
{
    const std::string good = someSnapshot(7, 120);
    REQUIRE(good.size() > 100);
    Fed target;
    prelude(target);
    for (const auto &ev : history(3, 80))
        target.feed(ev);

    for (size_t len = 0; len < good.size(); ++len)
        REQUIRE_MESSAGE(refusedCleanly(target.engine, good.substr(0, len)),
                        "a snapshot cut to " << len << " bytes was accepted");
    for (size_t at = 0; at < good.size(); ++at)
        for (uint8_t mask : {0x01, 0x80, 0xff}) {
            std::string bad = good;
            bad[at] = static_cast<char>(bad[at] ^ mask);
            REQUIRE_MESSAGE(refusedCleanly(target.engine, bad),
                            "byte " << at << " xor " << int(mask) << " was accepted");
        }
    std::mt19937 rng(11);
    for (int i = 0; i < 2000; ++i) {
        std::string garbage(rng() % 300, '\0');
        for (auto &c : garbage)
            c = static_cast<char>(rng());
        /* Half of them start like a snapshot, to get past the first byte. */
        if (i % 2 == 0)
            garbage = good.substr(0, rng() % 20) + garbage;
        REQUIRE(refusedCleanly(target.engine, garbage));
    }
    CHECK(refusedCleanly(target.engine, good + "x")); /* trailing bytes */
    /* Nested deeper than any snapshot: refused, not a stack overflow. */
    CHECK(refusedCleanly(target.engine, std::string(100000, '\x81')));
    /* And the good one still restores. */
    target.engine.restore(good);
    CHECK(target.engine.snapshot() == good);
}

TEST_CASE("restore names what is wrong: version, checksum, consistency")
{
    using nlohmann::json;
    Engine source;
    source.process(ClientHello{makeClientId(1, 1), false});
    JoinRequest join;
    join.attributes.sizeofAttributes = static_cast<int>(sizeof(ha_gs_group_attributes_t));
    join.attributes.groupName = "g";
    join.attributes.numPhases = HA_GS_1_PHASE;
    source.process(ClientRequest{makeClientId(1, 1), 1, join});
    REQUIRE(source.group("g"));
    const std::string good = source.snapshot();
    const json document = json::from_cbor(good);
    auto encode = [](const json &j) {
        const auto bytes = json::to_cbor(j);
        return std::string(bytes.begin(), bytes.end());
    };
    auto reason = [](const std::string &bytes) -> std::string {
        Engine e;
        try {
            e.restore(bytes);
        } catch (const std::invalid_argument &error) {
            return error.what();
        }
        return "accepted";
    };

    json newer = document;
    newer["format"] = document["format"].get<int>() + 1;
    CHECK(reason(encode(newer)).find("format version " + newer["format"].dump()) !=
          std::string::npos);

    json damaged = document;
    damaged["check"] = document["check"].get<uint64_t>() ^ 1;
    CHECK(reason(encode(damaged)).find("checksum") != std::string::npos);

    /* A consistent checksum over an inconsistent state: a token whose
     * owner does not exist. */
    json broken = document;
    auto &tokens = broken["state"]["tokens"];
    REQUIRE(!tokens.empty());
    tokens[0][1]["client"] = 999999;
    const auto stateBytes = json::to_cbor(broken["state"]);
    broken["check"] = digestOf(std::string(stateBytes.begin(), stateBytes.end()));
    CHECK(reason(encode(broken)).find("inconsistent state") != std::string::npos);

    CHECK(reason("") != "accepted");
    CHECK(reason(good) == "accepted");
}
