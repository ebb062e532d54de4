/* SPDX-License-Identifier: MIT */
/* Subscribers: initial notification, approved changes, flags, dissolve. */
#include "harness.hpp"

#include <random>
#include <string>

using namespace api;

namespace {

/* The "view" lines of a client, from the first one with `fromState` to the
 * first one with `toState`, both included. */
std::vector<std::string> viewsBetween(const Client &c, const std::string &group,
                                      const std::string &fromState, const std::string &toState)
{
    std::vector<std::string> out;
    bool on = false;
    for (const auto &line : c.history()) {
        if (line.rfind(group + ": view ", 0) != 0)
            continue;
        const std::string st = field(line, "state");
        if (!on && st == "\"" + fromState + "\"")
            on = true;
        if (on)
            out.push_back(line);
        if (on && st == "\"" + toState + "\"")
            break;
    }
    return out;
}

} // namespace

TEST_CASE("subscribe: the first notification gives the current membership and/or state")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);
    ClientProcess s1("s1", gsd), s2("s2", gsd), s3("s3", gsd), s4("s4", gsd), s5("s5", gsd);
    joinInOrder({&a, &b}, "g");
    REQUIRE(a.rc("state g s0") == "HA_GS_OK");
    a.waitFor("g: approved STATE_VALUE_CHANGE");

    REQUIRE(s1.rc("subscribe g membership,state") == "HA_GS_OK");
    REQUIRE(s2.rc("subscribe g join") == "HA_GS_OK");
    REQUIRE(s3.rc("subscribe g state") == "HA_GS_OK");
    REQUIRE(s4.rc("subscribe g all") == "HA_GS_OK");
    REQUIRE(s5.rc("subscribe g membership") == "HA_GS_OK");
    CHECK(subSummary(s1.next()) == "g: sub type=STATE|MEMBERSHIP state=\"s0\" full=[1.1,2.1]");
    CHECK(subSummary(s2.next()) == "g: sub type=DELTA_JOIN chg=[1.1,2.1]");
    CHECK(subSummary(s3.next()) == "g: sub type=STATE state=\"s0\"");
    const std::string all = s4.next();
    CHECK(hasFlag(all, "type", "MEMBERSHIP"));
    CHECK_FALSE(hasFlag(all, "type", "DELTA_LEAVE"));
    CHECK_FALSE(hasFlag(all, "type", "STATE"));
    CHECK(field(all, "full") == "[1.1,2.1]");
    CHECK(subSummary(s5.next()) == "g: sub type=MEMBERSHIP full=[1.1,2.1]");
}

TEST_CASE("subscribe: the first notification reflects the last approved state")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), s("s", gsd);
    REQUIRE(a.rc("join g 1") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    REQUIRE(a.rc("state g before") == "HA_GS_OK");
    a.waitFor("g: approved STATE_VALUE_CHANGE");
    REQUIRE(a.rc("state g pending phases=n") == "HA_GS_OK");
    a.waitFor("g: nphase STATE_VALUE_CHANGE");
    REQUIRE(s.rc("subscribe g membership,state") == "HA_GS_OK");
    CHECK(subSummary(s.next()) == "g: sub type=STATE|MEMBERSHIP state=\"before\" full=[1.1]");
    REQUIRE(a.rc("vote g approve") == "HA_GS_OK");
    CHECK(subSummary(s.next()) == "g: sub type=STATE state=\"pending\"");
}

