/* SPDX-License-Identifier: MIT */
/*
 * A seeded random schedule over the simulated domain (domain.hpp): clients
 * connect, join, subscribe, propose, vote in n-phase protocols, leave, die;
 * scripts end; CMM clients ask for changes; nodes crash, restart, are cut off
 * and merged back; the order interleaves the nodes' inputs; time passes.
 * Everything random comes from one std::mt19937_64 seeded explicitly, and
 * nothing that decides an order is an unordered container: the same seed
 * gives the same run.
 */
#pragma once

#include "domain.hpp"

#include <random>

namespace gs::domain {

struct RunOptions {
    uint64_t seed = 1;
    int steps = 200; /* scheduling rounds before the drain */
    bool twoTimekeepers = false;
    std::optional<SkipFault> skip;
    bool restartReusesClientIds = false;
    unsigned fullDigestEvery = 16; /* DomainOptions::fullDigestEvery */
    bool trace = false;
};

struct RunResult {
    std::optional<Violation> violation;
    uint64_t digest = 0; /* runDigest() at the end */
    uint64_t steps = 0;  /* engine inputs delivered */
    int nodes = 0;
    uint64_t viewChanges = 0;
    uint64_t transfers = 0; /* joiners that loaded a snapshot */
    uint64_t failureLeaves = 0;
    uint64_t staleTimers = 0;
    uint64_t approved = 0; /* approved notifications checked for gaps */
};

RunResult runRandom(const RunOptions &options);

} // namespace gs::domain
