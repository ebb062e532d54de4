/* SPDX-License-Identifier: MIT */
/*
 * The protocol engine. docs/architecture.md ("The engine") is the prose
 * version of the rules implemented here; keep the two in step.
 *
 * Determinism: only ordered containers are iterated, tokens and timer ids
 * come from counters, and nothing reads a clock.
 */
#include "engine/engine.hpp"

#include "engine/validate.hpp"
#include "ha_gs.h"

#include <algorithm>
#include <cassert>
#include <deque>
#include <map>
#include <set>
#include <sstream>

namespace gs {

namespace {

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

struct Member {
    Token token = 0;
    ProviderId id;
    ClientId client = 0;
    bool alive = true;
};

enum class QueuedKind { Join, FailureLeave, Reflection, CastOut };

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
 * budget: the values and messages it carries (a state value also once per
 * target group, for the reflections approving it queues), its expel list
 * and deactivate flag, its attribute names, and the riders of the current
 * phase's votes. */
uint64_t protocolBytes(const Protocol &p, size_t targets)
{
    auto value = [](const std::optional<Bytes> &v) -> uint64_t { return v ? v->size() : 0; };
    /* A voter's message rides until the next notification (riderMessage). */
    uint64_t bytes = p.oldState.size() + value(p.sourceState) + value(p.message) +
                     value(p.riderMessage) + value(p.proposedState) * (1 + targets);
    if (p.expelInfo)
        bytes += p.expelInfo->deactivateFlag.size() + p.changing.size() * sizeof(ProviderId);
    if (p.proposedAttributes)
        bytes +=
            p.proposedAttributes->groupName.size() + p.proposedAttributes->sourceGroupName.size();
    for (const auto &part : p.participants)
        bytes += value(part.stateProposal) * (1 + targets) + value(part.messageProposal);
    return bytes;
}

std::vector<ProviderId> idsOf(const std::vector<Member> &members)
{
    std::vector<ProviderId> ids;
    ids.reserve(members.size());
    for (const auto &m : members)
        ids.push_back(m.id);
    return ids;
}

/* A step of a cascade, run later by Engine::Impl::runCascades(): see there. */
struct Cascade {
    enum class Kind { StartNext, Dissolve, Advance };
    Kind kind = Kind::StartNext;
    std::string group;
};

} // namespace

struct Engine::Impl {
    EngineConfig config;
    std::map<ClientId, ClientRecord> clients;
    std::map<Token, TokenInfo> tokens;
    std::map<std::string, Group> groups;
    std::map<std::string, std::set<std::string>> targetsOf; /* source -> targets */
    std::map<TimerId, std::string> timers;                  /* timer -> group */
    std::map<DeactivateId, std::string> deactivateRuns;     /* running script -> group */
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

    /* ---- small helpers ---------------------------------------------- */

    void reply(ClientId client, RequestId id, int rc, Token token = 0)
    {
        out->push_back(Reply{client, id, rc, token});
    }

    void notify(std::vector<Recipient> recipients, NoteBody body)
    {
        if (recipients.empty())
            return;
        out->push_back(
            Notify{std::move(recipients), std::make_shared<const NoteBody>(std::move(body))});
    }

    /* Protocol outcomes are emitted even with nobody to tell (all providers
     * gone): the outcome is an event in its own right, which gsd logs and
     * tests observe. */
    void notifyOutcome(std::vector<Recipient> recipients, NoteBody body)
    {
        out->push_back(
            Notify{std::move(recipients), std::make_shared<const NoteBody>(std::move(body))});
    }

    Token allocateToken()
    {
        Token t = nextToken++;
        if (nextToken <= 0) /* wrapped after 2^31 tokens: restart, skipping live ones */
            nextToken = 1;
        while (tokens.count(nextToken))
            ++nextToken;
        return t;
    }

    /* ---- cascades ------------------------------------------------------
     * A protocol that finishes at once lets its group start its next queued
     * change; a dissolving source casts out its targets, whose cast-outs
     * dissolve them in turn; a changed source reflects into its targets.
     * Calling one from the other would recurse once per group of a source
     * chain (thousands deep: a stack overflow), so these steps are scheduled
     * instead and run by one loop after the event. The loop keeps the order
     * a depth-first recursion would give: the steps one step schedules run
     * before the steps scheduled earlier, first scheduled first. Its stack
     * holds at most one step per group and queued change. */

    void schedule(Cascade::Kind kind, const std::string &group)
    {
        scheduled.push_back(Cascade{kind, group});
    }

    /* Moves the steps just scheduled onto the stack, first on top. */
    void stackScheduled()
    {
        pending.insert(pending.end(), std::make_move_iterator(scheduled.rbegin()),
                       std::make_move_iterator(scheduled.rend()));
        scheduled.clear();
    }

    void runCascades()
    {
        stackScheduled();
        while (!pending.empty()) {
            Cascade step = std::move(pending.back());
            pending.pop_back();
            auto it = groups.find(step.group);
            switch (step.kind) {
            case Cascade::Kind::StartNext:
                if (it != groups.end())
                    startNext(it->second);
                break;
            case Cascade::Kind::Dissolve:
                if (it != groups.end())
                    dissolve(it->second);
                break;
            case Cascade::Kind::Advance:
                advance(step.group);
                break;
            }
            stackScheduled();
        }
    }

    size_t targetCount(const std::string &source) const
    {
        auto it = targetsOf.find(source);
        return it == targetsOf.end() ? 0 : it->second.size();
    }

    /* Brings the running protocol's share of stateMemory up to date. */
    void recharge(Group &g)
    {
        if (!g.running)
            return;
        const uint64_t bytes = protocolBytes(*g.running, targetCount(g.name));
        stateMemory = stateMemory - g.running->heldBytes + bytes;
        g.running->heldBytes = bytes;
    }

    void rechargeGroup(const std::string &name)
    {
        if (auto it = groups.find(name); it != groups.end())
            recharge(it->second);
    }

    /* Whether a provider's proposal fits the state memory budget. An
     * n-phase proposal holds all it carries (and a copy of the current
     * state value) until its last phase ends; a one-phase proposal ends
     * within its request, and only the state value it leaves (with the
     * reflections it queues) stays. */
    int budget(const Group &g, int numPhases, uint64_t carried,
               const Bytes *newState = nullptr) const
    {
        const uint64_t value = newState ? newState->size() * (1 + targetCount(g.name)) : 0;
        uint64_t after = stateMemory;
        if (numPhases == HA_GS_N_PHASE)
            after += g.state.size() + carried + value;
        else if (newState)
            after = after - g.state.size() + value;
        else
            return HA_GS_OK; /* leaves nothing behind */
        return after > config.limits.maxStateMemory ? HA_GS_NO_MEMORY : HA_GS_OK;
    }

    void setState(Group &g, Bytes value)
    {
        stateMemory = stateMemory - g.state.size() + value.size();
        g.state = std::move(value);
    }

