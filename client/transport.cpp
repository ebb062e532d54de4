/* SPDX-License-Identifier: MIT */
#include "client/transport.hpp"

#include "client/link.hpp"
#include "common/wire.hpp"

#include <algorithm>
#include <climits>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace gs::client {

namespace {

/* How long closing may wait to hand the Quit message to a live gsd. Linger
 * is otherwise 0, so a dead gsd never delays anything. */
constexpr int kQuitLingerMs = 200;

bool addToEpoll(int epoll, int fd)
{
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0;
}

} // namespace

Transport::Transport() = default;

Transport::~Transport()
{
    close();
    context_.close();
    if (wake_ >= 0)
        ::close(wake_);
}

bool Transport::open(const char *monitorEndpoint)
{
    wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_ < 0)
        throw zmq::error_t();
    if (!descriptorsAvailable(kZmqDescriptors, wake_))
        return false;
    /* From here on close() closes what exists, also after a set-up that
     * failed half way: one socket left open would make zmq_ctx_term wait
     * forever. */
    open_ = true;
    openLink(context_, socket_, monitor_, monitorEndpoint);
    socketFd_ = socket_.get(zmq::sockopt::fd);
    monitorFd_ = monitor_.get(zmq::sockopt::fd);
    return true;
}

void Transport::setMaxMessageSize(int64_t bytes)
{
    socket_.set(zmq::sockopt::maxmsgsize, bytes);
}

void Transport::connect(const std::string &endpoint)
{
    socket_.connect(endpoint);
}

bool Transport::watch(int epoll)
{
    if (!open_ || epoll_ >= 0)
        return open_;
    if (!addToEpoll(epoll, socketFd_))
        return false;
    if (!addToEpoll(epoll, monitorFd_)) {
        epoll_ctl(epoll, EPOLL_CTL_DEL, socketFd_, nullptr);
        return false;
    }
    epoll_ = epoll;
    return true;
}

void Transport::unwatch()
{
    if (epoll_ < 0)
        return;
    epoll_ctl(epoll_, EPOLL_CTL_DEL, socketFd_, nullptr);
    epoll_ctl(epoll_, EPOLL_CTL_DEL, monitorFd_, nullptr);
    epoll_ = -1;
}

bool Transport::send(std::string_view frame)
{
    if (!open_)
        return false;
    /* A send may process the socket's commands and so consume ZMQ_FD's
     * signal: the sockets are not quiet until drained again. */
    quiet_ = false;
    try {
        /* Unlimited HWM: EAGAIN means there is no pipe to gsd at all. */
        return socket_.send(zmq::buffer(frame.data(), frame.size()), zmq::send_flags::dontwait)
            .has_value();
    } catch (const zmq::error_t &) {
        return false;
    }
}

bool Transport::acknowledge(uint64_t key)
{
    if (!open_)
        return false;
    quiet_ = false;
    try {
        const std::string frame = wire::encode(wire::ClientMessage{wire::Ack{key}});
        (void)socket_.send(zmq::buffer(frame), zmq::send_flags::dontwait);
        return true;
    } catch (const zmq::error_t &) {
        return false;
    }
}

void Transport::sayQuit()
{
    if (!open_)
        return;
    try {
        socket_.set(zmq::sockopt::linger, kQuitLingerMs);
        const std::string frame = wire::encode(wire::ClientMessage{wire::Quit{}});
        (void)socket_.send(zmq::buffer(frame), zmq::send_flags::dontwait);
    } catch (const zmq::error_t &) {
        /* Closing the connection tells gsd as well. */
    }
}

