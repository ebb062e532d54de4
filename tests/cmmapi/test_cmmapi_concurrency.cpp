/* SPDX-License-Identifier: MIT */
/*
 * Public-API tests of libcgha_cmm's concurrent calls (cmm.h only, against
 * tests/lib's FakeCmmGsd, which can hold a reply back and answers what
 * arrives together last first): a call waiting for its reply does not hold
 * up another thread's call, and under many concurrent calls every thread
 * gets its own replies. In the 'tsan' suite too.
 */
#include "harness.hpp"
#include "tests/lib/fake_cmm_gsd.hpp"

#include <cmm.h>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using api::ScopedEnv;
using libtest::FakeCmmGsd;

struct Fixture {
    Fixture() : env("HA_GS_SOCKET", gsd.endpoint()) { cmm_disconnect(); }
    ~Fixture() { cmm_disconnect(); }
    FakeCmmGsd gsd;
    ScopedEnv env;
};

} // namespace

TEST_CASE("a call waiting for its reply does not hold up another thread's call")
{
    Fixture f;
    f.gsd.holdFirstRequest();
    /* Short, so that a library that serializes calls fails in seconds: the
     * first call times out, since its reply comes only after the second
     * call has returned. */
    REQUIRE(cmm_connect(timespec_t{3, 0}) == CMM_OK);

    std::atomic<bool> firstDone{false};
    cmm_error_t firstRc = CMM_EOTHER;
    cmm_member_t first{};
    std::thread waiting([&] {
        firstRc = cmm_member_getinfo(11, &first);
        firstDone = true;
    });
    /* The first call's request is in gsd, which holds its reply back. */
    REQUIRE(f.gsd.waitForRequests(1));

    cmm_member_t second{};
    CHECK(cmm_member_getinfo(22, &second) == CMM_OK);
    CHECK(second.nodeid == 22);
    /* Certain, not timing: gsd has not answered the first request yet. */
    CHECK_FALSE(firstDone.load());

    f.gsd.releaseHeld();
    waiting.join();
    CHECK(firstRc == CMM_OK);
    CHECK(first.nodeid == 11);
}

TEST_CASE("many threads' concurrent calls each get their own reply")
{
    Fixture f;
    REQUIRE(cmm_connect(timespec_t{10, 0}) == CMM_OK);
    constexpr unsigned kThreads = 8;
    constexpr unsigned kCalls = 300;
    std::atomic<unsigned> failed{0}, crossed{0};
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (unsigned i = 0; i < kCalls; ++i) {
                const cmm_nodeid_t asked = (t + 1) * 100000 + i;
                cmm_member_t member{};
                const cmm_error_t rc = i % 2 == 0 ? cmm_member_getinfo(asked, &member)
                                                  : cmm_potential_getinfo(asked, &member);
                if (rc != CMM_OK)
                    ++failed;
                else if (member.nodeid != asked)
                    ++crossed;
            }
        });
    for (std::thread &thread : threads)
        thread.join();
    CHECK(failed.load() == 0);
    CHECK(crossed.load() == 0);
    /* The calls were in flight together, and gsd's replies overtook each
     * other: the case that crossing would show. */
    CHECK(f.gsd.overtaken() > 0);
}

TEST_CASE("cmm_disconnect ends a call another thread is waiting in")
{
    Fixture f;
    f.gsd.holdFirstRequest();
    REQUIRE(cmm_connect(timespec_t{30, 0}) == CMM_OK);
    std::atomic<bool> done{false};
    cmm_error_t rc = CMM_EOTHER;
    std::thread waiting([&] {
        cmm_member_t member{};
        rc = cmm_member_getinfo(11, &member);
        done = true;
    });
    REQUIRE(f.gsd.waitForRequests(1));
    CHECK(cmm_disconnect() == CMM_OK);
    /* Not the 30 s timeout: the connection ended under the call. */
    waiting.join();
    CHECK(rc == CMM_ECONN);
    /* The next call connects afresh. */
    f.gsd.releaseHeld();
    cmm_member_t member{};
    CHECK(cmm_member_getinfo(33, &member) == CMM_OK);
    CHECK(member.nodeid == 33);
}

TEST_CASE("a late reply to a call that timed out is not taken for the next call's")
{
    Fixture f;
    f.gsd.holdFirstRequest();
    REQUIRE(cmm_connect(timespec_t{1, 0}) == CMM_OK);
    cmm_member_t member{};
    CHECK(cmm_member_getinfo(11, &member) == CMM_ETIMEDOUT);
    /* gsd answers the abandoned request now; the reply arrives late. */
    f.gsd.releaseHeld();
    for (cmm_nodeid_t asked : {22u, 33u, 44u}) {
        member = cmm_member_t{};
        CHECK(cmm_member_getinfo(asked, &member) == CMM_OK);
        CHECK(member.nodeid == asked);
    }
}

