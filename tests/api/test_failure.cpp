/* SPDX-License-Identifier: MIT */
/* Failures: dying providers, ha_gs_quit, unresponsive clients, gsd's death. */
#include "harness.hpp"

#include <csignal>
#include <string>
#include <sys/wait.h>

using namespace api;

TEST_CASE("failure: a provider killed mid-protocol gets the default vote, then a failure leave")
{
    for (const bool defaultReject : {false, true}) {
        CAPTURE(defaultReject);
        PrivateGsd gsd;
        ClientProcess a("a", gsd), b("b", gsd), c("c", gsd), s("s", gsd);
        joinInOrder({&a, &b, &c}, "g");
        REQUIRE(s.rc("subscribe g all,state") == "HA_GS_OK");
        s.next();

        REQUIRE(a.rc("state g x phases=n") == "HA_GS_OK");
        for (Client *x : std::vector<Client *>{&a, &b, &c})
            x->waitFor("g: nphase STATE_VALUE_CHANGE");
        CHECK(a.rc(defaultReject ? "vote g approve default=reject" : "vote g approve") ==
              "HA_GS_OK");
        CHECK(b.rc("vote g approve") == "HA_GS_OK");
        c.kill(SIGKILL);
        REQUIRE(c.waitExit());

        for (Client *x : std::vector<Client *>{&a, &b}) {
            INFO("client " << x->name());
            const std::string outcome = x->nextWith("g: ");
            CHECK(Match(defaultReject ? "g: rejected STATE_VALUE_CHANGE"
                                      : "g: approved STATE_VALUE_CHANGE")(outcome));
            CHECK(hasFlag(outcome, "summary", "PROVIDER_FAILED"));
            CHECK(
                hasFlag(outcome, "summary", defaultReject ? "DEFAULT_REJECT" : "DEFAULT_APPROVE"));
            const std::string leave = x->nextWith("g: ");
            CHECK(Match("g: approved FAILURE_LEAVE", {"cur=[1.1,2.1]", "chg=[3.1]"})(leave));
            CHECK(field(leave, "leave") == "[3.1:FAILED_LEAVE:0]");
        }
        if (!defaultReject)
            CHECK(subSummary(s.next()) == "g: sub type=STATE state=\"x\"");
        CHECK(subSummary(s.next()) ==
              "g: sub type=DELTA_LEAVE|MEMBERSHIP full=[1.1,2.1] chg=[3.1]");
    }
}

TEST_CASE("failure: an n-phase failure leave cannot be rejected")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), c("c", gsd);
    for (Client *x : std::vector<Client *>{&a, &b, &c})
        REQUIRE(x->rc("autovote g approve") == "HA_GS_OK");
    joinInOrder({&a, &b, &c}, "g", "phases=n");
    for (Client *x : std::vector<Client *>{&a, &b})
        REQUIRE(x->rc("autovote g none") == "HA_GS_OK");
    c.kill(SIGKILL);
    REQUIRE(c.waitExit());
    for (Client *x : std::vector<Client *>{&a, &b}) {
        const std::string n = x->waitFor("g: nphase FAILURE_LEAVE");
        CHECK(field(n, "chg") == "[3.1]");
        CHECK(field(n, "leave") == "[3.1:FAILED_LEAVE:0]");
    }
    CHECK(a.rc("vote g reject") == "HA_GS_OK");
    CHECK(b.rc("vote g approve") == "HA_GS_OK");
    for (Client *x : std::vector<Client *>{&a, &b}) {
        const std::string done = x->nextWith("g: ");
        CHECK(Match("g: approved FAILURE_LEAVE", {"chg=[3.1]"})(done));
        CHECK(hasFlag(done, "summary", "EXPLICIT_REJECT"));
    }
    REQUIRE(a.rc("state g after") == "HA_GS_OK");
    CHECK(field(a.waitFor("g: approved STATE_VALUE_CHANGE"), "cur") == "[1.1,2.1]");
}

TEST_CASE("failure: a process that dies with its join queued is never joined")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), d("d", gsd);
    REQUIRE(a.rc("join g 1") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    REQUIRE(a.rc("state g hold phases=n") == "HA_GS_OK");
    a.waitFor("g: nphase STATE_VALUE_CHANGE");
    REQUIRE(d.rc("join g 2") == "HA_GS_OK");
    d.kill(SIGKILL);
    REQUIRE(d.waitExit());
    /* gsd learns of the death by itself; the protocol still waits for a. */
    REQUIRE(a.rc("vote g approve") == "HA_GS_OK");
    a.waitFor("g: approved STATE_VALUE_CHANGE");
    REQUIRE(a.rc("state g after") == "HA_GS_OK");
    /* Either the join was withdrawn, or it ran and the failure leave followed;
     * never is the dead process left a member. */
    REQUIRE(a.rc("echo sync") == "HA_GS_OK");
    const std::string next = a.waitFor({"g: approved STATE_VALUE_CHANGE", {"prop=\"after\""}});
    CHECK(field(next, "cur") == "[1.1]");
}

