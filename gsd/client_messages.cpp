/* SPDX-License-Identifier: MIT */
/* Client messages: a message to its session, a Hello to admission (the
 * checks, the session, its ClientHello submitted), requests through the
 * rate limit to the order, and the end of a session. */
#include "gsd/broker_impl.hpp"

#include "common/names.hpp"
#include "common/overloaded.hpp"

#include "ha_gs.h"

#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <sys/syscall.h>
#include <unistd.h>

namespace gs {

using broker::Clock;
using broker::Connection;
using broker::ConnectionId;
using broker::Session;

namespace {

/* How long a connection stays after gsd refused its Hello (its Welcome
 * leaves first), and after its session ended (a Bye owed to a slow
 * consumer gets this long to be read). */
constexpr std::chrono::seconds kRefusedGrace{1};
constexpr std::chrono::seconds kEndedGrace{3};
/* Admin sessions of root and gsd's own user admitted beyond --max-clients. */
constexpr size_t kAdminSessionsBeyondCap = 4;

} // namespace

void Broker::Impl::onMessage(const zmq::message_t &routeFrame, const zmq::message_t &payload,
                             int frames)
{
    const std::string route(routeFrame.data<char>(), routeFrame.size());
    Connection *connection = connectionOf(payload);
    if (!connection)
        /* Normally a message still queued from a connection that closed. */
        return refuse(broker::Refusal::ForeignMessage, spdlog::level::info,
                      "dropped a message from a connection gsd cannot identify (closed)");
    /* Closed by gsd: its end of the stream is on its way. */
    if (connection->closing)
        return;
    /* A session takes messages from its own connection only (found by the
     * connection, never by routing id alone). */
    Session *session = connection->client != 0 ? sessions.find(connection->client) : nullptr;
    if (!session) {
        if (const Session *other = sessions.findByRoute(route)) {
            /* The ROUTER gives a routing id to one live connection at a
             * time: the session's connection must be gone, its DISCONNECTED
             * not yet read. Never act on the session for this sender. */
            const ConnectionId id = connection->id;
            const ConnectionId theirs = other->connection;
            drainMonitor();
            connection = connections.find(id);
            if (!connection || connection->closing)
                return;
            if (const Session *still = sessions.findByRoute(route)) {
                if (broker::inodeOf(theirs.fd) == theirs.inode)
                    return refuse(broker::Refusal::ForeignMessage, spdlog::level::warn,
                                  fmt::format("dropped a message (pid {}, uid {}) that used the "
                                              "routing id of client {}",
                                              connection->peer.pid, connection->peer.uid,
                                              still->id));
                endSession(still->id, "session ended: connection lost", false);
            }
        }
    }
    if (frames != 1)
        return protocolError(*connection, route,
                             "expected one frame per message, got " + std::to_string(frames));
    wire::ClientMessage message;
    try {
        message = wire::decodeClientMessage({payload.data<char>(), payload.size()});
    } catch (const std::exception &error) {
        return protocolError(*connection, route, error.what());
    }
    if (const auto *hello = std::get_if<wire::Hello>(&message))
        return onHello(route, *connection, *hello);

    if (!session) {
        /* A client still reading what was queued before its session ended
         * acknowledges it: nothing to answer, its connection is closing. */
        if (std::holds_alternative<wire::Ack>(message))
            return;
        return sayBye(route,
                      connection->endedReason.empty() ? "no session" : connection->endedReason);
    }
    const ClientId client = session->id;
    std::visit(
        Overloaded{
            [&](wire::Req &req) {
                if (session->kind != wire::kSessionGsapi)
                    return protocolError(*connection, route, "GSAPI request on another session");
                if (!admitRequest(*session, req))
                    return;
                submit(Event{ClientRequest{client, req.id, std::move(req.request)}});
            },
            [&](const wire::CmmReq &req) {
                if (session->kind != wire::kSessionCmm)
                    return protocolError(*connection, route, "CMM request on another session");
                if (!admitRequest(*session, req))
                    return;
                onCmmRequest(client, req);
            },
            [&](const wire::AdminReq &req) {
                if (session->kind != wire::kSessionAdmin)
                    return protocolError(*connection, route, "admin request on another session");
                if (!withinRequestRate(*session))
                    return deliver(client, {wire::encode(wire::ServerMessage{wire::AdminReply{
                                               req.id, HA_GS_NO_MEMORY,
                                               "over the request rate limit: retry later"}})});
                onAdminRequest(*session, req);
            },
            [&](const wire::Pong &pong) { session->unanswered.erase(pong.seq); },
            [&](const wire::Ack &ack) {
                if (!session->window.acknowledge(ack.key))
                    protocolError(*connection, route, "acknowledged a mark gsd did not send");
            },
            [&](const wire::Quit &) { endSession(client, "session ended: quit", false); },
            [](const wire::Hello &) {},
        },
        message);
}

void Broker::Impl::protocolError(Connection &connection, const std::string &route,
                                 const std::string &what)
{
    const std::string reason = "protocol error: " + what;
    if (connection.client != 0) {
        if (const Session *session = sessions.find(connection.client)) {
            refuse(broker::Refusal::ProtocolError, spdlog::level::warn,
                   fmt::format("{}: {}; ending its session", peerName(*session), reason));
            endSession(session->id, reason, true);
            return;
        }
    }
    refuse(broker::Refusal::ProtocolError, spdlog::level::warn,
           fmt::format("connection without session (pid {}, uid {}): {}", connection.peer.pid,
                       connection.peer.uid, reason));
    sayBye(route, reason);
    connection.refused = true;
    closeLater(connection, std::min(connection.closeAt, Clock::now() + kRefusedGrace));
}

void Broker::Impl::onHello(const std::string &route, Connection &connection,
                           const wire::Hello &hello)
{
    /* The connection starts over: whatever it had before is gone, a Bye
     * still owed to it included. */
    if (owedByes.erase(route) != 0)
        std::erase(owedOrder, route);
    /* One session per connection: a connection is the credentials of the
     * process that opened it, and a process that inherited it (a forked
     * child that dropped its privileges) must not open a session of its
     * own with them once the opener's session ended or while it runs. A
     * client opens a connection for each session (libha_gs for each
     * ha_gs_init, libcgha_cmm for each connection); a refused Hello may be
     * tried again until the connection is closed. */
    if (connection.hadSession)
        return protocolError(connection, route, "a second session on one connection");
    const ConnectionId id = connection.id;

    /* The process that connected (not whoever has its pid number now): its
     * pidfd from the socket. Kernels without SO_PEERPIDFD (before 6.5) get
     * one by pid, which a pid reused since connecting would fool. */
    broker::UniqueFd pidfd;
    if (broker::inodeOf(id.fd) == id.inode) {
        pidfd = broker::peerPidfd(id.fd);
        if (!pidfd && (errno == ENOPROTOOPT || errno == EINVAL))
            pidfd =
                broker::UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, connection.peer.pid, 0)));
    }
    bool gone = !pidfd || broker::processExited(pidfd);
    uint64_t process = broker::processIdentity(pidfd);
    if (process == 0)
        process = (uint64_t{1} << 63) | static_cast<uint64_t>(connection.peer.pid);
    const bool replacing = !gone && sessions.findByProcess(process, hello.kind) != nullptr;
    /* A gone process is answered before anything else: the counter check
     * reads memory by pid number (process_vm_readv, as gsd's user), and a
     * reused pid would let the answer (mapped or not) tell the client about
     * another process's memory. A process that exits during the read may
     * have left its pid to another one as well: the answer is the same. */
    int rc = gone ? HA_GS_CONNECT_FAILED : admissionError(hello, connection, replacing);
    if (!gone && broker::processExited(pidfd)) {
        gone = true;
        rc = HA_GS_CONNECT_FAILED;
    }
    if (rc != HA_GS_OK) {
        const char *why = "";
        if (rc == HA_GS_CONNECT_FAILED)
            why = gone           ? " (its process is gone)"
                  : domainSynced ? " (gsd serves its most clients)"
                                 : " (gsd does not hold the domain's state yet)";
        refuse(broker::Refusal::Hello, spdlog::level::info,
               fmt::format("refused a client (pid {}, uid {}): {}{}", connection.peer.pid,
                           connection.peer.uid, names::rc(rc), why));
        tell(route, wire::Welcome{rc, config.nodeNumber, config.domain, 0});
        /* Its Welcome gets a moment to leave; then the connection goes. */
        connection.refused = true;
        closeLater(connection, std::min(connection.closeAt, Clock::now() + kRefusedGrace));
        return;
    }
    admit(route, connection, std::move(pidfd), process, hello);
}