bool Transport::drain(TransportReceiver &receiver, bool monitor)
{
    bool routed = false;
    try {
        while (open_ && !receiver.stopped()) {
            /* The socket first: what gsd sent before the connection dropped
             * (a reply, a final notification) still counts. */
            while (open_ && !receiver.stopped() && readSocket(receiver))
                routed = true;
            /* Until the monitor has been read to EAGAIN once, its pipe
             * does not signal arrivals: read it regardless. */
            const bool readMonitorToo = monitor || !monitorQuiet_;
            bool event = false;
            while (readMonitorToo && open_ && !receiver.stopped() && readMonitor(receiver))
                event = true;
            if (readMonitorToo && open_ && !receiver.stopped())
                monitorQuiet_ = true;
            if (!event)
                break;
            routed = true; /* an event may have ended the session: look again */
        }
        /* Both said EAGAIN (or the monitor was not touched, so it is as
         * quiet as the last drain left it): the next arrival signals ZMQ_FD.
         * (Asking ZMQ_EVENTS as well would only process the commands a
         * second time.) */
        quiet_ = open_ && !receiver.stopped();
    } catch (const zmq::error_t &) {
        quiet_ = false;
        receiver.lost(0, 0);
        routed = true;
    }
    receiver.drained(routed);
    return routed;
}

bool Transport::readMonitor(TransportReceiver &receiver)
{
    uint32_t value = 0;
    const std::optional<uint16_t> event = gs::client::readMonitorEvent(monitor_, &value);
    if (!event)
        return false;
    if (connectionLost(*event)) {
        /* Messages that arrived before the connection dropped are still
         * delivered. */
        while (open_ && !receiver.stopped() && readSocket(receiver)) {
        }
        receiver.lost(*event, value);
    }
    return true;
}

bool Transport::readSocket(TransportReceiver &receiver)
{
    zmq::message_t first;
    if (!socket_.recv(first, zmq::recv_flags::dontwait))
        return false;
    frames_.clear();
    frames_.push_back(std::move(first));
    while (frames_.back().more()) {
        zmq::message_t part;
        /* The parts of a message arrive together: no EAGAIN here. */
        if (!socket_.recv(part, zmq::recv_flags::dontwait))
            break;
        frames_.push_back(std::move(part));
    }
    receiver.received(frames_);
    frames_.clear();
    return true;
}

Transport::PollResult Transport::poll(const Descriptors &fds, Clock::time_point deadline)
{
    pollfd polled[3] = {{fds.socket, POLLIN, 0}, {fds.monitor, POLLIN, 0}, {fds.wake, POLLIN, 0}};
    int timeout = -1;
    if (deadline != Clock::time_point::max()) {
        const auto left =
            std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
        timeout = static_cast<int>(std::clamp<decltype(left)>(left, 0, INT_MAX));
    }
    /* EINTR and timeouts need no handling: the caller re-checks and loops. */
    const int ready = ::poll(polled, 3, timeout);
    if (ready > 0 && (polled[2].revents & POLLIN)) {
        uint64_t count;
        [[maybe_unused]] const ssize_t n = ::read(fds.wake, &count, sizeof count);
    }
    return {ready <= 0 || (polled[1].revents & POLLIN) != 0};
}

void Transport::wakeLeader()
{
    if (leader_ && wake_ >= 0) {
        const uint64_t one = 1;
        /* A full counter is still readable, which is all the leader needs. */
        [[maybe_unused]] const ssize_t n = ::write(wake_, &one, sizeof one);
    }
}

void Transport::forgetAfterFork()
{
    if (wake_ >= 0)
        ::close(wake_);
    wake_ = -1;
}

void Transport::close()
{
    if (leader_) {
        /* The leader polls the descriptors: it closes when it returns. */
        closeDeferred_ = true;
        return;
    }
    unwatch();
    quiet_ = false;
    if (!open_)
        return;
    open_ = false;
    /* Stop the monitor first, while its PAIR still listens: the DEALER lives
     * on in libzmq's threads after zmq_close, and an event it reports then
     * (gsd's connection dropping after a Bye) would go to a closed PAIR, and
     * libzmq leaks that event's endpoint frame (seen by the chaos test under
     * LeakSanitizer). */
    if (socket_.handle() != nullptr)
        zmq_socket_monitor(socket_.handle(), nullptr, 0);
    /* Closing for good also stops ZeroMQ from reconnecting to a new gsd. */
    socket_.close();
    monitor_.close();
}

} // namespace gs::client
