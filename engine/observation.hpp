/* SPDX-License-Identifier: MIT */
/*
 * What happened inside the engine, for the people operating it: gsd's log,
 * `gsctl events` and the metrics are made of these. They are not actions:
 * no client is owed anything by them, and an engine run without a sink for
 * them behaves the same. Like actions they are deterministic, so every
 * replica of a domain observes the same ones in the same order.
 */
#pragma once

#include "common/model.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace gs {

/* A provider as an observation names it: its id, and the client that owns
 * it (whose node alone knows its pid). */
struct ObservedProvider {
    ProviderId id;
    ClientId client = 0;
    bool operator==(const ObservedProvider &) const = default;
};

/* The first provider of a group was queued: the group exists from now on. */
struct GroupCreated {
    std::string group;
    bool operator==(const GroupCreated &) const = default;
};
/* A group's last provider left: subscribers were told it dissolved. */
struct GroupDissolved {
    std::string group;
    bool operator==(const GroupDissolved &) const = default;
};
/* A protocol begins. `by`: the provider whose request it is (none for
 * joins, failure leaves, reflections and cast-outs, which the group's
 * queue starts). */
struct ProtocolProposed {
    std::string group;
    int type = 0; /* ha_gs_request_t */
    bool nPhase = false;
    int timeLimit = 0; /* seconds a phase may take */
    std::optional<ObservedProvider> by;
    std::vector<ObservedProvider> changing;
    bool operator==(const ProtocolProposed &) const = default;
};
/* A voting phase of an n-phase protocol opened: `voters` are expected to
 * vote within `timeLimit` seconds (engine timer `timer`). */
struct PhaseOpened {
    std::string group;
    int type = 0;
    uint32_t phase = 0;
    int timeLimit = 0;
    TimerId timer = 0;
    std::vector<ObservedProvider> voters;
    bool operator==(const PhaseOpened &) const = default;
};
/* A provider voted in the running phase (an accepted vote only). */
struct VoteCast {
    std::string group;
    uint32_t phase = 0;
    ObservedProvider voter;
    int vote = 0;        /* ha_gs_vote_value_t */
    int defaultVote = 0; /* the default it proposed, HA_GS_NULL_VOTE for none */
    bool proposesState = false;
    bool carriesMessage = false;
    bool operator==(const VoteCast &) const = default;
};
/* A phase's time limit passed with live voters that had not voted: they
 * got the default vote. */
struct TimeLimitExceeded {
    std::string group;
    int type = 0;
    uint32_t phase = 0;
    std::vector<ObservedProvider> late;
    bool operator==(const TimeLimitExceeded &) const = default;
};
/* A protocol ended. `summary`: the ha_gs_summary_code_t its providers
 * were told; `phases`: the phases it ran (1 for a one-phase protocol). */
struct ProtocolEnded {
    std::string group;
    int type = 0;
    bool approved = false;
    uint32_t summary = 0;
    uint32_t phases = 0;
    std::vector<ObservedProvider> changing;
    bool operator==(const ProtocolEnded &) const = default;
};

using Observation = std::variant<GroupCreated, GroupDissolved, ProtocolProposed, PhaseOpened,
                                 VoteCast, TimeLimitExceeded, ProtocolEnded>;

} // namespace gs
