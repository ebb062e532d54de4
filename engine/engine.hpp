/* SPDX-License-Identifier: MIT */
/*
 * The protocol engine: a deterministic state machine with no I/O, no clock
 * and no threads. Events go in (client hello, requests, votes, client death,
 * timer expiry); actions come out (replies, notifications, timer requests).
 * The same events in the same order always give the same actions, which is
 * what lets tests run it exhaustively and, later, lets every node replicate it
 * through Corosync's total order.
 *
 * Thread-bound: one Engine is used from one thread.
 */
#pragma once

#include "common/model.hpp"
#include "common/state_digest.hpp"
#include "engine/observation.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gs {

/* Limits that change replies. They are the domain's, not a node's: every
 * replica must refuse the same requests, so the limits are part of the
 * engine's state (snapshot), restore() takes the snapshot's (the values in
 * force in the domain it comes from), and a node whose configured values
 * differ must not join with them (contract.md §6.9). */
struct EngineLimits {
    unsigned maxGroupsPerClient = 4096;   /* HA_GS_MAX_GROUPS_PER_CLIENT */
    unsigned maxProvidersPerGroup = 1024; /* HA_GS_MAX_PROVIDERS_PER_GROUP */
    unsigned maxTokens = 65536;           /* HA_GS_MAX_TOKENS: all clients together */
    /* Sessions one node serves at once (HA_GS_MAX_CLIENTS). Enforced where
     * the client connects, before its hello enters the order; the value is
     * the domain's like the others. */
    unsigned maxClients = 4096;
    /* Bytes of state values and of what running protocols and queued
     * reflections hold (docs/security.md, "State held for groups"). */
    uint64_t maxStateMemory = 256ull << 20;
};

/* What an engine starts with. There is no "own node": replicas on every
 * node of a domain hold the same state, and a provider's node is its
 * client's (clientNode). */
struct EngineConfig {
    EngineLimits limits;
};

/* The system group of the domain's nodes (rsct-gsapi.md §5.12): clients
 * subscribe to it, nobody joins it. Its providers are the nodes up in the
 * domain, each with instance number = node number = the node's number, in
 * ascending order; its state value is empty and never changes. A join naming
 * it, as its group or as its source group, is refused (HA_GS_INVALID_GROUP,
 * HA_GS_INVALID_SOURCE_GROUP). See engine_hosts.cpp. */
inline constexpr std::string_view kHostMembershipGroup = "HostMembership";

/* ---- Events ------------------------------------------------------------ */

/* A client session starts (gsd already checked its credentials). */
struct ClientHello {
    ClientId client = 0;
    /* The client registered a deactivate script at ha_gs_init: expels of its
     * providers ask gsd to run it (RunDeactivate). */
    bool deactivateScript = false;
};
/* A request from a client. Always answered by exactly one Reply action. */
struct ClientRequest {
    ClientId client = 0;
    RequestId requestId = 0;
    Request request;
};
/* The client is gone: it died, closed its connection or called ha_gs_quit.
 * Its provider tokens get failure leaves; its subscriptions vanish. */
struct ClientGone {
    ClientId client = 0;
};
/* The client did not answer a responsiveness check in time. */
struct ClientUnresponsive {
    ClientId client = 0;
};
/* Every client of a node is gone at once: the node left the domain (its gsd
 * died or was stopped, the node was lost or cut off). Its subscriptions
 * vanish and its providers get failure leaves, queued in ascending client
 * id then token order before any group moves on; in a group whose batch
 * control has HA_GS_BATCH_LEAVES they all leave in one failure-leave
 * protocol, else in one protocol each, in that order. The node also leaves
 * HostMembership: its subscribers are told first, then the failure leaves
 * run (engine_hosts.cpp). Clients of other nodes are untouched; a node with
 * no clients that is no host is a no-op. */
struct NodeGone {
    int16_t node = 0;
};
/* A node came up in the domain (its gsd joined, or the domain of one
 * started): it joins HostMembership. A node already up, or a node number
 * below 1, is a no-op. */
struct NodeJoined {
    int16_t node = 0;
};
/* A timer the engine asked for has expired. */
struct TimerFired {
    TimerId timer = 0;
};
/* Identifies one run of a deactivate script (RunDeactivate). */
using DeactivateId = uint64_t;
/* The deactivate script of a RunDeactivate action has ended. `outcome` is
 * HA_GS_DEACTIVATE_SUCCESSFUL (exit status 0), HA_GS_DEACTIVATE_UNSUCCESSFUL
 * (any other end, or the script could not be run) or
 * HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED. Unknown or stale runs are ignored. */
struct DeactivateFinished {
    DeactivateId run = 0;
    uint32_t outcome = 0;
};

using Event = std::variant<ClientHello, ClientRequest, ClientGone, ClientUnresponsive, TimerFired,
                           DeactivateFinished, NodeGone, NodeJoined>;

/* ---- Actions ----------------------------------------------------------- */

struct Reply {
    ClientId client = 0;
    RequestId requestId = 0;
    int rc = 0;      /* ha_gs_rc_t */
    Token token = 0; /* join / subscribe: the new token */
    bool operator==(const Reply &) const = default;
};
/* One notification body for one or more recipients; the body is shared so
 * that fan-out encodes it once. */
struct Notify {
    std::vector<Recipient> recipients;
    std::shared_ptr<const NoteBody> body;
};
struct StartTimer {
    TimerId timer = 0;
    int seconds = 0;
    bool operator==(const StartTimer &) const = default;
};
struct CancelTimer {
    TimerId timer = 0;
    bool operator==(const CancelTimer &) const = default;
};

