/* SPDX-License-Identifier: MIT */
/*
 * perf_tool - measurements behind docs/performance.md that bench_floor and
 * bench_gs do not make: a scenario loop for instruction counts under callgrind,
 * subscriber fan-out throughput, and gsd's memory with many groups.
 *
 *   perf_tool drive (join|state|nphase|sub|listen) N
 *       Runs one scenario N times against the gsd of HA_GS_SOCKET (no
 *       warm-up, no timing): run it under `valgrind --tool=callgrind` for the
 *       client's instructions, or point it at a gsd running under callgrind
 *       for gsd's. Two runs with different N give the cost of one iteration.
 *       `listen` subscribes and receives N state notifications that a
 *       forked provider makes as fast as it can (the subscriber's side of
 *       fan-out; under callgrind they arrive in batches).
 *   perf_tool fanout [--gsd PATH] SUBSCRIBERS CHANGES
 *       Starts a gsd, SUBSCRIBERS processes subscribing (STATE) to one group
 *       and one provider that makes CHANGES one-phase state changes as fast
 *       as it can. Prints subscriber notifications per second: from the
 *       first change to the last subscriber's last notification.
 *   perf_tool ratio [--gsd PATH] [ITERATIONS]
 *       Times bench_floor's ZeroMQ baseline, a one-phase join and a
 *       one-phase state change alternately (so that all three see the same
 *       load) and prints their medians and ratios.
 *   perf_tool scale [--gsd PATH] GROUPS SUBSCRIPTIONS
 *       Starts a gsd; measures the median one-phase join -> approved latency
 *       (2000 runs) and gsd's RSS; creates GROUPS groups of two providers
 *       (instances 1 and 2, from several processes) and SUBSCRIPTIONS
 *       subscriptions spread over them; prints gsd's RSS growth per
 *       provider and per subscription and the join latency again.
 *
 * Every process is an ordinary libha_gs client (one session per process).
 * The gsd started is the one of the build tree unless --gsd names another.
 * Build: part of the bench option (build-release/tools/perf/perf_tool).
 */
#include "harness.hpp"

#include <ha_gs.h>

#include <zmq.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string &what)
{
    std::fprintf(stderr, "perf_tool[%d]: %s\n", getpid(), what.c_str());
    _exit(1);
}

void check(ha_gs_rc_t rc, const char *what)
{
    if (rc != HA_GS_OK)
        die(std::string(what) + ": " + ha_gs_strerror(rc));
}

ha_gs_descriptor_t g_descriptor = -1;
long g_approved = 0;
long g_notes = 0;
ha_gs_token_t g_token = 0;

void onNPhase(const ha_gs_n_phase_notification_t *n)
{
    (void)ha_gs_vote(n->gs_provider_token, HA_GS_VOTE_APPROVE, nullptr, nullptr, HA_GS_NULL_VOTE);
}
void onApproved(const ha_gs_approved_notification_t *)
{
    ++g_approved;
}
void onRejected(const ha_gs_rejected_notification_t *)
{
    die("a protocol was rejected");
}
void onSubscription(const ha_gs_subscription_notification_t *)
{
    ++g_notes;
}

void init()
{
    check(ha_gs_init(&g_descriptor, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr,
                     nullptr),
          "ha_gs_init");
}

/* Dispatches until `counter` reaches `target`, waiting on the descriptor. */
void waitFor(const long &counter, long target)
{
    while (counter < target) {
        pollfd pfd{g_descriptor, POLLIN, 0};
        if (poll(&pfd, 1, 10000) <= 0)
            die("no notification within 10 s");
        check(ha_gs_dispatch(HA_GS_NON_BLOCKING), "ha_gs_dispatch");
    }
}

struct Group {
    std::string name;
    ha_gs_group_attributes_t attributes{};
    ha_gs_proposal_info_t join{};

    Group(std::string groupName, int instance, ha_gs_num_phases_t phases = HA_GS_1_PHASE)
        : name(std::move(groupName))
    {
        attributes.gs_version = 1;
        attributes.gs_sizeof_group_attributes = sizeof attributes;
        attributes.gs_num_phases = phases;
        attributes.gs_group_default_vote = HA_GS_VOTE_APPROVE;
        attributes.gs_group_name = name.c_str();
        join.gs_join_request.gs_group_attributes = &attributes;
        join.gs_join_request.gs_provider_instance = instance;
        join.gs_join_request.gs_n_phase_protocol_callback = onNPhase;
        join.gs_join_request.gs_protocol_approved_callback = onApproved;
        join.gs_join_request.gs_protocol_rejected_callback = onRejected;
    }
    Group(const Group &) = delete;
    Group &operator=(const Group &) = delete;
};

