/* SPDX-License-Identifier: MIT */
/*
 * Every C entry point of ha_gs.h, as a thin shim: check what only the
 * library can check, convert the C blocks (requests.hpp), forward to the
 * process's Session, and turn every exception into a return code. No
 * exception crosses extern "C".
 *
 * The session is checked before the arguments, in every call (ha_gs.h,
 * "Order of checks"): HA_GS_NO_INIT, then HA_GS_NOT_OK for a session known
 * to be dead, then HA_GS_BAD_PARAMETER and the like, so that a call's
 * answer never depends on which argument check it happens to reach first.
 */
#include "libha_gs/current_session.hpp"
#include "libha_gs/requests.hpp"
#include "libha_gs/token_entry.hpp"

#include <ha_gs.h>

#include <cstring>
#include <new>

using gs::client::Session;

namespace {

template <class F>
ha_gs_rc_t guarded(F &&body) noexcept
{
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return HA_GS_NO_MEMORY;
    } catch (...) {
        return HA_GS_NOT_OK;
    }
}

/* Runs body(session) with the current session, or answers HA_GS_NO_INIT
 * (no session) or HA_GS_NOT_OK (a session known to be dead). */
template <class F>
ha_gs_rc_t withSession(F &&body)
{
    const std::shared_ptr<Session> session = gs::client::currentSession();
    if (!session)
        return HA_GS_NO_INIT;
    if (session->lost())
        return HA_GS_NOT_OK;
    return body(*session);
}

/* Checks the session, converts with `convert`, then makes the round trip
 * of a request that creates no token. */
template <class R, class F>
ha_gs_rc_t request(F &&convert)
{
    return withSession([&](Session &s) {
        R r;
        if (const ha_gs_rc_t rc = convert(r); rc != HA_GS_OK)
            return rc;
        return s.call(gs::Request{std::move(r)}, nullptr, nullptr);
    });
}

/* Interval and response time limit of ping and counter checks. */
bool validTiming(const ha_gs_responsiveness_t &r)
{
    return r.gs_responsiveness_interval >= 1 && r.gs_responsiveness_response_time_limit >= 1 &&
           r.gs_responsiveness_interval <= HA_GS_TIME_LIMIT_CEILING &&
           r.gs_responsiveness_response_time_limit <= HA_GS_TIME_LIMIT_CEILING;
}

} // namespace

ha_gs_rc_t ha_gs_init(ha_gs_descriptor_t *descriptor, const ha_gs_socket_ctrl_t socket_control,
                      const ha_gs_responsiveness_t *responsiveness_control,
                      const char *deactivate_script,
                      ha_gs_responsiveness_cb_t *responsiveness_callback,
                      ha_gs_delayed_error_cb_t *delayed_error_callback,
                      ha_gs_query_cb_t *query_callback)
{
    /* gsd issues no queries (ha_gs.h). */
    (void)query_callback;
    return guarded([&]() -> ha_gs_rc_t {
        constexpr ha_gs_socket_ctrl_t kKnown = HA_GS_SOCKET_NO_SIGNAL | HA_GS_ENABLE_ADAPTER_INFO;
        if (!descriptor || (socket_control & HA_GS_SOCKET_NO_SIGNAL) == 0 ||
            (socket_control & ~kKnown) != 0)
            return HA_GS_BAD_PARAMETER;
        gs::client::SessionOptions options;
        options.socketControl = socket_control;
        options.responsiveness.gs_responsiveness_type = HA_GS_NO_RESPONSIVENESS;
        options.delayedErrorCallback = delayed_error_callback;
        if (deactivate_script && deactivate_script[0] != '\0') {
            /* gsd runs it from its own working directory: only an absolute
             * path means the same file to both. */
            const size_t n = strnlen(deactivate_script, HA_GS_MAX_DEACTIVATE_SCRIPT_LENGTH + 1);
            if (deactivate_script[0] != '/' || n > HA_GS_MAX_DEACTIVATE_SCRIPT_LENGTH)
                return HA_GS_BAD_PARAMETER;
            options.deactivateScript.assign(deactivate_script, n);
        }
        if (responsiveness_control) {
            switch (gs::client::rawValue(responsiveness_control->gs_responsiveness_type)) {
            case HA_GS_NO_RESPONSIVENESS:
                break;
            case HA_GS_PING_RESPONSIVENESS:
                if (!validTiming(*responsiveness_control) || !responsiveness_callback)
                    return HA_GS_BAD_PARAMETER;
                options.responsiveness = *responsiveness_control;
                options.responsivenessCallback = responsiveness_callback;
                break;
            case HA_GS_COUNTER_RESPONSIVENESS:
                /* gsd reads the counter itself: no callback is needed. */
                if (!validTiming(*responsiveness_control) ||
                    !responsiveness_control->gs_counter_location ||
                    responsiveness_control->gs_counter_length < 1 ||
                    responsiveness_control->gs_counter_length > HA_GS_MAX_COUNTER_LENGTH)
                    return HA_GS_BAD_PARAMETER;
                options.responsiveness = *responsiveness_control;
                break;
            default:
                return HA_GS_BAD_PARAMETER;
            }
        }
        return gs::client::openSession(options, descriptor);
    });
}

