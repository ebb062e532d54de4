/* SPDX-License-Identifier: MIT */
/*
 * bench_latency - request-to-callback latency of libha_gs against a private
 * gsd, next to a raw ZeroMQ round trip over the same kind of endpoint.
 *
 * Usage: bench_latency [-n ITERATIONS] [-w WARMUP] [--gsd PATH]
 *
 * Scenarios (each timed ITERATIONS times after WARMUP untimed runs):
 *   baseline      DEALER -> ROUTER -> DEALER round trip of a 16-byte message
 *                 to an echo process over ipc:// (what any gsd request costs
 *                 at least: one round trip through libzmq and the kernel).
 *   join          ha_gs_join -> approved callback of a one-phase join that
 *                 creates the group; ha_gs_goodbye between iterations
 *                 dissolves it again.
 *   state change  ha_gs_change_state_value (one-phase) -> approved callback,
 *                 one provider in the group.
 *   n-phase state ha_gs_change_state_value (n-phase) -> n-phase callback ->
 *                 ha_gs_vote(APPROVE) -> approved callback, one provider.
 *
 * Prints a table of median and 99th percentile in microseconds and the ratio
 * of each median to the baseline median of the same run. The gsd started is
 * the one of the build tree (HA_GS_BENCH_GSD) unless --gsd names another.
 * Nothing is asserted about the numbers.
 */
#include <ha_gs.h>

#include <zmq.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#ifndef HA_GS_BENCH_GSD
#define HA_GS_BENCH_GSD "gsd"
#endif

namespace {

using Clock = std::chrono::steady_clock;

struct Result {
    std::string scenario;
    double median_us;
    double p99_us;
};

Result summarize(const std::string &scenario, std::vector<double> samples)
{
    std::sort(samples.begin(), samples.end());
    const size_t n = samples.size();
    const size_t p99 = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(n))) - 1;
    const double median = n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2.0;
    return {scenario, median, samples[std::min(p99, n - 1)]};
}

double elapsedUs(Clock::time_point start)
{
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

/* ---- baseline: raw ZeroMQ round trip to an echo process ---------------- */

[[noreturn]] void runEcho(const std::string &endpoint)
{
    try {
        zmq::context_t ctx(1);
        zmq::socket_t router(ctx, zmq::socket_type::router);
        router.bind(endpoint);
        for (;;) {
            zmq::message_t id;
            zmq::message_t body;
            if (!router.recv(id) || !router.recv(body))
                continue;
            const bool stop = body.to_string_view() == "stop";
            router.send(id, zmq::send_flags::sndmore);
            router.send(body, zmq::send_flags::none);
            if (stop)
                break;
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "echo: %s\n", e.what());
        _exit(1);
    }
    _exit(0);
}

std::vector<double> measureBaseline(const std::string &endpoint, int warmup, int iterations)
{
    zmq::context_t ctx(1);
    zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.set(zmq::sockopt::rcvtimeo, 10000);
    dealer.connect(endpoint);

    const std::string payload(16, 'x');
    std::vector<double> samples;
    samples.reserve(static_cast<size_t>(iterations));
    for (int i = 0; i < warmup + iterations; i++) {
        const auto start = Clock::now();
        dealer.send(zmq::buffer(payload), zmq::send_flags::none);
        zmq::message_t reply;
        if (!dealer.recv(reply))
            throw std::runtime_error("baseline: no reply from the echo process");
        if (i >= warmup)
            samples.push_back(elapsedUs(start));
    }
    dealer.send(zmq::str_buffer("stop"), zmq::send_flags::none);
    zmq::message_t reply;
    (void)dealer.recv(reply);
    return samples;
}

/* ---- ha_gs scenarios ---------------------------------------------------- */

ha_gs_descriptor_t g_descriptor = -1;
bool g_approved = false;
bool g_rejected = false;

void onNPhase(const ha_gs_n_phase_notification_t *n)
{
    (void)ha_gs_vote(n->gs_provider_token, HA_GS_VOTE_APPROVE, nullptr, nullptr, HA_GS_NULL_VOTE);
}
void onApproved(const ha_gs_approved_notification_t *)
{
    g_approved = true;
}
void onRejected(const ha_gs_rejected_notification_t *)
{
    g_rejected = true;
}

void check(ha_gs_rc_t rc, const char *what)
{
    if (rc != HA_GS_OK)
        throw std::runtime_error(std::string(what) + ": " + ha_gs_strerror(rc));
}

/* Runs callbacks until one of them sets g_approved (or g_rejected). */
void waitForOutcome(const char *what)
{
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!g_approved && !g_rejected) {
        pollfd pfd{g_descriptor, POLLIN, 0};
        const int n = poll(&pfd, 1, 100);
        if (n < 0 && errno != EINTR)
            throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        if (n > 0)
            check(ha_gs_dispatch(HA_GS_NON_BLOCKING), "ha_gs_dispatch");
        if (Clock::now() > deadline)
            throw std::runtime_error(std::string(what) + ": no outcome within 10 s");
    }
    if (g_rejected)
        throw std::runtime_error(std::string(what) + ": rejected");
}

