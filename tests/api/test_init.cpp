/* SPDX-License-Identifier: MIT */
/*
 * ha_gs_init, ha_gs_quit, the descriptor, ha_gs_get_node_number,
 * ha_gs_get_adapter_info and ha_gs_strerror.
 */
#include "harness.hpp"

#include <atomic>
#include <chrono>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <memory>
#include <poll.h>
#include <set>
#include <stdexcept>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace api;

namespace {

int approvedCount = 0;
void countApproved(const ha_gs_approved_notification_t *)
{
    ++approvedCount;
}

bool readable(int fd, int timeoutMs)
{
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, timeoutMs) == 1 && (p.revents & POLLIN);
}

/* ha_gs_quit at the end of the scope, whatever happened. */
struct Quitter {
    ~Quitter() { ha_gs_quit(); }
};

ha_gs_rc_t plainInit(ha_gs_descriptor_t *fd)
{
    return ha_gs_init(fd, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr, nullptr);
}

ha_gs_rc_t joinCounting(ha_gs_token_t *token, const char *group)
{
    static ha_gs_group_attributes_t attrs;
    attrs = defaultAttributes(group);
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    info.gs_join_request.gs_group_attributes = &attrs;
    info.gs_join_request.gs_provider_instance = 1;
    info.gs_join_request.gs_n_phase_protocol_callback = ignoreNPhase;
    info.gs_join_request.gs_protocol_approved_callback = countApproved;
    info.gs_join_request.gs_protocol_rejected_callback = ignoreRejected;
    return ha_gs_join(token, &info);
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

/* Set in a child before its ha_gs_init: the next zmq_send (the Hello)
 * waits this long first, so that gsd's refusal at the handshake has ended
 * the connection before the Hello is queued (a race otherwise won only
 * under load). */
std::atomic<int> delayNextSendMs{0};

/* Runs in a child before the agent: become "nobody" with these groups. */
void becomeNobody(gid_t primary, std::vector<gid_t> supplementary)
{
    if (setgroups(supplementary.size(), supplementary.data()) != 0)
        throw std::runtime_error(std::string("setgroups: ") + std::strerror(errno));
    if (setgid(primary) != 0)
        throw std::runtime_error(std::string("setgid: ") + std::strerror(errno));
    if (setuid(65534) != 0)
        throw std::runtime_error(std::string("setuid: ") + std::strerror(errno));
}

} // namespace

/* libha_gs sends through libzmq's zmq_send, which this program interposes
 * (fault injection, see delayNextSendMs). */
extern "C" int zmq_send(void *socket, const void *buffer, size_t length, int flags);
extern "C" int zmq_send(void *socket, const void *buffer, size_t length, int flags)
{
    using Send = int (*)(void *, const void *, size_t, int);
    using GetOption = int (*)(void *, int, void *, size_t *);
    static const auto real = reinterpret_cast<Send>(dlsym(RTLD_NEXT, "zmq_send"));
    static const auto getOption = reinterpret_cast<GetOption>(dlsym(RTLD_NEXT, "zmq_getsockopt"));
    if (const int ms = delayNextSendMs.exchange(0); ms > 0) {
        /* libzmq ends a refused connection's pipe in two rounds through the
         * socket's owner (term_req, then pipe_term): a socket operation
         * between the two waits (ZMQ_EVENTS, 15, processes commands) lets
         * the first round happen, as a slow caller's would. */
        std::this_thread::sleep_for(std::chrono::milliseconds(ms / 2));
        int events = 0;
        size_t size = sizeof events;
        (void)getOption(socket, 15, &events, &size);
        std::this_thread::sleep_for(std::chrono::milliseconds(ms / 2));
    }
    return real(socket, buffer, length, flags);
}

