/* SPDX-License-Identifier: MIT */
/* Client messages in, engine actions out. */
#include "gsd/broker_impl.hpp"

#include "common/overloaded.hpp"

#include "ha_gs.h"

#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace gs {

using broker::Clock;
using broker::Connection;
using broker::ConnectionId;
using broker::Session;

namespace {

/* How often Byes owed to full connections are tried again, and how many
 * are kept (the oldest are dropped beyond). */
constexpr std::chrono::milliseconds kByeRetry{200};
constexpr size_t kMaxOwedByes = 4096;

/* How long a connection stays after gsd refused its Hello (its Welcome
 * leaves first), and after its session ended (a Bye owed to a slow
 * consumer gets this long to be read). */
constexpr std::chrono::seconds kRefusedGrace{1};
constexpr std::chrono::seconds kEndedGrace{3};

std::string peerName(const Session &session)
{
    return "client " + std::to_string(session.id) + " (pid " + std::to_string(session.peer.pid) +
           ", uid " + std::to_string(session.peer.uid) + ")";
}

std::string sendFailure(int error)
{
    switch (error) {
    case EAGAIN:
        return "session ended: notification queue overflow";
    case EHOSTUNREACH:
        return "session ended: connection lost";
    default:
        return std::string("session ended: send failed: ") + zmq_strerror(error);
    }
}

/* A mark's key: unpredictable, so that a client can only learn it by
 * reading the stream (gsd/send_window.hpp). */
uint64_t randomMarkKey()
{
    uint64_t key = 0;
    if (getrandom(&key, sizeof key, 0) == static_cast<ssize_t>(sizeof key))
        return key;
    static std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) | device();
}

/* What a message costs in a connection's window (gsd/send_window.hpp). */
uint64_t windowCost(std::initializer_list<std::string_view> frames)
{
    uint64_t bytes = 0;
    for (std::string_view frame : frames)
        bytes += frame.size() + broker::SendWindow::kFrameCost;
    return bytes;
}

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
                    return protocolError(*connection, route, "GSAPI request on a CMM session");
                if (!admitRequest(*session, req))
                    return;
                submit(Event{ClientRequest{client, req.id, std::move(req.request)}});
            },
            [&](const wire::CmmReq &req) {
                if (session->kind != wire::kSessionCmm)
                    return protocolError(*connection, route, "CMM request on a GSAPI session");
                if (!admitRequest(*session, req))
                    return;
                onCmmRequest(client, req);
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
        refuse(broker::Refusal::Hello, spdlog::level::info,
               fmt::format("refused a client (pid {}, uid {}): rc {}{}", connection.peer.pid,
                           connection.peer.uid, rc,
                           gone && rc == HA_GS_CONNECT_FAILED ? " (its process is gone)" : ""));
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
    if (!connection.authorized)
        return HA_GS_NOT_AUTHORIZED;
    if (hello.kind != wire::kSessionGsapi && hello.kind != wire::kSessionCmm)
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
    if (sessions.size() - (replacing ? 1 : 0) >= clientCap)
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
    /* Its Welcome leaves when the hello is delivered (applyEvent): from
     * then on the engines know the client. */
    submit(Event{ClientHello{client, !session.deactivateScript.empty()}});
}

void Broker::Impl::onProcessExit(ClientId client)
{
    const Session *session = sessions.find(client);
    if (!session)
        return;
    /* Whoever inherited the connection has no session (contract: a forked
     * child starts its own): it goes with the session. */
    const ConnectionId connection = session->connection;
    endSession(client, "session ended: process exited", false);
    closeConnection(connection);
}

