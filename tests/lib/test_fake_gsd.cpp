/* SPDX-License-Identifier: MIT */
/*
 * The client library against a scripted gsd (fake_gsd.hpp): session
 * set-up, routing of replies and notifications, the level-triggered
 * descriptor, connection loss, responsiveness, fork. Built once per library;
 * HA_GS_TEST_THREAD_SAFE adds the libha_gs_r cases.
 */
#include "tests/lib/fake_gsd.hpp"

#include <ha_gs.h>

#include <doctest/doctest.h>

#include <poll.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#ifndef HA_GS_TEST_THREAD_SAFE
#define HA_GS_TEST_THREAD_SAFE 0
#endif

using libtest::FakeGsd;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kWaitMs = 10000;

bool readable(int fd, int timeoutMs)
{
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeoutMs) == 1 && (p.revents & POLLIN);
}

struct Env {
    Env(const char *name, const std::string &value) : name_(name)
    {
        setenv(name, value.c_str(), 1);
    }
    ~Env() { unsetenv(name_); }
    const char *name_;
};

/* A session on `fake` for the duration of a test. */
struct Session {
    explicit Session(FakeGsd &fake, const ha_gs_responsiveness_t *resp = nullptr,
                     ha_gs_responsiveness_cb_t *respCb = nullptr)
        : env("HA_GS_SOCKET", fake.endpoint())
    {
        rc = ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, resp, nullptr, respCb, delayedError, nullptr);
    }
    ~Session() { ha_gs_quit(); }
    static void delayedError(const ha_gs_delayed_error_notification_t *n);
    Env env;
    ha_gs_descriptor_t fd = -1;
    ha_gs_rc_t rc = HA_GS_NOT_OK;
};

/* What the callbacks saw, as text lines. */
std::mutex eventsMutex;
std::vector<std::string> events;

void record(const std::string &line)
{
    std::lock_guard<std::mutex> lock(eventsMutex);
    events.push_back(line);
}

std::vector<std::string> takeEvents()
{
    std::lock_guard<std::mutex> lock(eventsMutex);
    std::vector<std::string> out;
    out.swap(events);
    return out;
}

size_t eventCount()
{
    std::lock_guard<std::mutex> lock(eventsMutex);
    return events.size();
}

/* Dispatches (non-blocking) as the descriptor says, until `count` events
 * were recorded or ha_gs_dispatch fails. Returns the last dispatch result. */
ha_gs_rc_t dispatchUntil(int fd, size_t count)
{
    const auto deadline = Clock::now() + std::chrono::milliseconds(kWaitMs);
    ha_gs_rc_t rc = HA_GS_OK;
    while (eventCount() < count && Clock::now() < deadline) {
        if (!readable(fd, 100))
            continue;
        rc = ha_gs_dispatch(HA_GS_NON_BLOCKING);
        if (rc != HA_GS_OK)
            break;
    }
    return rc;
}

void Session::delayedError(const ha_gs_delayed_error_notification_t *n)
{
    const ha_gs_subscribe_request_t &s = n->gs_failing_request->gs_subscribe_request;
    record("delayed token=" + std::to_string(n->gs_request_token) +
           " protocol=" + std::to_string(n->gs_protocol_type) + " rc=" +
           std::to_string(n->gs_delayed_return_code) + " group=" + s.gs_subscription_group +
           " control=" + std::to_string(s.gs_subscription_control));
}

void onNPhase(const ha_gs_n_phase_notification_t *n)
{
    const ha_gs_rc_t rc =
        ha_gs_vote(n->gs_provider_token, HA_GS_VOTE_APPROVE, nullptr, nullptr, HA_GS_NULL_VOTE);
    record("nphase token=" + std::to_string(n->gs_provider_token) +
           " phase=" + std::to_string(n->gs_proposal->gs_phase_info.gs_phase_number) +
           " vote=" + std::to_string(rc));
}

void onApproved(const ha_gs_approved_notification_t *n)
{
    const ha_gs_proposal_t *p = n->gs_proposal;
    std::string line = "approved token=" + std::to_string(n->gs_provider_token) +
                       " protocol=" + std::to_string(n->gs_protocol_type) +
                       " phase=" + std::to_string(p->gs_phase_info.gs_phase_number);
    if (p->gs_proposed_state_value)
        line += " state=" + std::string(p->gs_proposed_state_value->gs_state,
                                        p->gs_proposed_state_value->gs_length);
    if (p->gs_changing_providers && p->gs_changing_providers->gs_count)
        line +=
            " chg=" + std::to_string(p->gs_changing_providers->gs_providers[0].gs_instance_number);
    record(line);
}

void onRejected(const ha_gs_rejected_notification_t *n)
{
    record("rejected token=" + std::to_string(n->gs_provider_token));
}

void onSubscription(const ha_gs_subscription_notification_t *n)
{
    std::string line = "sub token=" + std::to_string(n->gs_subscriber_token) +
                       " type=" + std::to_string(n->gs_subscription_type);
    if (n->gs_state_value)
        line += " state=" + std::string(n->gs_state_value->gs_state, n->gs_state_value->gs_length);
    record(line);
}

