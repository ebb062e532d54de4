/* SPDX-License-Identifier: MIT */
/* Queued joins and failure leaves, with and without batching. */
#include "harness.hpp"

#include <algorithm>
#include <string>

using namespace api;

namespace {

/* a creates g with `options`, holds an n-phase protocol open while b, c, d
 * join (in that order), then lets it end. Returns a's next JOIN lines. */
std::vector<std::string> joinWhileHeld(const std::string &options, int expectedProtocols)
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), c("c", gsd), d("d", gsd);
    REQUIRE(a.rc("join g 1 " + options) == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    REQUIRE(a.rc("state g hold phases=n") == "HA_GS_OK");
    a.waitFor("g: nphase STATE_VALUE_CHANGE");
    CHECK(b.rc("join g 2 " + options) == "HA_GS_OK");
    CHECK(c.rc("join g 3 " + options) == "HA_GS_OK");
    CHECK(d.rc("join g 4 " + options) == "HA_GS_OK");
    REQUIRE(a.rc("vote g approve") == "HA_GS_OK");
    /* The held protocol ends first, then the queued joins run. */
    CHECK(Match("g: approved STATE_VALUE_CHANGE")(a.nextWith("g: ")));
    std::vector<std::string> joins;
    for (int i = 0; i < expectedProtocols; ++i)
        joins.push_back(a.nextWith("g: "));
    /* The joiners saw the same protocol(s) that included them. */
    for (Client *joiner : std::vector<Client *>{&b, &c, &d}) {
        const std::string mine = joiner->waitFor("g: approved JOIN");
        CHECK(std::find(joins.begin(), joins.end(), mine) != joins.end());
    }
    /* Nothing else ran: the next protocol at a is its own state change. */
    REQUIRE(a.rc("state g after") == "HA_GS_OK");
    CHECK(Match("g: approved STATE_VALUE_CHANGE", {"prop=\"after\""})(a.nextWith("g: ")));
    return joins;
}

} // namespace

TEST_CASE("batching: with HA_GS_BATCH_JOINS queued joins run as one protocol")
{
    const auto joins = joinWhileHeld("batch=joins", 1);
    REQUIRE(joins.size() == 1);
    CHECK(Match("g: approved JOIN")(joins[0]));
    CHECK(field(joins[0], "cur") == "[1.1,2.1,3.1,4.1]"); /* after the change */
    CHECK(field(joins[0], "chg") == "[2.1,3.1,4.1]");
}

TEST_CASE("batching: HA_GS_BATCH_BOTH batches joins too")
{
    const auto joins = joinWhileHeld("batch=both", 1);
    REQUIRE(joins.size() == 1);
    CHECK(field(joins[0], "chg") == "[2.1,3.1,4.1]");
}

TEST_CASE("batching: without batching queued joins run one at a time, in order")
{
    const auto joins = joinWhileHeld("", 3);
    REQUIRE(joins.size() == 3);
    CHECK(Match("g: approved JOIN", {"cur=[1.1,2.1]", "chg=[2.1]"})(joins[0]));
    CHECK(Match("g: approved JOIN", {"cur=[1.1,2.1,3.1]", "chg=[3.1]"})(joins[1]));
    CHECK(Match("g: approved JOIN", {"cur=[1.1,2.1,3.1,4.1]", "chg=[4.1]"})(joins[2]));
}

TEST_CASE("batching: HA_GS_BATCH_LEAVES runs queued failure leaves as one protocol")
{
    for (const bool batched : {true, false}) {
        CAPTURE(batched);
        const std::string options = batched ? "batch=leaves" : "";
        PrivateGsd gsd;
        ClientProcess a("a", gsd), b("b", gsd), c("c", gsd), d("d", gsd);
        joinInOrder({&a, &b, &c, &d}, "g", options);
        REQUIRE(a.rc("state g hold phases=n") == "HA_GS_OK");
        for (Client *x : std::vector<Client *>{&a, &b, &c, &d})
            x->waitFor("g: nphase STATE_VALUE_CHANGE");
        CHECK(b.rc("goodbye g") == "HA_GS_OK");
        CHECK(c.rc("goodbye g") == "HA_GS_OK");
        CHECK(a.rc("vote g approve") == "HA_GS_OK");
        CHECK(d.rc("vote g approve") == "HA_GS_OK");
        const std::string held = a.nextWith("g: ");
        CHECK(Match("g: approved STATE_VALUE_CHANGE")(held));
        CHECK(hasFlag(held, "summary", "PROVIDER_FAILED"));
        if (batched) {
            const std::string leave = a.nextWith("g: ");
            CHECK(Match("g: approved FAILURE_LEAVE", {"cur=[1.1,4.1]", "chg=[2.1,3.1]"})(leave));
            CHECK(field(leave, "leave") == "[2.1:SAID_GOODBYE:0,3.1:SAID_GOODBYE:0]");
            CHECK(d.waitFor("g: approved FAILURE_LEAVE") == leave);
        } else {
            CHECK(Match("g: approved FAILURE_LEAVE",
                        {"cur=[1.1,3.1,4.1]", "chg=[2.1]"})(a.nextWith("g: ")));
            CHECK(Match("g: approved FAILURE_LEAVE",
                        {"cur=[1.1,4.1]", "chg=[3.1]"})(a.nextWith("g: ")));
        }
    }
}
