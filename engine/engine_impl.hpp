/* SPDX-License-Identifier: MIT */
/*
 * The engine's private state and the declarations of its parts, shared by
 * the files that implement it: engine_requests.cpp (validating and queueing
 * requests), engine_protocol.cpp (running a protocol), engine_failure.cpp
 * (client failure, node gone, dissolving), engine_hosts.cpp (the
 * HostMembership system group), engine_invariants.cpp and engine.cpp (the
 * public surface). Not a public header.
 */
#pragma once

#include "engine/engine.hpp"

#include "ha_gs.h"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace gs {

namespace engine_detail {
enum class ProviderState { Queued, Joining, Member };

struct TokenInfo {
    ClientId client = 0;
    std::string group;
    bool provider = false;
    ProviderId id; /* provider only */
    ProviderState state = ProviderState::Queued;
    uint32_t control = 0; /* subscriber only */
};

struct ClientRecord {
    std::map<std::string, Token> providerOf;   /* group -> provider token */
    std::map<std::string, Token> subscriberOf; /* group -> subscriber token */
    bool deactivateScript = false;             /* registered at ha_gs_init */
    size_t tokenCount() const { return providerOf.size() + subscriberOf.size(); }
};

/* A provider as groups, protocols and queues record it. Whether it is
 * still alive is held once, by the token table: a provider's token dies
 * with it (Engine::Impl::alive()). */
struct Member {
    Token token = 0;
    ProviderId id;
    ClientId client = 0;
};

/* In the order of QueuedView::Kind. */
enum class QueuedKind { Join, FailureLeave, Reflection, CastOut };

inline ObservedProvider observed(const Member &m)
{
    return {m.id, m.client};
}

struct QueuedChange {
    QueuedKind kind = QueuedKind::Join;
    Member provider;   /* Join: the joiner; FailureLeave: the leaver */
    int reason = 0;    /* FailureLeave: HA_GS_PROVIDER_* */
    Bytes sourceState; /* Reflection */
    bool isMembership() const { return kind != QueuedKind::Reflection; }
};

struct Participant {
    Member member;
    bool joiner = false;
    bool voter = false;
    bool voted = false; /* in the current phase */
    int vote = 0;
    int proposedDefault = 0;
    std::optional<Bytes> stateProposal;
    std::optional<Bytes> messageProposal;
};

/* One deactivate script run of an expel (RunDeactivate). */
struct Deactivation {
    DeactivateId run = 0;
    uint32_t phase = 0;   /* the phase it ran in */
    uint32_t outcome = 0; /* HA_GS_DEACTIVATE_*; 0 while it runs */
};

struct Protocol {
    int type = 0;
    bool nPhase = false;
    bool forced = false; /* failure leave, cast-out: cannot be rejected */
    int timeLimit = 0;
    uint32_t phase = 1;
    int defaultVote = HA_GS_VOTE_APPROVE;
    uint32_t accumulated = 0;  /* TIME_LIMIT_EXCEEDED / PROVIDER_FAILED so far */
    uint32_t phaseSummary = 0; /* summary of the last closed phase */
    TimerId timer = 0;
    std::vector<Participant> participants; /* members in order, then joiners */
    std::vector<Member> changing;
    std::vector<LeaveInfo> leaveInfo;
    std::vector<ProviderId> currentProviders;
    Bytes oldState;
    std::optional<Bytes> proposedState;
    std::optional<Bytes> message; /* provider message protocol: its subject */
    /* A message a voter attached: it goes out with the next notification
     * only (IBM: "delivered with the next notification"). */
    std::optional<Bytes> riderMessage;
    std::optional<ExpelInfo> expelInfo;
    std::optional<GroupAttributes> proposedAttributes;
    std::optional<Bytes> sourceState;
    /* Expel: the deactivate scripts, started once (deactivateStarted) in the
     * expel's deactivate phase, or before approval when the voting ends
     * earlier. `approving`: the votes approved and the expel waits for the
     * scripts (p.timer then guards the wait). */
    std::vector<Deactivation> deactivations;
    bool deactivateStarted = false;
    bool approving = false;
    uint64_t heldBytes = 0; /* what it adds to Impl::stateMemory: protocolBytes() */

