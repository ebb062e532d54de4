// SPDX-License-Identifier: MIT
#include "floor_shapes.hpp"

#include "harness.hpp"

#include <algorithm>
#include <csignal>
#include <initializer_list>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <unistd.h>
#include <zmq.hpp>

namespace bench {

namespace {

/* About the size of what gsd sends a subscriber for a state change: a
 * header frame (token, final flag) and a body frame. */
const std::string kHeader(16, 'h');
const std::string kBody(64, 'b');
const std::string kRequest(16, 'r');
constexpr char kSubscriberHello[] = "S";
constexpr char kProviderHello[] = "P";

const int kReceiverCounts[] = {1, 10, 100, 1000};
constexpr long long kMinChanges = 100;
constexpr long long kMaxChanges = 20000;

void receive(zmq::socket_t &socket, zmq::message_t &message)
{
    if (!socket.recv(message))
        throw std::runtime_error("receive interrupted");
}

zmq::socket_t connectDealer(zmq::context_t &context, const std::string &endpoint)
{
    zmq::socket_t dealer(context, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.set(zmq::sockopt::rcvhwm, 0);
    dealer.connect(endpoint);
    return dealer;
}

/* One message to the peer of `route`: the route, then `frames`. */
void sendTo(zmq::socket_t &router, zmq::message_t &route,
            std::initializer_list<std::string_view> frames)
{
    zmq::message_t copy;
    copy.copy(route);
    router.send(copy, zmq::send_flags::sndmore);
    size_t left = frames.size();
    for (std::string_view frame : frames)
        router.send(zmq::buffer(frame),
                    --left > 0 ? zmq::send_flags::sndmore : zmq::send_flags::none);
}

void sendNote(zmq::socket_t &router, zmq::message_t &route)
{
    sendTo(router, route, {kHeader, kBody});
}

void sendReply(zmq::socket_t &router, zmq::message_t &route)
{
    sendTo(router, route, {kRequest});
}

/* The relay of the latency floor: forwards every request to the one
 * subscriber, after replying to it. */
void runLatencyRelay(const std::string &endpoint)
{
    zmq::context_t context(1);
    zmq::socket_t router(context, zmq::socket_type::router);
    router.bind(endpoint);
    zmq::message_t subscriber;
    for (;;) {
        zmq::message_t route;
        zmq::message_t body;
        receive(router, route);
        receive(router, body);
        if (body.to_string_view() == kSubscriberHello) {
            subscriber = std::move(route);
            sendNote(router, subscriber); /* welcome */
            continue;
        }
        sendReply(router, route);
        if (subscriber.size() != 0)
            sendNote(router, subscriber);
    }
}

/* A receiver reports Ready on its first message and then the time each
 * later one arrives (Sample), or only the time its last one arrived (Done)
 * when count > 0. */
void runReceiver(const std::string &endpoint, int reportFd, long long count)
{
    zmq::context_t context(1);
    zmq::socket_t dealer = connectDealer(context, endpoint);
    dealer.send(zmq::str_buffer(kSubscriberHello), zmq::send_flags::none);
    zmq::message_t header;
    zmq::message_t body;
    if (count == 0) {
        receive(dealer, header);
        receive(dealer, body);
        sendReport(reportFd, Report{0, Report::Ready, 0, nowNs()});
        for (int64_t seen = 1;; seen++) {
            receive(dealer, header);
            receive(dealer, body);
            sendReport(reportFd, Report{0, Report::Sample, seen, nowNs()});
        }
    }
    for (long long seen = 0; seen < count; seen++) {
        receive(dealer, header);
        receive(dealer, body);
    }
    sendReport(reportFd, Report{0, Report::Done, count, nowNs()});
}

/* The relay of the fan-out floor; see measureFanoutFloor. */
void runFanoutRelay(const std::string &endpoint, int receivers, bool paced, long long changes,
                    int reportFd, int commandFd)
{
    zmq::context_t context(1);
    zmq::socket_t router(context, zmq::socket_type::router);
    router.set(zmq::sockopt::sndhwm, 0);
    router.set(zmq::sockopt::rcvhwm, 0);
    router.bind(endpoint);
    std::vector<zmq::message_t> routes;
    zmq::message_t provider;
    while (routes.size() < static_cast<size_t>(receivers) || (paced && provider.size() == 0)) {
        zmq::message_t route;
        zmq::message_t hello;
        receive(router, route);
        receive(router, hello);
        if (hello.to_string_view() == kProviderHello)
            provider = std::move(route);
        else
            routes.push_back(std::move(route));
    }
    sendReport(reportFd, Report{0, Report::Ready, 0, nowNs()});
    if (readCommand(commandFd) <= 0)
        return;
    if (paced)
        sendReply(router, provider); /* go */
    for (long long change = 0; change < changes; change++) {
        if (paced) {
            zmq::message_t route;
            zmq::message_t request;
            receive(router, route);
            receive(router, request);
            sendReply(router, provider);
        }
        for (zmq::message_t &route : routes)
            sendNote(router, route);
    }
    /* Until the parent has its results: exiting earlier could drop what is
     * still queued for a receiver. */
    readCommand(commandFd);
}

void runPacingProvider(const std::string &endpoint, long long changes)
{
    zmq::context_t context(1);
    zmq::socket_t dealer = connectDealer(context, endpoint);
    dealer.send(zmq::str_buffer(kProviderHello), zmq::send_flags::none);
    zmq::message_t reply;
    receive(dealer, reply); /* go */
    for (long long change = 0; change < changes; change++) {
        dealer.send(zmq::buffer(kRequest), zmq::send_flags::none);
        receive(dealer, reply);
    }
}

void measureFanoutOnce(const std::string &dir, int receivers, bool paced, long long changes)
{
    const std::string path = dir + "/fanout.sock";
    const std::string endpoint = "ipc://" + path;
    ReportPipe pipe;
    CommandPipe command;
    std::vector<pid_t> children;
    try {
        const pid_t relay = forkChild("fan-out relay", [&] {
            runFanoutRelay(endpoint, receivers, paced, changes, pipe.writeFd(), command.childFd());
        });
        children.push_back(relay);
        command.childStarted();
        waitForSocket(path, relay);
        for (int i = 0; i < receivers; i++)
            children.push_back(forkChild("fan-out receiver",
                                         [&] { runReceiver(endpoint, pipe.writeFd(), changes); }));
        if (paced)
            children.push_back(
                forkChild("pacing provider", [&] { runPacingProvider(endpoint, changes); }));
        if (pipe.read(60000).kind != Report::Ready)
            throw std::runtime_error("the fan-out relay did not report Ready first");
        const int64_t start = nowNs();
        command.send(1);
        int64_t last = 0;
        for (int done = 0; done < receivers; done++)
            last = std::max(last, pipe.read(120000).atNs);
        command.send(0);
        const double seconds = static_cast<double>(last - start) / 1e9;
        const double notifications = static_cast<double>(changes) * receivers;
        emitValues(std::string("floor.zmq-fanout.") + (paced ? "paced" : "open") +
                       ".subs=" + std::to_string(receivers),
                   {{"subscribers", receivers},
                    {"changes", static_cast<double>(changes)},
                    {"seconds", seconds},
                    {"changes_per_s", static_cast<double>(changes) / seconds},
                    {"notifications_per_s", notifications / seconds},
                    {"ns_per_notification", seconds * 1e9 / notifications}});
    } catch (...) {
        killAndReap(children, SIGKILL);
        throw;
    }
    killAndReap(children, SIGKILL);
    unlink(path.c_str());
}

} // namespace

void measureRelayFloor(const std::string &dir, int warmup, int iterations)
{
    const std::string path = dir + "/relay.sock";
    const std::string endpoint = "ipc://" + path;
    ReportPipe pipe;
    std::vector<pid_t> children;
    try {
        children.push_back(forkChild("relay", [&] { runLatencyRelay(endpoint); }));
        waitForSocket(path, children.back());
        children.push_back(
            forkChild("relay receiver", [&] { runReceiver(endpoint, pipe.writeFd(), 0); }));
        if (pipe.read().kind != Report::Ready)
            throw std::runtime_error("the relay's receiver did not report Ready");

        zmq::context_t context(1);
        zmq::socket_t dealer = connectDealer(context, endpoint);
        std::vector<double> forwarded;
        std::vector<double> replied;
        for (int i = 0; i < warmup + iterations; i++) {
            const int64_t start = nowNs();
            dealer.send(zmq::buffer(kRequest), zmq::send_flags::none);
            zmq::message_t reply;
            receive(dealer, reply);
            const int64_t replyAt = nowNs();
            const Report report = pipe.read();
            if (i >= warmup) {
                forwarded.push_back(toUs(report.atNs - start));
                replied.push_back(toUs(replyAt - start));
            }
        }
        emitLatency("floor.zmq-relay", summarize(forwarded));
        emitLatency("floor.zmq-relay.reply", summarize(replied));
    } catch (...) {
        killAndReap(children, SIGKILL);
        throw;
    }
    killAndReap(children, SIGKILL);
}

void measureFanoutFloor(const std::string &dir, long long budget)
{
    for (bool paced : {true, false})
        for (int receivers : kReceiverCounts)
            measureFanoutOnce(dir, receivers, paced,
                              std::clamp(budget / receivers, kMinChanges, kMaxChanges));
}

} // namespace bench