void Broker::Impl::onTimer(const broker::TimerPayload &payload)
{
    std::visit(Overloaded{
                   [&](const broker::EngineTimerDue &due) {
                       engineTimers.erase(due.timer);
                       /* Every node mirrors the engine's timers; one clock
                        * decides, the others' expiry is the keeper's
                        * TimerFired delivered to them. */
                       if (order->keepsTime())
                           submit(Event{TimerFired{due.timer}});
                   },
                   [&](const broker::PingDue &due) {
                       Session *session = sessions.find(due.client);
                       if (!session)
                           return;
                       const auto now = Clock::now();
                       session->checkTimer =
                           timers.start(now + std::chrono::seconds(session->pingInterval), due);
                       /* A client that has not answered the last pings gets
                        * no more until they are answered or their limit
                        * passes: what a session holds stays bounded. */
                       if (session->deadlineTimers.size() >= Session::kMaxChecksUnderWay)
                           return;
                       const uint64_t seq = session->nextPing++;
                       session->unanswered.insert(seq);
                       session->deadlineTimers.push_back(
                           timers.start(now + std::chrono::seconds(session->pingLimit),
                                        broker::PongDue{due.client, seq}));
                       deliver(due.client, {wire::encode(wire::ServerMessage{wire::Ping{seq}})});
                   },
                   [&](const broker::PongDue &due) {
                       Session *session = sessions.find(due.client);
                       if (!session)
                           return;
                       /* Deadlines of one session have one duration: they
                        * fire in the order they were started. */
                       if (!session->deadlineTimers.empty())
                           session->deadlineTimers.pop_front();
                       if (session->unanswered.erase(due.seq) == 0)
                           return;
                       spdlog::info("{} did not answer ping {} within {} s", peerName(*session),
                                    due.seq, session->pingLimit);
                       submit(Event{ClientUnresponsive{due.client}});
                   },
                   [&](const broker::ByeRetryDue &) {
                       byeRetryArmed = false;
                       retryByes();
                   },
                   [&](const broker::CounterCheckDue &due) { onCounterCheck(due); },
                   [&](const broker::CounterVerdictDue &due) { onCounterVerdict(due); },
                   [&](const broker::ConnectionDue &due) {
                       Connection *connection = connections.find(due.connection);
                       if (!connection || connection->closing || connection->client != 0 ||
                           Clock::now() < connection->closeAt)
                           return;
                       if (connection->endedReason.empty() && !connection->refused)
                           refuse(broker::Refusal::Silent, spdlog::level::info,
                                  fmt::format("closed a connection that said no Hello in time "
                                              "(pid {}, uid {})",
                                              connection->peer.pid, connection->peer.uid));
                       closeConnection(due.connection);
                   },
                   [&](const broker::RefusalFlushDue &) {
                       refusalFlushArmed = false;
                       if (refusals.flush(Clock::now())) {
                           refusalFlushArmed = true;
                           timers.start(refusals.nextFlush(), broker::RefusalFlushDue{});
                       }
                   },
               },
               payload);
}

void Broker::Impl::submit(Input input)
{
    order->submit(std::move(input));
    if (!delivering && !holdOutput)
        flushOutboxes();
}

void Broker::Impl::onDelivered(const Input &input)
{
    delivering = true;
    const struct Done {
        bool &flag;
        ~Done() { flag = false; }
    } done{delivering};
    if (const auto *event = std::get_if<Event>(&input)) {
        actions.clear();
        engine.process(*event, actions);
        carryOut(*event);
    } else if (const auto *request = std::get_if<CmmRequest>(&input)) {
        /* Checked at delivery: the cluster may have changed since the
         * request was submitted. */
        const auto caller = static_cast<cmm_nodeid_t>(clientNode(request->client));
        carryOut(*request, cmmEngine.configured(caller) ? cmmEngine.process(request->change)
                                                        : cmm::Outcome{CMM_ENOCLUSTER, {}});
    } else if (const auto *own = std::get_if<CmmNodeInput>(&input)) {
        carryOut(*own, cmmEngine.process(own->event));
    }
}

void Broker::Impl::carryOut(const Event &event)
{
    for (const Action &action : actions)
        std::visit([&](const auto &a) { execute(a); }, action);
    if (const auto *fired = std::get_if<TimerFired>(&event))
        /* Decided: this node's shadow of the timer has nothing left to do. */
        execute(CancelTimer{fired->timer});
    else if (const auto *hello = std::get_if<ClientHello>(&event); hello && isLocal(hello->client))
        deliver(hello->client, {wire::encode(wire::ServerMessage{wire::Welcome{
                                   HA_GS_OK, config.nodeNumber, config.domain, hello->client}})});
}

void Broker::Impl::execute(const Reply &reply)
{
    /* Every replica computes the reply; the client's node sends it. */
    if (!isLocal(reply.client))
        return;
    wire::encode(wire::ServerMessage{wire::ReplyMsg{reply.requestId, reply.rc, reply.token}},
                 scratch);
    Session *session = sessions.find(reply.client);
    if (session && session->batches)
        enqueue(*session, scratch);
    else
        deliver(reply.client, {scratch});
}

void Broker::Impl::execute(const Notify &notify)
{
    if (!notify.body)
        return;
    const std::string body = wire::encodeNoteBody(*notify.body);
    /* One copy of the body for every recipient that takes it as a frame of
     * its own: ZeroMQ shares the buffer of a copied message (reference
     * counted) instead of copying it. */
    std::optional<zmq::message_t> shared;
    for (const Recipient &recipient : notify.recipients) {
        /* The recipients of other nodes are their nodes' to serve. */
        if (!isLocal(recipient.client))
            continue;
        Session *session = sessions.find(recipient.client);
        if (!session)
            continue;
        wire::encode(wire::ServerMessage{wire::NoteHeader{recipient.token, recipient.final}},
                     scratch);
        if (!session->batches) {
            deliver(recipient.client, {scratch, body});
            continue;
        }
        enqueue(*session, scratch);
        enqueueBody(*session, body, shared);
    }
}