    /* Looks up a token of `client` that must be a provider. A subscriber
     * token is "not a valid provider" as much as an unknown one: IBM
     * documents HA_GS_BAD_MEMBER_TOKEN for both. */
    int providerToken(ClientId client, Token token, TokenInfo *&info)
    {
        auto it = tokens.find(token);
        if (it == tokens.end() || it->second.client != client || !it->second.provider)
            return HA_GS_BAD_MEMBER_TOKEN;
        info = &it->second;
        return HA_GS_OK;
    }

    void eraseToken(Token token)
    {
        auto it = tokens.find(token);
        if (it == tokens.end())
            return;
        auto c = clients.find(it->second.client);
        if (c != clients.end()) {
            auto &map = it->second.provider ? c->second.providerOf : c->second.subscriberOf;
            map.erase(it->second.group);
        }
        tokens.erase(it);
    }

    /* ---- events ------------------------------------------------------ */

    void onHello(const ClientHello &e)
    {
        clients.try_emplace(e.client).first->second.deactivateScript = e.deactivateScript;
    }

    void onGone(ClientId client)
    {
        auto c = clients.find(client);
        if (c == clients.end())
            return;
        /* Copy: detaching edits the client's maps. Every token is detached
         * before any group moves on, so that the cascades this death starts
         * (a source group dissolving casts out its targets) never address
         * the dying client. */
        auto providers = c->second.providerOf;
        auto subscriptions = c->second.subscriberOf;
        for (const auto &[group, token] : subscriptions)
            removeSubscription(token);
        std::vector<std::string> affected;
        for (const auto &[group, token] : providers)
            affected.push_back(detachProvider(token, HA_GS_PROVIDER_FAILED_LEAVE));
        clients.erase(client);
        for (const auto &name : affected)
            schedule(Cascade::Kind::Advance, name);
    }

    void onNodeGone(int16_t node)
    {
        std::vector<ClientId> gone;
        for (const auto &[client, c] : clients)
            if (clientNode(client) == node)
                gone.push_back(client);
        for (ClientId client : gone)
            onGone(client);
    }

    void onUnresponsive(ClientId client)
    {
        auto c = clients.find(client);
        if (c == clients.end())
            return;
        for (const auto &[groupName, token] : c->second.providerOf) {
            const TokenInfo &info = tokens.at(token);
            if (info.state != ProviderState::Member)
                continue;
            Group &g = groups.at(groupName);
            std::vector<Recipient> to;
            for (const auto &m : g.members)
                if (m.alive && m.token != token)
                    to.push_back({m.client, m.token, false});
            notify(std::move(to), AnnouncementNote{HA_GS_RESPONSIVENESS_NO_RESPONSE, {info.id}});
        }
    }

    void onTimer(TimerId timer)
    {
        auto it = timers.find(timer);
        if (it == timers.end())
            return; /* cancelled or stale */
        std::string name = it->second;
        timers.erase(it);
        Group &g = groups.at(name);
        if (!g.running || g.running->timer != timer)
            return;
        g.running->timer = 0;
        /* The expel's time limit bounds its scripts as well as its votes. */
        stopDeactivations(*g.running);
        if (g.running->approving)
            finish(g, true);
        else
            closePhase(g);
    }

    void onDeactivateFinished(const DeactivateFinished &e)
    {
        auto it = deactivateRuns.find(e.run);
        if (it == deactivateRuns.end())
            return; /* stale: its limit passed first */
        const std::string name = it->second;
        deactivateRuns.erase(it);
        Group &g = groups.at(name);
        Protocol &p = *g.running;
        for (auto &d : p.deactivations)
            if (d.run == e.run)
                d.outcome = (e.outcome == HA_GS_DEACTIVATE_SUCCESSFUL ||
                             e.outcome == HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED)
                                ? e.outcome
                                : HA_GS_DEACTIVATE_UNSUCCESSFUL;
        if (p.deactivating())
            return;
        if (p.approving) {
            cancelTimer(p);
            finish(g, true);
        } else if (phaseComplete(p)) {
            closePhase(g);
        }
    }

    void onRequest(const ClientRequest &e)
    {
        if (!clients.count(e.client)) {
            reply(e.client, e.requestId, HA_GS_NO_INIT);
            return;
        }
        std::visit([&](const auto &r) { handle(e.client, e.requestId, r); }, e.request);
    }

    /* ---- requests ---------------------------------------------------- */

    void handle(ClientId client, RequestId id, const JoinRequest &r)
    {
        Token token = 0;
        int rc = join(client, r, token);
        reply(client, id, rc, token);
        if (rc == HA_GS_OK)
            startNext(groups.at(r.attributes.groupName));
    }

    int join(ClientId client, const JoinRequest &r, Token &token)
    {
        const GroupAttributes &a = r.attributes;
        if (int rc = validateGroupName(a.groupName); rc != HA_GS_OK)
            return rc;
        if (int rc = validateAttributes(a); rc != HA_GS_OK)
            return rc;
        if (r.instance < 0 || r.instance > 32767 ||
            r.localName.size() > HA_GS_MAX_LOCAL_NAME_LENGTH)
            return HA_GS_BAD_PARAMETER;
        if (!a.sourceGroupName.empty()) {
            if (validateGroupName(a.sourceGroupName) != HA_GS_OK ||
                a.sourceGroupName == a.groupName)
                return HA_GS_INVALID_SOURCE_GROUP;
            auto source = groups.find(a.sourceGroupName);
            if (source == groups.end() || source->second.members.empty())
                return HA_GS_NO_SOURCE_GROUP_PROVIDER;
        }
        ClientRecord &rec = clients.at(client);
        if (rec.providerOf.count(a.groupName))
            return HA_GS_EXISTS;
        if (rec.tokenCount() >= config.limits.maxGroupsPerClient ||
            tokens.size() >= config.limits.maxTokens)
            return HA_GS_TOO_MANY_GROUPS;

        const ProviderId pid{static_cast<int16_t>(r.instance), config.nodeNumber};
        auto it = groups.find(a.groupName);
        if (it != groups.end()) {
            Group &g = it->second;
            if (!sameGroupAttributes(g.attributes, normalizeAttributes(a)))
                return HA_GS_BAD_GROUP_ATTRIBUTES;
            size_t providers = g.members.size();
            bool duplicate = g.findMember(pid) != nullptr;
            for (const auto &q : g.queue)
                if (q.kind == QueuedKind::Join) {
                    ++providers;
                    duplicate = duplicate || q.provider.id == pid;
                }
            if (g.running && g.running->type == HA_GS_JOIN)
                for (const auto &p : g.running->participants)
                    if (p.joiner) {
                        ++providers;
                        duplicate = duplicate || p.member.id == pid;
                    }
            if (duplicate)
                return HA_GS_DUPLICATE_INSTANCE_NUMBER;
            if (providers >= config.limits.maxProvidersPerGroup)
                return HA_GS_TOO_MANY_GROUPS;
        } else {
            Group g;
            g.name = a.groupName;
            g.attributes = normalizeAttributes(a);
            it = groups.emplace(a.groupName, std::move(g)).first;
            if (!a.sourceGroupName.empty()) {
                targetsOf[a.sourceGroupName].insert(a.groupName);
                rechargeGroup(a.sourceGroupName); /* its proposal reserves one more copy */
            }
        }
        token = allocateToken();
        tokens[token] = TokenInfo{client, a.groupName, true, pid, ProviderState::Queued, 0};
        rec.providerOf[a.groupName] = token;
        QueuedChange q;
        q.kind = QueuedKind::Join;
        q.provider = Member{token, pid, client, true};
        it->second.queue.push_back(std::move(q));
        return HA_GS_OK;
    }

