/* SPDX-License-Identifier: MIT */
/*
 * restore() accepts only states the engine can go on from: a snapshot of a
 * real history, altered in one to three places (a number or flag changed,
 * a byte string replaced by another of the state, an array element
 * dropped) and checksummed again (so that only the state's consistency can
 * stop it), is either refused or, once accepted, keeps the engine's
 * invariants for 200 more events. GS_MUTATION_SEEDS=n runs n seeds.
 */
#include "common/state_digest.hpp"
#include "engine/engine.hpp"
#include "fuzz/engine_events.hpp"
#include "ha_gs.h"
#include "tests/engine/fed_engine.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace gs;
using gs::fuzz::ByteReader;
using gs::fuzz::EngineEvents;
using gs::test::Fed;
using gs::test::randomBytes;
using gs::test::smallLimits;
using nlohmann::json;

namespace {

void prelude(Fed &fed, unsigned phases)
{
    for (unsigned k = 0; k < EngineEvents::kClients; ++k) {
        const ClientId client = EngineEvents::clientNumber(k);
        fed.feed(ClientHello{client, k % 2 == 0});
        for (const char *group : {"a", "b"}) {
            JoinRequest join;
            join.attributes.sizeofAttributes = static_cast<int>(sizeof(ha_gs_group_attributes_t));
            join.attributes.groupName = group;
            join.attributes.numPhases = static_cast<int>(phases);
            join.attributes.timeLimit = 2;
            if (std::string(group) == "b")
                join.attributes.sourceGroupName = "a";
            join.instance = static_cast<int32_t>(k);
            fed.feed(ClientRequest{client, 1000 + k, join});
        }
    }
    while (!fed.timers.empty())
        fed.feed(TimerFired{*fed.timers.begin()});
}

std::string encode(const json &j)
{
    const auto bytes = json::to_cbor(j);
    return std::string(bytes.begin(), bytes.end());
}

/* Every place in `j` a mutation can hit: numbers, booleans, byte strings
 * and array elements. */
void leaves(json &j, const std::string &path, std::vector<std::pair<json *, std::string>> &numbers,
            std::vector<std::pair<json *, size_t>> &elements)
{
    if (j.is_number() || j.is_boolean() || j.is_binary()) {
        numbers.push_back({&j, path});
    } else if (j.is_array()) {
        for (size_t i = 0; i < j.size(); ++i) {
            elements.push_back({&j, i});
            leaves(j[i], path + "/" + std::to_string(i), numbers, elements);
        }
    } else if (j.is_object()) {
        for (auto &[k, v] : j.items())
            leaves(v, path + "/" + k, numbers, elements);
    }
}

} // namespace

TEST_CASE("restore accepts only states that keep the engine's invariants under any continuation")
{
    const char *env = std::getenv("GS_MUTATION_SEEDS");
#ifdef HA_GS_SANITIZED_BUILD
    const uint32_t defaultSeeds = 200;
#else
    const uint32_t defaultSeeds = 2000;
#endif
    const uint32_t seeds = env ? static_cast<uint32_t>(std::atoi(env)) : defaultSeeds;
    uint64_t accepted = 0, refused = 0;
    for (uint32_t seed = 1; seed <= seeds; ++seed) {
        CAPTURE(seed);
        std::mt19937 rng(seed);
        const auto bytes = randomBytes(seed);
        ByteReader in(bytes.data(), bytes.size());
        Fed fed;
        prelude(fed, seed % 2 ? HA_GS_N_PHASE : HA_GS_1_PHASE);
        EngineEvents events(in, &fed.engine);
        const int steps = 20 + static_cast<int>(rng() % 200);
        for (int i = 0; i < steps; ++i)
            fed.feed(events.next(fed.timers));
        const json original = json::from_cbor(fed.engine.snapshot());

        for (int m = 0; m < 20; ++m) {
            json doc = original;
            const int rounds = 1 + static_cast<int>(rng() % 3);
            std::string what;
            for (int round = 0; round < rounds; ++round) {
                std::vector<std::pair<json *, std::string>> numbers;
                std::vector<std::pair<json *, size_t>> elements;
                leaves(doc["state"], "", numbers, elements);
                if (rng() % 2 && !numbers.empty()) {
                    auto [number, path] = numbers[rng() % numbers.size()];
                    json &n = *number;
                    what += path + " " + n.dump();
                    if (n.is_binary()) {
                        /* Another byte string of the state: a name of
                         * another group, a state value. */
                        std::vector<json *> strings;
                        for (auto &[candidate, where] : numbers)
                            if (candidate->is_binary())
                                strings.push_back(candidate);
                        n = *strings[rng() % strings.size()];
                    } else if (n.is_boolean())
                        n = !n.get<bool>();
                    else {
                        const int64_t v = n.get<int64_t>();
                        static const int64_t deltas[] = {1, -1, 2, -2};
                        switch (rng() % 3) {
                        case 0:
                            n = v + deltas[rng() % 4];
                            break;
                        case 1:
                            n = static_cast<int64_t>(rng() % 4);
                            break;
                        default:
                            n = static_cast<int64_t>(rng() % 40);
                            break;
                        }
                    }
                    what += " -> " + n.dump();
                } else if (!elements.empty()) {
                    auto [array, index] = elements[rng() % elements.size()];
                    if (index >= array->size())
                        break;
                    what += "; dropped element " + (*array)[index].dump();
                    array->erase(index);
                }
            }
            const auto stateBytes = json::to_cbor(doc["state"]);
            doc["check"] = digestOf(std::string(stateBytes.begin(), stateBytes.end()));
            Fed restored;
            try {
                restored.engine.restore(encode(doc));
            } catch (const std::invalid_argument &) {
                ++refused;
                continue;
            }
            ++accepted;
            CAPTURE(what);
            for (const auto &t : doc["state"]["timers"])
                restored.timers.insert(t[0].get<TimerId>());
            const auto more = randomBytes(seed * 1000 + static_cast<uint32_t>(m));
            ByteReader in2(more.data(), more.size());
            EngineEvents continuation(in2, &restored.engine);
            for (int i = 0; i < 200; ++i) {
                const Event e = continuation.next(restored.timers);
                CAPTURE(i);
                std::string broken;
                try {
                    restored.feed(e);
                    broken = restored.engine.checkInvariants();
                } catch (const std::exception &error) {
                    broken = std::string("exception: ") + error.what();
                }
                REQUIRE_MESSAGE(broken.empty(), broken << " (event kind " << e.index() << ")");
            }
        }
    }
    MESSAGE("accepted " << accepted << ", refused " << refused);
}