ha_gs_group_attributes_t attributesFor(const char *group)
{
    ha_gs_group_attributes_t a{};
    a.gs_version = 1;
    a.gs_sizeof_group_attributes = sizeof a;
    a.gs_num_phases = HA_GS_1_PHASE;
    a.gs_group_default_vote = HA_GS_VOTE_APPROVE;
    a.gs_group_name = group;
    return a;
}

ha_gs_proposal_info_t joinRequest(const ha_gs_group_attributes_t *attributes)
{
    ha_gs_proposal_info_t request{};
    request.gs_join_request.gs_group_attributes = attributes;
    request.gs_join_request.gs_provider_instance = 1;
    request.gs_join_request.gs_n_phase_protocol_callback = onNPhase;
    request.gs_join_request.gs_protocol_approved_callback = onApproved;
    request.gs_join_request.gs_protocol_rejected_callback = onRejected;
    return request;
}

std::vector<double> measureJoin(int warmup, int iterations)
{
    const ha_gs_group_attributes_t attributes = attributesFor("bench-join");
    const ha_gs_proposal_info_t request = joinRequest(&attributes);
    std::vector<double> samples;
    samples.reserve(static_cast<size_t>(iterations));
    for (int i = 0; i < warmup + iterations; i++) {
        ha_gs_token_t token = 0;
        g_approved = g_rejected = false;
        const auto start = Clock::now();
        check(ha_gs_join(&token, &request), "ha_gs_join");
        waitForOutcome("join");
        if (i >= warmup)
            samples.push_back(elapsedUs(start));
        check(ha_gs_goodbye(token), "ha_gs_goodbye");
    }
    return samples;
}

std::vector<double> measureStateChange(ha_gs_num_phases_t phases, int warmup, int iterations)
{
    const char *group = phases == HA_GS_N_PHASE ? "bench-state-n" : "bench-state-1";
    const ha_gs_group_attributes_t attributes = attributesFor(group);
    const ha_gs_proposal_info_t join = joinRequest(&attributes);
    ha_gs_token_t token = 0;
    g_approved = g_rejected = false;
    check(ha_gs_join(&token, &join), "ha_gs_join");
    waitForOutcome("join");

    char buffer[32];
    ha_gs_state_value_t state{};
    state.gs_state = buffer;
    ha_gs_proposal_info_t request{};
    request.gs_state_change_request.gs_num_phases = phases;
    request.gs_state_change_request.gs_time_limit = 10;
    request.gs_state_change_request.gs_new_state = &state;

    std::vector<double> samples;
    samples.reserve(static_cast<size_t>(iterations));
    for (int i = 0; i < warmup + iterations; i++) {
        state.gs_length =
            static_cast<unsigned int>(std::snprintf(buffer, sizeof buffer, "state-%d", i));
        g_approved = g_rejected = false;
        const auto start = Clock::now();
        check(ha_gs_change_state_value(token, &request), "ha_gs_change_state_value");
        waitForOutcome("state change");
        if (i >= warmup)
            samples.push_back(elapsedUs(start));
    }
    check(ha_gs_goodbye(token), "ha_gs_goodbye");
    return samples;
}

/* ---- processes ---------------------------------------------------------- */

