/* SPDX-License-Identifier: MIT */
#include "libha_gs/wire_ranges.hpp"
#include "common/overloaded.hpp"

#include <ha_gs.h>

#include <algorithm>
#include <variant>

namespace gs::client {

namespace {

/* Every bit ha_gs.h defines for the field. */
constexpr uint32_t kSummaryBits =
    HA_GS_EXPLICIT_APPROVE | HA_GS_EXPLICIT_REJECT | HA_GS_DEFAULT_APPROVE | HA_GS_DEFAULT_REJECT |
    HA_GS_TIME_LIMIT_EXCEEDED | HA_GS_PROVIDER_FAILED | HA_GS_RESPONSIVENESS_NO_RESPONSE |
    HA_GS_RESPONSIVENESS_RESPONSE | HA_GS_DEACTIVATE_SUCCESSFUL | HA_GS_DEACTIVATE_UNSUCCESSFUL |
    HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED | HA_GS_GROUP_DISSOLVED;

constexpr uint32_t kSubscriptionTypeBits =
    HA_GS_SUBSCRIPTION_STATE | HA_GS_SUBSCRIPTION_DELTA_JOIN | HA_GS_SUBSCRIPTION_DELTA_LEAVE |
    HA_GS_SUBSCRIPTION_MEMBERSHIP | HA_GS_SUBSCRIPTION_SPECIAL_DATA | HA_GS_SUBSCRIPTION_DISSOLVED |
    HA_GS_SUBSCRIPTION_GS_HAS_DIED;

} // namespace

/* The switches below list the enumerators by name rather than compare with
 * the first and last one, so a set stays right even if ha_gs.h ever numbers
 * an enum with gaps. */

bool validReturnCode(int rc)
{
    switch (rc) {
    case HA_GS_OK:
    case HA_GS_NOT_OK:
    case HA_GS_EXISTS:
    case HA_GS_NO_INIT:
    case HA_GS_NAME_TOO_LONG:
    case HA_GS_NO_MEMORY:
    case HA_GS_NOT_A_MEMBER:
    case HA_GS_BAD_CLIENT_TOKEN:
    case HA_GS_BAD_MEMBER_TOKEN:
    case HA_GS_BAD_PARAMETER:
    case HA_GS_UNKNOWN_GROUP:
    case HA_GS_INVALID_GROUP:
    case HA_GS_NO_SOURCE_GROUP_PROVIDER:
    case HA_GS_BAD_GROUP_ATTRIBUTES:
    case HA_GS_WRONG_OLD_STATE:
    case HA_GS_DUPLICATE_INSTANCE_NUMBER:
    case HA_GS_COLLIDE:
    case HA_GS_SOCK_CREATE_FAILED:
    case HA_GS_SOCK_INIT_FAILED:
    case HA_GS_CONNECT_FAILED:
    case HA_GS_VOTE_NOT_EXPECTED:
    case HA_GS_NOT_SUPPORTED:
    case HA_GS_INVALID_SOURCE_GROUP:
    case HA_GS_UNKNOWN_PROVIDER:
    case HA_GS_INVALID_DEACTIVATE_PHASE:
    case HA_GS_BACKLEVEL_PROVIDERS:
    case HA_GS_DOMAIN_NOT_RECOG:
    case HA_GS_TOO_MANY_GROUPS:
    case HA_GS_NOT_AUTHORIZED:
        return true;
    default:
        return false;
    }
}

bool validProtocolType(int protocol)
{
    switch (protocol) {
    case HA_GS_JOIN:
    case HA_GS_LEAVE:
    case HA_GS_FAILURE_LEAVE:
    case HA_GS_EXPEL:
    case HA_GS_CAST_OUT:
    case HA_GS_STATE_VALUE_CHANGE:
    case HA_GS_PROVIDER_MESSAGE:
    case HA_GS_GROUP_ATTRIBUTE_CHANGE:
    case HA_GS_SOURCE_STATE_REFLECTION:
    case HA_GS_MERGE:
    case HA_GS_SUBSCRIPTION:
        return true;
    default:
        return false;
    }
}

bool validNumPhases(int numPhases)
{
    return numPhases == HA_GS_1_PHASE || numPhases == HA_GS_N_PHASE;
}

bool validAttributeNumPhases(int numPhases)
{
    return numPhases == 0 || validNumPhases(numPhases);
}

bool validBatchControl(int batchControl)
{
    switch (batchControl) {
    case HA_GS_NO_BATCHING:
    case HA_GS_BATCH_JOINS:
    case HA_GS_BATCH_LEAVES:
    case HA_GS_BATCH_BOTH:
        return true;
    default:
        return false;
    }
}

bool validVoteValue(int vote)
{
    switch (vote) {
    case HA_GS_NULL_VOTE:
    case HA_GS_VOTE_APPROVE:
    case HA_GS_VOTE_CONTINUE:
    case HA_GS_VOTE_REJECT:
        return true;
    default:
        return false;
    }
}

bool validMergeControl(int mergeControl)
{
    return mergeControl == HA_GS_DEFAULT_MERGE || mergeControl == HA_GS_DISSOLVE_ON_MERGE;
}

bool validLeaveReason(int reason)
{
    switch (reason) {
    case HA_GS_PROVIDER_LEFT:
    case HA_GS_PROVIDER_FAILED_LEAVE:
    case HA_GS_PROVIDER_SAID_GOODBYE:
    case HA_GS_PROVIDER_EXPELLED:
    case HA_GS_PROVIDER_CAST_OUT:
        return true;
    default:
        return false;
    }
}

bool validSummaryCode(uint32_t summary)
{
    return (summary & ~kSummaryBits) == 0;
}

bool validSubscriptionType(uint32_t type)
{
    return (type & ~kSubscriptionTypeBits) == 0;
}

bool validAttributes(const GroupAttributes &a)
{
    return validBatchControl(a.batchControl) && validAttributeNumPhases(a.numPhases) &&
           validAttributeNumPhases(a.sourceReflectionNumPhases) && validVoteValue(a.defaultVote) &&
           validMergeControl(a.mergeControl);
}

bool validProposal(const Proposal &p)
{
    /* Every entry, also of a leave list the builder would drop for not
     * matching the changing providers: the message is malformed either way. */
    return validNumPhases(p.numPhases) &&
           std::all_of(p.leaveInfo.begin(), p.leaveInfo.end(),
                       [](const LeaveInfo &l) { return validLeaveReason(l.reason); }) &&
           (!p.proposedAttributes || validAttributes(*p.proposedAttributes));
}

bool validNoteBody(const NoteBody &body)
{
    return std::visit(Overloaded{
                          [](const NPhaseNote &n) {
                              return validProtocolType(n.protocol) && validSummaryCode(n.summary) &&
                                     validProposal(n.proposal);
                          },
                          [](const ApprovedNote &n) {
                              return validProtocolType(n.protocol) && validSummaryCode(n.summary) &&
                                     validProposal(n.proposal);
                          },
                          [](const RejectedNote &n) {
                              return validProtocolType(n.protocol) && validSummaryCode(n.summary) &&
                                     validProposal(n.proposal);
                          },
                          [](const AnnouncementNote &n) { return validSummaryCode(n.summary); },
                          [](const SubscriptionNote &n) { return validSubscriptionType(n.type); },
                          [](const DelayedErrorNote &n) {
                              return validProtocolType(n.protocol) && validReturnCode(n.rc);
                          },
                      },
                      body);
}

bool validServerMessage(const wire::ServerMessage &message)
{
    if (const auto *welcome = std::get_if<wire::Welcome>(&message))
        return validReturnCode(welcome->rc);
    if (const auto *reply = std::get_if<wire::ReplyMsg>(&message))
        return validReturnCode(reply->rc);
    return true;
}

} // namespace gs::client
