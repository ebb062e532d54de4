/* SPDX-License-Identifier: MIT */
/* The broker's state, shared by the files of its jobs (each named at its
 * functions below; docs/architecture.md lists them). */
#pragma once

#include "gsd/auth.hpp"
#include "gsd/broker.hpp"
#include "gsd/cmm_table.hpp"
#include "gsd/connections.hpp"
#include "gsd/deactivate.hpp"
#include "gsd/ipc_endpoint.hpp"
#include "gsd/metrics.hpp"
#include "gsd/order.hpp"
#include "gsd/pid_watch.hpp"
#include "gsd/refusal_log.hpp"
#include "gsd/sessions.hpp"
#include "gsd/timer_heap.hpp"
#include "gsd/unique_fd.hpp"

#include "common/wire.hpp"
#include "engine/cmm_engine.hpp"

#include <deque>
#include <initializer_list>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>
#include <zmq.hpp>

namespace gs {

namespace broker {

struct EngineTimerDue {
    TimerId timer = 0;
};
struct PingDue {
    ClientId client = 0;
};
struct PongDue {
    ClientId client = 0;
    uint64_t seq = 0;
};
/* Retry the Byes that found their connection's queue full. */
struct ByeRetryDue {};
/* Counter responsiveness: take a reading of the client's counter... */
struct CounterCheckDue {
    ClientId client = 0;
};
/* ...and compare it with a new one, a response time limit later. */
struct CounterVerdictDue {
    ClientId client = 0;
    std::string reading;
};
/* A connection without a session may be due to close (Connection::closeAt). */
struct ConnectionDue {
    ConnectionId connection;
};
/* Summaries of counted refusals are due (RefusalLog). */
struct RefusalFlushDue {};
using TimerPayload = std::variant<EngineTimerDue, PingDue, PongDue, ByeRetryDue, CounterCheckDue,
                                  CounterVerdictDue, ConnectionDue, RefusalFlushDue>;
using Clock = std::chrono::steady_clock;

/* What gsd's descriptors go to (see docs/security.md): `fixed` are open
 * before any client, every session costs two (its connection and its
 * pidfd), every connection without a session one; `reserve` is never
 * planned for, it absorbs connections libzmq accepts before gsd sees them. */
struct DescriptorBudget {
    size_t limit = 0; /* RLIMIT_NOFILE */
    size_t fixed = 0;
    size_t reserve = 0;
    size_t room = 0;       /* limit - fixed - reserve: for clients */
    size_t pendingCap = 0; /* connections without a session, all users */
    size_t pendingPerUid = 0;
};

} // namespace broker

struct Broker::Impl final : DomainHost {
    Impl(BrokerConfig config, std::unique_ptr<Order> order);

    /* ---- broker.cpp: setup, the poll loop, shutdown ---- */
    void run();
    void drainRouter();
    /* Receives and handles up to `count` messages. */
    enum class Received { More, Empty, Error };
    Received receiveSome(int count);
    /* Hands each expired timer to the onTimer of its kind. */
    void fireTimers();
    /* Sends what was submitted to the order (Order::flush), then the
     * outboxes; logs failures. */
    void flushAll();
    void shutdown();
    /* The descriptor budget; sets clientCap. Throws BrokerError when not
     * even one client fits. */
    void planDescriptors();