TEST_CASE("init: the descriptor is pollable and level-triggered")
{
    PrivateGsd gsd;
    ScopedEnv env("HA_GS_SOCKET", gsd.endpoint());
    Quitter quitter;
    approvedCount = 0;

    ha_gs_descriptor_t fd = -1;
    REQUIRE_GS_OK(plainInit(&fd));
    REQUIRE(fd >= 0);
    /* Nothing pending: a non-blocking dispatch returns at once. */
    CHECK_GS_OK(ha_gs_dispatch(HA_GS_NON_BLOCKING));
    CHECK_FALSE(readable(fd, 0));

    ha_gs_token_t token = 0;
    REQUIRE_GS_OK(joinCounting(&token, "level"));
    REQUIRE(readable(fd, kWaitMs));
    /* Level-triggered: still readable, twice, while the approval is pending. */
    CHECK(readable(fd, 0));
    CHECK(readable(fd, 50));
    CHECK(approvedCount == 0); /* callbacks run only inside ha_gs_dispatch */
    CHECK_GS_OK(ha_gs_dispatch(HA_GS_NON_BLOCKING));
    CHECK(approvedCount == 1);
    CHECK_FALSE(readable(fd, 0));

    /* Notifications read off the socket while a later request waits for its
     * reply must still make the descriptor readable. */
    CHECK_GS_OK(changeState(token, "a"));
    CHECK_GS_OK(changeState(token, "b"));
    ha_gs_node_number_t node = 0;
    CHECK_GS_OK(ha_gs_get_node_number(&node));
    REQUIRE(readable(fd, kWaitMs));
    const int64_t deadline = monotonicNs() + int64_t{kWaitMs} * 1000000;
    while (approvedCount < 3 && monotonicNs() < deadline) {
        if (readable(fd, 100))
            CHECK_GS_OK(ha_gs_dispatch(HA_GS_NON_BLOCKING));
    }
    CHECK(approvedCount == 3);
    CHECK_FALSE(readable(fd, 0));
}

TEST_CASE("init: twice gives HA_GS_EXISTS; after ha_gs_quit calls give NO_INIT and init works "
          "again")
{
    PrivateGsd gsd;
    ScopedEnv env("HA_GS_SOCKET", gsd.endpoint());
    Quitter quitter;

    ha_gs_descriptor_t fd = -1, fd2 = -1;
    REQUIRE_GS_OK(plainInit(&fd));
    CHECK_GS_RC(HA_GS_EXISTS, plainInit(&fd2));
    ha_gs_node_number_t node = 0;
    CHECK_GS_OK(ha_gs_get_node_number(&node)); /* the first session is intact */

    ha_gs_quit();
    ha_gs_quit(); /* does nothing when not initialized */
    ha_gs_token_t token = 0;
    CHECK_GS_RC(HA_GS_NO_INIT, joinCounting(&token, "afterquit"));
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_get_node_number(&node));
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_dispatch(HA_GS_NON_BLOCKING));

    REQUIRE_GS_OK(plainInit(&fd));
    CHECK(fd >= 0);
    CHECK_GS_OK(ha_gs_get_node_number(&node));
    approvedCount = 0;
    REQUIRE_GS_OK(joinCounting(&token, "again"));
    const int64_t deadline = monotonicNs() + int64_t{kWaitMs} * 1000000;
    while (approvedCount == 0 && monotonicNs() < deadline) {
        if (readable(fd, 100))
            CHECK_GS_OK(ha_gs_dispatch(HA_GS_NON_BLOCKING));
    }
    CHECK(approvedCount == 1);
}

TEST_CASE("init: notifications of a session that quit never reach the next session")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd);
    const Reply join = c.call("join g 1");
    REQUIRE(join.rc == "HA_GS_OK");
    REQUIRE(c.rc("state g a") == "HA_GS_OK"); /* approvals pending, not dispatched */
    REQUIRE(c.rc("state g b") == "HA_GS_OK");
    REQUIRE(c.rc("quit") == "HA_GS_OK");
    c.clearPending();
    REQUIRE(c.rc("init") == "HA_GS_OK");
    CHECK(c.rc("state #" + std::to_string(join.token()) + " c") == "HA_GS_BAD_MEMBER_TOKEN");
    REQUIRE(c.rc("join h 1") == "HA_GS_OK");
    CHECK(Match("h: approved JOIN", {"cur=[1.1]"})(c.next()));
    /* g lost its only provider when the first session quit. */
    REQUIRE(c.rc("subscribe g state") == "HA_GS_OK");
    CHECK(Match("g: delayed rc=HA_GS_UNKNOWN_GROUP")(c.next()));
}

