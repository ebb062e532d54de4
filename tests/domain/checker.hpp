/* SPDX-License-Identifier: MIT */
/*
 * The invariants of the simulated domain, checked after every input a
 * replica applies (domain.hpp). The first one violated is kept, with the
 * step, the node and a message naming it; the run then stops.
 *
 *  - "engine invariants": each synced replica's engines pass their own
 *    checkInvariants().
 *  - "equal digests": every synced replica has the same CMM digest and the
 *    same GSAPI fingerprint after every input, and the same full GSAPI
 *    digest (a hash of the whole engine snapshot, which is costlier) every
 *    few inputs, at every view and at the end of a run.
 *  - "same actions": every synced replica computed the same actions and the
 *    same CMM outcome, so a client sees the same thing whichever node
 *    computes it.
 *  - "joiner matches donor": a joiner's restored replica has the donor's
 *    digest at the cut, and replaying the buffered inputs gives exactly the
 *    actions and digests the synced replicas had for them.
 *  - "gap-free approved stream": a provider is told every approved change
 *    of its group from its join on, without a gap or a repeat, whichever
 *    node it is on.
 *  - "client ids never reused": a client id names one session in the
 *    whole domain's history, also across a node's restart (the providers of
 *    a dead client stay members until their failure leaves run, and a new
 *    session with the same id would own their tokens).
 *  - "provider ids name their client's node": after every approved join,
 *    each member's ProviderId.node is clientNode(its client), on every
 *    replica alike (not the computing node's own number).
 *  - "no action for a gone client": nothing is addressed to a client once
 *    its death or its node's loss was delivered.
 *  - "failure leaves exactly for the failed": a failure leave removes only
 *    providers whose client died, quit, said goodbye or whose node left, and
 *    once the domain is at rest every such provider is gone from its group.
 *  - "engine clients are the live clients": every synced replica's GSAPI
 *    engine knows exactly the clients whose hello was delivered and whose
 *    death or node loss was not (a NodeGone must forget the node's clients
 *    that hold no token too).
 *  - "stale timer harmless": a TimerFired for a timer already fired or
 *    cancelled (a duplicate from a second timekeeper) changes nothing.
 */
#pragma once

#include "replica.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>

namespace gs::domain {

struct Violation {
    uint64_t seed = 0;
    uint64_t step = 0;
    int node = 0;
    std::string invariant;
    std::string message;
    std::string text() const;
};

/* What the synced replicas agreed on at one step. */
struct StepRecord {
    uint64_t actions = 0;             /* hashActions / hashOutcome */
    StateDigest fingerprint = 0;      /* Replica::gsapiFingerprint */
    StateDigest cmm = 0;              /* cmm::Engine::digest */
    std::optional<StateDigest> gsapi; /* Engine::digest, at the steps it was taken */
};

/* One synced replica's part in a step. */
struct ReplicaResult {
    int16_t node = 0;
    const Replica *replica = nullptr;
    const Applied *applied = nullptr;
};

class Checker {
  public:
    explicit Checker(uint64_t seed) : seed_(seed) {}

    /* Before `event` is applied; `reference` is the lowest synced replica. */
    void before(uint64_t step, const EngineEvent &event, const Replica &reference);
    /* After every synced replica applied `event` (results by increasing
     * node, the reference first). `staleFingerprint` is set for a
     * TimerFired the reference had no shadow timer for: its GSAPI
     * fingerprint before. `fullDigest`: compare the GSAPI engines' full
     * digests too (the fingerprints and CMM digests are always compared). */
    StepRecord after(uint64_t step, const EngineEvent &event,
                     const std::vector<ReplicaResult> &results,
                     std::optional<StateDigest> staleFingerprint, bool fullDigest);
    /* A joiner loaded the snapshot `donor` took at step `cut`. */
    void loaded(int16_t node, int16_t donor, uint64_t cut, const Replica &replica,
                const StepRecord &atCut);
    /* Full digests of every replica in `replicas` (the first is the
     * reference) are equal. */
    void compareAll(uint64_t step, const std::vector<ReplicaResult> &replicas,
                    const std::string &when, const char *invariant);
    /* A joiner replayed the input of step `step`. */
    void replayed(int16_t node, uint64_t step, const EngineEvent &event, const Replica &replica,
                  const Applied &applied, const StepRecord &expected);
    /* The domain is at rest (nothing to deliver, no protocol running). */
    void atRest(uint64_t step, const Replica &reference);

    void fail(uint64_t step, int node, std::string invariant, std::string message);
    const std::optional<Violation> &violation() const { return violation_; }

    /* Counters that show the checks were not vacuous. */
    uint64_t failureLeavesChecked() const { return failureLeavesChecked_; }
    uint64_t approvedChecked() const { return approvedChecked_; }
    uint64_t staleTimersChecked() const { return staleTimersChecked_; }

  private:
    struct Failed {
        ClientId client = 0;
        std::string why;
    };
    void compareDigests(uint64_t step, int node, int against, const Replica &replica,
                        const StepRecord &expected, const std::string &when, const char *invariant);
    void markFailed(const Replica &reference, const std::string &why,
                    bool (*match)(const MemberView &, uint64_t), uint64_t key);
    void checkActions(uint64_t step, const std::vector<Action> &actions, const Replica &reference);
    bool isGone(ClientId client) const;
    void joinedFailed(uint64_t step, const Replica &reference);

    uint64_t seed_;
    std::optional<Violation> violation_;
    std::map<Token, std::string> tokenGroup_;
    std::map<std::string, uint64_t> approvedCount_;
    std::map<Token, uint64_t> lastApproved_;
    std::map<std::pair<std::string, ProviderId>, Failed> failing_;
    std::set<ClientId> goneClients_;
    std::set<std::pair<ClientId, Token>> saidGoodbye_; /* goodbye requests */
    std::map<ClientId, uint64_t> helloAt_;
    std::map<int16_t, uint64_t> nodeGoneAt_;
    uint64_t failureLeavesChecked_ = 0;
    uint64_t approvedChecked_ = 0;
    uint64_t staleTimersChecked_ = 0;
};

} // namespace gs::domain
