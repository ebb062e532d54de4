/* SPDX-License-Identifier: MIT */
/*
 * One CMM session with gsd over the clients' transport (client/
 * transport.hpp, shared with libha_gs): the Hello/Welcome handshake, then
 * requests and their replies matched by request id, so that several
 * threads' calls can be in flight at once. A thread waiting for its reply
 * either polls the sockets (the transport's leader) or sleeps on the
 * connection's condition variable while the leader, or any thread that
 * drains, routes the replies of all of them.
 *
 * Every member is used under the library's lock (cmm.cpp), which wait()
 * lets go while it sleeps or polls. A Connection is shared (shared_ptr) by
 * the library and the calls in flight, so that cmm_disconnect can end it
 * while other threads still wait on it: they find it dead.
 */
#pragma once

#include "client/transport.hpp"
#include "cmm.h"
#include "common/wire.hpp"
#include "libcgha_cmm/fair_lock.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace gs::cmmlib {

using Clock = std::chrono::steady_clock;
using Lock = std::unique_lock<FairLock>;

class Connection : private gs::client::TransportReceiver {
  public:
    Connection();
    ~Connection() override;
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    /* Connects and says Hello; CMM_OK, CMM_ECONN, CMM_ETIMEDOUT, CMM_EBUSY,
     * CMM_ENOTSUP or CMM_ENOMEM. Before the connection is shared: nobody
     * else waits on it, so its wait keeps the library's lock. */
    cmm_error_t open(const std::string &endpoint, Clock::time_point deadline);

    /* Sends a request under a fresh id and returns the id, or 0 when the
     * connection is gone. Its reply is kept for take() until forget(). */
    RequestId send(wire::CmmReq request);
    /* The reply to `id` once it came (and forgets the id). */
    std::optional<wire::CmmReply> take(RequestId id);
    /* Gives up on `id` (timed out): its reply, if it ever comes, is dropped. */
    void forget(RequestId id);
    /* Waits for input or a wake-up until `deadline` (see Transport::wait). */
    void wait(Lock &lock, Clock::time_point deadline);

    /* Reads everything that arrived; true when something did. */
    bool drain();
    bool dead() const { return dead_; }
    /* cmm_disconnect (and a registration that timed out): tells gsd, ends
     * the connection, and wakes the threads waiting on it. */
    void shutdown();
    /* Notifications received so far, oldest first. */
    std::deque<wire::CmmNote> &notes() { return notes_; }
    /* Adds the descriptors that signal arrivals to `epoll` (see
     * Transport::watch); unwatch() takes them out. */
    bool watch(int epoll) { return transport_.watch(epoll); }
    void unwatch() { transport_.unwatch(); }

    /* After fork() the child must not destroy a Connection: its ZeroMQ
     * objects belong to the parent. The library leaks it instead. */

  private:
    void received(std::vector<zmq::message_t> &frames) override;
    void lost(uint16_t event, uint32_t value) override;
    bool stopped() const override { return dead_; }
    void drained(bool routed) override;
    void route(wire::ServerMessage message);
    void markDead();

    gs::client::Transport transport_;
    /* Followers wait here for the leader (or a drain) to route their reply. */
    std::condition_variable_any cond_;
    bool dead_ = false;
    std::optional<wire::Welcome> welcome_;
    /* Requests in flight, with their reply once it came. */
    std::map<RequestId, std::optional<wire::CmmReply>> pending_;
    std::deque<wire::CmmNote> notes_;
    RequestId nextId_ = 1;
};

} // namespace gs::cmmlib
