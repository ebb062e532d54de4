/* SPDX-License-Identifier: MIT */
/* gsctl's queries: the documents an admin session asks for, built from this
 * node's replica of the domain's state and its own sessions. What only a
 * client's own node knows (its pid, uid, queue and the local names of its
 * providers) is null for the clients of other nodes; docs/wire-protocol.md,
 * "Admin sessions", lists the documents. */
#include "gsd/admin_json.hpp"
#include "gsd/broker_impl.hpp"

#include "common/names.hpp"
#include "ha_gs.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace gs {

using broker::Clock;
using broker::Session;
using nlohmann::json;

namespace {

const char *kindName(int kind)
{
    switch (kind) {
    case wire::kSessionGsapi:
        return "gsapi";
    case wire::kSessionCmm:
        return "cmm";
    case wire::kSessionAdmin:
        return "admin";
    }
    return "unknown";
}

const char *queuedName(QueuedView::Kind kind)
{
    switch (kind) {
    case QueuedView::Kind::Join:
        return "join";
    case QueuedView::Kind::FailureLeave:
        return "failure_leave";
    case QueuedView::Kind::Reflection:
        return "reflection";
    case QueuedView::Kind::CastOut:
        return "cast_out";
    }
    return "unknown";
}

json attributesJson(const GroupAttributes &a)
{
    return json{
        {"version", a.version},
        {"client_version", a.clientVersion},
        {"batch_control", a.batchControl},
        {"num_phases", a.numPhases == HA_GS_N_PHASE ? "n" : "1"},
        {"source_reflection_num_phases", a.sourceReflectionNumPhases == HA_GS_N_PHASE ? "n" : "1"},
        {"default_vote", names::vote(a.defaultVote)},
        {"merge_control", a.mergeControl},
        {"time_limit", a.timeLimit},
        {"source_reflection_time_limit", a.sourceReflectionTimeLimit},
        {"source_group", a.sourceGroupName.empty() ? json(nullptr) : json(a.sourceGroupName)}};
}

std::string roleOf(uint32_t sflag)
{
    if (sflag & CMM_MASTER)
        return "master";
    if (sflag & CMM_VICEMASTER)
        return "vice_master";
    if (sflag & CMM_OUT_OF_CLUSTER)
        return "out";
    return "in";
}

} // namespace

void Broker::Impl::onAdminRequest(Session &session, const wire::AdminReq &request)
{
    wire::AdminReply reply{request.id, HA_GS_OK, {}};
    /* Every query is answered, whatever goes wrong making the answer. */
    try {
        answerAdmin(session, request, reply);
    } catch (const std::exception &error) {
        spdlog::error("{}: cannot answer the admin query '{}': {}", peerName(session),
                      request.query, error.what());
        reply.rc = HA_GS_NOT_OK;
        reply.text = std::string("gsd could not make the answer: ") + error.what();
    }
    deliver(session.id, {wire::encode(wire::ServerMessage{std::move(reply)})});
}

void Broker::Impl::answerAdmin(Session &session, const wire::AdminReq &request,
                               wire::AdminReply &reply)
{
    const std::string &q = request.query;
    if (q == "groups") {
        reply.text = adminGroups();
    } else if (q == "group") {
        reply.text = request.group ? adminGroup(*request.group) : std::string();
        if (reply.text.empty()) {
            reply.rc = HA_GS_UNKNOWN_GROUP;
            reply.text = request.group ? "no group '" + *request.group + "'"
                                       : std::string("the query 'group' needs a group name");
        }
    } else if (q == "clients") {
        reply.text = adminClients();
    } else if (q == "nodes") {
        reply.text = adminNodes();
    } else if (q == "stats") {
        reply.text = adminStats();
    } else if (q == "metrics") {
        reply.text = metrics.prometheus(gauges());
    } else if (q == "events") {
        session.streaming = true;
        session.streamGroup = request.group;
        streamingClients.insert(session.id);
        reply.text = admin::text(json{
            {"streaming", true}, {"group", request.group ? json(*request.group) : json(nullptr)}});
    } else {
        reply.rc = HA_GS_BAD_PARAMETER;
        reply.text = "unknown query '" + q +
                     "': one of groups, group, clients, nodes, stats, metrics, events";
    }
}

std::string Broker::Impl::adminGroups() const
{
    json groups = json::array();
    for (const std::string &name : engine.groupNames()) {
        const auto view = engine.group(name);
        if (!view)
            continue;
        json protocol = nullptr;
        if (view->protocol)
            protocol = json{{"type", names::request(view->protocol->type)},
                            {"phase", view->protocol->phase}};
        groups.push_back(json{{"name", view->name},
                              {"providers", view->members.size()},
                              {"subscribers", view->subscribers},
                              {"protocol", std::move(protocol)},
                              {"queued", view->queue.size()},
                              {"state_bytes", view->state.size()}});
    }
    return admin::text(json{{"node", config.nodeNumber},
                            {"domain", config.domain},
                            {"synced", domainSynced},
                            {"groups", std::move(groups)},
                            {"hosts", engine.hosts()}});
}

