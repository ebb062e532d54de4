/* SPDX-License-Identifier: MIT */
/*
 * The public API where no gsd is needed: calls before ha_gs_init, argument
 * checks, and ha_gs_init against endpoints nobody serves. Built once against
 * each library.
 */
#include <ha_gs.h>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

namespace {

void ignoreNPhase(const ha_gs_n_phase_notification_t *) {}
void ignoreApproved(const ha_gs_approved_notification_t *) {}
void ignoreRejected(const ha_gs_rejected_notification_t *) {}
void ignoreSubscription(const ha_gs_subscription_notification_t *) {}

ha_gs_rc_t plainInit(ha_gs_descriptor_t *fd)
{
    return ha_gs_init(fd, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr, nullptr);
}

struct Env {
    explicit Env(const std::string &value) { setenv("HA_GS_SOCKET", value.c_str(), 1); }
    ~Env() { unsetenv("HA_GS_SOCKET"); }
};

/* A private directory for socket files. */
struct TempDir {
    std::string path;
    TempDir()
    {
        /* mkdtemp replaces the six trailing X. */
        std::string tmpl = "/tmp/ha_gs-libtest-" + std::string(6, 'X');
        REQUIRE(mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir()
    {
        std::string cmd = "rm -rf '" + path + "'";
        [[maybe_unused]] int rc = std::system(cmd.c_str());
    }
};

/* Far below HA_GS_REQUEST_TIMEOUT_MS: a refused connection must not wait for
 * a reply timeout, yet the bound leaves plenty of slack on a busy machine. */
constexpr auto kFast = std::chrono::milliseconds(HA_GS_REQUEST_TIMEOUT_MS / 2);

ha_gs_rc_t timedInit(std::chrono::steady_clock::duration &took)
{
    ha_gs_descriptor_t fd = -1;
    const auto start = std::chrono::steady_clock::now();
    const ha_gs_rc_t rc = plainInit(&fd);
    took = std::chrono::steady_clock::now() - start;
    return rc;
}

} // namespace

TEST_CASE("before ha_gs_init every call answers HA_GS_NO_INIT")
{
    ha_gs_quit(); /* harmless without a session */
    ha_gs_group_attributes_t attrs;
    std::memset(&attrs, 0, sizeof attrs);
    attrs.gs_version = 1;
    attrs.gs_sizeof_group_attributes = sizeof attrs;
    attrs.gs_group_name = "g";
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    info.gs_join_request.gs_group_attributes = &attrs;
    info.gs_join_request.gs_n_phase_protocol_callback = ignoreNPhase;
    info.gs_join_request.gs_protocol_approved_callback = ignoreApproved;
    info.gs_join_request.gs_protocol_rejected_callback = ignoreRejected;
    ha_gs_token_t token = 0;
    CHECK(ha_gs_join(&token, &info) == HA_GS_NO_INIT);
    CHECK(token == 0);
    CHECK(ha_gs_dispatch(HA_GS_NON_BLOCKING) == HA_GS_NO_INIT);
    CHECK(ha_gs_dispatch(HA_GS_BLOCKING) == HA_GS_NO_INIT);

    std::memset(&info, 0, sizeof info);
    CHECK(ha_gs_leave(1, &info) == HA_GS_NO_INIT);
    CHECK(ha_gs_goodbye(1) == HA_GS_NO_INIT);

    char value[] = "v";
    ha_gs_state_value_t sv{1, value};
    info.gs_state_change_request.gs_new_state = &sv;
    CHECK(ha_gs_change_state_value(1, &info) == HA_GS_NO_INIT);
    std::memset(&info, 0, sizeof info);
    ha_gs_provider_message_t mv{1, value};
    info.gs_message_request.gs_message = &mv;
    CHECK(ha_gs_send_message(1, &info) == HA_GS_NO_INIT);
    std::memset(&info, 0, sizeof info);
    info.gs_attribute_change_request.gs_group_attributes = &attrs;
    CHECK(ha_gs_change_attributes(1, &info) == HA_GS_NO_INIT);
    std::memset(&info, 0, sizeof info);
    ha_gs_provider_t who{1, 1};
    info.gs_expel_request.gs_expel_list.gs_count = 1;
    info.gs_expel_request.gs_expel_list.gs_providers = &who;
    CHECK(ha_gs_expel(1, &info) == HA_GS_NO_INIT);
    CHECK(ha_gs_vote(1, HA_GS_VOTE_APPROVE, nullptr, nullptr, HA_GS_NULL_VOTE) == HA_GS_NO_INIT);

    std::memset(&info, 0, sizeof info);
    info.gs_subscribe_request.gs_subscription_control = HA_GS_SUBSCRIBE_STATE;
    info.gs_subscribe_request.gs_subscription_group = "g";
    info.gs_subscribe_request.gs_subscription_callback = ignoreSubscription;
    CHECK(ha_gs_subscribe(&token, &info) == HA_GS_NO_INIT);
    CHECK(ha_gs_unsubscribe(1) == HA_GS_NO_INIT);

    ha_gs_node_number_t node = 0;
    CHECK(ha_gs_get_node_number(&node) == HA_GS_NO_INIT);
    ha_gs_adapter_info adapter;
    std::memset(&adapter, 0, sizeof adapter);
    adapter.ip_addr.ip4.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(ha_gs_get_adapter_info(&adapter) == HA_GS_NO_INIT);
}

TEST_CASE("the session is checked before the arguments: bad ones give HA_GS_NO_INIT")
{
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    ha_gs_token_t token = 0;
    CHECK(ha_gs_join(nullptr, &info) == HA_GS_NO_INIT);
    CHECK(ha_gs_join(&token, nullptr) == HA_GS_NO_INIT);
    CHECK(ha_gs_join(&token, &info) == HA_GS_NO_INIT); /* no attributes, no callbacks */
    CHECK(ha_gs_leave(1, nullptr) == HA_GS_NO_INIT);
    CHECK(ha_gs_expel(1, nullptr) == HA_GS_NO_INIT);
    CHECK(ha_gs_expel(1, &info) == HA_GS_NO_INIT); /* empty list */
    CHECK(ha_gs_change_state_value(1, nullptr) == HA_GS_NO_INIT);
    CHECK(ha_gs_change_state_value(1, &info) == HA_GS_NO_INIT); /* no state */
    CHECK(ha_gs_send_message(1, &info) == HA_GS_NO_INIT);
    CHECK(ha_gs_change_attributes(1, &info) == HA_GS_NO_INIT);
    CHECK(ha_gs_vote(1, HA_GS_NULL_VOTE, nullptr, nullptr, HA_GS_NULL_VOTE) == HA_GS_NO_INIT);
    CHECK(ha_gs_subscribe(&token, nullptr) == HA_GS_NO_INIT);
    CHECK(ha_gs_subscribe(nullptr, &info) == HA_GS_NO_INIT);
    CHECK(ha_gs_subscribe(&token, &info) == HA_GS_NO_INIT); /* no group, no callback */
    CHECK(ha_gs_get_node_number(nullptr) == HA_GS_NO_INIT);
    CHECK(ha_gs_get_adapter_info(nullptr) == HA_GS_NO_INIT);
    CHECK(ha_gs_dispatch(static_cast<ha_gs_dispatch_flag_t>(0)) == HA_GS_NO_INIT);
    CHECK(ha_gs_get_ffdc_id(nullptr) == HA_GS_NO_INIT);

    const std::string tooLong(HA_GS_MAX_GROUP_NAME_LENGTH + 1, 'n');
    info.gs_subscribe_request.gs_subscription_control = HA_GS_SUBSCRIBE_STATE;
    info.gs_subscribe_request.gs_subscription_group = tooLong.c_str();
    info.gs_subscribe_request.gs_subscription_callback = ignoreSubscription;
    CHECK(ha_gs_subscribe(&token, &info) == HA_GS_NO_INIT);
    CHECK(token == 0);
}

TEST_CASE("ha_gs_init: argument checks")
{
    ha_gs_descriptor_t fd = -1;
    CHECK(plainInit(nullptr) == HA_GS_BAD_PARAMETER);
    CHECK(ha_gs_init(&fd, 0, nullptr, nullptr, nullptr, nullptr, nullptr) == HA_GS_BAD_PARAMETER);
    CHECK(ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL | 0x80u, nullptr, nullptr, nullptr, nullptr,
                     nullptr) == HA_GS_BAD_PARAMETER);
    ha_gs_responsiveness_t resp;
    std::memset(&resp, 0, sizeof resp);
    /* The counter method needs a counter; the library checks before connecting. */
    resp.gs_responsiveness_type = HA_GS_COUNTER_RESPONSIVENESS;
    resp.gs_responsiveness_interval = 1;
    resp.gs_responsiveness_response_time_limit = 1;
    CHECK(ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, &resp, nullptr, nullptr, nullptr, nullptr) ==
          HA_GS_BAD_PARAMETER);
    CHECK(ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, nullptr, "relative/script", nullptr, nullptr,
                     nullptr) == HA_GS_BAD_PARAMETER);
    resp.gs_responsiveness_type = HA_GS_PING_RESPONSIVENESS;
    resp.gs_responsiveness_interval = 1;
    resp.gs_responsiveness_response_time_limit = 1;
    CHECK(ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, &resp, nullptr, nullptr, nullptr, nullptr) ==
          HA_GS_BAD_PARAMETER);
    CHECK(fd == -1);
}

