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

/* Whether a joiner's normalized attributes match the group's
 * (gs_client_version, version and size fields excepted). */
bool sameGroupAttributes(const GroupAttributes &group, const GroupAttributes &joiner);

/* 0 (one phase), HA_GS_1_PHASE or HA_GS_N_PHASE. */
bool validNumPhases(int numPhases);

/* 0 or above the ceiling -> HA_GS_TIME_LIMIT_CEILING. */
int effectiveTimeLimit(int seconds);

bool validVote(int vote, int defaultVote, const std::optional<Bytes> &state,
               const std::optional<Bytes> &message);

bool validSubscriptionControl(uint32_t control);

} // namespace gs