Broker::Impl::Outbox &Broker::Impl::outboxOf(Session &session)
{
    if (session.outbox == Session::kNoOutbox) {
        session.outbox = outboxesUsed++;
        if (session.outbox == outboxes.size())
            outboxes.emplace_back();
        outboxes[session.outbox].client = session.id;
    }
    return outboxes[session.outbox];
}

void Broker::Impl::Outbox::closePack()
{
    if (pack.empty())
        return;
    frames.emplace_back(pack.data(), pack.size());
    pack.clear();
}

bool Broker::Impl::fitsWindow(Session &session, uint64_t bytes)
{
    if (session.overflowed)
        return false;
    if (session.window.admits(session.pendingBytes, bytes)) {
        session.pendingBytes += bytes;
        return true;
    }
    /* A slow consumer: flushOutboxes ends its session. What was collected
     * for it is not sent, so it is freed now. */
    session.overflowed = true;
    Outbox &box = outboxOf(session);
    box.frames.clear();
    box.pack.clear();
    return false;
}

void Broker::Impl::enqueue(Session &session, const std::string &message)
{
    if (!fitsWindow(session, message.size() + broker::SendWindow::kFrameCost))
        return;
    Outbox &box = outboxOf(session);
    if (!session.packs) {
        box.frames.emplace_back(message.data(), message.size());
        return;
    }
    if (box.pack.size() + message.size() > kPackLimit)
        box.closePack();
    box.pack += message;
}

void Broker::Impl::enqueueBody(Session &session, const std::string &body,
                               std::optional<zmq::message_t> &shared)
{
    if (!fitsWindow(session, body.size() + broker::SendWindow::kFrameCost))
        return;
    Outbox &box = outboxOf(session);
    if (session.packs && body.size() <= kPackedBodyLimit) {
        /* Right after its header, in the same frame. */
        box.pack += body;
        return;
    }
    /* A frame of its own; for a packing session the header then ends its
     * frame, which tells the client that the body is the next frame. */
    box.closePack();
    if (!shared)
        shared.emplace(body.data(), body.size());
    zmq::message_t copy;
    copy.copy(*shared);
    box.frames.push_back(std::move(copy));
}