int Broker::Impl::admissionError(const wire::Hello &hello, const Connection &connection,
                                 bool replacing) const
{
    if (hello.version != wire::kProtocolVersion)
        return HA_GS_NOT_SUPPORTED;
    if (hello.kind == wire::kSessionAdmin ? !connection.admin : !connection.authorized)
        return HA_GS_NOT_AUTHORIZED;
    if (hello.kind != wire::kSessionGsapi && hello.kind != wire::kSessionCmm &&
        hello.kind != wire::kSessionAdmin)
        return HA_GS_BAD_PARAMETER;
    if (hello.domain && *hello.domain != config.domain)
        return HA_GS_DOMAIN_NOT_RECOG;
    switch (hello.responsivenessType) {
    case HA_GS_NO_RESPONSIVENESS:
        break;
    case HA_GS_PING_RESPONSIVENESS:
        /* Each ping keeps a timer until its limit: bound both. */
        if (hello.responsivenessInterval < 1 || hello.responsivenessTimeLimit < 1 ||
            hello.responsivenessInterval > HA_GS_TIME_LIMIT_CEILING ||
            hello.responsivenessTimeLimit > HA_GS_TIME_LIMIT_CEILING)
            return HA_GS_BAD_PARAMETER;
        break;
    case HA_GS_COUNTER_RESPONSIVENESS:
        if (const int rc = counterAdmissionError(hello, connection.peer); rc != HA_GS_OK)
            return rc;
        break;
    default:
        return HA_GS_BAD_PARAMETER;
    }
    /* gsd runs it from its own working directory: only an absolute path
     * names the client's file (libha_gs checks the same). */
    if (hello.deactivateScript &&
        (hello.deactivateScript->empty() || hello.deactivateScript->front() != '/' ||
         hello.deactivateScript->size() > HA_GS_MAX_DEACTIVATE_SCRIPT_LENGTH ||
         hello.deactivateScript->find('\0') != std::string::npos))
        return HA_GS_BAD_PARAMETER;
    /* A GSAPI client is served only by a gsd that holds the domain's
     * state (contract.md §6.4, §6.6); a CMM client by any, as a node out
     * of the cluster serves it (cmm_connect, cmm_node_getid). */
    if (hello.kind == wire::kSessionGsapi && !domainSynced)
        return HA_GS_CONNECT_FAILED;
    /* An operator must be able to look when clients fill gsd: a few admin
     * sessions of root and gsd's own user fit beyond the cap (the
     * descriptors' reserve holds them). */
    const bool trustedAdmin = hello.kind == wire::kSessionAdmin &&
                              (connection.peer.uid == 0 || connection.peer.uid == geteuid());
    if (sessions.size() - (replacing ? 1 : 0) >=
        clientCap + (trustedAdmin ? kAdminSessionsBeyondCap : 0))
        return HA_GS_CONNECT_FAILED;
    return HA_GS_OK;
}