std::string Broker::Impl::adminGroup(const std::string &name) const
{
    const auto view = engine.group(name);
    if (!view)
        return {};
    const auto provider = [&](const ObservedProvider &p) {
        return admin::providerJson(p, localPid(p.client));
    };
    json providers = json::array();
    for (const MemberView &m : view->members) {
        json entry = provider({m.id, m.client});
        entry["token"] = m.token;
        const auto local = localName(m.client, m.token);
        entry["local_name"] = local ? json(*local) : json(nullptr);
        providers.push_back(std::move(entry));
    }
    /* Subscribers by node: a subscription is served by its client's node. */
    std::map<int16_t, json> byNode;
    for (const SubscriberView &s : view->subscriberList) {
        const auto pid = localPid(s.client);
        json &list = byNode[clientNode(s.client)];
        if (list.is_null())
            list = json::array();
        list.push_back(json{{"client", s.client},
                            {"pid", pid ? json(*pid) : json(nullptr)},
                            {"control", names::subscription(s.control)}});
    }
    json subscribers = json::array();
    for (auto &[node, list] : byNode)
        subscribers.push_back(json{{"node", node}, {"subscriptions", std::move(list)}});

    json protocol = nullptr;
    if (const auto &p = view->protocol) {
        json changing = json::array();
        for (const auto &c : p->changing)
            changing.push_back(provider(c));
        json voters = json::array();
        json missing = json::array();
        for (const ParticipantView &part : p->participants) {
            if (!part.voter)
                continue;
            json voter = provider(part.provider);
            voter["voted"] = part.voted;
            voter["vote"] = part.voted ? json(names::vote(part.vote)) : json(nullptr);
            voters.push_back(std::move(voter));
            if (p->awaits(part))
                missing.push_back(provider(part.provider));
        }
        /* This node's shadow of the engine's timer: the timekeeper's
         * decides, the others mirror it within the order's delay. */
        json left = nullptr;
        if (const auto timer = engineTimers.find(p->timer); timer != engineTimers.end())
            left = std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                            timer->second.due - Clock::now())
                                            .count());
        else if (p->timer != 0)
            left = 0; /* expired here; waiting for the timekeeper's word */
        protocol = json{{"type", names::request(p->type)},
                        {"n_phase", p->nPhase},
                        {"phase", p->phase},
                        {"time_limit", p->timeLimit},
                        {"time_left_ms", std::move(left)},
                        {"approving", p->approving},
                        {"changing", std::move(changing)},
                        {"voters", std::move(voters)},
                        {"not_voted", std::move(missing)},
                        {"proposed_state",
                         p->proposedState ? admin::bytesJson(*p->proposedState) : json(nullptr)}};
    }
    json queue = json::array();
    for (const QueuedView &q : view->queue)
        queue.push_back(json{{"kind", queuedName(q.kind)},
                             {"provider", q.provider ? provider(*q.provider) : json(nullptr)}});
    return admin::text(json{{"node", config.nodeNumber},
                            {"name", view->name},
                            {"attributes", attributesJson(view->attributes)},
                            {"providers", std::move(providers)},
                            {"subscribers", std::move(subscribers)},
                            {"state", admin::bytesJson(view->state)},
                            {"protocol", std::move(protocol)},
                            {"queue", std::move(queue)}});
}

std::string Broker::Impl::adminClients() const
{
    const auto tokens = engine.clientTokens();
    json local = json::array();
    for (const ClientId id : sessions.ids()) {
        const Session *s = sessions.find(id);
        if (!s)
            continue;
        json tokenCount = nullptr;
        if (const auto t = tokens.find(id); t != tokens.end())
            tokenCount = t->second;
        local.push_back(json{{"client", s->id},
                             {"kind", kindName(s->kind)},
                             {"pid", s->peer.pid},
                             {"uid", s->peer.uid},
                             {"tokens", std::move(tokenCount)},
                             {"queue_bytes", s->window.unacknowledged() + s->pendingBytes},
                             {"streaming", s->streaming}});
    }
    std::sort(local.begin(), local.end(),
              [](const json &a, const json &b) { return a["client"] < b["client"]; });
    /* The GSAPI clients of other nodes, as the replica knows them. */
    json remote = json::array();
    for (const auto &[client, count] : tokens)
        if (!isLocal(client))
            remote.push_back(
                json{{"client", client}, {"node", clientNode(client)}, {"tokens", count}});
    return admin::text(json{{"node", config.nodeNumber},
                            {"sessions", std::move(local)},
                            {"other_nodes", std::move(remote)}});
}

