/* SPDX-License-Identifier: MIT */
/*
 * libha_gs_r: several threads blocked in ha_gs_dispatch(HA_GS_BLOCKING).
 * Notifications of one group arrive in order and never concurrently; votes
 * and proposals work from inside callbacks; ha_gs_quit and gsd's death wake
 * every blocked thread.
 */
#include "harness.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <mutex>
#include <string>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace api;

namespace {

constexpr int kChanges = 60;
constexpr int kThreads = 4;

struct GroupRun {
    const char *name = "";
    bool nphase = false;
    bool chain = true; /* after the join, run kChanges state changes */
    ha_gs_token_t token = 0;
    ha_gs_token_t subscriber = 0;
    std::atomic<bool> inCallback{false};
    std::atomic<int> next{0};
    std::atomic<bool> done{false};
    std::atomic<int> overlaps{0};
    std::atomic<int> outOfOrder{0};
    std::atomic<int> failures{0};
    std::atomic<int> died{0};
    std::atomic<int> subscriptions{0};
    std::mutex m;
    std::string firstError;
    void fail(const std::string &what)
    {
        ++failures;
        std::lock_guard lock(m);
        if (firstError.empty())
            firstError = what;
    }
};

GroupRun runs[3];
/* Proposed state values are padded to this many bytes (after the number). */
size_t statePad = 0;

GroupRun *runOf(ha_gs_token_t token)
{
    for (auto &r : runs) {
        if (r.token == token || r.subscriber == token)
            return &r;
    }
    return nullptr;
}

/* Marks a callback of the group as running; counts overlaps. */
struct Inside {
    GroupRun &r;
    explicit Inside(GroupRun &run) : r(run)
    {
        if (r.inCallback.exchange(true))
            ++r.overlaps;
        /* Widen the window in which a second delivery would overlap. */
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ~Inside() { r.inCallback.store(false); }
};

void propose(GroupRun &r, int k)
{
    std::string value = std::to_string(k);
    if (value.size() < statePad)
        value.resize(statePad, ' ');
    ha_gs_state_value_t sv{static_cast<unsigned>(value.size()), value.data()};
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    info.gs_state_change_request.gs_num_phases = r.nphase ? HA_GS_N_PHASE : HA_GS_1_PHASE;
    info.gs_state_change_request.gs_new_state = &sv;
    const ha_gs_rc_t rc = ha_gs_change_state_value(r.token, &info);
    if (rc != HA_GS_OK)
        r.fail("change_state_value " + value + ": " + describeRc(rc));
}

void onNPhase(const ha_gs_n_phase_notification_t *n)
{
    GroupRun *r = runOf(n->gs_provider_token);
    if (!r)
        return;
    Inside in(*r);
    const ha_gs_rc_t rc =
        ha_gs_vote(n->gs_provider_token, HA_GS_VOTE_APPROVE, nullptr, nullptr, HA_GS_NULL_VOTE);
    if (rc != HA_GS_OK)
        r->fail("vote in callback: " + describeRc(rc));
}

void onApproved(const ha_gs_approved_notification_t *n)
{
    GroupRun *r = runOf(n->gs_provider_token);
    if (!r)
        return;
    Inside in(*r);
    if (n->gs_protocol_type == HA_GS_JOIN) {
        if (r->chain)
            propose(*r, 0);
        else
            r->done.store(true);
        return;
    }
    if (n->gs_protocol_type != HA_GS_STATE_VALUE_CHANGE || !n->gs_proposal ||
        !n->gs_proposal->gs_proposed_state_value) {
        r->fail("unexpected approval: " + format(n));
        return;
    }
    const ha_gs_state_value_t *v = n->gs_proposal->gs_proposed_state_value;
    const int k = std::stoi(std::string(v->gs_state, v->gs_length));
    if (k != r->next.load())
        ++r->outOfOrder;
    r->next.store(k + 1);
    if (k + 1 < kChanges)
        propose(*r, k + 1);
    else
        r->done.store(true);
}

void onRejected(const ha_gs_rejected_notification_t *n)
{
    if (GroupRun *r = runOf(n->gs_provider_token))
        r->fail("rejected: " + format(n));
}

/* One callback per group: with threads blocked in ha_gs_dispatch, the first
 * notification of a subscription may run before ha_gs_subscribe has returned
 * the token to the caller, so the token cannot tell the group here. */
template <int Index>
void onSubscription(const ha_gs_subscription_notification_t *n)
{
    GroupRun &r = runs[Index];
    ++r.subscriptions;
    if (n->gs_subscription_type & HA_GS_SUBSCRIPTION_GS_HAS_DIED)
        ++r.died;
}

void resetRuns()
{
    statePad = 0;
    const char *names[3] = {"t1", "t2", "t3"};
    for (int i = 0; i < 3; ++i) {
        GroupRun &r = runs[i];
        r.name = names[i];
        r.nphase = i == 2;
        r.chain = true;
        r.token = 0;
        r.subscriber = 0;
        r.inCallback = false;
        r.next = 0;
        r.done = false;
        r.overlaps = 0;
        r.outOfOrder = 0;
        r.failures = 0;
        r.died = 0;
        r.subscriptions = 0;
        r.firstError.clear();
    }
}

ha_gs_rc_t join(GroupRun &r)
{
    ha_gs_group_attributes_t attrs = defaultAttributes(r.name);
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    info.gs_join_request.gs_group_attributes = &attrs;
    info.gs_join_request.gs_provider_instance = 1;
    info.gs_join_request.gs_n_phase_protocol_callback = onNPhase;
    info.gs_join_request.gs_protocol_approved_callback = onApproved;
    info.gs_join_request.gs_protocol_rejected_callback = onRejected;
    return ha_gs_join(&r.token, &info);
}

ha_gs_rc_t subscribe(int index)
{
    GroupRun &r = runs[index];
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    info.gs_subscribe_request.gs_subscription_control =
        HA_GS_SUBSCRIBE_MEMBERSHIP | HA_GS_SUBSCRIBE_STATE;
    info.gs_subscribe_request.gs_subscription_group = r.name;
    info.gs_subscribe_request.gs_subscription_callback =
        index == 0 ? onSubscription<0> : onSubscription<1>;
    return ha_gs_subscribe(&r.subscriber, &info);
}

char threadState(pid_t tid);

/* Threads blocked in ha_gs_dispatch(HA_GS_BLOCKING). */
class Dispatchers {
  public:
    Dispatchers()
    {
        for (int i = 0; i < kThreads; ++i) {
            threads_.emplace_back([this, i] {
                tids_[i] = static_cast<pid_t>(syscall(SYS_gettid));
                rcs_[i] = ha_gs_dispatch(HA_GS_BLOCKING);
                ++returned_;
            });
        }
    }
    /* Waits until every thread sleeps, which it can only do inside
     * ha_gs_dispatch (the kernel's view of the thread, not a guess). */
    bool waitBlocked(int timeoutMs)
    {
        const int64_t deadline = monotonicNs() + int64_t{timeoutMs} * 1000000;
        for (;;) {
            int sleeping = 0;
            for (int i = 0; i < kThreads; ++i) {
                const pid_t tid = tids_[i].load();
                if (tid != 0 && threadState(tid) == 'S')
                    ++sleeping;
            }
            if (sleeping == kThreads)
                return true;
            if (monotonicNs() > deadline)
                return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    /* Waits until every thread returned; their return codes. */
    std::vector<ha_gs_rc_t> waitReturned(int timeoutMs)
    {
        const int64_t deadline = monotonicNs() + int64_t{timeoutMs} * 1000000;
        while (returned_.load() < kThreads && monotonicNs() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        if (returned_.load() < kThreads)
            return {};
        for (auto &t : threads_)
            t.join();
        threads_.clear();
        return {rcs_, rcs_ + kThreads};
    }
    ~Dispatchers()
    {
        /* Threads still blocked: do not hang the test program. */
        for (auto &t : threads_)
            t.detach();
    }

  private:
    std::vector<std::thread> threads_;
    ha_gs_rc_t rcs_[kThreads] = {};
    std::atomic<pid_t> tids_[kThreads] = {};
    std::atomic<int> returned_{0};
};

/* The state letter of a thread of this process ('R', 'S', ...). */
char threadState(pid_t tid)
{
    const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return '?';
    char buf[512];
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    const std::string stat(buf, n > 0 ? static_cast<size_t>(n) : 0);
    const size_t paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : '?';
}

bool waitUntil(const std::function<bool()> &condition, int timeoutMs)
{
    const int64_t deadline = monotonicNs() + int64_t{timeoutMs} * 1000000;
    while (!condition()) {
        if (monotonicNs() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

} // namespace

TEST_CASE("threads: per-group order, no concurrent delivery, votes and proposals in callbacks")
{
    resetRuns();
    PrivateGsd gsd;
    ScopedEnv env("HA_GS_SOCKET", gsd.endpoint());
    ha_gs_descriptor_t fd = -1;
    REQUIRE_GS_OK(
        ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr, nullptr));
    for (auto &r : runs)
        REQUIRE_GS_OK(join(r));

    {
        Dispatchers dispatchers;
        const bool finished = waitUntil(
            [] { return runs[0].done.load() && runs[1].done.load() && runs[2].done.load(); },
            60000);
        for (auto &r : runs) {
            INFO("group " << r.name << ": " << r.firstError);
            CHECK(r.next.load() == kChanges);
            CHECK(r.overlaps.load() == 0);
            CHECK(r.outOfOrder.load() == 0);
            CHECK(r.failures.load() == 0);
        }
        CHECK(finished);

        ha_gs_quit();
        const auto rcs = dispatchers.waitReturned(kWaitMs);
        REQUIRE(rcs.size() == static_cast<size_t>(kThreads));
        for (ha_gs_rc_t rc : rcs)
            CHECK_GS_RC(HA_GS_NOT_OK, rc);
    }
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_dispatch(HA_GS_NON_BLOCKING));
}

TEST_CASE("threads: with 64 KiB states through a 1 MiB byte bound, the session lives on acks")
{
    /* Three groups change state 60 times each, 64 KiB values, about 23 MiB
     * to this process; gsd holds at most 1 MiB unread for it. The library
     * acknowledges what it reads, whichever thread reads it. */
    resetRuns();
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer checks every copy of a 64 KiB value byte by byte and
     * symbolizes libzmq's suppressed reports: replies then miss the
     * library's 10 s request timeout. Smaller values through a smaller
     * bound test the same thing: 2.8 MiB through 256 KiB. */
    statePad = 16 * 1024;
    PrivateGsd gsd({.args = {"--send-queue-bytes", "262144"}});
#else
    statePad = HA_GS_MAX_STATE_VALUE_LENGTH;
    PrivateGsd gsd({.args = {"--send-queue-bytes", "1048576"}});
#endif
    ScopedEnv env("HA_GS_SOCKET", gsd.endpoint());
    ha_gs_descriptor_t fd = -1;
    REQUIRE_GS_OK(
        ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr, nullptr));
    for (auto &r : runs)
        REQUIRE_GS_OK(join(r));
    {
        Dispatchers dispatchers;
        const bool finished = waitUntil(
            [] { return runs[0].done.load() && runs[1].done.load() && runs[2].done.load(); },
            60000);
        for (auto &r : runs) {
            INFO("group " << r.name << ": " << r.firstError);
            CHECK(r.next.load() == kChanges);
            CHECK(r.failures.load() == 0);
        }
        CHECK(finished);
        ha_gs_quit();
        const auto rcs = dispatchers.waitReturned(kWaitMs);
        CHECK(rcs.size() == static_cast<size_t>(kThreads));
    }
    CHECK(gsd.log().find("overflow") == std::string::npos);
}

TEST_CASE("threads: ha_gs_quit from the main thread wakes every idle blocked thread")
{
    resetRuns();
    PrivateGsd gsd;
    ScopedEnv env("HA_GS_SOCKET", gsd.endpoint());
    ha_gs_descriptor_t fd = -1;
    REQUIRE_GS_OK(
        ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr, nullptr));
    Dispatchers dispatchers;
    REQUIRE(dispatchers.waitBlocked(kWaitMs));
    ha_gs_node_number_t node = 0;
    CHECK_GS_OK(ha_gs_get_node_number(&node)); /* a request while they block */
    ha_gs_quit();
    const auto rcs = dispatchers.waitReturned(kWaitMs);
    REQUIRE(rcs.size() == static_cast<size_t>(kThreads));
    for (ha_gs_rc_t rc : rcs)
        CHECK_GS_RC(HA_GS_NOT_OK, rc);
    /* And the process may start again. */
    REQUIRE_GS_OK(
        ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr, nullptr));
    CHECK_GS_OK(ha_gs_get_node_number(&node));
    ha_gs_quit();
}

TEST_CASE("threads: gsd's death wakes every blocked thread; each subscription is told once")
{
    resetRuns();
    runs[0].chain = runs[1].chain = false;
    PrivateGsd gsd;
    ScopedEnv env("HA_GS_SOCKET", gsd.endpoint());
    ha_gs_descriptor_t fd = -1;
    REQUIRE_GS_OK(
        ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr, nullptr));
    REQUIRE_GS_OK(join(runs[0]));
    REQUIRE_GS_OK(join(runs[1]));
    {
        Dispatchers dispatchers;
        REQUIRE(waitUntil([] { return runs[0].done.load() && runs[1].done.load(); }, kWaitMs));
        REQUIRE_GS_OK(subscribe(0));
        REQUIRE_GS_OK(subscribe(1));
        REQUIRE(waitUntil(
            [] { return runs[0].subscriptions.load() == 1 && runs[1].subscriptions.load() == 1; },
            kWaitMs));

        REQUIRE(dispatchers.waitBlocked(kWaitMs));
        const int64_t killedAt = monotonicNs();
        gsd.kill(SIGKILL);
        const auto rcs = dispatchers.waitReturned(kWaitMs);
        const int64_t returnedAt = monotonicNs();
        REQUIRE(rcs.size() == static_cast<size_t>(kThreads));
        for (ha_gs_rc_t rc : rcs)
            CHECK_GS_RC(HA_GS_NOT_OK, rc);
        CHECK(returnedAt - killedAt < 1'000'000'000);
        CHECK(runs[0].died.load() == 1);
        CHECK(runs[1].died.load() == 1);
        ha_gs_node_number_t node = 0;
        CHECK_GS_RC(HA_GS_NOT_OK, ha_gs_get_node_number(&node));
    }
    ha_gs_quit();
}
