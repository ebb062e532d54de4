/* SPDX-License-Identifier: MIT */
/*
 * Transport: the one connection of a client library to gsd (libha_gs and
 * libcgha_cmm both use it). A DEALER socket, the PAIR end of its monitor,
 * and the rules for reading them and waiting on them:
 *
 * Idle. ZMQ_FD only signals that something arrived in an empty queue, and
 * any socket operation may consume that signal, so every socket operation
 * is followed by a drain: receive until EAGAIN. A non-blocking receive that
 * finds nothing first processes every pending command (an arrival is an
 * activate_read command), so EAGAIN means the queue is empty and the
 * mailbox idle: the next arrival signals ZMQ_FD. The transport is idle
 * ("quiet") after such a drain, until the next send; only then are the two
 * descriptors worth polling. The monitor's pipe signals nothing until it
 * has been read to EAGAIN once (a fresh pipe's reader counts as awake), so
 * the first drains read it whatever its descriptor says; a send on the
 * DEALER leaves the monitor's descriptor as it was.
 *
 * Waiting (leader/follower). A thread that needs input becomes the leader
 * if nobody is: it drains, then polls the two descriptors and the wake
 * eventfd without the owner's lock. Other waiters sleep on the owner's
 * condition variable. Whoever changes what waiters wait for calls
 * wakeLeader() and notifies the condition variable. With the null lock
 * types of the plain libha_gs no follower ever exists.
 *
 * Every member is used under the owner's lock (the leader's poll reads only
 * copies of the descriptors). Closing while a leader polls is deferred to
 * the leader.
 *
 * After fork() the child must not destroy a Transport: its ZeroMQ objects
 * belong to the parent. The owners leak it instead.
 */
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>
#include <zmq.hpp>

namespace gs::client {

/* What the owner of a Transport does with what it reads. */
class TransportReceiver {
  public:
    virtual ~TransportReceiver() = default;
    /* One message from gsd, its frames in order. The receiver may keep
     * nothing pointing into them after it returns. */
    virtual void received(std::vector<zmq::message_t> &frames) = 0;
    /* The connection is gone: `event` is the monitor event that said so
     * (with its value), or 0 when a socket operation failed. What gsd sent
     * before has been received first. */
    virtual void lost(uint16_t event, uint32_t value) = 0;
    /* Whether the session is over (dead, or quit): nothing more is read. */
    virtual bool stopped() const = 0;
    /* The end of every drain; `routed`: something was received or lost. */
    virtual void drained(bool routed) = 0;
};

class Transport {
  public:
    using Clock = std::chrono::steady_clock;

    Transport();
    ~Transport();
    Transport(const Transport &) = delete;
    Transport &operator=(const Transport &) = delete;

    /* Creates the wake eventfd, the DEALER with the clients' options
     * (client/link.hpp) and its monitor at `monitorEndpoint` (unique within
     * this transport's own context). False, with nothing asked of libzmq,
     * when the descriptors libzmq needs cannot be opened now (it aborts
     * when it cannot create one). Throws zmq::error_t. */
    bool open(const char *monitorEndpoint);
    /* Before connect(): the largest message this client reads, in place of
     * the clients' kMaxFrameSize (gsctl reads answers that may be larger).
     * Throws zmq::error_t. */
    void setMaxMessageSize(int64_t bytes);
    /* Throws zmq::error_t. */
    void connect(const std::string &endpoint);
    bool isOpen() const { return open_; }

    /* Adds both descriptors to the application's epoll set `epoll`; close()
     * and unwatch() take them out again. False when epoll_ctl failed. */
    bool watch(int epoll);
    void unwatch();

    /* Queues one frame for gsd. False when there is no pipe to gsd or the
     * socket failed: the connection is gone. The caller drains after. */
    bool send(std::string_view frame);
    /* Answers gsd's flow-control Mark (wire::Mark) with its Ack at once:
     * everything before the mark is out of gsd's queue now. Usable inside
     * a drain (which goes on receiving until EAGAIN). False when the socket
     * failed; a missing pipe is left to the monitor, which reports it after
     * what gsd sent before has been read. */
    bool acknowledge(uint64_t key);
    /* The only message allowed to linger, briefly: gsd should hear the
     * Quit rather than infer it from the closed connection. */
    void sayQuit();

    /* Receives everything queued, the monitor too unless `monitor` is false
     * (after a send, which does not touch it); returns whether anything was
     * routed. A zmq::error_t ends the connection (receiver.lost(0, 0)). */
    bool drain(TransportReceiver &receiver, bool monitor = true);

    /* Waits for input until `deadline` (time_point::max(): no limit), or
     * until woken, as the leader or as a follower on `cond`; returns with
     * `lock` held, having drained what came. The caller re-checks what it
     * waits for and loops. */
    template <class Lock, class CondVar>
    void wait(Lock &lock, CondVar &cond, Clock::time_point deadline, TransportReceiver &receiver)
    {
        if (!open_ || receiver.stopped())
            return;
        if (leader_) {
            if (deadline == Clock::time_point::max())
                cond.wait(lock);
            else
                cond.wait_until(lock, deadline);
            return;
        }
        /* Anything already there? Also makes ZMQ_FD trustworthy for the
         * poll. Not needed when nothing touched the sockets since the last
         * drain: whatever it routed, the caller has already seen. */
        if (!quiet_ && (drain(receiver) || receiver.stopped()))
            return;
        leader_ = true;
        const Descriptors fds{socketFd_, monitorFd_, wake_};
        lock.unlock();
        const PollResult result = poll(fds, deadline);
        lock.lock();
        leader_ = false;
        if (receiver.stopped() || closeDeferred_)
            close();
        else /* the monitor only if its descriptor said so (or the poll failed) */
            drain(receiver, result.monitorSignalled);
        /* Followers look again; one of them may take over the polling. */
        cond.notify_all();
    }
    /* Makes the leader's poll return. */
    void wakeLeader();

    /* In a forked child: closes the library's own descriptor (the child's
     * copy); the ZeroMQ objects belong to the parent and are left alone. */
    void forgetAfterFork();

    /* Stops the monitor and closes both sockets (at once, or when the
     * polling leader returns). Idempotent. */
    void close();

  private:
    struct Descriptors {
        int socket, monitor, wake;
    };
    struct PollResult {
        bool monitorSignalled;
    };
    static PollResult poll(const Descriptors &fds, Clock::time_point deadline);
    bool readSocket(TransportReceiver &receiver);
    bool readMonitor(TransportReceiver &receiver);

    zmq::context_t context_;
    zmq::socket_t socket_;
    zmq::socket_t monitor_;
    bool open_ = false;
    int socketFd_ = -1;
    int monitorFd_ = -1;
    int wake_ = -1;
    int epoll_ = -1;
    /* The last socket operation was a drain that emptied both sockets, so
     * their descriptors signal the next arrival. */
    bool quiet_ = false;
    /* The monitor has been read to EAGAIN at least once: from then on its
     * descriptor signals every event, read or not. */
    bool monitorQuiet_ = false;
    bool leader_ = false;
    bool closeDeferred_ = false;
    /* The frames of the message being read (kept for their capacity). */
    std::vector<zmq::message_t> frames_;
};

} // namespace gs::client
