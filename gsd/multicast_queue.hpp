/* SPDX-License-Identifier: MIT */
/*
 * What a node has encoded for the domain and Corosync has not yet taken
 * (cpg_mcast_joined said CS_ERR_TRY_AGAIN, or the connection is gone): a
 * FIFO of encoded inter-node messages with the time each was queued. Its
 * INPUTS can be withdrawn when they waited too long: they were never
 * handed to Corosync, so no node will ever apply them, and the broker can
 * answer their requests itself.
 */
#pragma once

#include "gsd/cluster_message.hpp"

#include <chrono>
#include <deque>
#include <string>
#include <vector>

namespace gs {

class MulticastQueue {
  public:
    using Clock = std::chrono::steady_clock;

    void push(std::string bytes, Clock::time_point now)
    {
        if (cluster::isInputs(bytes))
            inputBytes_ += bytes.size();
        queue_.push_back({std::move(bytes), now});
    }
    bool empty() const { return queue_.empty(); }
    const std::string &front() const { return queue_.front().bytes; }
    void pop()
    {
        if (cluster::isInputs(queue_.front().bytes))
            inputBytes_ -= queue_.front().bytes.size();
        queue_.pop_front();
    }
    void clear()
    {
        queue_.clear();
        inputBytes_ = 0;
    }
    /* Bytes of INPUTS messages waiting. */
    size_t inputBytes() const { return inputBytes_; }

    /* Removes the INPUTS messages queued at or before `queuedBy` and
     * returns their inputs, in order; the other messages keep theirs. */
    std::vector<Input> withdrawInputs(Clock::time_point queuedBy)
    {
        std::vector<Input> out;
        std::deque<Entry> kept;
        for (Entry &entry : queue_) {
            if (entry.queuedAt <= queuedBy && cluster::isInputs(entry.bytes)) {
                auto inputs = std::get<cluster::Inputs>(cluster::decode(entry.bytes)).inputs;
                out.insert(out.end(), std::make_move_iterator(inputs.begin()),
                           std::make_move_iterator(inputs.end()));
                inputBytes_ -= entry.bytes.size();
            } else {
                kept.push_back(std::move(entry));
            }
        }
        queue_ = std::move(kept);
        return out;
    }

  private:
    struct Entry {
        std::string bytes;
        Clock::time_point queuedAt;
    };
    std::deque<Entry> queue_;
    size_t inputBytes_ = 0;
};

} // namespace gs