TEST_CASE("a gsd that dies ends every waiting thread's call with CMM_ECONN")
{
    auto gsd = std::make_unique<FakeCmmGsd>();
    ScopedEnv env("HA_GS_SOCKET", gsd->endpoint());
    cmm_disconnect();
    gsd->holdAll();
    REQUIRE(cmm_connect(timespec_t{60, 0}) == CMM_OK);
    constexpr unsigned kThreads = 4;
    std::atomic<unsigned> econn{0}, other{0};
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            cmm_member_t member{};
            if (cmm_member_getinfo(t + 1, &member) == CMM_ECONN)
                ++econn;
            else
                ++other;
        });
    REQUIRE(gsd->waitForRequests(kThreads));
    const auto start = std::chrono::steady_clock::now();
    gsd.reset(); /* its socket closes: the connection is lost */
    for (std::thread &thread : threads)
        thread.join();
    CHECK(econn.load() == kThreads);
    CHECK(other.load() == 0);
    /* Not the 60 s timeout (a wide margin for a loaded machine). */
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
    cmm_disconnect();
}

TEST_CASE("fork while another thread waits in a call: the child calls on a connection of its own")
{
    Fixture f;
    f.gsd.holdFirstRequest();
    REQUIRE(cmm_connect(timespec_t{30, 0}) == CMM_OK);
    cmm_error_t rc = CMM_EOTHER;
    cmm_member_t first{};
    std::thread waiting([&] { rc = cmm_member_getinfo(11, &first); });
    REQUIRE(f.gsd.waitForRequests(1));
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        cmm_member_t member{};
        const cmm_error_t childRc = cmm_member_getinfo(44, &member);
        _exit(childRc == CMM_OK && member.nodeid == 44 ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    f.gsd.releaseHeld();
    waiting.join();
    CHECK(rc == CMM_OK);
    CHECK(first.nodeid == 11);
}

namespace {

std::mutex gNotesMutex;
std::vector<uint32_t> gNotes;
int gLastDispatchRc = 0;

void recordNote(cmm_cmc_notification_t const *note, void *)
{
    std::lock_guard<std::mutex> lock(gNotesMutex);
    gNotes.push_back(note->nodeid);
}

size_t notesSeen()
{
    std::lock_guard<std::mutex> lock(gNotesMutex);
    return gNotes.size();
}

/* Dispatches whenever the descriptor says so, until `count` notifications
 * were delivered or `limit` passed. */
bool dispatchUntil(size_t count, std::chrono::milliseconds limit)
{
    int fd = -1;
    if (cmm_notify_getfd(&fd) != CMM_OK)
        return false;
    const auto end = std::chrono::steady_clock::now() + limit;
    while (notesSeen() < count) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            end - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return false;
        pollfd polled{fd, POLLIN, 0};
        if (::poll(&polled, 1, static_cast<int>(left.count())) > 0 &&
            (gLastDispatchRc = cmm_notify_dispatch()) != CMM_OK)
            return false;
    }
    return true;
}

} // namespace

TEST_CASE("a notification read by a thread waiting in a call makes the descriptor readable")
{
    Fixture f;
    {
        std::lock_guard<std::mutex> lock(gNotesMutex);
        gNotes.clear();
    }
    REQUIRE(cmm_connect(timespec_t{60, 0}) == CMM_OK);
    REQUIRE(cmm_cmc_register(recordNote, nullptr) == CMM_OK);
    f.gsd.holdAll();
    cmm_error_t rc = CMM_EOTHER;
    std::thread waiting([&] {
        cmm_member_t member{};
        rc = cmm_member_getinfo(11, &member);
    });
    REQUIRE(f.gsd.waitForRequests(2)); /* Register, then the held getinfo */
    f.gsd.notify(CMM_MEMBER_JOINED, 7);
    /* The waiting thread is the only reader of the connection: what it
     * reads must reach this dispatcher while its own call still waits. */
    CHECK(dispatchUntil(1, std::chrono::seconds(20)));
    f.gsd.releaseHeld();
    waiting.join();
    CHECK(rc == CMM_OK);
    std::lock_guard<std::mutex> lock(gNotesMutex);
    CHECK(gNotes == std::vector<uint32_t>{7});
}