void Broker::Impl::admit(const std::string &route, Connection &connection,
                         broker::UniqueFd processFd, uint64_t process, const wire::Hello &hello)
{
    const ClientId client = makeClientId(config.nodeNumber, nextClientSerial++);
    broker::UniqueFd pidfd = pids.watch(std::move(processFd), client);
    if (!pidfd) {
        spdlog::warn("cannot watch pid {}: {}; refusing the client", connection.peer.pid,
                     std::strerror(errno));
        tell(route, wire::Welcome{HA_GS_CONNECT_FAILED, config.nodeNumber, config.domain, 0});
        closeLater(connection, std::min(connection.closeAt, Clock::now() + kRefusedGrace));
        return;
    }
    /* One session of each kind per process (contract: after fork the child
     * starts its own); a new ha_gs_init (or CMM connection) means the old
     * session of that kind is over. A process may use libha_gs and
     * libcgha_cmm at once. The process is the one that connected, so
     * another process that got its pid number cannot replace it. */
    const ConnectionId id = connection.id;
    if (Session *previous = sessions.findByProcess(process, hello.kind))
        endSession(previous->id, "session replaced by a new ha_gs_init of the same process", true);
    Connection *mine = connections.find(id);
    if (!mine)
        return;

    Session fresh{client, route, mine->peer, std::move(pidfd)};
    fresh.process = process;
    fresh.connection = id;
    fresh.kind = hello.kind;
    fresh.requests =
        broker::RequestBucket(config.maxRequestRate, config.requestBurst, Clock::now());
    fresh.batches = hello.batches;
    fresh.packs = hello.batches && hello.packs;
    fresh.deactivateScript = hello.deactivateScript.value_or("");
    fresh.window = broker::SendWindow(config.sendQueueBytes);
    mine->client = client;
    mine->hadSession = true;
    mine->endedReason.clear();
    Session &session = sessions.add(std::move(fresh));
    if (hello.responsivenessType == HA_GS_PING_RESPONSIVENESS) {
        session.pingInterval = hello.responsivenessInterval;
        session.pingLimit = hello.responsivenessTimeLimit;
        session.checkTimer = timers.start(Clock::now() + std::chrono::seconds(session.pingInterval),
                                          broker::PingDue{client});
    }
    if (hello.responsivenessType == HA_GS_COUNTER_RESPONSIVENESS) {
        session.counterAddress = hello.counterAddress;
        session.counterLength = hello.counterLength;
        session.counterInterval = hello.responsivenessInterval;
        session.counterLimit = hello.responsivenessTimeLimit;
        session.checkTimer =
            timers.start(Clock::now() + std::chrono::seconds(session.counterInterval),
                         broker::CounterCheckDue{client});
    }
    spdlog::debug("{} connected", peerName(session));
    /* A CMM or admin session is this node's alone: the GSAPI engine never
     * knows it, and it is served whether or not this node holds the
     * domain's state. */
    if (session.kind != wire::kSessionGsapi) {
        deliver(client, {wire::encode(wire::ServerMessage{
                            wire::Welcome{HA_GS_OK, config.nodeNumber, config.domain, client}})});
        return;
    }
    /* Its Welcome leaves when the hello is delivered (applyEvent): from
     * then on the engines know the client. */
    submit(Event{ClientHello{client, !session.deactivateScript.empty()}});
}

