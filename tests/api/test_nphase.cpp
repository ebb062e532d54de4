/* SPDX-License-Identifier: MIT */
/* N-phase protocols: votes, phases, default votes, time limits, collisions. */
#include "harness.hpp"

#include <string>

using namespace api;

namespace {

/* Three providers a, b, c (instances 1, 2, 3 in that membership order). */
struct Trio {
    PrivateGsd gsd;
    ClientProcess a{"a", gsd}, b{"b", gsd}, c{"c", gsd};
    explicit Trio(const std::string &joinOptions = "")
    {
        joinInOrder({&a, &b, &c}, "g", joinOptions);
    }
    std::vector<Client *> all() { return {&a, &b, &c}; }
};

/* Waits for the same line (prefix `what`) at every client; returns it. */
std::string atAll(const std::vector<Client *> &clients, const Match &what,
                  std::source_location where = std::source_location::current())
{
    std::string first;
    for (Client *c : clients) {
        const std::string line = c->waitFor(what, kWaitMs, where);
        if (first.empty())
            first = line;
        INFO("client " << c->name());
        CHECK(line == first);
    }
    return first;
}

void voteAll(const std::vector<Client *> &clients, const std::string &vote)
{
    for (Client *c : clients)
        REQUIRE(c->rc("vote g " + vote) == "HA_GS_OK");
}

} // namespace

TEST_CASE("n-phase: every provider votes approve: approved in one phase")
{
    Trio t;
    REQUIRE(t.a.rc("state g x phases=n") == "HA_GS_OK");
    const std::string n = atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(field(n, "phase") == "1/N");
    CHECK(field(n, "summary") == "0");
    CHECK(field(n, "prop") == "\"x\"");
    CHECK(field(n, "cur") == "[1.1,2.1,3.1]");
    CHECK(field(n, "tl") == std::to_string(HA_GS_TIME_LIMIT_CEILING)); /* none asked */

    voteAll(t.all(), "approve");
    const std::string ok = atAll(t.all(), "g: approved STATE_VALUE_CHANGE");
    CHECK(field(ok, "phase") == "1/N");
    CHECK(field(ok, "summary") == "EXPLICIT_APPROVE");
    CHECK(field(ok, "prop") == "\"x\"");

    /* A limit above the ceiling is refused, never cut down; the ceiling
     * itself is a valid limit. */
    CHECK(t.b.rc("state g y phases=n tl=100000") == "HA_GS_BAD_PARAMETER");
    REQUIRE(t.b.rc("state g y phases=n tl=" + std::to_string(HA_GS_TIME_LIMIT_CEILING)) ==
            "HA_GS_OK");
    CHECK(field(atAll(t.all(), "g: nphase STATE_VALUE_CHANGE"), "tl") ==
          std::to_string(HA_GS_TIME_LIMIT_CEILING));
    voteAll(t.all(), "approve");
    atAll(t.all(), "g: approved STATE_VALUE_CHANGE");
}

TEST_CASE("n-phase: a CONTINUE vote runs another phase")
{
    Trio t;
    REQUIRE(t.a.rc("state g x phases=n") == "HA_GS_OK");
    atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(t.a.rc("vote g approve") == "HA_GS_OK");
    CHECK(t.b.rc("vote g approve") == "HA_GS_OK");
    CHECK(t.c.rc("vote g continue") == "HA_GS_OK");
    const std::string p2 = atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(field(p2, "phase") == "2/N");
    CHECK(field(p2, "prop") == "\"x\"");

    voteAll(t.all(), "continue");
    CHECK(field(atAll(t.all(), "g: nphase STATE_VALUE_CHANGE"), "phase") == "3/N");
    voteAll(t.all(), "approve");
    const std::string ok = atAll(t.all(), "g: approved STATE_VALUE_CHANGE");
    CHECK(field(ok, "phase") == "3/N");
    CHECK(hasFlag(ok, "summary", "EXPLICIT_APPROVE"));
}

