/* SPDX-License-Identifier: MIT */
/* Setup, the poll loop and shutdown of the broker. */
#include "gsd/broker_impl.hpp"

#include "gsd/accept_guard.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

namespace gs {
namespace {

/* Messages taken from the ROUTER per loop turn, so exits and timers are not
 * starved by a flood of requests. */
constexpr int kReceiveBudget = 4096;

/* Messages handled before the output held for them is sent: batching under
 * load, without making the first client of a long batch wait for all. */
constexpr int kFlushEvery = 32;

/* How long closing waits for Bye messages to leave. */
constexpr int kLingerMs = 200;

/* libzmq drops a connection whose ZeroMQ handshake (ZAP included) is not
 * done by then (ZMQ_HANDSHAKE_IVL; libzmq's default is 30 s). */
constexpr int kHandshakeMs = 5000;

/* libzmq's fixed names: the ZAP handler's endpoint, and ours for the
 * ROUTER's monitor. */
constexpr const char *kZapEndpoint = "inproc://zeromq.zap.01";
constexpr const char *kMonitorEndpoint = "inproc://gsd.router-monitor";

/* Descriptors never planned for clients: the connections libzmq's I/O
 * thread accepts before gsd's loop sees them and closes the excess,
 * group-file lookups, the log. */
size_t reserveFor(size_t limit)
{
    return 64 + limit / 32;
}

size_t openDescriptors()
{
    size_t count = 0;
    std::error_code error;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", error);
         !error && it != std::filesystem::directory_iterator(); it.increment(error))
        ++count;
    return count;
}

BrokerConfig validated(BrokerConfig config)
{
    if (config.nodeNumber < 1)
        throw BrokerError(BrokerError::Kind::Config, "node number " +
                                                         std::to_string(config.nodeNumber) +
                                                         " is out of range (1..32767)");
    if (config.limits.maxClients < 1)
        throw BrokerError(BrokerError::Kind::Config, "the client limit must be at least 1");
    if (config.sendHighWaterMark < 1)
        throw BrokerError(BrokerError::Kind::Config, "the send queue limit must be at least 1");
    if (config.sendQueueBytes < BrokerConfig::kMinSendQueueBytes)
        throw BrokerError(BrokerError::Kind::Config,
                          "the send queue byte limit must be at least " +
                              std::to_string(BrokerConfig::kMinSendQueueBytes));
    if (config.cmmMaxRegistrations < 1)
        throw BrokerError(BrokerError::Kind::Config,
                          "the CMM registration limit must be at least 1");
    return config;
}

} // namespace

