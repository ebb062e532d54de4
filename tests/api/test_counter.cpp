/* SPDX-License-Identifier: MIT */
/* Counter responsiveness: gsd watches a counter in the client's memory and
 * treats a counter that stops like an unanswered ping. */
#include "harness.hpp"

#include <chrono>

using namespace api;

TEST_CASE("counter: an advancing counter stays responsive; a stopped one is announced like a "
          "missed ping")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), busy("busy", gsd, {.autoInit = false}),
        stuck("stuck", gsd, {.autoInit = false});
    REQUIRE(busy.rc("init resp=counter interval=1 limit=1") == "HA_GS_OK");
    REQUIRE(stuck.rc("init resp=counter interval=1 limit=1") == "HA_GS_OK");
    REQUIRE(busy.rc("counter run") == "HA_GS_OK");
    REQUIRE(stuck.rc("counter run") == "HA_GS_OK");
    joinInOrder({&a, &busy, &stuck}, "g");
    /* Both counters advance: nobody is announced. */
    CHECK_FALSE(a.tryWaitFor({"g: announce", {"RESPONSIVENESS_NO_RESPONSE"}}, 3000));

    REQUIRE(stuck.rc("counter stop") == "HA_GS_OK");
    const auto stopped = std::chrono::steady_clock::now();
    const std::string announce = a.waitFor({"g: announce", {"RESPONSIVENESS_NO_RESPONSE"}});
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped).count();
    CHECK(field(announce, "who") == "[3.1]");
    MESSAGE("a stopped counter was announced after " << seconds << " s");
    /* Within interval + limit, with a margin for a loaded machine. */
    CHECK(seconds <= 2 + 1.5);
    /* The same outcome as a missed ping: nothing else happens. */
    REQUIRE(a.rc("state g x") == "HA_GS_OK");
    CHECK(field(a.waitFor("g: approved STATE_VALUE_CHANGE"), "cur") == "[1.1,2.1,3.1]");
    /* The busy one is never announced. */
    a.drain(1500);
    for (const auto &line : a.history())
        if (line.find("announce") != std::string::npos)
            CHECK(field(line, "who") == "[3.1]");
    REQUIRE(busy.rc("counter stop") == "HA_GS_OK");
}

TEST_CASE("counter: ha_gs_init checks the counter and its timing")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd, false);
    CHECK(c.rc("init resp=counter interval=1 limit=1 counter=null") == "HA_GS_BAD_PARAMETER");
    CHECK(c.rc("init resp=counter interval=1 limit=1 clen=0") == "HA_GS_BAD_PARAMETER");
    CHECK(c.rc("init resp=counter interval=1 limit=1 clen=" +
               std::to_string(HA_GS_MAX_COUNTER_LENGTH + 1)) == "HA_GS_BAD_PARAMETER");
    CHECK(c.rc("init resp=counter interval=0 limit=1") == "HA_GS_BAD_PARAMETER");
    CHECK(c.rc("init resp=counter interval=1 limit=1") == "HA_GS_OK");
}
