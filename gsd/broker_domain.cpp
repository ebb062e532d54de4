/* SPDX-License-Identifier: MIT */
/*
 * The broker as the holder of a replica of the domain (gsd/domain_host.hpp):
 * the state blob a joiner loads, the digest replicas compare, and the two
 * transitions that open and close the GSAPI door (contract.md §6.4, §6.6).
 */
#include "gsd/broker_impl.hpp"

#include "gsd/broker_state.hpp"

#include "ha_gs.h"

#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace gs {

using broker::Clock;

namespace {

const char *describe(Unsync why)
{
    switch (why) {
    case Unsync::QuorumLost:
        return "this node's membership lost quorum";
    case Unsync::CorosyncLost:
        return "the local Corosync went away";
    case Unsync::Diverged:
        return "its state differed from the domain's (it re-syncs)";
    case Unsync::Merged:
        return "it met another side of the domain that had gone on without it (it re-syncs)";
    }
    return "unknown";
}

std::string describe(const cmm::NodeConfig &row)
{
    std::string attributes;
    const auto add = [&](bool set, const char *name) {
        if (set)
            attributes += attributes.empty() ? name : fmt::format(",{}", name);
    };
    add(row.eligible, "eligible");
    add(row.frozen, "frozen");
    add(row.excluded, "excluded");
    add(row.disqualified, "disqualified");
    add(row.synchroNeeded, "synchro_needed");
    return fmt::format("{} {} {} {} addr={} swload={}", row.id, row.domain, row.name,
                       attributes.empty() ? "-" : attributes, row.address, row.softwareLoad);
}

/* The differences between the domain's CMM node table and this gsd's, one
 * text per row that differs. */
std::vector<std::string> tableDifferences(const cmm::NodeTable &domain, const cmm::NodeTable &own)
{
    std::vector<std::string> out;
    const auto find = [](const cmm::NodeTable &table, cmm_nodeid_t id) -> const cmm::NodeConfig * {
        for (const cmm::NodeConfig &row : table)
            if (row.id == id)
                return &row;
        return nullptr;
    };
    for (const cmm::NodeConfig &row : domain) {
        const cmm::NodeConfig *mine = find(own, row.id);
        if (!mine)
            out.push_back(fmt::format("cmm node {}: domain '{}', this gsd has no such node", row.id,
                                      describe(row)));
        else if (!(*mine == row))
            out.push_back(fmt::format("cmm node {}: domain '{}', this gsd '{}'", row.id,
                                      describe(row), describe(*mine)));
    }
    for (const cmm::NodeConfig &row : own)
        if (!find(domain, row.id))
            out.push_back(fmt::format("cmm node {}: the domain has no such node, this gsd '{}'",
                                      row.id, describe(row)));
    return out;
}

void compareLimit(std::vector<std::string> &out, const char *option, uint64_t domain, uint64_t own)
{
    if (domain != own)
        out.push_back(fmt::format("{}: domain {}, this gsd {}", option, domain, own));
}

} // namespace

std::string Broker::Impl::snapshotState() const
{
    broker::DomainState state;
    state.engine = engine.snapshot();
    state.cmm = cmmEngine.snapshot();
    state.timeLimitCeiling = HA_GS_TIME_LIMIT_CEILING;
    state.nextSerial = nextSerialOf;
    const auto now = Clock::now();
    for (const StartTimer &timer : engine.runningTimers()) {
        uint32_t ms = static_cast<uint32_t>(std::max(timer.seconds, 0)) * 1000u;
        if (const auto shadow = engineTimers.find(timer.timer); shadow != engineTimers.end())
            ms = static_cast<uint32_t>(std::max<int64_t>(
                0, std::chrono::ceil<std::chrono::milliseconds>(shadow->second.due - now).count()));
        else if (overdueTimers.contains(timer.timer))
            ms = 0;
        state.timerDueMs.emplace(timer.timer, ms);
    }
    return broker::encodeDomainState(state);
}

