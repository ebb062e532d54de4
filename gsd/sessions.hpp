/* SPDX-License-Identifier: MIT */
/*
 * The admitted clients, found by client id, by ZeroMQ routing id and by
 * process (the process that connected, not its pid number); and a bounded memory of why recently
 * ended sessions ended, so a client that keeps talking learns the reason.
 */
#pragma once

#include "common/model.hpp"
#include "gsd/auth.hpp"
#include "gsd/connections.hpp"
#include "gsd/request_bucket.hpp"
#include "gsd/send_window.hpp"
#include "gsd/unique_fd.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace gs::broker {

struct Session {
    ClientId id = 0;
    std::string route; /* ZeroMQ routing id of its connection */
    PeerCredentials peer;
    UniqueFd pidfd;          /* of the process that connected (SO_PEERPIDFD) */
    uint64_t process = 0;    /* processIdentity(pidfd), or a pid-based key */
    ConnectionId connection; /* the only connection whose messages it takes */
    int pingInterval = 0;    /* seconds; 0: no responsiveness checks */
    int pingLimit = 0;       /* seconds to answer a ping */
    uint64_t nextPing = 1;
    std::set<uint64_t> unanswered; /* pings sent and not yet answered */
    /* Its responsiveness timers, cancelled when it ends: the recurring
     * check (PingDue or CounterCheckDue), and the deadlines of the checks
     * under way (PongDue or CounterVerdictDue, oldest first; at most
     * kMaxChecksUnderWay). */
    uint64_t checkTimer = 0;
    std::deque<uint64_t> deadlineTimers;
    static constexpr size_t kMaxChecksUnderWay = 8;
    int kind = 0;                 /* wire::kSessionGsapi, kSessionCmm or kSessionAdmin */
    bool cmmRegistered = false;   /* CMM session with cmm_cmc_register in force */
    RequestBucket requests;       /* --max-request-rate, --request-burst */
    uint64_t refusedRequests = 0; /* refused by the rate limit, for the log */
    bool batches = false;         /* Hello.batches: several messages per ZeroMQ message */
    bool packs = false;           /* Hello.packs (with batches): several messages per frame */
    size_t outbox = kNoOutbox;    /* index of its outbox in the broker while it has one */
    std::string deactivateScript; /* Hello.deactivateScript; empty: none */
    /* HA_GS_COUNTER_RESPONSIVENESS: the counter in the client's memory and
     * the check's timing (seconds); interval 0: no counter checks. */
    uint64_t counterAddress = 0;
    int counterLength = 0;
    int counterInterval = 0;
    int counterLimit = 0;
    SendWindow window;         /* bytes queued and not yet acknowledged (--send-queue-bytes) */
    uint64_t pendingBytes = 0; /* counted into its outbox, not handed to libzmq yet */
    bool overflowed = false;   /* its outbox did not fit the window: a slow consumer */
    /* Admin sessions: sent the event stream (of `streamGroup` alone when
     * it is set). */
    bool streaming = false;
    std::optional<std::string> streamGroup;
    /* GSAPI sessions: the local name (ha_gs_join's) of its provider
     * tokens, known to this node alone. */
    std::map<Token, std::string> localNames;
    static constexpr size_t kNoOutbox = static_cast<size_t>(-1);
};

/* "client ID (pid P, uid U)", for the log. */
std::string peerName(const Session &session);

class SessionTable {
  public:
    /* Pointers stay valid until the session is taken. */
    Session &add(Session session);
    Session *find(ClientId id);
    const Session *find(ClientId id) const;
    Session *findByRoute(const std::string &route);
    /* A process has at most one session of each kind. */
    Session *findByProcess(uint64_t process, int kind);
    /* Removes a session and hands it over; nullopt if there is none. */
    std::optional<Session> take(ClientId id);

    size_t size() const { return sessions_.size(); }
    std::vector<ClientId> ids() const;

  private:
    std::unordered_map<ClientId, Session> sessions_;
    std::unordered_map<std::string, ClientId> byRoute_;
    std::map<std::pair<uint64_t, int>, ClientId> byProcess_;
};

} // namespace gs::broker