    /* Common checks of every provider-initiated proposal. */
    int proposalPreamble(ClientId client, Token token, int numPhases, int timeLimit, Group *&group,
                         TokenInfo *&info)
    {
        if (int rc = providerToken(client, token, info); rc != HA_GS_OK)
            return rc;
        if (info->state != ProviderState::Member)
            return HA_GS_NOT_A_MEMBER;
        if (!validNumPhases(numPhases) || !validTimeLimit(timeLimit))
            return HA_GS_BAD_PARAMETER;
        group = &groups.at(info->group);
        return HA_GS_OK;
    }

    static int collision(const Group &g)
    {
        return (g.running || !g.queue.empty()) ? HA_GS_COLLIDE : HA_GS_OK;
    }

    Protocol newProtocol(Group &g, int type, int numPhases, int timeLimit)
    {
        Protocol p;
        p.type = type;
        p.nPhase = numPhases == HA_GS_N_PHASE;
        p.timeLimit = effectiveTimeLimit(timeLimit);
        p.defaultVote = g.attributes.defaultVote;
        p.currentProviders = idsOf(g.members);
        p.oldState = g.state;
        for (const auto &m : g.members)
            p.participants.push_back(Participant{m, false, m.alive, false, 0, 0, {}, {}});
        return p;
    }

    void handle(ClientId client, RequestId id, const LeaveRequest &r)
    {
        Group *g = nullptr;
        TokenInfo *info = nullptr;
        int rc = proposalPreamble(client, r.token, r.numPhases, r.timeLimit, g, info);
        if (rc == HA_GS_OK)
            rc = collision(*g);
        reply(client, id, rc);
        if (rc != HA_GS_OK)
            return;
        Protocol p = newProtocol(*g, HA_GS_LEAVE, r.numPhases, r.timeLimit);
        p.changing.push_back(*g->findMember(info->id));
        p.leaveInfo.push_back({r.leaveCode, HA_GS_PROVIDER_LEFT});
        begin(*g, std::move(p));
    }

    void handle(ClientId client, RequestId id, const GoodbyeRequest &r)
    {
        TokenInfo *info = nullptr;
        int rc = providerToken(client, r.token, info);
        reply(client, id, rc);
        if (rc == HA_GS_OK)
            markProviderGone(r.token, HA_GS_PROVIDER_SAID_GOODBYE);
    }

    int validateExpel(const Group &g, const ExpelRequest &r) const
    {
        if (r.expelList.empty() || r.expelList.size() > config.limits.maxProvidersPerGroup ||
            r.deactivateFlag.size() > HA_GS_MAX_DEACTIVATE_FLAG_LENGTH)
            return HA_GS_BAD_PARAMETER;
        std::set<ProviderId> seen(r.expelList.begin(), r.expelList.end());
        if (seen.size() != r.expelList.size())
            return HA_GS_BAD_PARAMETER;
        for (const auto &pid : r.expelList)
            if (std::none_of(g.members.begin(), g.members.end(),
                             [&](const Member &m) { return m.id == pid; }))
                return HA_GS_UNKNOWN_PROVIDER;
        if (r.numPhases != HA_GS_N_PHASE && r.deactivatePhase > 1)
            return HA_GS_INVALID_DEACTIVATE_PHASE;
        return HA_GS_OK;
    }

    void handle(ClientId client, RequestId id, const ExpelRequest &r)
    {
        Group *g = nullptr;
        TokenInfo *info = nullptr;
        int rc = proposalPreamble(client, r.token, r.numPhases, r.timeLimit, g, info);
        if (rc == HA_GS_OK)
            rc = validateExpel(*g, r);
        if (rc == HA_GS_OK)
            rc = budget(*g, r.numPhases,
                        r.deactivateFlag.size() + r.expelList.size() * sizeof(ProviderId));
        if (rc == HA_GS_OK)
            rc = collision(*g);
        reply(client, id, rc);
        if (rc != HA_GS_OK)
            return;
        Protocol p = newProtocol(*g, HA_GS_EXPEL, r.numPhases, r.timeLimit);
        for (const auto &m : g->members)
            if (std::find(r.expelList.begin(), r.expelList.end(), m.id) != r.expelList.end()) {
                p.changing.push_back(m);
                p.leaveInfo.push_back({0, HA_GS_PROVIDER_EXPELLED});
            }
        p.expelInfo = ExpelInfo{r.deactivatePhase, r.deactivateFlag};
        begin(*g, std::move(p));
    }

    void handle(ClientId client, RequestId id, const StateChangeRequest &r)
    {
        Group *g = nullptr;
        TokenInfo *info = nullptr;
        int rc = proposalPreamble(client, r.token, r.numPhases, r.timeLimit, g, info);
        if (rc == HA_GS_OK && r.newState.size() > HA_GS_MAX_STATE_VALUE_LENGTH)
            rc = HA_GS_BAD_PARAMETER;
        if (rc == HA_GS_OK)
            rc = budget(*g, r.numPhases, 0, &r.newState);
        if (rc == HA_GS_OK)
            rc = collision(*g);
        reply(client, id, rc);
        if (rc != HA_GS_OK)
            return;
        Protocol p = newProtocol(*g, HA_GS_STATE_VALUE_CHANGE, r.numPhases, r.timeLimit);
        p.proposedState = r.newState;
        begin(*g, std::move(p));
    }

    void handle(ClientId client, RequestId id, const MessageRequest &r)
    {
        Group *g = nullptr;
        TokenInfo *info = nullptr;
        int rc = proposalPreamble(client, r.token, r.numPhases, r.timeLimit, g, info);
        if (rc == HA_GS_OK && r.message.size() > HA_GS_MAX_MESSAGE_LENGTH)
            rc = HA_GS_BAD_PARAMETER;
        if (rc == HA_GS_OK)
            rc = budget(*g, r.numPhases, r.message.size());
        if (rc == HA_GS_OK)
            rc = collision(*g);
        reply(client, id, rc);
        if (rc != HA_GS_OK)
            return;
        Protocol p = newProtocol(*g, HA_GS_PROVIDER_MESSAGE, r.numPhases, r.timeLimit);
        p.message = r.message;
        begin(*g, std::move(p));
    }

