/* SPDX-License-Identifier: MIT */
/* What operators see happen: each engine observation and what the broker
 * itself sees (a client or node gone, a node up, the domain's state held or
 * lost) goes to the log, to the metrics and, as one JSON object, to every
 * admin session streaming events (gsctl events). Names, never numbers:
 * HA_GS_COLLIDE, not 16. The JSON objects are made only while someone
 * streams. */
#include "gsd/admin_json.hpp"
#include "gsd/broker_impl.hpp"

#include "common/names.hpp"
#include "common/overloaded.hpp"
#include "ha_gs.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace gs {

using broker::Clock;
using broker::Session;
using nlohmann::json;

namespace {

constexpr size_t kMostRecentlyGone = 4096;

} // namespace

/* "provider 3 on node 1 (pid 4242)"; the pid only where it is known. */
static std::string describe(const ObservedProvider &p, std::optional<pid_t> pid)
{
    if (pid)
        return fmt::format("provider {} on node {} (pid {})", p.id.instance, p.id.node, *pid);
    return fmt::format("provider {} on node {}", p.id.instance, p.id.node);
}

bool Broker::Impl::streamWants(const std::string &group) const
{
    for (const ClientId id : streamingClients)
        if (const Session *session = sessions.find(id);
            session && (!session->streamGroup || *session->streamGroup == group))
            return true;
    return false;
}

void Broker::Impl::publish(const std::string &group, const std::string &event)
{
    /* A copy: a send that fails ends its session, which leaves the set. */
    const std::vector<ClientId> streaming(streamingClients.begin(), streamingClients.end());
    for (const ClientId id : streaming) {
        const Session *session = sessions.find(id);
        if (!session || (session->streamGroup && *session->streamGroup != group))
            continue;
        deliver(id, {wire::encode(wire::ServerMessage{wire::AdminEvent{event}})});
    }
}

void Broker::Impl::observe(const Observation &observation)
{
    const auto provider = [&](const ObservedProvider &p) {
        return admin::providerJson(p, localPid(p.client));
    };
    const auto providers = [&](const std::vector<ObservedProvider> &list) {
        json out = json::array();
        for (const auto &p : list)
            out.push_back(provider(p));
        return out;
    };
    const auto describeAll = [&](const std::vector<ObservedProvider> &list) {
        std::string out;
        for (const auto &p : list)
            out += (out.empty() ? "" : ", ") + describe(p, localPid(p.client));
        return out;
    };
    /* `fields` adds the event's own fields to it; time, node and group are
     * set here. Made only when a stream wants it. Assigned one by one: an
     * initializer list would copy every nested array once more. */
    const auto emit = [&](const std::string &group, const char *kind, auto &&fields) {
        if (!streamWants(group))
            return;
        json event = json::object();
        event["time"] = admin::timestamp();
        event["node"] = config.nodeNumber;
        event["event"] = kind;
        event["group"] = group;
        fields(event);
        publish(group, admin::text(event));
    };
    std::visit(
        Overloaded{
            [&](const GroupCreated &e) {
                spdlog::info("group '{}' created", e.group);
                emit(e.group, "group_created", [](json &) {});
            },
            [&](const GroupDissolved &e) {
                spdlog::info("group '{}' dissolved", e.group);
                emit(e.group, "group_dissolved", [](json &) {});
            },
            [&](const ProtocolProposed &e) {
                if (spdlog::should_log(spdlog::level::debug))
                    spdlog::debug("group '{}': {} proposed{}{}, {}, time limit {} s", e.group,
                                  names::request(e.type),
                                  e.by ? " by " + describe(*e.by, localPid(e.by->client)) : "",
                                  e.changing.empty() ? "" : " for " + describeAll(e.changing),
                                  e.nPhase ? "n-phase" : "one-phase", e.timeLimit);
                emit(e.group, "protocol_proposed", [&](json &event) {
                    event["protocol"] = names::request(e.type);
                    event["n_phase"] = e.nPhase;
                    event["time_limit"] = e.timeLimit;
                    event["by"] = e.by ? provider(*e.by) : json(nullptr);
                    event["changing"] = providers(e.changing);
                });
            },
            [&](const PhaseOpened &e) {
                phaseOpenedAt[e.group] = Clock::now();
                if (spdlog::should_log(spdlog::level::debug))
                    spdlog::debug("group '{}': phase {} of {} opened for {} voters, {} s", e.group,
                                  e.phase, names::request(e.type), e.voters.size(), e.timeLimit);
                emit(e.group, "phase_opened", [&](json &event) {
                    event["protocol"] = names::request(e.type);
                    event["phase"] = e.phase;
                    event["time_limit"] = e.timeLimit;
                    event["voters"] = providers(e.voters);
                });
            },
            [&](const VoteCast &e) {
                double seconds = 0;
                if (const auto opened = phaseOpenedAt.find(e.group); opened != phaseOpenedAt.end())
                    seconds = std::chrono::duration<double>(Clock::now() - opened->second).count();
                metrics.vote(e.phase, seconds);
                if (spdlog::should_log(spdlog::level::trace))
                    spdlog::trace("group '{}': {} voted {} in phase {} after {:.1f} ms", e.group,
                                  describe(e.voter, localPid(e.voter.client)), names::vote(e.vote),
                                  e.phase, seconds * 1000);
                emit(e.group, "vote", [&](json &event) {
                    event["phase"] = e.phase;
                    event["provider"] = provider(e.voter);
                    event["vote"] = names::vote(e.vote);
                    event["default_vote"] = names::vote(e.defaultVote);
                    event["latency_ms"] = seconds * 1000;
                    event["proposes_state"] = e.proposesState;
                    event["carries_message"] = e.carriesMessage;
                });
            },
            [&](const TimeLimitExceeded &e) {
                ++metrics.timeLimitsExceeded;
                spdlog::warn("group '{}': phase {} of {} exceeded its time limit: {} did not "
                             "vote (given the default vote)",
                             e.group, e.phase, names::request(e.type), describeAll(e.late));
                emit(e.group, "time_limit_exceeded", [&](json &event) {
                    event["protocol"] = names::request(e.type);
                    event["phase"] = e.phase;
                    event["late"] = providers(e.late);
                });
            },
            [&](const ProtocolEnded &e) {
                phaseOpenedAt.erase(e.group);
                metrics.protocolEnded(e.type, e.approved);
                const auto level = e.approved ? spdlog::level::debug : spdlog::level::info;
                if (spdlog::should_log(level))
                    spdlog::log(level, "group '{}': {} {} after {} phase{}: {}", e.group,
                                names::request(e.type), e.approved ? "approved" : "rejected",
                                e.phases, e.phases == 1 ? "" : "s", names::summaryText(e.summary));
                emit(e.group, e.approved ? "protocol_approved" : "protocol_rejected",
                     [&](json &event) {
                         event["protocol"] = names::request(e.type);
                         event["summary"] = names::summary(e.summary);
                         event["summary_code"] = e.summary;
                         event["phases"] = e.phases;
                         event["changing"] = providers(e.changing);
                     });
            },
        },
        observation);
}