bool Broker::Impl::withinRequestRate(Session &session)
{
    if (session.requests.unlimited() || session.requests.take(Clock::now()))
        return true;
    if (session.refusedRequests++ == 0)
        spdlog::warn("{}: over the request rate limit ({}/s, burst {}); refusing its requests "
                     "until it slows down",
                     peerName(session), config.maxRequestRate,
                     config.requestBurst == 0 ? config.maxRequestRate : config.requestBurst);
    return false;
}

bool Broker::Impl::admitRequest(Session &session, const wire::Req &req)
{
    /* Votes answer gsd: refusing them would stall the group's protocol, so
     * they are never limited. */
    if (std::holds_alternative<VoteRequest>(req.request) || withinRequestRate(session))
        return true;
    /* The same path as the engine's replies, so that a batching client gets
     * the refusal in order with what is already queued for it. */
    execute(Reply{session.id, req.id, HA_GS_NO_MEMORY, 0});
    return false;
}

bool Broker::Impl::admitRequest(Session &session, const wire::CmmReq &req)
{
    if (withinRequestRate(session))
        return true;
    deliver(session.id,
            {wire::encode(wire::ServerMessage{wire::CmmReply{req.id, CMM_EBUSY, 0, 0, {}}})});
    return false;
}

void Broker::Impl::endSession(ClientId client, const std::string &reason, bool bye, bool tellDomain)
{
    /* What the engine said to this session before it ended goes first. */
    if (const Session *ending = sessions.find(client);
        ending && ending->outbox != Session::kNoOutbox)
        flushOutboxes();
    auto session = sessions.take(client);
    if (!session)
        return;
    pids.unwatch(session->pidfd);
    timers.cancel(session->checkTimer);
    for (const uint64_t timer : session->deadlineTimers)
        timers.cancel(timer);
    std::erase(cmmRegistered, client);
    streamingClients.erase(client);
    /* Its CMM changes still on their way are answered to nobody. */
    cmmPending.erase(cmmPending.lower_bound({client, 0}),
                     cmmPending.upper_bound({client, std::numeric_limits<RequestId>::max()}));
    if (bye)
        sayBye(session->route, reason);
    /* Its connection goes too, once its last messages (a Bye) had a moment
     * to leave: what stays queued for an ended session is freed. */
    if (Connection *connection = connections.find(session->connection)) {
        connection->client = 0;
        connection->endedReason = reason;
        closeLater(*connection, Clock::now() + kEndedGrace);
    }
    spdlog::debug("{}: {}", peerName(*session), reason);
    if (tellDomain && session->kind == wire::kSessionGsapi) {
        noteGoneSession(*session, reason);
        submit(Event{ClientGone{client}});
    }
}

} // namespace gs