    void handle(ClientId client, RequestId id, const AttributeChangeRequest &r)
    {
        Group *g = nullptr;
        TokenInfo *info = nullptr;
        int rc = proposalPreamble(client, r.token, r.numPhases, r.timeLimit, g, info);
        if (rc == HA_GS_OK)
            rc = validateAttributes(r.attributes);
        if (rc == HA_GS_OK) {
            const GroupAttributes &now = g->attributes;
            if (r.attributes.groupName != now.groupName ||
                r.attributes.sourceGroupName != now.sourceGroupName ||
                r.attributes.mergeControl != now.mergeControl)
                rc = HA_GS_BAD_GROUP_ATTRIBUTES;
        }
        if (rc == HA_GS_OK)
            rc = budget(*g, r.numPhases,
                        r.attributes.groupName.size() + r.attributes.sourceGroupName.size());
        if (rc == HA_GS_OK)
            rc = collision(*g);
        reply(client, id, rc);
        if (rc != HA_GS_OK)
            return;
        Protocol p = newProtocol(*g, HA_GS_GROUP_ATTRIBUTE_CHANGE, r.numPhases, r.timeLimit);
        p.proposedAttributes = normalizeAttributes(r.attributes);
        begin(*g, std::move(p));
    }

    void handle(ClientId client, RequestId id, const VoteRequest &r)
    {
        TokenInfo *info = nullptr;
        int rc = providerToken(client, r.token, info);
        if (rc == HA_GS_OK && !validVote(r.vote, r.defaultVote, r.proposedState, r.message))
            rc = HA_GS_BAD_PARAMETER;
        Participant *voter = nullptr;
        Group *g = nullptr;
        if (rc == HA_GS_OK) {
            g = &groups.at(info->group);
            voter = currentVoter(*g, r.token);
            if (!voter)
                rc = HA_GS_VOTE_NOT_EXPECTED;
            else if ((r.proposedState || r.message) &&
                     stateMemory +
                             (r.proposedState ? r.proposedState->size() : 0) *
                                 (1 + targetCount(g->name)) +
                             (r.message ? r.message->size() : 0) >
                         config.limits.maxStateMemory)
                rc = HA_GS_NO_MEMORY; /* riders are held until the phase ends; a bare
                                         vote is never refused: it lets protocols end */
        }
        reply(client, id, rc);
        if (rc != HA_GS_OK)
            return;
        voter->voted = true;
        voter->vote = r.vote;
        voter->proposedDefault = r.defaultVote;
        voter->stateProposal = r.proposedState;
        voter->messageProposal = r.message;
        recharge(*g);
        if (phaseComplete(*g->running))
            closePhase(*g);
    }

    /* The participant record of a voter still expected to vote now. */
    static Participant *currentVoter(Group &g, Token token)
    {
        if (!g.running || !g.running->nPhase || g.running->approving)
            return nullptr;
        for (auto &p : g.running->participants)
            if (p.member.token == token && p.voter && p.member.alive && !p.voted)
                return &p;
        return nullptr;
    }

    void handle(ClientId client, RequestId id, const SubscribeRequest &r)
    {
        int rc = validateGroupName(r.group);
        if (rc == HA_GS_OK && !validSubscriptionControl(r.control))
            rc = HA_GS_BAD_PARAMETER;
        ClientRecord &rec = clients.at(client);
        if (rc == HA_GS_OK && rec.subscriberOf.count(r.group))
            rc = HA_GS_EXISTS;
        if (rc == HA_GS_OK && (rec.tokenCount() >= config.limits.maxGroupsPerClient ||
                               tokens.size() >= config.limits.maxTokens))
            rc = HA_GS_TOO_MANY_GROUPS;
        if (rc != HA_GS_OK) {
            reply(client, id, rc);
            return;
        }
        Token token = allocateToken();
        reply(client, id, HA_GS_OK, token);
        auto it = groups.find(r.group);
        if (it == groups.end() || it->second.members.empty()) {
            notify({{client, token, true}},
                   DelayedErrorNote{HA_GS_SUBSCRIPTION, HA_GS_UNKNOWN_GROUP});
            return;
        }
        Group &g = it->second;
        tokens[token] = TokenInfo{client, r.group, false, {}, ProviderState::Member, r.control};
        rec.subscriberOf[r.group] = token;
        g.subscribers[token] = r.control;

        SubscriptionNote note;
        if (r.control & HA_GS_SUBSCRIBE_MEMBERSHIP) {
            note.type |= HA_GS_SUBSCRIPTION_MEMBERSHIP;
            note.fullMembership = idsOf(g.members);
        } else if (r.control & HA_GS_SUBSCRIBE_DELTA_JOIN) {
            note.type |= HA_GS_SUBSCRIPTION_DELTA_JOIN;
            note.changingMembership = idsOf(g.members);
        }
        if (r.control & HA_GS_SUBSCRIBE_STATE) {
            note.type |= HA_GS_SUBSCRIPTION_STATE;
            note.state = g.state;
        }
        if (note.type != 0)
            notify({{client, token, false}}, std::move(note));
    }

    void handle(ClientId client, RequestId id, const UnsubscribeRequest &r)
    {
        auto it = tokens.find(r.token);
        int rc = HA_GS_OK;
        if (it == tokens.end() || it->second.client != client || it->second.provider)
            rc = HA_GS_BAD_MEMBER_TOKEN;
        reply(client, id, rc);
        if (rc == HA_GS_OK)
            removeSubscription(r.token);
    }

    void removeSubscription(Token token)
    {
        auto it = tokens.find(token);
        if (it == tokens.end())
            return;
        auto g = groups.find(it->second.group);
        if (g != groups.end())
            g->second.subscribers.erase(token);
        eraseToken(token);
    }

    /* ---- failures ---------------------------------------------------- */

    /* The provider behind `token` is gone (death, quit, goodbye): its token
     * dies now and a failure leave removes it from the group. */
    void markProviderGone(Token token, int reason) { advance(detachProvider(token, reason)); }

    /* Bookkeeping of a provider that is gone: its token dies now, a queued
     * join is withdrawn, a member is marked dead with a failure leave queued,
     * and a running protocol counts it as failed. Starts nothing; returns the
     * group's name for advance(). */
    std::string detachProvider(Token token, int reason)
    {
        TokenInfo info = tokens.at(token);
        eraseToken(token);
        Group &g = groups.at(info.group);

        if (info.state == ProviderState::Queued) {
            std::erase_if(g.queue, [&](const QueuedChange &q) {
                return q.kind == QueuedKind::Join && q.provider.token == token;
            });
            return info.group;
        }
        for (auto &m : g.members)
            if (m.token == token)
                m.alive = false;
        QueuedChange q;
        q.kind = QueuedKind::FailureLeave;
        q.provider = Member{token, info.id, info.client, false};
        q.reason = reason;
        g.queue.push_back(std::move(q));

        if (g.running) {
            Protocol &p = *g.running;
            for (auto &part : p.participants)
                if (part.member.token == token) {
                    part.member.alive = false;
                    if (part.voter && p.nPhase)
                        p.accumulated |= HA_GS_PROVIDER_FAILED;
                }
            for (auto &c : p.changing)
                if (c.token == token)
                    c.alive = false;
        }
        return info.group;
    }