TEST_CASE("subscribe: every approved change follows, in order, as the flags ask")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), c("c", gsd);
    ClientProcess all("all", gsd), state("state", gsd), members("members", gsd);
    REQUIRE(a.rc("join g 1") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    REQUIRE(all.rc("subscribe g all,state") == "HA_GS_OK");
    REQUIRE(state.rc("subscribe g state") == "HA_GS_OK");
    REQUIRE(members.rc("subscribe g membership") == "HA_GS_OK");
    CHECK(subSummary(all.next()) == "g: sub type=STATE|MEMBERSHIP state=\"\" full=[1.1]");
    CHECK(subSummary(state.next()) == "g: sub type=STATE state=\"\"");
    CHECK(subSummary(members.next()) == "g: sub type=MEMBERSHIP full=[1.1]");

    REQUIRE(b.rc("join g 2") == "HA_GS_OK");
    b.waitFor("g: approved JOIN");
    CHECK(subSummary(all.next()) == "g: sub type=DELTA_JOIN|MEMBERSHIP full=[1.1,2.1] chg=[2.1]");
    CHECK(subSummary(members.next()) == "g: sub type=MEMBERSHIP full=[1.1,2.1]");

    REQUIRE(a.rc("state g v1") == "HA_GS_OK");
    CHECK(subSummary(all.next()) == "g: sub type=STATE state=\"v1\"");
    CHECK(subSummary(state.next()) == "g: sub type=STATE state=\"v1\"");

    REQUIRE(b.rc("leave g") == "HA_GS_OK");
    b.waitFor("g: approved LEAVE");
    CHECK(subSummary(all.next()) == "g: sub type=DELTA_LEAVE|MEMBERSHIP full=[1.1] chg=[2.1]");
    CHECK(subSummary(members.next()) == "g: sub type=MEMBERSHIP full=[1.1]");

    /* The state-only subscriber saw no membership change in between. */
    REQUIRE(a.rc("state g v2") == "HA_GS_OK");
    CHECK(subSummary(state.next()) == "g: sub type=STATE state=\"v2\"");
    CHECK(subSummary(all.next()) == "g: sub type=STATE state=\"v2\"");
    /* And the membership-only subscriber saw no state change. */
    REQUIRE(c.rc("join g 3") == "HA_GS_OK");
    CHECK(subSummary(members.next()) == "g: sub type=MEMBERSHIP full=[1.1,3.1]");
    CHECK(subSummary(all.next()) == "g: sub type=DELTA_JOIN|MEMBERSHIP full=[1.1,3.1] chg=[3.1]");

    /* Goodbye and death are leaves too. */
    REQUIRE(c.rc("goodbye g") == "HA_GS_OK");
    CHECK(subSummary(all.next()) == "g: sub type=DELTA_LEAVE|MEMBERSHIP full=[1.1] chg=[3.1]");
    CHECK(subSummary(members.next()) == "g: sub type=MEMBERSHIP full=[1.1]");
}

TEST_CASE("subscribe: a subscriber never sees a rejected change")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), s("s", gsd);
    REQUIRE(a.rc("autovote g approve") == "HA_GS_OK");
    REQUIRE(a.rc("join g 1 phases=n") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    REQUIRE(s.rc("subscribe g all,state") == "HA_GS_OK");
    s.next();

    /* A rejected join. */
    REQUIRE(a.rc("autovote g reject") == "HA_GS_OK");
    REQUIRE(b.rc("autovote g approve") == "HA_GS_OK");
    REQUIRE(b.rc("join g 2 phases=n") == "HA_GS_OK");
    b.waitFor("g: rejected JOIN");
    /* A rejected state change. */
    REQUIRE(a.rc("state g no phases=n") == "HA_GS_OK");
    a.waitFor("g: rejected STATE_VALUE_CHANGE");
    /* Then approved ones: they are the subscriber's next news. */
    REQUIRE(a.rc("autovote g approve") == "HA_GS_OK");
    REQUIRE(a.rc("state g yes phases=n") == "HA_GS_OK");
    a.waitFor("g: approved STATE_VALUE_CHANGE");
    CHECK(subSummary(s.next()) == "g: sub type=STATE state=\"yes\"");
    REQUIRE(b.rc("join g 3 phases=n") == "HA_GS_OK");
    b.waitFor("g: approved JOIN");
    CHECK(subSummary(s.next()) == "g: sub type=DELTA_JOIN|MEMBERSHIP full=[1.1,3.1] chg=[3.1]");
}