TEST_CASE("n-phase: any REJECT rejects, at every provider; subscribers never see it")
{
    Trio t;
    ClientProcess s("s", t.gsd);
    REQUIRE(s.rc("subscribe g all,state") == "HA_GS_OK");
    s.next(); /* initial */

    REQUIRE(t.b.rc("state g bad phases=n") == "HA_GS_OK");
    atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(t.a.rc("vote g approve") == "HA_GS_OK");
    CHECK(t.b.rc("vote g continue") == "HA_GS_OK");
    CHECK(t.c.rc("vote g reject") == "HA_GS_OK");
    const std::string no = atAll(t.all(), "g: rejected STATE_VALUE_CHANGE");
    CHECK(hasFlag(no, "summary", "EXPLICIT_REJECT"));
    CHECK_FALSE(hasFlag(no, "summary", "EXPLICIT_APPROVE"));

    /* The state is unchanged and the subscriber's next news is the next change. */
    REQUIRE(t.a.rc("state g good") == "HA_GS_OK");
    const std::string ok = atAll(t.all(), "g: approved STATE_VALUE_CHANGE");
    CHECK(field(ok, "old") == "\"\"");
    CHECK(subSummary(s.next()) == "g: sub type=STATE state=\"good\"");
}

TEST_CASE("n-phase: a state value riding on a vote becomes the approved state")
{
    Trio t;
    REQUIRE(t.a.rc("state g proposed phases=n") == "HA_GS_OK");
    atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(t.a.rc("vote g approve") == "HA_GS_OK");
    CHECK(t.b.rc("vote g approve state=fromb") == "HA_GS_OK");
    CHECK(t.c.rc("vote g approve") == "HA_GS_OK");
    CHECK(field(atAll(t.all(), "g: approved STATE_VALUE_CHANGE"), "prop") == "\"fromb\"");

    /* Two proposals in one phase: the earliest provider in the membership
     * wins, whatever the order the votes arrived in. */
    REQUIRE(t.a.rc("state g second phases=n") == "HA_GS_OK");
    atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(t.c.rc("vote g approve state=fromc") == "HA_GS_OK");
    CHECK(t.b.rc("vote g approve state=fromb2") == "HA_GS_OK");
    CHECK(t.a.rc("vote g approve") == "HA_GS_OK");
    const std::string ok = atAll(t.all(), "g: approved STATE_VALUE_CHANGE");
    CHECK(field(ok, "prop") == "\"fromb2\"");
    CHECK(field(ok, "old") == "\"fromb\"");

    /* A value attached to a CONTINUE shows in the next phase. */
    REQUIRE(t.a.rc("state g third phases=n") == "HA_GS_OK");
    atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(t.a.rc("vote g approve") == "HA_GS_OK");
    CHECK(t.b.rc("vote g approve") == "HA_GS_OK");
    CHECK(t.c.rc("vote g continue state=fromc3") == "HA_GS_OK");
    CHECK(field(atAll(t.all(), "g: nphase STATE_VALUE_CHANGE"), "prop") == "\"fromc3\"");
    voteAll(t.all(), "approve");
    CHECK(field(atAll(t.all(), "g: approved STATE_VALUE_CHANGE"), "prop") == "\"fromc3\"");

    /* A state value riding on the vote of a message protocol changes the
     * state too, and subscribers of the state are told. */
    ClientProcess s("s", t.gsd);
    REQUIRE(s.rc("subscribe g state") == "HA_GS_OK");
    CHECK(subSummary(s.next()) == "g: sub type=STATE state=\"fromc3\"");
    REQUIRE(t.a.rc("msg g note phases=n") == "HA_GS_OK");
    CHECK(field(atAll(t.all(), "g: nphase PROVIDER_MESSAGE"), "msg") == "\"note\"");
    CHECK(t.a.rc("vote g approve state=viamsg") == "HA_GS_OK");
    CHECK(t.b.rc("vote g approve") == "HA_GS_OK");
    CHECK(t.c.rc("vote g approve") == "HA_GS_OK");
    CHECK(field(atAll(t.all(), "g: approved PROVIDER_MESSAGE"), "prop") == "\"viamsg\"");
    CHECK(subSummary(s.next()) == "g: sub type=STATE state=\"viamsg\"");
}

TEST_CASE("n-phase: a message riding on a vote appears in the next notification")
{
    Trio t;
    REQUIRE(t.a.rc("state g x phases=n") == "HA_GS_OK");
    const std::string p1 = atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(field(p1, "msg") == "-");
    CHECK(t.a.rc("vote g approve") == "HA_GS_OK");
    CHECK(t.c.rc("vote g continue msg=m3") == "HA_GS_OK");
    CHECK(t.b.rc("vote g continue msg=m2") == "HA_GS_OK");
    CHECK(field(atAll(t.all(), "g: nphase STATE_VALUE_CHANGE"), "msg") == "\"m2\"");

    CHECK(t.a.rc("vote g approve msg=last") == "HA_GS_OK");
    CHECK(t.b.rc("vote g approve") == "HA_GS_OK");
    CHECK(t.c.rc("vote g approve") == "HA_GS_OK");
    CHECK(field(atAll(t.all(), "g: approved STATE_VALUE_CHANGE"), "msg") == "\"last\"");
}