    /* Lets a group move on after providers were detached: close a phase
     * nobody else has to vote in, start queued work, or dissolve a group
     * nobody finished creating. The group may be gone already. */
    void advance(const std::string &name)
    {
        auto it = groups.find(name);
        if (it == groups.end())
            return;
        Group &g = it->second;
        if (g.running) {
            if (g.running->nPhase && phaseComplete(*g.running))
                closePhase(g);
            return;
        }
        if (g.queue.empty())
            dissolveIfEmpty(g);
        else
            startNext(g);
    }

    /* ---- protocol machinery ----------------------------------------- */

    static bool phaseComplete(const Protocol &p)
    {
        if (p.deactivating())
            return false;
        return std::all_of(p.participants.begin(), p.participants.end(), [](const Participant &v) {
            return !v.voter || !v.member.alive || v.voted;
        });
    }

    /* Starts queued membership changes (first), then other queued work,
     * until a protocol begins (finishing it schedules the next round). A
     * change that starts nothing may dissolve the group, so the group is
     * looked up again before each round. */
    void startNext(Group &group)
    {
        const std::string name = group.name;
        for (auto found = groups.find(name); found != groups.end(); found = groups.find(name)) {
            Group &g = found->second;
            if (g.running || g.queue.empty())
                return;
            auto head = std::find_if(g.queue.begin(), g.queue.end(),
                                     [](const QueuedChange &q) { return q.isMembership(); });
            if (head == g.queue.end())
                head = g.queue.begin();
            QueuedKind kind = head->kind;
            bool batch =
                (kind == QueuedKind::Join && (g.attributes.batchControl & HA_GS_BATCH_JOINS)) ||
                (kind == QueuedKind::FailureLeave &&
                 (g.attributes.batchControl & HA_GS_BATCH_LEAVES));
            std::vector<QueuedChange> taken;
            if (batch) {
                for (auto it = g.queue.begin(); it != g.queue.end();)
                    if (it->kind == kind) {
                        taken.push_back(std::move(*it));
                        it = g.queue.erase(it);
                    } else {
                        ++it;
                    }
            } else {
                taken.push_back(std::move(*head));
                g.queue.erase(head);
            }
            /* Once a protocol began, finishing it schedules the next round. */
            switch (kind) {
            case QueuedKind::Join:
                beginJoin(g, taken);
                return;
            case QueuedKind::FailureLeave:
                if (beginFailureLeave(g, taken))
                    return;
                break;
            case QueuedKind::Reflection:
                stateMemory -= taken.front().sourceState.size(); /* now the protocol's */
                beginReflection(g, taken.front().sourceState);
                return;
            case QueuedKind::CastOut:
                if (beginCastOut(g))
                    return;
                break;
            }
        }
    }

    void beginJoin(Group &g, const std::vector<QueuedChange> &joins)
    {
        Protocol p = newProtocol(g, HA_GS_JOIN, g.attributes.numPhases, g.attributes.timeLimit);
        for (const auto &q : joins) {
            p.participants.push_back(Participant{q.provider, true, true, false, 0, 0, {}, {}});
            p.changing.push_back(q.provider);
            tokens.at(q.provider.token).state = ProviderState::Joining;
        }
        begin(g, std::move(p));
    }

    bool beginFailureLeave(Group &g, const std::vector<QueuedChange> &leaves)
    {
        Protocol p =
            newProtocol(g, HA_GS_FAILURE_LEAVE, g.attributes.numPhases, g.attributes.timeLimit);
        p.forced = true;
        for (const auto &q : leaves) {
            /* An earlier protocol may have removed it already (leave, expel). */
            Member *m = g.findMember(q.provider.id);
            if (!m || m->token != q.provider.token)
                continue;
            p.changing.push_back(*m);
            p.leaveInfo.push_back({0, q.reason});
        }
        if (p.changing.empty())
            return false;
        begin(g, std::move(p));
        return true;
    }

    void beginReflection(Group &g, const Bytes &sourceState)
    {
        Protocol p =
            newProtocol(g, HA_GS_SOURCE_STATE_REFLECTION, g.attributes.sourceReflectionNumPhases,
                        g.attributes.sourceReflectionTimeLimit);
        p.sourceState = sourceState;
        begin(g, std::move(p));
    }

    bool beginCastOut(Group &g)
    {
        if (g.members.empty()) {
            /* Its creating join was rejected meanwhile: nothing to cast out. */
            dissolveIfEmpty(g);
            return false;
        }
        /* Like a reflection, a cast-out comes from the source group: it runs
         * with the source-reflection phases and time limit, and its
         * providers vote as a barrier; they cannot reject it (forced). */
        Protocol p = newProtocol(g, HA_GS_CAST_OUT, g.attributes.sourceReflectionNumPhases,
                                 g.attributes.sourceReflectionTimeLimit);
        p.forced = true;
        for (const auto &m : g.members) {
            p.changing.push_back(m);
            p.leaveInfo.push_back({0, HA_GS_PROVIDER_CAST_OUT});
        }
        begin(g, std::move(p));
        return true;
    }

    void begin(Group &g, Protocol &&p)
    {
        /* Providers being removed against their will do not vote; a cast-out
         * removes every member, who vote on it (they cannot reject it). */
        if (p.type == HA_GS_EXPEL || p.type == HA_GS_FAILURE_LEAVE)
            for (auto &part : p.participants)
                for (const auto &c : p.changing)
                    if (part.member.token == c.token)
                        part.voter = false;
        bool anyVoter = std::any_of(p.participants.begin(), p.participants.end(),
                                    [](const Participant &v) { return v.voter && v.member.alive; });
        g.running = std::move(p);
        recharge(g);
        if (!g.running->nPhase || !anyVoter) {
            approve(g);
            return;
        }
        startPhase(g);
    }

    /* ---- deactivate scripts (expel) ---------------------------------- */

    /* Asks gsd to run the deactivate script of every expelled provider whose
     * client is alive and registered one, unless the expel asked for none
     * (deactivate phase 0). Once per expel. */
    void startDeactivations(Group &g)
    {
        Protocol &p = *g.running;
        if (p.deactivateStarted || !p.expelInfo || p.expelInfo->deactivatePhase == 0)
            return;
        p.deactivateStarted = true;
        for (const auto &c : p.changing) {
            auto client = clients.find(c.client);
            if (!c.alive || client == clients.end() || !client->second.deactivateScript)
                continue;
            const DeactivateId run = nextDeactivate++;
            deactivateRuns[run] = g.name;
            p.deactivations.push_back({run, p.phase, 0});
            out->push_back(RunDeactivate{run, c.client, g.name, c.id, p.expelInfo->deactivateFlag,
                                         p.timeLimit});
        }
    }

    /* The time limit passed: scripts still running count as
     * HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED and gsd kills them. */
    void stopDeactivations(Protocol &p)
    {
        for (auto &d : p.deactivations)
            if (d.outcome == 0) {
                d.outcome = HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED;
                deactivateRuns.erase(d.run);
                out->push_back(StopDeactivate{d.run});
            }
    }

