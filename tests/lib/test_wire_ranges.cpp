/* SPDX-License-Identifier: MIT */
/*
 * libha_gs/wire_ranges: which values gsd may send in the fields that become
 * ha_gs.h enums and flags. Each field at its boundaries: the first and last
 * value ha_gs.h defines, the first value past it, a negative one, INT_MIN and
 * INT_MAX; then the checks of whole notification bodies and server messages.
 */
#include "libha_gs/wire_ranges.hpp"

#include <ha_gs.h>

#include <doctest/doctest.h>

#include <climits>
#include <cstdint>

using namespace gs;
using namespace gs::client;

namespace {

/* The common outside values of an int-valued enum field. */
void checkOutside(bool (*valid)(int), int firstInvalid)
{
    CHECK_FALSE(valid(firstInvalid));
    CHECK_FALSE(valid(-1));
    CHECK_FALSE(valid(INT_MIN));
    CHECK_FALSE(valid(INT_MAX));
}

Proposal goodProposal()
{
    Proposal p;
    p.numPhases = HA_GS_N_PHASE;
    p.changingProviders = {{1, 1}};
    p.leaveInfo = {{0, HA_GS_PROVIDER_CAST_OUT}};
    GroupAttributes a;
    a.batchControl = HA_GS_BATCH_BOTH;
    a.numPhases = HA_GS_N_PHASE;
    a.sourceReflectionNumPhases = 0;
    a.defaultVote = HA_GS_VOTE_REJECT;
    a.mergeControl = HA_GS_DISSOLVE_ON_MERGE;
    p.proposedAttributes = a;
    return p;
}

} // namespace

TEST_CASE("ranges: return codes are HA_GS_OK .. HA_GS_NOT_AUTHORIZED")
{
    CHECK(validReturnCode(HA_GS_OK));
    CHECK(validReturnCode(HA_GS_COLLIDE));
    CHECK(validReturnCode(HA_GS_NOT_AUTHORIZED));
    CHECK(HA_GS_NOT_AUTHORIZED == 28);
    for (int rc = HA_GS_OK; rc <= HA_GS_NOT_AUTHORIZED; ++rc)
        CHECK(validReturnCode(rc));
    checkOutside(validReturnCode, HA_GS_NOT_AUTHORIZED + 1);
}

TEST_CASE("ranges: protocol types are HA_GS_JOIN .. HA_GS_SUBSCRIPTION")
{
    CHECK(validProtocolType(HA_GS_JOIN));
    CHECK(validProtocolType(HA_GS_MERGE));
    CHECK(validProtocolType(HA_GS_SUBSCRIPTION));
    CHECK(HA_GS_SUBSCRIPTION == 11);
    CHECK_FALSE(validProtocolType(0));
    checkOutside(validProtocolType, HA_GS_SUBSCRIPTION + 1);
}

TEST_CASE("ranges: phases are 1 or 2 in a proposal, also 0 in attributes")
{
    CHECK(validNumPhases(HA_GS_1_PHASE));
    CHECK(validNumPhases(HA_GS_N_PHASE));
    CHECK_FALSE(validNumPhases(0));
    checkOutside(validNumPhases, HA_GS_N_PHASE + 1);

    CHECK(validAttributeNumPhases(0));
    CHECK(validAttributeNumPhases(HA_GS_1_PHASE));
    CHECK(validAttributeNumPhases(HA_GS_N_PHASE));
    checkOutside(validAttributeNumPhases, HA_GS_N_PHASE + 1);
}

