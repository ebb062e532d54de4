/* SPDX-License-Identifier: MIT */
#include "gsd/refusal_log.hpp"

namespace gs::broker {
namespace {

const char *kindName(Refusal kind)
{
    switch (kind) {
    case Refusal::NotAuthorized:
        return "not authorized";
    case Refusal::Hello:
        return "hello refused";
    case Refusal::ConnectionLimit:
        return "connection limit";
    case Refusal::Silent:
        return "silent connection closed";
    case Refusal::ForeignMessage:
        return "message from another connection";
    case Refusal::ProtocolError:
        return "protocol error";
    case Refusal::SlowConsumer:
        return "slow consumer";
    case Refusal::Withdrawn:
        return "not ordered in time";
    case Refusal::Count:
        break;
    }
    return "?";
}

} // namespace

const char *label(Refusal kind)
{
    switch (kind) {
    case Refusal::NotAuthorized:
        return "not_authorized";
    case Refusal::Hello:
        return "hello_refused";
    case Refusal::ConnectionLimit:
        return "connection_limit";
    case Refusal::Silent:
        return "silent_connection";
    case Refusal::ForeignMessage:
        return "foreign_message";
    case Refusal::ProtocolError:
        return "protocol_error";
    case Refusal::SlowConsumer:
        return "slow_consumer";
    case Refusal::Withdrawn:
        return "not_ordered_in_time";
    case Refusal::Count:
        break;
    }
    return "unknown";
}

bool RefusalLog::note(Refusal refusal, spdlog::level::level_enum level, const std::string &what,
                      Clock::time_point now)
{
    Kind &kind = kinds_[static_cast<size_t>(refusal)];
    ++kind.total;
    if (kind.open && now - kind.intervalStart >= kInterval)
        flush(now);
    if (!kind.open) {
        kind.open = true;
        kind.intervalStart = now;
        kind.counted = 0;
        spdlog::log(level, "{}", what);
        return false;
    }
    kind.last = what;
    kind.level = level;
    return kind.counted++ == 0;
}

bool RefusalLog::flush(Clock::time_point now)
{
    bool remaining = false;
    for (size_t i = 0; i < kinds_.size(); ++i) {
        Kind &kind = kinds_[i];
        if (!kind.open)
            continue;
        if (now - kind.intervalStart < kInterval) {
            remaining = remaining || kind.counted > 0;
            continue;
        }
        if (kind.counted > 0)
            spdlog::log(kind.level, "{} more refusals ({}) in the last {} s; the last: {}",
                        kind.counted, kindName(static_cast<Refusal>(i)), kInterval.count(),
                        kind.last);
        /* The next refusal is logged at once and opens a new interval. */
        kind.open = false;
        kind.counted = 0;
        kind.last.clear();
    }
    return remaining;
}

RefusalLog::Clock::time_point RefusalLog::nextFlush() const
{
    auto next = Clock::time_point::max();
    for (const Kind &kind : kinds_)
        if (kind.open && kind.counted > 0)
            next = std::min(next, kind.intervalStart + kInterval);
    return next;
}

} // namespace gs::broker
