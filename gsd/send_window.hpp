/* SPDX-License-Identifier: MIT */
/*
 * The bytes gsd may queue for one client connection (gsd --send-queue-bytes):
 * credit-based flow control. libzmq's send queue counts whole messages, and
 * a message may carry anything from a few bytes to many notifications, so
 * gsd counts the bytes it hands to libzmq for the connection itself. Every
 * eighth of the limit it adds a Mark with a random key to the stream; the
 * client answers with Ack{key} when it has read the mark, which frees
 * everything sent before it. A client cannot acknowledge bytes it has not
 * read (the key is only in the stream, after them), and an Ack whose key gsd
 * did not send is a protocol error.
 *
 * What is unacknowledged is what may still sit in libzmq's queue, the
 * kernel's socket buffers or the client's own receive queue: at most the
 * limit, plus one message when nothing was unacknowledged (so that a
 * message larger than the limit still goes, alone). A message that does not
 * fit makes the client a slow consumer.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace gs::broker {

class SendWindow {
  public:
    /* What one frame costs beyond its bytes: libzmq keeps a 64-byte
     * zmq_msg_t for each queued frame, and a tiny frame is no cheaper. */
    static constexpr uint64_t kFrameCost = 64;
    /* More marks than a full window can hold mean a client that never
     * acknowledges; the oldest are forgotten (their bytes stay counted). */
    static constexpr size_t kMaxMarks = 16;

    SendWindow() = default;
    explicit SendWindow(uint64_t limit) : limit_(limit), markEvery_(limit / 8 > 0 ? limit / 8 : 1)
    {
        nextMark_ = markEvery_;
    }

    uint64_t limit() const { return limit_; }
    uint64_t unacknowledged() const { return sent_ - acked_; }

    /* Whether `bytes` more may be queued on top of `pending` (counted, not
     * handed to libzmq yet). */
    bool admits(uint64_t pending, uint64_t bytes) const
    {
        const uint64_t queued = unacknowledged() + pending;
        return queued == 0 || queued + bytes <= limit_;
    }

    /* `bytes` were handed to libzmq. */
    void charge(uint64_t bytes) { sent_ += bytes; }

    /* Whether the next message, of `bytes`, should be followed by a mark. */
    bool markDue(uint64_t bytes) const { return sent_ + bytes >= nextMark_; }

    /* A mark with `key` was handed to libzmq, after everything charged so
     * far (itself included). */
    void marked(uint64_t key)
    {
        marks_.push_back({sent_, key});
        if (marks_.size() > kMaxMarks)
            marks_.pop_front();
        nextMark_ = sent_ + markEvery_;
    }

    /* An Ack: false when `key` is no mark outstanding (the client made it
     * up, or acknowledged it twice). Otherwise everything up to that mark is
     * free, and the marks before it are no longer needed. */
    bool acknowledge(uint64_t key)
    {
        for (auto it = marks_.begin(); it != marks_.end(); ++it) {
            if (it->key != key)
                continue;
            acked_ = it->offset;
            marks_.erase(marks_.begin(), it + 1);
            return true;
        }
        return false;
    }

  private:
    struct Outstanding {
        uint64_t offset; /* bytes sent up to and including the mark */
        uint64_t key;
    };
    uint64_t limit_ = 0;
    uint64_t markEvery_ = 1;
    uint64_t nextMark_ = 1;
    uint64_t sent_ = 0;
    uint64_t acked_ = 0;
    std::deque<Outstanding> marks_;
};

} // namespace gs::broker
