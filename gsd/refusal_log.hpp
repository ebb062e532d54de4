/* SPDX-License-Identifier: MIT */
/*
 * Refusals logged without letting a client flood the log: the first
 * refusal of each kind is logged at once, the ones that follow within
 * kInterval are counted and summarised in one line at the end of the
 * interval ("N more refusals of kind K in the last 10 s; last: ...").
 * Whatever the rate of refusals, each kind writes at most two lines per
 * interval, so gsd's other messages are never rate-limited away by journald.
 */
#pragma once

#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

namespace gs::broker {

enum class Refusal {
    NotAuthorized,   /* refused at the handshake (ZAP) by credentials */
    Hello,           /* a Hello refused (version, parameters, domain, limit) */
    ConnectionLimit, /* a connection closed at once: too many without session */
    Silent,          /* a connection closed for not saying Hello in time */
    ForeignMessage,  /* a message not from its session's connection */
    ProtocolError,   /* an undecodable message */
    SlowConsumer,    /* a session ended because its queue was full */
    Withdrawn,       /* a request the domain could not order in time */
    Count
};

/* A name for metrics and JSON: "not_authorized", "slow_consumer", ... */
const char *label(Refusal kind);

class RefusalLog {
  public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::seconds kInterval{10};

    /* Logs `what` now or counts it. Returns whether the caller should arm a
     * flush at the returned time (when the first counted refusal of an
     * interval is made). */
    bool note(Refusal kind, spdlog::level::level_enum level, const std::string &what,
              Clock::time_point now);
    /* Logs the summaries of the intervals that ended by `now`; returns
     * whether counts remain to be flushed later. */
    bool flush(Clock::time_point now);
    /* When the next flush is due (meaningful when flush or note said so). */
    Clock::time_point nextFlush() const;

    uint64_t total(Refusal kind) const { return kinds_[static_cast<size_t>(kind)].total; }

  private:
    struct Kind {
        Clock::time_point intervalStart{};
        bool open = false;    /* an interval started by a logged refusal */
        uint64_t counted = 0; /* refusals not logged in this interval */
        uint64_t total = 0;
        std::string last;
        spdlog::level::level_enum level = spdlog::level::info;
    };
    std::array<Kind, static_cast<size_t>(Refusal::Count)> kinds_{};
};

} // namespace gs::broker
