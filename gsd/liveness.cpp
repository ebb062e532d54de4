/* SPDX-License-Identifier: MIT */
/* Liveness of local clients: their processes' deaths (pidfds), ping and
 * pong, counter checks (gsd/counter_watch.hpp). What they find enters the
 * order as ClientGone or ClientUnresponsive. */
#include "gsd/broker_impl.hpp"

#include "gsd/counter_watch.hpp"

#include "ha_gs.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

namespace gs {

using broker::Clock;
using broker::ConnectionId;
using broker::Session;

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

void Broker::Impl::onTimer(const broker::PingDue &due)
{
    Session *session = sessions.find(due.client);
    if (!session)
        return;
    const auto now = Clock::now();
    session->checkTimer = timers.start(now + std::chrono::seconds(session->pingInterval), due);
    /* A client that has not answered the last pings gets no more until
     * they are answered or their limit passes: what a session holds stays
     * bounded. */
    if (session->deadlineTimers.size() >= Session::kMaxChecksUnderWay)
        return;
    const uint64_t seq = session->nextPing++;
    session->unanswered.insert(seq);
    session->deadlineTimers.push_back(timers.start(now + std::chrono::seconds(session->pingLimit),
                                                   broker::PongDue{due.client, seq}));
    deliver(due.client, {wire::encode(wire::ServerMessage{wire::Ping{seq}})});
}

void Broker::Impl::onTimer(const broker::PongDue &due)
{
    Session *session = sessions.find(due.client);
    if (!session)
        return;
    /* Deadlines of one session have one duration: they fire in the order
     * they were started. */
    if (!session->deadlineTimers.empty())
        session->deadlineTimers.pop_front();
    if (session->unanswered.erase(due.seq) == 0)
        return;
    spdlog::info("{} did not answer ping {} within {} s", peerName(*session), due.seq,
                 session->pingLimit);
    submit(Event{ClientUnresponsive{due.client}});
}

int Broker::Impl::counterAdmissionError(const wire::Hello &hello,
                                        const broker::PeerCredentials &peer) const
{
    if (hello.responsivenessInterval < 1 || hello.responsivenessTimeLimit < 1 ||
        hello.responsivenessInterval > HA_GS_TIME_LIMIT_CEILING ||
        hello.responsivenessTimeLimit > HA_GS_TIME_LIMIT_CEILING || hello.counterAddress == 0 ||
        hello.counterLength < 1 || hello.counterLength > HA_GS_MAX_COUNTER_LENGTH)
        return HA_GS_BAD_PARAMETER;
    /* One read now, so that a counter gsd cannot read fails ha_gs_init
     * instead of every later check. */
    int error = 0;
    broker::readCounter(peer.pid, hello.counterAddress, hello.counterLength, error);
    if (error == 0)
        return HA_GS_OK;
    /* At debug: the refused Hello is logged (summarised) by the caller. */
    spdlog::debug("cannot read the responsiveness counter of pid {}: {}", peer.pid,
                  std::strerror(error));
    return error == EFAULT ? HA_GS_BAD_PARAMETER : HA_GS_NOT_SUPPORTED;
}

void Broker::Impl::onTimer(const broker::CounterCheckDue &due)
{
    broker::Session *session = sessions.find(due.client);
    if (!session)
        return;
    const auto now = Clock::now();
    session->checkTimer = timers.start(now + std::chrono::seconds(session->counterInterval), due);
    /* Bounded like pings (Session::kMaxChecksUnderWay). */
    if (session->deadlineTimers.size() >= broker::Session::kMaxChecksUnderWay)
        return;
    int error = 0;
    std::string reading = broker::readCounter(session->peer.pid, session->counterAddress,
                                              session->counterLength, error);
    /* A failed read (the process is exiting: its pidfd ends the session)
     * is left to the verdict, which reads again. */
    session->deadlineTimers.push_back(
        timers.start(now + std::chrono::seconds(session->counterLimit),
                     broker::CounterVerdictDue{due.client, std::move(reading)}));
}

void Broker::Impl::onTimer(const broker::CounterVerdictDue &due)
{
    broker::Session *session = sessions.find(due.client);
    if (!session)
        return;
    if (!session->deadlineTimers.empty())
        session->deadlineTimers.pop_front();
    int error = 0;
    const std::string now = broker::readCounter(session->peer.pid, session->counterAddress,
                                                session->counterLength, error);
    if (error == 0 && !due.reading.empty() && now != due.reading)
        return;
    spdlog::info("client {} (pid {}): its responsiveness counter did not change within {} s{}",
                 session->id, session->peer.pid, session->counterLimit,
                 error == 0 ? "" : std::string(" (unreadable: ") + std::strerror(error) + ")");
    submit(Event{ClientUnresponsive{due.client}});
}

} // namespace gs