TEST_CASE("n-phase: a provider that misses the time limit gets the default vote")
{
    Trio t;
    REQUIRE(t.a.rc("state g late phases=n tl=1") == "HA_GS_OK");
    const std::string n = atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(field(n, "tl") == "1");
    CHECK(t.a.rc("vote g approve") == "HA_GS_OK");
    CHECK(t.b.rc("vote g approve") == "HA_GS_OK");
    /* c does not vote. The announcement comes first, to every live participant. */
    for (Client *c : t.all()) {
        INFO("client " << c->name());
        const std::string announce = c->nextWith("g: ");
        CHECK(field(announce, "summary") == "TIME_LIMIT_EXCEEDED");
        CHECK(Match("g: announce", {"who=[3.1]"})(announce));
        const std::string ok = c->nextWith("g: ");
        CHECK(Match("g: approved STATE_VALUE_CHANGE")(ok));
        CHECK(hasFlag(ok, "summary", "DEFAULT_APPROVE"));
        CHECK(hasFlag(ok, "summary", "TIME_LIMIT_EXCEEDED"));
        CHECK_FALSE(hasFlag(ok, "summary", "EXPLICIT_APPROVE"));
        CHECK(field(ok, "prop") == "\"late\"");
    }
    /* Too late now. */
    CHECK(t.c.rc("vote g approve") == "HA_GS_VOTE_NOT_EXPECTED");
}

TEST_CASE("n-phase: after a missed time limit the next phase asks everybody again")
{
    Trio t;
    REQUIRE(t.a.rc("state g slow phases=n tl=1") == "HA_GS_OK");
    atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(t.a.rc("vote g continue") == "HA_GS_OK");
    CHECK(t.b.rc("vote g approve") == "HA_GS_OK");
    /* c misses phase 1: named first, then phase 2 starts for all three. */
    for (Client *c : t.all()) {
        INFO("client " << c->name());
        CHECK(Match("g: announce", {"who=[3.1]"})(c->nextWith("g: ")));
        const std::string p2 = c->nextWith("g: ");
        CHECK(Match("g: nphase STATE_VALUE_CHANGE", {"phase=2/N"})(p2));
        CHECK(hasFlag(p2, "summary", "TIME_LIMIT_EXCEEDED"));
    }
    voteAll(t.all(), "approve");
    const std::string ok = atAll(t.all(), "g: approved STATE_VALUE_CHANGE");
    CHECK(field(ok, "phase") == "2/N");
    CHECK(hasFlag(ok, "summary", "EXPLICIT_APPROVE"));
}

TEST_CASE("n-phase: attribute changes and source-state reflections can be n-phase")
{
    Trio t;
    REQUIRE(t.a.rc("attrs g tl=9 pphases=n") == "HA_GS_OK");
    CHECK(field(atAll(t.all(), "g: nphase GROUP_ATTRIBUTE_CHANGE"), "attrs").find("/tl9/") !=
          std::string::npos);
    voteAll(t.all(), "approve");
    atAll(t.all(), "g: approved GROUP_ATTRIBUTE_CHANGE");

    ClientProcess src("src", t.gsd), tgt("tgt", t.gsd);
    REQUIRE(src.rc("join s 1") == "HA_GS_OK");
    src.waitFor("s: approved JOIN");
    REQUIRE(tgt.rc("join tg 1 source=s sphases=n") == "HA_GS_OK");
    tgt.waitFor("tg: approved JOIN");
    REQUIRE(src.rc("state s S1") == "HA_GS_OK");
    CHECK(field(tgt.waitFor("tg: nphase SOURCE_STATE_REFLECTION"), "src") == "\"S1\"");
    REQUIRE(tgt.rc("vote tg approve") == "HA_GS_OK");
    CHECK(field(tgt.waitFor("tg: approved SOURCE_STATE_REFLECTION"), "src") == "\"S1\"");
}

