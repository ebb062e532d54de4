/* SPDX-License-Identifier: MIT */
/*
 * The blob a gsd sends to a gsd that joins the domain (DomainHost::
 * snapshotState): both engines' snapshots, the domain's own counters, and
 * the donor's view of the engine's timers. Pure encoding, no I/O.
 *
 * Layout (little-endian):
 *
 *     "GSDS"  u16 major  u16 minor  u32 body-length  body  u64 checksum
 *
 * The checksum is gs::digestOf of every byte before it. The body of major
 * version 1, minor 0:
 *
 *     u32 length, GSAPI engine snapshot (Engine::snapshot)
 *     u32 length, CMM engine snapshot (cmm::Engine::snapshot)
 *     i32 the time-limit ceiling of the gsd that made it
 *     u32 count, then count x (u16 node, u64 next client serial),
 *         increasing nodes
 *     u32 count, then count x (u64 timer id, u32 milliseconds until due),
 *         increasing ids
 *
 * A later minor version appends fields to the body; a reader of an older
 * minor version skips what follows the fields it knows. A reader of the
 * same or an older minor version takes nothing after them. Another major
 * version is refused (StateRefused::Version).
 */
#pragma once

#include "common/model.hpp"
#include "gsd/domain_host.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace gs::broker {

constexpr uint16_t kDomainStateMajor = 1;
constexpr uint16_t kDomainStateMinor = 0;

struct DomainState {
    std::string engine;
    std::string cmm;
    int32_t timeLimitCeiling = 0;
    /* For each node, the serial after the highest serial of its clients
     * whose hello was delivered: a gsd that restarts goes on from there. */
    std::map<int16_t, uint64_t> nextSerial;
    /* The donor's view, not replicated: how long until each engine timer is
     * due (0: overdue). Not part of any digest. */
    std::map<TimerId, uint32_t> timerDueMs;
};

std::string encodeDomainState(const DomainState &state);
/* Throws StateRefused: Version for another major version, Damaged for
 * anything else that is not a well-formed blob. The snapshots inside are
 * not checked here (their engines' restore does). */
DomainState decodeDomainState(std::string_view blob);

} // namespace gs::broker
