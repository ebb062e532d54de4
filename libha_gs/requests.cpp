/* SPDX-License-Identifier: MIT */
#include "libha_gs/requests.hpp"

#include <cstring>

namespace gs::client {

namespace {

/* Length of s, but never reading more than limit + 1 bytes: a name longer than
 * its limit is refused without walking an arbitrarily long (or unterminated)
 * buffer. */
size_t boundedLength(const char *s, size_t limit)
{
    return strnlen(s, limit + 1);
}

/* Opaque bytes given as (length, pointer): NULL is allowed only when empty. */
ha_gs_rc_t copyBytes(unsigned int length, const char *data, size_t limit, Bytes &out)
{
    if (length > limit)
        return HA_GS_BAD_PARAMETER;
    if (length > 0 && data == nullptr)
        return HA_GS_BAD_PARAMETER;
    out.assign(data ? data : "", length);
    return HA_GS_OK;
}

/* 0 (the ceiling) .. HA_GS_TIME_LIMIT_CEILING. Checked here as well as in
 * gsd (which decides) so that a limit above the ceiling fails at the call,
 * with no round trip: it is refused, never cut down. */
bool validTimeLimit(ha_gs_time_limit_t seconds)
{
    return seconds >= 0 && seconds <= HA_GS_TIME_LIMIT_CEILING;
}

/* Group attributes as the application gave them; gsd normalizes and checks
 * the values (the time limits are checked here too). tooLong is the code for a name beyond the
 * limit. */
ha_gs_rc_t toAttributes(const ha_gs_group_attributes_t &a, GroupAttributes &out,
                        ha_gs_rc_t nameTooLong, ha_gs_rc_t sourceTooLong)
{
    out.version = a.gs_version;
    out.sizeofAttributes = a.gs_sizeof_group_attributes;
    out.clientVersion = a.gs_client_version;
    out.batchControl = rawValue(a.gs_batch_control);
    out.numPhases = rawValue(a.gs_num_phases);
    out.sourceReflectionNumPhases = rawValue(a.gs_source_reflection_num_phases);
    out.defaultVote = rawValue(a.gs_group_default_vote);
    out.mergeControl = rawValue(a.gs_merge_control);
    out.timeLimit = a.gs_time_limit;
    out.sourceReflectionTimeLimit = a.gs_source_reflection_time_limit;
    if (a.gs_group_name) {
        const size_t n = boundedLength(a.gs_group_name, HA_GS_MAX_GROUP_NAME_LENGTH);
        if (n > HA_GS_MAX_GROUP_NAME_LENGTH)
            return nameTooLong;
        out.groupName.assign(a.gs_group_name, n);
    }
    if (a.gs_source_group_name) {
        const size_t n = boundedLength(a.gs_source_group_name, HA_GS_MAX_GROUP_NAME_LENGTH);
        if (n > HA_GS_MAX_GROUP_NAME_LENGTH)
            return sourceTooLong;
        out.sourceGroupName.assign(a.gs_source_group_name, n);
    }
    if (!validTimeLimit(a.gs_time_limit) || !validTimeLimit(a.gs_source_reflection_time_limit))
        return HA_GS_BAD_GROUP_ATTRIBUTES;
    return HA_GS_OK;
}

bool isVote(int v)
{
    return v == HA_GS_VOTE_APPROVE || v == HA_GS_VOTE_CONTINUE || v == HA_GS_VOTE_REJECT;
}

bool isDefaultVote(int v)
{
    return v == HA_GS_NULL_VOTE || v == HA_GS_VOTE_APPROVE || v == HA_GS_VOTE_REJECT;
}

} // namespace

ha_gs_rc_t toJoin(const ha_gs_proposal_info_t *info, JoinRequest &out)
{
    if (!info)
        return HA_GS_BAD_PARAMETER;
    const ha_gs_join_request_t &j = info->gs_join_request;
    if (!j.gs_group_attributes || !j.gs_n_phase_protocol_callback ||
        !j.gs_protocol_approved_callback || !j.gs_protocol_rejected_callback)
        return HA_GS_BAD_PARAMETER;
    if (!j.gs_group_attributes->gs_group_name)
        return HA_GS_BAD_PARAMETER;
    if (j.gs_provider_instance < 0)
        return HA_GS_BAD_PARAMETER;
    if (j.gs_provider_local_name) {
        const size_t n = boundedLength(j.gs_provider_local_name, HA_GS_MAX_LOCAL_NAME_LENGTH);
        if (n > HA_GS_MAX_LOCAL_NAME_LENGTH)
            return HA_GS_BAD_PARAMETER;
        out.localName.assign(j.gs_provider_local_name, n);
    }
    out.instance = j.gs_provider_instance;
    return toAttributes(*j.gs_group_attributes, out.attributes, HA_GS_NAME_TOO_LONG,
                        HA_GS_INVALID_SOURCE_GROUP);
}

ha_gs_rc_t toLeave(ha_gs_token_t token, const ha_gs_proposal_info_t *info, LeaveRequest &out)
{
    if (!info)
        return HA_GS_BAD_PARAMETER;
    const ha_gs_leave_request_t &l = info->gs_leave_request;
    out.token = token;
    out.numPhases = rawValue(l.gs_num_phases);
    out.timeLimit = l.gs_time_limit;
    if (!validTimeLimit(l.gs_time_limit))
        return HA_GS_BAD_PARAMETER;
    out.leaveCode = l.gs_leave_code;
    return HA_GS_OK;
}

ha_gs_rc_t toExpel(ha_gs_token_t token, const ha_gs_proposal_info_t *info, ExpelRequest &out)
{
    if (!info)
        return HA_GS_BAD_PARAMETER;
    const ha_gs_expel_request_t &e = info->gs_expel_request;
    const ha_gs_membership_t &list = e.gs_expel_list;
    if (list.gs_count == 0 || list.gs_count > HA_GS_MAX_PROVIDERS_PER_GROUP ||
        list.gs_providers == nullptr)
        return HA_GS_BAD_PARAMETER;
    out.token = token;
    out.numPhases = rawValue(e.gs_num_phases);
    out.timeLimit = e.gs_time_limit;
    if (!validTimeLimit(e.gs_time_limit))
        return HA_GS_BAD_PARAMETER;
    out.expelList.reserve(list.gs_count);
    for (unsigned int i = 0; i < list.gs_count; ++i)
        out.expelList.push_back(ProviderId{list.gs_providers[i].gs_instance_number,
                                           list.gs_providers[i].gs_node_number});
    out.deactivatePhase = e.gs_deactivate_phase;
    if (e.gs_deactivate_flag) {
        const size_t n = boundedLength(e.gs_deactivate_flag, HA_GS_MAX_DEACTIVATE_FLAG_LENGTH);
        if (n > HA_GS_MAX_DEACTIVATE_FLAG_LENGTH)
            return HA_GS_BAD_PARAMETER;
        out.deactivateFlag.assign(e.gs_deactivate_flag, n);
    }
    return HA_GS_OK;
}

ha_gs_rc_t toStateChange(ha_gs_token_t token, const ha_gs_proposal_info_t *info,
                         StateChangeRequest &out)
{
    if (!info)
        return HA_GS_BAD_PARAMETER;
    const ha_gs_state_change_request_t &s = info->gs_state_change_request;
    if (!s.gs_new_state)
        return HA_GS_BAD_PARAMETER;
    out.token = token;
    out.numPhases = rawValue(s.gs_num_phases);
    out.timeLimit = s.gs_time_limit;
    if (!validTimeLimit(s.gs_time_limit))
        return HA_GS_BAD_PARAMETER;
    return copyBytes(s.gs_new_state->gs_length, s.gs_new_state->gs_state,
                     HA_GS_MAX_STATE_VALUE_LENGTH, out.newState);
}

ha_gs_rc_t toMessage(ha_gs_token_t token, const ha_gs_proposal_info_t *info, MessageRequest &out)
{
    if (!info)
        return HA_GS_BAD_PARAMETER;
    const ha_gs_message_request_t &m = info->gs_message_request;
    if (!m.gs_message)
        return HA_GS_BAD_PARAMETER;
    out.token = token;
    out.numPhases = rawValue(m.gs_num_phases);
    out.timeLimit = m.gs_time_limit;
    if (!validTimeLimit(m.gs_time_limit))
        return HA_GS_BAD_PARAMETER;
    return copyBytes(m.gs_message->gs_length, m.gs_message->gs_message, HA_GS_MAX_MESSAGE_LENGTH,
                     out.message);
}

ha_gs_rc_t toAttributeChange(ha_gs_token_t token, const ha_gs_proposal_info_t *info,
                             AttributeChangeRequest &out)
{
    if (!info)
        return HA_GS_BAD_PARAMETER;
    const ha_gs_change_attributes_t &a = info->gs_attribute_change_request;
    if (!a.gs_group_attributes)
        return HA_GS_BAD_PARAMETER;
    out.token = token;
    out.numPhases = rawValue(a.gs_num_phases);
    out.timeLimit = a.gs_time_limit;
    if (!validTimeLimit(a.gs_time_limit))
        return HA_GS_BAD_PARAMETER;
    /* A name beyond the limit cannot be the group's own: it is an attempt to
     * change an immutable attribute. */
    return toAttributes(*a.gs_group_attributes, out.attributes, HA_GS_BAD_GROUP_ATTRIBUTES,
                        HA_GS_BAD_GROUP_ATTRIBUTES);
}

ha_gs_rc_t toVote(ha_gs_token_t token, const ha_gs_vote_value_t &vote,
                  const ha_gs_state_value_t *proposedState, const ha_gs_provider_message_t *message,
                  const ha_gs_vote_value_t &defaultVote, VoteRequest &out)
{
    const int voteValue = rawValue(vote);
    const int defaultValue = rawValue(defaultVote);
    if (!isVote(voteValue) || !isDefaultVote(defaultValue))
        return HA_GS_BAD_PARAMETER;
    out.token = token;
    out.vote = voteValue;
    out.defaultVote = defaultValue;
    if (proposedState) {
        Bytes b;
        if (ha_gs_rc_t rc = copyBytes(proposedState->gs_length, proposedState->gs_state,
                                      HA_GS_MAX_STATE_VALUE_LENGTH, b);
            rc != HA_GS_OK)
            return rc;
        out.proposedState = std::move(b);
    }
    if (message) {
        Bytes b;
        if (ha_gs_rc_t rc =
                copyBytes(message->gs_length, message->gs_message, HA_GS_MAX_MESSAGE_LENGTH, b);
            rc != HA_GS_OK)
            return rc;
        out.message = std::move(b);
    }
    return HA_GS_OK;
}

ha_gs_rc_t toSubscribe(const ha_gs_proposal_info_t *info, SubscribeRequest &out)
{
    if (!info)
        return HA_GS_BAD_PARAMETER;
    const ha_gs_subscribe_request_t &s = info->gs_subscribe_request;
    constexpr unsigned int kAny = HA_GS_SUBSCRIBE_STATE | HA_GS_SUBSCRIBE_DELTA_JOIN |
                                  HA_GS_SUBSCRIBE_DELTA_LEAVE | HA_GS_SUBSCRIBE_MEMBERSHIP;
    constexpr unsigned int kKnown = kAny | HA_GS_SUBSCRIBE_SPECIAL_DATA;
    if (!s.gs_subscription_callback || !s.gs_subscription_group)
        return HA_GS_BAD_PARAMETER;
    if ((s.gs_subscription_control & ~kKnown) != 0 || (s.gs_subscription_control & kAny) == 0)
        return HA_GS_BAD_PARAMETER;
    const size_t n = boundedLength(s.gs_subscription_group, HA_GS_MAX_GROUP_NAME_LENGTH);
    if (n > HA_GS_MAX_GROUP_NAME_LENGTH)
        return HA_GS_NAME_TOO_LONG;
    out.control = s.gs_subscription_control;
    out.group.assign(s.gs_subscription_group, n);
    return HA_GS_OK;
}

} // namespace gs::client
