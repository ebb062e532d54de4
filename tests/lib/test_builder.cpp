/* SPDX-License-Identifier: MIT */
/*
 * Library internals without gsd: decoded notifications -> C blocks
 * (NotificationBuilder), C requests -> gs::Request (requests.hpp), and the
 * private request copies behind delayed errors (TokenEntry).
 */
#include "libha_gs/notification_builder.hpp"
#include "libha_gs/requests.hpp"
#include "libha_gs/token_entry.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

using namespace gs;
using namespace gs::client;

namespace {

std::string str(const ha_gs_state_value_t *v)
{
    REQUIRE(v != nullptr);
    return std::string(v->gs_state, v->gs_length);
}

std::string members(const ha_gs_membership_t *m)
{
    REQUIRE(m != nullptr);
    std::string out;
    for (unsigned i = 0; i < m->gs_count; ++i)
        out += std::to_string(m->gs_providers[i].gs_instance_number) + "." +
               std::to_string(m->gs_providers[i].gs_node_number) + " ";
    return out;
}

Proposal sampleProposal()
{
    Proposal p;
    p.phaseNumber = 2;
    p.numPhases = HA_GS_N_PHASE;
    p.oldState = std::string("old\0state", 9);
    p.proposedState = "new";
    p.message = "hello";
    p.currentProviders = {{1, 1}, {2, 1}};
    p.changingProviders = {{2, 1}};
    p.leaveInfo = {{7, HA_GS_PROVIDER_SAID_GOODBYE}};
    return p;
}

void ignoreNPhase(const ha_gs_n_phase_notification_t *) {}
void ignoreApproved(const ha_gs_approved_notification_t *) {}
void ignoreRejected(const ha_gs_rejected_notification_t *) {}
void ignoreSubscription(const ha_gs_subscription_notification_t *) {}

} // namespace

TEST_CASE("builder: n-phase notification carries every proposal field")
{
    NotificationBuilder b;
    NPhaseNote note;
    note.protocol = HA_GS_FAILURE_LEAVE;
    note.summary = HA_GS_TIME_LIMIT_EXCEEDED;
    note.timeLimit = 30;
    note.proposal = sampleProposal();
    const ha_gs_n_phase_notification_t *n = b.nPhase(42, note);

    CHECK(n->gs_notification_type == HA_GS_N_PHASE_NOTIFICATION);
    CHECK(n->gs_provider_token == 42);
    CHECK(n->gs_protocol_type == HA_GS_FAILURE_LEAVE);
    CHECK(n->gs_summary_code == HA_GS_TIME_LIMIT_EXCEEDED);
    CHECK(n->gs_time_limit == 30);
    const ha_gs_proposal_t *p = n->gs_proposal;
    REQUIRE(p != nullptr);
    CHECK(p->gs_phase_info.gs_phase_number == 2);
    CHECK(p->gs_phase_info.gs_num_phases == HA_GS_N_PHASE);
    CHECK(str(p->gs_old_state_value) == std::string("old\0state", 9));
    CHECK(str(p->gs_proposed_state_value) == "new");
    REQUIRE(p->gs_provider_message != nullptr);
    CHECK(std::string(p->gs_provider_message->gs_message, p->gs_provider_message->gs_length) ==
          "hello");
    CHECK(members(p->gs_current_providers) == "1.1 2.1 ");
    CHECK(members(p->gs_changing_providers) == "2.1 ");
    REQUIRE(p->gs_leave_info != nullptr);
    CHECK(p->gs_leave_info[0].gs_leave_code == 7);
    CHECK(p->gs_leave_info[0].gs_leave_reason == HA_GS_PROVIDER_SAID_GOODBYE);
    CHECK(p->gs_expel_info == nullptr);
    CHECK(p->gs_proposed_group_attributes == nullptr);
    CHECK(p->gs_source_state_value == nullptr);
}

