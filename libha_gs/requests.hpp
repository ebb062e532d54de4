/* SPDX-License-Identifier: MIT */
/*
 * C request blocks of ha_gs.h -> gs::Request.
 *
 * Each function checks what only the library can check (NULL pointers,
 * missing required callbacks, lengths against the HA_GS_MAX_* limits, so that
 * nothing is ever truncated or read past a limit) and leaves every check
 * against group state, and every value range gsd knows better, to gsd.
 * Returns HA_GS_OK and fills `out`, or the error code for the caller.
 */
#pragma once

#include "common/model.hpp"

#include <ha_gs.h>

#include <cstring>
#include <type_traits>

namespace gs::client {

/* The integer in a C enum field or parameter, read as bytes. Applications
 * may store any number there, and in C++ loading an enum object that holds a
 * value outside the enumeration's range is undefined behaviour. */
template <class E>
int rawValue(const E &e)
{
    static_assert(std::is_enum_v<E>);
    std::underlying_type_t<E> v;
    std::memcpy(&v, &e, sizeof v);
    return static_cast<int>(v);
}

ha_gs_rc_t toJoin(const ha_gs_proposal_info_t *info, JoinRequest &out);
ha_gs_rc_t toLeave(ha_gs_token_t token, const ha_gs_proposal_info_t *info, LeaveRequest &out);
ha_gs_rc_t toExpel(ha_gs_token_t token, const ha_gs_proposal_info_t *info, ExpelRequest &out);
ha_gs_rc_t toStateChange(ha_gs_token_t token, const ha_gs_proposal_info_t *info,
                         StateChangeRequest &out);
ha_gs_rc_t toMessage(ha_gs_token_t token, const ha_gs_proposal_info_t *info, MessageRequest &out);
ha_gs_rc_t toAttributeChange(ha_gs_token_t token, const ha_gs_proposal_info_t *info,
                             AttributeChangeRequest &out);
ha_gs_rc_t toVote(ha_gs_token_t token, const ha_gs_vote_value_t &vote,
                  const ha_gs_state_value_t *proposedState, const ha_gs_provider_message_t *message,
                  const ha_gs_vote_value_t &defaultVote, VoteRequest &out);
ha_gs_rc_t toSubscribe(const ha_gs_proposal_info_t *info, SubscribeRequest &out);

} // namespace gs::client