ha_gs_rc_t ha_gs_dispatch(const ha_gs_dispatch_flag_t dispatch_flag)
{
    return guarded([&] {
        const std::shared_ptr<Session> session = gs::client::currentSession();
        if (!session)
            return HA_GS_NO_INIT;
        /* Not withSession: a dead session's dispatch still has to deliver
         * HA_GS_SUBSCRIPTION_GS_HAS_DIED before answering HA_GS_NOT_OK. */
        const int flag = gs::client::rawValue(dispatch_flag);
        if (flag != HA_GS_BLOCKING && flag != HA_GS_NON_BLOCKING)
            return session->lost() ? HA_GS_NOT_OK : HA_GS_BAD_PARAMETER;
        return session->dispatch(flag == HA_GS_BLOCKING);
    });
}

void ha_gs_quit(void)
{
    /* Never fails: whatever goes wrong, the session is gone afterwards. */
    (void)guarded([] {
        gs::client::closeSession();
        return HA_GS_OK;
    });
}

ha_gs_rc_t ha_gs_join(ha_gs_token_t *provider_token, const ha_gs_proposal_info_t *proposal_info)
{
    return guarded([&] {
        return withSession([&](Session &s) {
            if (!provider_token)
                return HA_GS_BAD_PARAMETER;
            gs::JoinRequest r;
            if (const ha_gs_rc_t rc = gs::client::toJoin(proposal_info, r); rc != HA_GS_OK)
                return rc;
            /* Copied only once checked: every string in it is bounded now. */
            auto entry = gs::client::TokenEntry::forJoin(proposal_info->gs_join_request);
            return s.call(gs::Request{std::move(r)}, std::move(entry), provider_token);
        });
    });
}

ha_gs_rc_t ha_gs_leave(ha_gs_token_t provider_token, const ha_gs_proposal_info_t *proposal_info)
{
    return guarded([&] {
        return request<gs::LeaveRequest>([&](gs::LeaveRequest &r) {
            return gs::client::toLeave(provider_token, proposal_info, r);
        });
    });
}

ha_gs_rc_t ha_gs_goodbye(ha_gs_token_t provider_token)
{
    return guarded([&] {
        return request<gs::GoodbyeRequest>([&](gs::GoodbyeRequest &r) {
            r.token = provider_token;
            return HA_GS_OK;
        });
    });
}

ha_gs_rc_t ha_gs_expel(ha_gs_token_t provider_token, const ha_gs_proposal_info_t *proposal_info)
{
    return guarded([&] {
        return request<gs::ExpelRequest>([&](gs::ExpelRequest &r) {
            return gs::client::toExpel(provider_token, proposal_info, r);
        });
    });
}

ha_gs_rc_t ha_gs_change_state_value(ha_gs_token_t provider_token,
                                    const ha_gs_proposal_info_t *proposal_info)
{
    return guarded([&] {
        return request<gs::StateChangeRequest>([&](gs::StateChangeRequest &r) {
            return gs::client::toStateChange(provider_token, proposal_info, r);
        });
    });
}

ha_gs_rc_t ha_gs_change_attributes(ha_gs_token_t provider_token,
                                   const ha_gs_proposal_info_t *proposal_info)
{
    /* gs_backlevel_providers is never written: the request is const, and
     * every provider speaks this protocol level (ha_gs.h). */
    return guarded([&] {
        return request<gs::AttributeChangeRequest>([&](gs::AttributeChangeRequest &r) {
            return gs::client::toAttributeChange(provider_token, proposal_info, r);
        });
    });
}

ha_gs_rc_t ha_gs_send_message(ha_gs_token_t provider_token,
                              const ha_gs_proposal_info_t *proposal_info)
{
    return guarded([&] {
        return request<gs::MessageRequest>([&](gs::MessageRequest &r) {
            return gs::client::toMessage(provider_token, proposal_info, r);
        });
    });
}

ha_gs_rc_t ha_gs_vote(ha_gs_token_t provider_token, ha_gs_vote_value_t vote_value,
                      const ha_gs_state_value_t *proposed_state_value,
                      const ha_gs_provider_message_t *provider_message,
                      ha_gs_vote_value_t default_vote_value)
{
    return guarded([&] {
        return request<gs::VoteRequest>([&](gs::VoteRequest &r) {
            return gs::client::toVote(provider_token, vote_value, proposed_state_value,
                                      provider_message, default_vote_value, r);
        });
    });
}