    /* ---- broker_connections.cpp: monitor, ZAP, closing ---- */
    /* Reads every event the ROUTER's monitor has queued. */
    void drainMonitor();
    void onAccepted(int fd);
    void onDisconnected(int fd);
    /* Answers every queued ZAP request (after draining the monitor, so that
     * the connection being authenticated has its record). */
    void drainZap();
    void answerZap(std::vector<zmq::message_t> &request);
    /* The connection a message came from: by its ZAP token (User-Id), bound
     * to its record by the descriptor libzmq names (ZMQ_SRCFD) the first
     * time. nullptr when it cannot be told. */
    broker::Connection *connectionOf(const zmq::message_t &payload);
    /* Closes a connection at once, ending its session if it has one. The
     * way to drop one peer of the ROUTER socket (slow consumers, ended
     * sessions, silent or refused connections). */
    void closeConnection(const broker::ConnectionId &connection);
    /* Closes a connection that has no session at `when` unless it gets one
     * before. */
    void closeLater(broker::Connection &connection, broker::Clock::time_point when);
    void onTimer(const broker::ConnectionDue &due);
    /* Logs a refusal, summarised beyond the first of its kind per interval. */
    void refuse(broker::Refusal kind, spdlog::level::level_enum level, const std::string &what);
    void onTimer(const broker::RefusalFlushDue &due);
    /* gsd's SIGUSR1: a summary of the state to the log. */
    void onDumpSignal();

    /* ---- client_messages.cpp: messages, hellos, admission, requests ---- */
    void onMessage(const zmq::message_t &route, const zmq::message_t &payload, int frames);
    void onHello(const std::string &route, broker::Connection &connection,
                 const wire::Hello &hello);
    int admissionError(const wire::Hello &hello, const broker::Connection &connection,
                       bool replacing) const;
    /* Creates the session here (credentials, limits, liveness checks) and
     * submits its ClientHello; its Welcome leaves on delivery. */
    void admit(const std::string &route, broker::Connection &connection, broker::UniqueFd pidfd,
               uint64_t process, const wire::Hello &hello);
    void protocolError(broker::Connection &connection, const std::string &route,
                       const std::string &what);
    /* The request rate limit (--max-request-rate): whether the session may
     * make one more request now; logs the first refusal of each session. */
    bool withinRequestRate(broker::Session &session);
    /* Whether a request may enter the order; if not, it is answered here
     * HA_GS_NO_MEMORY (CMM_EBUSY for CMM). Votes are exempt. */
    bool admitRequest(broker::Session &session, const wire::Req &req);
    bool admitRequest(broker::Session &session, const wire::CmmReq &req);
    /* Ends a session: forgets it, optionally says Bye, submits ClientGone
     * (a GSAPI session's, unless `tellDomain` is false: the engines never
     * learnt of it, or they are being reset). */
    void endSession(ClientId client, const std::string &reason, bool sayBye,
                    bool tellDomain = true);

    /* ---- liveness.cpp: deaths, pings, counter checks of local clients ---- */
    void onProcessExit(ClientId client);
    void onTimer(const broker::PingDue &due);
    void onTimer(const broker::PongDue &due);
    /* Hello asking for counter checks: HA_GS_OK or why not. */
    int counterAdmissionError(const wire::Hello &hello, const broker::PeerCredentials &peer) const;
    void onTimer(const broker::CounterCheckDue &due);
    void onTimer(const broker::CounterVerdictDue &due);

    /* ---- cmm_service.cpp: CMM sessions' requests ---- */
    /* A CMM request of a CMM session: answered at once when it only reads
     * (or is refused here), submitted when it changes the cluster. */
    void onCmmRequest(ClientId client, const wire::CmmReq &request);
    /* The local answer to `request`, or in `change` the change to submit. */
    wire::CmmReply answerCmm(ClientId client, const wire::CmmReq &request,
                             std::optional<cmm::Event> &change);
    /* The CMM engine's outcome of a delivered input: its notifications to
     * the local registered CMM sessions, then the reply if it is ours. */
    void carryOut(const CmmRequest &request, const cmm::Outcome &outcome);
    void carryOut(const CmmNodeInput &input, const cmm::Outcome &outcome);
    void notifyCmm(const cmm::Outcome &outcome);
    cmm::NodeTable loadCmmNodes() const;
    /* reloadCmm() asked for a reload: read the table, submit it. */
    void onReloadSignal();