ha_gs_rc_t join(const char *group, ha_gs_token_t *token)
{
    ha_gs_group_attributes_t attrs;
    std::memset(&attrs, 0, sizeof attrs);
    attrs.gs_version = 1;
    attrs.gs_sizeof_group_attributes = sizeof attrs;
    attrs.gs_group_name = group;
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    info.gs_join_request.gs_group_attributes = &attrs;
    info.gs_join_request.gs_provider_instance = 1;
    info.gs_join_request.gs_n_phase_protocol_callback = onNPhase;
    info.gs_join_request.gs_protocol_approved_callback = onApproved;
    info.gs_join_request.gs_protocol_rejected_callback = onRejected;
    return ha_gs_join(token, &info);
}

ha_gs_rc_t subscribe(const char *group, ha_gs_token_t *token)
{
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    info.gs_subscribe_request.gs_subscription_control =
        HA_GS_SUBSCRIBE_STATE | HA_GS_SUBSCRIBE_MEMBERSHIP;
    info.gs_subscribe_request.gs_subscription_group = group;
    info.gs_subscribe_request.gs_subscription_callback = onSubscription;
    return ha_gs_subscribe(token, &info);
}

ha_gs_rc_t changeState(ha_gs_token_t token, const char *value)
{
    ha_gs_state_value_t sv{static_cast<unsigned>(std::strlen(value)), const_cast<char *>(value)};
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    info.gs_state_change_request.gs_num_phases = HA_GS_1_PHASE;
    info.gs_state_change_request.gs_new_state = &sv;
    return ha_gs_change_state_value(token, &info);
}

gs::NoteBody approvedState(const char *value, uint32_t phase = 1)
{
    gs::ApprovedNote n;
    n.protocol = HA_GS_STATE_VALUE_CHANGE;
    n.summary = HA_GS_EXPLICIT_APPROVE;
    n.proposal.phaseNumber = phase;
    n.proposal.proposedState = value;
    n.proposal.currentProviders = {{1, 7}};
    return n;
}

gs::NoteBody subscriptionState(const char *value)
{
    gs::SubscriptionNote n;
    n.type = HA_GS_SUBSCRIPTION_STATE;
    n.state = value;
    return n;
}

template <class T>
size_t countOf(const std::vector<gs::wire::ClientMessage> &messages)
{
    size_t n = 0;
    for (const auto &m : messages)
        if (std::holds_alternative<T>(m))
            ++n;
    return n;
}

template <class R>
size_t countRequests(const std::vector<gs::wire::ClientMessage> &messages)
{
    size_t n = 0;
    for (const auto &m : messages)
        if (const auto *req = std::get_if<gs::wire::Req>(&m))
            if (std::holds_alternative<R>(req->request))
                ++n;
    return n;
}

} // namespace

namespace doctest {
/* Show event lists in failure messages. */
template <>
struct StringMaker<std::vector<std::string>> {
    static String convert(const std::vector<std::string> &v)
    {
        std::string out = "{";
        for (const auto &s : v)
            out += "\"" + s + "\" ";
        return (out + "}").c_str();
    }
};
} // namespace doctest

TEST_CASE("init: Welcome's rc is the result; EXISTS while alive; Quit reaches gsd")
{
    takeEvents();
    {
        FakeGsd refusing(HA_GS_NOT_AUTHORIZED);
        Session s(refusing);
        CHECK(s.rc == HA_GS_NOT_AUTHORIZED);
        ha_gs_node_number_t node = 0;
        CHECK(ha_gs_get_node_number(&node) == HA_GS_NO_INIT);
    }
    FakeGsd fake;
    Env domain("HA_DOMAIN_NAME", "dom");
    ha_gs_responsiveness_t resp;
    std::memset(&resp, 0, sizeof resp);
    resp.gs_responsiveness_type = HA_GS_PING_RESPONSIVENESS;
    resp.gs_responsiveness_interval = 4;
    resp.gs_responsiveness_response_time_limit = 3;
    auto ok = [](const ha_gs_responsiveness_notification_t *) { return HA_GS_CALLBACK_OK; };
    {
        Session s(fake, &resp, ok);
        REQUIRE(s.rc == HA_GS_OK);
        CHECK(s.fd >= 0);
        ha_gs_node_number_t node = 0;
        CHECK(ha_gs_get_node_number(&node) == HA_GS_OK);
        CHECK(node == 7);
        ha_gs_descriptor_t fd2 = -1;
        CHECK(ha_gs_init(&fd2, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr,
                         nullptr) == HA_GS_EXISTS);
        CHECK(fd2 == -1);
        const auto received = fake.received();
        REQUIRE(countOf<gs::wire::Hello>(received) == 1);
        const auto &hello = std::get<gs::wire::Hello>(received.front());
        CHECK(hello.domain == std::optional<std::string>("dom"));
        CHECK(hello.responsivenessType == HA_GS_PING_RESPONSIVENESS);
        CHECK(hello.responsivenessInterval == 4);
        CHECK(hello.responsivenessTimeLimit == 3);
    }
    CHECK(fake.waitUntil([](const auto &m) { return countOf<gs::wire::Quit>(m) == 1; }));
    /* After ha_gs_quit, ha_gs_init works again. */
    Session again(fake);
    CHECK(again.rc == HA_GS_OK);
    CHECK(fake.helloCount() == 2);
}

