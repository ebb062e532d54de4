/* SPDX-License-Identifier: MIT */
/*
 * A simulated domain of gsd nodes, all in one thread: no clock, no I/O.
 *
 * Each node holds a replica of the engines (replica.hpp), its local clients
 * (a client is local to node clientNode(id)) and what each of them received,
 * and a FIFO outbox of the inputs it submitted. A simulated total order (the
 * agreed order of a Corosync CPG) takes the head of some node's outbox and
 * delivers it to every member in the same order; membership changes (views)
 * come between two deliveries:
 *   - a node that leaves (crash, cut off by a partition) loses its replica,
 *     its clients and its undelivered inputs; the others process NodeGone and
 *     CMM NodeDown for it at that point of the stream;
 *   - a node that joins (restart, merge) is sent the state at a cut: the
 *     donor, the lowest synced node, submits SnapBegin, whose delivery is the
 *     cut; the joiner buffers every input delivered after it and, when
 *     SnapEnd is delivered, loads the donor's snapshot and replays the buffer.
 *     Only then may its clients connect. A new view voids a transfer in
 *     progress (the epoch changes) and the donor of the new view starts over.
 *   - only a view that holds a majority of the configured nodes goes on.
 * Time: the simulated clock moves when the test says so. Every node arms a
 * shadow timer for each delivered StartTimer; only the timekeeper (the lowest
 * synced node) submits TimerFired for the timers that are due.
 *
 * After every input a replica applies, the checker (checker.hpp) compares the
 * replicas; the first violated invariant stops the run.
 */
#pragma once

#include "checker.hpp"
#include "replica.hpp"

#include <deque>
#include <map>
#include <optional>
#include <set>

namespace gs::domain {

using NodeId = int16_t;

/* Markers of a state transfer in the order, tagged with the view's epoch. */
struct SnapBegin {
    uint64_t epoch = 0;
};
struct SnapEnd {
    uint64_t epoch = 0;
};
using Payload = std::variant<gs::Event, cmm::Event, SnapBegin, SnapEnd>;

/* Fault injection: node `node` does not apply the first client request
 * delivered at or after step `fromStep`, as a replica that lost one message
 * would. The checker must report it. */
struct SkipFault {
    NodeId node = 0;
    uint64_t fromStep = 0;
};

struct DomainOptions {
    DomainSettings settings;
    /* The two lowest synced nodes both submit TimerFired: duplicates must
     * be harmless. */
    bool twoTimekeepers = false;
    std::optional<SkipFault> skip;
    /* Fault injection: a restarted node counts its client serials from 1
     * again, as a gsd that forgot the ids its previous run gave out. */
    bool restartReusesClientIds = false;
    /* The full GSAPI digests are compared every this many steps (1: after
     * every input), at every view and when a joiner is synced; the cheaper
     * fingerprints after every input. */
    unsigned fullDigestEvery = 16;
    /* Print every step (the input and what the reference computed) to
     * stderr: for replaying a failing seed. */
    bool trace = false;
};

/* A client as its own node sees it: what it holds and what it received. */
struct LocalClient {
    ClientId id = 0;
    bool script = false;
    RequestId nextRequest = 1;
    std::map<RequestId, Request> outstanding;
    std::map<Token, std::string> groupOf; /* tokens held, per the replies and finals */
    std::set<Token> provider;
    std::map<Token, uint32_t> toVote;                       /* n-phase proposals not voted on */
    std::map<Token, std::vector<ProviderId>> lastProviders; /* as the last proposal told */
    std::vector<uint64_t> received; /* replies and notifications, in order (hashes) */
};

enum class NodeState { Out, Joining, Synced };

struct Node {
    NodeId id = 0;
    NodeState state = NodeState::Out;
    bool crashed = false; /* out by a crash (its gsd restarts), not by a partition */
    std::unique_ptr<Replica> replica;
    std::map<TimerId, uint64_t> shadowTimers; /* timer -> due time (ms) */
    std::set<TimerId> firedByMe;
    std::map<ClientId, LocalClient> clients;
    uint64_t nextSerial = 1;
    std::deque<Payload> outbox;
    std::map<DeactivateId, RunDeactivate> scripts; /* running here, for local clients */

