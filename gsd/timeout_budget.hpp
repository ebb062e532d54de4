/* SPDX-License-Identifier: MIT */
/*
 * Whether a domain's failure detection fits the client libraries' timeouts
 * (contract.md §6, issue 13 "Timeouts"), and how long a client's request
 * may wait for the order to take it before gsd answers it itself
 * (BrokerConfig::orderWait).
 *
 * While the domain re-forms (a node lost: Corosync's token timeout, then
 * consensus, then the new membership's quorum and sync), nothing can be
 * ordered. A request handed to Corosync just before that window starts is
 * delivered at worst token + consensus + kSyncAllowance later; one still
 * waiting when the wait bound passes is withdrawn and answered at once. The
 * bound is what is left of the shorter library timeout (CMM's) after that
 * worst delivery and kReplyMargin, capped at kWaitCap: a client then always
 * has its answer before its library gives up on gsd. When even kWaitFloor
 * does not fit, the totem settings are too slow for the clients: gsd
 * refuses to start unless told otherwise (--allow-slow-totem), and then
 * uses the floor.
 */
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace gs::broker {

using std::chrono::milliseconds;

/* Corosync's effective totem timeouts (cmap runtime.config.totem.*). */
struct TotemTimes {
    milliseconds token{0};
    milliseconds consensus{0};
};

/* After the new ring formed: the votequorum notification, the departed
 * node's NodeGone, CPG's own sync. */
constexpr milliseconds kSyncAllowance{500};
/* The reply's way back to the client, and scheduling on a loaded node. */
constexpr milliseconds kReplyMargin{500};
constexpr milliseconds kWaitCap{3000};
constexpr milliseconds kWaitFloor{500};

struct TimeoutPlan {
    /* token + consensus + kSyncAllowance. */
    milliseconds worstDelivery{0};
    /* The wait bound (at least kWaitFloor). */
    milliseconds orderWait{0};
    /* Why the settings do not fit the clients' timeouts; empty when they
     * do. */
    std::vector<std::string> problems;
};

/* With the libraries' timeouts (HA_GS_REQUEST_TIMEOUT_MS,
 * CMM_DEFAULT_TIMEOUT_SEC). */
TimeoutPlan planTimeouts(TotemTimes totem);
TimeoutPlan planTimeouts(TotemTimes totem, milliseconds gsapiTimeout, milliseconds cmmTimeout);

} // namespace gs::broker