TEST_CASE("n-phase: a voter's default vote REJECT replaces the group's default")
{
    Trio t;
    REQUIRE(t.a.rc("state g late phases=n tl=1") == "HA_GS_OK");
    atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(t.a.rc("vote g approve default=reject") == "HA_GS_OK");
    CHECK(t.b.rc("vote g approve") == "HA_GS_OK");
    t.a.waitFor({"g: announce", {"who=[3.1]"}});
    const std::string no = atAll(t.all(), "g: rejected STATE_VALUE_CHANGE");
    CHECK(hasFlag(no, "summary", "DEFAULT_REJECT"));
    CHECK(hasFlag(no, "summary", "TIME_LIMIT_EXCEEDED"));
}

TEST_CASE("n-phase: the group's default vote, and REJECT winning over APPROVE defaults")
{
    Trio t;
    REQUIRE(t.a.rc("attrs g default=reject") == "HA_GS_OK");
    atAll(t.all(), "g: approved GROUP_ATTRIBUTE_CHANGE");

    /* The group's default is now REJECT. */
    REQUIRE(t.a.rc("state g one phases=n tl=1") == "HA_GS_OK");
    atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    voteAll({&t.a, &t.b}, "approve");
    CHECK(hasFlag(atAll(t.all(), "g: rejected STATE_VALUE_CHANGE"), "summary", "DEFAULT_REJECT"));

    /* A voter's APPROVE default replaces it. */
    REQUIRE(t.a.rc("state g two phases=n tl=1") == "HA_GS_OK");
    atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(t.a.rc("vote g approve default=approve") == "HA_GS_OK");
    CHECK(t.b.rc("vote g approve") == "HA_GS_OK");
    CHECK(hasFlag(atAll(t.all(), "g: approved STATE_VALUE_CHANGE"), "summary", "DEFAULT_APPROVE"));

    /* Two voters disagree on the default in one phase: REJECT wins. */
    REQUIRE(t.a.rc("state g three phases=n tl=1") == "HA_GS_OK");
    atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(t.a.rc("vote g approve default=approve") == "HA_GS_OK");
    CHECK(t.b.rc("vote g approve default=reject") == "HA_GS_OK");
    CHECK(hasFlag(atAll(t.all(), "g: rejected STATE_VALUE_CHANGE"), "summary", "DEFAULT_REJECT"));
}

TEST_CASE("n-phase: HA_GS_VOTE_NOT_EXPECTED and bad votes")
{
    Trio t;
    CHECK(t.a.rc("vote g approve") == "HA_GS_VOTE_NOT_EXPECTED"); /* no protocol */
    REQUIRE(t.a.rc("state g x phases=n") == "HA_GS_OK");
    atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(t.a.rc("vote g 9") == "HA_GS_BAD_PARAMETER");
    CHECK(t.a.rc("vote g null") == "HA_GS_BAD_PARAMETER");
    CHECK(t.a.rc("vote g approve default=continue") == "HA_GS_BAD_PARAMETER");
    CHECK(t.a.rc("vote g approve state=@65537") == "HA_GS_BAD_PARAMETER");
    CHECK(t.a.rc("vote g approve msg=@65537") == "HA_GS_BAD_PARAMETER");
    CHECK(t.a.rc("vote g continue") == "HA_GS_OK");
    CHECK(t.a.rc("vote g approve") == "HA_GS_VOTE_NOT_EXPECTED"); /* voted already */
    CHECK(t.b.rc("vote g continue") == "HA_GS_OK");
    CHECK(t.c.rc("vote g continue") == "HA_GS_OK");
    atAll(t.all(), {"g: nphase STATE_VALUE_CHANGE", {"phase=2/N"}});
    CHECK(t.a.rc("vote g approve") == "HA_GS_OK"); /* a new phase, a new vote */
    CHECK(t.a.rc("vote g approve") == "HA_GS_VOTE_NOT_EXPECTED");
    voteAll({&t.b, &t.c}, "approve");
    atAll(t.all(), "g: approved STATE_VALUE_CHANGE");
    CHECK(t.b.rc("vote g approve") == "HA_GS_VOTE_NOT_EXPECTED"); /* it is over */

    /* One-phase protocols take no votes. */
    REQUIRE(t.a.rc("state g y") == "HA_GS_OK");
    atAll(t.all(), "g: approved STATE_VALUE_CHANGE");
    CHECK(t.a.rc("vote g approve") == "HA_GS_VOTE_NOT_EXPECTED");
}

