/* SPDX-License-Identifier: MIT */
/*
 * The protocol engine. docs/architecture.md ("The engine") is the prose
 * version of the rules implemented here; keep the two in step.
 *
 * Determinism: only ordered containers are iterated, tokens and timer ids
 * come from counters, and nothing reads a clock.
 */
#include "engine/engine_impl.hpp"

namespace gs {

/* ---- public surface -------------------------------------------------- */

Engine::Engine(EngineConfig config) : impl_(std::make_unique<Impl>())
{
    impl_->config = config;
}

Engine::~Engine() = default;

void Engine::process(const Event &event, std::vector<Action> &out, std::vector<Observation> &seen)
{
    impl_->observationSink = &seen;
    process(event, out);
    impl_->observationSink = nullptr;
}

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
            else if constexpr (std::is_same_v<E, NodeJoined>)
                impl_->onNodeJoined(e.node);
            else
                impl_->onTimer(e.timer);
        },
        event);
    impl_->runCascades();
    impl_->out = nullptr;
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
    for (const auto &[token, control] : g.subscribers)
        v.subscriberList.push_back({token, impl_->tokens.at(token).client, control});
    for (const auto &q : g.queue) {
        QueuedView queued;
        queued.kind = static_cast<QueuedView::Kind>(q.kind);
        if (q.kind == QueuedKind::Join || q.kind == QueuedKind::FailureLeave)
            queued.provider = observed(q.provider);
        v.queue.push_back(std::move(queued));
    }
    if (g.running) {
        const Protocol &p = *g.running;
        ProtocolView pv;
        pv.type = p.type;
        pv.nPhase = p.nPhase;
        pv.phase = p.phase;
        pv.timeLimit = p.timeLimit;
        pv.timer = p.timer;
        pv.approving = p.approving;
        pv.proposedState = p.proposedState;
        for (const auto &c : p.changing)
            pv.changing.push_back(observed(c));
        for (const auto &part : p.participants)
            pv.participants.push_back({observed(part.member), part.joiner,
                                       part.voter && impl_->alive(part.member), part.voted,
                                       part.vote});
        v.protocol = std::move(pv);
    }
    return v;
}

std::vector<int16_t> Engine::hosts() const
{
    return {impl_->hosts.begin(), impl_->hosts.end()};
}

size_t Engine::clientCount() const
{
    return impl_->clients.size();
}

std::map<ClientId, size_t> Engine::clientTokens() const
{
    std::map<ClientId, size_t> counts;
    for (const auto &[client, record] : impl_->clients)
        counts[client] = record.tokenCount();
    return counts;
}

bool Engine::tokenAlive(Token token) const
{
    return impl_->tokens.count(token) != 0;
}

uint64_t Engine::stateMemory() const
{
    return impl_->stateMemory;
}

std::vector<StartTimer> Engine::runningTimers() const
{
    std::vector<StartTimer> running;
    for (const auto &[timer, name] : impl_->timers) {
        const auto g = impl_->groups.find(name);
        if (g != impl_->groups.end() && g->second.running && g->second.running->timer == timer)
            running.push_back(StartTimer{timer, g->second.running->timeLimit});
    }
    return running;
}

std::string Engine::checkInvariants() const
{
    return impl_->invariants();
}

} // namespace gs