TEST_CASE("notifications: routed by token, delivered only in dispatch, descriptor level-triggered")
{
    takeEvents();
    FakeGsd fake;
    Session s(fake);
    REQUIRE(s.rc == HA_GS_OK);
    CHECK_FALSE(readable(s.fd, 0));
    ha_gs_token_t token = 0;
    REQUIRE(join("grp", &token) == HA_GS_OK);
    CHECK(token == 100);

    fake.notify(token, false, approvedState("a"));
    REQUIRE(readable(s.fd, kWaitMs));
    CHECK(eventCount() == 0);
    /* Level-triggered: stays readable until dispatched, even after the
     * library read the socket. */
    ha_gs_node_number_t node = 0;
    CHECK(ha_gs_get_node_number(&node) == HA_GS_OK);
    CHECK(readable(s.fd, 0));
    CHECK(ha_gs_dispatch(HA_GS_NON_BLOCKING) == HA_GS_OK);
    CHECK(takeEvents() ==
          std::vector<std::string>{"approved token=100 protocol=6 phase=1 state=a"});
    CHECK_FALSE(readable(s.fd, 0));

    /* Notifications that arrive while a request waits for its reply are
     * queued, and the descriptor says so at once. */
    fake.notifyBeforeNextReply(token, false, approvedState("b"));
    fake.notifyBeforeNextReply(999, false, approvedState("unknown token"));
    fake.notifyBeforeNextReply(token, false, approvedState("c"));
    CHECK(changeState(token, "x") == HA_GS_OK);
    CHECK(readable(s.fd, 0));
    CHECK(ha_gs_dispatch(HA_GS_NON_BLOCKING) == HA_GS_OK);
    CHECK(takeEvents() ==
          std::vector<std::string>{"approved token=100 protocol=6 phase=1 state=b",
                                   "approved token=100 protocol=6 phase=1 state=c"});
    CHECK_FALSE(readable(s.fd, 0));

    /* A final notification ends the token: later ones are dropped. */
    gs::ApprovedNote leave;
    leave.protocol = HA_GS_LEAVE;
    leave.proposal.changingProviders = {{1, 7}};
    fake.notify(token, true, leave);
    fake.notify(token, false, approvedState("after final"));
    ha_gs_token_t sub = 0;
    REQUIRE(subscribe("other", &sub) == HA_GS_OK);
    fake.notify(sub, false, subscriptionState("marker"));
    CHECK(dispatchUntil(s.fd, 2) == HA_GS_OK);
    CHECK(takeEvents() == std::vector<std::string>{"approved token=100 protocol=2 phase=1 chg=1",
                                                   "sub token=101 type=1 state=marker"});
}

TEST_CASE("packed frames: every message of a frame is routed; a header ending its frame takes "
          "the next frame as its body")
{
    takeEvents();
    FakeGsd fake;
    Session s(fake);
    REQUIRE(s.rc == HA_GS_OK);
    ha_gs_token_t token = 0;
    REQUIRE(join("grp", &token) == HA_GS_OK);
    const auto header = [&](gs::Token t) {
        return gs::wire::encode(gs::wire::ServerMessage{gs::wire::NoteHeader{t, false}});
    };
    const auto body = [](const char *state) {
        return gs::wire::encodeNoteBody(approvedState(state));
    };

    /* Three notifications in one frame (one for a token the library does
     * not know: its body is skipped, not taken for a message), then a
     * header that ends its frame and its body as the next frame, then a
     * frame with one more. */
    fake.sendFrames({header(token) + body("a") + header(999) + body("unknown") + header(token) +
                         body("b") + header(token),
                     body("c"), header(token) + body("d")});
    CHECK(dispatchUntil(s.fd, 4) == HA_GS_OK);
    CHECK(takeEvents() ==
          std::vector<std::string>{"approved token=100 protocol=6 phase=1 state=a",
                                   "approved token=100 protocol=6 phase=1 state=b",
                                   "approved token=100 protocol=6 phase=1 state=c",
                                   "approved token=100 protocol=6 phase=1 state=d"});

    std::string garbage;
    SUBCASE("bytes that are no message after one")
    {
        garbage = header(token) + body("e") + "\xc1";
    }
    SUBCASE("a body cut short")
    {
        garbage = header(token) + body("e").substr(0, 5);
    }
    SUBCASE("a header as the last frame of the message")
    {
        garbage = header(token);
    }
    SUBCASE("a message where a body belongs")
    {
        garbage = header(token) + gs::wire::encode(gs::wire::ServerMessage{gs::wire::Ping{1}});
    }
    CAPTURE(garbage.size());
    fake.sendFrames({garbage});
    CHECK(dispatchUntil(s.fd, 1) == HA_GS_NOT_OK);
    const auto events = takeEvents();
    /* What came before the bad bytes of the frame may be delivered; the
     * session is lost either way. */
    for (const std::string &event : events)
        CHECK(event == "approved token=100 protocol=6 phase=1 state=e");
    CHECK(ha_gs_dispatch(HA_GS_NON_BLOCKING) == HA_GS_NOT_OK);
    CHECK(changeState(token, "v") == HA_GS_NOT_OK);
}

