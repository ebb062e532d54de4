/* SPDX-License-Identifier: MIT */
/* Seeded random histories for the engine's state tests (snapshot property,
 * restore mutations): small limits so that refusals happen, random bytes
 * for fuzz/engine_events.hpp, and an engine fed one event at a time that
 * keeps the timers it has running. */
#pragma once

#include "engine/engine.hpp"

#include <random>
#include <set>
#include <vector>

namespace gs::test {

inline EngineConfig smallLimits()
{
    EngineConfig c;
    c.limits.maxGroupsPerClient = 3;
    c.limits.maxProvidersPerGroup = 4;
    c.limits.maxStateMemory = 1024;
    return c;
}

/* Random bytes for EngineEvents: enough for a few hundred events. */
inline std::vector<uint8_t> randomBytes(uint32_t seed)
{
    std::mt19937 rng(seed);
    std::vector<uint8_t> bytes(64 * 1024);
    for (auto &b : bytes)
        b = static_cast<uint8_t>(rng());
    return bytes;
}

struct Fed {
    explicit Fed(EngineConfig config = smallLimits()) : engine(config) {}
    std::vector<Action> feed(const Event &event)
    {
        std::vector<Action> out = engine.process(event);
        for (const auto &a : out) {
            if (const auto *s = std::get_if<StartTimer>(&a))
                timers.insert(s->timer);
            else if (const auto *c = std::get_if<CancelTimer>(&a))
                timers.erase(c->timer);
        }
        if (const auto *t = std::get_if<TimerFired>(&event))
            timers.erase(t->timer);
        return out;
    }
    Engine engine;
    std::set<TimerId> timers;
};

} // namespace gs::test