    /* ---- admin.cpp: gsctl's queries (docs/wire-protocol.md, "Admin") ---- */
    /* Answers one query of an admin session at once (nothing is ordered:
     * the answer is this node's replica and its own sessions), or starts
     * its event stream. */
    void onAdminRequest(broker::Session &session, const wire::AdminReq &request);
    /* The answer of onAdminRequest; throws what prevents it. */
    void answerAdmin(broker::Session &session, const wire::AdminReq &request,
                     wire::AdminReply &reply);
    /* The documents, as JSON text. */
    std::string adminGroups() const;
    /* Empty when there is no such group. */
    std::string adminGroup(const std::string &name) const;
    std::string adminClients() const;
    std::string adminNodes() const;
    std::string adminStats() const;
    broker::Gauges gauges() const;

    /* ---- observer.cpp: what operators see happen (log, events, metrics) ---- */
    /* An engine observation, at its delivery on this node. */
    void observe(const Observation &observation);
    /* What the broker itself saw: a client or a node gone, a node up, the
     * domain's state held or lost. */
    void observeClientGone(ClientId client);
    void observeNode(int16_t node, bool up);
    void observeSync(bool synced, const std::string &why);
    /* A local GSAPI session ended: its pid and why, kept until its
     * ClientGone is delivered (observeClientGone). */
    void noteGoneSession(const broker::Session &session, const std::string &reason);
    /* A reply of the GSAPI engine to a local client, for the refusals'
     * log and counts. */
    void observeReply(const Reply &reply);
    /* Whether an admin session streams the events of `group` (empty: of
     * no group, which only unfiltered streams take). */
    bool streamWants(const std::string &group) const;
    /* Sends one event (a JSON object) to every admin session streaming
     * events, of `group`'s when it names one. */
    void publish(const std::string &group, const std::string &event);
    /* A local client's pid and the local name of a provider token, for the
     * operators: only this node knows them. */
    std::optional<pid_t> localPid(ClientId client) const;
    std::optional<std::string> localName(ClientId client, Token token) const;
    /* Remembers the local name of a local join the engine accepted. */
    void noteLocalName(const ClientRequest &request);

    /* ---- broker_order.cpp: the ordering seam ---- */
    /* Every engine input produced on this node goes to the order here. The
     * output of what it delivers is flushed when the outermost submit
     * returns, unless drainRouter holds the output. */
    void submit(Input input);
    /* THE place where the engines run: on every input the order delivers,
     * whichever node submitted it. Carries out the actions for local
     * clients only. Inputs submitted meanwhile (a session dropped while
     * sending) are delivered after it returns, in order. */
    void onDelivered(const Input &input);
    /* The GSAPI engine's actions for a delivered event. */
    void carryOut(const Event &event);
    /* Whether a client is served by this gsd (its id names its node): only
     * this node sends to it, runs its scripts and watches it. */
    bool isLocal(ClientId client) const { return clientNode(client) == config.nodeNumber; }
    void execute(const Reply &reply);
    void execute(const Notify &notify);
    /* A shadow timer: armed on every node; where the order keeps time its
     * expiry submits TimerFired. */
    void execute(const StartTimer &start);
    void execute(const CancelTimer &cancel);
    void onTimer(const broker::EngineTimerDue &due);
    /* An input the order could not hand on in time
     * (Order::withdrawUnsent): a client's request is answered here,
     * anything else submitted again. */
    void onWithdrawn(const Input &input);

    /* ---- broker_domain.cpp: the replicas as the domain sees them ---- */
    std::string snapshotState() const override;
    void restoreState(std::string_view blob) override;
    void replayed() override;
    /* The rows of the domain's CMM node table unlike this gsd's file. */
    std::vector<std::string> cmmTableDifferences(const cmm::NodeTable &domain) const;
    /* Throws StateRefused (Settings) naming the differences, if any. */
    static void refuseIfDifferent(const std::vector<std::string> &differences);
    StateDigest stateDigest() const override;
    void synced() override;
    void entered(const std::vector<uint32_t> &nodes) override;
    void unsynced(Unsync why) override;
    void becameTimekeeper() override;
    /* Arms a shadow timer for each timer the engine waits for, due after
     * `dueMs` (the donor's view) or else the timer's full duration. */
    void armShadowTimers(const std::map<TimerId, uint32_t> &dueMs);
    void cancelShadowTimers();
    /* A delivered ClientHello: the domain's next serial of its node. */
    void noteClientSerial(ClientId client);

