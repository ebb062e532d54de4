/* SPDX-License-Identifier: MIT */
/*
 * Value types shared by the protocol engine, the wire codec, gsd and the
 * client library. Plain data: no I/O, no clocks, no threads. Numeric fields
 * hold the ha_gs.h constants (vote values, protocol types, flags, codes).
 */
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace gs {

/* Opaque application bytes (state values, messages). */
using Bytes = std::string;

using Token = int32_t;      /* ha_gs_token_t; 0 is never a valid token */
using ClientId = uint64_t;  /* one ha_gs_init session, assigned by gsd */
using RequestId = uint64_t; /* chosen by the client, echoed in the reply */
using TimerId = uint64_t;   /* chosen by the engine */

/* A client id names its node: the node number in the top 16 bits, a serial
 * the node's gsd assigns in the rest. Ids are then unique across a domain
 * without any node asking another, and every replica can tell which node a
 * client is on (its providers' gs_node_number, its failure when the node
 * goes). */
constexpr int kClientSerialBits = 48;
constexpr uint64_t kClientSerialMask = (uint64_t{1} << kClientSerialBits) - 1;
constexpr ClientId makeClientId(int16_t node, uint64_t serial)
{
    return (static_cast<uint64_t>(static_cast<uint16_t>(node)) << kClientSerialBits) |
           (serial & kClientSerialMask);
}
constexpr int16_t clientNode(ClientId client)
{
    return static_cast<int16_t>(client >> kClientSerialBits);
}
constexpr uint64_t clientSerial(ClientId client)
{
    return client & kClientSerialMask;
}

struct ProviderId {
    int16_t instance = 0;
    int16_t node = 0;
    auto operator<=>(const ProviderId &) const = default;
};

struct GroupAttributes {
    int version = 1;
    int sizeofAttributes = 0;
    int clientVersion = 0;
    int batchControl = 0;
    int numPhases = 0;
    int sourceReflectionNumPhases = 0;
    int defaultVote = 0;
    int mergeControl = 0;
    int timeLimit = 0;
    int sourceReflectionTimeLimit = 0;
    std::string groupName;
    std::string sourceGroupName;
    bool operator==(const GroupAttributes &) const = default;
};

/* ---- Requests: client -> gsd ------------------------------------------ */

struct JoinRequest {
    GroupAttributes attributes;
    int32_t instance = 0; /* wider than short so bad values can be refused */
    std::string localName;
};
struct LeaveRequest {
    Token token = 0;
    int numPhases = 0;
    int timeLimit = 0;
    uint32_t leaveCode = 0;
};
struct GoodbyeRequest {
    Token token = 0;
};
struct ExpelRequest {
    Token token = 0;
    int numPhases = 0;
    int timeLimit = 0;
    std::vector<ProviderId> expelList;
    uint32_t deactivatePhase = 0;
    std::string deactivateFlag;
};
struct StateChangeRequest {
    Token token = 0;
    int numPhases = 0;
    int timeLimit = 0;
    Bytes newState;
};
struct MessageRequest {
    Token token = 0;
    int numPhases = 0;
    int timeLimit = 0;
    Bytes message;
};
struct AttributeChangeRequest {
    Token token = 0;
    int numPhases = 0;
    int timeLimit = 0;
    GroupAttributes attributes;
};
struct VoteRequest {
    Token token = 0;
    int vote = 0;
    std::optional<Bytes> proposedState;
    std::optional<Bytes> message;
    int defaultVote = 0;
};
struct SubscribeRequest {
    uint32_t control = 0;
    std::string group;
};
struct UnsubscribeRequest {
    Token token = 0;
};

using Request = std::variant<JoinRequest, LeaveRequest, GoodbyeRequest, ExpelRequest,
                             StateChangeRequest, MessageRequest, AttributeChangeRequest,
                             VoteRequest, SubscribeRequest, UnsubscribeRequest>;

/* ---- Notifications: gsd -> client ------------------------------------ */

struct LeaveInfo {
    uint32_t leaveCode = 0;
    int reason = 0; /* HA_GS_PROVIDER_* */
    bool operator==(const LeaveInfo &) const = default;
};

struct ExpelInfo {
    uint32_t deactivatePhase = 0;
    std::string deactivateFlag;
    bool operator==(const ExpelInfo &) const = default;
};

struct Proposal {
    uint32_t phaseNumber = 1;
    int numPhases = 1; /* HA_GS_1_PHASE or HA_GS_N_PHASE */
    Bytes oldState;
    std::optional<Bytes> proposedState;
    std::optional<Bytes> message;
    std::vector<ProviderId> currentProviders;
    std::vector<ProviderId> changingProviders;
    std::vector<LeaveInfo> leaveInfo; /* empty or parallel to changingProviders */
    std::optional<ExpelInfo> expelInfo;
    std::optional<GroupAttributes> proposedAttributes;
    std::optional<Bytes> sourceState;
    bool operator==(const Proposal &) const = default;
};

struct NPhaseNote {
    int protocol = 0;
    uint32_t summary = 0;
    int timeLimit = 0;
    Proposal proposal;
    bool operator==(const NPhaseNote &) const = default;
};
struct ApprovedNote {
    int protocol = 0;
    uint32_t summary = 0;
    Proposal proposal;
    bool operator==(const ApprovedNote &) const = default;
};
struct RejectedNote {
    int protocol = 0;
    uint32_t summary = 0;
    Proposal proposal;
    bool operator==(const RejectedNote &) const = default;
};
struct AnnouncementNote {
    uint32_t summary = 0;
    std::vector<ProviderId> providers;
    bool operator==(const AnnouncementNote &) const = default;
};
struct SubscriptionNote {
    uint32_t type = 0; /* HA_GS_SUBSCRIPTION_* flags */
    std::optional<Bytes> state;
    std::optional<std::vector<ProviderId>> fullMembership;
    std::optional<std::vector<ProviderId>> changingMembership;
    bool operator==(const SubscriptionNote &) const = default;
};
struct DelayedErrorNote {
    int protocol = 0; /* e.g. HA_GS_SUBSCRIPTION */
    int rc = 0;
    bool operator==(const DelayedErrorNote &) const = default;
};

using NoteBody = std::variant<NPhaseNote, ApprovedNote, RejectedNote, AnnouncementNote,
                              SubscriptionNote, DelayedErrorNote>;

/* One addressee of a notification. `final` says the token is invalid once
 * this notification has been delivered (leave/expel approved, join rejected,
 * dissolve, delayed error of a subscribe). */
struct Recipient {
    ClientId client = 0;
    Token token = 0;
    bool final = false;
    bool operator==(const Recipient &) const = default;
};

} // namespace gs
