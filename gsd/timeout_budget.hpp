/* SPDX-License-Identifier: MIT */
/*
 * Whether a domain's failure detection fits the client libraries' timeouts
 * (contract.md §6, issue 13 "Timeouts"), and how long a client's input may
 * wait to be ordered before gsd answers it itself (Order::WaitBounds).
 *
 * While the domain re-forms (a node lost: Corosync's token timeout, then
 * consensus, then the new membership's quorum and sync), nothing can be
 * ordered. A request handed to Corosync just before that window starts is
 * delivered at worst token + consensus + kSyncAllowance later; one still
 * queued when its wait bound passes is withdrawn and answered at once. The
 * wait bound is what is left of the library's timeout after that worst
 * delivery and kReplyMargin, capped at kGsapiWaitCap / kCmmWaitCap: a client
 * then always has its answer before its library gives up on gsd. When even
 * the floor (kGsapiWaitFloor / kCmmWaitFloor) does not fit, the totem
 * settings are too slow for the clients: gsd refuses to start unless told
 * otherwise (--allow-slow-totem), and then uses the floors.
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
constexpr milliseconds kGsapiWaitCap{5000};
constexpr milliseconds kGsapiWaitFloor{1000};
constexpr milliseconds kCmmWaitCap{3000};
constexpr milliseconds kCmmWaitFloor{500};

struct TimeoutPlan {
    /* token + consensus + kSyncAllowance. */
    milliseconds worstDelivery{0};
    /* The wait bounds (at least the floors). */
    milliseconds gsapiWait{0};
    milliseconds cmmWait{0};
    /* Why the settings do not fit the clients' timeouts; empty when they
     * do. */
    std::vector<std::string> problems;
};

/* With the libraries' timeouts (HA_GS_REQUEST_TIMEOUT_MS,
 * CMM_DEFAULT_TIMEOUT_SEC). */
TimeoutPlan planTimeouts(TotemTimes totem);
TimeoutPlan planTimeouts(TotemTimes totem, milliseconds gsapiTimeout, milliseconds cmmTimeout);

} // namespace gs::broker