    bool removes() const
    {
        return type == HA_GS_LEAVE || type == HA_GS_FAILURE_LEAVE || type == HA_GS_EXPEL ||
               type == HA_GS_CAST_OUT;
    }
    bool deactivating() const
    {
        return std::any_of(deactivations.begin(), deactivations.end(),
                           [](const Deactivation &d) { return d.outcome == 0; });
    }
};

struct Group {
    std::string name;
    GroupAttributes attributes; /* normalized */
    std::vector<Member> members;
    Bytes state;
    std::optional<Protocol> running;
    std::deque<QueuedChange> queue;
    std::map<Token, uint32_t> subscribers; /* token -> control flags */

    bool hasQueuedJoins() const
    {
        return std::any_of(queue.begin(), queue.end(),
                           [](const QueuedChange &c) { return c.kind == QueuedKind::Join; });
    }
    Member *findMember(const ProviderId &id)
    {
        for (auto &m : members)
            if (m.id == id)
                return &m;
        return nullptr;
    }
};

/* Bytes a protocol holds until it ends, as counted against the state memory
 * budget (engine_protocol.cpp). */
uint64_t protocolBytes(const Protocol &p, size_t targets);

std::vector<ProviderId> idsOf(const std::vector<Member> &members);

/* A step of a cascade, run later by Engine::Impl::runCascades(): see there. */
struct Cascade {
    enum class Kind { StartNext, Dissolve, Advance };
    Kind kind = Kind::StartNext;
    std::string group;
};

} // namespace engine_detail

using namespace engine_detail;

struct Engine::Impl {
    EngineConfig config;
    std::map<ClientId, ClientRecord> clients;
    std::map<Token, TokenInfo> tokens;
    std::map<std::string, Group> groups;
    std::map<std::string, std::set<std::string>> targetsOf; /* source -> targets */
    std::map<TimerId, std::string> timers;                  /* timer -> group */
    std::map<DeactivateId, std::string> deactivateRuns;     /* running script -> group */
    /* HostMembership (engine_hosts.cpp): the nodes up in the domain, and
     * its subscribers (token -> control flags), kept apart from `groups`:
     * it has no provider tokens, protocols or state value. */
    std::set<int16_t> hosts;
    std::map<Token, uint32_t> hostSubscribers;
    Token nextToken = 1;
    TimerId nextTimer = 1;
    DeactivateId nextDeactivate = 1;
    /* Bytes held for clients, checked against limits.maxStateMemory: state
     * values, running protocols (protocolBytes) and the source values of
     * queued reflections. */
    uint64_t stateMemory = 0;
    /* Cascades: `pending` is a stack (its back runs next); `scheduled`
     * collects, in order, the steps the running step asks for. */
    std::vector<Cascade> pending;
    std::vector<Cascade> scheduled;

    std::vector<Action> *out = nullptr;
    /* Where observations go while process() runs; nullptr: nowhere. */
    std::vector<Observation> *observationSink = nullptr;
    void observe(Observation observation)
    {
        if (observationSink)
            observationSink->push_back(std::move(observation));
    }

    /* Whether the provider a record names is still alive: its token is. */
    bool alive(const Member &m) const { return tokens.count(m.token) != 0; }

    /* ---- engine_requests.cpp: validating and queueing requests, tokens */
    void reply(ClientId client, RequestId id, int rc, Token token = 0);
    Token allocateToken();
    int budget(const Group &g, int numPhases, uint64_t carried,
               const Bytes *newState = nullptr) const;
    int providerToken(ClientId client, Token token, TokenInfo *&info);
    void eraseToken(Token token);
    void onHello(const ClientHello &e);
    void onRequest(const ClientRequest &e);
    void handle(ClientId client, RequestId id, const JoinRequest &r);
    int join(ClientId client, const JoinRequest &r, Token &token);
    int proposalPreamble(ClientId client, Token token, int numPhases, int timeLimit, Group *&group,
                         TokenInfo *&info);
    static int collision(const Group &g);
    void handle(ClientId client, RequestId id, const LeaveRequest &r);
    void handle(ClientId client, RequestId id, const GoodbyeRequest &r);
    int validateExpel(const Group &g, const ExpelRequest &r) const;
    void handle(ClientId client, RequestId id, const ExpelRequest &r);
    void handle(ClientId client, RequestId id, const StateChangeRequest &r);
    void handle(ClientId client, RequestId id, const MessageRequest &r);
    void handle(ClientId client, RequestId id, const AttributeChangeRequest &r);
    void handle(ClientId client, RequestId id, const VoteRequest &r);
    Participant *currentVoter(Group &g, Token token) const;
    void handle(ClientId client, RequestId id, const SubscribeRequest &r);
    void handle(ClientId client, RequestId id, const UnsubscribeRequest &r);
    void removeSubscription(Token token);