void Broker::Impl::observeReply(const Reply &reply)
{
    if (reply.rc == HA_GS_OK)
        return;
    if (reply.rc == HA_GS_COLLIDE)
        ++metrics.collisions;
    metrics.refused(names::rc(reply.rc));
    if (isLocal(reply.client) && spdlog::should_log(spdlog::level::debug))
        if (const Session *session = sessions.find(reply.client))
            spdlog::debug("{}: request {} refused: {}", peerName(*session), reply.requestId,
                          names::rc(reply.rc));
}

void Broker::Impl::noteGoneSession(const Session &session, const std::string &reason)
{
    if (recentlyGone.size() >= kMostRecentlyGone)
        recentlyGone.erase(recentlyGone.begin());
    recentlyGone[session.id] = {session.peer.pid, reason};
}

void Broker::Impl::observeClientGone(ClientId client)
{
    ++metrics.clientsGone;
    std::optional<pid_t> pid;
    std::optional<std::string> reason;
    if (const auto it = recentlyGone.find(client); it != recentlyGone.end()) {
        pid = it->second.first;
        reason = it->second.second;
        recentlyGone.erase(it);
    }
    if (!streamWants({}))
        return;
    json event{{"time", admin::timestamp()},
               {"node", config.nodeNumber},
               {"event", "client_gone"},
               {"group", ""},
               {"client", client},
               {"client_node", clientNode(client)},
               {"pid", pid ? json(*pid) : json(nullptr)},
               {"reason", reason ? json(*reason) : json(nullptr)}};
    publish({}, admin::text(event));
}

void Broker::Impl::observeNode(int16_t node, bool up)
{
    if (!up)
        ++metrics.nodesGone;
    if (node != config.nodeNumber || !up)
        spdlog::info("node {} {} the domain", node, up ? "joined" : "left");
    if (!streamWants({}))
        return;
    json event{{"time", admin::timestamp()},
               {"node", config.nodeNumber},
               {"event", up ? "node_joined" : "node_gone"},
               {"group", ""},
               {"subject", node}};
    publish({}, admin::text(event));
}

void Broker::Impl::observeSync(bool synced, const std::string &why)
{
    if (config.serviceStatus)
        config.serviceStatus(synced,
                             synced ? fmt::format("serving {} as node {} of domain '{}'",
                                                  config.endpoint, config.nodeNumber, config.domain)
                                    : fmt::format("not serving GSAPI clients: {}; "
                                                  "re-synchronising",
                                                  why));
    if (!streamWants({}))
        return;
    json event{{"time", admin::timestamp()},
               {"node", config.nodeNumber},
               {"event", "sync"},
               {"group", ""},
               {"synced", synced},
               {"why", why}};
    publish({}, admin::text(event));
}

std::optional<pid_t> Broker::Impl::localPid(ClientId client) const
{
    if (!isLocal(client))
        return std::nullopt;
    if (const Session *session = sessions.find(client))
        return session->peer.pid;
    return std::nullopt;
}

std::optional<std::string> Broker::Impl::localName(ClientId client, Token token) const
{
    if (!isLocal(client))
        return std::nullopt;
    const Session *session = sessions.find(client);
    if (!session)
        return std::nullopt;
    const auto it = session->localNames.find(token);
    if (it == session->localNames.end())
        return std::nullopt;
    return it->second;
}

void Broker::Impl::noteLocalName(const ClientRequest &request)
{
    const auto *join = std::get_if<JoinRequest>(&request.request);
    if (!join || join->localName.empty() || !isLocal(request.client))
        return;
    Session *session = sessions.find(request.client);
    if (!session)
        return;
    for (const Action &action : actions) {
        const auto *reply = std::get_if<Reply>(&action);
        if (!reply || reply->client != request.client || reply->requestId != request.requestId)
            continue;
        if (reply->rc != HA_GS_OK)
            return;
        /* Tokens of providers that left since are forgotten now and then,
         * so a client that joins and leaves for ever holds no more than
         * its limit of names. */
        if (session->localNames.size() >= config.limits.maxGroupsPerClient)
            std::erase_if(session->localNames,
                          [&](const auto &entry) { return !engine.tokenAlive(entry.first); });
        session->localNames[reply->token] = join->localName;
        return;
    }
}

} // namespace gs