TEST_CASE("ranges: batch control, vote value, merge control, leave reason")
{
    CHECK(validBatchControl(HA_GS_NO_BATCHING));
    CHECK(validBatchControl(HA_GS_BATCH_BOTH));
    checkOutside(validBatchControl, HA_GS_BATCH_BOTH + 1);

    CHECK(validVoteValue(HA_GS_NULL_VOTE));
    CHECK(validVoteValue(HA_GS_VOTE_CONTINUE));
    CHECK(validVoteValue(HA_GS_VOTE_REJECT));
    checkOutside(validVoteValue, HA_GS_VOTE_REJECT + 1);

    CHECK(validMergeControl(HA_GS_DEFAULT_MERGE));
    CHECK(validMergeControl(HA_GS_DISSOLVE_ON_MERGE));
    checkOutside(validMergeControl, HA_GS_DISSOLVE_ON_MERGE + 1);

    CHECK(validLeaveReason(HA_GS_PROVIDER_LEFT));
    CHECK(validLeaveReason(HA_GS_PROVIDER_CAST_OUT));
    CHECK_FALSE(validLeaveReason(0));
    checkOutside(validLeaveReason, HA_GS_PROVIDER_CAST_OUT + 1);
}

TEST_CASE("ranges: flag fields may carry any defined bits, and no other")
{
    CHECK(validSummaryCode(0));
    CHECK(validSummaryCode(HA_GS_EXPLICIT_APPROVE));
    CHECK(validSummaryCode(HA_GS_GROUP_DISSOLVED));
    CHECK(validSummaryCode(0x0fffu)); /* every defined bit at once */
    CHECK_FALSE(validSummaryCode(HA_GS_GROUP_DISSOLVED << 1));
    CHECK_FALSE(validSummaryCode(HA_GS_EXPLICIT_APPROVE | 0x1000u));
    CHECK_FALSE(validSummaryCode(0x80000000u));
    CHECK_FALSE(validSummaryCode(UINT32_MAX));

    CHECK(validSubscriptionType(0));
    CHECK(validSubscriptionType(HA_GS_SUBSCRIPTION_STATE));
    CHECK(validSubscriptionType(HA_GS_SUBSCRIPTION_GS_HAS_DIED));
    CHECK(validSubscriptionType(0x7fu));
    CHECK_FALSE(validSubscriptionType(HA_GS_SUBSCRIPTION_GS_HAS_DIED << 1));
    CHECK_FALSE(validSubscriptionType(HA_GS_SUBSCRIPTION_STATE | 0x80u));
    CHECK_FALSE(validSubscriptionType(0x80000000u));
    CHECK_FALSE(validSubscriptionType(UINT32_MAX));
}

TEST_CASE("ranges: attributes and proposals check every enum field they carry")
{
    const Proposal good = goodProposal();
    CHECK(validProposal(good));
    CHECK(validAttributes(*good.proposedAttributes));
    CHECK(validProposal(Proposal{})); /* the defaults: one phase, nothing else */

    auto withAttributes = [&](auto change) {
        Proposal p = good;
        change(*p.proposedAttributes);
        CHECK_FALSE(validAttributes(*p.proposedAttributes));
        return validProposal(p);
    };
    CHECK_FALSE(withAttributes([](GroupAttributes &a) { a.batchControl = HA_GS_BATCH_BOTH + 1; }));
    CHECK_FALSE(withAttributes([](GroupAttributes &a) { a.numPhases = HA_GS_N_PHASE + 1; }));
    CHECK_FALSE(withAttributes([](GroupAttributes &a) { a.sourceReflectionNumPhases = -1; }));
    CHECK_FALSE(withAttributes([](GroupAttributes &a) { a.defaultVote = HA_GS_VOTE_REJECT + 1; }));
    CHECK_FALSE(
        withAttributes([](GroupAttributes &a) { a.mergeControl = HA_GS_DISSOLVE_ON_MERGE + 1; }));

    Proposal p = good;
    p.numPhases = 0;
    CHECK_FALSE(validProposal(p));
    p = good;
    p.leaveInfo = {{0, HA_GS_PROVIDER_CAST_OUT + 1}};
    CHECK_FALSE(validProposal(p));
    /* A leave list that does not match the changing providers is not shown
     * to the application, but a bad reason in it still makes it malformed. */
    p = good;
    p.leaveInfo = {{0, HA_GS_PROVIDER_LEFT}, {0, -1}};
    CHECK_FALSE(validProposal(p));
}