TEST_CASE("n-phase: proposals collide with a running protocol")
{
    Trio t;
    REQUIRE(t.a.rc("state g x phases=n") == "HA_GS_OK");
    atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    CHECK(t.a.rc("state g again") == "HA_GS_COLLIDE");
    CHECK(t.b.rc("state g other phases=n") == "HA_GS_COLLIDE");
    CHECK(t.b.rc("msg g hi") == "HA_GS_COLLIDE");
    CHECK(t.b.rc("leave g") == "HA_GS_COLLIDE");
    CHECK(t.b.rc("expel g 3.1") == "HA_GS_COLLIDE");
    CHECK(t.b.rc("attrs g tl=9") == "HA_GS_COLLIDE");
    voteAll(t.all(), "approve");
    atAll(t.all(), "g: approved STATE_VALUE_CHANGE");
    CHECK(t.b.rc("state g other") == "HA_GS_OK");
    atAll(t.all(), {"g: approved STATE_VALUE_CHANGE", {"prop=\"other\""}});
}

TEST_CASE("n-phase: a queued joiner is not a member yet")
{
    Trio t;
    ClientProcess d("d", t.gsd);
    REQUIRE(t.a.rc("state g x phases=n") == "HA_GS_OK");
    atAll(t.all(), "g: nphase STATE_VALUE_CHANGE");
    REQUIRE(d.rc("join g 4") == "HA_GS_OK");
    CHECK(d.rc("state g y") == "HA_GS_NOT_A_MEMBER");
    CHECK(d.rc("msg g y") == "HA_GS_NOT_A_MEMBER");
    CHECK(d.rc("leave g") == "HA_GS_NOT_A_MEMBER");
    CHECK(d.rc("vote g approve") == "HA_GS_VOTE_NOT_EXPECTED");
    voteAll(t.all(), "approve");
    atAll(t.all(), "g: approved STATE_VALUE_CHANGE");
    const std::string join = d.waitFor("g: approved JOIN");
    CHECK(field(join, "cur") == "[1.1,2.1,3.1,4.1]");
    CHECK(field(join, "chg") == "[4.1]");
    CHECK(field(join, "old") == "\"x\"");
    CHECK(d.rc("state g y") == "HA_GS_OK");
    d.waitFor("g: approved STATE_VALUE_CHANGE");
}

TEST_CASE("n-phase: joins ask the members and the joiner; a rejected join ends the token")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), c("c", gsd);

    /* The first provider votes on its own join. */
    REQUIRE(a.rc("join g 1 phases=n") == "HA_GS_OK");
    const std::string first = a.waitFor("g: nphase JOIN");
    CHECK(field(first, "cur") == "[]");
    CHECK(field(first, "chg") == "[1.1]");
    CHECK(a.rc("vote g approve") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");

    REQUIRE(b.rc("join g 2 phases=n") == "HA_GS_OK");
    const std::string second = atAll({&a, &b}, "g: nphase JOIN");
    CHECK(field(second, "cur") == "[1.1]");
    CHECK(field(second, "chg") == "[2.1]");
    voteAll({&a, &b}, "approve");
    atAll({&a, &b}, "g: approved JOIN");

    REQUIRE(c.rc("join g 3 phases=n") == "HA_GS_OK");
    atAll({&a, &b, &c}, "g: nphase JOIN");
    CHECK(a.rc("vote g approve") == "HA_GS_OK");
    CHECK(b.rc("vote g reject") == "HA_GS_OK");
    CHECK(c.rc("vote g approve") == "HA_GS_OK");
    const std::string no = atAll({&a, &b, &c}, "g: rejected JOIN");
    CHECK(field(no, "chg") == "[3.1]");
    CHECK(c.rc("state g x") == "HA_GS_BAD_MEMBER_TOKEN");
    CHECK(c.rc("vote g approve") == "HA_GS_BAD_MEMBER_TOKEN");

    /* The instance number is free again, and the same process may retry. */
    REQUIRE(c.rc("join g 3 phases=n") == "HA_GS_OK");
    atAll({&a, &b, &c}, "g: nphase JOIN");
    voteAll({&a, &b, &c}, "approve");
    CHECK(field(atAll({&a, &b, &c}, "g: approved JOIN"), "chg") == "[3.1]");
}

