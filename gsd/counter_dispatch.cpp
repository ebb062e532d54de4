/* SPDX-License-Identifier: MIT */
/* Counter responsiveness checks (gsd/counter_watch.hpp): admission and the
 * two timers of each check. */
#include "gsd/broker_impl.hpp"

#include "gsd/counter_watch.hpp"

#include "ha_gs.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

namespace gs {

using broker::Clock;

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

void Broker::Impl::onCounterCheck(const broker::CounterCheckDue &due)
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

void Broker::Impl::onCounterVerdict(const broker::CounterVerdictDue &due)
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