TEST_CASE("builder: pointers that do not apply are NULL, membership protocols get lists")
{
    NotificationBuilder b;
    ApprovedNote state;
    state.protocol = HA_GS_STATE_VALUE_CHANGE;
    state.summary = HA_GS_EXPLICIT_APPROVE;
    state.proposal.oldState = "";
    state.proposal.currentProviders = {{1, 1}};
    const ha_gs_approved_notification_t *a = b.approved(5, state);
    CHECK(a->gs_notification_type == HA_GS_APPROVED_NOTIFICATION);
    CHECK(a->gs_protocol_type == HA_GS_STATE_VALUE_CHANGE);
    const ha_gs_proposal_t *p = a->gs_proposal;
    /* An empty old state is still a value, with a valid pointer. */
    REQUIRE(p->gs_old_state_value != nullptr);
    CHECK(p->gs_old_state_value->gs_length == 0);
    CHECK(p->gs_old_state_value->gs_state != nullptr);
    CHECK(p->gs_proposed_state_value == nullptr);
    CHECK(p->gs_provider_message == nullptr);
    CHECK(p->gs_changing_providers == nullptr);
    CHECK(p->gs_leave_info == nullptr);

    RejectedNote join;
    join.protocol = HA_GS_JOIN;
    const ha_gs_rejected_notification_t *r = b.rejected(6, join);
    CHECK(r->gs_notification_type == HA_GS_REJECTED_NOTIFICATION);
    REQUIRE(r->gs_proposal->gs_changing_providers != nullptr);
    CHECK(r->gs_proposal->gs_changing_providers->gs_count == 0);
    CHECK(r->gs_proposal->gs_current_providers->gs_count == 0);
    CHECK(r->gs_proposal->gs_current_providers->gs_providers == nullptr);

    /* Earlier notifications survive later ones in the same builder. */
    CHECK(a->gs_provider_token == 5);
    CHECK(p->gs_current_providers->gs_providers[0].gs_instance_number == 1);
}

TEST_CASE("builder: expel info, attributes and source state")
{
    NotificationBuilder b;
    ApprovedNote note;
    note.protocol = HA_GS_EXPEL;
    note.proposal.changingProviders = {{3, 2}};
    note.proposal.expelInfo = ExpelInfo{1, "flag"};
    GroupAttributes attrs;
    attrs.groupName = "g";
    attrs.numPhases = HA_GS_N_PHASE;
    attrs.timeLimit = 12;
    note.proposal.proposedAttributes = attrs;
    note.proposal.sourceState = "src";
    const ha_gs_proposal_t *p = b.approved(1, note)->gs_proposal;
    REQUIRE(p->gs_expel_info != nullptr);
    CHECK(p->gs_expel_info->gs_deactivate_phase == 1);
    CHECK(std::string(p->gs_expel_info->gs_deactivate_flag) == "flag");
    /* No leave info from gsd: NULL, never a list of another length. */
    CHECK(p->gs_leave_info == nullptr);
    REQUIRE(p->gs_proposed_group_attributes != nullptr);
    CHECK(std::string(p->gs_proposed_group_attributes->gs_group_name) == "g");
    CHECK(std::string(p->gs_proposed_group_attributes->gs_source_group_name).empty());
    CHECK(p->gs_proposed_group_attributes->gs_num_phases == HA_GS_N_PHASE);
    CHECK(p->gs_proposed_group_attributes->gs_time_limit == 12);
    CHECK(p->gs_proposed_group_attributes->gs_sizeof_group_attributes ==
          static_cast<int>(sizeof(ha_gs_group_attributes_t)));
    CHECK(str(p->gs_source_state_value) == "src");
}

