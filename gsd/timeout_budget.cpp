/* SPDX-License-Identifier: MIT */
#include "gsd/timeout_budget.hpp"

#include "cmm.h"
#include "ha_gs.h"

#include <fmt/format.h>

#include <algorithm>

namespace gs::broker {
namespace {

/* What is left for the wait, or a problem when below the floor. */
milliseconds waitWithin(const char *client, milliseconds timeout, milliseconds worst,
                        milliseconds cap, milliseconds floor, std::vector<std::string> &problems)
{
    const milliseconds left = timeout - worst - kReplyMargin;
    if (left >= floor)
        return std::min(left, cap);
    problems.push_back(fmt::format(
        "a {} call (timeout {} ms) needs the domain to deliver within {} ms: token + consensus "
        "must stay within {} ms",
        client, timeout.count(), (timeout - floor - kReplyMargin).count(),
        (timeout - floor - kReplyMargin - kSyncAllowance).count()));
    return floor;
}

} // namespace

TimeoutPlan planTimeouts(TotemTimes totem)
{
    return planTimeouts(totem, milliseconds(HA_GS_REQUEST_TIMEOUT_MS),
                        milliseconds(CMM_DEFAULT_TIMEOUT_SEC * 1000));
}

TimeoutPlan planTimeouts(TotemTimes totem, milliseconds gsapiTimeout, milliseconds cmmTimeout)
{
    TimeoutPlan plan;
    plan.worstDelivery = totem.token + totem.consensus + kSyncAllowance;
    plan.gsapiWait = waitWithin("GSAPI", gsapiTimeout, plan.worstDelivery, kGsapiWaitCap,
                                kGsapiWaitFloor, plan.problems);
    plan.cmmWait = waitWithin("CMM", cmmTimeout, plan.worstDelivery, kCmmWaitCap, kCmmWaitFloor,
                              plan.problems);
    return plan;
}

} // namespace gs::broker