    /* ---- broker_deactivate.cpp: deactivate scripts of local clients ---- */
    void execute(const RunDeactivate &run);
    void execute(const StopDeactivate &stop);
    /* Submits the outcomes of the scripts that ended. */
    void onScriptsFinished();

    /* ---- client_sender.cpp: messages to clients ---- */
    /* Sends one message; returns 0 or the errno of the failure. */
    int sendFrames(const std::string &route, std::initializer_list<std::string_view> frames);
    /* To a session that takes batches: queued in its outbox until
     * flushOutboxes, so that a reply and the notifications it causes (and,
     * under load, those of several requests) leave as one ZeroMQ message.
     * To a session that also takes packs, consecutive messages share a
     * frame (one frame to send, and to receive, instead of two per
     * notification); a notification body larger than kPackedBodyLimit
     * stays a frame of its own, shared by every recipient. */
    void enqueue(broker::Session &session, const std::string &message);
    /* Counts `bytes` more into the session's outbox if its window admits
     * them; otherwise the session is a slow consumer (its outbox is
     * dropped, and flushOutboxes ends it). */
    bool fitsWindow(broker::Session &session, uint64_t bytes);
    void enqueueBody(broker::Session &session, const std::string &body,
                     std::optional<zmq::message_t> &shared);
    /* Sends every outbox, one message per session, in the order the
     * sessions were first addressed. A failure ends that session. Runs at
     * the end of every outermost submit() except while drainRouter holds
     * the output, which flushes after its batch of messages. */
    void flushOutboxes();
    /* To a session: a failure ends the session (slow consumer or gone), as
     * does a message its window does not admit. Adds a mark when one is
     * due. */
    void deliver(ClientId client, std::initializer_list<std::string_view> frames);
    void sendFailed(ClientId client, int error);
    /* Outside any session; failures do not matter. */
    void tell(const std::string &route, const wire::ServerMessage &message);
    /* A Bye; when the connection's queue is full (a slow consumer), it is
     * owed and retried until it fits or the connection is gone. */
    void sayBye(const std::string &route, const std::string &reason);
    void retryByes();
    void onTimer(const broker::ByeRetryDue &due);