/* Run the deactivate script `client` registered, against its provider
 * `provider` that an expel of `group` removes. The expel waits for the
 * outcome (DeactivateFinished) at most `seconds`, the expel's time limit;
 * then the engine counts it as HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED and asks
 * for the script to be stopped (StopDeactivate). */
struct RunDeactivate {
    DeactivateId run = 0;
    ClientId client = 0;
    std::string group;
    ProviderId provider;
    std::string flag; /* the expel's gs_deactivate_flag */
    int seconds = 0;
    bool operator==(const RunDeactivate &) const = default;
};
/* The engine no longer waits for this run (its time limit passed): kill it. */
struct StopDeactivate {
    DeactivateId run = 0;
    bool operator==(const StopDeactivate &) const = default;
};

using Action = std::variant<Reply, Notify, StartTimer, CancelTimer, RunDeactivate, StopDeactivate>;

/* ---- Read-only views for tests, status and invariant checks ------------ */

struct MemberView {
    ProviderId id;
    ClientId client = 0;
    Token token = 0;
};
/* A provider taking part in the running protocol. */
struct ParticipantView {
    ObservedProvider provider;
    bool joiner = false;
    bool voter = false; /* expected to vote (live, not being removed) */
    bool voted = false; /* in the current phase */
    int vote = 0;       /* ha_gs_vote_value_t, when voted */
};
struct ProtocolView {
    int type = 0; /* ha_gs_request_t */
    bool nPhase = false;
    uint32_t phase = 0;
    int timeLimit = 0;
    /* The engine timer of the phase (or of the wait for deactivate
     * scripts once approving); 0 when none runs. */
    TimerId timer = 0;
    bool approving = false; /* voted through, waiting for deactivate scripts */
    std::optional<Bytes> proposedState;
    std::vector<ObservedProvider> changing;
    std::vector<ParticipantView> participants;
    /* Whether the running phase still waits for this participant's vote. */
    bool awaits(const ParticipantView &part) const
    {
        return part.voter && !part.voted && nPhase && !approving;
    }
};
/* A change waiting in a group's queue for the running protocol to end. */
struct QueuedView {
    enum class Kind { Join, FailureLeave, Reflection, CastOut };
    Kind kind = Kind::Join;
    std::optional<ObservedProvider> provider; /* joins and failure leaves */
};
struct SubscriberView {
    Token token = 0;
    ClientId client = 0;
    uint32_t control = 0; /* ha_gs_subscription_ctrl_t */
};
struct GroupView {
    std::string name;
    GroupAttributes attributes;
    std::vector<MemberView> members; /* approved members, membership order */
    Bytes state;
    bool protocolRunning = false;
    int runningProtocol = 0; /* ha_gs_request_t, 0 when none */
    uint32_t phase = 0;
    size_t queuedMembershipChanges = 0;
    size_t subscribers = 0;
    std::optional<ProtocolView> protocol;
    std::vector<QueuedView> queue; /* in queue order */
    std::vector<SubscriberView> subscriberList;
};

class Engine {
  public:
    explicit Engine(EngineConfig config = {});
    ~Engine();
    Engine(const Engine &) = delete;
    Engine &operator=(const Engine &) = delete;

    /* Feed one event; append the resulting actions to `out`. */
    void process(const Event &event, std::vector<Action> &out);

    /* The same, and what happened on the way appended to `seen`. */
    void process(const Event &event, std::vector<Action> &out, std::vector<Observation> &seen);

    /* Convenience for tests. */
    std::vector<Action> process(const Event &event)
    {
        std::vector<Action> out;
        process(event, out);
        return out;
    }

    /* Ordinary groups only: HostMembership is hosts(). */
    std::vector<std::string> groupNames() const;
    /* The nodes in HostMembership, ascending. */
    std::vector<int16_t> hosts() const;
    std::optional<GroupView> group(const std::string &name) const;
    size_t clientCount() const;
    /* Every client of the domain with its provider and subscriber tokens. */
    std::map<ClientId, size_t> clientTokens() const;
    /* Whether a token is in use (a provider's or subscriber's). */
    bool tokenAlive(Token token) const;
    uint64_t stateMemory() const;
    /* The timers the engine waits for (each StartTimer not yet cancelled or
     * fired), by increasing id, each with its full duration: what a gsd that
     * restored a snapshot arms its shadow timers from. */
    std::vector<StartTimer> runningTimers() const;

    /* Checks every internal invariant; returns an empty string when all hold,
     * else a description of the first violation. */
    std::string checkInvariants() const;

    /* The whole state, as canonical bytes (CBOR with a format version and a
     * checksum): everything that can influence a future action (groups,
     * members, state values, running protocols with their votes, riders
     * and timers, queued changes, subscriptions, tokens and their owners,
     * clients, every counter, running deactivate scripts, the limits and
     * the memory accounting). Engines in equal states give equal bytes. */
    std::string snapshot() const;
    /* Replaces the whole state with a snapshot's, limits included: they are
     * the values in force in the domain the snapshot comes from. Throws
     * std::invalid_argument, saying why, on bytes that are not a complete,
     * undamaged, consistent snapshot of this format version; the engine is
     * then unchanged. */
    void restore(std::string_view snapshot);
    /* digestOf(snapshot()): equal for replicas in equal states. */
    StateDigest digest() const;
    const EngineLimits &limits() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace gs
