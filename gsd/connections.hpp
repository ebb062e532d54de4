/* SPDX-License-Identifier: MIT */
/*
 * The connections libzmq accepted on gsd's ROUTER socket, as its socket
 * monitor reports them: one record per accepted descriptor, from
 * ZMQ_EVENT_ACCEPTED to ZMQ_EVENT_DISCONNECTED. A record holds what the
 * kernel says about the peer (read from the socket at accept time), the
 * connection's ZAP token (the User-Id libzmq attaches to each of its
 * messages), its session if it has one, and when gsd closes it if it has
 * none.
 *
 * A ROUTER socket cannot close one peer; gsd does it with shutdown(2) on the
 * descriptor, after checking that the descriptor still is the socket it
 * accepted (st_ino): libzmq then sees the end of the stream and closes it as
 * usual. See docs/security.md.
 */
#pragma once

#include "common/model.hpp"
#include "gsd/auth.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <sys/types.h>
#include <unordered_map>
#include <unordered_set>

namespace gs::broker {

/* One accepted socket: its descriptor and the inode it had, so that a
 * descriptor number reused for another connection is never mistaken for
 * it. */
struct ConnectionId {
    int fd = -1;
    ino_t inode = 0;
    bool operator==(const ConnectionId &) const = default;
};

struct Connection {
    ConnectionId id;
    PeerCredentials peer;
    bool authorized = false; /* by the peer's credentials, at accept time */
    bool admin = false;      /* the same for admin sessions (--admin-group) */
    std::string token;       /* ZAP User-Id, once a message bound it */
    ClientId client = 0;     /* its session, 0 when none */
    /* Without a session it is closed at this time (no Hello yet, a refused
     * Hello, an ended session). */
    std::chrono::steady_clock::time_point closeAt;
    uint64_t closeTimer = 0; /* the broker's timer for closeAt, 0: none */
    bool hadSession = false; /* a Hello was admitted: no second session */
    bool refused = false;    /* gsd refused its Hello or its input */
    bool closing = false;    /* shut down: only its DISCONNECTED is awaited */
    std::string endedReason; /* why its session ended, for its later messages */
};

class ConnectionTable {
  public:
    /* A new record for a descriptor libzmq accepted; replaces any stale one
     * of the same number. */
    Connection &add(Connection connection);
    Connection *find(int fd);
    Connection *find(const ConnectionId &id);
    Connection *findByToken(const std::string &token);
    /* Binds a ZAP token to its connection (the first message that carries
     * it names its descriptor). */
    void bindToken(Connection &connection, const std::string &token);
    void erase(int fd);

    size_t size() const { return byFd_.size(); }
    /* Connections without a session, all and of one uid. */
    size_t pending() const;
    size_t pendingOf(uid_t uid) const;
    /* Calls f(Connection &) for every record. */
    template <class F>
    void forEach(F f)
    {
        for (auto &[fd, connection] : byFd_)
            f(connection);
    }

  private:
    std::unordered_map<int, Connection> byFd_;
    std::unordered_map<std::string, int> byToken_;
};

/* Tokens waiting to be bound, the oldest forgotten beyond kCapacity (a
 * connection that never sends stays unbound; gsd closes it anyway). */
class TokenMemory {
  public:
    static constexpr size_t kCapacity = 4096;
    void remember(const std::string &token);
    /* Whether the token was waiting; it is not any more. */
    bool take(const std::string &token);

  private:
    std::unordered_set<std::string> tokens_;
    std::deque<std::string> order_;
};

/* The inode of an open descriptor, 0 when it is not open. */
ino_t inodeOf(int fd);

/* shutdown(2) of the connection, if its descriptor still is that socket.
 * Returns whether it was. */
bool shutdownConnection(const ConnectionId &id);

} // namespace gs::broker
