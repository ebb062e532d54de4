/* SPDX-License-Identifier: MIT */
/* ha_gs_join: group creation, attributes, names, instance numbers, limits. */
#include "harness.hpp"

#include <string>

using namespace api;

TEST_CASE("join: the first provider creates the group; the second join is seen by both")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);

    const Reply ja = a.call("join g 1");
    REQUIRE(ja.rc == "HA_GS_OK");
    CHECK(ja.token() != 0);
    const std::string first = a.waitFor("g: approved JOIN");
    CHECK(field(first, "phase") == "1/1");
    CHECK(field(first, "cur") == "[1.1]"); /* the membership after the join */
    CHECK(field(first, "chg") == "[1.1]");
    CHECK(field(first, "old") == "\"\"");
    CHECK(field(first, "prop") == "-");

    const Reply jb = b.call("join g 2");
    REQUIRE(jb.rc == "HA_GS_OK");
    CHECK(jb.token() != 0);
    const std::string atA = a.waitFor("g: approved JOIN");
    const std::string atB = b.waitFor("g: approved JOIN");
    CHECK(atA == atB);
    CHECK(field(atA, "cur") == "[1.1,2.1]");
    CHECK(field(atA, "chg") == "[2.1]");
}

TEST_CASE("join: HA_GS_BAD_GROUP_ATTRIBUTES for invalid attribute blocks")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd);
    const int size = static_cast<int>(sizeof(ha_gs_group_attributes_t));
    for (const std::string &bad :
         {std::string("version=2"), std::string("version=0"), "sizeof=" + std::to_string(size - 4),
          std::string("sizeof=0"), "sizeof=" + std::to_string(size + 8), std::string("phases=7"),
          std::string("phases=-1"), std::string("sphases=7"), std::string("batch=9"),
          std::string("default=continue"), std::string("default=9"), std::string("tl=-1"),
          std::string("stl=-1"), std::string("merge=5")}) {
        CAPTURE(bad);
        CHECK(c.rc("join g 1 " + bad) == "HA_GS_BAD_GROUP_ATTRIBUTES");
    }
    /* None of them created the group or left anything behind. */
    CHECK(c.rc("join g 1") == "HA_GS_OK");
    const std::string ok = c.waitFor("g: approved JOIN");
    CHECK(field(ok, "cur") == "[1.1]");
}

TEST_CASE("join: later joiners must give the group's immutable attributes only")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);
    REQUIRE(a.rc("join g 1 tl=5 default=reject batch=joins cv=1") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    /* Name, source group and merge control cannot change: they must match. */
    REQUIRE(a.rc("join other 1") == "HA_GS_OK");
    a.waitFor("other: approved JOIN");
    for (const std::string &unlike :
         {std::string("tl=5 default=reject batch=joins merge=1"),
          std::string("tl=5 default=reject batch=joins source=other")}) {
        CAPTURE(unlike);
        CHECK(b.rc("join g 2 " + unlike) == "HA_GS_BAD_GROUP_ATTRIBUTES");
    }
    /* The others can (ha_gs_change_attributes): they need not match, and
     * the group keeps its own. */
    CHECK(b.rc("join g 2 tl=6 batch=both sphases=n cv=99") == "HA_GS_OK");
    b.waitFor({"g: approved JOIN", {"chg=[2.1]"}});

    /* Zero fields mean the defaults: the same normalized attributes. */
    REQUIRE(a.rc("join norm 1") == "HA_GS_OK");
    a.waitFor("norm: approved JOIN");
    CHECK(b.rc("join norm 2 phases=1 default=approve tl=" +
               std::to_string(HA_GS_TIME_LIMIT_CEILING)) == "HA_GS_OK");
    b.waitFor({"norm: approved JOIN", {"chg=[2.1]"}});
}

TEST_CASE("join: HA_GS_DUPLICATE_INSTANCE_NUMBER for members and queued joiners")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), c("c", gsd);
    REQUIRE(a.rc("join g 1") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    CHECK(b.rc("join g 1") == "HA_GS_DUPLICATE_INSTANCE_NUMBER");

    /* Hold an n-phase protocol open so that the next join is queued. */
    REQUIRE(a.rc("state g hold phases=n") == "HA_GS_OK");
    a.waitFor("g: nphase STATE_VALUE_CHANGE");
    CHECK(b.rc("join g 2") == "HA_GS_OK");
    CHECK(c.rc("join g 2") == "HA_GS_DUPLICATE_INSTANCE_NUMBER");
    CHECK(a.rc("vote g approve") == "HA_GS_OK");
    a.waitFor("g: approved STATE_VALUE_CHANGE");
    b.waitFor({"g: approved JOIN", {"chg=[2.1]"}});
    CHECK(c.rc("join g 2") == "HA_GS_DUPLICATE_INSTANCE_NUMBER");
    CHECK(c.rc("join g 3") == "HA_GS_OK");
    c.waitFor({"g: approved JOIN", {"chg=[3.1]"}});
}

