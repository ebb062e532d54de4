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
#include <thread>
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
