/* SPDX-License-Identifier: MIT */
/*
 * Failures: a client gone (or its whole node) detaches its tokens, its
 * providers get failure leaves, and groups left without providers dissolve.
 */
#include "engine/engine_impl.hpp"

#include "engine/validate.hpp"

namespace gs {

void Engine::Impl::onGone(ClientId client)
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

/* Every client of the node goes at once, as one ClientGone each would,
 * but with every token detached before any group moves on: subscriptions
 * vanish, queued joins are withdrawn, and members get failure leaves queued
 * in ascending client id, then token order. Then each group concerned
 * moves on once, in name order; its queued failure leaves run as its batch
 * control says (startNext): all the node's providers of the group in one
 * failure leave with HA_GS_BATCH_LEAVES, else one protocol each, in the
 * order queued. (A client has at most one provider per group, so within a
 * group the order is the client ids'.) The node leaves HostMembership
 * before any of those failure leaves runs (hostGone). Clients of other
 * nodes are untouched. */
void Engine::Impl::onNodeGone(int16_t node)
{
    std::vector<std::pair<ClientId, Token>> providers;
    for (auto c = clients.begin(); c != clients.end();) {
        if (clientNode(c->first) != node) {
            ++c;
            continue;
        }
        const auto subscriptions = c->second.subscriberOf; /* copy: removal edits it */
        for (const auto &[group, token] : subscriptions)
            removeSubscription(token);
        for (const auto &[group, token] : c->second.providerOf)
            providers.emplace_back(c->first, token);
        ++c;
    }
    std::sort(providers.begin(), providers.end());
    std::set<std::string> affected;
    for (const auto &[client, token] : providers)
        affected.insert(detachProvider(token, HA_GS_PROVIDER_FAILED_LEAVE));
    std::erase_if(clients, [node](const auto &entry) { return clientNode(entry.first) == node; });
    /* HostMembership's subscribers hear of the node first: the failure
     * leaves it causes run after this handler (runCascades), in the same
     * delivery. */
    hostGone(node);
    for (const auto &name : affected)
        schedule(Cascade::Kind::Advance, name);
}

void Engine::Impl::onUnresponsive(ClientId client)
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
            if (alive(m) && m.token != token)
                to.push_back({m.client, m.token, false});
        notify(std::move(to), AnnouncementNote{HA_GS_RESPONSIVENESS_NO_RESPONSE, {info.id}});
    }
}

/* ---- failures ---------------------------------------------------- */
/* The provider behind `token` is gone (death, quit, goodbye): its token
 * dies now and a failure leave removes it from the group. */
void Engine::Impl::markProviderGone(Token token, int reason)
{
    advance(detachProvider(token, reason));
}

/* Bookkeeping of a provider that is gone: its token dies now, a queued
 * join is withdrawn, a member is marked dead with a failure leave queued,
 * and a running protocol counts it as failed. Starts nothing; returns the
 * group's name for advance(). */
std::string Engine::Impl::detachProvider(Token token, int reason)
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
    /* Its records (member, participant, changing) read as dead from here
     * on: the token is gone. */
    QueuedChange q;
    q.kind = QueuedKind::FailureLeave;
    q.provider = Member{token, info.id, info.client};
    q.reason = reason;
    g.queue.push_back(std::move(q));

    if (g.running) {
        Protocol &p = *g.running;
        for (auto &part : p.participants)
            if (part.member.token == token && part.voter && p.nPhase)
                p.accumulated |= HA_GS_PROVIDER_FAILED;
    }
    return info.group;
}

/* Lets a group move on after providers were detached: close a phase
 * nobody else has to vote in, start queued work, or dissolve a group
 * nobody finished creating. The group may be gone already. */
void Engine::Impl::advance(const std::string &name)
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

void Engine::Impl::dissolveIfEmpty(Group &g)
{
    if (g.members.empty() && g.queue.empty() && !g.running)
        dissolve(g);
}

/* The group is gone: tell subscribers, cast out its targets, forget it. */
void Engine::Impl::dissolve(Group &g)
{
    std::vector<Recipient> to;
    for (const auto &[token, control] : g.subscribers)
        to.push_back({tokens.at(token).client, token, true});
    notify(std::move(to), SubscriptionNote{HA_GS_SUBSCRIPTION_DISSOLVED, {}, {}, {}});
    for (const auto &[token, control] : g.subscribers)
        eraseToken(token);

    std::string name = g.name;
    observe(GroupDissolved{name});
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

} // namespace gs