Broker::Impl::Impl(BrokerConfig cfg, std::unique_ptr<Order> inputOrder)
    : config(validated(std::move(cfg))), endpoint(config.endpoint), context(1),
      zap(context, zmq::socket_type::rep), router(context, zmq::socket_type::router),
      monitor(context, zmq::socket_type::pair), stopFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      reloadFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      dumpFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), authorizer(config.authGroup),
      adminAuthorizer(config.adminGroup), engine(EngineConfig{config.limits}),
      cmmEngine(loadCmmNodes()), emptyEngineState(engine.snapshot()), order(std::move(inputOrder))
{
    order->onDelivery([this](const Input &input) { onDelivered(input); });
    if (!stopFd || !reloadFd || !dumpFd)
        throw BrokerError(BrokerError::Kind::System,
                          std::string("cannot create an eventfd: ") + std::strerror(errno));
    router.set(zmq::sockopt::router_mandatory, 1);
    router.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(wire::kMaxFrameSize));
    router.set(zmq::sockopt::linger, kLingerMs);
    router.set(zmq::sockopt::sndhwm, config.sendHighWaterMark);
    router.set(zmq::sockopt::handshake_ivl, kHandshakeMs);
    /* Every connection is authenticated at its handshake by gsd's ZAP
     * handler (answerZap), before it can send anything. The handler is bound
     * before the ROUTER and stays until it is closed (without a handler
     * libzmq would let connections through: ZMQ_ZAP_ENFORCE_DOMAIN is a
     * draft option that Debian's libzmq 4.3.4 lacks). */
    router.set(zmq::sockopt::zap_domain, "gsd");
    try {
        zap.set(zmq::sockopt::linger, 0);
        zap.bind(kZapEndpoint);
        if (zmq_socket_monitor(router.handle(), kMonitorEndpoint,
                               ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0)
            throw zmq::error_t();
        /* No event may be dropped: a lost ACCEPTED would leave a connection
         * gsd cannot close, a lost DISCONNECTED a session without a
         * connection. An unlimited queue on our side makes the pipe
         * unlimited. */
        monitor.set(zmq::sockopt::rcvhwm, 0);
        monitor.set(zmq::sockopt::linger, 0);
        monitor.connect(kMonitorEndpoint);
    } catch (const zmq::error_t &error) {
        throw BrokerError(BrokerError::Kind::System,
                          std::string("cannot set up the connection checks: ") + error.what());
    }
    try {
        const auto mode = endpoint.socketMode();
        router.bind(endpoint.bindEndpoint());
    } catch (const zmq::error_t &error) {
        throw BrokerError(BrokerError::Kind::System,
                          "cannot bind " + config.endpoint + ": " + error.what());
    }
    endpoint.bound();
    if (!broker::armAcceptGuard())
        throw BrokerError(BrokerError::Kind::System,
                          std::string("cannot open a spare descriptor: ") + std::strerror(errno));
    planDescriptors();
    /* The order tells this gsd when it holds the domain's state. A domain
     * of one holds it from the start (synced() within attach); in a domain
     * of several the node's CMM NodeUp is the order's, delivered at the
     * point where it joins. */
    attaching = true;
    order->attach(*this);
    attaching = false;
    /* A domain of one: this gsd is up, the local CMM node joins (nobody is
     * registered yet). */
    if (domainSynced)
        submit(CmmNodeInput{cmm::NodeUp{static_cast<cmm_nodeid_t>(config.nodeNumber)}});
    if (!authorizer.groupId())
        spdlog::warn("group '{}' does not exist: only root and gsd's own user may connect",
                     config.authGroup);
}

void Broker::Impl::planDescriptors()
{
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        limit.rlim_cur = 1 << 20;
    descriptors.limit = static_cast<size_t>(limit.rlim_cur);
    descriptors.fixed = openDescriptors();
    descriptors.reserve = reserveFor(descriptors.limit);
    const size_t spent = descriptors.fixed + descriptors.reserve;
    descriptors.room = descriptors.limit > spent ? descriptors.limit - spent : 0;
    descriptors.pendingCap = std::clamp<size_t>(descriptors.room / 4, 8, 256);
    descriptors.pendingPerUid = std::max<size_t>(4, descriptors.pendingCap / 4);
    if (descriptors.room < descriptors.pendingCap + 2)
        throw BrokerError(BrokerError::Kind::Config,
                          "the open file limit (" + std::to_string(descriptors.limit) +
                              ") is too low: gsd needs at least " +
                              std::to_string(spent + descriptors.pendingCap + 2) +
                              " descriptors to serve one client");
    const size_t fit = (descriptors.room - descriptors.pendingCap) / 2;
    clientCap = config.limits.maxClients;
    if (fit < clientCap) {
        spdlog::warn("the open file limit ({}) leaves room for {} clients, not --max-clients {}: "
                     "serving at most {} (each client needs 2 descriptors; raise the limit, "
                     "e.g. LimitNOFILE=, to serve more)",
                     descriptors.limit, fit, config.limits.maxClients, fit);
        clientCap = static_cast<unsigned>(fit);
    }
}