TEST_CASE("init: every call before ha_gs_init returns HA_GS_NO_INIT")
{
    ha_gs_quit();
    ScopedEnv env("HA_GS_SOCKET", "ipc:///nonexistent/gsd.sock");
    ha_gs_token_t token = 0;
    ha_gs_group_attributes_t attrs = defaultAttributes("g");
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    info.gs_join_request.gs_group_attributes = &attrs;
    info.gs_join_request.gs_provider_instance = 1;
    info.gs_join_request.gs_n_phase_protocol_callback = ignoreNPhase;
    info.gs_join_request.gs_protocol_approved_callback = ignoreApproved;
    info.gs_join_request.gs_protocol_rejected_callback = ignoreRejected;
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_join(&token, &info));

    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_dispatch(HA_GS_NON_BLOCKING));
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_dispatch(HA_GS_BLOCKING));

    std::memset(&info, 0, sizeof info);
    info.gs_leave_request.gs_num_phases = HA_GS_1_PHASE;
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_leave(1, &info));
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_goodbye(1));

    ha_gs_provider_t who{1, 1};
    std::memset(&info, 0, sizeof info);
    info.gs_expel_request.gs_num_phases = HA_GS_1_PHASE;
    info.gs_expel_request.gs_expel_list.gs_count = 1;
    info.gs_expel_request.gs_expel_list.gs_providers = &who;
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_expel(1, &info));

    char value[] = "v";
    ha_gs_state_value_t sv{1, value};
    std::memset(&info, 0, sizeof info);
    info.gs_state_change_request.gs_num_phases = HA_GS_1_PHASE;
    info.gs_state_change_request.gs_new_state = &sv;
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_change_state_value(1, &info));

    ha_gs_provider_message_t mv{1, value};
    std::memset(&info, 0, sizeof info);
    info.gs_message_request.gs_num_phases = HA_GS_1_PHASE;
    info.gs_message_request.gs_message = &mv;
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_send_message(1, &info));

    std::memset(&info, 0, sizeof info);
    info.gs_attribute_change_request.gs_num_phases = HA_GS_1_PHASE;
    info.gs_attribute_change_request.gs_group_attributes = &attrs;
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_change_attributes(1, &info));

    CHECK_GS_RC(HA_GS_NO_INIT,
                ha_gs_vote(1, HA_GS_VOTE_APPROVE, nullptr, nullptr, HA_GS_NULL_VOTE));

    std::memset(&info, 0, sizeof info);
    info.gs_subscribe_request.gs_subscription_control = HA_GS_SUBSCRIBE_STATE;
    info.gs_subscribe_request.gs_subscription_group = "g";
    info.gs_subscribe_request.gs_subscription_callback = ignoreSubscription;
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_subscribe(&token, &info));
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_unsubscribe(1));

    ha_gs_node_number_t node = 0;
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_get_node_number(&node));
    ha_gs_adapter_info adapter;
    std::memset(&adapter, 0, sizeof adapter);
    adapter.ip_addr.ip4.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_get_adapter_info(&adapter));
}

