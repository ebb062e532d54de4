/* SPDX-License-Identifier: MIT */
#include "libcgha_cmm/connection.hpp"
#include "common/overloaded.hpp"

#include "client/link.hpp"
#include "ha_gs.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace gs::cmmlib {
namespace {

/* Every connection has its own context, so a fixed inproc name cannot clash. */
constexpr const char *kMonitorEndpoint = "inproc://cgha_cmm.monitor";

constexpr int kQuitLingerMs = 200;

} // namespace

Connection::Connection() : context_(1) {}

Connection::~Connection()
{
    if (open_) {
        if (!dead_) {
            try {
                socket_.set(zmq::sockopt::linger, kQuitLingerMs);
                (void)socket_.send(zmq::buffer(wire::encode(wire::Quit{})),
                                   zmq::send_flags::dontwait);
            } catch (const zmq::error_t &) {
            }
        }
        zmq_socket_monitor(socket_.handle(), nullptr, 0);
    }
    monitor_.close();
    socket_.close();
    context_.close();
}

cmm_error_t Connection::open(const std::string &endpoint, Clock::time_point deadline)
{
    /* libzmq aborts when it cannot create its descriptors: check first. */
    const int probe = eventfd(0, EFD_CLOEXEC);
    if (probe < 0)
        return CMM_ENOMEM;
    const bool room = gs::client::descriptorsAvailable(gs::client::kZmqDescriptors, probe);
    ::close(probe);
    if (!room)
        return CMM_ENOMEM;
    try {
        open_ = true; /* from here on the destructor closes what exists */
        gs::client::openLink(context_, socket_, monitor_, kMonitorEndpoint);
        socketFd_ = socket_.get(zmq::sockopt::fd);
        monitorFd_ = monitor_.get(zmq::sockopt::fd);
        socket_.connect(endpoint);
    } catch (const zmq::error_t &e) {
        return e.num() == ENOMEM ? CMM_ENOMEM : CMM_ECONN;
    }
    wire::Hello hello;
    hello.kind = wire::kSessionCmm;
    try {
        if (!socket_.send(zmq::buffer(wire::encode(hello)), zmq::send_flags::dontwait))
            return CMM_ECONN;
    } catch (const zmq::error_t &) {
        return CMM_ECONN;
    }
    drain();
    while (!welcome_ && !dead_) {
        if (Clock::now() >= deadline)
            return CMM_ETIMEDOUT;
        wait(deadline);
    }
    if (!welcome_)
        return CMM_ECONN;
    switch (welcome_->rc) {
    case HA_GS_OK:
        break;
    case HA_GS_NOT_SUPPORTED:
        dead_ = true;
        return CMM_ENOTSUP;
    case HA_GS_CONNECT_FAILED:
        dead_ = true;
        return CMM_EBUSY;
    default:
        dead_ = true;
        return CMM_ECONN;
    }
    return dead_ ? CMM_ECONN : CMM_OK;
}

cmm_error_t Connection::call(wire::CmmReq request, Clock::time_point deadline,
                             wire::CmmReply &reply)
{
    drain();
    if (dead_)
        return CMM_ECONN;
    replies_.clear(); /* late answers to calls that timed out */
    request.id = nextId_++;
    try {
        if (!socket_.send(zmq::buffer(wire::encode(request)), zmq::send_flags::dontwait)) {
            dead_ = true;
            return CMM_ECONN;
        }
    } catch (const zmq::error_t &) {
        dead_ = true;
        return CMM_ECONN;
    }
    drain();
    for (;;) {
        if (const auto it = replies_.find(request.id); it != replies_.end()) {
            reply = std::move(it->second);
            replies_.erase(it);
            return CMM_OK;
        }
        if (dead_)
            return CMM_ECONN;
        if (Clock::now() >= deadline)
            return CMM_ETIMEDOUT;
        wait(deadline);
    }
}

void Connection::wait(Clock::time_point deadline)
{
    if (drain() || dead_)
        return;
    pollfd fds[2] = {{socketFd_, POLLIN, 0}, {monitorFd_, POLLIN, 0}};
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    const int timeout = static_cast<int>(std::clamp<decltype(left)>(left, 0, INT_MAX));
    /* EINTR and timeouts need no handling: the caller re-checks and loops. */
    (void)::poll(fds, 2, timeout);
    drain();
}

bool Connection::drain()
{
    bool routed = false;
    try {
        while (open_ && !dead_) {
            bool got = false;
            while (!dead_ && readSocket())
                got = true;
            while (!dead_ && readMonitor())
                got = true;
            routed = routed || got;
            if (got || dead_)
                continue;
            /* Both said EAGAIN; ZMQ_EVENTS confirms nothing arrived meanwhile,
             * so ZMQ_FD signals the next arrival. */
            if (gs::client::linkQuiet(socket_, monitor_))
                break;
        }
    } catch (const zmq::error_t &) {
        dead_ = true;
        routed = true;
    }
    return routed;
}

bool Connection::readMonitor()
{
    const std::optional<uint16_t> event = gs::client::readMonitorEvent(monitor_);
    if (!event)
        return false;
    if (gs::client::connectionLost(*event)) {
        /* What gsd sent before the connection dropped still counts. */
        while (!dead_ && readSocket()) {
        }
        dead_ = true;
    }
    return true;
}

bool Connection::readSocket()
{
    zmq::message_t frame;
    if (!socket_.recv(frame, zmq::recv_flags::dontwait))
        return false;
    bool extra = false;
    for (bool more = frame.more(); more;) {
        zmq::message_t part;
        if (!socket_.recv(part, zmq::recv_flags::dontwait))
            break;
        more = part.more();
        extra = true;
    }
    try {
        if (extra)
            throw wire::DecodeError("too many frames");
        route(wire::decodeServerMessage(frame.to_string_view()));
    } catch (const std::bad_alloc &) {
        throw;
    } catch (const std::exception &) {
        /* A gsd that speaks garbage cannot be trusted with the session. */
        dead_ = true;
    }
    return true;
}

void Connection::acknowledge(uint64_t key)
{
    /* Inside a drain, which receives until EAGAIN after it: no drain here.
     * A failure means the connection is gone, which the monitor reports. */
    try {
        (void)socket_.send(zmq::buffer(wire::encode(wire::Ack{key})), zmq::send_flags::dontwait);
    } catch (const zmq::error_t &) {
        dead_ = true;
    }
}

void Connection::route(wire::ServerMessage message)
{
    std::visit(Overloaded{
                   [&](wire::Welcome &welcome) {
                       if (!welcome_)
                           welcome_ = std::move(welcome);
                   },
                   [&](wire::CmmReply &reply) {
                       const RequestId id = reply.id;
                       replies_.insert_or_assign(id, std::move(reply));
                   },
                   [&](wire::CmmNote &note) { notes_.push_back(note); },
                   [&](wire::Bye &) { dead_ = true; },
                   /* Flow control: gsd counts what it sent since the mark
                    * until this answer (wire::Mark). */
                   [&](wire::Mark &mark) { acknowledge(mark.key); },
                   /* GSAPI messages never come on a CMM session. */
                   [](wire::ReplyMsg &) {},
                   [](wire::NoteHeader &) {},
                   [](wire::Ping &) {},
               },
               message);
}

} // namespace gs::cmmlib