TEST_CASE("notifications read by calling threads reach the dispatcher in order, once each")
{
    Fixture f;
    {
        std::lock_guard<std::mutex> lock(gNotesMutex);
        gNotes.clear();
    }
    REQUIRE(cmm_connect(timespec_t{60, 0}) == CMM_OK);
    REQUIRE(cmm_cmc_register(recordNote, nullptr) == CMM_OK);
    constexpr uint32_t kNotes = 3000;
    std::atomic<bool> stop{false};
    std::atomic<unsigned> failed{0};
    std::vector<std::thread> callers;
    for (unsigned t = 0; t < 3; ++t)
        callers.emplace_back([&, t] {
            for (cmm_nodeid_t i = 0; !stop; ++i) {
                cmm_member_t member{};
                if (cmm_member_getinfo(t * 1000000 + i, &member) != CMM_OK)
                    ++failed;
            }
        });
    for (uint32_t n = 1; n <= kNotes; ++n) {
        f.gsd.notify(CMM_MEMBER_JOINED, n);
        if (n % 100 == 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const bool all = dispatchUntil(kNotes, std::chrono::seconds(60));
    stop = true;
    for (std::thread &thread : callers)
        thread.join();
    CHECK(all);
    CHECK(failed.load() == 0);
    std::lock_guard<std::mutex> lock(gNotesMutex);
    if (gNotes.size() != kNotes) {
        std::string missing;
        for (uint32_t n = 1, i = 0; n <= kNotes; ++n) {
            if (i < gNotes.size() && gNotes[i] == n)
                ++i;
            else
                missing += " " + std::to_string(n);
        }
        MESSAGE("missing:" << missing << " last rc " << gLastDispatchRc);
    }
    REQUIRE(gNotes.size() == kNotes);
    for (uint32_t n = 1; n <= kNotes; ++n)
        REQUIRE(gNotes[n - 1] == n);
}

namespace {

std::atomic<unsigned> gCallbackCalls{0};
std::atomic<unsigned> gCallbackUnexpected{0};

/* A callback that talks to gsd and tries what it must not do. */
void callingCallback(cmm_cmc_notification_t const *note, void *)
{
    cmm_member_t member{};
    const cmm_error_t rc = cmm_member_getinfo(note->nodeid, &member);
    if (rc == CMM_OK && member.nodeid != note->nodeid)
        gCallbackUnexpected += 1;
    else if (rc != CMM_OK && rc != CMM_ECONN)
        gCallbackUnexpected += 10;
    if (cmm_notify_dispatch() != CMM_EBUSY)
        gCallbackUnexpected += 100;
    const cmm_error_t unregistered = cmm_cmc_unregister();
    /* CMM_OK: a cmm_disconnect in another thread dropped the registration. */
    if (unregistered != CMM_EBUSY && unregistered != CMM_OK)
        gCallbackUnexpected += 1000;
    ++gCallbackCalls;
}

} // namespace

TEST_CASE("calls, registrations, dispatch with calling callbacks and reconnects in many threads")
{
    Fixture f;
    gCallbackCalls = 0;
    gCallbackUnexpected = 0;
    REQUIRE(cmm_connect(timespec_t{20, 0}) == CMM_OK);
    std::atomic<bool> stop{false};
    std::atomic<unsigned> unexpected{0}, calls{0}, registrations{0};
    std::vector<std::thread> threads;
    /* Callers: their own reply, or the connection ended by a reconnect. */
    for (unsigned t = 0; t < 3; ++t)
        threads.emplace_back([&, t] {
            for (cmm_nodeid_t i = 0; !stop; ++i) {
                const cmm_nodeid_t asked = (t + 1) * 1000000 + i;
                cmm_member_t member{};
                const cmm_error_t rc = cmm_member_getinfo(asked, &member);
                if ((rc == CMM_OK && member.nodeid != asked) || (rc != CMM_OK && rc != CMM_ECONN))
                    ++unexpected;
                ++calls;
            }
        });
    /* Registering and unregistering. */
    threads.emplace_back([&] {
        while (!stop) {
            const cmm_error_t reg = cmm_cmc_register(callingCallback, nullptr);
            if (reg != CMM_OK && reg != CMM_EEXIST && reg != CMM_ECONN)
                ++unexpected;
            if (reg == CMM_OK)
                ++registrations;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            const cmm_error_t unreg = cmm_cmc_unregister();
            if (unreg != CMM_OK && unreg != CMM_EBUSY && unreg != CMM_ECONN)
                ++unexpected;
        }
    });
    /* Dispatching whatever the descriptor (the one of the moment) says. */
    threads.emplace_back([&] {
        while (!stop) {
            int fd = -1;
            if (cmm_notify_getfd(&fd) != CMM_OK) {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
                continue;
            }
            pollfd polled{fd, POLLIN, 0};
            if (::poll(&polled, 1, 5) > 0) {
                const cmm_error_t rc = cmm_notify_dispatch();
                if (rc != CMM_OK && rc != CMM_ENOENT && rc != CMM_EBADF)
                    ++unexpected;
                if (rc == CMM_EBADF)
                    (void)cmm_cmc_unregister();
            }
        }
    });
    /* Reconnecting now and then, under everything else. */
    threads.emplace_back([&] {
        while (!stop) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            (void)cmm_disconnect();
            const cmm_error_t rc = cmm_connect(timespec_t{20, 0});
            if (rc != CMM_OK)
                ++unexpected;
        }
    });
    for (uint32_t n = 1; n <= 4000; ++n) {
        f.gsd.notify(CMM_MEMBER_JOINED, n);
        if (n % 20 == 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    stop = true;
    for (std::thread &thread : threads)
        thread.join();
    CHECK(unexpected.load() == 0);
    CHECK(gCallbackUnexpected.load() == 0);
    CHECK(calls.load() > 0);
    CHECK(registrations.load() > 0);
    MESSAGE("calls " << calls.load() << ", registrations " << registrations.load() << ", callbacks "
                     << gCallbackCalls.load());
}

TEST_CASE("dispatch does not spin while another thread's unregistration waits for gsd")
{
    Fixture f;
    {
        std::lock_guard<std::mutex> lock(gNotesMutex);
        gNotes.clear();
    }
    REQUIRE(cmm_connect(timespec_t{60, 0}) == CMM_OK);
    REQUIRE(cmm_cmc_register(recordNote, nullptr) == CMM_OK);
    int fd = -1;
    REQUIRE(cmm_notify_getfd(&fd) == CMM_OK);
    /* A notification waits to be dispatched: the descriptor is readable. */
    f.gsd.notify(CMM_MEMBER_JOINED, 5);
    pollfd polled{fd, POLLIN, 0};
    REQUIRE(::poll(&polled, 1, 20000) == 1);
    f.gsd.holdAll();
    cmm_error_t unregistered = CMM_EOTHER;
    std::thread unregistering([&] { unregistered = cmm_cmc_unregister(); });
    REQUIRE(f.gsd.waitForRequests(2)); /* Register, then the held Unregister */

    /* An application's dispatch loop, for a while: no callback may start
     * now, so returning at once while the descriptor stays readable would
     * make it spin for the whole round trip. */
    std::atomic<bool> stop{false};
    std::atomic<unsigned> returned{0};
    std::thread dispatching([&] {
        while (!stop) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 50) > 0) {
                (void)cmm_notify_dispatch();
                ++returned;
            }
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const unsigned whileHeld = returned.load();
    f.gsd.releaseHeld();
    unregistering.join();
    stop = true;
    dispatching.join();
    CHECK(unregistered == CMM_OK);
    CHECK(whileHeld <= 2);
    std::lock_guard<std::mutex> lock(gNotesMutex);
    CHECK(gNotes.empty()); /* discarded by the unregistration */
}

/* The sanitizers' runtimes need descriptors of their own (UBSan's vptr
 * check reports every object as invalid when it cannot open one). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

TEST_CASE("cmm_connect with few descriptors left: CMM_OK or CMM_ENOMEM, never a crash" *
          doctest::skip(kSanitized))
{
    Fixture f;
    /* From no descriptor free to enough of them: every step of the set-up
     * (the library's eventfds, libzmq's context, sockets and monitor) may
     * be the one that finds none. */
    for (int spare = 0; spare <= 20; ++spare) {
        CAPTURE(spare);
        const pid_t child = fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            int highest = 2;
            for (int fd = 3; fd < 4096; ++fd)
                if (fcntl(fd, F_GETFD) != -1)
                    highest = fd;
            const auto limit = static_cast<rlim_t>(highest + 1 + spare);
            const rlimit lim{limit, limit};
            if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
                _exit(2);
            /* Fill the holes below: exactly `spare` descriptors are free. */
            for (int fd = 3; fd <= highest; ++fd)
                if (fcntl(fd, F_GETFD) == -1 && open("/dev/null", O_RDONLY | O_CLOEXEC) < 0)
                    _exit(2);
            const cmm_error_t rc = cmm_connect(timespec_t{10, 0});
            if (rc == CMM_ENOMEM)
                _exit(3);
            if (rc != CMM_OK)
                _exit(4);
            cmm_member_t member{};
            _exit(cmm_member_getinfo(9, &member) == CMM_OK && member.nodeid == 9 ? 0 : 5);
        }
        int status = 0;
        REQUIRE(waitpid(child, &status, 0) == child);
        REQUIRE(WIFEXITED(status));
        CHECK((WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3));
    }
}