TEST_CASE("init: HA_GS_BAD_PARAMETER cases, and a valid init still works afterwards")
{
    PrivateGsd gsd;
    ScopedEnv env("HA_GS_SOCKET", gsd.endpoint());
    Quitter quitter;
    ha_gs_descriptor_t fd = -1;
    auto pong = [](const ha_gs_responsiveness_notification_t *) { return HA_GS_CALLBACK_OK; };
    ha_gs_responsiveness_cb_t *pongCb = pong;

    CHECK_GS_RC(HA_GS_BAD_PARAMETER, plainInit(nullptr));
    CHECK_GS_RC(HA_GS_BAD_PARAMETER,
                ha_gs_init(&fd, 0, nullptr, nullptr, nullptr, nullptr, nullptr));
    CHECK_GS_RC(HA_GS_BAD_PARAMETER, ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL | 0x100u, nullptr,
                                                nullptr, nullptr, nullptr, nullptr));

    ha_gs_responsiveness_t resp;
    std::memset(&resp, 0, sizeof resp);
    resp.gs_responsiveness_type = HA_GS_PING_RESPONSIVENESS;
    resp.gs_responsiveness_interval = 1;
    resp.gs_responsiveness_response_time_limit = 1;
    CHECK_GS_RC(HA_GS_BAD_PARAMETER,
                ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, &resp, nullptr, nullptr, nullptr, nullptr));
    resp.gs_responsiveness_interval = 0;
    CHECK_GS_RC(HA_GS_BAD_PARAMETER,
                ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, &resp, nullptr, pongCb, nullptr, nullptr));
    resp.gs_responsiveness_interval = 1;
    resp.gs_responsiveness_response_time_limit = 0;
    CHECK_GS_RC(HA_GS_BAD_PARAMETER,
                ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, &resp, nullptr, pongCb, nullptr, nullptr));
    resp.gs_responsiveness_response_time_limit = 1;
    resp.gs_responsiveness_type = static_cast<ha_gs_responsiveness_type_t>(9);
    CHECK_GS_RC(HA_GS_BAD_PARAMETER,
                ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, &resp, nullptr, pongCb, nullptr, nullptr));

    /* None of that left a session behind. */
    REQUIRE_GS_OK(plainInit(&fd));
    CHECK_GS_RC(HA_GS_BAD_PARAMETER, ha_gs_dispatch(static_cast<ha_gs_dispatch_flag_t>(0)));
    CHECK_GS_RC(HA_GS_BAD_PARAMETER, ha_gs_dispatch(static_cast<ha_gs_dispatch_flag_t>(3)));
    CHECK_GS_RC(HA_GS_BAD_PARAMETER, ha_gs_get_node_number(nullptr));
    ha_gs_quit();

    /* A NO_RESPONSIVENESS block is as good as NULL; PING with a callback works. */
    resp.gs_responsiveness_type = HA_GS_NO_RESPONSIVENESS;
    CHECK_GS_OK(ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, &resp, nullptr, nullptr, nullptr, nullptr));
    ha_gs_quit();
    resp.gs_responsiveness_type = HA_GS_PING_RESPONSIVENESS;
    CHECK_GS_OK(ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, &resp, nullptr, pongCb, nullptr, nullptr));
}

TEST_CASE("init: HA_GS_COUNTER_RESPONSIVENESS is accepted without a responsiveness callback")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd, false);
    CHECK(c.rc("init resp=counter interval=1 limit=1 nocb=1") == "HA_GS_OK");
}

TEST_CASE("init: gsd reads HA_GS_SOCKET when --socket is not given")
{
    PrivateGsd gsd({.endpointFromEnv = true});
    LocalClient c("c", gsd);
    CHECK(c.rc("node") == "HA_GS_OK");
}

TEST_CASE("init: HA_GS_CONNECT_FAILED when no gsd serves the endpoint")
{
    const std::string dir = makeTempDir();
    {
        LocalClient c("c", "ipc://" + dir + "/nobody-here.sock", false);
        CHECK(c.rc("init") == "HA_GS_CONNECT_FAILED");
        CHECK(c.rc("node") == "HA_GS_NO_INIT");
    }
    rmdir(dir.c_str());
}

TEST_CASE("init: HA_GS_CONNECT_FAILED when gsd serves its maximum number of clients")
{
    constexpr int kLimit = 4;
    PrivateGsd gsd({.args = {"--max-clients", std::to_string(kLimit)}});
    std::vector<std::unique_ptr<ClientProcess>> admitted;
    for (int i = 1; i <= kLimit; ++i)
        admitted.push_back(std::make_unique<ClientProcess>("c" + std::to_string(i), gsd));
    LocalClient extra("extra", gsd, false);
    CHECK(extra.rc("init") == "HA_GS_CONNECT_FAILED");
    CHECK(extra.rc("node") == "HA_GS_NO_INIT");
    /* The first kLimit keep working: each joins and sees the others. */
    for (int i = 1; i <= kLimit; ++i) {
        CAPTURE(i);
        ClientProcess &c = *admitted[static_cast<size_t>(i - 1)];
        CHECK(c.rc("join g " + std::to_string(i)) == "HA_GS_OK");
        c.waitFor({"g: approved JOIN", {"chg=[" + std::to_string(i) + ".1]"}});
    }
    CHECK(extra.rc("init") == "HA_GS_CONNECT_FAILED");
    /* One quits: its place is free again, and only one. */
    CHECK(admitted[1]->rc("quit") == "HA_GS_OK");
    admitted[0]->waitFor({"g: approved FAILURE_LEAVE", {"chg=[2.1]"}});
    CHECK(extra.rc("init") == "HA_GS_OK");
    CHECK(extra.rc("join g 9") == "HA_GS_OK");
    extra.waitFor({"g: approved JOIN", {"chg=[9.1]"}});
    CHECK(admitted[1]->rc("init") == "HA_GS_CONNECT_FAILED");
}

