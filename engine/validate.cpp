/* SPDX-License-Identifier: MIT */
#include "engine/validate.hpp"

#include "ha_gs.h"

namespace gs {

int validateGroupName(const std::string &name)
{
    if (name.empty())
        return HA_GS_INVALID_GROUP;
    if (name.size() > HA_GS_MAX_GROUP_NAME_LENGTH)
        return HA_GS_NAME_TOO_LONG;
    for (unsigned char c : name)
        if (c < 0x21 || c > 0x7e)
            return HA_GS_INVALID_GROUP;
    return HA_GS_OK;
}

namespace {

bool inRange(int v, int lo, int hi)
{
    return v >= lo && v <= hi;
}

int normalPhases(int phases)
{
    return phases == 0 ? HA_GS_1_PHASE : phases;
}

} // namespace

bool validNumPhases(int numPhases)
{
    return inRange(numPhases, 0, HA_GS_N_PHASE);
}

int validateAttributes(const GroupAttributes &a)
{
    const bool ok = a.version == 1 &&
                    a.sizeofAttributes == static_cast<int>(sizeof(ha_gs_group_attributes_t)) &&
                    inRange(a.batchControl, HA_GS_NO_BATCHING, HA_GS_BATCH_BOTH) &&
                    validNumPhases(a.numPhases) && validNumPhases(a.sourceReflectionNumPhases) &&
                    (a.defaultVote == HA_GS_NULL_VOTE || a.defaultVote == HA_GS_VOTE_APPROVE ||
                     a.defaultVote == HA_GS_VOTE_REJECT) &&
                    inRange(a.mergeControl, HA_GS_DEFAULT_MERGE, HA_GS_DISSOLVE_ON_MERGE) &&
                    validTimeLimit(a.timeLimit) && validTimeLimit(a.sourceReflectionTimeLimit);
    return ok ? HA_GS_OK : HA_GS_BAD_GROUP_ATTRIBUTES;
}

bool validTimeLimit(int seconds)
{
    return inRange(seconds, 0, HA_GS_TIME_LIMIT_CEILING);
}

int effectiveTimeLimit(int seconds)
{
    return seconds == 0 ? HA_GS_TIME_LIMIT_CEILING : seconds;
}

GroupAttributes normalizeAttributes(const GroupAttributes &a)
{
    GroupAttributes n = a;
    n.numPhases = normalPhases(a.numPhases);
    n.sourceReflectionNumPhases = normalPhases(a.sourceReflectionNumPhases);
    n.defaultVote = a.defaultVote == HA_GS_NULL_VOTE ? HA_GS_VOTE_APPROVE : a.defaultVote;
    n.timeLimit = effectiveTimeLimit(a.timeLimit);
    n.sourceReflectionTimeLimit = effectiveTimeLimit(a.sourceReflectionTimeLimit);
    return n;
}

bool sameGroupAttributes(const GroupAttributes &group, const GroupAttributes &joiner)
{
    return group.groupName == joiner.groupName && group.sourceGroupName == joiner.sourceGroupName &&
           group.mergeControl == joiner.mergeControl;
}

bool validVote(int vote, int defaultVote, const std::optional<Bytes> &state,
               const std::optional<Bytes> &message)
{
    const bool voteOk =
        vote == HA_GS_VOTE_APPROVE || vote == HA_GS_VOTE_CONTINUE || vote == HA_GS_VOTE_REJECT;
    const bool defaultOk = defaultVote == HA_GS_NULL_VOTE || defaultVote == HA_GS_VOTE_APPROVE ||
                           defaultVote == HA_GS_VOTE_REJECT;
    return voteOk && defaultOk && (!state || state->size() <= HA_GS_MAX_STATE_VALUE_LENGTH) &&
           (!message || message->size() <= HA_GS_MAX_MESSAGE_LENGTH);
}

bool validSubscriptionControl(uint32_t control)
{
    const uint32_t content = HA_GS_SUBSCRIBE_STATE | HA_GS_SUBSCRIBE_ALL_MEMBERSHIP;
    const uint32_t known = content | HA_GS_SUBSCRIBE_SPECIAL_DATA;
    return (control & ~known) == 0 && (control & content) != 0;
}

} // namespace gs