TEST_CASE("subscribe: providers and subscribers see the same sequence of approved changes")
{
    const unsigned seed = 20240611;
    CAPTURE(seed);
    std::mt19937 rng(seed);
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), c("c", gsd), d("d", gsd);
    ClientProcess s1("s1", gsd), s2("s2", gsd);
    std::vector<Client *> providers = {&a, &b, &c};
    std::vector<Client *> watchers = {&a, &b, &c, &s1, &s2};
    for (Client *w : watchers)
        REQUIRE(w->rc("views g on") == "HA_GS_OK");
    joinInOrder({&a, &b, &c}, "g");
    REQUIRE(s1.rc("subscribe g membership,state") == "HA_GS_OK");
    REQUIRE(s2.rc("subscribe g all,state") == "HA_GS_OK");
    s1.waitFor("g: view");
    s2.waitFor("g: view");
    REQUIRE(a.rc("state g M0") == "HA_GS_OK");
    for (Client *w : watchers)
        w->waitFor({"g: view", {"state=\"M0\""}});

    bool dIn = false;
    auto voters = [&] {
        std::vector<Client *> v = providers;
        if (dIn)
            v.push_back(&d);
        return v;
    };
    auto setVotes = [&](Client *special, const std::string &specialPolicy,
                        const std::string &others) {
        for (Client *v : voters())
            REQUIRE(v->rc("autovote g " + (v == special ? specialPolicy : others)) == "HA_GS_OK");
    };
    auto completeAt = [&](const Match &m, bool withD) {
        for (Client *p : providers)
            p->waitFor(m);
        if (withD)
            d.waitFor(m);
    };

    for (int i = 0; i < 30; ++i) {
        CAPTURE(i);
        const std::string v = "v" + std::to_string(i);
        Client *proposer = providers[rng() % providers.size()];
        const std::vector<Client *> vs = voters();
        Client *special = vs[rng() % vs.size()];
        const int kind = static_cast<int>(rng() % 8);
        CAPTURE(kind);
        switch (kind) {
        case 0: /* one-phase state change */
            REQUIRE(proposer->rc("state g " + v) == "HA_GS_OK");
            completeAt({"g: approved STATE_VALUE_CHANGE", {"prop=\"" + v + "\""}}, dIn);
            break;
        case 1: /* n-phase, approved */
            setVotes(nullptr, "", "approve");
            REQUIRE(proposer->rc("state g " + v + " phases=n") == "HA_GS_OK");
            completeAt({"g: approved STATE_VALUE_CHANGE", {"prop=\"" + v + "\""}}, dIn);
            break;
        case 2: /* n-phase, rejected */
            setVotes(special, "reject", "approve");
            REQUIRE(proposer->rc("state g " + v + " phases=n") == "HA_GS_OK");
            completeAt({"g: rejected STATE_VALUE_CHANGE", {"prop=\"" + v + "\""}}, dIn);
            break;
        case 3: /* message */
            REQUIRE(proposer->rc("msg g m" + std::to_string(i)) == "HA_GS_OK");
            completeAt({"g: approved PROVIDER_MESSAGE", {"msg=\"m" + std::to_string(i) + "\""}},
                       dIn);
            break;
        case 4: /* continue, then approve */
            setVotes(nullptr, "", "seq=continue,approve");
            REQUIRE(proposer->rc("state g " + v + " phases=n") == "HA_GS_OK");
            completeAt({"g: approved STATE_VALUE_CHANGE", {"prop=\"" + v + "\"", "phase=2/N"}},
                       dIn);
            break;
        case 5: /* a state value riding on a vote */
            setVotes(special, "approve state=w" + std::to_string(i), "approve");
            REQUIRE(proposer->rc("state g " + v + " phases=n") == "HA_GS_OK");
            completeAt({"g: approved STATE_VALUE_CHANGE", {"prop=\"w" + std::to_string(i) + "\""}},
                       dIn);
            break;
        case 6: /* d joins or leaves */
            if (!dIn) {
                REQUIRE(d.rc("join g 4") == "HA_GS_OK");
                completeAt({"g: approved JOIN", {"chg=[4.1]"}}, true);
                dIn = true;
            } else {
                REQUIRE(d.rc("leave g") == "HA_GS_OK");
                completeAt({"g: approved LEAVE", {"chg=[4.1]"}}, true);
                dIn = false;
            }
            break;
        default: /* d is expelled, or joins */
            if (dIn) {
                REQUIRE(proposer->rc("expel g 4.1") == "HA_GS_OK");
                completeAt({"g: approved EXPEL", {"chg=[4.1]"}}, true);
                dIn = false;
            } else {
                REQUIRE(d.rc("join g 4") == "HA_GS_OK");
                completeAt({"g: approved JOIN", {"chg=[4.1]"}}, true);
                dIn = true;
            }
            break;
        }
    }
    REQUIRE(a.rc("state g END") == "HA_GS_OK");
    for (Client *w : watchers)
        w->waitFor({"g: view", {"state=\"END\""}});

    const auto reference = viewsBetween(a, "g", "M0", "END");
    CHECK(reference.size() > 10);
    for (Client *w : watchers) {
        INFO("watcher " << w->name());
        CHECK(viewsBetween(*w, "g", "M0", "END") == reference);
    }
    for (Client *s : {&s1, &s2}) {
        for (const auto &line : s->history()) {
            INFO(line);
            CHECK_FALSE(
                (hasFlag(line, "type", "DELTA_JOIN") && hasFlag(line, "type", "DELTA_LEAVE")));
            CHECK(line.find("rejected") == std::string::npos);
        }
    }
}

