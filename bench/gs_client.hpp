// SPDX-License-Identifier: MIT
/* gs_client - the GSAPI calls the benchmarks make, through ha_gs.h only,
 * the way an application makes them: poll() the descriptor, then
 * ha_gs_dispatch(HA_GS_NON_BLOCKING). */
#pragma once

#include <cstdint>
#include <string>

#include <ha_gs.h>

namespace bench::gs {

void check(ha_gs_rc_t rc, const char *what);
void init();
int descriptor();
/* Runs the callbacks of what is pending; waits at most timeoutMs for the
 * descriptor first. False when the connection to gsd is lost. */
bool dispatchFor(int timeoutMs);

/* Approved outcomes of this process's own providers, counted per protocol
 * type, with the time the callback ran. A reject of anything is an error:
 * every voter here approves. */
int64_t approvedCount(ha_gs_request_t type);
/* Dispatches until approvedCount(type) exceeds `seen`; returns the time the
 * approved callback ran. */
int64_t awaitApproved(ha_gs_request_t type, int64_t seen, const char *what);

/* Joins `group` (created by the first join with these attributes). Returns
 * the token at once; the approved callback comes later. The n-phase
 * callback votes approve (continue before the last phase of a proposal of
 * changeStateInPhases). */
ha_gs_token_t join(const std::string &group, short instance, ha_gs_num_phases_t phases);
/* join, then dispatches until its approved callback ran. */
ha_gs_token_t joinAndAwait(const std::string &group, short instance, ha_gs_num_phases_t phases);
/* One state change request; the approved callback comes later. */
void changeState(ha_gs_token_t token, ha_gs_num_phases_t phases, int64_t sequence);
/* An n-phase state change that runs `phases` phases: every provider of
 * this program (the n-phase callback above) votes continue until the last
 * phase, then approve. */
void changeStateInPhases(ha_gs_token_t token, unsigned phases, int64_t sequence);

using SubscriptionHandler = void (*)(const ha_gs_subscription_notification_t *);
ha_gs_token_t subscribe(const std::string &group, ha_gs_subscription_ctrl_t flags,
                        SubscriptionHandler handler);

} // namespace bench::gs
