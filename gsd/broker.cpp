/* SPDX-License-Identifier: MIT */
/* Setup, the poll loop and shutdown of the broker. */
#include "gsd/broker_impl.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <poll.h>
#include <sys/eventfd.h>
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

BrokerConfig validated(BrokerConfig config)
{
    if (config.nodeNumber < 1)
        throw BrokerError(BrokerError::Kind::Config, "node number " +
                                                         std::to_string(config.nodeNumber) +
                                                         " is out of range (1..32767)");
    if (config.maxClients < 1)
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

Broker::Impl::Impl(BrokerConfig cfg)
    : config(validated(std::move(cfg))), endpoint(config.endpoint), context(1),
      router(context, zmq::socket_type::router), stopFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      reloadFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), authorizer(config.authGroup),
      engine(EngineConfig{config.nodeNumber, config.limits}), cmmEngine(loadCmmNodes())
{
    if (!stopFd || !reloadFd)
        throw BrokerError(BrokerError::Kind::System,
                          std::string("cannot create an eventfd: ") + std::strerror(errno));
    router.set(zmq::sockopt::router_mandatory, 1);
    router.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(wire::kMaxFrameSize));
    router.set(zmq::sockopt::linger, kLingerMs);
    router.set(zmq::sockopt::sndhwm, config.sendHighWaterMark);
    try {
        const auto mode = endpoint.socketMode();
        router.bind(config.endpoint);
    } catch (const zmq::error_t &error) {
        throw BrokerError(BrokerError::Kind::System,
                          "cannot bind " + config.endpoint + ": " + error.what());
    }
    endpoint.bound();
    /* This gsd is up: the local CMM node joins (nobody is registered yet). */
    cmmEngine.process(cmm::NodeUp{static_cast<cmm_nodeid_t>(config.nodeNumber)});
    if (!authorizer.groupId())
        spdlog::warn("group '{}' does not exist: only root and gsd's own user may connect",
                     config.authGroup);
}

void Broker::Impl::run()
{
    /* The ROUTER's ZMQ_FD is polled directly (zmq_poll would ask ZMQ_EVENTS
     * around every poll): it signals an arrival only while the socket is
     * quiet, i.e. after a receive found nothing and before any send. When it
     * is not quiet the poll does not wait and the loop drains the socket. */
    const int routerFd = router.get(zmq::sockopt::fd);
    while (!finished) {
        // clang-format off
        pollfd items[] = {
            {routerFd, POLLIN, 0},
            {stopFd.get(), POLLIN, 0},
            {pids.fd(), POLLIN, 0},
            {reloadFd.get(), POLLIN, 0},
            {scripts.fd(), POLLIN, 0},
        };
        // clang-format on
        const long timeout =
            routerQuiet ? std::min<long>(timers.timeoutMs(broker::Clock::now()), INT_MAX) : 0;
        if (::poll(items, 5, static_cast<int>(timeout)) < 0) {
            if (errno == EINTR)
                continue;
            spdlog::critical("poll failed: {}", std::strerror(errno));
            break;
        }
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
        if ((items[0].revents & POLLIN) || !routerQuiet)
            drainRouter();
        if (items[3].revents & POLLIN)
            onReloadSignal();
        if (items[4].revents & POLLIN) {
            try {
                onScriptsFinished();
            } catch (const std::exception &error) {
                spdlog::error("handling the end of a deactivate script: {}", error.what());
            }
        }
        fireTimers();
    }
    shutdown();
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
        try {
            flushOutboxes();
        } catch (const std::exception &error) {
            spdlog::error("sending to clients: {}", error.what());
        }
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
            onTimer(*payload);
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
    router.close();
    context.close();
    endpoint.release();
}

Broker::Broker(BrokerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

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

void Broker::reloadCmm() noexcept
{
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = write(impl_->reloadFd.get(), &one, sizeof one);
}

} // namespace gs
