/* SPDX-License-Identifier: MIT */
/*
 * The per-client request budget (gsd --max-request-rate, --request-burst): a
 * token bucket. It holds at most `burst` requests, gains `rate` per second,
 * and each request takes one; a request that finds it empty is refused
 * (HA_GS_NO_MEMORY, or CMM_EBUSY for CMM requests). Rate 0 means unlimited.
 * The clock is passed in, so the boundary can be tested exactly.
 */
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace gs::broker {

class RequestBucket {
  public:
    using Clock = std::chrono::steady_clock;

    RequestBucket() = default;
    /* Starts full. A burst of 0 means one second's worth (the rate). */
    RequestBucket(uint32_t rate, uint32_t burst, Clock::time_point now)
        : rate_(rate), burst_(burst == 0 ? rate : burst), tokens_(static_cast<double>(burst_)),
          refilled_(now)
    {
    }

    bool unlimited() const { return rate_ == 0; }

    /* Whether a request arriving at `now` may run; takes its token if so. */
    bool take(Clock::time_point now)
    {
        if (rate_ == 0)
            return true;
        if (now > refilled_) {
            const double seconds = std::chrono::duration<double>(now - refilled_).count();
            tokens_ = std::min(static_cast<double>(burst_), tokens_ + seconds * rate_);
            refilled_ = now;
        }
        if (tokens_ < 1.0)
            return false;
        tokens_ -= 1.0;
        return true;
    }

  private:
    uint32_t rate_ = 0;
    uint32_t burst_ = 0;
    double tokens_ = 0;
    Clock::time_point refilled_{};
};

} // namespace gs::broker