TEST_CASE("ranges: notification bodies")
{
    NPhaseNote nPhase;
    nPhase.protocol = HA_GS_SUBSCRIPTION;
    nPhase.summary = HA_GS_GROUP_DISSOLVED;
    nPhase.proposal = goodProposal();
    CHECK(validNoteBody(nPhase));
    nPhase.protocol = HA_GS_SUBSCRIPTION + 1;
    CHECK_FALSE(validNoteBody(nPhase));
    nPhase.protocol = HA_GS_JOIN;
    nPhase.summary = 0x1000u;
    CHECK_FALSE(validNoteBody(nPhase));
    nPhase.summary = 0;
    nPhase.proposal.numPhases = 3;
    CHECK_FALSE(validNoteBody(nPhase));

    ApprovedNote approved;
    approved.protocol = HA_GS_JOIN;
    CHECK(validNoteBody(approved));
    approved.protocol = 0;
    CHECK_FALSE(validNoteBody(approved));
    approved.protocol = HA_GS_JOIN;
    approved.proposal.leaveInfo = {{0, 0}};
    CHECK_FALSE(validNoteBody(approved));

    RejectedNote rejected;
    rejected.protocol = HA_GS_MERGE;
    CHECK(validNoteBody(rejected));
    rejected.protocol = -1;
    CHECK_FALSE(validNoteBody(rejected));
    rejected.protocol = HA_GS_MERGE;
    rejected.proposal.proposedAttributes = GroupAttributes{};
    rejected.proposal.proposedAttributes->mergeControl = -1;
    CHECK_FALSE(validNoteBody(rejected));

    AnnouncementNote announcement;
    announcement.summary = HA_GS_RESPONSIVENESS_NO_RESPONSE;
    CHECK(validNoteBody(announcement));
    announcement.summary = UINT32_MAX;
    CHECK_FALSE(validNoteBody(announcement));

    SubscriptionNote subscription;
    subscription.type = HA_GS_SUBSCRIPTION_DISSOLVED;
    CHECK(validNoteBody(subscription));
    subscription.type = 0x80u;
    CHECK_FALSE(validNoteBody(subscription));

    CHECK(validNoteBody(DelayedErrorNote{HA_GS_SUBSCRIPTION, HA_GS_NOT_AUTHORIZED}));
    CHECK_FALSE(validNoteBody(DelayedErrorNote{HA_GS_SUBSCRIPTION + 1, HA_GS_UNKNOWN_GROUP}));
    CHECK_FALSE(validNoteBody(DelayedErrorNote{0, HA_GS_UNKNOWN_GROUP}));
    CHECK_FALSE(validNoteBody(DelayedErrorNote{HA_GS_SUBSCRIPTION, HA_GS_NOT_AUTHORIZED + 1}));
    CHECK_FALSE(validNoteBody(DelayedErrorNote{HA_GS_SUBSCRIPTION, -1}));
}

TEST_CASE("ranges: server messages carry a checked rc in Welcome and reply only")
{
    CHECK(validServerMessage(wire::Welcome{HA_GS_NOT_AUTHORIZED, 1, "d", 0}));
    CHECK_FALSE(validServerMessage(wire::Welcome{HA_GS_NOT_AUTHORIZED + 1, 1, "d", 0}));
    CHECK_FALSE(validServerMessage(wire::Welcome{-1, 1, "d", 0}));
    CHECK(validServerMessage(wire::ReplyMsg{1, HA_GS_OK, 100}));
    CHECK(validServerMessage(wire::ReplyMsg{1, HA_GS_NOT_AUTHORIZED, 0}));
    CHECK_FALSE(validServerMessage(wire::ReplyMsg{1, HA_GS_NOT_AUTHORIZED + 1, 0}));
    CHECK_FALSE(validServerMessage(wire::ReplyMsg{1, INT_MIN, 0}));
    CHECK(validServerMessage(wire::NoteHeader{100, true}));
    CHECK(validServerMessage(wire::Ping{1}));
    CHECK(validServerMessage(wire::Bye{"x"}));
    /* CMM return codes are not ha_gs_rc_t; a GSAPI session ignores them. */
    CHECK(validServerMessage(wire::CmmReply{1, -5, 0, 0, {}}));
    CHECK(validServerMessage(wire::CmmNote{99, 0}));
}
