/* SPDX-License-Identifier: MIT */
/*
 * Deadlines on the steady clock, earliest first. Cancelling is lazy (the
 * entry stays in the heap until it surfaces) so cancel is O(1); the heap is
 * rebuilt when cancelled entries outnumber live ones, which bounds its
 * memory under churn.
 */
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

namespace gs::broker {

template <class Payload>
class TimerHeap {
  public:
    using Clock = std::chrono::steady_clock;
    using Handle = uint64_t;

    Handle start(Clock::time_point due, Payload payload)
    {
        const Handle handle = next_++;
        live_.emplace(handle, std::move(payload));
        heap_.push_back({due, handle});
        std::push_heap(heap_.begin(), heap_.end(), later);
        return handle;
    }

    void cancel(Handle handle)
    {
        live_.erase(handle);
        if (heap_.size() > 2 * live_.size() + 64)
            compact();
    }

    /* Milliseconds until the earliest deadline, rounded up so a poll never
     * wakes just before it; -1 when there is none. */
    long timeoutMs(Clock::time_point now)
    {
        dropCancelledTop();
        if (heap_.empty())
            return -1;
        const auto wait = heap_.front().due - now;
        if (wait <= Clock::duration::zero())
            return 0;
        return static_cast<long>(std::chrono::ceil<std::chrono::milliseconds>(wait).count());
    }

    /* The payload of one expired timer, earliest first; nullopt when none
     * has expired. */
    std::optional<Payload> popExpired(Clock::time_point now)
    {
        while (!heap_.empty() && heap_.front().due <= now) {
            const Handle handle = heap_.front().handle;
            std::pop_heap(heap_.begin(), heap_.end(), later);
            heap_.pop_back();
            if (auto node = live_.extract(handle); !node.empty())
                return std::optional<Payload>(std::move(node.mapped()));
        }
        return std::nullopt;
    }

    size_t size() const { return live_.size(); }

  private:
    struct Entry {
        Clock::time_point due;
        Handle handle;
    };

    /* Heap order: earliest deadline on top; equal deadlines in start order. */
    static bool later(const Entry &a, const Entry &b)
    {
        return a.due != b.due ? a.due > b.due : a.handle > b.handle;
    }

    void dropCancelledTop()
    {
        while (!heap_.empty() && !live_.contains(heap_.front().handle)) {
            std::pop_heap(heap_.begin(), heap_.end(), later);
            heap_.pop_back();
        }
    }

    void compact()
    {
        std::erase_if(heap_, [&](const Entry &e) { return !live_.contains(e.handle); });
        std::make_heap(heap_.begin(), heap_.end(), later);
    }

    std::vector<Entry> heap_;
    std::unordered_map<Handle, Payload> live_;
    Handle next_ = 1;
};

} // namespace gs::broker