std::string Broker::Impl::adminNodes() const
{
    json domain = nullptr;
    if (const auto view = order->membership())
        domain =
            json{{"quorate", view->quorate}, {"members", view->members}, {"synced", view->synced}};
    json cmmNodes = json::array();
    for (const cmm_nodeid_t id : cmmEngine.nodeIds()) {
        cmm::Member m;
        if (cmmEngine.potentialInfo(id, m) != CMM_OK)
            continue;
        cmmNodes.push_back(json{{"id", m.nodeid},
                                {"name", m.name},
                                {"address", m.addr},
                                {"role", roleOf(m.sflag)},
                                {"eligible", (m.sflag & CMM_ELIGIBLE_MEMBER) != 0},
                                {"disqualified", (m.sflag & CMM_FLAG_DISQUALIFIED) != 0},
                                {"synchro_needed", (m.sflag & CMM_FLAG_SYNCHRO_NEEDED) != 0},
                                {"excluded", (m.sflag & CMM_EXCLUDED_MEMBER) != 0},
                                {"incarnation", m.incarnationNumber}});
    }
    const auto master = cmmEngine.master();
    const auto vice = cmmEngine.viceMaster();
    return admin::text(json{{"node", config.nodeNumber},
                            {"domain_name", config.domain},
                            {"cluster", order->membership().has_value()},
                            {"synced", domainSynced},
                            {"timekeeper", order->keepsTime()},
                            {"domain", std::move(domain)},
                            {"hosts", engine.hosts()},
                            {"cmm",
                             {{"master", master ? json(*master) : json(nullptr)},
                              {"vice_master", vice ? json(*vice) : json(nullptr)},
                              {"nodes", std::move(cmmNodes)}}}});
}

broker::Gauges Broker::Impl::gauges() const
{
    broker::Gauges g;
    g.node = config.nodeNumber;
    g.synced = domainSynced;
    for (const ClientId id : sessions.ids()) {
        const Session *s = sessions.find(id);
        if (!s)
            continue;
        (s->kind == wire::kSessionGsapi ? g.sessionsGsapi
         : s->kind == wire::kSessionCmm ? g.sessionsCmm
                                        : g.sessionsAdmin)++;
        const uint64_t queued = s->window.unacknowledged() + s->pendingBytes;
        g.queuedBytes += queued;
        g.maxQueuedBytes = std::max(g.maxQueuedBytes, queued);
    }
    g.domainClients = engine.clientCount();
    for (const std::string &name : engine.groupNames()) {
        const auto view = engine.group(name);
        if (!view)
            continue;
        ++g.groups;
        g.providers += view->members.size();
        g.subscribers += view->subscribers;
        g.protocolsRunning += view->protocolRunning ? 1 : 0;
        g.queuedChanges += view->queue.size();
    }
    g.stateBytes = engine.stateMemory();
    return g;
}

std::string Broker::Impl::adminStats() const
{
    const broker::Gauges g = gauges();
    json protocols = json::array();
    for (const auto &[key, count] : metrics.protocols)
        protocols.push_back(json{{"type", names::request(key.first)},
                                 {"outcome", key.second ? "approved" : "rejected"},
                                 {"count", count}});
    json latency = json::array();
    for (const auto &[phase, h] : metrics.voteLatency)
        latency.push_back(
            json{{"phase", broker::Metrics::phaseLabel(phase)},
                 {"votes", h.count},
                 {"mean_ms", h.count ? h.sum * 1000 / static_cast<double>(h.count) : 0.0}});
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now() - startedAt)
                            .count();
    return admin::text(
        json{{"node", g.node},
             {"version", HA_GS_VERSION},
             {"uptime_s", uptime},
             {"synced", g.synced},
             {"sessions",
              {{"gsapi", g.sessionsGsapi}, {"cmm", g.sessionsCmm}, {"admin", g.sessionsAdmin}}},
             {"max_clients", clientCap},
             {"domain_clients", g.domainClients},
             {"groups", g.groups},
             {"providers", g.providers},
             {"subscribers", g.subscribers},
             {"protocols_running", g.protocolsRunning},
             {"queued_changes", g.queuedChanges},
             {"state_bytes", g.stateBytes},
             {"max_state_bytes", engine.limits().maxStateMemory},
             {"send_queue_bytes", g.queuedBytes},
             {"send_queue_bytes_max", g.maxQueuedBytes},
             {"protocols", std::move(protocols)},
             {"collisions", metrics.collisions},
             {"time_limits_exceeded", metrics.timeLimitsExceeded},
             {"clients_gone", metrics.clientsGone},
             {"nodes_gone", metrics.nodesGone},
             {"refusals", metrics.refusals},
             {"vote_latency", std::move(latency)}});
}

} // namespace gs
