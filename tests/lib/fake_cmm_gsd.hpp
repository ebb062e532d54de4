/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for gsd's CMM sessions, for testing libcgha_cmm's concurrency
 * through cmm.h alone (its interface names no wire type): a ROUTER on a
 * private ipc:// endpoint served by its own thread. It welcomes every CMM
 * session and answers member and potential getinfo with a member whose
 * nodeid is the one asked for, so a caller can tell its own reply from
 * another's; every other request gets CMM_OK.
 *
 * Replies go out in reverse order of arrival: whatever arrived together
 * (read until EAGAIN) is answered last first. With holdFirstRequest(), the
 * first request is not answered before releaseHeld(); with holdAll(), no
 * request is. notify() sends a notification to every session that
 * registered (kCmmRegister).
 */
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace libtest {

class FakeCmmGsd {
  public:
    FakeCmmGsd();
    ~FakeCmmGsd();
    FakeCmmGsd(const FakeCmmGsd &) = delete;
    FakeCmmGsd &operator=(const FakeCmmGsd &) = delete;

    const std::string &endpoint() const { return endpoint_; }

    /* The first request waits for releaseHeld(); the others are answered. */
    void holdFirstRequest() { holdFirst_ = true; }
    void releaseHeld() { release_ = true; }
    /* Every request waits for releaseHeld(). */
    void holdAll() { holdAll_ = true; }

    /* Sends the notification (a cmm_cmchanges_t and its node) to every
     * registered session, from the serving thread, in the order asked. */
    void notify(int change, uint32_t node);

    /* Requests received so far. */
    size_t requests();
    /* Replies sent before the reply to a request that arrived earlier. */
    size_t overtaken();
    /* Waits (generously) until at least `count` requests arrived. */
    bool waitForRequests(size_t count,
                         std::chrono::milliseconds limit = std::chrono::milliseconds(10000));

  private:
    void serve();

    std::string dir_;
    std::string endpoint_;
    std::atomic<bool> holdFirst_{false};
    std::atomic<bool> holdAll_{false};
    std::atomic<bool> release_{false};
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::condition_variable changed_;
    size_t requests_ = 0;
    size_t overtaken_ = 0;
    /* (change, node) of notifications not sent yet. */
    std::vector<std::pair<int, uint32_t>> notes_;
    bool bound_ = false;
    std::thread thread_;
};

} // namespace libtest
