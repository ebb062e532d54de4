/* SPDX-License-Identifier: MIT */
#include "common/names.hpp"

#include "ha_gs.h"

#include <array>
#include <utility>

namespace gs::names {

namespace {

#define GS_NAME(x)                                                                                 \
    std::pair<int, const char *>                                                                   \
    {                                                                                              \
        x, #x                                                                                      \
    }

constexpr std::array kReturnCodes{
    GS_NAME(HA_GS_OK),
    GS_NAME(HA_GS_NOT_OK),
    GS_NAME(HA_GS_EXISTS),
    GS_NAME(HA_GS_NO_INIT),
    GS_NAME(HA_GS_NAME_TOO_LONG),
    GS_NAME(HA_GS_NO_MEMORY),
    GS_NAME(HA_GS_NOT_A_MEMBER),
    GS_NAME(HA_GS_BAD_CLIENT_TOKEN),
    GS_NAME(HA_GS_BAD_MEMBER_TOKEN),
    GS_NAME(HA_GS_BAD_PARAMETER),
    GS_NAME(HA_GS_UNKNOWN_GROUP),
    GS_NAME(HA_GS_INVALID_GROUP),
    GS_NAME(HA_GS_NO_SOURCE_GROUP_PROVIDER),
    GS_NAME(HA_GS_BAD_GROUP_ATTRIBUTES),
    GS_NAME(HA_GS_WRONG_OLD_STATE),
    GS_NAME(HA_GS_DUPLICATE_INSTANCE_NUMBER),
    GS_NAME(HA_GS_COLLIDE),
    GS_NAME(HA_GS_SOCK_CREATE_FAILED),
    GS_NAME(HA_GS_SOCK_INIT_FAILED),
    GS_NAME(HA_GS_CONNECT_FAILED),
    GS_NAME(HA_GS_VOTE_NOT_EXPECTED),
    GS_NAME(HA_GS_NOT_SUPPORTED),
    GS_NAME(HA_GS_INVALID_SOURCE_GROUP),
    GS_NAME(HA_GS_UNKNOWN_PROVIDER),
    GS_NAME(HA_GS_INVALID_DEACTIVATE_PHASE),
    GS_NAME(HA_GS_BACKLEVEL_PROVIDERS),
    GS_NAME(HA_GS_DOMAIN_NOT_RECOG),
    GS_NAME(HA_GS_TOO_MANY_GROUPS),
    GS_NAME(HA_GS_NOT_AUTHORIZED),
};

constexpr std::array kRequests{
    GS_NAME(HA_GS_JOIN),
    GS_NAME(HA_GS_LEAVE),
    GS_NAME(HA_GS_FAILURE_LEAVE),
    GS_NAME(HA_GS_EXPEL),
    GS_NAME(HA_GS_CAST_OUT),
    GS_NAME(HA_GS_STATE_VALUE_CHANGE),
    GS_NAME(HA_GS_PROVIDER_MESSAGE),
    GS_NAME(HA_GS_GROUP_ATTRIBUTE_CHANGE),
    GS_NAME(HA_GS_SOURCE_STATE_REFLECTION),
    GS_NAME(HA_GS_MERGE),
    GS_NAME(HA_GS_SUBSCRIPTION),
};

constexpr std::array kVotes{
    GS_NAME(HA_GS_NULL_VOTE),
    GS_NAME(HA_GS_VOTE_APPROVE),
    GS_NAME(HA_GS_VOTE_CONTINUE),
    GS_NAME(HA_GS_VOTE_REJECT),
};

constexpr std::array kSummaryBits{
    GS_NAME(HA_GS_EXPLICIT_APPROVE),
    GS_NAME(HA_GS_EXPLICIT_REJECT),
    GS_NAME(HA_GS_DEFAULT_APPROVE),
    GS_NAME(HA_GS_DEFAULT_REJECT),
    GS_NAME(HA_GS_TIME_LIMIT_EXCEEDED),
    GS_NAME(HA_GS_PROVIDER_FAILED),
    GS_NAME(HA_GS_RESPONSIVENESS_NO_RESPONSE),
    GS_NAME(HA_GS_RESPONSIVENESS_RESPONSE),
    GS_NAME(HA_GS_DEACTIVATE_SUCCESSFUL),
    GS_NAME(HA_GS_DEACTIVATE_UNSUCCESSFUL),
    GS_NAME(HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED),
    GS_NAME(HA_GS_GROUP_DISSOLVED),
};

constexpr std::array kSubscriptionBits{
    GS_NAME(HA_GS_SUBSCRIPTION_STATE),        GS_NAME(HA_GS_SUBSCRIPTION_DELTA_JOIN),
    GS_NAME(HA_GS_SUBSCRIPTION_DELTA_LEAVE),  GS_NAME(HA_GS_SUBSCRIPTION_MEMBERSHIP),
    GS_NAME(HA_GS_SUBSCRIPTION_SPECIAL_DATA), GS_NAME(HA_GS_SUBSCRIPTION_DISSOLVED),
    GS_NAME(HA_GS_SUBSCRIPTION_GS_HAS_DIED),
};

#undef GS_NAME

template <class Table>
std::string lookup(const Table &table, int value)
{
    for (const auto &[number, name] : table)
        if (number == value)
            return name;
    return std::to_string(value);
}

template <class Table>
std::vector<std::string> bits(const Table &table, uint32_t code)
{
    std::vector<std::string> set;
    uint32_t known = 0;
    for (const auto &[bit, name] : table) {
        known |= static_cast<uint32_t>(bit);
        if (code & static_cast<uint32_t>(bit))
            set.emplace_back(name);
    }
    /* Bits the header does not name (a newer peer's) are not dropped. */
    if (const uint32_t unknown = code & ~known)
        set.push_back(std::to_string(unknown));
    return set;
}

} // namespace

std::string rc(int rc)
{
    return lookup(kReturnCodes, rc);
}

std::string request(int type)
{
    return lookup(kRequests, type);
}

std::string vote(int vote)
{
    return lookup(kVotes, vote);
}

std::vector<std::string> summary(uint32_t code)
{
    return bits(kSummaryBits, code);
}

std::string summaryText(uint32_t code)
{
    std::string text;
    for (const std::string &name : summary(code))
        text += (text.empty() ? "" : "|") + name;
    return text.empty() ? "0" : text;
}

std::vector<std::string> subscription(uint32_t control)
{
    return bits(kSubscriptionBits, control);
}

} // namespace gs::names