ha_gs_rc_t ha_gs_subscribe(ha_gs_token_t *subscriber_token,
                           const ha_gs_proposal_info_t *proposal_info)
{
    return guarded([&] {
        return withSession([&](Session &s) {
            if (!subscriber_token)
                return HA_GS_BAD_PARAMETER;
            gs::SubscribeRequest r;
            if (const ha_gs_rc_t rc = gs::client::toSubscribe(proposal_info, r); rc != HA_GS_OK)
                return rc;
            auto entry = gs::client::TokenEntry::forSubscribe(proposal_info->gs_subscribe_request);
            return s.call(gs::Request{std::move(r)}, std::move(entry), subscriber_token);
        });
    });
}

ha_gs_rc_t ha_gs_unsubscribe(ha_gs_token_t subscriber_token)
{
    return guarded([&] {
        return request<gs::UnsubscribeRequest>([&](gs::UnsubscribeRequest &r) {
            r.token = subscriber_token;
            return HA_GS_OK;
        });
    });
}

ha_gs_rc_t ha_gs_get_node_number(ha_gs_node_number_t *node_number)
{
    return guarded([&] {
        return withSession([&](Session &s) {
            return node_number ? s.nodeNumber(node_number) : HA_GS_BAD_PARAMETER;
        });
    });
}

ha_gs_rc_t ha_gs_get_adapter_info(ha_gs_adapter_info *adapter)
{
    return guarded([&] {
        return withSession(
            [&](Session &s) { return adapter ? s.adapterInfo(adapter) : HA_GS_BAD_PARAMETER; });
    });
}

ha_gs_rc_t ha_gs_get_ffdc_id(fc_eid_t fid)
{
    return guarded([&] {
        /* gsd records no FFDC ids: there is never one to copy out. */
        if (fid)
            fid[0] = '\0';
        return withSession([&](Session &) { return fid ? HA_GS_NOT_OK : HA_GS_BAD_PARAMETER; });
    });
}

const char *ha_gs_strerror(ha_gs_rc_t rc)
{
    switch (rc) {
    case HA_GS_OK:
        return "success";
    case HA_GS_NOT_OK:
        return "connection to gsd lost; call ha_gs_init again";
    case HA_GS_EXISTS:
        return "already initialized, or already in that group";
    case HA_GS_NO_INIT:
        return "ha_gs_init has not been called";
    case HA_GS_NAME_TOO_LONG:
        return "group name longer than HA_GS_MAX_GROUP_NAME_LENGTH";
    case HA_GS_NO_MEMORY:
        return "out of memory, or gsd's budget for this client (state memory, request rate) "
               "is exhausted; retry later";
    case HA_GS_NOT_A_MEMBER:
        return "the provider's join has not been approved yet";
    case HA_GS_BAD_CLIENT_TOKEN:
        return "bad client token (reserved; never returned)";
    case HA_GS_BAD_MEMBER_TOKEN:
        return "not a live provider or subscriber token of this process for this call";
    case HA_GS_BAD_PARAMETER:
        return "invalid argument";
    case HA_GS_UNKNOWN_GROUP:
        return "the group does not exist";
    case HA_GS_INVALID_GROUP:
        return "malformed group name, or a system group that cannot be joined";
    case HA_GS_NO_SOURCE_GROUP_PROVIDER:
        return "the source group has no provider on this node";
    case HA_GS_BAD_GROUP_ATTRIBUTES:
        return "invalid group attributes, or unlike the group's";
    case HA_GS_WRONG_OLD_STATE:
        return "wrong old state value";
    case HA_GS_DUPLICATE_INSTANCE_NUMBER:
        return "instance number already in use in the group on this node";
    case HA_GS_COLLIDE:
        return "another protocol runs or is queued in the group";
    case HA_GS_SOCK_CREATE_FAILED:
        return "could not create the connection's sockets";
    case HA_GS_SOCK_INIT_FAILED:
        return "HA_GS_SOCKET is not a usable ipc:// endpoint";
    case HA_GS_CONNECT_FAILED:
        return "no gsd answers at the endpoint, or it serves too many clients";
    case HA_GS_VOTE_NOT_EXPECTED:
        return "no vote of this provider is awaited";
    case HA_GS_NOT_SUPPORTED:
        return "option not supported by this implementation";
    case HA_GS_INVALID_SOURCE_GROUP:
        return "source group name is malformed, names the group itself or a system group";
    case HA_GS_UNKNOWN_PROVIDER:
        return "expel list names a provider not in the group";
    case HA_GS_INVALID_DEACTIVATE_PHASE:
        return "deactivate phase beyond the protocol's phases";
    case HA_GS_BACKLEVEL_PROVIDERS:
        return "back-level providers in the group";
    case HA_GS_DOMAIN_NOT_RECOG:
        return "HA_DOMAIN_NAME names a domain gsd does not serve";
    case HA_GS_TOO_MANY_GROUPS:
        return "too many groups or providers";
    case HA_GS_NOT_AUTHORIZED:
        return "caller is neither root nor in gsd's authorized group";
    }
    return "unknown ha_gs return code";
}