TEST_CASE("n-phase: leave (the leaver votes) and expel (the expelled do not)")
{
    Trio t;
    REQUIRE(t.b.rc("leave g phases=n") == "HA_GS_OK");
    CHECK(field(atAll(t.all(), "g: nphase LEAVE"), "chg") == "[2.1]");
    voteAll(t.all(), "approve");
    atAll(t.all(), "g: approved LEAVE");
    CHECK(t.b.rc("state g x") == "HA_GS_BAD_MEMBER_TOKEN");

    REQUIRE(t.a.rc("expel g 3.1 phases=n") == "HA_GS_OK");
    CHECK(field(t.a.waitFor("g: nphase EXPEL"), "chg") == "[3.1]");
    CHECK(t.c.rc("vote g approve") == "HA_GS_VOTE_NOT_EXPECTED");
    CHECK(t.a.rc("vote g approve") == "HA_GS_OK");
    const std::string ok = t.a.waitFor("g: approved EXPEL");
    /* The expelled provider's only news is the final approval. */
    CHECK(t.c.nextWith("g: ") == ok);
    CHECK(t.c.rc("state g x") == "HA_GS_BAD_MEMBER_TOKEN");
}

TEST_CASE("n-phase: a rejected leave or expel keeps the providers")
{
    Trio t;
    REQUIRE(t.b.rc("leave g phases=n") == "HA_GS_OK");
    atAll(t.all(), "g: nphase LEAVE");
    CHECK(t.a.rc("vote g reject") == "HA_GS_OK");
    voteAll({&t.b, &t.c}, "approve");
    atAll(t.all(), "g: rejected LEAVE");

    REQUIRE(t.a.rc("expel g 3.1 phases=n") == "HA_GS_OK");
    atAll({&t.a, &t.b}, "g: nphase EXPEL");
    CHECK(t.a.rc("vote g approve") == "HA_GS_OK");
    CHECK(t.b.rc("vote g reject") == "HA_GS_OK");
    atAll({&t.a, &t.b, &t.c}, "g: rejected EXPEL");

    REQUIRE(t.b.rc("state g kept") == "HA_GS_OK");
    CHECK(field(atAll(t.all(), "g: approved STATE_VALUE_CHANGE"), "cur") == "[1.1,2.1,3.1]");
}

TEST_CASE("n-phase: joins take the group's time limit and default vote")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);
    REQUIRE(a.rc("autovote g approve") == "HA_GS_OK");
    REQUIRE(a.rc("join g 1 phases=n tl=1 default=reject") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    REQUIRE(a.rc("autovote g none") == "HA_GS_OK");

    REQUIRE(b.rc("autovote g approve") == "HA_GS_OK");
    REQUIRE(b.rc("join g 2 phases=n tl=1 default=reject") == "HA_GS_OK");
    CHECK(field(a.waitFor("g: nphase JOIN"), "tl") == "1");
    b.waitFor("g: nphase JOIN");
    /* a does not vote: after a second the group's default (reject) applies. */
    CHECK(Match("g: announce", {"who=[1.1]"})(b.nextWith("g: ", kWaitMs)));
    const std::string no = b.nextWith("g: ");
    CHECK(Match("g: rejected JOIN", {"chg=[2.1]"})(no));
    CHECK(hasFlag(no, "summary", "DEFAULT_REJECT"));
    CHECK(hasFlag(no, "summary", "TIME_LIMIT_EXCEEDED"));
    CHECK(a.waitFor("g: rejected JOIN") == no);
    CHECK(b.rc("state g x") == "HA_GS_BAD_MEMBER_TOKEN");
}

TEST_CASE("n-phase: a state value riding on a join vote reaches the subscribers with the join")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), s("s", gsd);
    REQUIRE(a.rc("autovote g approve") == "HA_GS_OK");
    REQUIRE(a.rc("join g 1 phases=n") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    REQUIRE(s.rc("subscribe g all,state") == "HA_GS_OK");
    s.next();
    REQUIRE(a.rc("autovote g approve state=js") == "HA_GS_OK");
    REQUIRE(b.rc("autovote g approve") == "HA_GS_OK");
    REQUIRE(b.rc("join g 2 phases=n") == "HA_GS_OK");
    const std::string ok = b.waitFor("g: approved JOIN");
    CHECK(field(ok, "prop") == "\"js\"");
    CHECK(subSummary(s.next()) ==
          "g: sub type=STATE|DELTA_JOIN|MEMBERSHIP state=\"js\" full=[1.1,2.1] chg=[2.1]");
}