TEST_CASE("init: HA_GS_SOCK_INIT_FAILED when HA_GS_SOCKET is not a usable ipc endpoint")
{
    const std::string tooLong = "ipc:///tmp/" + std::string(120, 'a') + "/gsd.sock";
    for (const std::string &endpoint : {std::string("tcp://127.0.0.1:1"), std::string("garbage"),
                                        std::string("ipc://"), tooLong}) {
        CAPTURE(endpoint);
        LocalClient c("c", endpoint, false);
        CHECK(c.rc("init") == "HA_GS_SOCK_INIT_FAILED");
    }
}

TEST_CASE("init: HA_GS_SOCK_CREATE_FAILED when no descriptor is free")
{
    PrivateGsd gsd;
    ClientProcess c(
        "c", gsd,
        {.autoInit = false, .setup = [] {
             /* Allow no descriptor beyond those open now. */
             int highest = 2;
             for (int fd = 3; fd < 4096; ++fd) {
                 if (fcntl(fd, F_GETFD) != -1)
                     highest = fd;
             }
             const rlimit lim{static_cast<rlim_t>(highest + 1), static_cast<rlim_t>(highest + 1)};
             if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
                 throw std::runtime_error("setrlimit");
         }});
    CHECK(c.rc("init") == "HA_GS_SOCK_CREATE_FAILED");
    CHECK(c.rc("node") == "HA_GS_NO_INIT");
}

TEST_CASE("init: HA_DOMAIN_NAME must name gsd's domain")
{
    PrivateGsd gsd({.args = {"--domain", "alpha"}});
    {
        ScopedEnv domain("HA_DOMAIN_NAME", "beta");
        LocalClient c("c", gsd, false);
        CHECK(c.rc("init") == "HA_GS_DOMAIN_NOT_RECOG");
    }
    {
        ScopedEnv domain("HA_DOMAIN_NAME", "alpha");
        LocalClient c("c", gsd, false);
        CHECK(c.rc("init") == "HA_GS_OK");
    }
    {
        ScopedEnv domain("HA_DOMAIN_NAME", std::nullopt);
        LocalClient c("c", gsd, false);
        CHECK(c.rc("init") == "HA_GS_OK");
    }
}

TEST_CASE("init: only root and members of the authorized group may connect")
{
    if (geteuid() != 0) {
        MESSAGE("needs root to change user: skipped");
        return;
    }
    const group *users = getgrnam("users");
    REQUIRE(users != nullptr);
    const gid_t usersGid = users->gr_gid;
    PrivateGsd gsd({.args = {"--auth-group", "users"}, .worldAccessible = true});

    ClientProcess outsider("outsider", gsd,
                           {.autoInit = false, .setup = [] { becomeNobody(65534, {}); }});
    ClientProcess supplementary("supplementary", gsd, {.autoInit = false, .setup = [usersGid] {
                                                           becomeNobody(65534, {usersGid});
                                                       }});
    ClientProcess primary("primary", gsd,
                          {.autoInit = false, .setup = [usersGid] { becomeNobody(usersGid, {}); }});
    ClientProcess root("root", gsd, {.autoInit = false});

    CHECK(outsider.rc("init") == "HA_GS_NOT_AUTHORIZED");
    CHECK(outsider.rc("node") == "HA_GS_NO_INIT");

    CHECK(supplementary.rc("init") == "HA_GS_OK");
    CHECK(supplementary.rc("join g 1") == "HA_GS_OK");
    supplementary.waitFor({"g: approved JOIN", {"chg=[1.1]"}});

    CHECK(primary.rc("init") == "HA_GS_OK");
    CHECK(primary.rc("node") == "HA_GS_OK");

    CHECK(root.rc("init") == "HA_GS_OK");
    CHECK(root.rc("node") == "HA_GS_OK");
}

