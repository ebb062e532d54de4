/* SPDX-License-Identifier: MIT */
/*
 * A notification that a calling thread reads while sending its request
 * (libcgha_cmm drains the connection after every send) must make the
 * notification descriptor readable at once, not when that call's reply
 * comes. The window between the call's first look at the connection and
 * its send is microseconds wide; this program widens it by interposing
 * libzmq's zmq_send (the executable's definition wins over libzmq's for
 * libcgha_cmm's reference): in the one calling thread that asks for it, the
 * send waits until the scripted gsd has sent a notification. cmm.h and the
 * test harness otherwise; in the 'tsan' suite too.
 */
#include "harness.hpp"
#include "tests/lib/fake_cmm_gsd.hpp"

#include <cmm.h>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <dlfcn.h>
#include <mutex>
#include <poll.h>
#include <thread>
#include <vector>
#include <zmq.h>

namespace {

/* The calling thread whose next send waits for `noteSent`. */
thread_local bool holdNextSend = false;
std::atomic<bool> sendHeld{false};
std::atomic<bool> noteSent{false};
std::atomic<bool> sendDone{false};

using ZmqSend = int (*)(void *, const void *, size_t, int);

} // namespace

extern "C" int zmq_send(void *socket, const void *buf, size_t len, int flags)
{
    static const auto real = reinterpret_cast<ZmqSend>(dlsym(RTLD_NEXT, "zmq_send"));
    const int rc = real(socket, buf, len, flags);
    if (holdNextSend) {
        holdNextSend = false;
        sendHeld = true;
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!noteSent && std::chrono::steady_clock::now() < end)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        /* Time for the notification to cross the socket. */
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        sendDone = true;
    }
    return rc;
}

namespace {

using api::ScopedEnv;
using libtest::FakeCmmGsd;

std::mutex gNotesMutex;
std::vector<uint32_t> gNotes;

void recordNote(cmm_cmc_notification_t const *note, void *)
{
    std::lock_guard<std::mutex> lock(gNotesMutex);
    gNotes.push_back(note->nodeid);
}

} // namespace

TEST_CASE("a notification read by a thread sending its request makes the descriptor readable")
{
    FakeCmmGsd gsd;
    ScopedEnv env("HA_GS_SOCKET", gsd.endpoint());
    cmm_disconnect();
    REQUIRE(cmm_connect(timespec_t{60, 0}) == CMM_OK);
    REQUIRE(cmm_cmc_register(recordNote, nullptr) == CMM_OK);
    int fd = -1;
    REQUIRE(cmm_notify_getfd(&fd) == CMM_OK);
    gsd.holdAll();

    cmm_error_t rc = CMM_EOTHER;
    std::thread calling([&] {
        holdNextSend = true;
        cmm_member_t member{};
        rc = cmm_member_getinfo(11, &member);
    });
    /* The call has looked at the connection and is about to send. */
    while (!sendHeld)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    gsd.notify(CMM_MEMBER_JOINED, 7);
    noteSent = true;
    /* Poll only once the call has read the notification (its drain after
     * the send) and waits: before, the socket's own descriptor would say
     * that something arrived. */
    while (!sendDone)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));

    /* The call waits for its (held) reply; the notification it read on the
     * way must be dispatchable now. */
    pollfd polled{fd, POLLIN, 0};
    const bool readable = ::poll(&polled, 1, 20000) == 1;
    CHECK(readable);
    if (readable)
        CHECK(cmm_notify_dispatch() == CMM_OK);
    {
        std::lock_guard<std::mutex> lock(gNotesMutex);
        CHECK(gNotes == std::vector<uint32_t>{7});
    }
    gsd.releaseHeld();
    calling.join();
    CHECK(rc == CMM_OK);
    cmm_disconnect();
}