    /* The state transfer under way to this joiner. */
    struct Buffered {
        uint64_t step = 0;
        EngineEvent event;
        uint64_t time = 0;
    };
    struct Transfer {
        uint64_t epoch = 0;
        uint64_t cutStep = 0;
        NodeId donor = 0;
        Snapshot snapshot;
        std::map<TimerId, uint64_t> shadowTimers;
        std::vector<Buffered> buffer;
    };
    std::optional<Transfer> transfer;
};

class Domain {
  public:
    Domain(DomainOptions options, uint64_t seed);

    /* ---- membership (views) ---- */
    /* `node` stops (its gsd dies, its machine is lost). */
    void crash(NodeId node);
    /* `side` is cut off from the others; the side without a majority of the
     * configured nodes stops, so `side` must be the minority. */
    void partition(const std::vector<NodeId> &side);
    /* The given out nodes come back (restart or merge) as joiners. */
    void join(const std::vector<NodeId> &nodes);

    /* ---- inputs ---- */
    void submit(NodeId from, Payload payload);
    /* A new client on `node`, which must be synced; returns its id. */
    ClientId connect(NodeId node, bool script);
    /* `client` sends a request through its node. */
    void request(ClientId client, Request request);
    /* `client` dies or quits: its node reports it. */
    void clientGone(ClientId client);

    /* ---- the order and time ---- */
    /* Delivers the head of `from`'s outbox; false when it is empty. */
    bool deliverFrom(NodeId from);
    /* Nodes with undelivered inputs. */
    std::vector<NodeId> senders() const;
    void advanceClock(uint64_t ms) { now_ += ms; }
    uint64_t now() const { return now_; }
    /* The timekeeper submits TimerFired for every due timer it has not yet
     * submitted. */
    void keepTime();
    /* The earliest due time among the timekeeper's shadow timers. */
    std::optional<uint64_t> nextDue() const;

    /* ---- views for the test ---- */
    const std::map<NodeId, Node> &nodes() const { return nodes_; }
    Node &node(NodeId id) { return nodes_.at(id); }
    const std::vector<NodeId> &view() const { return view_; }
    std::vector<NodeId> synced() const;
    /* The lowest synced node: the donor and the timekeeper. */
    const Node *reference() const;
    bool quorate(size_t members) const
    {
        return members * 2 > static_cast<size_t>(options_.settings.nodes);
    }
    uint64_t steps() const { return steps_; }
    const DomainOptions &options() const { return options_; }
    Checker &checker() { return checker_; }
    const std::optional<Violation> &violation() const { return checker_.violation(); }
    /* Compares the full digests of every synced replica. */
    void compareDigests(const std::string &when);
    /* Joiners that loaded a snapshot and replayed their buffer. */
    uint64_t transfers() const { return transfers_; }
    /* Hash of everything delivered and computed so far. */
    uint64_t runDigest() const { return run_.value(); }

  private:
    void deliver(NodeId from, const Payload &payload);
    void changeView(const std::vector<NodeId> &members, const std::vector<NodeId> &left,
                    const std::vector<NodeId> &joined);
    void leave(Node &node, bool crashed);
    /* One engine input at one point of the stream, to every synced replica
     * (buffered by joiners), then checked. */
    void step(const EngineEvent &event, std::optional<NodeId> from);
    void carryOut(Node &node, const EngineEvent &event, const Applied &applied);
    void deliverLocally(Node &node, const std::vector<Action> &actions);
    static void trackTimers(std::map<TimerId, uint64_t> &timers, const EngineEvent &event,
                            const std::vector<Action> &actions, uint64_t time);
    void beginTransfer(NodeId donor, uint64_t epoch);
    void finishTransfer(uint64_t epoch);
    bool skipHere(const Node &node, const EngineEvent &event);

    DomainOptions options_;
    std::map<NodeId, Node> nodes_;
    std::vector<NodeId> view_; /* members of the current view, increasing */
    uint64_t epoch_ = 0;
    uint64_t steps_ = 0;
    uint64_t now_ = 0;
    bool skipped_ = false;
    bool viewStep_ = false; /* the step is part of a view: compare full digests */
    uint64_t transfers_ = 0;
    Checker checker_;
    Hasher run_;
    /* What the reference computed at each step, for the joiners' replay
     * check: index = step - 1. */
    std::vector<StepRecord> log_;
};

} // namespace gs::domain