TEST_CASE("ha_gs_init: endpoints that are not ipc:// give HA_GS_SOCK_INIT_FAILED")
{
    ha_gs_descriptor_t fd = -1;
    {
        Env env("tcp://127.0.0.1:5555");
        CHECK(plainInit(&fd) == HA_GS_SOCK_INIT_FAILED);
    }
    {
        Env env("ipc://");
        CHECK(plainInit(&fd) == HA_GS_SOCK_INIT_FAILED);
    }
    {
        Env env("nonsense");
        CHECK(plainInit(&fd) == HA_GS_SOCK_INIT_FAILED);
    }
    {
        /* Longer than a Unix socket address can hold. */
        Env env("ipc:///tmp/" + std::string(200, 'p'));
        CHECK(plainInit(&fd) == HA_GS_SOCK_INIT_FAILED);
    }
    CHECK(fd == -1);
    ha_gs_node_number_t node = 0;
    CHECK(ha_gs_get_node_number(&node) == HA_GS_NO_INIT);
}

TEST_CASE("ha_gs_init: nobody listening gives HA_GS_CONNECT_FAILED without waiting for a timeout")
{
    TempDir dir;
    std::chrono::steady_clock::duration took{};
    {
        Env env("ipc://" + dir.path + "/missing/gsd.sock");
        CHECK(timedInit(took) == HA_GS_CONNECT_FAILED);
        CHECK(took < kFast);
    }
    {
        /* A stale socket file: bound once, nobody listens (ECONNREFUSED). */
        const std::string path = dir.path + "/stale.sock";
        const int s = socket(AF_UNIX, SOCK_STREAM, 0);
        REQUIRE(s >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        REQUIRE(bind(s, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0);
        Env env("ipc://" + path);
        CHECK(timedInit(took) == HA_GS_CONNECT_FAILED);
        CHECK(took < kFast);
        close(s);
    }
    /* No session was left behind, and a later attempt is judged afresh. */
    ha_gs_node_number_t node = 0;
    CHECK(ha_gs_get_node_number(&node) == HA_GS_NO_INIT);
    {
        Env env("tcp://127.0.0.1:1");
        ha_gs_descriptor_t fd = -1;
        CHECK(plainInit(&fd) == HA_GS_SOCK_INIT_FAILED);
    }
}

TEST_CASE("ha_gs_strerror: a distinct text for every code, a fallback for others")
{
    std::set<std::string> seen;
    const std::string unknown = ha_gs_strerror(static_cast<ha_gs_rc_t>(999));
    CHECK(unknown == "unknown ha_gs return code");
    for (int rc = HA_GS_OK; rc <= HA_GS_NOT_AUTHORIZED; ++rc) {
        const char *text = ha_gs_strerror(static_cast<ha_gs_rc_t>(rc));
        REQUIRE(text != nullptr);
        CHECK(std::string(text) != unknown);
        CHECK(seen.insert(text).second);
    }
    CHECK(std::string(ha_gs_strerror(static_cast<ha_gs_rc_t>(-1))) == unknown);
}