void Broker::Impl::restoreState(std::string_view blob)
{
    broker::DomainState state = broker::decodeDomainState(blob);
    /* Everything is checked on copies first: a refused state changes
     * nothing. */
    Engine gsapi(EngineConfig{config.limits});
    try {
        gsapi.restore(state.engine);
    } catch (const std::invalid_argument &error) {
        throw StateRefused(StateRefused::Why::Damaged,
                           std::string("the domain's GSAPI state is damaged: ") + error.what());
    }
    cmm::Engine cmm;
    try {
        cmm.restore(state.cmm);
    } catch (const std::invalid_argument &error) {
        throw StateRefused(StateRefused::Why::Damaged,
                           std::string("the domain's CMM state is damaged: ") + error.what());
    }

    /* The options that change replies are the domain's (contract.md §6.9). */
    std::vector<std::string> differences;
    const EngineLimits &domain = gsapi.limits();
    const EngineLimits &own = config.limits;
    compareLimit(differences, "max-groups-per-client", domain.maxGroupsPerClient,
                 own.maxGroupsPerClient);
    compareLimit(differences, "max-providers-per-group", domain.maxProvidersPerGroup,
                 own.maxProvidersPerGroup);
    compareLimit(differences, "max-tokens", domain.maxTokens, own.maxTokens);
    compareLimit(differences, "max-clients", domain.maxClients, own.maxClients);
    compareLimit(differences, "max-state-memory", domain.maxStateMemory, own.maxStateMemory);
    if (state.timeLimitCeiling != HA_GS_TIME_LIMIT_CEILING)
        differences.push_back(fmt::format("time-limit ceiling: domain {} s, this gsd {} s",
                                          state.timeLimitCeiling, HA_GS_TIME_LIMIT_CEILING));
    /* The table alone is checked by replayed(), against the table in force
     * once the inputs that followed the cut are in: a reload among them may
     * make it this gsd's (an operator edits every node's file, then
     * reloads on the master). Refused for other reasons, the table's
     * differences are named too. */
    if (!differences.empty()) {
        const std::vector<std::string> table = cmmTableDifferences(cmm.table());
        differences.insert(differences.end(), table.begin(), table.end());
        refuseIfDifferent(differences);
    }

    /* Taken. Nothing below throws on a state the copies took. */
    cancelShadowTimers();
    engine.restore(state.engine);
    cmmEngine = std::move(cmm);
    nextSerialOf = std::move(state.nextSerial);
    /* A gsd that restarted goes on after its previous run's clients. */
    if (const auto next = nextSerialOf.find(config.nodeNumber); next != nextSerialOf.end())
        nextClientSerial = std::max(nextClientSerial, next->second);
    armShadowTimers(state.timerDueMs);
    spdlog::info("loaded the domain's state: {} groups, {} timers running",
                 engine.groupNames().size(), engineTimers.size());
}

void Broker::Impl::replayed()
{
    refuseIfDifferent(cmmTableDifferences(cmmEngine.table()));
}

std::vector<std::string> Broker::Impl::cmmTableDifferences(const cmm::NodeTable &domain) const
{
    try {
        return tableDifferences(domain, loadCmmNodes());
    } catch (const BrokerError &error) {
        return {fmt::format("cmm node table: this gsd cannot read its own ({})", error.what())};
    }
}

void Broker::Impl::refuseIfDifferent(const std::vector<std::string> &differences)
{
    if (differences.empty())
        return;
    std::string text = "the domain's settings differ from this gsd's: ";
    for (size_t i = 0; i < differences.size(); ++i)
        text += (i ? "; " : "") + differences[i];
    throw StateRefused(StateRefused::Why::Settings, text);
}

void Broker::Impl::entered(const std::vector<uint32_t> &nodes)
{
    /* The others were told of the joiners' entries (their NodeUp) before
     * the state was taken, so the state already holds them: the local
     * clients get the same notifications now, after VALID_CLUSTER if they
     * had been told the node was out, and before what the inputs replayed
     * after the cut bring (cmm-api.md §4.3: every node sees one sequence).
     * Within a cut no NodeUp takes a role from an earlier joiner, so each
     * joiner's role now is the one its NodeUp gave it. */
    std::vector<cmm::Notification> notes;
    observeSync(true, attaching ? "started" : "holds the domain's state");
    if (cmmToldOut) {
        cmmToldOut = false;
        notes.push_back({CMM_VALID_CLUSTER, 0});
    }
    for (const uint32_t node : nodes) {
        cmm::Member member;
        if (const cmm_error_t rc = cmmEngine.potentialInfo(node, member);
            (rc == CMM_OK || rc == CMM_EAGAIN) && !(member.sflag & CMM_OUT_OF_CLUSTER))
            notes.push_back({(member.sflag & CMM_MASTER)       ? CMM_MASTER_ELECTED
                             : (member.sflag & CMM_VICEMASTER) ? CMM_VICEMASTER_ELECTED
                                                               : CMM_MEMBER_JOINED,
                             node});
    }
    if (!notes.empty())
        notifyCmm(cmm::Outcome{CMM_OK, std::move(notes)});
}