TEST_CASE("requests: the reply's rc is returned; unsubscribe and goodbye forget at once")
{
    takeEvents();
    FakeGsd fake;
    Session s(fake);
    REQUIRE(s.rc == HA_GS_OK);
    ha_gs_token_t sub = 0;
    REQUIRE(subscribe("g", &sub) == HA_GS_OK);
    ha_gs_token_t provider = 0;
    REQUIRE(join("h", &provider) == HA_GS_OK);

    fake.setHandler([](const gs::wire::Req &req) -> std::optional<gs::wire::ReplyMsg> {
        if (std::holds_alternative<gs::StateChangeRequest>(req.request))
            return gs::wire::ReplyMsg{req.id, HA_GS_COLLIDE, 0};
        return gs::wire::ReplyMsg{req.id, HA_GS_OK, 0};
    });
    CHECK(changeState(provider, "v") == HA_GS_COLLIDE);

    /* Already queued when the unsubscribe is accepted: never delivered. */
    fake.notifyBeforeNextReply(sub, false, subscriptionState("stale"));
    CHECK(ha_gs_unsubscribe(sub) == HA_GS_OK);
    fake.notifyBeforeNextReply(provider, false, approvedState("stale"));
    CHECK(ha_gs_goodbye(provider) == HA_GS_OK);
    CHECK(ha_gs_dispatch(HA_GS_NON_BLOCKING) == HA_GS_OK);
    CHECK(takeEvents().empty());
    CHECK_FALSE(readable(s.fd, 0));
    const auto received = fake.received();
    CHECK(countRequests<gs::UnsubscribeRequest>(received) == 1);
    CHECK(countRequests<gs::GoodbyeRequest>(received) == 1);
}

TEST_CASE("delayed error: rebuilt from the library's copy of the subscribe request")
{
    takeEvents();
    FakeGsd fake;
    Session s(fake);
    REQUIRE(s.rc == HA_GS_OK);
    char group[] = "missing";
    ha_gs_token_t sub = 0;
    REQUIRE(subscribe(group, &sub) == HA_GS_OK);
    std::memset(group, 'X', sizeof group - 1); /* the application reuses its buffer */
    fake.notify(sub, true, gs::DelayedErrorNote{HA_GS_SUBSCRIPTION, HA_GS_UNKNOWN_GROUP});
    fake.notify(sub, false, subscriptionState("after final"));
    ha_gs_token_t marker = 0;
    REQUIRE(subscribe("marker", &marker) == HA_GS_OK);
    fake.notify(marker, false, subscriptionState("m"));
    CHECK(dispatchUntil(s.fd, 2) == HA_GS_OK);
    CHECK(takeEvents() ==
          std::vector<std::string>{"delayed token=100 protocol=11 rc=10 group=missing control=9",
                                   "sub token=101 type=1 state=m"});
}

TEST_CASE("Bye: every subscription hears GS_HAS_DIED once, then everything is NOT_OK")
{
    takeEvents();
    {
        FakeGsd fake;
        Session s(fake);
        REQUIRE(s.rc == HA_GS_OK);
        ha_gs_token_t provider = 0, sub1 = 0, sub2 = 0;
        REQUIRE(join("p", &provider) == HA_GS_OK);
        REQUIRE(subscribe("a", &sub1) == HA_GS_OK);
        REQUIRE(subscribe("b", &sub2) == HA_GS_OK);
        fake.bye();
        REQUIRE(readable(s.fd, kWaitMs));
        CHECK(ha_gs_dispatch(HA_GS_NON_BLOCKING) == HA_GS_NOT_OK);
        auto seen = takeEvents();
        std::sort(seen.begin(), seen.end());
        CHECK(seen == std::vector<std::string>{"sub token=101 type=64", "sub token=102 type=64"});
        /* Still readable: a poll loop must not sleep on a dead session. */
        CHECK(readable(s.fd, 0));
        CHECK(ha_gs_dispatch(HA_GS_NON_BLOCKING) == HA_GS_NOT_OK);
        CHECK(ha_gs_dispatch(HA_GS_BLOCKING) == HA_GS_NOT_OK);
        CHECK(changeState(provider, "v") == HA_GS_NOT_OK);
        ha_gs_node_number_t node = 0;
        CHECK(ha_gs_get_node_number(&node) == HA_GS_NOT_OK);
        CHECK(takeEvents().empty());
    }
    /* The dead session does not block a new one. */
    FakeGsd fresh;
    Env env("HA_GS_SOCKET", fresh.endpoint());
    ha_gs_descriptor_t fd = -1;
    CHECK(ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr, nullptr) ==
          HA_GS_OK);
    ha_gs_quit();
}