void Broker::Impl::run()
{
    /* The ROUTER's ZMQ_FD is polled directly (zmq_poll would ask ZMQ_EVENTS
     * around every poll): it signals an arrival only while the socket is
     * quiet, i.e. after a receive found nothing and before any send. When it
     * is not quiet the poll does not wait and the loop drains the socket. */
    const int routerFd = router.get(zmq::sockopt::fd);
    const int monitorFd = monitor.get(zmq::sockopt::fd);
    const int zapFd = zap.get(zmq::sockopt::fd);
    while (!finished) {
        // clang-format off
        pollfd items[] = {
            {routerFd, POLLIN, 0},
            {stopFd.get(), POLLIN, 0},
            {pids.fd(), POLLIN, 0},
            {reloadFd.get(), POLLIN, 0},
            {monitorFd, POLLIN, 0},
            {zapFd, POLLIN, 0},
            {dumpFd.get(), POLLIN, 0},
            {scripts.fd(), POLLIN, 0},
            {order->fd(), POLLIN, 0}, /* ignored by poll while -1 */
        };
        // clang-format on
        const bool quiet = routerQuiet && monitorQuiet && zapQuiet;
        const auto before = broker::Clock::now();
        /* The order may want deliverArrived() called by a time (a retry, a
         * withdrawal, a periodic check) even if nothing arrives. */
        const long orderWait = order->timeoutMs();
        long timeout = quiet ? timers.timeoutMs(before) : 0;
        if (orderWait >= 0 && (timeout < 0 || orderWait < timeout))
            timeout = orderWait;
        timeout = std::min<long>(timeout, INT_MAX);
        if (::poll(items, std::size(items), static_cast<int>(timeout)) < 0) {
            if (errno == EINTR)
                continue;
            spdlog::critical("poll failed: {}", std::strerror(errno));
            break;
        }
        const bool orderDue = (items[8].revents & POLLIN) ||
                              (orderWait >= 0 && broker::Clock::now() - before >=
                                                     std::chrono::milliseconds(orderWait));
        if (items[1].revents & POLLIN)
            break;
        /* Exits first: a client that died must not be served a reply. */
        if (items[2].revents & POLLIN) {
            for (ClientId client : pids.exited()) {
                try {
                    onProcessExit(client);
                } catch (const std::exception &error) {
                    spdlog::error("handling the exit of client {}: {}", client, error.what());
                }
            }
        }
        /* Connections before their messages: a message finds the record of
         * its connection, a ZAP request the connection it authenticates. */
        if ((items[4].revents & POLLIN) || !monitorQuiet)
            drainMonitor();
        if ((items[5].revents & POLLIN) || !zapQuiet)
            drainZap();
        if ((items[0].revents & POLLIN) || !routerQuiet)
            drainRouter();
        if (items[3].revents & POLLIN)
            onReloadSignal();
        if (items[6].revents & POLLIN)
            onDumpSignal();
        if (items[7].revents & POLLIN) {
            try {
                onScriptsFinished();
            } catch (const std::exception &error) {
                spdlog::error("handling the end of a deactivate script: {}", error.what());
            }
        }
        if (orderDue) {
            try {
                order->deliverArrived();
            } catch (const BrokerError &) {
                /* The domain refused this gsd (e.g. its settings at sync):
                 * it cannot serve; gsd exits non-zero. */
                throw;
            } catch (const std::exception &error) {
                spdlog::error("delivering inputs: {}", error.what());
            }
            flushAll();
        }
        fireTimers();
        /* What the timers, exits, scripts and connection events of this
         * turn submitted. */
        flushAll();
    }
    shutdown();
}

void Broker::Impl::flushAll()
{
    try {
        order->flush();
    } catch (const BrokerError &) {
        throw;
    } catch (const std::exception &error) {
        spdlog::error("handing inputs to the order: {}", error.what());
    }
    try {
        for (const Input &input : order->withdrawUnsent(config.orderWait))
            onWithdrawn(input);
    } catch (const std::exception &error) {
        spdlog::error("answering requests not ordered in time: {}", error.what());
    }
    try {
        flushOutboxes();
    } catch (const std::exception &error) {
        spdlog::error("sending to clients: {}", error.what());
    }
}

