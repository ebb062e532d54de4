// SPDX-License-Identifier: MIT
#include "gs_client.hpp"

#include "harness.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <poll.h>

namespace bench::gs {

namespace {

ha_gs_descriptor_t g_descriptor = -1;
std::array<int64_t, 16> g_approvedCount{};
std::array<int64_t, 16> g_approvedAtNs{};
/* Callbacks run inside ha_gs_dispatch: they record failures here and
 * dispatchFor throws them, instead of throwing through the library. */
std::string g_callbackError;

size_t typeIndex(ha_gs_request_t type)
{
    return static_cast<size_t>(type) % g_approvedCount.size();
}

/* The phases a proposal of changeStateInPhases asks for ("phases=K ..."),
 * 1 for any other proposal. */
unsigned phasesAskedBy(const ha_gs_n_phase_notification_t *n)
{
    const ha_gs_state_value_t *state =
        n->gs_proposal ? n->gs_proposal->gs_proposed_state_value : nullptr;
    constexpr char kPrefix[] = "phases=";
    if (!state || !state->gs_state || state->gs_length < sizeof kPrefix ||
        std::strncmp(state->gs_state, kPrefix, sizeof kPrefix - 1) != 0)
        return 1;
    return static_cast<unsigned>(std::atoi(state->gs_state + sizeof kPrefix - 1));
}

void onNPhase(const ha_gs_n_phase_notification_t *n)
{
    const unsigned phase = n->gs_proposal ? n->gs_proposal->gs_phase_info.gs_phase_number : 1;
    const ha_gs_vote_value_t vote =
        phase < phasesAskedBy(n) ? HA_GS_VOTE_CONTINUE : HA_GS_VOTE_APPROVE;
    const ha_gs_rc_t rc = ha_gs_vote(n->gs_provider_token, vote, nullptr, nullptr, HA_GS_NULL_VOTE);
    if (rc != HA_GS_OK)
        g_callbackError = std::string("ha_gs_vote: ") + ha_gs_strerror(rc);
}

void onApproved(const ha_gs_approved_notification_t *n)
{
    const int64_t at = nowNs();
    const size_t i = typeIndex(n->gs_protocol_type);
    g_approvedCount[i]++;
    g_approvedAtNs[i] = at;
}

void onRejected(const ha_gs_rejected_notification_t *n)
{
    g_callbackError = "protocol of type " + std::to_string(n->gs_protocol_type) +
                      " rejected (summary " + std::to_string(n->gs_summary_code) + ")";
}

void onDelayedError(const ha_gs_delayed_error_notification_t *n)
{
    g_callbackError = std::string("delayed error: ") + ha_gs_strerror(n->gs_delayed_return_code);
}

} // namespace

void check(ha_gs_rc_t rc, const char *what)
{
    if (rc != HA_GS_OK)
        throw std::runtime_error(std::string(what) + ": " + ha_gs_strerror(rc));
}

void init()
{
    check(ha_gs_init(&g_descriptor, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr,
                     onDelayedError, nullptr),
          "ha_gs_init");
}

int descriptor()
{
    return g_descriptor;
}

bool dispatchFor(int timeoutMs)
{
    pollfd pfd{g_descriptor, POLLIN, 0};
    const int n = poll(&pfd, 1, timeoutMs);
    if (n < 0 && errno != EINTR)
        throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    const bool connected = n <= 0 || ha_gs_dispatch(HA_GS_NON_BLOCKING) == HA_GS_OK;
    if (!g_callbackError.empty())
        throw std::runtime_error(g_callbackError);
    return connected;
}

int64_t approvedCount(ha_gs_request_t type)
{
    return g_approvedCount[typeIndex(type)];
}

int64_t awaitApproved(ha_gs_request_t type, int64_t seen, const char *what)
{
    const int64_t deadline = nowNs() + 20'000'000'000;
    while (approvedCount(type) <= seen) {
        if (!dispatchFor(100))
            throw std::runtime_error(std::string(what) + ": connection to gsd lost");
        if (nowNs() > deadline)
            throw std::runtime_error(std::string(what) + ": not approved within 20 s");
    }
    return g_approvedAtNs[typeIndex(type)];
}

ha_gs_token_t join(const std::string &group, short instance, ha_gs_num_phases_t phases)
{
    ha_gs_group_attributes_t attributes{};
    attributes.gs_version = 1;
    attributes.gs_sizeof_group_attributes = sizeof attributes;
    attributes.gs_num_phases = phases;
    attributes.gs_group_default_vote = HA_GS_VOTE_APPROVE;
    attributes.gs_time_limit = 30;
    attributes.gs_group_name = group.c_str();

    ha_gs_proposal_info_t request{};
    request.gs_join_request.gs_group_attributes = &attributes;
    request.gs_join_request.gs_provider_instance = instance;
    request.gs_join_request.gs_n_phase_protocol_callback = onNPhase;
    request.gs_join_request.gs_protocol_approved_callback = onApproved;
    request.gs_join_request.gs_protocol_rejected_callback = onRejected;
    ha_gs_token_t token = 0;
    check(ha_gs_join(&token, &request), "ha_gs_join");
    return token;
}

ha_gs_token_t joinAndAwait(const std::string &group, short instance, ha_gs_num_phases_t phases)
{
    const int64_t seen = approvedCount(HA_GS_JOIN);
    const ha_gs_token_t token = join(group, instance, phases);
    awaitApproved(HA_GS_JOIN, seen, "join");
    return token;
}

namespace {

void proposeState(ha_gs_token_t token, ha_gs_num_phases_t phases, const char *text)
{
    ha_gs_state_value_t state{};
    state.gs_state = const_cast<char *>(text);
    state.gs_length = static_cast<unsigned int>(std::strlen(text));
    ha_gs_proposal_info_t request{};
    request.gs_state_change_request.gs_num_phases = phases;
    request.gs_state_change_request.gs_time_limit = 30;
    request.gs_state_change_request.gs_new_state = &state;
    check(ha_gs_change_state_value(token, &request), "ha_gs_change_state_value");
}

} // namespace

void changeState(ha_gs_token_t token, ha_gs_num_phases_t phases, int64_t sequence)
{
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "state-%lld", static_cast<long long>(sequence));
    proposeState(token, phases, buffer);
}

void changeStateInPhases(ha_gs_token_t token, unsigned phases, int64_t sequence)
{
    char buffer[48];
    std::snprintf(buffer, sizeof buffer, "phases=%u state-%lld", phases,
                  static_cast<long long>(sequence));
    proposeState(token, HA_GS_N_PHASE, buffer);
}

ha_gs_token_t subscribe(const std::string &group, ha_gs_subscription_ctrl_t flags,
                        SubscriptionHandler handler)
{
    ha_gs_proposal_info_t request{};
    request.gs_subscribe_request.gs_subscription_control = flags;
    request.gs_subscribe_request.gs_subscription_group = group.c_str();
    request.gs_subscribe_request.gs_subscription_callback = handler;
    ha_gs_token_t token = 0;
    check(ha_gs_subscribe(&token, &request), "ha_gs_subscribe");
    return token;
}

} // namespace bench::gs
