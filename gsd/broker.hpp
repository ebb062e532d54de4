/* SPDX-License-Identifier: MIT */
/*
 * The gsd broker: a ZeroMQ ROUTER front end to the protocol engine. It owns
 * the endpoint, admits clients (credentials, domain, limits), watches their
 * processes, runs responsiveness pings and the engine's timers, and carries
 * the engine's replies and notifications back to the clients.
 *
 * One thread runs everything (run()); stop() may be called from any thread
 * or from a signal handler. See docs/architecture.md and
 * docs/wire-protocol.md.
 */
#pragma once

#include "engine/cmm_engine.hpp"
#include "engine/engine.hpp"
#include "gsd/broker_error.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace gs {

class Order;

struct BrokerConfig {
    std::string endpoint; /* ipc:// only */
    int16_t nodeNumber = 1;
    std::string domain = "local";
    std::string authGroup = "hagsuser";
    /* Unix group whose members may open admin sessions (gsctl), besides
     * root and gsd's own user. */
    std::string adminGroup = "hagsadmin";
    /* Told whenever this gsd starts or stops serving GSAPI clients (in a
     * domain: holds the domain's state or not), with a line saying so:
     * what gsd tells its service manager. May be unset. */
    std::function<void(bool serving, const std::string &status)> serviceStatus;
    /* The domain's limits, including the clients one node serves
     * (limits.maxClients: gsd --max-clients). */
    EngineLimits limits;
    /* Messages queued for one client before it counts as a slow consumer
     * and loses its session (ZMQ_SNDHWM of the ROUTER socket; gsd
     * --send-queue-limit, HA_GS_MAX_QUEUED_NOTIFICATIONS). */
    int sendHighWaterMark = 10000;
    /* Bytes queued for one client connection and not yet acknowledged by
     * it before it counts as a slow consumer (gsd --send-queue-bytes,
     * HA_GS_MAX_QUEUED_BYTES; gsd/send_window.hpp). At least
     * kMinSendQueueBytes. */
    uint64_t sendQueueBytes = 32ull << 20;
    static constexpr uint64_t kMinSendQueueBytes = 64 * 1024;
    /* Requests per second one client may make, and how many at once after
     * being idle (0: the rate). Votes are exempt. Rate 0: unlimited. (gsd
     * --max-request-rate, --request-burst; HA_GS_MAX_REQUEST_RATE.) */
    uint32_t maxRequestRate = 100000;
    uint32_t requestBurst = 0;
    /* CMM (cmm.h): the node table file (empty: a one-node table of this
     * node, see gsd/cmm_table.hpp), whether this node is master-eligible,
     * and how many CMM clients may be registered at once (cmm_cmc_register
     * answers CMM_ENOENT beyond). */
    std::string cmmNodesFile;
    bool cmmIneligible = false;
    unsigned cmmMaxRegistrations = 256;
    /* The CMM node table when it comes from elsewhere than a file (gsd
     * --cluster without --cmm-nodes: Corosync's nodelist), asked at start,
     * at each reload and when a snapshot's table is compared with this
     * gsd's; it throws std::exception saying why it cannot. Unset: the file
     * or the one-node default. */
    std::function<cmm::NodeTable()> cmmNodeSource;
    /* How long an input may wait for the order to hand it on before the
     * broker takes it back (Order::withdrawUnsent) and answers its client.
     * Chosen by gsd --cluster from the totem settings
     * (gsd/timeout_budget.hpp). */
    std::chrono::milliseconds orderWait{3000};
};

class Broker {
  public:
    /* Takes the endpoint (lock, bind) at once; throws BrokerError. */
    explicit Broker(BrokerConfig config);
    /* With another order than a domain of one node's (gsd/order.hpp; the
     * tests record and inject inputs through one). */
    Broker(BrokerConfig config, std::unique_ptr<Order> order);
    /* Releases the endpoint if run() did not; only once run() has returned. */
    ~Broker();
    Broker(const Broker &) = delete;
    Broker &operator=(const Broker &) = delete;

    /* Serves clients until stop(); then says Bye to every client and
     * releases the endpoint. A broker runs once. Throws BrokerError when
     * its order can no longer serve (a domain that refused this gsd); the
     * destructor then says Bye and releases the endpoint. */
    void run();

    /* Thread-safe and async-signal-safe. Before run(), makes run() return
     * at once. */
    void stop() noexcept;
    /* Thread-safe and async-signal-safe: re-read the CMM node table, as
     * cmm_config_reload on this node does (gsd's SIGHUP). */
    void reloadCmm() noexcept;
    /* Thread-safe and async-signal-safe: log a summary of the sessions,
     * connections, groups and limits (gsd's SIGUSR1 and SIGUSR2). */
    void dumpState() noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace gs