    /* Outcomes of the scripts that ran in `phase`, as summary bits. */
    static uint32_t deactivateSummary(const Protocol &p, uint32_t phase)
    {
        uint32_t bits = 0;
        for (const auto &d : p.deactivations)
            if (d.phase == phase)
                bits |= d.outcome;
        return bits;
    }

    void cancelTimer(Protocol &p)
    {
        if (p.timer == 0)
            return;
        timers.erase(p.timer);
        out->push_back(CancelTimer{p.timer});
        p.timer = 0;
    }

    /* The protocol is approved. An expel whose scripts did not run yet (its
     * voting ended before its deactivate phase, or it has no phases to
     * vote in) runs them now and is approved when they have all ended, or
     * when its time limit passes. */
    void approve(Group &g)
    {
        Protocol &p = *g.running;
        startDeactivations(g);
        if (!p.deactivating()) {
            finish(g, true);
            return;
        }
        p.approving = true;
        p.timer = nextTimer++;
        timers[p.timer] = g.name;
        out->push_back(StartTimer{p.timer, p.timeLimit});
    }

    Proposal proposalOf(const Protocol &p) const
    {
        Proposal prop;
        prop.phaseNumber = p.phase;
        prop.numPhases = p.nPhase ? HA_GS_N_PHASE : HA_GS_1_PHASE;
        prop.oldState = p.oldState;
        prop.proposedState = p.proposedState;
        prop.message = p.riderMessage ? p.riderMessage : p.message;
        prop.currentProviders = p.currentProviders;
        prop.changingProviders = idsOf(p.changing);
        prop.leaveInfo = p.leaveInfo;
        prop.expelInfo = p.expelInfo;
        prop.proposedAttributes = p.proposedAttributes;
        prop.sourceState = p.sourceState;
        return prop;
    }

    void startPhase(Group &g)
    {
        Protocol &p = *g.running;
        std::vector<Recipient> to;
        for (auto &part : p.participants) {
            part.voted = false;
            part.vote = 0;
            part.proposedDefault = 0;
            part.stateProposal.reset();
            part.messageProposal.reset();
            if (part.voter && part.member.alive)
                to.push_back({part.member.client, part.member.token, false});
        }
        notify(std::move(to),
               NPhaseNote{p.type, p.phase == 1 ? 0u : p.phaseSummary, p.timeLimit, proposalOf(p)});
        if (p.expelInfo && p.phase == p.expelInfo->deactivatePhase)
            startDeactivations(g);
        p.timer = nextTimer++;
        timers[p.timer] = g.name;
        out->push_back(StartTimer{p.timer, p.timeLimit});
        recharge(g); /* the last phase's riders are gone */
    }

    /* Closes the current phase: when every live voter voted, or when the
     * timer fired (only then can a live voter lack a vote). */
    void closePhase(Group &g)
    {
        Protocol &p = *g.running;
        cancelTimer(p);
        /* A default proposed by this phase's voters applies to its own
         * missing votes; REJECT wins a disagreement. */
        int proposed = 0;
        for (const auto &v : p.participants)
            if (v.voter && v.voted && v.proposedDefault != HA_GS_NULL_VOTE)
                proposed = (proposed == HA_GS_VOTE_REJECT) ? proposed : v.proposedDefault;
        if (proposed != 0)
            p.defaultVote = proposed;

        bool reject = false, cont = false, explicitReject = false, defaulted = false;
        uint32_t summary = 0;
        std::vector<ProviderId> late;
        for (const auto &v : p.participants) {
            if (!v.voter)
                continue;
            int vote = v.vote;
            if (!v.voted) {
                vote = p.defaultVote;
                defaulted = true;
                summary |= vote == HA_GS_VOTE_REJECT ? HA_GS_DEFAULT_REJECT : HA_GS_DEFAULT_APPROVE;
                if (v.member.alive) {
                    late.push_back(v.member.id);
                    summary |= HA_GS_TIME_LIMIT_EXCEEDED;
                } else {
                    summary |= HA_GS_PROVIDER_FAILED;
                }
            } else if (vote == HA_GS_VOTE_REJECT) {
                explicitReject = true;
            }
            reject = reject || vote == HA_GS_VOTE_REJECT;
            cont = cont || vote == HA_GS_VOTE_CONTINUE;
        }
        if (explicitReject)
            summary |= HA_GS_EXPLICIT_REJECT;
        if (!reject && !cont && !defaulted)
            summary |= HA_GS_EXPLICIT_APPROVE;

        /* Riders: the earliest participant's state value and message win. */
        for (const auto &v : p.participants)
            if (v.voted && v.stateProposal) {
                p.proposedState = v.stateProposal;
                break;
            }
        /* The last phase's rider went out with this phase's notification:
         * only this phase's riders ride on the next one. */
        p.riderMessage.reset();
        for (const auto &v : p.participants)
            if (v.voted && v.messageProposal) {
                p.riderMessage = v.messageProposal;
                break;
            }

        summary |= deactivateSummary(p, p.phase);
        p.phaseSummary = summary;
        p.accumulated |= summary & (HA_GS_TIME_LIMIT_EXCEEDED | HA_GS_PROVIDER_FAILED |
                                    HA_GS_DEACTIVATE_SUCCESSFUL | HA_GS_DEACTIVATE_UNSUCCESSFUL |
                                    HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED);

        if (!late.empty())
            notify(liveParticipants(p), AnnouncementNote{HA_GS_TIME_LIMIT_EXCEEDED, late});

        if (reject && !p.forced) {
            finish(g, false);
        } else if (cont && !reject) {
            ++p.phase;
            startPhase(g);
        } else {
            approve(g);
        }
    }

    static std::vector<Recipient> liveParticipants(const Protocol &p)
    {
        std::vector<Recipient> to;
        for (const auto &part : p.participants)
            if (part.member.alive)
                to.push_back({part.member.client, part.member.token, false});
        return to;
    }

    /* Ends the running protocol: approved or rejected. */
    void finish(Group &g, bool approved)
    {
        const std::string name = g.name;
        Protocol p = std::move(*g.running);
        g.running.reset();
        /* Scripts that ran after the voting (approve()) add their outcome. */
        stateMemory -= p.heldBytes;
        uint32_t summary = p.phaseSummary | p.accumulated;
        for (const auto &d : p.deactivations)
            summary |= d.outcome;
        if (approved)
            applyApproved(g, p, summary);
        else
            applyRejected(g, p, summary);
        /* After the cascades the outcome started (it may dissolve g). */
        schedule(Cascade::Kind::StartNext, name);
    }

    bool isChanging(const Protocol &p, Token token) const
    {
        return std::any_of(p.changing.begin(), p.changing.end(),
                           [&](const Member &m) { return m.token == token; });
    }