TEST_CASE("failure: a joiner that dies during its n-phase join is joined, then leaves")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);
    REQUIRE(a.rc("autovote g approve") == "HA_GS_OK");
    REQUIRE(a.rc("join g 1 phases=n") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    a.clearPending();
    REQUIRE(a.rc("autovote g none") == "HA_GS_OK");
    REQUIRE(b.rc("join g 2 phases=n") == "HA_GS_OK");
    a.waitFor({"g: nphase JOIN", {"chg=[2.1]"}});
    b.waitFor({"g: nphase JOIN", {"chg=[2.1]"}});
    REQUIRE(a.rc("vote g approve") == "HA_GS_OK");
    b.kill(SIGKILL);
    REQUIRE(b.waitExit());
    const std::string join = a.nextWith("g: ");
    CHECK(Match("g: approved JOIN", {"chg=[2.1]"})(join));
    CHECK(hasFlag(join, "summary", "PROVIDER_FAILED"));
    /* Joins and failure leaves of this group are n-phase: a votes on it. */
    CHECK(Match("g: nphase FAILURE_LEAVE", {"cur=[1.1,2.1]", "chg=[2.1]"})(a.nextWith("g: ")));
    REQUIRE(a.rc("vote g approve") == "HA_GS_OK");
    CHECK(Match("g: approved FAILURE_LEAVE", {"cur=[1.1]", "chg=[2.1]"})(a.nextWith("g: ")));
}

TEST_CASE("failure: the last member's goodbye with a join queued does not dissolve the group")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), s("s", gsd);
    REQUIRE(a.rc("join g 1") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    REQUIRE(s.rc("subscribe g all") == "HA_GS_OK");
    s.next();
    REQUIRE(a.rc("state g hold phases=n") == "HA_GS_OK");
    a.waitFor("g: nphase STATE_VALUE_CHANGE");
    REQUIRE(b.rc("join g 2") == "HA_GS_OK");
    REQUIRE(a.rc("goodbye g") == "HA_GS_OK");
    /* The queue runs in order: b's join, then a's failure leave. */
    CHECK(Match("g: approved JOIN", {"cur=[1.1,2.1]", "chg=[2.1]"})(b.nextWith("g: ")));
    const std::string leave = b.nextWith("g: ");
    CHECK(Match("g: approved FAILURE_LEAVE", {"cur=[2.1]", "chg=[1.1]"})(leave));
    CHECK_FALSE(hasFlag(leave, "summary", "GROUP_DISSOLVED"));
    CHECK(subSummary(s.next()) == "g: sub type=DELTA_JOIN|MEMBERSHIP full=[1.1,2.1] chg=[2.1]");
    CHECK(subSummary(s.next()) == "g: sub type=DELTA_LEAVE|MEMBERSHIP full=[2.1] chg=[1.1]");
    /* Still a group: b's proposal is the subscriber's next news. */
    REQUIRE(b.rc("state g alive") == "HA_GS_OK");
    CHECK(field(b.waitFor("g: approved STATE_VALUE_CHANGE"), "cur") == "[2.1]");
}

TEST_CASE("failure: a provider that dies is removed from each of its groups")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);
    joinInOrder({&a, &b}, "g");
    joinInOrder({&a, &b}, "h");
    b.kill(SIGKILL);
    REQUIRE(b.waitExit());
    for (const char *group : {"g", "h"}) {
        const std::string leave = a.waitFor(std::string(group) + ": approved FAILURE_LEAVE");
        CHECK(field(leave, "chg") == "[2.1]");
        CHECK(field(leave, "leave") == "[2.1:FAILED_LEAVE:0]");
    }
}