pid_t startGsd(const std::string &gsd, const std::string &endpoint, const std::string &log)
{
    const pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execl(gsd.c_str(), gsd.c_str(), "--socket", endpoint.c_str(), static_cast<char *>(nullptr));
        std::fprintf(stderr, "exec %s: %s\n", gsd.c_str(), std::strerror(errno));
        _exit(127);
    }
    return pid;
}

void waitForSocket(const std::string &path, pid_t pid)
{
    for (int i = 0; i < 200; i++) {
        struct stat st {};
        if (stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
            return;
        int status = 0;
        if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid)
            throw std::runtime_error("process exited before creating " + path);
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    throw std::runtime_error("no socket at " + path + " after 5 s");
}

void stopProcess(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
}

int usage()
{
    std::fprintf(stderr, "usage: bench_latency [-n ITERATIONS] [-w WARMUP] [--gsd PATH]\n");
    return 2;
}

} // namespace

int main(int argc, char **argv)
{
    int iterations = 2000;
    int warmup = 200;
    std::string gsd = HA_GS_BENCH_GSD;
    for (int i = 1; i < argc; i++) {
        const std::string arg = argv[i];
        if (arg == "-n" && i + 1 < argc)
            iterations = std::atoi(argv[++i]);
        else if (arg == "-w" && i + 1 < argc)
            warmup = std::atoi(argv[++i]);
        else if (arg == "--gsd" && i + 1 < argc)
            gsd = argv[++i];
        else
            return usage();
    }
    if (iterations <= 0 || warmup < 0)
        return usage();

    /* mkdtemp replaces the six trailing X characters. */
    std::string dirTemplate = "/tmp/ha_gs-bench." + std::string(6, 'X');
    if (mkdtemp(dirTemplate.data()) == nullptr) {
        std::perror("mkdtemp");
        return 1;
    }
    const std::string dir = dirTemplate;
    const std::string echoEndpoint = "ipc://" + dir + "/echo.sock";
    const std::string gsdEndpoint = "ipc://" + dir + "/gsd.sock";

    /* Fork both helpers before this process creates any ZeroMQ context. */
    const pid_t echo = fork();
    if (echo == 0)
        runEcho(echoEndpoint);
    pid_t gsdPid = -1;
    int rc = 0;
    try {
        if (echo < 0)
            throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
        gsdPid = startGsd(gsd, gsdEndpoint, dir + "/gsd.log");
        waitForSocket(dir + "/echo.sock", echo);
        waitForSocket(dir + "/gsd.sock", gsdPid);

        std::vector<Result> results;
        results.push_back(summarize("zmq DEALER->ROUTER round trip (baseline)",
                                    measureBaseline(echoEndpoint, warmup, iterations)));

        setenv("HA_GS_SOCKET", gsdEndpoint.c_str(), 1);
        check(ha_gs_init(&g_descriptor, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr,
                         nullptr),
              "ha_gs_init");
        results.push_back(summarize("one-phase join -> approved", measureJoin(warmup, iterations)));
        results.push_back(summarize("one-phase state change -> approved",
                                    measureStateChange(HA_GS_1_PHASE, warmup, iterations)));
        results.push_back(summarize("n-phase state change, 1 voter -> approved",
                                    measureStateChange(HA_GS_N_PHASE, warmup, iterations)));
        ha_gs_quit();

        std::printf("%d iterations per scenario after %d warm-up, one provider, gsd %s\n\n",
                    iterations, warmup, gsd.c_str());
        /* Each "µ" is two bytes and one column: %13s pads these to 12 columns. */
        std::printf("%-44s %13s %13s %11s\n", "scenario", "median (µs)", "p99 (µs)", "x baseline");
        const double base = results.front().median_us;
        for (const Result &r : results)
            std::printf("%-44s %12.1f %12.1f %11.2f\n", r.scenario.c_str(), r.median_us, r.p99_us,
                        r.median_us / base);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_latency: %s (gsd log: %s/gsd.log)\n", e.what(), dir.c_str());
        rc = 1;
    }
    stopProcess(gsdPid);
    if (echo > 0) {
        kill(echo, SIGTERM);
        int status = 0;
        waitpid(echo, &status, 0);
    }
    if (rc == 0) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    return rc;
}