    BrokerConfig config;
    broker::IpcEndpoint endpoint;
    zmq::context_t context;
    /* libzmq's ZAP handler endpoint: every handshake on the ROUTER asks it. */
    zmq::socket_t zap;
    zmq::socket_t router;
    /* The ROUTER's monitor: ACCEPTED and DISCONNECTED, with descriptors. */
    zmq::socket_t monitor;
    broker::UniqueFd stopFd;
    broker::UniqueFd reloadFd;
    broker::UniqueFd dumpFd;
    broker::ConnectionTable connections;
    broker::DescriptorBudget descriptors;
    /* Sessions this node admits at once: the domain's limits.maxClients,
     * lowered to what this node's descriptors allow (planDescriptors). */
    unsigned clientCap = 0;
    broker::RefusalLog refusals;
    bool refusalFlushArmed = false;
    uint64_t nextToken = 1;
    /* ZAP tokens issued while one process handshook on several connections:
     * bound by the first message that carries each. */
    broker::TokenMemory unboundTokens;
    bool zapQuiet = false;
    bool monitorQuiet = false;
    broker::PidWatch pids;
    broker::DeactivateRunner scripts;
    broker::Authorizer authorizer;
    /* Who may open admin sessions (gsctl): --admin-group. */
    broker::Authorizer adminAuthorizer;
    broker::Metrics metrics;
    /* When each group's running phase opened (vote latencies). */
    std::map<std::string, broker::Clock::time_point> phaseOpenedAt;
    /* Admin sessions streaming events. */
    std::set<ClientId> streamingClients;
    /* Local GSAPI sessions ended whose ClientGone is on its way: pid and
     * reason (noteGoneSession). */
    std::map<ClientId, std::pair<pid_t, std::string>> recentlyGone;
    /* What the engine observed during the delivery being carried out. */
    std::vector<Observation> observations;
    /* When this gsd started (gsctl stats). */
    std::chrono::system_clock::time_point startedAt = std::chrono::system_clock::now();
    Engine engine;
    cmm::Engine cmmEngine;
    /* A fresh engine's state with this gsd's limits: what unsynced() resets
     * the replica to. */
    std::string emptyEngineState;
    std::unique_ptr<Order> order;
    /* Inside onDelivered: submits wait for the delivery to end. */
    bool delivering = false;
    /* This node holds the domain's state (DomainHost::synced): GSAPI
     * clients are admitted and inputs submitted. Until then, and after
     * unsynced(), nothing is submitted. */
    bool domainSynced = false;
    /* Inside order->attach(). */
    bool attaching = false;
    /* The registered CMM sessions were told the cluster is stale and
     * invalid (unsynced); synced() tells them it is valid again. */
    bool cmmToldOut = false;
    /* The domain's counters (replicated, in the state blob): for each node,
     * the serial after the highest one of its delivered ClientHellos. */
    std::map<int16_t, uint64_t> nextSerialOf;
    /* CMM changes submitted for local sessions and not yet delivered
     * (client, request id): answered CMM_ENOCLUSTER if this node stops
     * holding the domain's state first. */
    std::set<std::pair<ClientId, RequestId>> cmmPending;
    /* Shadow timers that expired while another node kept time: fired by
     * becameTimekeeper() unless the engine cancelled them meanwhile. */
    std::set<TimerId> overdueTimers;
    /* CMM sessions registered for notifications, in registration order. */
    std::vector<ClientId> cmmRegistered;
    broker::SessionTable sessions;
    broker::TimerHeap<broker::TimerPayload> timers;
    struct ShadowTimer {
        broker::TimerHeap<broker::TimerPayload>::Handle handle = 0;
        broker::Clock::time_point due;
    };
    std::unordered_map<TimerId, ShadowTimer> engineTimers;
    /* Byes waiting for room in their connection's queue: route -> reason,
     * oldest first, at most kMaxOwedByes. */
    std::unordered_map<std::string, std::string> owedByes;
    std::deque<std::string> owedOrder;
    bool byeRetryArmed = false;
    /* The serial of the next client id (makeClientId). */
    uint64_t nextClientSerial = 1;
    std::vector<Action> actions;
    bool finished = false;
    /* The last operation on the ROUTER was a receive that found nothing, so
     * its ZMQ_FD signals the next arrival (a send may consume the signal). */
    bool routerQuiet = false;
    /* Outboxes in use are outboxes[0, outboxesUsed); the rest keep their
     * capacity for the next steps. Session::outbox indexes them. */
    struct Outbox {
        ClientId client = 0;
        std::vector<zmq::message_t> frames;
        /* The frame being packed (packing sessions): becomes the next of
         * `frames` when it is full, before a large body, and at the flush. */
        std::string pack;
        void closePack();
    };
    /* A pack is closed before it would grow past kPackLimit (far below the
     * client's 1 MiB frame limit); bodies up to kPackedBodyLimit are copied
     * into the pack, larger ones are shared instead. */
    static constexpr size_t kPackLimit = 64 * 1024;
    static constexpr size_t kPackedBodyLimit = 4 * 1024;
    std::vector<Outbox> outboxes;
    size_t outboxesUsed = 0;
    /* The session's outbox, taken from the unused ones if it has none. */
    Outbox &outboxOf(broker::Session &session);
    bool holdOutput = false;
    /* Encoding buffers, reused (they keep their capacity). */
    std::string scratch;
};

} // namespace gs