TEST_CASE("failure: ha_gs_quit is like death for the others; the process may init again")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), s("s", gsd);
    joinInOrder({&a, &b}, "g");
    REQUIRE(b.rc("subscribe g state") == "HA_GS_OK");
    b.waitFor("g: sub");
    REQUIRE(b.rc("quit") == "HA_GS_OK");
    const std::string leave = a.waitFor("g: approved FAILURE_LEAVE");
    CHECK(field(leave, "chg") == "[2.1]");
    CHECK(field(leave, "leave") == "[2.1:FAILED_LEAVE:0]");
    CHECK(b.rc("node") == "HA_GS_NO_INIT");
    CHECK(b.rc("state g x") == "HA_GS_NO_INIT");

    REQUIRE(b.rc("init") == "HA_GS_OK");
    REQUIRE(b.rc("join g 2") == "HA_GS_OK");
    CHECK(field(b.waitFor("g: approved JOIN"), "cur") == "[1.1,2.1]");
    /* Subscriptions ended silently: b can subscribe again. */
    CHECK(b.rc("subscribe g state") == "HA_GS_OK");
}

TEST_CASE("failure: the group dissolves when its last provider dies")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), s("s", gsd);
    REQUIRE(a.rc("join g 1") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    REQUIRE(s.rc("subscribe g all") == "HA_GS_OK");
    s.next();
    a.kill(SIGKILL);
    REQUIRE(a.waitExit());
    CHECK(subSummary(s.next()) == "g: sub type=DELTA_LEAVE|MEMBERSHIP full=[] chg=[1.1]");
    CHECK(field(s.next(), "type") == "DISSOLVED");
    CHECK(s.rc("unsubscribe g") == "HA_GS_BAD_MEMBER_TOKEN");
}

TEST_CASE("failure: a client that does not answer pings is announced to the other providers")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), mute("mute", gsd, {.autoInit = false}),
        polite("polite", gsd, {.autoInit = false});
    REQUIRE(mute.rc("init resp=ping interval=1 limit=1 answer=no") == "HA_GS_OK");
    REQUIRE(polite.rc("init resp=ping interval=1 limit=1") == "HA_GS_OK");
    /* The agent reports only the first ping, a second after init; the joins
     * may take longer (sanitizers, a loaded machine) and joinInOrder drops
     * the lines that arrive meanwhile. */
    polite.waitFor("*: responsiveness type=1");
    joinInOrder({&a, &mute, &polite}, "g");
    const std::string announce = a.waitFor({"g: announce", {"RESPONSIVENESS_NO_RESPONSE"}});
    CHECK(field(announce, "who") == "[2.1]");
    /* Nothing else happens: the mute provider is still a member. */
    REQUIRE(a.rc("state g x") == "HA_GS_OK");
    CHECK(field(a.waitFor("g: approved STATE_VALUE_CHANGE"), "cur") == "[1.1,2.1,3.1]");
}

