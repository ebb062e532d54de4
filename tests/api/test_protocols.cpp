/* SPDX-License-Identifier: MIT */
/*
 * One-phase protocols: leave, goodbye, expel, state value change, provider
 * message, attribute change, and source-group reflections and cast-outs.
 */
#include "harness.hpp"

#include <string>

using namespace api;

TEST_CASE("leave: approved at every provider, then the leaver's token is invalid")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);
    joinInOrder({&a, &b}, "g");

    REQUIRE(a.rc("leave g code=42") == "HA_GS_OK");
    const std::string atA = a.waitFor("g: approved LEAVE");
    const std::string atB = b.waitFor("g: approved LEAVE");
    CHECK(atA == atB);
    CHECK(field(atA, "cur") == "[2.1]"); /* the membership after the leave */
    CHECK(field(atA, "chg") == "[1.1]");
    CHECK(field(atA, "leave") == "[1.1:LEFT:42]");

    CHECK(a.rc("state g x") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(a.rc("leave g") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(a.rc("goodbye g") == "HA_GS_BAD_MEMBER_TOKEN");

    REQUIRE(b.rc("state g y") == "HA_GS_OK");
    CHECK(field(b.waitFor("g: approved STATE_VALUE_CHANGE"), "cur") == "[2.1]");
}

TEST_CASE("goodbye: the token is invalid at once; the others see a failure leave")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);
    joinInOrder({&a, &b}, "g");

    REQUIRE(a.rc("goodbye g") == "HA_GS_OK");
    CHECK(a.rc("state g x") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(a.rc("goodbye g") == "HA_GS_BAD_MEMBER_TOKEN");
    const std::string atB = b.waitFor("g: approved FAILURE_LEAVE");
    CHECK(field(atB, "cur") == "[2.1]");
    CHECK(field(atB, "chg") == "[1.1]");
    CHECK(field(atB, "leave") == "[1.1:SAID_GOODBYE:0]");

    /* The goodbye concerned only that group: a's session still works. */
    CHECK(a.rc("join g 3") == "HA_GS_OK");
    a.waitFor({"g: approved JOIN", {"chg=[3.1]"}});
}

TEST_CASE("goodbye: withdraws a join that is still queued")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);
    REQUIRE(a.rc("join g 1") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    REQUIRE(a.rc("state g hold phases=n") == "HA_GS_OK");
    a.waitFor("g: nphase STATE_VALUE_CHANGE");
    REQUIRE(b.rc("join g 2") == "HA_GS_OK");
    CHECK(b.rc("goodbye g") == "HA_GS_OK");
    CHECK(a.rc("vote g approve") == "HA_GS_OK");
    a.waitFor("g: approved STATE_VALUE_CHANGE");
    /* The withdrawn join never runs: a's next protocol is its own. */
    REQUIRE(a.rc("state g after") == "HA_GS_OK");
    const std::string next = a.nextWith("g: approved");
    CHECK(Match("g: approved STATE_VALUE_CHANGE", {"cur=[1.1]"})(next));
}

TEST_CASE("expel: other providers, oneself, and the errors")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), c("c", gsd);
    joinInOrder({&a, &b, &c}, "g");

    CHECK(a.rc("expel g 9.1") == "HA_GS_UNKNOWN_PROVIDER");
    CHECK(a.rc("expel g 2.1,9.1") == "HA_GS_UNKNOWN_PROVIDER");
    CHECK(a.rc("expel g 2.1 dphase=2") == "HA_GS_INVALID_DEACTIVATE_PHASE");
    CHECK(a.rc("expel g none") == "HA_GS_BAD_PARAMETER");
    CHECK(a.rc("expel g empty") == "HA_GS_BAD_PARAMETER");
    CHECK(a.rc("expel g 2.1,2.1") == "HA_GS_BAD_PARAMETER");
    CHECK(a.rc("expel g 2.1 dflag=@256") == "HA_GS_BAD_PARAMETER");
    std::string tooMany;
    for (int i = 1; i <= HA_GS_MAX_PROVIDERS_PER_GROUP + 1; ++i)
        tooMany += (i > 1 ? "," : "") + std::to_string(i) + ".1";
    CHECK(a.rc("expel g " + tooMany) == "HA_GS_BAD_PARAMETER");

    static_assert(HA_GS_MAX_DEACTIVATE_FLAG_LENGTH == 255);
    REQUIRE(a.rc("expel g 2.1 dphase=1 dflag=stop") == "HA_GS_OK");
    const std::string atA = a.waitFor("g: approved EXPEL");
    const std::string atB = b.waitFor("g: approved EXPEL");
    const std::string atC = c.waitFor("g: approved EXPEL");
    CHECK(atA == atB);
    CHECK(atA == atC);
    CHECK(field(atA, "cur") == "[1.1,3.1]");
    CHECK(field(atA, "chg") == "[2.1]");
    CHECK(field(atA, "leave") == "[2.1:EXPELLED:0]");
    CHECK(field(atA, "expel") == "1:\"stop\"");
    CHECK(b.rc("state g x") == "HA_GS_BAD_MEMBER_TOKEN");

    /* A provider may expel itself. */
    REQUIRE(a.rc("expel g 1.1") == "HA_GS_OK");
    const std::string self = a.waitFor("g: approved EXPEL");
    CHECK(field(self, "chg") == "[1.1]");
    CHECK(field(c.waitFor("g: approved EXPEL"), "cur") == "[3.1]");
    CHECK(a.rc("state g x") == "HA_GS_BAD_MEMBER_TOKEN");
    REQUIRE(c.rc("state g y") == "HA_GS_OK");
    CHECK(field(c.waitFor("g: approved STATE_VALUE_CHANGE"), "cur") == "[3.1]");
}