TEST_CASE("lost connection: a blocking dispatch delivers GS_HAS_DIED and returns NOT_OK")
{
    takeEvents();
    FakeGsd fake;
    Session s(fake);
    REQUIRE(s.rc == HA_GS_OK);
    ha_gs_token_t sub = 0;
    REQUIRE(subscribe("g", &sub) == HA_GS_OK);
    fake.notify(sub, false, subscriptionState("before"));
    /* Delivered before the drop: the fake closes with linger 0. */
    CHECK(dispatchUntil(s.fd, 1) == HA_GS_OK);
    fake.drop();
    CHECK(ha_gs_dispatch(HA_GS_BLOCKING) == HA_GS_NOT_OK);
    CHECK(takeEvents() ==
          std::vector<std::string>{"sub token=100 type=1 state=before", "sub token=100 type=64"});
    CHECK(ha_gs_dispatch(HA_GS_NON_BLOCKING) == HA_GS_NOT_OK);
}

TEST_CASE("responsiveness: a ping runs the callback in dispatch; OK answers with Pong")
{
    takeEvents();
    FakeGsd fake;
    ha_gs_responsiveness_t resp;
    std::memset(&resp, 0, sizeof resp);
    resp.gs_responsiveness_type = HA_GS_PING_RESPONSIVENESS;
    resp.gs_responsiveness_interval = 2;
    resp.gs_responsiveness_response_time_limit = 1;
    static std::atomic<bool> answer{true};
    auto cb = [](const ha_gs_responsiveness_notification_t *n) {
        record("ping interval=" +
               std::to_string(n->gs_responsiveness_information.gs_responsiveness_interval));
        return answer.load() ? HA_GS_CALLBACK_OK : HA_GS_CALLBACK_NOT_OK;
    };
    Session s(fake, &resp, cb);
    REQUIRE(s.rc == HA_GS_OK);
    auto pongs = [](const std::vector<gs::wire::ClientMessage> &m) {
        std::vector<uint64_t> seqs;
        for (const auto &x : m)
            if (const auto *p = std::get_if<gs::wire::Pong>(&x))
                seqs.push_back(p->seq);
        return seqs;
    };
    fake.ping(5);
    CHECK(dispatchUntil(s.fd, 1) == HA_GS_OK);
    CHECK(fake.waitUntil([&](const auto &m) { return pongs(m) == std::vector<uint64_t>{5}; }));
    answer = false;
    fake.ping(6);
    CHECK(dispatchUntil(s.fd, 2) == HA_GS_OK);
    answer = true;
    fake.ping(7);
    CHECK(dispatchUntil(s.fd, 3) == HA_GS_OK);
    CHECK(fake.waitUntil([&](const auto &m) { return pongs(m).size() >= 2; }));
    CHECK(pongs(fake.received()) == std::vector<uint64_t>{5, 7});
    CHECK(takeEvents() ==
          std::vector<std::string>{"ping interval=2", "ping interval=2", "ping interval=2"});
}

TEST_CASE("callbacks may make requests: ha_gs_vote inside the n-phase callback")
{
    takeEvents();
    FakeGsd fake;
    Session s(fake);
    REQUIRE(s.rc == HA_GS_OK);
    ha_gs_token_t token = 0;
    REQUIRE(join("v", &token) == HA_GS_OK);
    gs::NPhaseNote n;
    n.protocol = HA_GS_STATE_VALUE_CHANGE;
    n.proposal.numPhases = HA_GS_N_PHASE;
    n.proposal.phaseNumber = 1;
    fake.notify(token, false, n);
    CHECK(dispatchUntil(s.fd, 1) == HA_GS_OK);
    CHECK(takeEvents() == std::vector<std::string>{"nphase token=100 phase=1 vote=0"});
    CHECK(countRequests<gs::VoteRequest>(fake.received()) == 1);
}

/* ThreadSanitizer does not support a child of a multi-threaded process
 * that starts threads (libzmq's, here): it loses track of thread ids and
 * fails the child. The other builds run this case. */
#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderTsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kUnderTsan = true;
#else
constexpr bool kUnderTsan = false;
#endif
#else
constexpr bool kUnderTsan = false;
#endif

TEST_CASE("fork: the child starts without a session and may open its own" *
          doctest::skip(kUnderTsan))
{
    takeEvents();
    FakeGsd fake;
    Session s(fake);
    REQUIRE(s.rc == HA_GS_OK);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ha_gs_node_number_t node = 0;
        int status = 0;
        if (ha_gs_get_node_number(&node) != HA_GS_NO_INIT)
            status |= 1;
        ha_gs_descriptor_t fd = -1;
        if (ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr, nullptr) !=
            HA_GS_OK)
            status |= 2;
        if (ha_gs_get_node_number(&node) != HA_GS_OK || node != 7)
            status |= 4;
        ha_gs_quit();
        _exit(status);
    }
    int status = -1;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(fake.helloCount() == 2);
    /* The parent's session is untouched. */
    ha_gs_token_t token = 0;
    CHECK(join("parent", &token) == HA_GS_OK);
    ha_gs_node_number_t node = 0;
    CHECK(ha_gs_get_node_number(&node) == HA_GS_OK);
}

