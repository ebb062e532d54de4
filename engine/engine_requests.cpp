/* SPDX-License-Identifier: MIT */
/*
 * The engine's requests: each is validated against the group's current
 * state and answered by exactly one reply; accepted ones queue or begin a
 * protocol (engine_protocol.cpp).
 */
#include "engine/engine_impl.hpp"

#include "engine/validate.hpp"

namespace gs {

/* ---- small helpers ---------------------------------------------- */
void Engine::Impl::reply(ClientId client, RequestId id, int rc, Token token)
{
    out->push_back(Reply{client, id, rc, token});
}

Token Engine::Impl::allocateToken()
{
    Token t = nextToken++;
    if (nextToken <= 0) /* wrapped after 2^31 tokens: restart, skipping live ones */
        nextToken = 1;
    while (tokens.count(nextToken))
        ++nextToken;
    return t;
}

/* Whether a provider's proposal fits the state memory budget. An
 * n-phase proposal holds all it carries (and a copy of the current
 * state value) until its last phase ends; a one-phase proposal ends
 * within its request, and only the state value it leaves (with the
 * reflections it queues) stays. */
int Engine::Impl::budget(const Group &g, int numPhases, uint64_t carried,
                         const Bytes *newState) const
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

/* Looks up a token of `client` that must be a provider. A subscriber
 * token is "not a valid provider" as much as an unknown one: IBM
 * documents HA_GS_BAD_MEMBER_TOKEN for both. */
int Engine::Impl::providerToken(ClientId client, Token token, TokenInfo *&info)
{
    auto it = tokens.find(token);
    if (it == tokens.end() || it->second.client != client || !it->second.provider)
        return HA_GS_BAD_MEMBER_TOKEN;
    info = &it->second;
    return HA_GS_OK;
}

void Engine::Impl::eraseToken(Token token)
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
void Engine::Impl::onHello(const ClientHello &e)
{
    clients.try_emplace(e.client).first->second.deactivateScript = e.deactivateScript;
}

void Engine::Impl::onRequest(const ClientRequest &e)
{
    if (!clients.count(e.client)) {
        reply(e.client, e.requestId, HA_GS_NO_INIT);
        return;
    }
    std::visit([&](const auto &r) { handle(e.client, e.requestId, r); }, e.request);
}

/* ---- requests ---------------------------------------------------- */
void Engine::Impl::handle(ClientId client, RequestId id, const JoinRequest &r)
{
    Token token = 0;
    int rc = join(client, r, token);
    reply(client, id, rc, token);
    if (rc == HA_GS_OK)
        startNext(groups.at(r.attributes.groupName));
}

int Engine::Impl::join(ClientId client, const JoinRequest &r, Token &token)
{
    const GroupAttributes &a = r.attributes;
    if (int rc = validateGroupName(a.groupName); rc != HA_GS_OK)
        return rc;
    /* Before the attributes: the name alone decides, whatever they say. */
    if (int rc = reservedName(a); rc != HA_GS_OK)
        return rc;
    if (int rc = validateAttributes(a); rc != HA_GS_OK)
        return rc;
    if (r.instance < 0 || r.instance > 32767 || r.localName.size() > HA_GS_MAX_LOCAL_NAME_LENGTH)
        return HA_GS_BAD_PARAMETER;
    if (!a.sourceGroupName.empty()) {
        if (validateGroupName(a.sourceGroupName) != HA_GS_OK || a.sourceGroupName == a.groupName)
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

    /* The provider's node is its client's: the same on every replica. */
    const ProviderId pid{static_cast<int16_t>(r.instance), clientNode(client)};
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
        observe(GroupCreated{a.groupName});
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
    q.provider = Member{token, pid, client};
    it->second.queue.push_back(std::move(q));
    return HA_GS_OK;
}

/* Common checks of every provider-initiated proposal. */
int Engine::Impl::proposalPreamble(ClientId client, Token token, int numPhases, int timeLimit,
                                   Group *&group, TokenInfo *&info)
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

int Engine::Impl::collision(const Group &g)
{
    return (g.running || !g.queue.empty()) ? HA_GS_COLLIDE : HA_GS_OK;
}

void Engine::Impl::handle(ClientId client, RequestId id, const LeaveRequest &r)
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
    begin(*g, std::move(p), g->findMember(info->id));
}

void Engine::Impl::handle(ClientId client, RequestId id, const GoodbyeRequest &r)
{
    TokenInfo *info = nullptr;
    int rc = providerToken(client, r.token, info);
    reply(client, id, rc);
    if (rc == HA_GS_OK)
        markProviderGone(r.token, HA_GS_PROVIDER_SAID_GOODBYE);
}

int Engine::Impl::validateExpel(const Group &g, const ExpelRequest &r) const
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

void Engine::Impl::handle(ClientId client, RequestId id, const ExpelRequest &r)
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
    begin(*g, std::move(p), g->findMember(info->id));
}

void Engine::Impl::handle(ClientId client, RequestId id, const StateChangeRequest &r)
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
    begin(*g, std::move(p), g->findMember(info->id));
}

void Engine::Impl::handle(ClientId client, RequestId id, const MessageRequest &r)
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
    begin(*g, std::move(p), g->findMember(info->id));
}

void Engine::Impl::handle(ClientId client, RequestId id, const AttributeChangeRequest &r)
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
    begin(*g, std::move(p), g->findMember(info->id));
}

void Engine::Impl::handle(ClientId client, RequestId id, const VoteRequest &r)
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
    observe(VoteCast{g->name, g->running->phase, observed(voter->member), r.vote, r.defaultVote,
                     r.proposedState.has_value(), r.message.has_value()});
    recharge(*g);
    if (phaseComplete(*g->running))
        closePhase(*g);
}

/* The participant record of a voter still expected to vote now. */
Participant *Engine::Impl::currentVoter(Group &g, Token token) const
{
    if (!g.running || !g.running->nPhase || g.running->approving)
        return nullptr;
    for (auto &p : g.running->participants)
        if (p.member.token == token && p.voter && alive(p.member) && !p.voted)
            return &p;
    return nullptr;
}

void Engine::Impl::handle(ClientId client, RequestId id, const SubscribeRequest &r)
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
    if (isHostMembership(r.group)) {
        subscribeToHosts(client, token, r.control);
        return;
    }
    auto it = groups.find(r.group);
    if (it == groups.end() || it->second.members.empty()) {
        notify({{client, token, true}}, DelayedErrorNote{HA_GS_SUBSCRIPTION, HA_GS_UNKNOWN_GROUP});
        return;
    }
    Group &g = it->second;
    tokens[token] = TokenInfo{client, r.group, false, {}, ProviderState::Member, r.control};
    rec.subscriberOf[r.group] = token;
    g.subscribers[token] = r.control;
    notifyNewSubscriber(client, token, r.control, idsOf(g.members), g.state);
}

void Engine::Impl::handle(ClientId client, RequestId id, const UnsubscribeRequest &r)
{
    auto it = tokens.find(r.token);
    int rc = HA_GS_OK;
    if (it == tokens.end() || it->second.client != client || it->second.provider)
        rc = HA_GS_BAD_MEMBER_TOKEN;
    reply(client, id, rc);
    if (rc == HA_GS_OK)
        removeSubscription(r.token);
}

void Engine::Impl::removeSubscription(Token token)
{
    auto it = tokens.find(token);
    if (it == tokens.end())
        return;
    if (isHostMembership(it->second.group))
        hostSubscribers.erase(token);
    else if (auto g = groups.find(it->second.group); g != groups.end())
        g->second.subscribers.erase(token);
    eraseToken(token);
}

} // namespace gs