StateDigest Broker::Impl::stateDigest() const
{
    std::string bytes;
    const auto put = [&](uint64_t value) {
        for (int i = 0; i < 8; ++i)
            bytes.push_back(static_cast<char>(value >> (8 * i)));
    };
    put(engine.digest());
    put(cmmEngine.digest());
    for (const auto &[node, serial] : nextSerialOf) {
        put(static_cast<uint16_t>(node));
        put(serial);
    }
    return digestOf(bytes);
}

void Broker::Impl::noteClientSerial(ClientId client)
{
    const uint64_t serial = clientSerial(client);
    uint64_t &next = nextSerialOf[clientNode(client)];
    next = std::max(next, serial + 1);
}

void Broker::Impl::armShadowTimers(const std::map<TimerId, uint32_t> &dueMs)
{
    const auto now = Clock::now();
    for (const StartTimer &timer : engine.runningTimers()) {
        const auto known = dueMs.find(timer.timer);
        const auto wait = known != dueMs.end()
                              ? std::chrono::milliseconds(known->second)
                              : std::chrono::milliseconds(std::max(timer.seconds, 0) * 1000);
        const auto due = now + wait;
        engineTimers[timer.timer] =
            ShadowTimer{timers.start(due, broker::EngineTimerDue{timer.timer}), due};
    }
}

void Broker::Impl::cancelShadowTimers()
{
    for (const auto &[timer, shadow] : engineTimers)
        timers.cancel(shadow.handle);
    engineTimers.clear();
    overdueTimers.clear();
}

void Broker::Impl::synced()
{
    domainSynced = true;
    if (attaching)
        spdlog::debug("this gsd holds the domain's state");
    else
        spdlog::info("this gsd holds the domain's state: GSAPI clients are admitted");
    observeSync(true, attaching ? "started" : "holds the domain's state");
    if (cmmToldOut) {
        cmmToldOut = false;
        notifyCmm(cmm::Outcome{CMM_OK, {cmm::Notification{CMM_VALID_CLUSTER, 0}}});
    }
}

void Broker::Impl::unsynced(Unsync why)
{
    const bool was = domainSynced;
    /* From here nothing is submitted: the domain has this node's departure
     * (NodeGone) at a point of its stream, or will have. */
    domainSynced = false;
    spdlog::warn("this gsd no longer holds the domain's state: {}; ending its GSAPI sessions and "
                 "refusing new ones until it has re-synchronised",
                 describe(why));
    observeSync(false, describe(why));
    const std::string reason =
        fmt::format("session ended: gsd left the domain ({})", describe(why));
    for (ClientId client : sessions.ids())
        if (const broker::Session *session = sessions.find(client);
            session && session->kind == wire::kSessionGsapi)
            endSession(client, reason, true, false);
    /* CMM changes of local clients that will never be delivered here. */
    const auto pending = std::exchange(cmmPending, {});
    for (const auto &[client, request] : pending)
        deliver(
            client,
            {wire::encode(wire::ServerMessage{wire::CmmReply{request, CMM_ENOCLUSTER, 0, 0, {}}})});
    /* Nobody waits for their outcome any more. */
    scripts.stopAll();
    cancelShadowTimers();
    /* Told as a node out of contact with its master is (contract.md §6.7):
     * stale, then invalid, until it is back. */
    if (was && !cmmToldOut) {
        cmmToldOut = true;
        notifyCmm(cmm::Outcome{
            CMM_OK,
            {cmm::Notification{CMM_STALE_CLUSTER, 0}, cmm::Notification{CMM_INVALID_CLUSTER, 0}}});
    }
    engine.restore(emptyEngineState);
    recentlyGone.clear();
    phaseOpenedAt.clear();
    cmmEngine = cmm::Engine(cmmEngine.table());
    nextSerialOf.clear();
    flushOutboxes();
}

void Broker::Impl::becameTimekeeper()
{
    spdlog::info("this gsd keeps the domain's time");
    /* Ascending ids: the order in which they were started. */
    const auto overdue = std::exchange(overdueTimers, {});
    for (TimerId timer : overdue)
        submit(Event{TimerFired{timer}});
}

} // namespace gs
