/* SPDX-License-Identifier: MIT */
/*
 * Range checks on the values gsd sends that end up in enum-typed (or
 * flag-typed) fields of the ha_gs.h blocks.
 *
 * The wire decoder (common/wire) only checks that a number fits its C++
 * field (an int, a uint32_t). The ha_gs.h enums have no fixed underlying
 * type, so converting an int outside an enum's values to it is undefined
 * behaviour, and an application that switch()es on such a field would see a
 * value its header does not define. Only a faulty, hostile or newer gsd can
 * send one; libha_gs treats it as a malformed message, exactly like a frame
 * that fails to decode: the session is lost (subscriptions get
 * HA_GS_SUBSCRIPTION_GS_HAS_DIED, dispatch and requests return
 * HA_GS_NOT_OK). Session applies these checks to every Welcome, reply and
 * notification body as it is received, before anything is queued, so
 * NotificationBuilder's casts only ever see values that pass them.
 *
 * Each valid set lists the enumerators of ha_gs.h for the field. The bit-flag
 * fields (summary code, subscription type) are plain unsigned ints, where no
 * value is undefined behaviour; they are still checked for bits ha_gs.h does
 * not define, so that nothing an application's header does not describe
 * reaches it.
 */
#pragma once

#include "common/model.hpp"
#include "common/wire.hpp"

#include <cstdint>

namespace gs::client {

/* ha_gs_rc_t: HA_GS_OK .. HA_GS_NOT_AUTHORIZED. */
bool validReturnCode(int rc);
/* ha_gs_request_t: HA_GS_JOIN .. HA_GS_SUBSCRIPTION. */
bool validProtocolType(int protocol);
/* ha_gs_num_phases_t of a proposal's phase info: HA_GS_1_PHASE, HA_GS_N_PHASE. */
bool validNumPhases(int numPhases);
/* ha_gs_num_phases_t of group attributes, where ha_gs.h also documents 0
 * (one phase): 0, HA_GS_1_PHASE, HA_GS_N_PHASE. */
bool validAttributeNumPhases(int numPhases);
/* ha_gs_batch_ctrl_t: HA_GS_NO_BATCHING .. HA_GS_BATCH_BOTH. */
bool validBatchControl(int batchControl);
/* ha_gs_vote_value_t: HA_GS_NULL_VOTE .. HA_GS_VOTE_REJECT. */
bool validVoteValue(int vote);
/* ha_gs_merge_ctrl_t: HA_GS_DEFAULT_MERGE, HA_GS_DISSOLVE_ON_MERGE. */
bool validMergeControl(int mergeControl);
/* ha_gs_leave_reason_t: HA_GS_PROVIDER_LEFT .. HA_GS_PROVIDER_CAST_OUT. */
bool validLeaveReason(int reason);
/* ha_gs_summary_code_t: no bit but HA_GS_EXPLICIT_APPROVE ..
 * HA_GS_GROUP_DISSOLVED. */
bool validSummaryCode(uint32_t summary);
/* ha_gs_subscription_type_t: no bit but HA_GS_SUBSCRIPTION_STATE ..
 * HA_GS_SUBSCRIPTION_GS_HAS_DIED. */
bool validSubscriptionType(uint32_t type);

/* Every field above that the attributes / proposal / body carry. */
bool validAttributes(const GroupAttributes &attributes);
bool validProposal(const Proposal &proposal);
bool validNoteBody(const NoteBody &body);
/* The rc of a Welcome or a reply; other server messages carry no enum
 * (CMM messages are ignored on a GSAPI session). */
bool validServerMessage(const wire::ServerMessage &message);

} // namespace gs::client