void Broker::Impl::drainRouter()
{
    /* Until a receive finds nothing: a receive that returns a message may
     * also have processed commands and consumed ZMQ_FD's signal. */
    routerQuiet = false;
    /* The engine's output for the messages of one batch leaves together
     * (one ZeroMQ message per client), every kFlushEvery messages and at
     * the end. */
    for (int handled = 0; handled < kReceiveBudget;) {
        /* The first message of a wake-up is answered at once (no receive
         * that finds nothing before its reply leaves); later ones in
         * batches. */
        const int count = handled == 0 ? 1 : kFlushEvery;
        handled += count;
        holdOutput = true;
        const Received received = receiveSome(count);
        holdOutput = false;
        /* The batch's inputs leave for the domain together, then what the
         * engines answered locally. */
        flushAll();
        /* Sending after the receive that found nothing may have consumed
         * ZMQ_FD's signal: then receive once more (cheaper than a poll that
         * does not wait). */
        if (received == Received::Error || (received == Received::Empty && routerQuiet))
            return;
    }
}

Broker::Impl::Received Broker::Impl::receiveSome(int count)
{
    for (int budget = 0; budget < count; ++budget) {
        zmq::message_t route;
        if (zmq_msg_recv(route.handle(), router.handle(), ZMQ_DONTWAIT) < 0) {
            if (zmq_errno() == EAGAIN) {
                routerQuiet = true;
                return Received::Empty;
            }
            if (zmq_errno() == EINTR)
                continue;
            spdlog::error("receiving from {}: {}", config.endpoint, zmq_strerror(zmq_errno()));
            return Received::Error;
        }
        /* The rest of a message is already queued: ZeroMQ delivers whole
         * messages. Only the first payload frame is kept. */
        zmq::message_t payload;
        int frames = 0;
        for (bool more = route.more(); more; ++frames) {
            zmq::message_t frame;
            if (zmq_msg_recv(frame.handle(), router.handle(), ZMQ_DONTWAIT) < 0)
                break;
            more = frame.more();
            if (frames == 0)
                payload = std::move(frame);
        }
        try {
            onMessage(route, payload, frames);
        } catch (const std::exception &error) {
            spdlog::error("handling a client message: {}", error.what());
        }
    }
    return Received::More;
}

void Broker::Impl::fireTimers()
{
    const auto now = broker::Clock::now();
    while (auto payload = timers.popExpired(now)) {
        try {
            /* Each kind of timer is handled by the file of its job. */
            std::visit([&](const auto &due) { onTimer(due); }, *payload);
        } catch (const std::exception &error) {
            spdlog::error("handling a timer: {}", error.what());
        }
    }
}

void Broker::Impl::shutdown()
{
    if (finished)
        return;
    finished = true;
    /* Nobody will wait for their outcome any more. */
    scripts.stopAll();
    const std::string bye = wire::encode(wire::ServerMessage{wire::Bye{"gsd shutting down"}});
    for (ClientId client : sessions.ids()) {
        if (auto session = sessions.take(client)) {
            pids.unwatch(session->pidfd);
            sendFrames(session->route, {bye});
        }
    }
    /* One last try for the Byes still owed to slow consumers. */
    for (const auto &[route, reason] : owedByes)
        sendFrames(route, {wire::encode(wire::ServerMessage{wire::Bye{reason}})});
    owedByes.clear();
    owedOrder.clear();
    zmq_socket_monitor(router.handle(), nullptr, 0);
    monitor.close();
    router.close();
    zap.close();
    context.close();
    endpoint.release();
}

Broker::Broker(BrokerConfig config) : Broker(std::move(config), std::make_unique<LocalOrder>()) {}

Broker::Broker(BrokerConfig config, std::unique_ptr<Order> order)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(order)))
{
}

Broker::~Broker()
{
    if (impl_)
        impl_->shutdown();
}

void Broker::run()
{
    impl_->run();
}

void Broker::stop() noexcept
{
    const uint64_t one = 1;
    /* Only fails when the counter would overflow: stop was already asked. */
    [[maybe_unused]] const ssize_t written = write(impl_->stopFd.get(), &one, sizeof one);
}

void Broker::dumpState() noexcept
{
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = write(impl_->dumpFd.get(), &one, sizeof one);
}

void Broker::reloadCmm() noexcept
{
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = write(impl_->reloadFd.get(), &one, sizeof one);
}

} // namespace gs