TEST_CASE("builder: announcement, subscription, delayed error, responsiveness")
{
    NotificationBuilder b;
    AnnouncementNote ann;
    ann.summary = HA_GS_RESPONSIVENESS_NO_RESPONSE;
    ann.providers = {{4, 1}};
    const ha_gs_announcement_notification_t *a = b.announcement(9, ann);
    CHECK(a->gs_notification_type == HA_GS_ANNOUNCEMENT_NOTIFICATION);
    CHECK(a->gs_provider_token == 9);
    CHECK(a->gs_summary_code == HA_GS_RESPONSIVENESS_NO_RESPONSE);
    CHECK(members(a->gs_announcement) == "4.1 ");

    SubscriptionNote sub;
    sub.type = HA_GS_SUBSCRIPTION_STATE | HA_GS_SUBSCRIPTION_DELTA_JOIN;
    sub.state = "s";
    sub.changingMembership = std::vector<ProviderId>{{1, 1}, {2, 1}};
    const ha_gs_subscription_notification_t *s = b.subscription(11, sub);
    CHECK(s->gs_notification_type == HA_GS_SUBSCRIPTION_NOTIFICATION);
    CHECK(s->gs_subscriber_token == 11);
    CHECK(s->gs_subscription_type == (HA_GS_SUBSCRIPTION_STATE | HA_GS_SUBSCRIPTION_DELTA_JOIN));
    CHECK(str(s->gs_state_value) == "s");
    CHECK(s->gs_full_membership == nullptr);
    CHECK(members(s->gs_changing_membership) == "1.1 2.1 ");
    CHECK(s->gs_subscription_special_data == nullptr);

    ha_gs_proposal_info_t original;
    std::memset(&original, 0, sizeof original);
    DelayedErrorNote err;
    err.protocol = HA_GS_SUBSCRIPTION;
    err.rc = HA_GS_UNKNOWN_GROUP;
    const ha_gs_delayed_error_notification_t *d = b.delayedError(13, err, &original);
    CHECK(d->gs_notification_type == HA_GS_DELAYED_ERROR_NOTIFICATION);
    CHECK(d->gs_request_token == 13);
    CHECK(d->gs_protocol_type == HA_GS_SUBSCRIPTION);
    CHECK(d->gs_delayed_return_code == HA_GS_UNKNOWN_GROUP);
    CHECK(d->gs_failing_request == &original);

    ha_gs_responsiveness_t settings;
    std::memset(&settings, 0, sizeof settings);
    settings.gs_responsiveness_type = HA_GS_PING_RESPONSIVENESS;
    settings.gs_responsiveness_interval = 3;
    settings.gs_responsiveness_response_time_limit = 2;
    const ha_gs_responsiveness_notification_t *r = b.responsiveness(settings);
    CHECK(r->gs_notification_type == HA_GS_RESPONSIVENESS_NOTIFICATION);
    CHECK(r->gs_responsiveness_information.gs_responsiveness_interval == 3);
    CHECK(r->gs_responsiveness_information.gs_responsiveness_response_time_limit == 2);
}

TEST_CASE("requests: join checks what only the library can check")
{
    ha_gs_group_attributes_t attrs;
    std::memset(&attrs, 0, sizeof attrs);
    attrs.gs_version = 1;
    attrs.gs_sizeof_group_attributes = sizeof attrs;
    attrs.gs_group_name = "grp";
    attrs.gs_num_phases = HA_GS_N_PHASE;
    attrs.gs_time_limit = 5;
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    ha_gs_join_request_t &j = info.gs_join_request;
    j.gs_group_attributes = &attrs;
    j.gs_provider_instance = 3;
    j.gs_provider_local_name = "me";
    j.gs_n_phase_protocol_callback = ignoreNPhase;
    j.gs_protocol_approved_callback = ignoreApproved;
    j.gs_protocol_rejected_callback = ignoreRejected;

    JoinRequest r;
    REQUIRE(toJoin(&info, r) == HA_GS_OK);
    CHECK(r.instance == 3);
    CHECK(r.localName == "me");
    CHECK(r.attributes.groupName == "grp");
    CHECK(r.attributes.sourceGroupName.empty());
    CHECK(r.attributes.numPhases == HA_GS_N_PHASE);
    CHECK(r.attributes.timeLimit == 5);
    CHECK(r.attributes.sizeofAttributes == static_cast<int>(sizeof attrs));

    CHECK(toJoin(nullptr, r) == HA_GS_BAD_PARAMETER);
    j.gs_protocol_rejected_callback = nullptr;
    CHECK(toJoin(&info, r) == HA_GS_BAD_PARAMETER);
    j.gs_protocol_rejected_callback = ignoreRejected;
    j.gs_provider_instance = -1;
    CHECK(toJoin(&info, r) == HA_GS_BAD_PARAMETER);
    j.gs_provider_instance = 3;

    const std::string longest(HA_GS_MAX_GROUP_NAME_LENGTH, 'n');
    const std::string tooLong(HA_GS_MAX_GROUP_NAME_LENGTH + 1, 'n');
    attrs.gs_group_name = longest.c_str();
    JoinRequest ok;
    CHECK(toJoin(&info, ok) == HA_GS_OK);
    CHECK(ok.attributes.groupName == longest);
    attrs.gs_group_name = tooLong.c_str();
    CHECK(toJoin(&info, r) == HA_GS_NAME_TOO_LONG);
    attrs.gs_group_name = nullptr;
    CHECK(toJoin(&info, r) == HA_GS_BAD_PARAMETER);
    attrs.gs_group_name = "grp";
    attrs.gs_source_group_name = tooLong.c_str();
    CHECK(toJoin(&info, r) == HA_GS_INVALID_SOURCE_GROUP);
    attrs.gs_source_group_name = nullptr;

    const std::string longLocal(HA_GS_MAX_LOCAL_NAME_LENGTH + 1, 'l');
    j.gs_provider_local_name = longLocal.c_str();
    CHECK(toJoin(&info, r) == HA_GS_BAD_PARAMETER);
}

