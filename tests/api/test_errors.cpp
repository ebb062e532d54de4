/* SPDX-License-Identifier: MIT */
/* Token ownership and the synchronous validation of request blocks. */
#include "harness.hpp"

#include <string>

using namespace api;

TEST_CASE("errors: a token of another client is HA_GS_BAD_MEMBER_TOKEN")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);
    const Reply ja = a.call("join g 1");
    REQUIRE(ja.rc == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    const Reply jb = b.call("join g 2");
    REQUIRE(jb.rc == "HA_GS_OK");
    b.waitFor({"g: approved JOIN", {"chg=[2.1]"}});
    const Reply sa = a.call("subscribe g state");
    REQUIRE(sa.rc == "HA_GS_OK");
    a.waitFor("g: sub");
    const std::string ta = "#" + std::to_string(ja.token());
    const std::string tsa = "#" + std::to_string(sa.token());
    REQUIRE(ja.token() != jb.token());

    for (const std::string &call :
         {"state " + ta + " x", "msg " + ta + " x", "leave " + ta, "goodbye " + ta,
          "expel " + ta + " 1.1", "attrs " + ta + " tl=3", "vote " + ta + " approve",
          "unsubscribe " + tsa}) {
        CAPTURE(call);
        CHECK(b.rc(call) == "HA_GS_BAD_MEMBER_TOKEN");
    }

    /* b cannot vote for a either, and a's own vote still counts. */
    REQUIRE(a.rc("state g x phases=n") == "HA_GS_OK");
    a.waitFor("g: nphase STATE_VALUE_CHANGE");
    b.waitFor("g: nphase STATE_VALUE_CHANGE");
    CHECK(b.rc("vote " + ta + " reject") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(a.rc("vote g approve") == "HA_GS_OK");
    CHECK(b.rc("vote g approve") == "HA_GS_OK");
    CHECK(field(a.waitFor("g: approved STATE_VALUE_CHANGE"), "summary") == "EXPLICIT_APPROVE");
    /* Nothing of a's changed. */
    CHECK(a.rc("state g y") == "HA_GS_OK");
    a.waitFor({"g: approved STATE_VALUE_CHANGE", {"prop=\"y\""}});
    CHECK(subSummary(a.waitFor({"g: sub", {"\"y\""}})) == "g: sub type=STATE state=\"y\"");
}

TEST_CASE("errors: unknown tokens are HA_GS_BAD_MEMBER_TOKEN")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd);
    REQUIRE(c.rc("join g 1") == "HA_GS_OK");
    c.waitFor("g: approved JOIN");
    for (const char *token : {"#0", "#-1", "#123456789"}) {
        for (const std::string &call :
             {std::string("state ") + token + " x", std::string("leave ") + token,
              std::string("goodbye ") + token, std::string("vote ") + token + " approve",
              std::string("unsubscribe ") + token, std::string("msg ") + token + " x"}) {
            CAPTURE(call);
            CHECK(c.rc(call) == "HA_GS_BAD_MEMBER_TOKEN");
        }
    }
}

TEST_CASE("errors: HA_GS_BAD_PARAMETER for bad request blocks")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd);
    REQUIRE(c.rc("join g 1") == "HA_GS_OK");
    c.waitFor("g: approved JOIN");
    for (const char *call :
         {"leave g nullinfo=1", "leave g phases=7", "leave g tl=-1", "expel g 1.1 nullinfo=1",
          "expel g 1.1 phases=7", "expel g 1.1 tl=-1", "state g x nullinfo=1", "state g x phases=7",
          "state g x tl=-1", "msg g x nullinfo=1", "msg g x phases=7", "msg g x tl=-1",
          "attrs g nullinfo=1", "attrs g pphases=7", "attrs g ptl=-1",
          "subscribe h state nullinfo=1"}) {
        CAPTURE(call);
        CHECK(c.rc(call) == "HA_GS_BAD_PARAMETER");
    }
    /* The group is intact and idle: a proposal goes through. */
    REQUIRE(c.rc("state g fine") == "HA_GS_OK");
    c.waitFor({"g: approved STATE_VALUE_CHANGE", {"prop=\"fine\""}});
}
