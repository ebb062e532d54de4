/* SPDX-License-Identifier: MIT */
#include "gsd/timeout_budget.hpp"

#include "cmm.h"
#include "ha_gs.h"

#include <fmt/format.h>

#include <algorithm>

namespace gs::broker {

TimeoutPlan planTimeouts(TotemTimes totem)
{
    return planTimeouts(totem, milliseconds(HA_GS_REQUEST_TIMEOUT_MS),
                        milliseconds(CMM_DEFAULT_TIMEOUT_SEC * 1000));
}

TimeoutPlan planTimeouts(TotemTimes totem, milliseconds gsapiTimeout, milliseconds cmmTimeout)
{
    TimeoutPlan plan;
    plan.worstDelivery = totem.token + totem.consensus + kSyncAllowance;
    const auto check = [&](const char *client, milliseconds timeout) {
        const milliseconds left = timeout - plan.worstDelivery - kReplyMargin;
        if (left < kWaitFloor)
            plan.problems.push_back(
                fmt::format("a {} call (timeout {} ms) needs a request handed on within {} ms "
                            "delivered within {} ms: token + consensus must stay within {} ms",
                            client, timeout.count(), kWaitFloor.count(),
                            (timeout - kWaitFloor - kReplyMargin).count(),
                            (timeout - kWaitFloor - kReplyMargin - kSyncAllowance).count()));
        return left;
    };
    const milliseconds left = std::min(check("GSAPI", gsapiTimeout), check("CMM", cmmTimeout));
    plan.orderWait = std::clamp(left, kWaitFloor, kWaitCap);
    return plan;
}

} // namespace gs::broker