ha_gs_token_t joinAndWait(const Group &group)
{
    ha_gs_token_t token = 0;
    const long before = g_approved;
    check(ha_gs_join(&token, &group.join), "ha_gs_join");
    waitFor(g_approved, before + 1);
    return token;
}

void changeState(ha_gs_token_t token, ha_gs_num_phases_t phases, int i)
{
    char buffer[32];
    ha_gs_state_value_t state{};
    state.gs_state = buffer;
    state.gs_length = static_cast<unsigned>(std::snprintf(buffer, sizeof buffer, "state-%d", i));
    ha_gs_proposal_info_t request{};
    request.gs_state_change_request.gs_num_phases = phases;
    request.gs_state_change_request.gs_time_limit = 10;
    request.gs_state_change_request.gs_new_state = &state;
    check(ha_gs_change_state_value(token, &request), "ha_gs_change_state_value");
}

ha_gs_token_t subscribe(const char *group)
{
    ha_gs_proposal_info_t request{};
    request.gs_subscribe_request.gs_subscription_control = HA_GS_SUBSCRIBE_STATE;
    request.gs_subscribe_request.gs_subscription_group = group;
    request.gs_subscribe_request.gs_subscription_callback = onSubscription;
    ha_gs_token_t token = 0;
    check(ha_gs_subscribe(&token, &request), "ha_gs_subscribe");
    return token;
}

/* ---- drive ------------------------------------------------------------- */

/* A child process that runs `body` and reports over a pipe: it writes one
 * byte when ready, waits for one byte, then runs `after` and exits. */
struct Child {
    pid_t pid = -1;
    int toChild = -1;
    int fromChild = -1;

    template <class Ready, class After>
    Child(Ready ready, After after)
    {
        int up[2], down[2];
        if (pipe(up) != 0 || pipe(down) != 0)
            die("pipe");
        pid = fork();
        if (pid == 0) {
            close(up[0]);
            close(down[1]);
            ready();
            char c = 1;
            if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
                _exit(1);
            after(up[1]);
            _exit(0);
        }
        close(up[1]);
        close(down[0]);
        fromChild = up[0];
        toChild = down[1];
    }
    void awaitReady() const
    {
        char c;
        if (read(fromChild, &c, 1) != 1)
            die("a child failed to get ready");
    }
    void go() const
    {
        const char c = 1;
        if (write(toChild, &c, 1) != 1)
            die("a child is gone");
    }
    void reap() const
    {
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            die("a child failed");
    }
};

int drive(const std::string &scenario, int n)
{
    /* `listen`'s provider, forked before this process has a session: joins,
     * and makes n state changes as fast as it can once told to go. */
    std::optional<Group> pushed;
    ha_gs_token_t pushToken = 0;
    std::optional<Child> pusher;
    if (scenario == "listen")
        pusher.emplace(
            [&] {
                init();
                pushed.emplace("perf-listen", 1);
                pushToken = joinAndWait(*pushed);
            },
            [&](int) {
                for (int i = 0; i < n; ++i) {
                    const long before = g_approved;
                    changeState(pushToken, HA_GS_1_PHASE, i);
                    waitFor(g_approved, before + 1);
                }
            });
    init();
    if (scenario == "join") {
        Group group("perf-join", 1);
        for (int i = 0; i < n; ++i)
            check(ha_gs_goodbye(joinAndWait(group)), "ha_gs_goodbye");
    } else if (scenario == "state" || scenario == "nphase") {
        const ha_gs_num_phases_t phases = scenario == "state" ? HA_GS_1_PHASE : HA_GS_N_PHASE;
        Group group("perf-" + scenario, 1, phases);
        const ha_gs_token_t token = joinAndWait(group);
        for (int i = 0; i < n; ++i) {
            const long before = g_approved;
            changeState(token, phases, i);
            waitFor(g_approved, before + 1);
        }
    } else if (scenario == "sub") {
        Group group("perf-sub", 1);
        joinAndWait(group);
        for (int i = 0; i < n; ++i) {
            const long before = g_notes;
            const ha_gs_token_t token = subscribe("perf-sub");
            waitFor(g_notes, before + 1);
            check(ha_gs_unsubscribe(token), "ha_gs_unsubscribe");
        }
    } else if (scenario == "listen") {
        pusher->awaitReady(); /* its group exists */
        const long before = g_notes;
        subscribe("perf-listen");
        waitFor(g_notes, before + 1); /* the initial notification */
        const long first = g_notes;
        pusher->go();
        waitFor(g_notes, first + n);
        pusher->reap();
    } else {
        die("unknown scenario " + scenario);
    }
    ha_gs_quit();
    return 0;
}

