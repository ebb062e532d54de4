/* SPDX-License-Identifier: MIT */
/*
 * The names ha_gs.h gives its numbers, for what people read: gsd's log,
 * gsctl and the metrics say HA_GS_COLLIDE, never 16. A number the header
 * does not define is written as the number.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gs::names {

/* ha_gs_rc_t: "HA_GS_COLLIDE". */
std::string rc(int rc);
/* ha_gs_request_t: "HA_GS_STATE_VALUE_CHANGE". */
std::string request(int type);
/* ha_gs_vote_value_t: "HA_GS_VOTE_APPROVE"; 0 is "HA_GS_NULL_VOTE". */
std::string vote(int vote);
/* ha_gs_summary_code_t: the name of every bit set, lowest first. */
std::vector<std::string> summary(uint32_t code);
/* The same joined with '|' ("0" when no bit is set). */
std::string summaryText(uint32_t code);
/* ha_gs_subscription_ctrl_t: the name of every bit set, lowest first. */
std::vector<std::string> subscription(uint32_t control);

} // namespace gs::names