    /* ---- engine_protocol.cpp: running a protocol (cascades, phases, votes, outcomes) */
    void notify(std::vector<Recipient> recipients, NoteBody body);
    void notifyOutcome(std::vector<Recipient> recipients, NoteBody body);
    void schedule(Cascade::Kind kind, const std::string &group);
    void stackScheduled();
    void runCascades();
    size_t targetCount(const std::string &source) const;
    void recharge(Group &g);
    void rechargeGroup(const std::string &name);
    void setState(Group &g, Bytes value);
    void onTimer(TimerId timer);
    void onDeactivateFinished(const DeactivateFinished &e);
    Protocol newProtocol(Group &g, int type, int numPhases, int timeLimit);
    bool phaseComplete(const Protocol &p) const;
    void startNext(Group &group);
    void beginJoin(Group &g, const std::vector<QueuedChange> &joins);
    bool beginFailureLeave(Group &g, const std::vector<QueuedChange> &leaves);
    void beginReflection(Group &g, const Bytes &sourceState);
    bool beginCastOut(Group &g);
    /* `by`: the provider whose request it is, if any (for the observers). */
    void begin(Group &g, Protocol &&p, const Member *by = nullptr);
    void startDeactivations(Group &g);
    void stopDeactivations(Protocol &p);
    static uint32_t deactivateSummary(const Protocol &p, uint32_t phase);
    void cancelTimer(Protocol &p);
    void approve(Group &g);
    Proposal proposalOf(const Protocol &p) const;
    void startPhase(Group &g);
    void closePhase(Group &g);
    std::vector<Recipient> liveParticipants(const Protocol &p) const;
    void finish(Group &g, bool approved);
    bool isChanging(const Protocol &p, Token token) const;
    void applyApproved(Group &g, Protocol &p, uint32_t summary);
    void applyRejected(Group &g, Protocol &p, uint32_t summary);
    void observeEnd(const Group &g, const Protocol &p, bool approved, uint32_t summary);
    void notifySubscribers(const Group &g, const Protocol &p, bool stateChanged);
    void notifySubscribers(const std::map<Token, uint32_t> &subscribers, uint32_t deltaFlag,
                           const std::vector<ProviderId> &changing,
                           const std::vector<ProviderId> &members, const Bytes *state);
    void notifyNewSubscriber(ClientId client, Token token, uint32_t control,
                             std::vector<ProviderId> members, const Bytes &state);
    void queueReflections(const Group &source);

    /* ---- engine_failure.cpp: client failure, node gone, dissolving */
    void onGone(ClientId client);
    void onNodeGone(int16_t node);
    void onUnresponsive(ClientId client);
    void markProviderGone(Token token, int reason);
    std::string detachProvider(Token token, int reason);
    void advance(const std::string &name);
    void dissolveIfEmpty(Group &g);
    void dissolve(Group &g);

    /* ---- engine_hosts.cpp: HostMembership, the domain's nodes */
    static bool isHostMembership(const std::string &group) { return group == kHostMembershipGroup; }
    static int reservedName(const GroupAttributes &a);
    std::vector<ProviderId> hostIds() const;
    void subscribeToHosts(ClientId client, Token token, uint32_t control);
    void onNodeJoined(int16_t node);
    void hostGone(int16_t node);
    std::string hostInvariants() const;

    /* ---- engine_invariants.cpp */
    std::string invariants() const;
};

} // namespace gs