TEST_CASE("init: an outsider refused before its Hello is queued gets HA_GS_NOT_AUTHORIZED")
{
    if (geteuid() != 0) {
        MESSAGE("needs root to change user: skipped");
        return;
    }
    /* Otherwise the Hello would not be delayed and the test could not fail. */
    REQUIRE(dlsym(RTLD_DEFAULT, "zmq_send") == reinterpret_cast<void *>(&zmq_send));
    PrivateGsd gsd({.args = {"--auth-group", "users"}, .worldAccessible = true});
    /* Each outsider's refusal ends its pipe while its Hello waits: the
     * Hello finds no pipe, and the reason is in the monitor. */
    std::vector<std::unique_ptr<ClientProcess>> outsiders;
    for (int i = 0; i < 3; ++i)
        outsiders.push_back(std::make_unique<ClientProcess>(
            "outsider" + std::to_string(i), gsd, ClientOptions{.autoInit = false, .setup = [] {
                                                                   becomeNobody(65534, {});
                                                                   delayNextSendMs = 500;
                                                               }}));
    for (auto &outsider : outsiders) {
        CHECK(outsider->rc("init") == "HA_GS_NOT_AUTHORIZED");
        CHECK(outsider->rc("node") == "HA_GS_NO_INIT");
    }
    /* The refusals cost an authorized client nothing. */
    LocalClient root("root", gsd, false);
    CHECK(root.rc("init") == "HA_GS_OK");
}

TEST_CASE("init: ha_gs_get_node_number gives gsd's --node-number")
{
    PrivateGsd gsd({.node = 7});
    LocalClient c("c", gsd);
    const Reply r = c.call("node");
    CHECK(r.rc == "HA_GS_OK");
    CHECK(r.get("value") == "7");
    CHECK(c.rc("node null=1") == "HA_GS_BAD_PARAMETER");
}

TEST_CASE("init: ha_gs_get_adapter_info maps local addresses when enabled")
{
    PrivateGsd gsd({.node = 7});
    {
        LocalClient c("c", gsd, false);
        REQUIRE(c.rc("init adapter") == "HA_GS_OK");
        const Reply lo = c.call("adapter 127.0.0.1");
        CHECK(lo.rc == "HA_GS_OK");
        CHECK(lo.get("iface") == "lo");
        CHECK(lo.get("node") == "7");
        CHECK(c.rc("adapter 203.0.113.1") == "HA_GS_BAD_PARAMETER");
        CHECK(c.rc("adapter 127.0.0.1 null=1") == "HA_GS_BAD_PARAMETER");
    }
    {
        LocalClient c("c", gsd);
        CHECK(c.rc("adapter 127.0.0.1") == "HA_GS_NOT_SUPPORTED");
    }
}

TEST_CASE("init: ha_gs_strerror describes every code")
{
    std::set<std::string> texts;
    for (int rc = HA_GS_OK; rc <= HA_GS_NOT_AUTHORIZED; ++rc) {
        CAPTURE(rc);
        const char *text = ha_gs_strerror(static_cast<ha_gs_rc_t>(rc));
        REQUIRE(text != nullptr);
        CHECK(std::strlen(text) > 0);
        texts.insert(text);
    }
    CHECK(texts.size() == static_cast<size_t>(HA_GS_NOT_AUTHORIZED + 1)); /* all different */
    for (int rc : {-1, 29, 999}) {
        CAPTURE(rc);
        const char *text = ha_gs_strerror(static_cast<ha_gs_rc_t>(rc));
        REQUIRE(text != nullptr);
        CHECK(texts.count(text) == 0);
    }
}
