/* SPDX-License-Identifier: MIT */
/*
 * Running a protocol: queued changes start in order, phases collect votes,
 * an outcome is approved or rejected and told to providers and subscribers,
 * and the cascades an outcome starts run after the event.
 */
#include "engine/engine_impl.hpp"

#include "engine/validate.hpp"

namespace gs {

namespace engine_detail {

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

} // namespace engine_detail

void Engine::Impl::notify(std::vector<Recipient> recipients, NoteBody body)
{
    if (recipients.empty())
        return;
    out->push_back(
        Notify{std::move(recipients), std::make_shared<const NoteBody>(std::move(body))});
}

/* Protocol outcomes are emitted even with nobody to tell (all providers
 * gone): the outcome is an event in its own right, which gsd logs and
 * tests observe. */
void Engine::Impl::notifyOutcome(std::vector<Recipient> recipients, NoteBody body)
{
    out->push_back(
        Notify{std::move(recipients), std::make_shared<const NoteBody>(std::move(body))});
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
void Engine::Impl::schedule(Cascade::Kind kind, const std::string &group)
{
    scheduled.push_back(Cascade{kind, group});
}

/* Moves the steps just scheduled onto the stack, first on top. */
void Engine::Impl::stackScheduled()
{
    pending.insert(pending.end(), std::make_move_iterator(scheduled.rbegin()),
                   std::make_move_iterator(scheduled.rend()));
    scheduled.clear();
}

void Engine::Impl::runCascades()
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

size_t Engine::Impl::targetCount(const std::string &source) const
{
    auto it = targetsOf.find(source);
    return it == targetsOf.end() ? 0 : it->second.size();
}

/* Brings the running protocol's share of stateMemory up to date. */
void Engine::Impl::recharge(Group &g)
{
    if (!g.running)
        return;
    const uint64_t bytes = protocolBytes(*g.running, targetCount(g.name));
    stateMemory = stateMemory - g.running->heldBytes + bytes;
    g.running->heldBytes = bytes;
}

void Engine::Impl::rechargeGroup(const std::string &name)
{
    if (auto it = groups.find(name); it != groups.end())
        recharge(it->second);
}

void Engine::Impl::setState(Group &g, Bytes value)
{
    stateMemory = stateMemory - g.state.size() + value.size();
    g.state = std::move(value);
}

void Engine::Impl::onTimer(TimerId timer)
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

void Engine::Impl::onDeactivateFinished(const DeactivateFinished &e)
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

Protocol Engine::Impl::newProtocol(Group &g, int type, int numPhases, int timeLimit)
{
    Protocol p;
    p.type = type;
    p.nPhase = numPhases == HA_GS_N_PHASE;
    p.timeLimit = effectiveTimeLimit(timeLimit);
    p.defaultVote = g.attributes.defaultVote;
    p.currentProviders = idsOf(g.members);
    p.oldState = g.state;
    for (const auto &m : g.members)
        p.participants.push_back(Participant{m, false, alive(m), false, 0, 0, {}, {}});
    return p;
}

/* ---- protocol machinery ----------------------------------------- */
bool Engine::Impl::phaseComplete(const Protocol &p) const
{
    if (p.deactivating())
        return false;
    return std::all_of(p.participants.begin(), p.participants.end(), [this](const Participant &v) {
        return !v.voter || !alive(v.member) || v.voted;
    });
}

/* Starts queued membership changes (first), then other queued work,
 * until a protocol begins (finishing it schedules the next round). A
 * change that starts nothing may dissolve the group, so the group is
 * looked up again before each round. */
void Engine::Impl::startNext(Group &group)
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
            (kind == QueuedKind::FailureLeave && (g.attributes.batchControl & HA_GS_BATCH_LEAVES));
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

void Engine::Impl::beginJoin(Group &g, const std::vector<QueuedChange> &joins)
{
    Protocol p = newProtocol(g, HA_GS_JOIN, g.attributes.numPhases, g.attributes.timeLimit);
    for (const auto &q : joins) {
        p.participants.push_back(Participant{q.provider, true, true, false, 0, 0, {}, {}});
        p.changing.push_back(q.provider);
        tokens.at(q.provider.token).state = ProviderState::Joining;
    }
    begin(g, std::move(p));
}

bool Engine::Impl::beginFailureLeave(Group &g, const std::vector<QueuedChange> &leaves)
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

void Engine::Impl::beginReflection(Group &g, const Bytes &sourceState)
{
    Protocol p =
        newProtocol(g, HA_GS_SOURCE_STATE_REFLECTION, g.attributes.sourceReflectionNumPhases,
                    g.attributes.sourceReflectionTimeLimit);
    p.sourceState = sourceState;
    begin(g, std::move(p));
}

bool Engine::Impl::beginCastOut(Group &g)
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

void Engine::Impl::begin(Group &g, Protocol &&p, const Member *by)
{
    if (observationSink) {
        ProtocolProposed proposed{g.name, p.type, p.nPhase, p.timeLimit, {}, {}};
        if (by)
            proposed.by = observed(*by);
        for (const auto &c : p.changing)
            proposed.changing.push_back(observed(c));
        observe(std::move(proposed));
    }
    /* Providers being removed against their will do not vote; a cast-out
     * removes every member, who vote on it (they cannot reject it). */
    if (p.type == HA_GS_EXPEL || p.type == HA_GS_FAILURE_LEAVE)
        for (auto &part : p.participants)
            for (const auto &c : p.changing)
                if (part.member.token == c.token)
                    part.voter = false;
    bool anyVoter =
        std::any_of(p.participants.begin(), p.participants.end(),
                    [this](const Participant &v) { return v.voter && alive(v.member); });
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
void Engine::Impl::startDeactivations(Group &g)
{
    Protocol &p = *g.running;
    if (p.deactivateStarted || !p.expelInfo || p.expelInfo->deactivatePhase == 0)
        return;
    p.deactivateStarted = true;
    for (const auto &c : p.changing) {
        auto client = clients.find(c.client);
        if (!alive(c) || client == clients.end() || !client->second.deactivateScript)
            continue;
        const DeactivateId run = nextDeactivate++;
        deactivateRuns[run] = g.name;
        p.deactivations.push_back({run, p.phase, 0});
        out->push_back(
            RunDeactivate{run, c.client, g.name, c.id, p.expelInfo->deactivateFlag, p.timeLimit});
    }
}

/* The time limit passed: scripts still running count as
 * HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED and gsd kills them. */
void Engine::Impl::stopDeactivations(Protocol &p)
{
    for (auto &d : p.deactivations)
        if (d.outcome == 0) {
            d.outcome = HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED;
            deactivateRuns.erase(d.run);
            out->emplace_back(StopDeactivate{d.run});
        }
}

/* Outcomes of the scripts that ran in `phase`, as summary bits. */
uint32_t Engine::Impl::deactivateSummary(const Protocol &p, uint32_t phase)
{
    uint32_t bits = 0;
    for (const auto &d : p.deactivations)
        if (d.phase == phase)
            bits |= d.outcome;
    return bits;
}

void Engine::Impl::cancelTimer(Protocol &p)
{
    if (p.timer == 0)
        return;
    timers.erase(p.timer);
    out->emplace_back(CancelTimer{p.timer});
    p.timer = 0;
}

/* The protocol is approved. An expel whose scripts did not run yet (its
 * voting ended before its deactivate phase, or it has no phases to
 * vote in) runs them now and is approved when they have all ended, or
 * when its time limit passes. */
void Engine::Impl::approve(Group &g)
{
    Protocol &p = *g.running;
    startDeactivations(g);
    if (!p.deactivating()) {
        finish(g, true);
        return;
    }
    p.approving = true;
    /* The closed phase's riders (closePhase) are held while the scripts
     * run. */
    recharge(g);
    p.timer = nextTimer++;
    timers[p.timer] = g.name;
    out->emplace_back(StartTimer{p.timer, p.timeLimit});
}

Proposal Engine::Impl::proposalOf(const Protocol &p) const
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

void Engine::Impl::startPhase(Group &g)
{
    Protocol &p = *g.running;
    std::vector<Recipient> to;
    for (auto &part : p.participants) {
        part.voted = false;
        part.vote = 0;
        part.proposedDefault = 0;
        part.stateProposal.reset();
        part.messageProposal.reset();
        if (part.voter && alive(part.member))
            to.push_back({part.member.client, part.member.token, false});
    }
    notify(std::move(to),
           NPhaseNote{p.type, p.phase == 1 ? 0u : p.phaseSummary, p.timeLimit, proposalOf(p)});
    if (p.expelInfo && p.phase == p.expelInfo->deactivatePhase)
        startDeactivations(g);
    p.timer = nextTimer++;
    timers[p.timer] = g.name;
    out->emplace_back(StartTimer{p.timer, p.timeLimit});
    if (observationSink) {
        PhaseOpened opened{g.name, p.type, p.phase, p.timeLimit, p.timer, {}};
        for (const auto &part : p.participants)
            if (part.voter && alive(part.member))
                opened.voters.push_back(observed(part.member));
        observe(std::move(opened));
    }
    recharge(g); /* the last phase's riders are gone */
}

/* Closes the current phase: when every live voter voted, or when the
 * timer fired (only then can a live voter lack a vote). */
void Engine::Impl::closePhase(Group &g)
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
    std::vector<ObservedProvider> lateProviders;
    for (const auto &v : p.participants) {
        if (!v.voter)
            continue;
        int vote = v.vote;
        if (!v.voted) {
            vote = p.defaultVote;
            defaulted = true;
            summary |= vote == HA_GS_VOTE_REJECT ? HA_GS_DEFAULT_REJECT : HA_GS_DEFAULT_APPROVE;
            if (alive(v.member)) {
                late.push_back(v.member.id);
                lateProviders.push_back(observed(v.member));
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
    p.accumulated |=
        summary & (HA_GS_TIME_LIMIT_EXCEEDED | HA_GS_PROVIDER_FAILED | HA_GS_DEACTIVATE_SUCCESSFUL |
                   HA_GS_DEACTIVATE_UNSUCCESSFUL | HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED);

    if (!late.empty()) {
        observe(TimeLimitExceeded{g.name, p.type, p.phase, std::move(lateProviders)});
        notify(liveParticipants(p), AnnouncementNote{HA_GS_TIME_LIMIT_EXCEEDED, late});
    }

    if (reject && !p.forced) {
        finish(g, false);
    } else if (cont && !reject) {
        ++p.phase;
        startPhase(g);
    } else {
        approve(g);
    }
}

std::vector<Recipient> Engine::Impl::liveParticipants(const Protocol &p) const
{
    std::vector<Recipient> to;
    for (const auto &part : p.participants)
        if (alive(part.member))
            to.push_back({part.member.client, part.member.token, false});
    return to;
}

/* Ends the running protocol: approved or rejected. */
void Engine::Impl::finish(Group &g, bool approved)
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

bool Engine::Impl::isChanging(const Protocol &p, Token token) const
{
    return std::any_of(p.changing.begin(), p.changing.end(),
                       [&](const Member &m) { return m.token == token; });
}

void Engine::Impl::applyApproved(Group &g, Protocol &p, uint32_t summary)
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
    observeEnd(g, p, true, summary);

    std::vector<Recipient> to;
    for (const auto &part : p.participants)
        if (alive(part.member))
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

void Engine::Impl::observeEnd(const Group &g, const Protocol &p, bool approved, uint32_t summary)
{
    if (!observationSink)
        return;
    ProtocolEnded ended{g.name, p.type, approved, summary, p.nPhase ? p.phase : 1u, {}};
    for (const auto &c : p.changing)
        ended.changing.push_back(observed(c));
    observe(std::move(ended));
}

void Engine::Impl::applyRejected(Group &g, Protocol &p, uint32_t summary)
{
    observeEnd(g, p, false, summary);
    std::vector<Recipient> to;
    for (const auto &part : p.participants)
        if (alive(part.member))
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

void Engine::Impl::notifySubscribers(const Group &g, const Protocol &p, bool stateChanged)
{
    if (g.subscribers.empty())
        return;
    uint32_t deltaFlag = 0;
    if (p.type == HA_GS_JOIN)
        deltaFlag = HA_GS_SUBSCRIPTION_DELTA_JOIN;
    else if (p.removes())
        deltaFlag = HA_GS_SUBSCRIPTION_DELTA_LEAVE;
    notifySubscribers(g.subscribers, deltaFlag, idsOf(p.changing), idsOf(g.members),
                      stateChanged ? &g.state : nullptr);
}

/* What subscribers learn of one approved change, each as its control flags
 * ask: `deltaFlag` (DELTA_JOIN or DELTA_LEAVE; 0 when the membership did
 * not change) with the `changing` providers, the full `members` after it,
 * the new `state` (null when it did not change). Ordinary groups and
 * HostMembership (engine_hosts.cpp) alike. */
void Engine::Impl::notifySubscribers(const std::map<Token, uint32_t> &subscribers,
                                     uint32_t deltaFlag, const std::vector<ProviderId> &changing,
                                     const std::vector<ProviderId> &members, const Bytes *state)
{
    /* One body per distinct combination of flags: fan-out shares it. */
    std::map<uint32_t, std::vector<Recipient>> byType;
    for (const auto &[token, control] : subscribers) {
        uint32_t type = 0;
        if (deltaFlag && (control & deltaFlag))
            type |= deltaFlag;
        if (deltaFlag && (control & HA_GS_SUBSCRIBE_MEMBERSHIP))
            type |= HA_GS_SUBSCRIPTION_MEMBERSHIP;
        if (state && (control & HA_GS_SUBSCRIBE_STATE))
            type |= HA_GS_SUBSCRIPTION_STATE;
        if (type != 0)
            byType[type].push_back({tokens.at(token).client, token, false});
    }
    for (auto &[type, to] : byType) {
        SubscriptionNote note;
        note.type = type;
        if (type & (HA_GS_SUBSCRIPTION_DELTA_JOIN | HA_GS_SUBSCRIPTION_DELTA_LEAVE))
            note.changingMembership = changing;
        if (type & HA_GS_SUBSCRIPTION_MEMBERSHIP)
            note.fullMembership = members;
        if (type & HA_GS_SUBSCRIPTION_STATE)
            note.state = *state;
        notify(std::move(to), std::move(note));
    }
}

/* A new subscription's first notification: the current membership and/or
 * state, as its control flags ask (MEMBERSHIP gives the full list, else
 * DELTA_JOIN lists every current provider). */
void Engine::Impl::notifyNewSubscriber(ClientId client, Token token, uint32_t control,
                                       std::vector<ProviderId> members, const Bytes &state)
{
    SubscriptionNote note;
    if (control & HA_GS_SUBSCRIBE_MEMBERSHIP) {
        note.type |= HA_GS_SUBSCRIPTION_MEMBERSHIP;
        note.fullMembership = std::move(members);
    } else if (control & HA_GS_SUBSCRIBE_DELTA_JOIN) {
        note.type |= HA_GS_SUBSCRIPTION_DELTA_JOIN;
        note.changingMembership = std::move(members);
    }
    if (control & HA_GS_SUBSCRIBE_STATE) {
        note.type |= HA_GS_SUBSCRIPTION_STATE;
        note.state = state;
    }
    if (note.type != 0)
        notify({{client, token, false}}, std::move(note));
}

void Engine::Impl::queueReflections(const Group &source)
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

} // namespace gs
