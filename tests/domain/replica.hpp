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

/* What a donor sends a joiner: the CMM engine's snapshot and, for the
 * GSAPI engine, the inputs it applied so far, replayed by the joiner into an
 * empty engine. */
struct Snapshot {
    std::vector<gs::Event> gsapiHistory;
    std::string cmm;
};

class Replica {
  public:
    /* An empty replica of node `node`. */
    Replica(const DomainSettings &settings, int16_t node);
    /* A replica of node `node` holding the state of `snapshot`. */
    Replica(const DomainSettings &settings, int16_t node, const Snapshot &snapshot);

    Applied apply(const EngineEvent &event);

    Snapshot snapshot() const;
    /* An engine's digest changes only when it applies an input, so each is
     * computed once per input it applies. */
    StateDigest gsapiDigest() const { return gsapiDigest_; }
    StateDigest cmmDigest() const { return cmmDigest_; }
    /* Both engines' invariants: empty when they hold. */
    std::string checkInvariants() const;

    const Engine &gsapi() const { return *gsapi_; }
    const cmm::Engine &cmm() const { return cmm_; }

  private:
    std::unique_ptr<Engine> gsapi_;
    cmm::Engine cmm_;
    std::vector<gs::Event> gsapiHistory_;
    StateDigest gsapiDigest_ = 0;
    StateDigest cmmDigest_ = 0;

    StateDigest hashGsapi() const;
};

} // namespace gs::domain
