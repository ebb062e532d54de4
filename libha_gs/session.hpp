/* SPDX-License-Identifier: MIT */
/*
 * Session: one connection to gsd, its request/reply machinery and its
 * notification queue. A process has at most one (see current_session.hpp).
 *
 * Transport. The connection to gsd, its monitor, the drain after every
 * socket operation (so that the application's descriptor is readable
 * whenever ha_gs_dispatch has work) and waiting for input as leader or
 * follower are client/transport.hpp's, shared with libcgha_cmm, and used
 * only under the session mutex. The Session is the transport's receiver: it
 * decodes, routes replies and queues notifications.
 *
 * Descriptor. The application polls an epoll fd holding both sockets'
 * ZMQ_FD and `ready_`, an eventfd kept readable while notifications are
 * queued or the session is dead. Whoever changes what waiters wait for
 * (routes a message, finishes a callback, kills the session) notifies the
 * condition variable and wakes the transport's leader. In the plain library
 * no follower ever exists: the only thread is the leader.
 *
 * Callbacks run without the mutex. A group whose callback runs is marked
 * busy; its later notifications wait, so each group is delivered in order
 * and by one thread at a time, while other groups may proceed. Callbacks may
 * make requests: a request never needs a busy group.
 */
#pragma once

#include "client/transport.hpp"
#include "common/model.hpp"
#include "common/wire.hpp"
#include "libha_gs/fork_generation.hpp"
#include "libha_gs/locking.hpp"
#include "libha_gs/token_entry.hpp"

#include <ha_gs.h>
#include <zmq.hpp>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace gs::client {

struct SessionOptions {
    ha_gs_socket_ctrl_t socketControl = HA_GS_SOCKET_NO_SIGNAL;
    /* Type HA_GS_NO_RESPONSIVENESS when the application asked for none. */
    ha_gs_responsiveness_t responsiveness{};
    ha_gs_responsiveness_cb_t *responsivenessCallback = nullptr;
    ha_gs_delayed_error_cb_t *delayedErrorCallback = nullptr;
    /* Absolute path of the deactivate script; empty: none. */
    std::string deactivateScript;
};

class Session : private TransportReceiver {
  public:
    /* Connects to the endpoint (gs::resolveEndpoint), says Hello and waits
     * for Welcome. On HA_GS_OK `out` holds the live session. */
    static ha_gs_rc_t open(const SessionOptions &options, std::shared_ptr<Session> &out);

    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;
    ~Session();

    /* Whether this process is a forked child of the one that opened the
     * session; such a child must not use it. */
    bool inForkedChild() const { return forkGeneration() != forkGeneration_; }
    /* The application's pollable descriptor. */
    int descriptor() const { return epoll_; }

    /* False once the connection is lost or ha_gs_quit was called. */
    bool alive();
    /* True once the connection is known to be lost or ha_gs_quit was
     * called. Unlike alive(), reads nothing: cheap enough for every call. */
    bool lost();

    /* One request round trip. `registration`, for a join or subscribe,
     * enters the new token in the routing table when gsd accepts, before any
     * of the token's notifications can be routed. */
    ha_gs_rc_t call(Request request, std::shared_ptr<const TokenEntry> registration, Token *token);

    ha_gs_rc_t dispatch(bool blocking);

    /* ha_gs_quit: tell gsd, close the sockets, forget every token, make
     * blocked dispatchers return. */
    void quit();

    ha_gs_rc_t nodeNumber(ha_gs_node_number_t *node);
    ha_gs_rc_t adapterInfo(ha_gs_adapter_info *adapter);

    /* In a forked child: let go of the inherited session. Closes only the
     * library's own descriptors; ZeroMQ's objects belong to the parent, and
     * the Session is never destroyed. */
    void abandonAfterFork();

  private:
    using Clock = std::chrono::steady_clock;

    struct PingNote {
        uint64_t seq = 0;
    };
    struct Queued {
        std::shared_ptr<const TokenEntry> entry; /* null for a ping */
        Token token = 0;
        bool final = false;
        std::variant<NoteBody, PingNote> body;
        /* Delivery order is kept per key: the group, or "" for pings (no
         * group name is empty). */
        const std::string &key() const;
    };
    struct Pending {
        std::shared_ptr<const TokenEntry> registration;
        Token forget = 0; /* goodbye/unsubscribe: token invalid once accepted */
        std::optional<wire::ReplyMsg> reply;
    };

    explicit Session(const SessionOptions &options);

    ha_gs_rc_t connect(Lock &lock);
    bool sendLocked(const wire::ClientMessage &message);
    /* Routes everything queued on the socket, and on the monitor unless
     * `monitor` is false; returns whether anything was routed. */
    bool drainLocked(bool monitor = true);
    /* TransportReceiver, called by the transport under the mutex. */
    void received(std::vector<zmq::message_t> &frames) override;
    void lost(uint16_t event, uint32_t value) override;
    bool stopped() const override { return dead_ || quit_; }
    void drained(bool routed) override;
    /* `body`: the decoded body that followed a NoteHeader (nullopt otherwise). */
    void routeLocked(wire::ServerMessage message, std::optional<NoteBody> &body);
    void routeReplyLocked(const wire::ReplyMsg &reply);
    /* Answers a flow-control Mark (wire::Mark) with its Ack. */
    void acknowledgeLocked(uint64_t key);
    void forgetTokenLocked(Token token);
    void waitLocked(Lock &lock, Clock::time_point deadline);
    void wakeLocked();
    struct BusyGroup;
    /* The entry of a group with holders; null when it has none. */
    BusyGroup *findBusyLocked(const std::string &group);
    void holdGroupLocked(const std::string &group);
    void releaseGroupLocked(const std::string &group);
    void markDeadLocked();
    void updateReadyLocked();
    void settleReadyLocked();
    std::optional<Queued> takeDeliverableLocked();
    void deliver(const Queued &note, bool &pong);

    const unsigned forkGeneration_;
    const SessionOptions options_;

    Mutex mutex_;
    CondVar cond_;

    Transport transport_;
    int epoll_ = -1;
    int ready_ = -1;
    bool readySignalled_ = false;
    /* dispatch holds the mutex and delivers what is queued: leave `ready_`
     * as it is until settleReadyLocked. */
    bool deferReady_ = false;
    bool dead_ = false;
    /* gsd refused the connection at its handshake (the monitor's
     * ZMQ_EVENT_HANDSHAKE_FAILED_AUTH): the caller is not authorized. */
    bool refused_ = false;
    bool quit_ = false;
    bool abandoned_ = false;
    std::optional<wire::Welcome> welcome_;

    RequestId nextRequest_ = 0;
    std::map<RequestId, Pending> pending_;
    std::map<Token, std::shared_ptr<const TokenEntry>> tokens_;
    std::deque<Queued> queue_;
    /* Groups that may not be delivered now, with the number of holders: a
     * running callback, or a join/subscribe whose reply has not been
     * returned to its caller yet (so no callback of a new token can run
     * before the application knows the token). */
    struct BusyGroup {
        std::string group;
        unsigned holders = 0; /* 0: a free slot, reused by the next group */
    };
    /* A few entries at most (one per running callback or pending join), so
     * a vector searched linearly: no allocation per delivered notification,
     * as a map node would cost. */
    std::vector<BusyGroup> busy_;
    /* interface_name storage of ha_gs_get_adapter_info, valid until quit. */
    std::set<std::string> interfaceNames_;
};

} // namespace gs::client