/* ---- processes --------------------------------------------------------- */

long rssKiB(const bench::PrivateGsd &gsd)
{
    return static_cast<long>(bench::residentBytes(gsd.pid()) / 1024);
}

#ifndef HA_GS_PERF_GSD
#define HA_GS_PERF_GSD "gsd"
#endif

/* ---- fanout ------------------------------------------------------------ */

int fanout(const std::string &gsdBinary, int subscribers, int changes)
{
    bench::PrivateGsd gsd(gsdBinary);
    const char *groupName = "perf-fanout";
    /* The provider: joins before anyone subscribes, then makes the changes. */
    Child provider(
        [&] {
            init();
            static Group group(groupName, 1);
            g_token = joinAndWait(group);
        },
        [&](int) {
            for (int i = 0; i < changes; ++i) {
                changeState(g_token, HA_GS_1_PHASE, i);
                check(ha_gs_dispatch(HA_GS_NON_BLOCKING), "ha_gs_dispatch");
            }
            ha_gs_quit();
        });
    provider.awaitReady();
    std::vector<Child> subs;
    subs.reserve(static_cast<size_t>(subscribers));
    for (int s = 0; s < subscribers; ++s) {
        subs.emplace_back(
            [&] {
                init();
                subscribe(groupName);
                waitFor(g_notes, 1); /* the initial state */
            },
            [&](int report) {
                waitFor(g_notes, 1 + changes);
                const char c = 2;
                if (write(report, &c, 1) != 1)
                    _exit(1);
                ha_gs_quit();
            });
        subs.back().awaitReady();
    }
    for (const Child &s : subs)
        s.go();
    const double gsdCpu0 = bench::cpuSeconds(gsd.pid());
    const auto start = Clock::now();
    provider.go();
    for (const Child &s : subs) {
        char c;
        if (read(s.fromChild, &c, 1) != 1)
            die("a subscriber failed");
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const double gsdCpu = bench::cpuSeconds(gsd.pid()) - gsdCpu0;
    provider.reap();
    for (const Child &s : subs)
        s.reap();
    rusage children{};
    getrusage(RUSAGE_CHILDREN, &children);
    const double clientCpu =
        static_cast<double>(children.ru_utime.tv_sec + children.ru_stime.tv_sec) +
        static_cast<double>(children.ru_utime.tv_usec + children.ru_stime.tv_usec) / 1e6;
    const double notes = static_cast<double>(subscribers) * changes;
    std::printf("fanout subscribers=%d changes=%d seconds=%.3f notifications/s=%.0f "
                "us/notification=%.3f cpu-us/notification: gsd %.2f clients %.2f\n",
                subscribers, changes, seconds, notes / seconds, seconds * 1e6 / notes,
                gsdCpu * 1e6 / notes, clientCpu * 1e6 / notes);
    return 0;
}

/* ---- scale ------------------------------------------------------------- */

double joinMedianUs(int iterations)
{
    Group group("perf-scale-join", 1);
    std::vector<double> samples;
    for (int i = 0; i < iterations + 200; ++i) {
        const auto start = Clock::now();
        const ha_gs_token_t token = joinAndWait(group);
        if (i >= 200)
            samples.push_back(
                std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        check(ha_gs_goodbye(token), "ha_gs_goodbye");
    }
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2];
}

std::string scaleGroup(int g)
{
    return "perf-scale-" + std::to_string(g);
}

int scale(const std::string &gsdBinary, int groups, int subscriptions)
{
    bench::PrivateGsd gsd(gsdBinary);
    /* Below HA_GS_MAX_GROUPS_PER_CLIENT, and one subscription per group and
     * process. */
    const int kPerProcess = std::min(4000, groups);
    /* Join latency with nothing else in gsd, from a process that ends
     * before the groups are made. */
    double alone = 0;
    {
        Child meter([] {},
                    [](int report) {
                        init();
                        const double us = joinMedianUs(2000);
                        ha_gs_quit();
                        if (write(report, &us, sizeof us) != sizeof us)
                            _exit(1);
                    });
        meter.awaitReady();
        meter.go();
        if (read(meter.fromChild, &alone, sizeof alone) != sizeof alone)
            die("the meter failed");
        meter.reap();
    }
    std::fprintf(stderr, "join latency alone measured\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const long rss0 = rssKiB(gsd);

    auto runAll = [](std::vector<Child> &children) {
        for (const Child &c : children)
            c.go();
        for (const Child &c : children)
            c.reap();
    };
    /* Children stay connected (their tokens stay) until the parent says go. */
    std::vector<Child> holders;
    for (int instance = 1; instance <= 2; ++instance) {
        for (int first = 0; first < groups; first += kPerProcess) {
            const int last = std::min(groups, first + kPerProcess);
            holders.emplace_back(
                [=] {
                    init();
                    static std::vector<std::unique_ptr<Group>> own;
                    for (int g = first; g < last; ++g) {
                        own.push_back(std::make_unique<Group>(scaleGroup(g), instance));
                        joinAndWait(*own.back());
                    }
                },
                [](int) {});
        }
    }
    for (const Child &c : holders)
        c.awaitReady();
    std::fprintf(stderr, "providers joined\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const long rss1 = rssKiB(gsd);
    const int providers = 2 * groups;
    std::vector<Child> subscribers;
    for (int first = 0; first < subscriptions; first += kPerProcess) {
        const int last = std::min(subscriptions, first + kPerProcess);
        subscribers.emplace_back(
            [=] {
                init();
                for (int s = first; s < last; ++s) {
                    subscribe(scaleGroup(s % groups).c_str());
                    check(ha_gs_dispatch(HA_GS_NON_BLOCKING), "ha_gs_dispatch");
                }
            },
            [](int) {});
    }
    for (const Child &c : subscribers)
        c.awaitReady();
    std::fprintf(stderr, "subscriptions made\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const long rss2 = rssKiB(gsd);

    /* Join latency with everything in place, from this process (it made
     * no ZeroMQ context before forking the others). */
    init();
    const double loaded = joinMedianUs(2000);
    ha_gs_quit();
    runAll(holders);
    runAll(subscribers);

    std::printf("scale groups=%d providers=%d subscriptions=%d\n", groups, providers,
                subscriptions);
    std::printf("gsd rss KiB: empty %ld, with providers %ld, with subscriptions %ld\n", rss0, rss1,
                rss2);
    std::printf("bytes/provider=%.0f bytes/subscription=%.0f\n",
                static_cast<double>(rss1 - rss0) * 1024 / providers,
                subscriptions ? static_cast<double>(rss2 - rss1) * 1024 / subscriptions : 0.0);
    std::printf("join median: alone %.1f us, with the groups %.1f us (%.2fx)\n", alone, loaded,
                loaded / alone);
    return 0;
}

/* ---- ratio ------------------------------------------------------------ */

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/* The baseline of bench_floor (a 16-byte DEALER -> ROUTER -> DEALER round
 * trip to an echo process) and a one-phase join or state change, timed
 * alternately so that both see the same machine load. */
int ratio(const std::string &gsdBinary, int iterations)
{
    bench::PrivateGsd gsd(gsdBinary);
    const std::string templ = bench::makeTempDir("ha_gs-echo");
    const std::string echoEndpoint = "ipc://" + templ + "/echo.sock";
    const pid_t echo = fork();
    if (echo == 0) {
        bench::dieWithParent();
        zmq::context_t ctx(1);
        zmq::socket_t router(ctx, zmq::socket_type::router);
        router.bind(echoEndpoint);
        for (;;) {
            zmq::message_t id, body;
            if (!router.recv(id) || !router.recv(body))
                continue;
            router.send(id, zmq::send_flags::sndmore);
            router.send(body, zmq::send_flags::none);
        }
    }
    for (int i = 0; i < 200 && !std::filesystem::exists(templ + "/echo.sock"); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    zmq::context_t ctx(1);
    zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.connect(echoEndpoint);
    const std::string payload(16, 'x');
    auto roundTrip = [&] {
        dealer.send(zmq::buffer(payload), zmq::send_flags::none);
        zmq::message_t reply;
        if (!dealer.recv(reply))
            die("echo");
    };
    init();
    Group joinGroup("perf-ratio-join", 1);
    Group stateGroup("perf-ratio-state", 1);
    const ha_gs_token_t stateToken = joinAndWait(stateGroup);
    std::vector<double> base, join, state;
    for (int i = 0; i < iterations + 200; ++i) {
        auto t0 = Clock::now();
        roundTrip();
        auto t1 = Clock::now();
        const ha_gs_token_t token = joinAndWait(joinGroup);
        auto t2 = Clock::now();
        check(ha_gs_goodbye(token), "ha_gs_goodbye");
        auto t3 = Clock::now();
        const long before = g_approved;
        changeState(stateToken, HA_GS_1_PHASE, i);
        waitFor(g_approved, before + 1);
        auto t4 = Clock::now();
        if (i < 200)
            continue;
        base.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        join.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
        state.push_back(std::chrono::duration<double, std::micro>(t4 - t3).count());
    }
    ha_gs_quit();
    kill(echo, SIGKILL);
    waitpid(echo, nullptr, 0);
    std::error_code ec;
    std::filesystem::remove_all(templ, ec);
    const double b = median(base);
    std::printf("interleaved medians (us): baseline %.1f, join %.1f (%.2fx), state change %.1f "
                "(%.2fx)\n",
                b, median(join), median(join) / b, median(state), median(state) / b);
    return 0;
}

int joinlat(const std::string &gsd)
{
    bench::PrivateGsd daemon(gsd);
    init();
    std::printf("join median: %.1f us\n", joinMedianUs(2000));
    ha_gs_quit();
    return 0;
}

/* One subcommand per measurement (see the top of this file). */
int run(int argc, char **argv)
{
    CLI::App app{"perf_tool - the measurements behind docs/performance.md"};
    app.require_subcommand(1);
    std::string gsd = HA_GS_PERF_GSD;
    std::string scenario;
    int first = 0;
    int second = 0;
    int iterations = 2000;
    int result = 0;
    const auto gsdOption = [&](CLI::App *command) {
        command->add_option("--gsd", gsd, "gsd to start")->capture_default_str();
    };

    CLI::App *driveCommand =
        app.add_subcommand("drive", "run one scenario N times against $HA_GS_SOCKET's gsd");
    driveCommand->add_option("scenario", scenario, "join, state, nphase, sub or listen")
        ->required()
        ->check(CLI::IsMember({"join", "state", "nphase", "sub", "listen"}));
    driveCommand->add_option("N", first, "iterations")->required()->check(CLI::PositiveNumber);
    driveCommand->callback([&] { result = drive(scenario, first); });

    CLI::App *fanoutCommand =
        app.add_subcommand("fanout", "subscriber notifications per second of one group");
    gsdOption(fanoutCommand);
    fanoutCommand->add_option("SUBSCRIBERS", first, "subscriber processes")
        ->required()
        ->check(CLI::PositiveNumber);
    fanoutCommand->add_option("CHANGES", second, "state changes of the provider")
        ->required()
        ->check(CLI::PositiveNumber);
    fanoutCommand->callback([&] { result = fanout(gsd, first, second); });

    CLI::App *scaleCommand = app.add_subcommand("scale", "gsd's memory with many groups");
    gsdOption(scaleCommand);
    scaleCommand->add_option("GROUPS", first, "groups of two providers")
        ->required()
        ->check(CLI::PositiveNumber);
    scaleCommand->add_option("SUBSCRIPTIONS", second, "subscriptions spread over them")
        ->required()
        ->check(CLI::NonNegativeNumber);
    scaleCommand->callback([&] { result = scale(gsd, first, second); });

    CLI::App *joinlatCommand =
        app.add_subcommand("joinlat", "median one-phase join latency of an idle gsd");
    gsdOption(joinlatCommand);
    joinlatCommand->callback([&] { result = joinlat(gsd); });

    CLI::App *ratioCommand =
        app.add_subcommand("ratio", "baseline, join and state change timed alternately");
    gsdOption(ratioCommand);
    ratioCommand->add_option("ITERATIONS", iterations, "rounds")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    ratioCommand->callback([&] { result = ratio(gsd, iterations); });

    CLI11_PARSE(app, argc, argv);
    return result;
}

} // namespace

int main(int argc, char **argv)
{
    /* The harness (the private gsd) reports failures as exceptions. */
    try {
        return run(argc, argv);
    } catch (const std::exception &e) {
        die(e.what());
    }
}
