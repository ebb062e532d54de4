/* SPDX-License-Identifier: MIT */
/*
 * What the simulated domain delivers and computes, as text (for failure
 * messages) and as hashes (to compare replicas and whole runs cheaply).
 */
#pragma once

#include "common/state_digest.hpp"
#include "engine/cmm_engine.hpp"
#include "engine/engine.hpp"

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gs::domain {

/* One input to a replica: a GSAPI event or a CMM event. */
using EngineEvent = std::variant<gs::Event, cmm::Event>;

/* 64-bit FNV-1a over a stream of fields, the same function as digestOf. */
class Hasher {
  public:
    void add(std::string_view bytes)
    {
        add(static_cast<uint64_t>(bytes.size()));
        for (unsigned char byte : bytes) {
            hash_ ^= byte;
            hash_ *= 0x100000001b3ull;
        }
    }
    void add(uint64_t value)
    {
        for (int i = 0; i < 8; ++i) {
            hash_ ^= (value >> (8 * i)) & 0xff;
            hash_ *= 0x100000001b3ull;
        }
    }
    uint64_t value() const { return hash_; }

  private:
    uint64_t hash_ = 0xcbf29ce484222325ull;
};

uint64_t hashNote(const Recipient &to, const NoteBody &body);
uint64_t hashActions(const std::vector<Action> &actions);
uint64_t hashOutcome(const cmm::Outcome &outcome);

/* Equal actions: notifications compare their recipients and bodies, not
 * the addresses of the shared bodies. */
bool sameActions(const std::vector<Action> &a, const std::vector<Action> &b);

std::string describe(const EngineEvent &event);
std::string describe(const std::vector<Action> &actions);
std::string clientName(ClientId client); /* "n2.c5": node 2, serial 5 */

} // namespace gs::domain