TEST_CASE("a request without a reply ends the session after HA_GS_REQUEST_TIMEOUT_MS")
{
    takeEvents();
    FakeGsd fake;
    Session s(fake);
    REQUIRE(s.rc == HA_GS_OK);
    ha_gs_token_t sub = 0, provider = 0;
    REQUIRE(subscribe("g", &sub) == HA_GS_OK);
    REQUIRE(join("h", &provider) == HA_GS_OK);
    fake.setHandler(
        [](const gs::wire::Req &) -> std::optional<gs::wire::ReplyMsg> { return std::nullopt; });
    const auto start = Clock::now();
    CHECK(changeState(provider, "v") == HA_GS_NOT_OK);
    const auto took = Clock::now() - start;
    CHECK(took >= std::chrono::milliseconds(HA_GS_REQUEST_TIMEOUT_MS));
    CHECK(took < std::chrono::milliseconds(3 * HA_GS_REQUEST_TIMEOUT_MS));
    CHECK(readable(s.fd, 0));
    CHECK(ha_gs_dispatch(HA_GS_NON_BLOCKING) == HA_GS_NOT_OK);
    CHECK(takeEvents() == std::vector<std::string>{"sub token=100 type=64"});
    CHECK(changeState(provider, "w") == HA_GS_NOT_OK);
}

/* A value ha_gs.h does not define in an enum or flag field is a malformed
 * message (libha_gs/wire_ranges.hpp): the session is lost, and the value
 * never reaches a callback. */
TEST_CASE("out-of-range values in a notification: the session is lost, nothing is delivered")
{
    takeEvents();
    FakeGsd fake;
    Session s(fake);
    REQUIRE(s.rc == HA_GS_OK);
    ha_gs_token_t sub = 0, provider = 0;
    REQUIRE(subscribe("g", &sub) == HA_GS_OK);
    REQUIRE(join("h", &provider) == HA_GS_OK);

    gs::Token target = provider;
    gs::NoteBody bad;
    SUBCASE("protocol type")
    {
        gs::ApprovedNote n = std::get<gs::ApprovedNote>(approvedState("bad"));
        n.protocol = HA_GS_SUBSCRIPTION + 1;
        bad = n;
    }
    SUBCASE("negative protocol type")
    {
        gs::ApprovedNote n = std::get<gs::ApprovedNote>(approvedState("bad"));
        n.protocol = -1;
        bad = n;
    }
    SUBCASE("summary code bit")
    {
        gs::ApprovedNote n = std::get<gs::ApprovedNote>(approvedState("bad"));
        n.summary = HA_GS_GROUP_DISSOLVED << 1;
        bad = n;
    }
    SUBCASE("number of phases")
    {
        gs::NPhaseNote n;
        n.protocol = HA_GS_STATE_VALUE_CHANGE;
        n.proposal.numPhases = HA_GS_N_PHASE + 1;
        bad = n;
    }
    SUBCASE("leave reason")
    {
        gs::ApprovedNote n;
        n.protocol = HA_GS_LEAVE;
        n.proposal.changingProviders = {{2, 7}};
        n.proposal.leaveInfo = {{0, HA_GS_PROVIDER_CAST_OUT + 1}};
        bad = n;
    }
    SUBCASE("attributes")
    {
        gs::RejectedNote n;
        n.protocol = HA_GS_GROUP_ATTRIBUTE_CHANGE;
        n.proposal.proposedAttributes = gs::GroupAttributes{};
        n.proposal.proposedAttributes->batchControl = HA_GS_BATCH_BOTH + 1;
        bad = n;
    }
    SUBCASE("subscription type bit")
    {
        target = sub;
        gs::SubscriptionNote n = std::get<gs::SubscriptionNote>(subscriptionState("bad"));
        n.type = HA_GS_SUBSCRIPTION_GS_HAS_DIED << 1;
        bad = n;
    }
    SUBCASE("delayed error return code")
    {
        target = sub;
        bad = gs::DelayedErrorNote{HA_GS_SUBSCRIPTION, HA_GS_NOT_AUTHORIZED + 1};
    }
    CAPTURE(target);
    /* Before the bad one: delivered. After it: never read. */
    fake.notify(provider, false, approvedState("before"));
    fake.notify(target, false, bad);
    fake.notify(provider, false, approvedState("after"));
    CHECK(dispatchUntil(s.fd, 2) == HA_GS_NOT_OK);
    CHECK(takeEvents() ==
          std::vector<std::string>{"approved token=101 protocol=6 phase=1 state=before",
                                   "sub token=100 type=64"});
    CHECK(readable(s.fd, 0));
    CHECK(ha_gs_dispatch(HA_GS_NON_BLOCKING) == HA_GS_NOT_OK);
    CHECK(changeState(provider, "v") == HA_GS_NOT_OK);
    CHECK(takeEvents().empty());
}