TEST_CASE("requests: sizes are enforced, never truncated")
{
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    std::string big(HA_GS_MAX_STATE_VALUE_LENGTH + 1, 's');
    ha_gs_state_value_t sv{static_cast<unsigned>(big.size()), big.data()};
    info.gs_state_change_request.gs_new_state = &sv;
    StateChangeRequest sc;
    CHECK(toStateChange(1, &info, sc) == HA_GS_BAD_PARAMETER);
    sv.gs_length = HA_GS_MAX_STATE_VALUE_LENGTH;
    REQUIRE(toStateChange(1, &info, sc) == HA_GS_OK);
    CHECK(sc.newState.size() == HA_GS_MAX_STATE_VALUE_LENGTH);
    CHECK(sc.token == 1);
    sv.gs_length = 0;
    sv.gs_state = nullptr;
    CHECK(toStateChange(1, &info, sc) == HA_GS_OK);
    CHECK(sc.newState.empty());
    sv.gs_length = 1;
    CHECK(toStateChange(1, &info, sc) == HA_GS_BAD_PARAMETER);
    info.gs_state_change_request.gs_new_state = nullptr;
    CHECK(toStateChange(1, &info, sc) == HA_GS_BAD_PARAMETER);

    std::memset(&info, 0, sizeof info);
    ha_gs_provider_message_t mv{HA_GS_MAX_MESSAGE_LENGTH + 1u, big.data()};
    info.gs_message_request.gs_message = &mv;
    MessageRequest m;
    CHECK(toMessage(1, &info, m) == HA_GS_BAD_PARAMETER);
    mv.gs_length = 3;
    REQUIRE(toMessage(1, &info, m) == HA_GS_OK);
    CHECK(m.message == "sss");

    std::memset(&info, 0, sizeof info);
    ExpelRequest e;
    CHECK(toExpel(1, &info, e) == HA_GS_BAD_PARAMETER); /* empty list */
    ha_gs_provider_t who[2] = {{1, 1}, {2, 1}};
    info.gs_expel_request.gs_expel_list.gs_count = 2;
    info.gs_expel_request.gs_expel_list.gs_providers = who;
    const std::string flag(HA_GS_MAX_DEACTIVATE_FLAG_LENGTH + 1, 'f');
    info.gs_expel_request.gs_deactivate_flag = flag.c_str();
    CHECK(toExpel(1, &info, e) == HA_GS_BAD_PARAMETER);
    info.gs_expel_request.gs_deactivate_flag = "f";
    ExpelRequest e2;
    REQUIRE(toExpel(1, &info, e2) == HA_GS_OK);
    CHECK(e2.expelList.size() == 2);
    CHECK(e2.expelList[1] == ProviderId{2, 1});
    CHECK(e2.deactivateFlag == "f");
}