    void applyApproved(Group &g, Protocol &p, uint32_t summary)
    {
        bool stateChanged = p.proposedState.has_value();
        if (stateChanged)
            setState(g, *p.proposedState);
        if (p.proposedAttributes)
            g.attributes = *p.proposedAttributes;

        if (p.type == HA_GS_JOIN) {
            for (const auto &j : p.changing) {
                g.members.push_back(j);
                if (auto t = tokens.find(j.token); t != tokens.end())
                    t->second.state = ProviderState::Member;
            }
        } else if (p.removes()) {
            std::erase_if(g.members, [&](const Member &m) { return isChanging(p, m.token); });
            /* Queued failure leaves of removed providers are moot now. */
            std::erase_if(g.queue, [&](const QueuedChange &q) {
                return q.kind == QueuedKind::FailureLeave && isChanging(p, q.provider.token);
            });
        }
        bool dissolves = g.members.empty() && !g.hasQueuedJoins();
        if (dissolves)
            summary |= HA_GS_GROUP_DISSOLVED;

        std::vector<Recipient> to;
        for (const auto &part : p.participants)
            if (part.member.alive)
                to.push_back({part.member.client, part.member.token,
                              p.removes() && isChanging(p, part.member.token)});
        Proposal prop = proposalOf(p);
        /* The changes now in force: the membership after this protocol, the
         * one subscribers are told too (n-phase and rejected notifications
         * keep the membership the proposal was made against). */
        prop.currentProviders = idsOf(g.members);
        notifyOutcome(std::move(to), ApprovedNote{p.type, summary, std::move(prop)});
        if (p.removes())
            for (const auto &c : p.changing)
                eraseToken(c.token); /* no-op for providers already gone */

        notifySubscribers(g, p, stateChanged);
        if (stateChanged)
            queueReflections(g);
        if (dissolves) /* after the reflections just scheduled */
            schedule(Cascade::Kind::Dissolve, g.name);
    }

    void applyRejected(Group &g, Protocol &p, uint32_t summary)
    {
        std::vector<Recipient> to;
        for (const auto &part : p.participants)
            if (part.member.alive)
                to.push_back(
                    {part.member.client, part.member.token, p.type == HA_GS_JOIN && part.joiner});
        notifyOutcome(std::move(to), RejectedNote{p.type, summary, proposalOf(p)});
        if (p.type == HA_GS_JOIN) {
            for (const auto &j : p.changing) {
                eraseToken(j.token);
                /* A joiner that died during its rejected join never became a member. */
                std::erase_if(g.queue, [&](const QueuedChange &q) {
                    return q.kind == QueuedKind::FailureLeave && q.provider.token == j.token;
                });
            }
            dissolveIfEmpty(g);
        }
    }

    void notifySubscribers(const Group &g, const Protocol &p, bool stateChanged)
    {
        if (g.subscribers.empty())
            return;
        uint32_t deltaFlag = 0;
        if (p.type == HA_GS_JOIN)
            deltaFlag = HA_GS_SUBSCRIPTION_DELTA_JOIN;
        else if (p.removes())
            deltaFlag = HA_GS_SUBSCRIPTION_DELTA_LEAVE;
        /* One body per distinct combination of flags: fan-out shares it. */
        std::map<uint32_t, std::vector<Recipient>> byType;
        for (const auto &[token, control] : g.subscribers) {
            uint32_t type = 0;
            if (deltaFlag && (control & deltaFlag))
                type |= deltaFlag;
            if (deltaFlag && (control & HA_GS_SUBSCRIBE_MEMBERSHIP))
                type |= HA_GS_SUBSCRIPTION_MEMBERSHIP;
            if (stateChanged && (control & HA_GS_SUBSCRIBE_STATE))
                type |= HA_GS_SUBSCRIPTION_STATE;
            if (type != 0)
                byType[type].push_back({tokens.at(token).client, token, false});
        }
        for (auto &[type, to] : byType) {
            SubscriptionNote note;
            note.type = type;
            if (type & (HA_GS_SUBSCRIPTION_DELTA_JOIN | HA_GS_SUBSCRIPTION_DELTA_LEAVE))
                note.changingMembership = idsOf(p.changing);
            if (type & HA_GS_SUBSCRIPTION_MEMBERSHIP)
                note.fullMembership = idsOf(g.members);
            if (type & HA_GS_SUBSCRIPTION_STATE)
                note.state = g.state;
            notify(std::move(to), std::move(note));
        }
    }

    void queueReflections(const Group &source)
    {
        auto it = targetsOf.find(source.name);
        if (it == targetsOf.end())
            return;
        for (const auto &target : it->second) {
            auto g = groups.find(target);
            if (g == groups.end())
                continue;
            QueuedChange q;
            q.kind = QueuedKind::Reflection;
            q.sourceState = source.state;
            stateMemory += q.sourceState.size();
            g->second.queue.push_back(std::move(q));
            schedule(Cascade::Kind::StartNext, target);
        }
    }

    void dissolveIfEmpty(Group &g)
    {
        if (g.members.empty() && g.queue.empty() && !g.running)
            dissolve(g);
    }

    /* The group is gone: tell subscribers, cast out its targets, forget it. */
    void dissolve(Group &g)
    {
        std::vector<Recipient> to;
        for (const auto &[token, control] : g.subscribers)
            to.push_back({tokens.at(token).client, token, true});
        notify(std::move(to), SubscriptionNote{HA_GS_SUBSCRIPTION_DISSOLVED, {}, {}, {}});
        for (const auto &[token, control] : g.subscribers)
            eraseToken(token);

        std::string name = g.name;
        std::string source = g.attributes.sourceGroupName;
        std::set<std::string> targets;
        if (auto t = targetsOf.find(name); t != targetsOf.end()) {
            targets = std::move(t->second);
            targetsOf.erase(t);
        }
        if (!source.empty()) {
            auto s = targetsOf.find(source);
            if (s != targetsOf.end()) {
                s->second.erase(name);
                if (s->second.empty())
                    targetsOf.erase(s);
            }
            rechargeGroup(source); /* one target fewer to reserve copies for */
        }
        stateMemory -= g.state.size();
        for (const auto &q : g.queue)
            stateMemory -= q.sourceState.size();
        groups.erase(name); /* g is dangling from here on */

        for (const auto &target : targets) {
            auto tg = groups.find(target);
            if (tg == groups.end())
                continue;
            QueuedChange q;
            q.kind = QueuedKind::CastOut;
            tg->second.queue.push_back(std::move(q));
            schedule(Cascade::Kind::StartNext, target);
        }
    }