TEST_CASE("an out-of-range return code in a reply: the request fails with NOT_OK, session lost")
{
    takeEvents();
    FakeGsd fake;
    Session s(fake);
    REQUIRE(s.rc == HA_GS_OK);
    ha_gs_token_t sub = 0, provider = 0;
    REQUIRE(subscribe("g", &sub) == HA_GS_OK);
    REQUIRE(join("h", &provider) == HA_GS_OK);
    int rc = 0;
    SUBCASE("first past HA_GS_NOT_AUTHORIZED")
    {
        rc = HA_GS_NOT_AUTHORIZED + 1;
    }
    SUBCASE("negative")
    {
        rc = -1;
    }
    CAPTURE(rc);
    fake.setHandler([rc](const gs::wire::Req &req) -> std::optional<gs::wire::ReplyMsg> {
        return gs::wire::ReplyMsg{req.id, rc, 0};
    });
    CHECK(changeState(provider, "v") == HA_GS_NOT_OK);
    CHECK(readable(s.fd, 0));
    CHECK(ha_gs_dispatch(HA_GS_NON_BLOCKING) == HA_GS_NOT_OK);
    CHECK(takeEvents() == std::vector<std::string>{"sub token=100 type=64"});
    CHECK(changeState(provider, "w") == HA_GS_NOT_OK);
}

TEST_CASE("an out-of-range return code in Welcome: ha_gs_init fails with CONNECT_FAILED")
{
    int rc = 0;
    SUBCASE("first past HA_GS_NOT_AUTHORIZED")
    {
        rc = HA_GS_NOT_AUTHORIZED + 1;
    }
    SUBCASE("negative")
    {
        rc = -1;
    }
    CAPTURE(rc);
    {
        FakeGsd odd(rc);
        Session s(odd);
        CHECK(s.rc == HA_GS_CONNECT_FAILED);
        ha_gs_node_number_t node = 0;
        CHECK(ha_gs_get_node_number(&node) == HA_GS_NO_INIT);
    }
    FakeGsd fine;
    Session s(fine);
    CHECK(s.rc == HA_GS_OK);
}

#if HA_GS_TEST_THREAD_SAFE

namespace {

/* Counts down to zero; waits with a generous limit so a bug fails instead of
 * hanging. */
struct Latch {
    std::mutex m;
    std::condition_variable cv;
    int count;
    explicit Latch(int n) : count(n) {}
    bool arriveAndWait()
    {
        std::unique_lock<std::mutex> lock(m);
        if (--count <= 0)
            cv.notify_all();
        return cv.wait_for(lock, std::chrono::milliseconds(kWaitMs), [&] { return count <= 0; });
    }
};

Latch *concurrency = nullptr;
std::atomic<int> latchTimeouts{0};

void onConcurrentSubscription(const ha_gs_subscription_notification_t *n)
{
    if (!concurrency->arriveAndWait())
        ++latchTimeouts;
    record("sub token=" + std::to_string(n->gs_subscriber_token));
}

ha_gs_rc_t subscribeConcurrent(const char *group, ha_gs_token_t *token)
{
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    info.gs_subscribe_request.gs_subscription_control = HA_GS_SUBSCRIBE_STATE;
    info.gs_subscribe_request.gs_subscription_group = group;
    info.gs_subscribe_request.gs_subscription_callback = onConcurrentSubscription;
    return ha_gs_subscribe(token, &info);
}

std::atomic<int> inGroupCallback{0};
std::atomic<int> overlaps{0};
std::atomic<uint32_t> lastPhase{0};
std::atomic<int> outOfOrder{0};
std::atomic<int> badVotes{0};

void onOrderedApproved(const ha_gs_approved_notification_t *n)
{
    if (inGroupCallback.fetch_add(1) != 0)
        ++overlaps;
    const uint32_t phase = n->gs_proposal->gs_phase_info.gs_phase_number;
    if (phase != lastPhase.load() + 1)
        ++outOfOrder;
    lastPhase = phase;
    /* A request from a callback while other threads lead or follow. */
    if (phase % 10 == 0 && changeState(n->gs_provider_token, "x") != HA_GS_OK)
        ++badVotes;
    std::this_thread::yield();
    inGroupCallback.fetch_sub(1);
    record("ordered");
}

} // namespace

