/* SPDX-License-Identifier: MIT */
/*
 * One node's copy of the domain's replicated state: a GSAPI engine and a CMM
 * engine, built from the domain's configuration (the same on every node),
 * applying the delivered stream. Its state moves to a joiner as a snapshot
 * and is compared across nodes by digest.
 */
#pragma once

#include "trace.hpp"

#include <memory>
#include <optional>
#include <string>

namespace gs::domain {

/* The replicated configuration: limits and the CMM node table are the
 * domain's, not per-node flags (contract §6.9). */
struct DomainSettings {
    int nodes = 3; /* configured node ids 1..nodes */
    EngineLimits limits;
    cmm::NodeTable table() const;
};

/* What one replica computed for one input. */
struct Applied {
    std::vector<Action> actions; /* GSAPI events */
    cmm::Outcome outcome;        /* CMM events */
};

/* What a donor sends a joiner: both engines' snapshots. */
struct Snapshot {
    std::string gsapi;
    std::string cmm;
};

class Replica {
  public:
    /* An empty replica. The engines have no node of their own: every
     * replica of the domain holds the same state. */
    explicit Replica(const DomainSettings &settings);
    /* A replica holding the state of `snapshot`. */
    Replica(const DomainSettings &settings, const Snapshot &snapshot);

    Applied apply(const EngineEvent &event);

    Snapshot snapshot() const;
    /* The GSAPI engine's digest (a hash of its whole snapshot): computed on
     * demand, at most once per input applied. */
    StateDigest gsapiDigest() const;
    /* A cheaper hash of the GSAPI engine's read-only views (groups, members,
     * state values, running protocols and phases, queued changes,
     * subscribers, clients, memory), computed after every input. */
    StateDigest gsapiFingerprint() const { return gsapiFingerprint_; }
    /* The CMM engine's digest (its snapshot is small): after every input. */
    StateDigest cmmDigest() const { return cmmDigest_; }
    /* Both engines' invariants: empty when they hold. */
    std::string checkInvariants() const;

    const Engine &gsapi() const { return *gsapi_; }
    const cmm::Engine &cmm() const { return cmm_; }

  private:
    std::unique_ptr<Engine> gsapi_;
    cmm::Engine cmm_;
    StateDigest viewHash() const;

    mutable std::optional<StateDigest> gsapiDigest_;
    StateDigest gsapiFingerprint_ = 0;
    StateDigest cmmDigest_ = 0;
};

} // namespace gs::domain