    std::string invariants() const;
};

/* ---- invariants ------------------------------------------------------- */

std::string Engine::Impl::invariants() const
{
    std::ostringstream err;
    uint64_t memory = 0;
    for (const auto &[token, info] : tokens) {
        auto c = clients.find(info.client);
        if (c == clients.end()) {
            err << "token " << token << " of unknown client";
            return err.str();
        }
        const auto &map = info.provider ? c->second.providerOf : c->second.subscriberOf;
        auto m = map.find(info.group);
        if (m == map.end() || m->second != token) {
            err << "token " << token << " missing from its client's table";
            return err.str();
        }
        if (!groups.count(info.group)) {
            err << "token " << token << " names missing group " << info.group;
            return err.str();
        }
    }
    if (tokens.size() > config.limits.maxTokens)
        return "over the limit of tokens of all clients";
    for (const auto &[id, rec] : clients) {
        if (rec.tokenCount() > config.limits.maxGroupsPerClient)
            return "client over its groups limit";
        for (const auto *map : {&rec.providerOf, &rec.subscriberOf})
            for (const auto &[group, token] : *map)
                if (!tokens.count(token))
                    return "client table names a dead token";
    }
    for (const auto &[name, g] : groups) {
        memory += g.state.size();
        std::set<ProviderId> ids;
        for (const auto &m : g.members) {
            if (!ids.insert(m.id).second)
                return "duplicate provider id in group " + name;
            auto t = tokens.find(m.token);
            if (m.alive) {
                if (t == tokens.end() || t->second.state != ProviderState::Member ||
                    !(t->second.id == m.id))
                    return "live member without a member token in group " + name;
            } else {
                if (t != tokens.end())
                    return "dead member still has a token in group " + name;
                bool queued =
                    std::any_of(g.queue.begin(), g.queue.end(), [&](const QueuedChange &q) {
                        return q.kind == QueuedKind::FailureLeave && q.provider.token == m.token;
                    });
                bool leaving = g.running && g.running->removes() &&
                               std::any_of(g.running->changing.begin(), g.running->changing.end(),
                                           [&](const Member &c) { return c.token == m.token; });
                if (!queued && !leaving)
                    return "dead member with no failure leave in group " + name;
            }
        }
        if (g.members.size() > config.limits.maxProvidersPerGroup)
            return "group over its providers limit: " + name;
        if (g.members.empty() && !g.running && g.queue.empty())
            return "empty idle group not dissolved: " + name;
        const bool exists = !g.members.empty() || g.running || g.hasQueuedJoins();
        if (!exists && !g.subscribers.empty())
            return "subscribers of a group with no providers: " + name;
        for (const auto &[token, control] : g.subscribers) {
            auto t = tokens.find(token);
            if (t == tokens.end() || t->second.provider || t->second.group != name)
                return "subscriber token mismatch in group " + name;
        }
        for (const auto &q : g.queue)
            memory += q.sourceState.size();
        if (g.running) {
            const Protocol &p = *g.running;
            const size_t targets = targetsOf.count(name) ? targetsOf.at(name).size() : 0;
            if (p.heldBytes != protocolBytes(p, targets))
                return "running protocol's held bytes are out of date in group " + name;
            memory += p.heldBytes;
            if (p.phase < 1)
                return "protocol phase 0 in group " + name;
            bool timerOk =
                p.timer == 0 ? true : (timers.count(p.timer) && timers.at(p.timer) == name);
            if (!timerOk)
                return "running protocol's timer is not registered in group " + name;
            if (p.nPhase && p.timer == 0)
                return "n-phase protocol without a timer in group " + name;
            if ((p.type == HA_GS_FAILURE_LEAVE || p.type == HA_GS_CAST_OUT) && !p.forced)
                return "a failure leave or cast-out that could be rejected in group " + name;
            if (p.type == HA_GS_CAST_OUT &&
                p.nPhase != (g.attributes.sourceReflectionNumPhases == HA_GS_N_PHASE))
                return "cast-out phases unlike the source-reflection phases in group " + name;
            if (p.approving && (p.timer == 0 || !p.deactivating()))
                return "approved expel waits without a running script or timer in group " + name;
            for (const auto &d : p.deactivations) {
                auto r = deactivateRuns.find(d.run);
                if ((d.outcome == 0) != (r != deactivateRuns.end() && r->second == name))
                    return "deactivate run registered unlike its state in group " + name;
            }
        }
        for (const auto &q : g.queue)
            if (q.kind == QueuedKind::Join) {
                auto t = tokens.find(q.provider.token);
                if (t == tokens.end() || t->second.state != ProviderState::Queued)
                    return "queued join without a queued token in group " + name;
            }
    }
    for (const auto &[timer, name] : timers) {
        auto g = groups.find(name);
        if (g == groups.end() || !g->second.running || g->second.running->timer != timer)
            return "stale timer registered";
    }
    for (const auto &entry : deactivateRuns) {
        const DeactivateId run = entry.first;
        auto g = groups.find(entry.second);
        if (g == groups.end() || !g->second.running ||
            std::none_of(g->second.running->deactivations.begin(),
                         g->second.running->deactivations.end(),
                         [run](const Deactivation &d) { return d.run == run && d.outcome == 0; }))
            return "stale deactivate run registered";
    }
    if (memory != stateMemory)
        return "state memory accounting is off";
    return {};
}

/* ---- public surface -------------------------------------------------- */

Engine::Engine(EngineConfig config) : impl_(std::make_unique<Impl>())
{
    impl_->config = config;
}

Engine::~Engine() = default;

void Engine::process(const Event &event, std::vector<Action> &out)
{
    impl_->out = &out;
    std::visit(
        [this](const auto &e) {
            using E = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<E, ClientHello>)
                impl_->onHello(e);
            else if constexpr (std::is_same_v<E, ClientRequest>)
                impl_->onRequest(e);
            else if constexpr (std::is_same_v<E, ClientGone>)
                impl_->onGone(e.client);
            else if constexpr (std::is_same_v<E, ClientUnresponsive>)
                impl_->onUnresponsive(e.client);
            else if constexpr (std::is_same_v<E, DeactivateFinished>)
                impl_->onDeactivateFinished(e);
            else if constexpr (std::is_same_v<E, NodeGone>)
                impl_->onNodeGone(e.node);
            else
                impl_->onTimer(e.timer);
        },
        event);
    impl_->runCascades();
    impl_->out = nullptr;
}

int16_t Engine::nodeNumber() const
{
    return impl_->config.nodeNumber;
}

std::vector<std::string> Engine::groupNames() const
{
    std::vector<std::string> names;
    for (const auto &[name, g] : impl_->groups)
        names.push_back(name);
    return names;
}

std::optional<GroupView> Engine::group(const std::string &name) const
{
    auto it = impl_->groups.find(name);
    if (it == impl_->groups.end())
        return std::nullopt;
    const Group &g = it->second;
    GroupView v;
    v.name = g.name;
    v.attributes = g.attributes;
    for (const auto &m : g.members)
        v.members.push_back({m.id, m.client, m.token});
    v.state = g.state;
    v.protocolRunning = g.running.has_value();
    v.runningProtocol = g.running ? g.running->type : 0;
    v.phase = g.running ? g.running->phase : 0;
    v.queuedMembershipChanges = static_cast<size_t>(std::count_if(
        g.queue.begin(), g.queue.end(), [](const QueuedChange &q) { return q.isMembership(); }));
    v.subscribers = g.subscribers.size();
    return v;
}

size_t Engine::clientCount() const
{
    return impl_->clients.size();
}

uint64_t Engine::stateMemory() const
{
    return impl_->stateMemory;
}

std::string Engine::checkInvariants() const
{
    return impl_->invariants();
}

} // namespace gs