TEST_CASE("state change: one phase, approved with the new state; subscribers see it")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), s("s", gsd);
    joinInOrder({&a, &b}, "g");
    REQUIRE(s.rc("subscribe g state") == "HA_GS_OK");
    CHECK(subSummary(s.next()) == "g: sub type=STATE state=\"\"");

    REQUIRE(a.rc("state g v1") == "HA_GS_OK");
    const std::string atA = a.waitFor("g: approved STATE_VALUE_CHANGE");
    CHECK(atA == b.waitFor("g: approved STATE_VALUE_CHANGE"));
    CHECK(field(atA, "phase") == "1/1");
    CHECK(field(atA, "old") == "\"\"");
    CHECK(field(atA, "prop") == "\"v1\"");
    CHECK(field(atA, "cur") == "[1.1,2.1]");
    CHECK(subSummary(s.next()) == "g: sub type=STATE state=\"v1\"");

    /* Binary values go through unchanged; the empty value is a value. */
    REQUIRE(b.rc("state g \\x00\\x01\\xff\\x20z") == "HA_GS_OK");
    CHECK(field(b.waitFor("g: approved STATE_VALUE_CHANGE"), "prop") ==
          "\"\\x00\\x01\\xff\\x20z\"");
    CHECK(field(s.next(), "state") == "\"\\x00\\x01\\xff\\x20z\"");
    REQUIRE(b.rc("state g \"\"") == "HA_GS_OK");
    CHECK(field(b.waitFor("g: approved STATE_VALUE_CHANGE"), "prop") == "\"\"");
    CHECK(field(s.next(), "state") == "\"\"");

    /* Size limit: exactly HA_GS_MAX_STATE_VALUE_LENGTH is accepted. */
    static_assert(HA_GS_MAX_STATE_VALUE_LENGTH == 65536);
    CHECK(a.rc("state g @65537") == "HA_GS_BAD_PARAMETER");
    CHECK(a.rc("state g x null=1") == "HA_GS_BAD_PARAMETER");
    REQUIRE(a.rc("state g @65536") == "HA_GS_OK");
    const std::string big =
        field(a.waitFor({"g: approved STATE_VALUE_CHANGE", {"prop=\"x"}}), "prop");
    CHECK(big.size() == 65538); /* the value and its quotes */
    CHECK(big.find_first_not_of('x', 1) == 65537);
    CHECK(field(s.next(), "state") == big);
}

TEST_CASE("state change: HA_GS_NO_MEMORY beyond gsd's state memory budget")
{
    PrivateGsd gsd({.args = {"--max-state-memory", "1000"}});
    LocalClient c("c", gsd);
    REQUIRE(c.rc("join g 1") == "HA_GS_OK");
    c.waitFor("g: approved JOIN");
    CHECK(c.rc("state g @5000") == "HA_GS_NO_MEMORY");
    CHECK(c.rc("state g @100") == "HA_GS_OK");
    CHECK(field(c.waitFor("g: approved STATE_VALUE_CHANGE"), "prop").size() == 102);
}

TEST_CASE("send_message: every provider gets the message; subscribers see nothing")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), s("s", gsd);
    joinInOrder({&a, &b}, "g");
    REQUIRE(s.rc("subscribe g all,state") == "HA_GS_OK");
    const std::string initial = s.next();
    CHECK(hasFlag(initial, "type", "MEMBERSHIP"));

    REQUIRE(a.rc("msg g hello") == "HA_GS_OK");
    const std::string atA = a.waitFor("g: approved PROVIDER_MESSAGE");
    CHECK(atA == b.waitFor("g: approved PROVIDER_MESSAGE"));
    CHECK(field(atA, "msg") == "\"hello\"");
    CHECK(field(atA, "prop") == "-");

    static_assert(HA_GS_MAX_MESSAGE_LENGTH == 65536);
    CHECK(a.rc("msg g @65537") == "HA_GS_BAD_PARAMETER");
    CHECK(a.rc("msg g x null=1") == "HA_GS_BAD_PARAMETER");
    REQUIRE(b.rc("msg g @65536") == "HA_GS_OK");
    CHECK(field(a.waitFor("g: approved PROVIDER_MESSAGE"), "msg").size() == 65538);

    /* The subscriber's next notification is the state change, not a message. */
    REQUIRE(a.rc("state g after") == "HA_GS_OK");
    CHECK(subSummary(s.next()) == "g: sub type=STATE state=\"after\"");
}

