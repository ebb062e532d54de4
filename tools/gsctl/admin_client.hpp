/* SPDX-License-Identifier: MIT */
/*
 * gsctl's connection to gsd: an admin session (wire::kSessionAdmin) over
 * the clients' transport (client/transport.hpp). One query at a time, or
 * the event stream. Flow control is answered as every client does: each
 * Mark is acknowledged as soon as it is read.
 */
#pragma once

#include "client/transport.hpp"
#include "common/wire.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace gs::gsctl {

/* Why gsctl could not get an answer; `status` is its exit status. */
struct Failure : std::runtime_error {
    Failure(int exitStatus, const std::string &what) : std::runtime_error(what), status(exitStatus)
    {
    }
    int status;
};

/* Exit statuses (gsctl(8)). */
constexpr int kExitUnreachable = 1;   /* no gsd, connection lost, no answer in time */
constexpr int kExitNotAuthorized = 3; /* not root, gsd's user or in the admin group */
constexpr int kExitNoSuchGroup = 4;
constexpr int kExitRefused = 5;       /* gsd refused the query (over its limits, unknown query) */
constexpr int kExitInterrupted = 130; /* SIGINT or SIGTERM while waiting */

/* The largest answer gsctl reads: far above any document gsd makes (a
 * group's 65536 subscriptions are some 6 MiB), far below what would hurt. */
constexpr int64_t kMaxAnswerBytes = int64_t{256} << 20;

class AdminClient final : client::TransportReceiver {
  public:
    using Clock = std::chrono::steady_clock;

    /* Connects and opens the session; throws Failure. `interrupted` is
     * asked while waiting: when it says yes, the wait ends with a Failure
     * of status kExitInterrupted. */
    AdminClient(const std::string &endpoint, Clock::time_point deadline,
                std::function<bool()> interrupted);
    ~AdminClient() override;
    AdminClient(const AdminClient &) = delete;
    AdminClient &operator=(const AdminClient &) = delete;

    /* One query and its answer; throws Failure when there is none by the
     * deadline. The reply's rc says whether gsd answered the query. */
    wire::AdminReply ask(const std::string &query, const std::optional<std::string> &group,
                         Clock::time_point deadline);
    /* Hands every event to `onEvent` as it arrives until it returns false,
     * `until` passes, or the connection ends (throws Failure then, saying
     * so). */
    void follow(const std::function<bool(const std::string &)> &onEvent, Clock::time_point until);

  private:
    void received(std::vector<zmq::message_t> &frames) override;
    void lost(uint16_t event, uint32_t value) override;
    bool stopped() const override { return dead_; }
    void drained(bool) override {}
    void waitUntil(Clock::time_point deadline);
    [[noreturn]] void fail() const;

    client::Transport transport_;
    std::function<bool()> interrupted_;
    std::optional<wire::Welcome> welcome_;
    std::optional<wire::AdminReply> reply_;
    std::deque<std::string> events_;
    bool dead_ = false;
    /* Why the connection ended, when it did. */
    std::string why_;
    int whyStatus_ = kExitUnreachable;
};

} // namespace gs::gsctl