TEST_CASE("requests: votes and subscriptions")
{
    VoteRequest v;
    CHECK(toVote(1, HA_GS_NULL_VOTE, nullptr, nullptr, HA_GS_NULL_VOTE, v) == HA_GS_BAD_PARAMETER);
    CHECK(toVote(1, HA_GS_VOTE_APPROVE, nullptr, nullptr, HA_GS_VOTE_CONTINUE, v) ==
          HA_GS_BAD_PARAMETER);
    char data[] = "ab";
    ha_gs_state_value_t sv{2, data};
    ha_gs_provider_message_t mv{1, data};
    REQUIRE(toVote(4, HA_GS_VOTE_CONTINUE, &sv, &mv, HA_GS_VOTE_REJECT, v) == HA_GS_OK);
    CHECK(v.token == 4);
    CHECK(v.vote == HA_GS_VOTE_CONTINUE);
    CHECK(v.defaultVote == HA_GS_VOTE_REJECT);
    CHECK(v.proposedState == std::optional<Bytes>("ab"));
    CHECK(v.message == std::optional<Bytes>("a"));

    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    ha_gs_subscribe_request_t &s = info.gs_subscribe_request;
    s.gs_subscription_group = "g";
    s.gs_subscription_callback = ignoreSubscription;
    SubscribeRequest r;
    CHECK(toSubscribe(&info, r) == HA_GS_BAD_PARAMETER); /* no flag */
    s.gs_subscription_control = HA_GS_SUBSCRIBE_SPECIAL_DATA;
    CHECK(toSubscribe(&info, r) == HA_GS_BAD_PARAMETER); /* special data alone */
    s.gs_subscription_control = HA_GS_SUBSCRIBE_STATE | 0x100u;
    CHECK(toSubscribe(&info, r) == HA_GS_BAD_PARAMETER);
    s.gs_subscription_control = HA_GS_SUBSCRIBE_ALL_MEMBERSHIP;
    REQUIRE(toSubscribe(&info, r) == HA_GS_OK);
    CHECK(r.group == "g");
    CHECK(r.control == HA_GS_SUBSCRIBE_ALL_MEMBERSHIP);
    s.gs_subscription_callback = nullptr;
    CHECK(toSubscribe(&info, r) == HA_GS_BAD_PARAMETER);
    s.gs_subscription_callback = ignoreSubscription;
    const std::string tooLong(HA_GS_MAX_GROUP_NAME_LENGTH + 1, 'n');
    s.gs_subscription_group = tooLong.c_str();
    CHECK(toSubscribe(&info, r) == HA_GS_NAME_TOO_LONG);
}

TEST_CASE("token entry: a private copy of the request, strings included")
{
    char name[] = "group-a";
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    info.gs_subscribe_request.gs_subscription_control = HA_GS_SUBSCRIBE_STATE;
    info.gs_subscribe_request.gs_subscription_group = name;
    info.gs_subscribe_request.gs_subscription_callback = ignoreSubscription;
    auto sub = TokenEntry::forSubscribe(info.gs_subscribe_request);
    name[0] = 'X'; /* the application reuses its buffer */
    CHECK(sub->kind() == TokenEntry::Kind::Subscriber);
    CHECK(sub->group() == "group-a");
    CHECK(std::string(sub->request()->gs_subscribe_request.gs_subscription_group) == "group-a");
    CHECK(sub->request()->gs_subscribe_request.gs_subscription_control == HA_GS_SUBSCRIBE_STATE);
    CHECK((sub->subscribe().gs_subscription_callback == ignoreSubscription));

    char gname[] = "prov";
    char local[] = "loc";
    ha_gs_group_attributes_t attrs;
    std::memset(&attrs, 0, sizeof attrs);
    attrs.gs_group_name = gname;
    attrs.gs_source_group_name = nullptr;
    std::memset(&info, 0, sizeof info);
    info.gs_join_request.gs_group_attributes = &attrs;
    info.gs_join_request.gs_provider_local_name = local;
    info.gs_join_request.gs_n_phase_protocol_callback = ignoreNPhase;
    auto prov = TokenEntry::forJoin(info.gs_join_request);
    gname[0] = 'X';
    local[0] = 'X';
    attrs.gs_time_limit = 99;
    CHECK(prov->kind() == TokenEntry::Kind::Provider);
    CHECK(prov->group() == "prov");
    const ha_gs_join_request_t &copy = prov->request()->gs_join_request;
    REQUIRE(copy.gs_group_attributes != nullptr);
    CHECK(copy.gs_group_attributes != &attrs);
    CHECK(std::string(copy.gs_group_attributes->gs_group_name) == "prov");
    CHECK(copy.gs_group_attributes->gs_source_group_name == nullptr);
    CHECK(copy.gs_group_attributes->gs_time_limit == 0);
    CHECK(std::string(copy.gs_provider_local_name) == "loc");
    CHECK((copy.gs_n_phase_protocol_callback == ignoreNPhase));
}