TEST_CASE("libha_gs_r: groups run concurrently; ha_gs_quit releases blocked dispatchers")
{
    takeEvents();
    FakeGsd fake;
    Session s(fake);
    REQUIRE(s.rc == HA_GS_OK);
    constexpr int kThreads = 3;
    std::vector<ha_gs_token_t> tokens(kThreads);
    const char *groups[kThreads] = {"c0", "c1", "c2"};
    for (int i = 0; i < kThreads; ++i)
        REQUIRE(subscribeConcurrent(groups[i], &tokens[i]) == HA_GS_OK);
    Latch latch(kThreads);
    concurrency = &latch;
    std::vector<ha_gs_rc_t> results(kThreads, HA_GS_OK);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
        threads.emplace_back([&results, i] { results[i] = ha_gs_dispatch(HA_GS_BLOCKING); });
    /* Each callback waits until all three run: three groups, three threads,
     * at the same time. */
    for (int i = 0; i < kThreads; ++i)
        fake.notify(tokens[i], false, subscriptionState("s"));
    const auto deadline = Clock::now() + std::chrono::milliseconds(kWaitMs);
    while (eventCount() < kThreads && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(eventCount() == kThreads);
    CHECK(latchTimeouts == 0);
    /* The callbacks have returned, so every thread is inside
     * ha_gs_dispatch(HA_GS_BLOCKING) now. */
    ha_gs_quit();
    for (auto &t : threads)
        t.join();
    for (ha_gs_rc_t rc : results)
        CHECK(rc == HA_GS_NOT_OK);
    concurrency = nullptr;
}

TEST_CASE("libha_gs_r: one group is delivered in order, by one thread at a time")
{
    takeEvents();
    FakeGsd fake;
    Session s(fake);
    REQUIRE(s.rc == HA_GS_OK);
    ha_gs_group_attributes_t attrs;
    std::memset(&attrs, 0, sizeof attrs);
    attrs.gs_version = 1;
    attrs.gs_sizeof_group_attributes = sizeof attrs;
    attrs.gs_group_name = "ordered";
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    info.gs_join_request.gs_group_attributes = &attrs;
    info.gs_join_request.gs_n_phase_protocol_callback = onNPhase;
    info.gs_join_request.gs_protocol_approved_callback = onOrderedApproved;
    info.gs_join_request.gs_protocol_rejected_callback = onRejected;
    ha_gs_token_t token = 0;
    REQUIRE(ha_gs_join(&token, &info) == HA_GS_OK);

    constexpr int kThreads = 4;
    constexpr uint32_t kNotes = 300;
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
        threads.emplace_back([] { (void)ha_gs_dispatch(HA_GS_BLOCKING); });
    for (uint32_t phase = 1; phase <= kNotes; ++phase)
        fake.notify(token, false, approvedState("v", phase));
    const auto deadline = Clock::now() + std::chrono::milliseconds(3 * kWaitMs);
    while (eventCount() < kNotes && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ha_gs_quit();
    for (auto &t : threads)
        t.join();
    CHECK(eventCount() == kNotes);
    CHECK(overlaps == 0);
    CHECK(outOfOrder == 0);
    CHECK(badVotes == 0);
    CHECK(lastPhase == kNotes);
}

TEST_CASE("libha_gs_r: requests of several threads while another waits in a blocking dispatch")
{
    takeEvents();
    FakeGsd fake;
    Session s(fake);
    REQUIRE(s.rc == HA_GS_OK);
    ha_gs_token_t watched = 0;
    REQUIRE(subscribe("watched", &watched) == HA_GS_OK);
    /* The dispatcher polls the connection (the transport's leader) with no
     * deadline; the requesting threads' replies must reach them anyway. */
    ha_gs_rc_t dispatched = HA_GS_OK;
    std::thread dispatcher([&] { dispatched = ha_gs_dispatch(HA_GS_BLOCKING); });
    constexpr int kThreads = 4, kRequests = 40;
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            const std::string group = "req" + std::to_string(t);
            for (int i = 0; i < kRequests; ++i) {
                ha_gs_token_t token = 0;
                if (subscribe(group.c_str(), &token) != HA_GS_OK || token == 0)
                    ++failed;
            }
        });
    for (int i = 0; i < 50; ++i)
        fake.notify(watched, false, subscriptionState(std::to_string(i).c_str()));
    for (auto &t : threads)
        t.join();
    CHECK(failed.load() == 0);
    const auto deadline = Clock::now() + std::chrono::milliseconds(kWaitMs);
    while (eventCount() < 50 && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::vector<std::string> seen = takeEvents();
    REQUIRE(seen.size() == 50);
    for (int i = 0; i < 50; ++i)
        CHECK(seen[i] ==
              "sub token=" + std::to_string(watched) + " type=1 state=" + std::to_string(i));
    ha_gs_quit();
    dispatcher.join();
    CHECK(dispatched == HA_GS_NOT_OK);
}

TEST_CASE("libha_gs_r: an edge-triggered epoll on the descriptor hears notifications another "
          "thread's request read")
{
    takeEvents();
    FakeGsd fake;
    Session s(fake);
    REQUIRE(s.rc == HA_GS_OK);
    ha_gs_token_t token = 0;
    REQUIRE(join("edge", &token) == HA_GS_OK);
    const int epoll = epoll_create1(EPOLL_CLOEXEC);
    REQUIRE(epoll >= 0);
    epoll_event event{};
    event.events = EPOLLIN | EPOLLET;
    REQUIRE(epoll_ctl(epoll, EPOLL_CTL_ADD, s.fd, &event) == 0);
    constexpr int kRounds = 20;
    int heard = 0;
    for (int i = 0; i < kRounds; ++i) {
        /* The notification arrives with the reply of a request that another
         * thread makes: that thread reads it, not this one. */
        fake.notifyBeforeNextReply(token, false, approvedState(std::to_string(i).c_str()));
        ha_gs_rc_t rc = HA_GS_NOT_OK;
        std::thread requesting([&] { rc = changeState(token, "x"); });
        requesting.join();
        CHECK(rc == HA_GS_OK);
        epoll_event got{};
        if (epoll_wait(epoll, &got, 1, kWaitMs) == 1)
            ++heard;
        /* Edge-triggered: everything must be dispatched now. */
        CHECK(ha_gs_dispatch(HA_GS_NON_BLOCKING) == HA_GS_OK);
    }
    ::close(epoll);
    CHECK(heard == kRounds);
    CHECK(takeEvents().size() == kRounds);
}

#endif