void Broker::Impl::flushOutboxes()
{
    /* Failures are handled after the loop: ending a session feeds the
     * engine, which may fill outboxes again. */
    std::vector<std::pair<ClientId, int>> failed;
    for (size_t b = 0; b < outboxesUsed; ++b) {
        Outbox &box = outboxes[b];
        Session *session = sessions.find(box.client);
        if (session && session->overflowed) {
            session->outbox = Session::kNoOutbox;
            failed.emplace_back(box.client, EAGAIN);
        } else if (session) {
            session->outbox = Session::kNoOutbox;
            const uint64_t bytes = session->pendingBytes;
            session->pendingBytes = 0;
            /* The mark goes last, after the bytes it frees. */
            std::optional<uint64_t> mark;
            if (session->window.markDue(bytes)) {
                mark = randomMarkKey();
                wire::encode(wire::ServerMessage{wire::Mark{*mark}}, scratch);
                if (session->packs)
                    box.pack += scratch;
                else
                    box.frames.emplace_back(scratch.data(), scratch.size());
            }
            const uint64_t markBytes = mark ? scratch.size() + broker::SendWindow::kFrameCost : 0;
            box.closePack();
            routerQuiet = false;
            int error = 0;
            if (zmq_send(router.handle(), session->route.data(), session->route.size(),
                         ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0)
                error = zmq_errno();
            for (size_t i = 0; i < box.frames.size() && error == 0; ++i) {
                const int more = i + 1 < box.frames.size() ? ZMQ_SNDMORE : 0;
                if (zmq_msg_send(box.frames[i].handle(), router.handle(), ZMQ_DONTWAIT | more) < 0)
                    error = zmq_errno();
            }
            if (error != 0) {
                failed.emplace_back(box.client, error);
            } else {
                session->window.charge(bytes + markBytes);
                if (mark)
                    session->window.marked(*mark);
            }
        }
        box.frames.clear();
        box.pack.clear();
    }
    outboxesUsed = 0;
    for (const auto &[client, error] : failed)
        sendFailed(client, error);
}

void Broker::Impl::execute(const StartTimer &start)
{
    if (const auto old = engineTimers.find(start.timer); old != engineTimers.end())
        timers.cancel(old->second);
    const auto due = Clock::now() + std::chrono::seconds(std::max(start.seconds, 0));
    engineTimers[start.timer] = timers.start(due, broker::EngineTimerDue{start.timer});
}

void Broker::Impl::execute(const CancelTimer &cancel)
{
    if (const auto it = engineTimers.find(cancel.timer); it != engineTimers.end()) {
        timers.cancel(it->second);
        engineTimers.erase(it);
    }
}

int Broker::Impl::sendFrames(const std::string &route,
                             std::initializer_list<std::string_view> frames)
{
    routerQuiet = false;
    if (zmq_send(router.handle(), route.data(), route.size(), ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0)
        return zmq_errno();
    size_t left = frames.size();
    for (std::string_view frame : frames) {
        const int more = --left > 0 ? ZMQ_SNDMORE : 0;
        if (zmq_send(router.handle(), frame.data(), frame.size(), ZMQ_DONTWAIT | more) < 0)
            return zmq_errno();
    }
    return 0;
}

void Broker::Impl::deliver(ClientId client, std::initializer_list<std::string_view> frames)
{
    Session *session = sessions.find(client);
    if (!session)
        return;
    const uint64_t bytes = windowCost(frames);
    if (session->overflowed || !session->window.admits(session->pendingBytes, bytes))
        return sendFailed(client, EAGAIN);
    if (const int error = sendFrames(session->route, frames); error != 0)
        return sendFailed(client, error);
    session->window.charge(bytes);
    if (!session->window.markDue(0))
        return;
    const uint64_t key = randomMarkKey();
    const std::string mark = wire::encode(wire::ServerMessage{wire::Mark{key}});
    if (const int error = sendFrames(session->route, {mark}); error != 0)
        return sendFailed(client, error);
    session->window.charge(windowCost({mark}));
    session->window.marked(key);
}

void Broker::Impl::sendFailed(ClientId client, int error)
{
    const Session *session = sessions.find(client);
    if (!session)
        return;
    const std::string reason = sendFailure(error);
    /* A client can make itself a slow consumer at will (a Hello per
     * connection, never reading): summarised like the other refusals. */
    if (error == EAGAIN)
        refuse(broker::Refusal::SlowConsumer, spdlog::level::warn,
               fmt::format("{}: {}", peerName(*session), reason));
    else
        spdlog::warn("{}: {}", peerName(*session), reason);
    /* A slow consumer is owed a Bye for when it reads again; a vanished
     * peer is not. */
    endSession(client, reason, error == EAGAIN);
}

void Broker::Impl::tell(const std::string &route, const wire::ServerMessage &message)
{
    sendFrames(route, {wire::encode(message)});
}

void Broker::Impl::sayBye(const std::string &route, const std::string &reason)
{
    const int error = sendFrames(route, {wire::encode(wire::ServerMessage{wire::Bye{reason}})});
    if (error != EAGAIN) {
        if (owedByes.erase(route) != 0)
            std::erase(owedOrder, route);
        return;
    }
    if (owedByes.insert_or_assign(route, reason).second)
        owedOrder.push_back(route);
    while (owedOrder.size() > kMaxOwedByes) {
        owedByes.erase(owedOrder.front());
        owedOrder.pop_front();
    }
    if (!byeRetryArmed) {
        byeRetryArmed = true;
        timers.start(Clock::now() + kByeRetry, broker::ByeRetryDue{});
    }
}

void Broker::Impl::retryByes()
{
    /* In place, oldest first: each stays owed while its queue is still full. */
    std::erase_if(owedOrder, [&](const std::string &route) {
        const auto it = owedByes.find(route);
        if (it == owedByes.end())
            return true;
        if (sendFrames(route, {wire::encode(wire::ServerMessage{wire::Bye{it->second}})}) == EAGAIN)
            return false;
        owedByes.erase(it);
        return true;
    });
    if (!owedOrder.empty()) {
        byeRetryArmed = true;
        timers.start(Clock::now() + kByeRetry, broker::ByeRetryDue{});
    }
}

bool Broker::Impl::withinRequestRate(Session &session)
{
    if (session.requests.unlimited() || session.requests.take(Clock::now()))
        return true;
    if (session.refusedRequests++ == 0)
        spdlog::warn("{}: over the request rate limit ({}/s, burst {}); refusing "
                     "its requests "
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

void Broker::Impl::endSession(ClientId client, const std::string &reason, bool bye)
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
    submit(Event{ClientGone{client}});
}

} // namespace gs
