/* SPDX-License-Identifier: MIT */
/*
 * The digest of an engine's state: a hash of its snapshot bytes. Snapshots
 * are canonical (ordered maps, no addresses, no clocks), so two replicas
 * that applied the same inputs in the same order have equal digests, and a
 * replica that diverged shows it at the first event where it did.
 *
 * 64-bit FNV-1a: not a cryptographic hash. It guards against bugs, not
 * against an adversary, who would have to be a domain member already.
 */
#pragma once

#include <cstdint>
#include <string_view>

namespace gs {

using StateDigest = uint64_t;

constexpr StateDigest digestOf(std::string_view bytes)
{
    uint64_t hash = 0xcbf29ce484222325ull;
    for (unsigned char byte : bytes) {
        hash ^= byte;
        hash *= 0x100000001b3ull;
    }
    return hash;
}

} // namespace gs
