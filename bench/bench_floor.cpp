// SPDX-License-Identifier: MIT
/*
 * bench_floor - scenario 1 of the suite: the cost of one request/reply
 * between two processes with nothing on top, the floor under every GSAPI
 * number.
 *
 *   bench_floor [--iterations N] [--warmup N] [--fanout-budget N]
 *               [rtt] [relay] [fanout]          (default: rtt)
 *
 * rtt:    floor.zmq:  16 bytes from a ZeroMQ DEALER to a ROUTER in a forked
 *                     echo process and back, over ipc:// (the transport gsd
 *                     uses): the baseline of every ratio.
 *         floor.unix: 16 bytes over a Unix stream socket to a forked echo
 *                     process and back (what ipc:// runs on, without
 *                     ZeroMQ's I/O threads).
 * relay:  floor.zmq-relay, the shape of a state change with one subscriber
 *         (floor_shapes.hpp).
 * fanout: floor.zmq-fanout.*, the shape of the fan-out scenario, paced by
 *         one provider's round trip and open (floor_shapes.hpp).
 */
#include "floor_shapes.hpp"
#include "harness.hpp"
#include "zmq_echo.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <vector>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.hpp>

#include <CLI/CLI.hpp>

namespace {

using namespace bench;

const std::string kPayload(16, 'x');

Summary measureZmq(const std::string &endpoint, int warmup, int iterations)
{
    zmq::context_t ctx(1);
    zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.set(zmq::sockopt::rcvtimeo, 10000);
    dealer.connect(endpoint);
    std::vector<double> samples;
    for (int i = 0; i < warmup + iterations; i++) {
        const int64_t start = nowNs();
        dealer.send(zmq::buffer(kPayload), zmq::send_flags::none);
        zmq::message_t reply;
        if (!dealer.recv(reply))
            throw std::runtime_error("no reply from the ZeroMQ echo process");
        if (i >= warmup)
            samples.push_back(toUs(nowNs() - start));
    }
    return summarize(samples);
}

sockaddr_un unixAddress(const std::string &path)
{
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path)
        throw std::runtime_error("socket path too long: " + path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return address;
}

bool readFully(int fd, char *buffer, size_t size)
{
    for (size_t got = 0; got < size;) {
        const ssize_t n = read(fd, buffer + got, size - got);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            return false;
        if (n > 0)
            got += static_cast<size_t>(n);
    }
    return true;
}

void runUnixEcho(int listener)
{
    const int connection = accept(listener, nullptr, nullptr);
    char buffer[16];
    while (connection >= 0 && readFully(connection, buffer, sizeof buffer))
        if (write(connection, buffer, sizeof buffer) != static_cast<ssize_t>(sizeof buffer))
            break;
}

Summary measureUnix(const std::string &path, int warmup, int iterations)
{
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un address = unixAddress(path);
    if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr *>(&address), sizeof address) != 0)
        throw std::runtime_error("connect " + path + ": " + std::strerror(errno));
    std::vector<double> samples;
    char buffer[16];
    for (int i = 0; i < warmup + iterations; i++) {
        const int64_t start = nowNs();
        if (write(fd, kPayload.data(), kPayload.size()) != static_cast<ssize_t>(kPayload.size()) ||
            !readFully(fd, buffer, sizeof buffer))
            throw std::runtime_error("unix echo: " + std::string(std::strerror(errno)));
        if (i >= warmup)
            samples.push_back(toUs(nowNs() - start));
    }
    close(fd);
    return summarize(samples);
}

} // namespace

int main(int argc, char **argv)
{
    int iterations = 2000;
    std::optional<int> warmupOption;
    long long fanoutBudget = 300000;
    std::vector<std::string> parts;
    CLI::App app{"bench_floor - the cost of one request/reply between two processes with "
                 "nothing on top; prints one JSON object per result"};
    app.add_option("--iterations", iterations, "timed round trips")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--warmup", warmupOption, "untimed round trips first (default: iterations / 10)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--fanout-budget", fanoutBudget, "notifications the fanout part sends")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("part", parts, "rtt, relay, fanout (default: rtt)")
        ->check(CLI::IsMember({"rtt", "relay", "fanout"}));
    CLI11_PARSE(app, argc, argv);
    const int warmup = warmupOption.value_or(iterations / 10);
    if (parts.empty())
        parts.push_back("rtt");
    const auto wanted = [&](const char *part) {
        return std::find(parts.begin(), parts.end(), part) != parts.end();
    };

    std::string dir;
    pid_t zmqEcho = -1;
    pid_t unixEcho = -1;
    int rc = 0;
    try {
        dir = makeTempDir("ha_gs-floor");

        /* The shapes fork their processes: before this process has a
         * ZeroMQ context (measureZmq's is gone when it returns). */
        if (wanted("relay"))
            measureRelayFloor(dir, warmup, iterations);
        if (wanted("fanout"))
            measureFanoutFloor(dir, fanoutBudget);
        if (wanted("rtt")) {
            /* Fork both echo processes before this process has a ZeroMQ context. */
            const std::string zmqPath = dir + "/echo.sock";
            zmqEcho = forkChild("zmq echo", [&] { runZmqEcho("ipc://" + zmqPath); });

            const std::string unixPath = dir + "/unix.sock";
            const int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            const sockaddr_un address = unixAddress(unixPath);
            if (listener < 0 ||
                bind(listener, reinterpret_cast<const sockaddr *>(&address), sizeof address) != 0 ||
                listen(listener, 1) != 0)
                throw std::runtime_error("listen " + unixPath + ": " + std::strerror(errno));
            unixEcho = forkChild("unix echo", [&] { runUnixEcho(listener); });
            close(listener);

            waitForSocket(zmqPath, zmqEcho);
            emitLatency("floor.zmq", measureZmq("ipc://" + zmqPath, warmup, iterations));
            emitLatency("floor.unix", measureUnix(unixPath, warmup, iterations));
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_floor: %s\n", e.what());
        rc = 1;
    }
    killAndReap(zmqEcho, SIGKILL);
    killAndReap(unixEcho, SIGKILL);
    if (!dir.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    return rc;
}
