/* SPDX-License-Identifier: MIT */
#include "libha_gs/notification_builder.hpp"

namespace gs::client {

bool changesMembership(int protocol)
{
    switch (protocol) {
    case HA_GS_JOIN:
    case HA_GS_LEAVE:
    case HA_GS_FAILURE_LEAVE:
    case HA_GS_EXPEL:
    case HA_GS_CAST_OUT:
    case HA_GS_MERGE:
        return true;
    default:
        return false;
    }
}

char *NotificationBuilder::bytes(const Bytes &b)
{
    /* std::string keeps a NUL after the bytes, so even an empty value gets a
     * valid pointer and applications that print a state as text stay safe. */
    return strings_.emplace_front(b).data();
}

const char *NotificationBuilder::text(const std::string &s)
{
    return strings_.emplace_front(s).c_str();
}

ha_gs_state_value_t *NotificationBuilder::stateValue(const Bytes &b)
{
    ha_gs_state_value_t &v = stateValues_.emplace_front();
    v.gs_length = static_cast<unsigned int>(b.size());
    v.gs_state = bytes(b);
    return &v;
}

ha_gs_provider_message_t *NotificationBuilder::message(const Bytes &b)
{
    ha_gs_provider_message_t &m = messages_.emplace_front();
    m.gs_length = static_cast<unsigned int>(b.size());
    m.gs_message = bytes(b);
    return &m;
}

ha_gs_membership_t *NotificationBuilder::membership(const std::vector<ProviderId> &providers)
{
    std::vector<ha_gs_provider_t> &list = providerLists_.emplace_front();
    list.reserve(providers.size());
    for (const ProviderId &p : providers) {
        ha_gs_provider_t c{};
        c.gs_instance_number = p.instance;
        c.gs_node_number = p.node;
        list.push_back(c);
    }
    ha_gs_membership_t &m = memberships_.emplace_front();
    m.gs_count = static_cast<unsigned int>(list.size());
    /* An empty list still gets NULL rather than a dangling vector pointer. */
    m.gs_providers = list.empty() ? nullptr : list.data();
    return &m;
}

ha_gs_group_attributes_t *NotificationBuilder::attributes(const GroupAttributes &a)
{
    ha_gs_group_attributes_t &c = attributes_.emplace_front();
    c.gs_version = a.version;
    c.gs_sizeof_group_attributes = static_cast<int>(sizeof(ha_gs_group_attributes_t));
    c.gs_client_version = a.clientVersion;
    c.gs_batch_control = static_cast<ha_gs_batch_ctrl_t>(a.batchControl);
    c.gs_num_phases = static_cast<ha_gs_num_phases_t>(a.numPhases);
    c.gs_source_reflection_num_phases =
        static_cast<ha_gs_num_phases_t>(a.sourceReflectionNumPhases);
    c.gs_group_default_vote = static_cast<ha_gs_vote_value_t>(a.defaultVote);
    c.gs_merge_control = static_cast<ha_gs_merge_ctrl_t>(a.mergeControl);
    c.gs_time_limit = a.timeLimit;
    c.gs_source_reflection_time_limit = a.sourceReflectionTimeLimit;
    c.gs_group_name = text(a.groupName);
    /* Applications compare names with strcmp; "" (no source) is safer than NULL. */
    c.gs_source_group_name = text(a.sourceGroupName);
    return &c;
}

ha_gs_proposal_t *NotificationBuilder::proposal(const Proposal &p, int protocol)
{
    ha_gs_proposal_t &c = proposals_.emplace_front();
    c.gs_phase_info.gs_phase_number = p.phaseNumber;
    c.gs_phase_info.gs_num_phases = static_cast<ha_gs_num_phases_t>(p.numPhases);
    c.gs_old_state_value = stateValue(p.oldState);
    c.gs_proposed_state_value = p.proposedState ? stateValue(*p.proposedState) : nullptr;
    c.gs_provider_message = p.message ? message(*p.message) : nullptr;
    c.gs_current_providers = membership(p.currentProviders);
    /* The header promises NULL for pointers that do not apply; a membership
     * protocol always gets a list (possibly empty), others only if gsd sent
     * one. */
    c.gs_changing_providers = (changesMembership(protocol) || !p.changingProviders.empty())
                                  ? membership(p.changingProviders)
                                  : nullptr;
    if (!p.leaveInfo.empty() && p.leaveInfo.size() == p.changingProviders.size()) {
        std::vector<ha_gs_leave_info_t> &list = leaveLists_.emplace_front();
        list.reserve(p.leaveInfo.size());
        for (const LeaveInfo &l : p.leaveInfo) {
            ha_gs_leave_info_t e{};
            e.gs_leave_code = l.leaveCode;
            e.gs_leave_reason = static_cast<ha_gs_leave_reason_t>(l.reason);
            list.push_back(e);
        }
        c.gs_leave_info = list.data();
    } else {
        c.gs_leave_info = nullptr;
    }
    if (p.expelInfo) {
        ha_gs_expel_info_t &e = expelInfos_.emplace_front();
        e.gs_deactivate_phase = p.expelInfo->deactivatePhase;
        e.gs_deactivate_flag = text(p.expelInfo->deactivateFlag);
        c.gs_expel_info = &e;
    } else {
        c.gs_expel_info = nullptr;
    }
    c.gs_proposed_group_attributes =
        p.proposedAttributes ? attributes(*p.proposedAttributes) : nullptr;
    c.gs_source_state_value = p.sourceState ? stateValue(*p.sourceState) : nullptr;
    return &c;
}

const ha_gs_n_phase_notification_t *NotificationBuilder::nPhase(Token token, const NPhaseNote &note)
{
    ha_gs_n_phase_notification_t &n = nPhases_.emplace_front();
    n.gs_notification_type = HA_GS_N_PHASE_NOTIFICATION;
    n.gs_provider_token = token;
    n.gs_protocol_type = static_cast<ha_gs_request_t>(note.protocol);
    n.gs_summary_code = note.summary;
    n.gs_time_limit = note.timeLimit;
    n.gs_proposal = proposal(note.proposal, note.protocol);
    return &n;
}

const ha_gs_approved_notification_t *NotificationBuilder::approved(Token token,
                                                                   const ApprovedNote &note)
{
    ha_gs_approved_notification_t &n = approveds_.emplace_front();
    n.gs_notification_type = HA_GS_APPROVED_NOTIFICATION;
    n.gs_provider_token = token;
    n.gs_protocol_type = static_cast<ha_gs_request_t>(note.protocol);
    n.gs_summary_code = note.summary;
    n.gs_proposal = proposal(note.proposal, note.protocol);
    return &n;
}

const ha_gs_rejected_notification_t *NotificationBuilder::rejected(Token token,
                                                                   const RejectedNote &note)
{
    ha_gs_rejected_notification_t &n = rejecteds_.emplace_front();
    n.gs_notification_type = HA_GS_REJECTED_NOTIFICATION;
    n.gs_provider_token = token;
    n.gs_protocol_type = static_cast<ha_gs_request_t>(note.protocol);
    n.gs_summary_code = note.summary;
    n.gs_proposal = proposal(note.proposal, note.protocol);
    return &n;
}

const ha_gs_announcement_notification_t *
NotificationBuilder::announcement(Token token, const AnnouncementNote &note)
{
    ha_gs_announcement_notification_t &n = announcements_.emplace_front();
    n.gs_notification_type = HA_GS_ANNOUNCEMENT_NOTIFICATION;
    n.gs_provider_token = token;
    n.gs_summary_code = note.summary;
    n.gs_announcement = membership(note.providers);
    return &n;
}

const ha_gs_subscription_notification_t *
NotificationBuilder::subscription(Token token, const SubscriptionNote &note)
{
    ha_gs_subscription_notification_t &n = subscriptions_.emplace_front();
    n.gs_notification_type = HA_GS_SUBSCRIPTION_NOTIFICATION;
    n.gs_subscriber_token = token;
    n.gs_subscription_type = note.type;
    n.gs_state_value = note.state ? stateValue(*note.state) : nullptr;
    n.gs_full_membership = note.fullMembership ? membership(*note.fullMembership) : nullptr;
    n.gs_changing_membership =
        note.changingMembership ? membership(*note.changingMembership) : nullptr;
    /* gsd serves no adapter membership groups, so there is never special data. */
    n.gs_subscription_special_data = nullptr;
    return &n;
}

const ha_gs_delayed_error_notification_t *
NotificationBuilder::delayedError(Token token, const DelayedErrorNote &note,
                                  const ha_gs_proposal_info_t *failingRequest)
{
    ha_gs_delayed_error_notification_t &n = delayedErrors_.emplace_front();
    n.gs_notification_type = HA_GS_DELAYED_ERROR_NOTIFICATION;
    n.gs_request_token = token;
    n.gs_protocol_type = static_cast<ha_gs_request_t>(note.protocol);
    n.gs_delayed_return_code = static_cast<ha_gs_rc_t>(note.rc);
    n.gs_failing_request = failingRequest;
    return &n;
}

const ha_gs_responsiveness_notification_t *
NotificationBuilder::responsiveness(const ha_gs_responsiveness_t &settings)
{
    ha_gs_responsiveness_notification_t &n = responsivenesses_.emplace_front();
    n.gs_notification_type = HA_GS_RESPONSIVENESS_NOTIFICATION;
    n.gs_responsiveness_information = settings;
    return &n;
}

} // namespace gs::client
