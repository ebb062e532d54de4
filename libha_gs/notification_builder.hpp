/* SPDX-License-Identifier: MIT */
/*
 * Turns decoded notifications (common/model.hpp) into the C blocks of ha_gs.h.
 *
 * A NotificationBuilder owns every byte the blocks point to, so a callback
 * may read them exactly as long as the builder lives: the library keeps one
 * on the stack for the duration of each callback. Each build* call adds one
 * notification; the returned pointer stays valid until the builder dies.
 * Storage sits in forward lists: earlier pointers survive later additions,
 * and a list that is never used costs no allocation (one builder is made per
 * callback).
 *
 * The notes must pass validNoteBody (wire_ranges.hpp): their enum-valued
 * integers are cast to ha_gs.h's enums, which is undefined behaviour for a
 * value the enum does not define. Session checks every body on receipt.
 */
#pragma once

#include "common/model.hpp"

#include <ha_gs.h>

#include <forward_list>
#include <string>
#include <vector>

namespace gs::client {

class NotificationBuilder {
  public:
    NotificationBuilder() = default;
    NotificationBuilder(const NotificationBuilder &) = delete;
    NotificationBuilder &operator=(const NotificationBuilder &) = delete;

    const ha_gs_n_phase_notification_t *nPhase(Token token, const NPhaseNote &note);
    const ha_gs_approved_notification_t *approved(Token token, const ApprovedNote &note);
    const ha_gs_rejected_notification_t *rejected(Token token, const RejectedNote &note);
    const ha_gs_announcement_notification_t *announcement(Token token,
                                                          const AnnouncementNote &note);
    const ha_gs_subscription_notification_t *subscription(Token token,
                                                          const SubscriptionNote &note);
    /* failingRequest: the library's copy of the request that created the
     * token; it must outlive the builder's use. */
    const ha_gs_delayed_error_notification_t *
    delayedError(Token token, const DelayedErrorNote &note,
                 const ha_gs_proposal_info_t *failingRequest);
    const ha_gs_responsiveness_notification_t *
    responsiveness(const ha_gs_responsiveness_t &settings);

  private:
    ha_gs_proposal_t *proposal(const Proposal &p, int protocol);
    ha_gs_state_value_t *stateValue(const Bytes &bytes);
    ha_gs_provider_message_t *message(const Bytes &bytes);
    ha_gs_membership_t *membership(const std::vector<ProviderId> &providers);
    ha_gs_group_attributes_t *attributes(const GroupAttributes &a);
    char *bytes(const Bytes &b);
    const char *text(const std::string &s);

    std::forward_list<std::string> strings_;
    std::forward_list<std::vector<ha_gs_provider_t>> providerLists_;
    std::forward_list<std::vector<ha_gs_leave_info_t>> leaveLists_;
    std::forward_list<ha_gs_state_value_t> stateValues_;
    std::forward_list<ha_gs_provider_message_t> messages_;
    std::forward_list<ha_gs_membership_t> memberships_;
    std::forward_list<ha_gs_expel_info_t> expelInfos_;
    std::forward_list<ha_gs_group_attributes_t> attributes_;
    std::forward_list<ha_gs_proposal_t> proposals_;
    std::forward_list<ha_gs_n_phase_notification_t> nPhases_;
    std::forward_list<ha_gs_approved_notification_t> approveds_;
    std::forward_list<ha_gs_rejected_notification_t> rejecteds_;
    std::forward_list<ha_gs_announcement_notification_t> announcements_;
    std::forward_list<ha_gs_subscription_notification_t> subscriptions_;
    std::forward_list<ha_gs_delayed_error_notification_t> delayedErrors_;
    std::forward_list<ha_gs_responsiveness_notification_t> responsivenesses_;
};

/* True for the protocols whose proposal names changing providers. */
bool changesMembership(int protocol);

} // namespace gs::client
