/* SPDX-License-Identifier: MIT */
/*
 * The domain state blob (gsd/broker_state.hpp) and the timeout budget
 * (gsd/timeout_budget.hpp): pure functions, no gsd.
 */
#include "gsd/broker_state.hpp"
#include "gsd/timeout_budget.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace gs;
using namespace gs::broker;
using std::chrono::milliseconds;

namespace {

DomainState sample()
{
    DomainState state;
    state.engine = std::string("engine\0bytes", 12);
    state.cmm = "cmm bytes";
    state.timeLimitCeiling = 3600;
    state.nextSerial = {{1, 5}, {3, 1}, {32767, 99}};
    state.timerDueMs = {{4, 0}, {9, 1500}};
    return state;
}

void fixChecksum(std::string &blob)
{
    const uint64_t sum = digestOf(std::string_view(blob).substr(0, blob.size() - 8));
    for (int i = 0; i < 8; ++i)
        blob[blob.size() - 8 + i] = static_cast<char>(sum >> (8 * i));
}

StateRefused::Why refusal(const std::string &blob)
{
    try {
        decodeDomainState(blob);
    } catch (const StateRefused &refused) {
        return refused.why;
    }
    FAIL("accepted");
    return StateRefused::Why::Damaged;
}

/* The body-length field (after magic and versions). */
void setBodyLength(std::string &blob, uint32_t length)
{
    for (int i = 0; i < 4; ++i)
        blob[8 + i] = static_cast<char>(length >> (8 * i));
}

} // namespace

TEST_CASE("domain state: a round trip keeps every field")
{
    const DomainState state = sample();
    const DomainState back = decodeDomainState(encodeDomainState(state));
    CHECK(back.engine == state.engine);
    CHECK(back.cmm == state.cmm);
    CHECK(back.timeLimitCeiling == 3600);
    CHECK(back.nextSerial == state.nextSerial);
    CHECK(back.timerDueMs == state.timerDueMs);
}

TEST_CASE("domain state: every cut, every flipped byte is refused as damaged")
{
    const std::string blob = encodeDomainState(sample());
    for (size_t size = 0; size < blob.size(); ++size)
        CHECK(refusal(blob.substr(0, size)) == StateRefused::Why::Damaged);
    for (size_t i = 0; i < blob.size(); ++i) {
        /* The version bytes say "another format" rather than "damaged". */
        if (i == 4 || i == 5)
            continue;
        std::string flipped = blob;
        flipped[i] = static_cast<char>(flipped[i] ^ 0x10);
        CHECK(refusal(flipped) == StateRefused::Why::Damaged);
    }
    CHECK(refusal(blob + "x") == StateRefused::Why::Damaged);
}

TEST_CASE("domain state: another major version is refused as such; a newer minor's appended "
          "fields are skipped, the same minor's are not")
{
    std::string blob = encodeDomainState(sample());
    std::string major = blob;
    major[4] = 2;
    CHECK(refusal(major) == StateRefused::Why::Version);

    /* A newer minor version with a field appended to the body. */
    std::string newer = blob.substr(0, blob.size() - 8) + "more";
    newer[6] = kDomainStateMinor + 1;
    setBodyLength(newer, static_cast<uint32_t>(newer.size() - 12));
    newer += std::string(8, '\0');
    fixChecksum(newer);
    const DomainState read = decodeDomainState(newer);
    CHECK(read.nextSerial == sample().nextSerial);
    CHECK(read.timerDueMs == sample().timerDueMs);

    std::string same = newer;
    same[6] = kDomainStateMinor;
    fixChecksum(same);
    CHECK(refusal(same) == StateRefused::Why::Damaged);
}

TEST_CASE("domain state: serials and timers out of order or range are refused")
{
    SUBCASE("node 0")
    {
        DomainState state = sample();
        state.nextSerial = {{0, 1}};
        CHECK(refusal(encodeDomainState(state)) == StateRefused::Why::Damaged);
    }
    SUBCASE("serial 0")
    {
        DomainState state = sample();
        state.nextSerial = {{1, 0}};
        CHECK(refusal(encodeDomainState(state)) == StateRefused::Why::Damaged);
    }
    SUBCASE("timer 0")
    {
        DomainState state = sample();
        state.timerDueMs = {{0, 1}};
        CHECK(refusal(encodeDomainState(state)) == StateRefused::Why::Damaged);
    }
    SUBCASE("a count larger than the bytes")
    {
        DomainState state = sample();
        state.nextSerial.clear();
        state.timerDueMs.clear();
        std::string blob = encodeDomainState(state);
        /* The serial count sits 8 bytes before the timer count, which
         * sits just before the checksum. */
        blob[blob.size() - 8 - 4 - 4] = 100;
        fixChecksum(blob);
        CHECK(refusal(blob) == StateRefused::Why::Damaged);
    }
}

TEST_CASE("timeout budget: fast totem settings fit with the capped waits")
{
    const TimeoutPlan plan = planTimeouts(TotemTimes{milliseconds(300), milliseconds(360)});
    CHECK(plan.problems.empty());
    CHECK(plan.worstDelivery == milliseconds(1160));
    CHECK(plan.gsapiWait == kGsapiWaitCap);
    CHECK(plan.cmmWait == kCmmWaitCap);
}

TEST_CASE("timeout budget: a slower token shortens the CMM wait, so that an answer still comes "
          "before the library's timeout")
{
    const TimeoutPlan plan = planTimeouts(TotemTimes{milliseconds(1000), milliseconds(1200)});
    CHECK(plan.problems.empty());
    CHECK(plan.gsapiWait == kGsapiWaitCap);
    CHECK(plan.cmmWait == milliseconds(5000 - 2700 - 500));
    CHECK(plan.cmmWait + plan.worstDelivery + kReplyMargin <= milliseconds(5000));
}

TEST_CASE("timeout budget: Corosync's defaults do not fit the CMM timeout; the floors are used")
{
    const TimeoutPlan plan = planTimeouts(TotemTimes{milliseconds(3000), milliseconds(3600)});
    REQUIRE(plan.problems.size() == 1);
    CHECK(plan.problems[0].find("CMM") != std::string::npos);
    CHECK(plan.problems[0].find("within 3500 ms") != std::string::npos);
    CHECK(plan.cmmWait == kCmmWaitFloor);
    CHECK(plan.gsapiWait == milliseconds(10000 - 7100 - 500));

    const TimeoutPlan slow = planTimeouts(TotemTimes{milliseconds(10000), milliseconds(12000)});
    CHECK(slow.problems.size() == 2);
    CHECK(slow.gsapiWait == kGsapiWaitFloor);
}