TEST_CASE("change_attributes: mutable attributes change; immutable ones are refused")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), c("c", gsd);
    joinInOrder({&a, &b}, "g", "tl=5");

    const Reply r = a.call("attrs g tl=7 cv=3");
    REQUIRE(r.rc == "HA_GS_OK");
    CHECK(r.get("backlevel") == "99"); /* gs_backlevel_providers is never written */
    const std::string atA = a.waitFor("g: approved GROUP_ATTRIBUTE_CHANGE");
    CHECK(atA == b.waitFor("g: approved GROUP_ATTRIBUTE_CHANGE"));
    CHECK(field(atA, "attrs").find("/tl7/") != std::string::npos);

    /* A joiner built with the old attributes still joins (only immutable
     * attributes must match). */
    CHECK(c.rc("join g 3 tl=5") == "HA_GS_OK");
    c.waitFor({"g: approved JOIN", {"chg=[3.1]"}});

    for (const char *bad : {"name=other", "source=g", "merge=1", "phases=7", "version=2",
                            "default=continue", "tl=-1"}) {
        CAPTURE(bad);
        CHECK(a.rc(std::string("attrs g ") + bad) == "HA_GS_BAD_GROUP_ATTRIBUTES");
    }
}

TEST_CASE("source groups: state changes are reflected; dissolving casts the targets out")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), s("s", gsd);
    REQUIRE(a.rc("join src 1") == "HA_GS_OK");
    a.waitFor("src: approved JOIN");
    REQUIRE(b.rc("join tgt 1 source=src") == "HA_GS_OK");
    b.waitFor("tgt: approved JOIN");
    REQUIRE(s.rc("subscribe tgt all") == "HA_GS_OK");
    s.next(); /* initial membership */

    REQUIRE(a.rc("state src S1") == "HA_GS_OK");
    a.waitFor("src: approved STATE_VALUE_CHANGE");
    const std::string reflection = b.waitFor("tgt: approved SOURCE_STATE_REFLECTION");
    CHECK(field(reflection, "src") == "\"S1\"");

    REQUIRE(a.rc("leave src") == "HA_GS_OK");
    a.waitFor("src: approved LEAVE");
    const std::string castOut = b.waitFor("tgt: approved CAST_OUT");
    CHECK(field(castOut, "chg") == "[1.1]");
    CHECK(field(castOut, "leave") == "[1.1:CAST_OUT:0]");
    CHECK(b.rc("state tgt x") == "HA_GS_BAD_MEMBER_TOKEN");
    const std::string leaveNote = s.next();
    CHECK(hasFlag(leaveNote, "type", "DELTA_LEAVE"));
    CHECK(field(s.next(), "type") == "DISSOLVED");
}

TEST_CASE("source groups: queued membership changes run before a queued reflection")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), t1("t1", gsd), t2("t2", gsd);
    REQUIRE(a.rc("join src 1") == "HA_GS_OK");
    a.waitFor("src: approved JOIN");
    REQUIRE(t1.rc("join tgt 1 source=src") == "HA_GS_OK");
    t1.waitFor("tgt: approved JOIN");
    REQUIRE(t1.rc("state tgt hold phases=n") == "HA_GS_OK");
    t1.waitFor("tgt: nphase STATE_VALUE_CHANGE");
    REQUIRE(a.rc("state src S1") == "HA_GS_OK"); /* a reflection is queued in tgt */
    a.waitFor("src: approved STATE_VALUE_CHANGE");
    REQUIRE(t2.rc("join tgt 2 source=src") == "HA_GS_OK"); /* then a join */
    REQUIRE(t1.rc("vote tgt approve") == "HA_GS_OK");
    CHECK(Match("tgt: approved STATE_VALUE_CHANGE")(t1.nextWith("tgt: ")));
    CHECK(Match("tgt: approved JOIN", {"chg=[2.1]"})(t1.nextWith("tgt: ")));
    const std::string reflection = t1.nextWith("tgt: ");
    CHECK(Match("tgt: approved SOURCE_STATE_REFLECTION", {"cur=[1.1,2.1]"})(reflection));
    CHECK(field(reflection, "src") == "\"S1\"");
}
