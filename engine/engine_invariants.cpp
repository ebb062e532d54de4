/* SPDX-License-Identifier: MIT */
/*
 * The engine's invariants: what must hold after every event (tests and
 * fuzzers check them after each step).
 */
#include "engine/engine_impl.hpp"

#include <sstream>

namespace gs {

std::string Engine::Impl::invariants() const
{
    std::ostringstream err;
    uint64_t memory = 0;
    /* gsd takes only positive limits: a zero one is not checked where a
     * request creates a group, so it could be exceeded. */
    if (config.limits.maxGroupsPerClient == 0 || config.limits.maxProvidersPerGroup == 0 ||
        config.limits.maxTokens == 0 || config.limits.maxClients == 0)
        return "a limit of zero";
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
        if (!groups.count(info.group) && !isHostMembership(info.group)) {
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
            for (const auto &[group, token] : *map) {
                auto t = tokens.find(token);
                if (t == tokens.end())
                    return "client table names a dead token";
                if (t->second.client != id || t->second.group != group ||
                    t->second.provider != (map == &rec.providerOf))
                    return "client table names another client's or group's token";
            }
    }
    /* Counters only move forward past what they handed out (a restored
     * state must not hand out an id twice). */
    if (nextToken < 1 || tokens.count(nextToken))
        return "next token is not free";
    if (nextTimer < 1 || (!timers.empty() && timers.rbegin()->first >= nextTimer))
        return "next timer id already handed out";
    if (nextDeactivate < 1 ||
        (!deactivateRuns.empty() && deactivateRuns.rbegin()->first >= nextDeactivate))
        return "next deactivate run id already handed out";
    for (const auto &entry : tokens) {
        /* Named copies, not structured bindings: clang before 16 cannot
         * capture those in the lambdas below. */
        const Token token = entry.first;
        const auto &info = entry.second;
        if (isHostMembership(info.group))
            continue; /* hostInvariants() */
        const Group &g = groups.at(info.group);
        if (!info.provider) {
            auto sub = g.subscribers.find(token);
            if (sub == g.subscribers.end() || sub->second != info.control)
                return "subscriber token unlike its group's record in group " + info.group;
            continue;
        }
        if (info.state == ProviderState::Queued) {
            if (std::none_of(g.queue.begin(), g.queue.end(), [&](const QueuedChange &q) {
                    return q.kind == QueuedKind::Join && q.provider.token == token;
                }))
                return "queued token without its queued join in group " + info.group;
            continue;
        }
        const bool member = std::any_of(g.members.begin(), g.members.end(), [&](const Member &m) {
            return m.token == token && m.id == info.id;
        });
        const bool joining =
            g.running && g.running->type == HA_GS_JOIN &&
            std::any_of(g.running->participants.begin(), g.running->participants.end(),
                        [&](const Participant &p) {
                            return p.joiner && p.member.token == token && p.member.id == info.id;
                        });
        if (info.state == ProviderState::Member && !member)
            return "member token without its member record in group " + info.group;
        if (info.state == ProviderState::Joining && !joining)
            return "joining token without its running join in group " + info.group;
    }
    for (const auto &[name, g] : groups) {
        if (g.name != name)
            return "group record named unlike its key: " + name;
        memory += g.state.size();
        std::set<ProviderId> ids;
        for (const auto &m : g.members) {
            if (!ids.insert(m.id).second)
                return "duplicate provider id in group " + name;
            auto t = tokens.find(m.token);
            if (alive(m)) {
                if (t == tokens.end() || t->second.state != ProviderState::Member ||
                    !(t->second.id == m.id) || t->second.client != m.client ||
                    t->second.group != name)
                    return "live member without a member token in group " + name;
            } else {
                bool queued =
                    std::any_of(g.queue.begin(), g.queue.end(), [&](const QueuedChange &q) {
                        return q.kind == QueuedKind::FailureLeave && q.provider.token == m.token &&
                               q.provider.id == m.id;
                    });
                /* Only a removal that cannot be rejected stands for its
                 * failure leave: a rejected expel leaves it a member. */
                bool leaving = g.running && g.running->forced && g.running->removes() &&
                               std::any_of(g.running->changing.begin(), g.running->changing.end(),
                                           [&](const Member &c) { return c.token == m.token; });
                if (!queued && !leaving)
                    return "dead member with no failure leave in group " + name;
            }
        }
        /* A join is counted against the limit, and its provider id must
         * be free, from the moment it is queued (join() checks both). */
        size_t providers = g.members.size();
        for (const auto &q : g.queue)
            if (q.kind == QueuedKind::Join) {
                ++providers;
                if (!ids.insert(q.provider.id).second)
                    return "duplicate provider id in group " + name;
            }
        if (g.running && g.running->type == HA_GS_JOIN)
            for (const auto &p : g.running->participants)
                if (p.joiner) {
                    ++providers;
                    if (!ids.insert(p.member.id).second)
                        return "duplicate provider id in group " + name;
                }
        if (providers > config.limits.maxProvidersPerGroup)
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
        /* Every record of a live provider names it as its token does. */
        /* groupName: clang before 16 cannot capture the structured binding. */
        auto matchesToken = [&, &groupName = name](const Member &m) {
            auto t = tokens.find(m.token);
            return t == tokens.end() || (t->second.provider && t->second.client == m.client &&
                                         t->second.id == m.id && t->second.group == groupName);
        };
        for (const auto &q : g.queue)
            if (q.isMembership() && !matchesToken(q.provider))
                return "queued change names a provider unlike its token in group " + name;
        if (g.running) {
            const Protocol &p = *g.running;
            for (const auto &c : p.changing)
                if (!matchesToken(c))
                    return "changing provider unlike its token in group " + name;
            for (const auto &c : p.participants)
                if (!matchesToken(c.member))
                    return "participant unlike its token in group " + name;
            /* What the protocol changes: a join adds its joiners, a removal
             * takes members away (applyApproved relies on both). */
            if (p.type == HA_GS_JOIN) {
                std::vector<Token> joiners;
                for (const auto &c : p.participants)
                    if (c.joiner) {
                        joiners.push_back(c.member.token);
                        /* A joiner that died becomes a member all the same,
                         * and its failure leave follows. */
                        if (!alive(c.member) &&
                            std::none_of(g.queue.begin(), g.queue.end(),
                                         [&](const QueuedChange &q) {
                                             return q.kind == QueuedKind::FailureLeave &&
                                                    q.provider.token == c.member.token &&
                                                    q.provider.id == c.member.id;
                                         }))
                            return "dead joiner with no failure leave in group " + name;
                    }
                std::vector<Token> changing;
                for (const auto &c : p.changing)
                    changing.push_back(c.token);
                if (joiners != changing || joiners.empty())
                    return "a join changing other providers than its joiners in group " + name;
            } else if (p.removes()) {
                for (const auto &c : p.changing)
                    if (std::none_of(g.members.begin(), g.members.end(),
                                     [&](const Member &m) { return m.token == c.token; }))
                        return "a removal of a provider that is not a member in group " + name;
            }
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
                if (t == tokens.end() || t->second.state != ProviderState::Queued ||
                    !(t->second.id == q.provider.id) || t->second.client != q.provider.client ||
                    t->second.group != name)
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
    return hostInvariants();
}

} // namespace gs
