/* SPDX-License-Identifier: MIT */
/* Overload and limits through the public API: slow consumers, the request
 * rate limit (docs/operations.md). */
#include "harness.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

using namespace api;

namespace {

/* A "VmRSS:" or "VmHWM:" line of /proc/PID/status, in KiB; -1 if absent. */
long memoryKiB(pid_t pid, const std::string &key)
{
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind(key + ":", 0) == 0)
            return std::stol(line.substr(key.size() + 1));
    return -1;
}

/* The state value of change i: "v0001" ... padded to kStateSize bytes. */
constexpr int kChanges = 1000;
constexpr unsigned kStateSize = 65536;
constexpr unsigned kShown = 5; /* "v0001" */

std::string changeName(int i)
{
    char name[16];
    std::snprintf(name, sizeof name, "v%04d", i);
    return name;
}

/* What a subscription line shows of change i's state (valuelimit kShown). */
std::string shownState(int i)
{
    return "\"" + changeName(i) + "\"~" + std::to_string(kStateSize);
}

} // namespace

TEST_CASE("overload: a subscriber that never dispatches loses its session, not the others")
{
    /* A small queue in gsd, and the slow client's library reads ahead 100
     * messages. With 64 KiB states, 1000 changes overflow both by far:
     * without the bounds, gsd would hold about 56 MiB for it. */
    std::optional<ScopedEnv> noQuarantine;
#if defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer's quarantine keeps freed memory resident on purpose;
     * gsd's memory is measured without it. */
    const char *asan = std::getenv("ASAN_OPTIONS");
    noQuarantine.emplace("ASAN_OPTIONS",
                         std::string(asan ? asan : "") +
                             ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0");
#endif
    PrivateGsd gsd({.args = {"--send-queue-limit", "20"}});
    noQuarantine.reset();
    ClientProcess provider("provider", gsd), fast("fast", gsd);
    ClientProcess slow("slow", gsd, {.env = {{"HA_GS_RECEIVE_QUEUE_LIMIT", "100"}}});
    for (Client *c : std::initializer_list<Client *>{&provider, &fast, &slow})
        REQUIRE(c->rc("valuelimit " + std::to_string(kShown)) == "HA_GS_OK");

    REQUIRE(provider.rc("join g 1") == "HA_GS_OK");
    provider.waitFor("g: approved JOIN");
    REQUIRE(fast.rc("subscribe g state") == "HA_GS_OK");
    fast.waitFor("g: sub type=STATE");
    REQUIRE(slow.rc("subscribe g state") == "HA_GS_OK");
    slow.waitFor("g: sub type=STATE");
    REQUIRE(slow.rc("hold") == "HA_GS_OK");

    const long before = memoryKiB(gsd.pid(), "VmRSS");
    REQUIRE(before > 0);
    /* Every change completes, and the dispatching subscriber sees each, in
     * order. (In step with it, so that a busy machine cannot make it lag
     * behind the small queue too.) */
    for (int i = 1; i <= kChanges; ++i) {
        CAPTURE(i);
        REQUIRE(provider.rc("state g " + changeName(i) + " pad=" + std::to_string(kStateSize)) ==
                "HA_GS_OK");
        const std::string approved = provider.nextWith("g: approved STATE_VALUE_CHANGE");
        REQUIRE(field(approved, "prop") == shownState(i));
        const std::string seen = fast.nextWith("g: sub");
        REQUIRE(subSummary(seen) == "g: sub type=STATE state=" + shownState(i));
    }

    /* gsd dropped the slow one, said why in its log, and stayed small. */
    const long peak = memoryKiB(gsd.pid(), "VmHWM");
    INFO("gsd VmRSS before " << before << " KiB, VmHWM after " << peak << " KiB");
    CHECK(peak - before < 24 * 1024);
    CHECK(gsd.log().find("notification queue overflow") != std::string::npos);

    /* The slow subscriber reads again: the changes queued before gsd gave
     * up on it, in order, then GS_HAS_DIED, then ha_gs_dispatch fails.
     * (When it stayed away longer than the ZeroMQ heartbeat timeout, its
     * own library has dropped the connection, and the queued changes with
     * it: then GS_HAS_DIED comes first.) */
    REQUIRE(slow.rc("resume") == "HA_GS_OK");
    int got = 0;
    for (;;) {
        const std::string line = slow.next();
        if (line.rfind("g: sub type=STATE ", 0) == 0) {
            ++got;
            REQUIRE(field(line, "state") == shownState(got));
            continue;
        }
        CHECK(field(line, "type") == "GS_HAS_DIED");
        break;
    }
    CHECK(got < kChanges);
    CHECK(slow.next() == "*: dispatch HA_GS_NOT_OK");
    CHECK(slow.rc("subscribe g state") == "HA_GS_NOT_OK");
    /* It may start over. */
    CHECK(slow.rc("quit") == "HA_GS_OK");
    CHECK(slow.rc("init") == "HA_GS_OK");
    CHECK(slow.rc("subscribe g state") == "HA_GS_OK");
    CHECK(subSummary(slow.waitFor("g: sub")) == "g: sub type=STATE state=" + shownState(kChanges));
}

TEST_CASE("overload: requests beyond gsd's request rate get HA_GS_NO_MEMORY, votes never do")
{
    PrivateGsd gsd({.args = {"--max-request-rate", "1", "--request-burst", "4"}});
    ClientProcess other("other", gsd);
    LocalClient c("c", gsd);
    /* The bucket starts full: four requests at once are fine. */
    REQUIRE(c.rc("join g 1 phases=n") == "HA_GS_OK");
    CHECK(c.rc("unsubscribe #4242") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(c.rc("unsubscribe #4243") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(c.rc("unsubscribe #4244") == "HA_GS_BAD_MEMBER_TOKEN");
    /* Then one per second: within a few requests one is refused. */
    std::string refused;
    for (int i = 0; i < 10 && refused.empty(); ++i) {
        const std::string rc = c.rc("unsubscribe #4245");
        if (rc != "HA_GS_BAD_MEMBER_TOKEN")
            refused = rc;
    }
    CHECK(refused == "HA_GS_NO_MEMORY");
    /* Votes answer gsd and are never refused: the vote on its own join
     * reaches the group. */
    c.waitFor("g: nphase JOIN");
    CHECK(c.rc("vote g approve") == "HA_GS_OK");
    c.waitFor("g: approved JOIN");
    /* Other clients have their own budget. */
    CHECK(other.rc("subscribe g state") == "HA_GS_OK");
    other.waitFor("g: sub");
}

TEST_CASE("overload: clients that keep reading never lose their session, however many bytes pass "
          "through gsd's byte bound")
{
    /* A bound of 256 KiB (a mark every 32 KiB), and 200 changes of 64 KiB
     * states: about 25 MiB to the provider and 13 MiB to each subscriber.
     * Only the libraries' acknowledgements keep them below the bound. */
    constexpr int kRounds = 200;
    PrivateGsd gsd({.args = {"--send-queue-bytes", "262144"}});
    ClientProcess provider("provider", gsd), first("first", gsd), second("second", gsd);
    for (Client *c : std::initializer_list<Client *>{&provider, &first, &second})
        REQUIRE(c->rc("valuelimit " + std::to_string(kShown)) == "HA_GS_OK");
    REQUIRE(provider.rc("join g 1") == "HA_GS_OK");
    provider.waitFor("g: approved JOIN");
    for (Client *c : std::initializer_list<Client *>{&first, &second}) {
        REQUIRE(c->rc("subscribe g state") == "HA_GS_OK");
        c->waitFor("g: sub type=STATE");
    }
    for (int i = 1; i <= kRounds; ++i) {
        CAPTURE(i);
        REQUIRE(provider.rc("state g " + changeName(i) + " pad=" + std::to_string(kStateSize)) ==
                "HA_GS_OK");
        REQUIRE(field(provider.nextWith("g: approved STATE_VALUE_CHANGE"), "prop") ==
                shownState(i));
        for (Client *c : std::initializer_list<Client *>{&first, &second})
            REQUIRE(subSummary(c->nextWith("g: sub")) ==
                    "g: sub type=STATE state=" + shownState(i));
    }
    CHECK(gsd.log().find("overflow") == std::string::npos);
}
