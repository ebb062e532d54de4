/* SPDX-License-Identifier: MIT */
/*
 * A scripted stand-in for gsd, for testing the client library alone: a
 * ROUTER socket on a private ipc:// endpoint, served by its own thread,
 * speaking common/wire. It answers Hello with a configurable Welcome and
 * every request through a replaceable handler, records what clients send,
 * and sends notifications, pings, Bye, or drops the connection on command.
 */
#pragma once

#include "common/wire.hpp"

#include <zmq.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace libtest {

class FakeGsd {
  public:
    /* Returns the reply to a request, or nullopt to never answer it. Runs in
     * the fake's thread with its mutex held: it must not call the fake. */
    using Handler = std::function<std::optional<gs::wire::ReplyMsg>(const gs::wire::Req &)>;

    explicit FakeGsd(int welcomeRc = 0, int node = 7);
    ~FakeGsd();
    FakeGsd(const FakeGsd &) = delete;
    FakeGsd &operator=(const FakeGsd &) = delete;

    const std::string &endpoint() const { return endpoint_; }

    /* Default: join and subscribe get fresh tokens (100, 101, ...), every
     * other request HA_GS_OK. */
    void setHandler(Handler handler);

    /* To the client that said Hello last. */
    void notify(gs::Token token, bool final, const gs::NoteBody &body);
    /* Sent just before the next reply, so it reaches the client while the
     * request waits. */
    void notifyBeforeNextReply(gs::Token token, bool final, const gs::NoteBody &body);
    /* One ZeroMQ message of these frames, as they are (packed frames,
     * garbage). */
    void sendFrames(std::vector<std::string> frames);
    void ping(uint64_t seq);
    void bye();
    /* Close the ROUTER socket: the client sees its connection drop. */
    void drop();

    /* Everything clients sent, in order. */
    std::vector<gs::wire::ClientMessage> received();
    /* Waits (generously) until pred(received()) holds. */
    bool waitUntil(const std::function<bool(const std::vector<gs::wire::ClientMessage> &)> &pred,
                   std::chrono::milliseconds limit = std::chrono::milliseconds(10000));
    size_t helloCount();

  private:
    void serve(zmq::socket_t &router);

    std::string dir_;
    std::string endpoint_;
    int welcomeRc_;
    int node_;

    std::mutex mutex_;
    std::condition_variable changed_;
    Handler handler_;
    std::deque<std::function<void(zmq::socket_t &)>> commands_;
    std::vector<gs::wire::ClientMessage> received_;
    std::vector<std::vector<std::string>> beforeReply_;
    std::string lastClient_;
    gs::Token nextToken_ = 100;
    bool stop_ = false;
    bool dropped_ = false;
    std::thread thread_;
};

} // namespace libtest