TEST_CASE("subscribe: a subscriber that reads late still gets every change, in order")
{
    PrivateGsd gsd;
    ClientProcess s("s", gsd);
    LocalClient a("a", gsd);
    REQUIRE(a.rc("join g 1") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    REQUIRE(s.rc("subscribe g state") == "HA_GS_OK");
    s.next();
    REQUIRE(s.rc("hold") == "HA_GS_OK");
    constexpr int kChanges = 300;
    for (int i = 0; i < kChanges; ++i)
        REQUIRE(a.rc("state g v" + std::to_string(i)) == "HA_GS_OK");
    REQUIRE(s.rc("resume") == "HA_GS_OK");
    for (int i = 0; i < kChanges; ++i) {
        CAPTURE(i);
        REQUIRE(subSummary(s.next()) == "g: sub type=STATE state=\"v" + std::to_string(i) + "\"");
    }
}

TEST_CASE("subscribe: dissolve when the last provider leaves; resubscribing gives UNKNOWN_GROUP")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), s("s", gsd);
    REQUIRE(a.rc("join g 1") == "HA_GS_OK");
    REQUIRE(b.rc("join h 1") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    b.waitFor("h: approved JOIN");
    REQUIRE(a.rc("state g gone") == "HA_GS_OK");
    a.waitFor("g: approved STATE_VALUE_CHANGE");
    REQUIRE(s.rc("subscribe g all,state") == "HA_GS_OK");
    REQUIRE(s.rc("subscribe h state") == "HA_GS_OK");
    s.waitFor("g: sub");
    s.waitFor("h: sub");

    REQUIRE(a.rc("leave g") == "HA_GS_OK");
    const std::string leave = a.waitFor("g: approved LEAVE");
    CHECK(hasFlag(leave, "summary", "GROUP_DISSOLVED"));
    CHECK(subSummary(s.nextWith("g: ")) == "g: sub type=DELTA_LEAVE|MEMBERSHIP full=[] chg=[1.1]");
    CHECK(field(s.nextWith("g: "), "type") == "DISSOLVED");
    CHECK(s.rc("unsubscribe g") == "HA_GS_BAD_MEMBER_TOKEN");

    /* The other subscription and the connection are intact. */
    REQUIRE(b.rc("state h still") == "HA_GS_OK");
    CHECK(subSummary(s.nextWith("h: ")) == "h: sub type=STATE state=\"still\"");

    /* No provider has re-created g: a delayed error naming the request. */
    REQUIRE(s.rc("subscribe g all") == "HA_GS_OK");
    const std::string err = s.nextWith("g: ");
    CHECK(Match("g: delayed rc=HA_GS_UNKNOWN_GROUP proto=SUBSCRIPTION")(err));
    CHECK(field(err, "group") == "g");
    CHECK(field(err, "control") == "DELTA_JOIN|DELTA_LEAVE|MEMBERSHIP");
    CHECK(field(err, "cb") == "set");
    CHECK(s.rc("unsubscribe g") == "HA_GS_BAD_MEMBER_TOKEN");

    /* A group that never existed behaves the same. */
    REQUIRE(s.rc("subscribe never state") == "HA_GS_OK");
    CHECK(Match("never: delayed rc=HA_GS_UNKNOWN_GROUP proto=SUBSCRIPTION",
                {"group=never"})(s.nextWith("never: ")));

    /* Re-created, the group starts afresh: its old state is forgotten. */
    REQUIRE(a.rc("join g 1") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    REQUIRE(s.rc("subscribe g membership,state") == "HA_GS_OK");
    CHECK(subSummary(s.nextWith("g: ")) == "g: sub type=STATE|MEMBERSHIP state=\"\" full=[1.1]");
}

TEST_CASE("subscribe: unsubscribe, and HA_GS_EXISTS on a second subscription")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), s("s", gsd);
    REQUIRE(a.rc("join g 1") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    REQUIRE(s.rc("subscribe g membership,state") == "HA_GS_OK");
    s.next();
    CHECK(s.rc("subscribe g state") == "HA_GS_EXISTS");
    CHECK(s.rc("unsubscribe g") == "HA_GS_OK");
    CHECK(s.rc("unsubscribe g") == "HA_GS_BAD_MEMBER_TOKEN");

    REQUIRE(a.rc("state g u1") == "HA_GS_OK");
    a.waitFor("g: approved STATE_VALUE_CHANGE");
    /* Subscribing again is allowed; the first news is the initial notification. */
    REQUIRE(s.rc("subscribe g membership,state") == "HA_GS_OK");
    CHECK(subSummary(s.next()) == "g: sub type=STATE|MEMBERSHIP state=\"u1\" full=[1.1]");
}