TEST_CASE("failure: gsd killed while a client blocks in ha_gs_dispatch")
{
    PrivateGsd gsd;
    ClientProcess p("p", gsd), q("q", gsd);
    joinInOrder({&p, &q}, "g");
    REQUIRE(p.rc("join h 1") == "HA_GS_OK");
    p.waitFor("h: approved JOIN");
    REQUIRE(p.rc("subscribe g state") == "HA_GS_OK");
    REQUIRE(p.rc("subscribe h membership") == "HA_GS_OK");
    p.waitFor("g: sub");
    p.waitFor("h: sub");

    p.send("block");
    /* Proof that p is inside ha_gs_dispatch(HA_GS_BLOCKING): it reports news. */
    REQUIRE(q.rc("state g ping") == "HA_GS_OK");
    p.waitFor({"g: sub type=STATE", {"state=\"ping\""}});

    const int64_t killedAt = monotonicNs();
    gsd.kill(SIGKILL);
    REQUIRE(gsd.waitExit());
    const Reply r = p.reply("block", 5000);
    CHECK(r.rc == "HA_GS_NOT_OK");
    const int64_t returnedAt = std::stoll(r.get("t").empty() ? "0" : r.get("t"));
    CHECK(returnedAt - killedAt < 1'000'000'000); /* the contract's bound */
    /* Every subscription was told before ha_gs_dispatch returned. */
    CHECK(p.tryWaitFor("g: sub type=GS_HAS_DIED", 0).has_value());
    CHECK(p.tryWaitFor("h: sub type=GS_HAS_DIED", 0).has_value());

    for (const char *call : {"join x 3", "state g y", "msg g y", "leave g", "expel g 2.1",
                             "attrs g tl=3", "vote g approve", "subscribe x state", "unsubscribe g",
                             "node", "dispatch", "goodbye g"}) {
        CAPTURE(call);
        CHECK(p.rc(call) == "HA_GS_NOT_OK");
    }
    q.waitFor("*: dispatch HA_GS_NOT_OK");
    CHECK(q.rc("state g z") == "HA_GS_NOT_OK");

    /* No gsd: ha_gs_init cannot connect (and does not claim the old session). */
    CHECK(p.rc("init") == "HA_GS_CONNECT_FAILED");
    gsd.restart();
    REQUIRE(p.rc("init") == "HA_GS_OK");
    REQUIRE(q.rc("init") == "HA_GS_OK");
    REQUIRE(p.rc("join g 1") == "HA_GS_OK");
    CHECK(field(p.waitFor("g: approved JOIN"), "cur") == "[1.1]"); /* a new gsd, a new group */
    REQUIRE(q.rc("join g 2") == "HA_GS_OK");
    CHECK(field(q.waitFor("g: approved JOIN"), "cur") == "[1.1,2.1]");
}

TEST_CASE("failure: gsd stopped by SIGTERM or SIGINT tells its clients and exits 0")
{
    for (const int sig : {SIGTERM, SIGINT}) {
        CAPTURE(sig);
        PrivateGsd gsd;
        ClientProcess p("p", gsd);
        REQUIRE(p.rc("join g 1") == "HA_GS_OK");
        p.waitFor("g: approved JOIN");
        REQUIRE(p.rc("subscribe g state") == "HA_GS_OK");
        p.waitFor("g: sub");

        gsd.kill(sig);
        const auto status = gsd.waitExit();
        REQUIRE(status.has_value());
        CHECK(WIFEXITED(*status));
        CHECK(WEXITSTATUS(*status) == 0);
        CHECK(field(p.next(), "type") == "GS_HAS_DIED");
        CHECK(p.next() == "*: dispatch HA_GS_NOT_OK");
        CHECK(p.rc("node") == "HA_GS_NOT_OK");
    }
}

TEST_CASE("failure: a request made after gsd died returns HA_GS_NOT_OK")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd);
    REQUIRE(c.rc("join g 1") == "HA_GS_OK");
    c.waitFor("g: approved JOIN");
    REQUIRE(c.rc("subscribe g state") == "HA_GS_OK");
    c.waitFor("g: sub");
    gsd.kill(SIGKILL);
    REQUIRE(gsd.waitExit());
    CHECK(c.rc("state g x") == "HA_GS_NOT_OK");
    CHECK(c.rc("dispatch") == "HA_GS_NOT_OK");
    CHECK(c.tryWaitFor("g: sub type=GS_HAS_DIED", 0).has_value());
    CHECK(c.rc("dispatch") == "HA_GS_NOT_OK");
    CHECK(c.rc("node") == "HA_GS_NOT_OK");
}

TEST_CASE("failure: a second gsd on the same endpoint refuses to start")
{
    PrivateGsd gsd;
    const GsdRun second = runGsdOnce({"--socket", gsd.endpoint(), "--node-number", "2"}, 10000);
    CHECK_FALSE(second.timedOut);
    CHECK(WIFEXITED(second.status));
    CHECK(WEXITSTATUS(second.status) != 0);
    CHECK_FALSE(second.output.empty());
    INFO("second gsd said: " << second.output);

    /* The first one still serves the endpoint. */
    LocalClient c("c", gsd);
    const Reply node = c.call("node");
    CHECK(node.rc == "HA_GS_OK");
    CHECK(node.get("value") == "1");
    REQUIRE(c.rc("join g 1") == "HA_GS_OK");
    c.waitFor("g: approved JOIN");
}

TEST_CASE("failure: a request to a gsd that stopped answering returns HA_GS_NOT_OK")
{
    PrivateGsd gsd;
    ClientProcess c("c", gsd);
    REQUIRE(c.rc("join g 1") == "HA_GS_OK");
    c.waitFor("g: approved JOIN");
    gsd.kill(SIGSTOP); /* alive and connected, but silent */
    /* HA_GS_REQUEST_TIMEOUT_MS later the connection counts as lost. */
    const Reply r = c.call("state g x");
    gsd.kill(SIGCONT);
    CHECK(r.rc == "HA_GS_NOT_OK");
    CHECK(c.rc("node") == "HA_GS_NOT_OK");
}

TEST_CASE("failure: gsd refuses an endpoint it cannot serve")
{
    const std::string tooLong = "ipc:///tmp/" + std::string(120, 'a') + "/gsd.sock";
    for (const std::string &endpoint : {tooLong, std::string("tcp://127.0.0.1:1")}) {
        CAPTURE(endpoint);
        const GsdRun run = runGsdOnce({"--socket", endpoint}, 10000);
        CHECK_FALSE(run.timedOut);
        CHECK(WIFEXITED(run.status));
        CHECK(WEXITSTATUS(run.status) != 0);
        CHECK_FALSE(run.output.empty());
    }
}
