/* SPDX-License-Identifier: MIT */
/* Request validation and attribute normalization used by the engine. */
#pragma once

#include "common/model.hpp"

#include <optional>
#include <string>

namespace gs {

/* HA_GS_OK, HA_GS_INVALID_GROUP (empty, or a byte outside 0x21..0x7e) or
 * HA_GS_NAME_TOO_LONG. */
int validateGroupName(const std::string &name);

/* HA_GS_OK or HA_GS_BAD_GROUP_ATTRIBUTES: version, size and value ranges. */
int validateAttributes(const GroupAttributes &attributes);

/* Zero fields replaced by their defaults (contract §3). */
GroupAttributes normalizeAttributes(const GroupAttributes &attributes);

/* Whether a joiner's attributes match the group's immutable ones: name,
 * source group and merge control. The others can change through
 * ha_gs_change_attributes, which a restarted application cannot know of:
 * the group keeps its current values. */
bool sameGroupAttributes(const GroupAttributes &group, const GroupAttributes &joiner);

/* 0 (one phase), HA_GS_1_PHASE or HA_GS_N_PHASE. */
bool validNumPhases(int numPhases);

/* 0 (the ceiling) .. HA_GS_TIME_LIMIT_CEILING; anything else is refused,
 * never clamped. */
bool validTimeLimit(int seconds);

/* 0 -> HA_GS_TIME_LIMIT_CEILING; a valid limit otherwise unchanged. */
int effectiveTimeLimit(int seconds);

bool validVote(int vote, int defaultVote, const std::optional<Bytes> &state,
               const std::optional<Bytes> &message);

bool validSubscriptionControl(uint32_t control);

} // namespace gs