TEST_CASE("subscribe: HA_GS_BAD_MEMBER_TOKEN when the token is of the wrong kind")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd);
    REQUIRE(c.rc("join g 1") == "HA_GS_OK");
    c.waitFor("g: approved JOIN");
    REQUIRE(c.rc("subscribe g state") == "HA_GS_OK"); /* provider and subscriber of g */
    c.waitFor("g: sub");

    CHECK(c.rc("unsubscribe p:g") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(c.rc("state s:g x") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(c.rc("msg s:g x") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(c.rc("leave s:g") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(c.rc("goodbye s:g") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(c.rc("expel s:g 1.1") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(c.rc("attrs s:g tl=3") == "HA_GS_BAD_MEMBER_TOKEN");
    REQUIRE(c.rc("state g x phases=n") == "HA_GS_OK");
    c.waitFor("g: nphase STATE_VALUE_CHANGE");
    CHECK(c.rc("vote s:g approve") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(c.rc("vote p:g approve") == "HA_GS_OK");
    c.waitFor("g: approved STATE_VALUE_CHANGE");
    CHECK(subSummary(c.waitFor("g: sub")) == "g: sub type=STATE state=\"x\"");
}

TEST_CASE("subscribe: HA_GS_BAD_PARAMETER for bad requests")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd);
    for (const char *bad : {"subscribe g 0", "subscribe g special", "subscribe g 0x80",
                            "subscribe g 0x21", "subscribe g 0x41", "subscribe g state nocb=1",
                            "subscribe g state nulltoken=1", "subscribe g state nullgroup=1"}) {
        CAPTURE(bad);
        CHECK(c.rc(bad) == "HA_GS_BAD_PARAMETER");
    }
    CHECK(c.rc("subscribe g state,special") == "HA_GS_OK");
}

TEST_CASE("subscribe: an unknown group without a delayed-error callback")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd, false);
    REQUIRE(c.rc("init nocb=1") == "HA_GS_OK");
    const Reply r = c.call("subscribe nowhere state");
    REQUIRE(r.rc == "HA_GS_OK");
    /* Nobody to tell; the subscription still ends, and the session goes on. */
    REQUIRE(c.rc("join g 1") == "HA_GS_OK");
    c.waitFor("g: approved JOIN");
    CHECK(c.rc("unsubscribe nowhere") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(c.history().size() == 1);
}

TEST_CASE("subscribe: HostMembership holds this node, instance number = node number")
{
    PrivateGsd gsd(GsdOptions{.node = 7});
    ClientProcess s("s", gsd), d("d", gsd), p("p", gsd);
    REQUIRE(s.rc("subscribe HostMembership membership") == "HA_GS_OK");
    CHECK(subSummary(s.next()) == "HostMembership: sub type=MEMBERSHIP full=[7.7]");
    REQUIRE(d.rc("subscribe HostMembership join") == "HA_GS_OK");
    CHECK(subSummary(d.next()) == "HostMembership: sub type=DELTA_JOIN chg=[7.7]");
    /* A system group: nobody joins it, nor names it as a source group. */
    CHECK(p.rc("join HostMembership 7") == "HA_GS_INVALID_GROUP");
    CHECK(p.rc("join t 1 source=HostMembership") == "HA_GS_INVALID_SOURCE_GROUP");
    /* Ordinary groups come and go; HostMembership's subscribers hear nothing
     * of them. */
    REQUIRE(p.rc("join g 1") == "HA_GS_OK");
    p.waitFor("g: approved JOIN");
    REQUIRE(p.rc("leave g") == "HA_GS_OK");
    p.waitFor("g: approved LEAVE");
    REQUIRE(s.rc("unsubscribe HostMembership") == "HA_GS_OK");
    CHECK(s.rc("subscribe HostMembership all") == "HA_GS_OK");
    CHECK(field(s.next(), "full") == "[7.7]");
    d.drain(300);
    CHECK(d.pending().empty());
}
