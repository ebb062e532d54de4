/* SPDX-License-Identifier: MIT */
/*
 * The broker's side of connections: what the ROUTER's monitor reports
 * (accepted and lost connections), the ZAP handler that authenticates each
 * connection at its ZeroMQ handshake, the limits on connections without a
 * session, and closing one connection. See docs/security.md.
 */
#include "gsd/broker_impl.hpp"

#include "common/names.hpp"

#include "gsd/accept_guard.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstring>

namespace gs {

using broker::Clock;
using broker::Connection;
using broker::ConnectionId;
using broker::Refusal;

namespace {

/* A connection must say Hello within this time of being accepted. */
constexpr std::chrono::seconds kHelloWithin{10};

std::string describePeer(const broker::PeerCredentials &peer)
{
    return fmt::format("pid {}, uid {}", peer.pid, peer.uid);
}

} // namespace

void Broker::Impl::refuse(Refusal kind, spdlog::level::level_enum level, const std::string &what)
{
    metrics.refused(broker::label(kind));
    if (refusals.note(kind, level, what, Clock::now()) && !refusalFlushArmed) {
        refusalFlushArmed = true;
        timers.start(refusals.nextFlush(), broker::RefusalFlushDue{});
    }
}

void Broker::Impl::drainMonitor()
{
    for (;;) {
        zmq::message_t event;
        if (zmq_msg_recv(event.handle(), monitor.handle(), ZMQ_DONTWAIT) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            /* EAGAIN: ZMQ_FD signals the next event. */
            monitorQuiet = true;
            if (const uint64_t dropped = broker::takeAcceptGuardDrops(); dropped > 0)
                refuse(Refusal::ConnectionLimit, spdlog::level::warn,
                       fmt::format("dropped {} connections as they were accepted: gsd reached "
                                   "its open file limit ({})",
                                   dropped, descriptors.limit));
            return;
        }
        /* Frame 1: uint16 event, uint32 value (the descriptor); frame 2:
         * the endpoint. */
        for (bool more = event.more(); more;) {
            zmq::message_t part;
            if (zmq_msg_recv(part.handle(), monitor.handle(), ZMQ_DONTWAIT) < 0)
                break;
            more = part.more();
        }
        uint16_t id = 0;
        uint32_t value = 0;
        if (event.size() < sizeof id + sizeof value)
            continue;
        std::memcpy(&id, event.data(), sizeof id);
        std::memcpy(&value, event.data<char>() + sizeof id, sizeof value);
        try {
            if (id == ZMQ_EVENT_ACCEPTED)
                onAccepted(static_cast<int>(value));
            else if (id == ZMQ_EVENT_DISCONNECTED)
                onDisconnected(static_cast<int>(value));
        } catch (const std::exception &error) {
            spdlog::error("handling a connection event: {}", error.what());
        }
    }
}

void Broker::Impl::onAccepted(int fd)
{
    const auto now = Clock::now();
    Connection connection;
    connection.id = ConnectionId{fd, broker::inodeOf(fd)};
    const auto peer = connection.id.inode != 0 ? broker::socketCredentials(fd) : std::nullopt;
    if (!peer) {
        /* Gone already, or no credentials: nothing to judge it by. */
        connection.closing = true;
        broker::shutdownConnection(connection.id);
        if (connection.id.inode != 0)
            connections.add(std::move(connection));
        return;
    }
    connection.peer = *peer;
    connection.authorized = authorizer.admits(connection.peer);
    connection.admin = adminAuthorizer.admits(connection.peer);
    /* Every session holds two descriptors (connection, pidfd), every other
     * connection one; beyond the room, or beyond the caps on connections
     * without a session, a connection is closed at once. Root, trusted
     * anyway, is exempt from the per-uid cap. */
    std::string excess;
    if (connections.size() + sessions.size() >= descriptors.room)
        excess = "the descriptor budget is spent";
    else if (connections.pending() >= descriptors.pendingCap)
        excess = fmt::format("{} connections without a session", descriptors.pendingCap);
    else if (peer->uid != 0 && connections.pendingOf(peer->uid) >= descriptors.pendingPerUid)
        excess = fmt::format("{} connections without a session from uid {}",
                             descriptors.pendingPerUid, peer->uid);
    if (!excess.empty()) {
        connection.closing = true;
        broker::shutdownConnection(connection.id);
        refuse(
            Refusal::ConnectionLimit, spdlog::level::warn,
            fmt::format("closed a new connection ({}) at once: {}", describePeer(*peer), excess));
        connections.add(std::move(connection));
        return;
    }
    connection.closeAt = now + kHelloWithin;
    connection.closeTimer = timers.start(connection.closeAt, broker::ConnectionDue{connection.id});
    connections.add(std::move(connection));
}

void Broker::Impl::onDisconnected(int fd)
{
    Connection *connection = connections.find(fd);
    if (!connection)
        return;
    if (connection->client != 0)
        endSession(connection->client, "session ended: connection lost", false);
    /* Under a flood of short connections the heap must not keep a timer per
     * connection gone. */
    if (Connection *gone = connections.find(fd); gone && gone->closeTimer != 0)
        timers.cancel(gone->closeTimer);
    connections.erase(fd);
}

void Broker::Impl::drainZap()
{
    for (;;) {
        std::vector<zmq::message_t> request;
        for (bool more = true; more;) {
            zmq::message_t frame;
            if (zmq_msg_recv(frame.handle(), zap.handle(), ZMQ_DONTWAIT) < 0) {
                if (zmq_errno() == EINTR)
                    continue;
                zapQuiet = true;
                return;
            }
            more = frame.more();
            request.push_back(std::move(frame));
        }
        zapQuiet = false;
        try {
            answerZap(request);
        } catch (const std::exception &error) {
            spdlog::error("answering a ZAP request: {}", error.what());
        }
    }
}

void Broker::Impl::answerZap(std::vector<zmq::message_t> &request)
{
    /* The request's ACCEPTED event was queued before the handshake began. */
    drainMonitor();
    /* ZAP 1.0 (rfc.zeromq.org/spec/27): version, request id, domain,
     * address, identity, mechanism, credentials. The address of an ipc
     * connection is libzmq's ":uid:gid:pid" from SO_PEERCRED. */
    const auto text = [&](size_t i) {
        return i < request.size() ? request[i].to_string() : std::string();
    };
    const auto ids = broker::parsePeerAddress(text(3));
    /* The request does not name its descriptor: it is judged with every
     * open connection without a token whose peer has the same uid, gid and
     * pid (one process, so normally one verdict), and admitted only if all
     * of them are. */
    size_t found = 0;
    bool admitted = true;
    Connection *first = nullptr;
    connections.forEach([&](Connection &c) {
        if (c.closing || !c.token.empty() || !ids || !c.peer.sameProcessIds(*ids))
            return;
        ++found;
        admitted = admitted && (c.authorized || c.admin);
        if (!first)
            first = &c;
    });
    std::string token;
    if (found > 0 && admitted) {
        token = "gsd-" + std::to_string(nextToken++);
        /* One candidate: it is this connection, bound now. Several (one
         * process handshaking on several connections at once): the first
         * message names its descriptor (connectionOf). A token is bound at
         * most once, so a late message of a closed connection whose
         * descriptor number was reused never takes over the new one. */
        if (found == 1)
            connections.bindToken(*first, token);
        else
            unboundTokens.remember(token);
    } else
        refuse(Refusal::NotAuthorized, spdlog::level::info,
               fmt::format("refused a connection at its handshake ({}): {}",
                           ids ? describePeer(*ids) : "no credentials",
                           found ? "not authorized" : "a connection gsd closed or does not know"));
    /* Version, request id, status code, status text, user id, metadata.
     * 400 tells the client it is not authorized (HA_GS_NOT_AUTHORIZED), 500
     * that gsd closed the connection or does not know it (its limits;
     * HA_GS_CONNECT_FAILED). */
    const char *status = !token.empty() ? "200" : found > 0 ? "400" : "500";
    const std::string reply[] = {"1.0", text(1), status, token.empty() ? "refused" : "OK",
                                 token, ""};
    for (size_t i = 0; i < std::size(reply); ++i)
        if (zmq_send(zap.handle(), reply[i].data(), reply[i].size(),
                     i + 1 < std::size(reply) ? ZMQ_SNDMORE : 0) < 0)
            break;
}

Connection *Broker::Impl::connectionOf(const zmq::message_t &payload)
{
    /* libzmq attaches the connection's properties to every frame it
     * decodes; the routing id frame is made up by the ROUTER. */
    const char *token = zmq_msg_gets(payload.handle(), "User-Id");
    if (!token)
        return nullptr;
    if (Connection *known = connections.findByToken(token))
        return known;
    if (!unboundTokens.take(token))
        return nullptr;
    const int fd = zmq_msg_get(payload.handle(), ZMQ_SRCFD);
    if (fd < 0)
        return nullptr;
    Connection *connection = connections.find(fd);
    if (!connection) {
        drainMonitor();
        connection = connections.find(fd);
    }
    if (!connection || connection->closing || !connection->token.empty())
        return nullptr;
    /* The descriptor is the connection's own (libzmq's engine records it),
     * unless it was closed and reused since: the peer must match too. */
    const char *address = zmq_msg_gets(payload.handle(), "Peer-Address");
    const auto ids = address ? broker::parsePeerAddress(address) : std::nullopt;
    if (!ids || !connection->peer.sameProcessIds(*ids))
        return nullptr;
    connections.bindToken(*connection, token);
    return connection;
}

void Broker::Impl::closeLater(Connection &connection, Clock::time_point when)
{
    if (connection.closing)
        return;
    if (connection.closeTimer != 0)
        timers.cancel(connection.closeTimer);
    connection.closeAt = when;
    connection.closeTimer = timers.start(when, broker::ConnectionDue{connection.id});
}

void Broker::Impl::closeConnection(const ConnectionId &id)
{
    Connection *connection = connections.find(id);
    if (!connection) {
        broker::shutdownConnection(id);
        return;
    }
    if (connection->closing)
        return;
    if (connection->client != 0)
        endSession(connection->client, "session ended: connection closed by gsd", false);
    connection = connections.find(id);
    if (!connection)
        return;
    connection->closing = true;
    /* Its DISCONNECTED event removes the record; when the socket is gone
     * already there will be none. */
    if (!broker::shutdownConnection(id))
        connections.erase(id.fd);
}

void Broker::Impl::onTimer(const broker::ConnectionDue &due)
{
    Connection *connection = connections.find(due.connection);
    if (!connection || connection->closing || connection->client != 0 ||
        Clock::now() < connection->closeAt)
        return;
    if (connection->endedReason.empty() && !connection->refused)
        refuse(Refusal::Silent, spdlog::level::info,
               fmt::format("closed a connection that said no Hello in time (pid {}, uid {})",
                           connection->peer.pid, connection->peer.uid));
    closeConnection(due.connection);
}

void Broker::Impl::onTimer(const broker::RefusalFlushDue &)
{
    refusalFlushArmed = false;
    if (refusals.flush(Clock::now())) {
        refusalFlushArmed = true;
        timers.start(refusals.nextFlush(), broker::RefusalFlushDue{});
    }
}

void Broker::Impl::onDumpSignal()
{
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = read(dumpFd.get(), &count, sizeof count);
    const broker::Gauges g = gauges();
    const auto groups = engine.groupNames();
    spdlog::info("state: {} sessions ({} GSAPI, {} CMM, {} admin; at most {}), {} connections ({} "
                 "without a session, at most {}, {} per uid), {} groups, {} bytes of group data; "
                 "descriptors: limit {}, {} fixed, {} reserved",
                 sessions.size(), g.sessionsGsapi, g.sessionsCmm, g.sessionsAdmin, clientCap,
                 connections.size(), connections.pending(), descriptors.pendingCap,
                 descriptors.pendingPerUid, groups.size(), engine.stateMemory(), descriptors.limit,
                 descriptors.fixed, descriptors.reserve);
    spdlog::info("refusals since start: {} at the handshake, {} hellos, {} over the connection "
                 "caps, {} silent connections, {} foreign messages, {} protocol errors",
                 refusals.total(Refusal::NotAuthorized), refusals.total(Refusal::Hello),
                 refusals.total(Refusal::ConnectionLimit), refusals.total(Refusal::Silent),
                 refusals.total(Refusal::ForeignMessage), refusals.total(Refusal::ProtocolError));
    constexpr size_t kMaxLines = 1000;
    size_t lines = 0;
    for (ClientId id : sessions.ids()) {
        const broker::Session *s = sessions.find(id);
        if (!s || lines++ >= kMaxLines)
            continue;
        spdlog::info("  client {}: pid {}, uid {}, {}, {} bytes queued", s->id, s->peer.pid,
                     s->peer.uid,
                     s->kind == wire::kSessionGsapi ? "GSAPI"
                     : s->kind == wire::kSessionCmm ? "CMM"
                                                    : "admin",
                     s->window.unacknowledged() + s->pendingBytes);
    }
    for (const std::string &name : groups) {
        const auto view = engine.group(name);
        if (!view || lines++ >= kMaxLines)
            continue;
        std::string protocol = "idle";
        if (const auto &p = view->protocol) {
            std::string missing;
            for (const ParticipantView &part : p->participants)
                if (p->awaits(part))
                    missing += fmt::format("{}{} on node {}", missing.empty() ? "" : ", ",
                                           part.provider.id.instance, part.provider.id.node);
            protocol = fmt::format("{} in phase {}{}", names::request(p->type), p->phase,
                                   missing.empty() ? "" : ", not voted yet: " + missing);
        }
        spdlog::info("  group '{}': {} providers, {} subscribers, {} queued, {}", view->name,
                     view->members.size(), view->subscribers, view->queue.size(), protocol);
    }
    if (lines > kMaxLines)
        spdlog::info("  ... {} more lines left out", lines - kMaxLines);
}

} // namespace gs
