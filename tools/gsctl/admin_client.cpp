/* SPDX-License-Identifier: MIT */
#include "tools/gsctl/admin_client.hpp"

#include "ha_gs.h"

#include <algorithm>
#include <condition_variable>
#include <zmq.h>

namespace gs::gsctl {
namespace {

constexpr const char *kMonitorEndpoint = "inproc://gsctl.monitor";

/* gsctl is one thread: the transport's lock and condition have nobody to
 * share them with. */
struct NoLock {
    void lock() {}
    void unlock() {}
};

} // namespace

AdminClient::AdminClient(const std::string &endpoint, Clock::time_point deadline,
                         std::function<bool()> interrupted)
    : interrupted_(std::move(interrupted))
{
    try {
        if (!transport_.open(kMonitorEndpoint))
            throw Failure(kExitUnreachable, "out of file descriptors");
        transport_.setMaxMessageSize(kMaxAnswerBytes);
        transport_.connect(endpoint);
    } catch (const zmq::error_t &error) {
        throw Failure(kExitUnreachable, "cannot connect to " + endpoint + ": " + error.what());
    }
    wire::Hello hello;
    hello.kind = wire::kSessionAdmin;
    if (!transport_.send(wire::encode(hello))) {
        dead_ = true;
        why_ = "cannot send to gsd at " + endpoint;
    }
    transport_.drain(*this);
    while (!welcome_ && !dead_ && Clock::now() < deadline)
        waitUntil(deadline);
    if (!welcome_) {
        if (dead_)
            fail();
        throw Failure(kExitUnreachable, "no answer from gsd at " + endpoint + " in time");
    }
    switch (welcome_->rc) {
    case HA_GS_OK:
        return;
    case HA_GS_NOT_AUTHORIZED:
        throw Failure(kExitNotAuthorized,
                      "not authorized: gsctl needs root, gsd's own user or its admin group "
                      "(gsd --admin-group)");
    case HA_GS_CONNECT_FAILED:
        throw Failure(kExitRefused, "gsd serves its most clients: try again later");
    default:
        throw Failure(kExitRefused, "gsd refused the session (rc " + std::to_string(welcome_->rc) +
                                        "): is gsctl of the same version as gsd?");
    }
}

AdminClient::~AdminClient()
{
    if (!dead_)
        transport_.sayQuit();
    transport_.close();
}

void AdminClient::waitUntil(Clock::time_point deadline)
{
    if (interrupted_ && interrupted_())
        throw Failure(kExitInterrupted, "interrupted");
    /* In slices, to notice an interruption while gsd is silent. */
    const auto slice = std::min(deadline, Clock::now() + std::chrono::milliseconds(200));
    NoLock lock;
    std::condition_variable_any unused;
    transport_.wait(lock, unused, slice, *this);
}

void AdminClient::fail() const
{
    throw Failure(whyStatus_, why_.empty() ? "the connection to gsd was lost" : why_);
}

wire::AdminReply AdminClient::ask(const std::string &query, const std::optional<std::string> &group,
                                  Clock::time_point deadline)
{
    static RequestId next = 1;
    const RequestId id = next++;
    reply_.reset();
    if (dead_ || !transport_.send(wire::encode(wire::AdminReq{id, query, group})))
        fail();
    transport_.drain(*this, false);
    while (!(reply_ && reply_->id == id) && !dead_ && Clock::now() < deadline)
        waitUntil(deadline);
    if (reply_ && reply_->id == id)
        return *reply_;
    if (dead_)
        fail();
    throw Failure(kExitUnreachable, "no answer from gsd in time");
}

void AdminClient::follow(const std::function<bool(const std::string &)> &onEvent,
                         Clock::time_point until)
{
    for (;;) {
        while (!events_.empty()) {
            const std::string event = std::move(events_.front());
            events_.pop_front();
            if (!onEvent(event))
                return;
        }
        if (dead_)
            fail();
        if (Clock::now() >= until)
            return;
        waitUntil(until);
    }
}

void AdminClient::received(std::vector<zmq::message_t> &frames)
{
    /* An admin session takes neither batches nor packs: one message, one
     * frame. */
    if (frames.size() != 1) {
        lost(0, 0);
        why_ = "gsd sent a message of several frames";
        return;
    }
    wire::ServerMessage message;
    try {
        message = wire::decodeServerMessage(frames.front().to_string_view());
    } catch (const wire::DecodeError &error) {
        lost(0, 0);
        why_ = std::string("gsd sent what gsctl cannot read: ") + error.what();
        return;
    }
    if (auto *welcome = std::get_if<wire::Welcome>(&message))
        welcome_ = std::move(*welcome);
    else if (auto *reply = std::get_if<wire::AdminReply>(&message))
        reply_ = std::move(*reply);
    else if (auto *event = std::get_if<wire::AdminEvent>(&message))
        events_.push_back(std::move(event->text));
    else if (const auto *mark = std::get_if<wire::Mark>(&message)) {
        if (!transport_.acknowledge(mark->key))
            lost(0, 0);
    } else if (const auto *bye = std::get_if<wire::Bye>(&message)) {
        dead_ = true;
        why_ = "gsd ended the session: " + bye->reason;
        transport_.close();
    }
}

void AdminClient::lost(uint16_t event, uint32_t value)
{
    if (dead_)
        return;
    dead_ = true;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == 400) {
        why_ = "not authorized: gsctl needs root, gsd's own user or its admin group (gsd "
               "--admin-group)";
        whyStatus_ = kExitNotAuthorized;
    } else if (why_.empty()) {
        why_ = welcome_ ? "the connection to gsd was lost (gsd stopped?)"
                        : "cannot reach gsd: is it running, and is this its endpoint?";
    }
    transport_.close();
}

} // namespace gs::gsctl