TEST_CASE("join: HA_GS_EXISTS when the process joins the same group twice")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd);
    REQUIRE(c.rc("join g 1") == "HA_GS_OK");
    CHECK(c.rc("join g 2") == "HA_GS_EXISTS"); /* before the approval */
    c.waitFor("g: approved JOIN");
    CHECK(c.rc("join g 3") == "HA_GS_EXISTS"); /* and after it */
    CHECK(c.rc("join g 1") == "HA_GS_EXISTS");
}

TEST_CASE("join: group names up to HA_GS_MAX_GROUP_NAME_LENGTH bytes")
{
    static_assert(HA_GS_MAX_GROUP_NAME_LENGTH == 127);
    PrivateGsd gsd;
    LocalClient c("c", gsd);
    CHECK(c.rc("join @128 1") == "HA_GS_NAME_TOO_LONG");
    CHECK(c.rc("subscribe @128 state") == "HA_GS_NAME_TOO_LONG");
    CHECK(c.rc("join @1000 1") == "HA_GS_NAME_TOO_LONG");
    CHECK(c.rc("join @127 1") == "HA_GS_OK");
    c.waitFor(std::string(127, 'x') + ": approved JOIN");
    CHECK(c.rc("subscribe @127 state") == "HA_GS_OK");
    c.waitFor(std::string(127, 'x') + ": sub");
}

TEST_CASE("join: HA_GS_INVALID_GROUP for empty or non-printable names")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd);
    for (const char *name :
         {"a\\x20b", "\\x20lead", "a\\x09b", "\\x01x", "\"\"", "caf\\xc3\\xa9", "del\\x7f"}) {
        CAPTURE(name);
        CHECK(c.rc(std::string("join ") + name + " 1") == "HA_GS_INVALID_GROUP");
        CHECK(c.rc(std::string("subscribe ") + name + " state") == "HA_GS_INVALID_GROUP");
    }
    /* Every printable character but the space is fine. */
    CHECK(c.rc("join !~#{}|:/.x 1") == "HA_GS_OK");
    c.waitFor("!~#{}|:/.x: approved JOIN");
}

TEST_CASE("join: HA_GS_TOO_MANY_GROUPS per client (providers and subscribers together)")
{
    PrivateGsd gsd({.args = {"--max-groups-per-client", "2"}});
    LocalClient c("c", gsd);
    REQUIRE(c.rc("join g1 1") == "HA_GS_OK");
    REQUIRE(c.rc("join g2 1") == "HA_GS_OK");
    c.waitFor("g1: approved JOIN");
    c.waitFor("g2: approved JOIN");
    CHECK(c.rc("join g3 1") == "HA_GS_TOO_MANY_GROUPS");
    CHECK(c.rc("subscribe g1 state") == "HA_GS_TOO_MANY_GROUPS");
    /* A leave frees the place once approved. */
    REQUIRE(c.rc("leave g1") == "HA_GS_OK");
    c.waitFor("g1: approved LEAVE");
    CHECK(c.rc("join g3 1") == "HA_GS_OK");
    c.waitFor("g3: approved JOIN");
}

TEST_CASE("join: HA_GS_TOO_MANY_GROUPS when the group has its maximum of providers")
{
    PrivateGsd gsd({.args = {"--max-providers-per-group", "1"}});
    ClientProcess a("a", gsd), b("b", gsd);
    REQUIRE(a.rc("join g 1") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    CHECK(b.rc("join g 2") == "HA_GS_TOO_MANY_GROUPS");
    CHECK(b.rc("join h 2") == "HA_GS_OK");
    b.waitFor("h: approved JOIN");
}

TEST_CASE("join: source groups")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd);
    CHECK(c.rc("join tgt 1 source=tgt") == "HA_GS_INVALID_SOURCE_GROUP");
    CHECK(c.rc("join tgt 1 source=a\\x20b") == "HA_GS_INVALID_SOURCE_GROUP");
    CHECK(c.rc("join tgt 1 source=@128") == "HA_GS_INVALID_SOURCE_GROUP");
    CHECK(c.rc("join tgt 1 source=absent") == "HA_GS_NO_SOURCE_GROUP_PROVIDER");
    /* An empty source name means none. */
    CHECK(c.rc("join plain 1 source=\"\"") == "HA_GS_OK");
    c.waitFor("plain: approved JOIN");
    REQUIRE(c.rc("join src 1") == "HA_GS_OK");
    c.waitFor("src: approved JOIN");
    CHECK(c.rc("join tgt 1 source=src") == "HA_GS_OK");
    c.waitFor("tgt: approved JOIN");
}

TEST_CASE("join: HA_GS_BAD_PARAMETER for missing pointers, callbacks and bad values")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd);
    for (const char *bad : {"nulltoken=1", "nullinfo=1", "nullattrs=1", "nocb=nphase",
                            "nocb=approved", "nocb=rejected", "local=@128"}) {
        CAPTURE(bad);
        CHECK(c.rc(std::string("join g 1 ") + bad) == "HA_GS_BAD_PARAMETER");
    }
    CHECK(c.rc("join g -1") == "HA_GS_BAD_PARAMETER");
    /* The announcement callback is optional; a 127-byte local name is fine. */
    CHECK(c.rc("join g 1 nocb=announcement local=@127") == "HA_GS_OK");
    c.waitFor("g: approved JOIN");
}
