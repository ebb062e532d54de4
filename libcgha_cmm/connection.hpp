/* SPDX-License-Identifier: MIT */
/*
 * One CMM session with gsd: a DEALER socket to the endpoint, its monitor,
 * the Hello/Welcome handshake and request/reply round trips bounded by a
 * deadline. The socket set-up, monitor events and quiet check are
 * client/link.hpp's, shared with libha_gs; the waiting rules are the same:
 * drain after every socket operation, so that ZMQ_FD can be polled.
 *
 * Not thread-safe: the library's lock protects it.
 */
#pragma once

#include "cmm.h"
#include "common/wire.hpp"

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <zmq.hpp>

namespace gs::cmmlib {

using Clock = std::chrono::steady_clock;

class Connection {
  public:
    Connection();
    ~Connection();
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    /* Connects and says Hello; CMM_OK, CMM_ECONN, CMM_ETIMEDOUT, CMM_EBUSY,
     * CMM_ENOTSUP or CMM_ENOMEM. */
    cmm_error_t open(const std::string &endpoint, Clock::time_point deadline);

    /* One round trip. CMM_OK means `reply` holds gsd's answer (whose rc is
     * the call's result); else CMM_ECONN or CMM_ETIMEDOUT. */
    cmm_error_t call(wire::CmmReq request, Clock::time_point deadline, wire::CmmReply &reply);

    /* Reads everything that arrived; true when something did. */
    bool drain();
    bool dead() const { return dead_; }
    /* Notifications received so far, oldest first. */
    std::deque<wire::CmmNote> &notes() { return notes_; }
    /* The descriptors that signal arrivals (after drain()). */
    int socketFd() const { return socketFd_; }
    int monitorFd() const { return monitorFd_; }

    /* After fork() the child must not destroy a Connection: its ZeroMQ
     * objects belong to the parent. The library leaks it instead. */

  private:
    bool readSocket();
    bool readMonitor();
    void route(wire::ServerMessage message);
    void acknowledge(uint64_t key);
    void wait(Clock::time_point deadline);

    zmq::context_t context_;
    zmq::socket_t socket_;
    zmq::socket_t monitor_;
    int socketFd_ = -1;
    int monitorFd_ = -1;
    bool open_ = false;
    bool dead_ = false;
    std::optional<wire::Welcome> welcome_;
    std::map<RequestId, wire::CmmReply> replies_;
    std::deque<wire::CmmNote> notes_;
    RequestId nextId_ = 1;
};

} // namespace gs::cmmlib
