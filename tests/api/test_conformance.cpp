/* SPDX-License-Identifier: MIT */
/*
 * Conformance with IBM's documented GSAPI behaviour (issue 11, items 1-9):
 * one test case per item, through the public API only. docs/porting-rsct.md
 * ("Conformance") says what IBM documents and what we do for each.
 */
#include "harness.hpp"

#include <csignal>
#include <cstring>
#include <new>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

using namespace api;

namespace {

const std::string kOverCeiling = std::to_string(HA_GS_TIME_LIMIT_CEILING + 1);

/* ha_gs_quit at the end of the scope, whatever happened. */
struct Quitter {
    ~Quitter() { ha_gs_quit(); }
};

/* Every call of the API with arguments it refuses (a NULL out pointer, a
 * NULL request, a bad flag or vote value, a time limit above the ceiling):
 * each must answer `expected`, which the session decides before any of
 * the arguments is looked at. */
void badArgumentsEverywhere(ha_gs_rc_t expected)
{
    ha_gs_token_t token = 0;
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    CHECK_GS_RC(expected, ha_gs_join(nullptr, &info));
    CHECK_GS_RC(expected, ha_gs_join(&token, nullptr));
    CHECK_GS_RC(expected, ha_gs_dispatch(static_cast<ha_gs_dispatch_flag_t>(3)));
    CHECK_GS_RC(expected, ha_gs_leave(1, nullptr));
    CHECK_GS_RC(expected, ha_gs_expel(1, nullptr));
    CHECK_GS_RC(expected, ha_gs_change_state_value(1, nullptr));
    CHECK_GS_RC(expected, ha_gs_change_attributes(1, nullptr));
    CHECK_GS_RC(expected, ha_gs_send_message(1, nullptr));
    CHECK_GS_RC(expected, ha_gs_vote(1, HA_GS_NULL_VOTE, nullptr, nullptr, HA_GS_NULL_VOTE));
    CHECK_GS_RC(expected, ha_gs_subscribe(nullptr, &info));
    CHECK_GS_RC(expected, ha_gs_subscribe(&token, nullptr));
    CHECK_GS_RC(expected, ha_gs_get_node_number(nullptr));
    CHECK_GS_RC(expected, ha_gs_get_adapter_info(nullptr));
    CHECK_GS_RC(expected, ha_gs_get_ffdc_id(nullptr));
    char value[] = "v";
    ha_gs_state_value_t sv{1, value};
    info.gs_state_change_request.gs_num_phases = HA_GS_N_PHASE;
    info.gs_state_change_request.gs_time_limit = HA_GS_TIME_LIMIT_CEILING + 1;
    info.gs_state_change_request.gs_new_state = &sv;
    CHECK_GS_RC(expected, ha_gs_change_state_value(1, &info));
}

} // namespace

TEST_CASE("conformance 1: a message attached to a vote goes out with the next notification only")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);
    joinInOrder({&a, &b}, "g");
    const std::vector<Client *> both{&a, &b};
    const auto everyone = [&](const Match &m) {
        const std::string line = a.waitFor(m);
        CHECK(b.waitFor(m) == line);
        return line;
    };

    /* A state change: b attaches a command to its phase-1 vote. */
    REQUIRE(a.rc("state g x phases=n") == "HA_GS_OK");
    CHECK(field(everyone({"g: nphase STATE_VALUE_CHANGE", {"phase=1/"}}), "msg") == "-");
    REQUIRE(b.rc("vote g continue msg=command") == "HA_GS_OK");
    REQUIRE(a.rc("vote g continue") == "HA_GS_OK");
    CHECK(field(everyone({"g: nphase STATE_VALUE_CHANGE", {"phase=2/"}}), "msg") == "\"command\"");
    for (Client *c : both)
        REQUIRE(c->rc("vote g continue") == "HA_GS_OK");
    CHECK(field(everyone({"g: nphase STATE_VALUE_CHANGE", {"phase=3/"}}), "msg") == "-");
    for (Client *c : both)
        REQUIRE(c->rc("vote g approve") == "HA_GS_OK");
    CHECK(field(everyone("g: approved STATE_VALUE_CHANGE"), "msg") == "-");

    /* A provider message protocol: its own message is its subject and stays;
     * a rider replaces it in the next notification only. */
    REQUIRE(a.rc("msg g subject phases=n") == "HA_GS_OK");
    CHECK(field(everyone({"g: nphase PROVIDER_MESSAGE", {"phase=1/"}}), "msg") == "\"subject\"");
    REQUIRE(b.rc("vote g continue msg=rider") == "HA_GS_OK");
    REQUIRE(a.rc("vote g continue") == "HA_GS_OK");
    CHECK(field(everyone({"g: nphase PROVIDER_MESSAGE", {"phase=2/"}}), "msg") == "\"rider\"");
    for (Client *c : both)
        REQUIRE(c->rc("vote g approve") == "HA_GS_OK");
    CHECK(field(everyone("g: approved PROVIDER_MESSAGE"), "msg") == "\"subject\"");
}

TEST_CASE("conformance 2: approved notifications carry the membership in force after the change")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd), c("c", gsd), d("d", gsd), s("s", gsd);
    joinInOrder({&a, &b, &c}, "g");
    REQUIRE(s.rc("subscribe g membership") == "HA_GS_OK");
    s.next();

    /* A failure leave: the dead provider is gone from the approved
     * notification, as from the subscribers' membership. */
    c.kill(SIGKILL);
    REQUIRE(c.waitExit());
    const std::string failure = a.waitFor("g: approved FAILURE_LEAVE");
    CHECK(field(failure, "chg") == "[3.1]");
    CHECK(field(failure, "cur") == "[1.1,2.1]");
    CHECK(field(s.next(), "full") == field(failure, "cur"));

    /* "The leader is the first provider after each approved change": a goes,
     * b leads, never the dead a. */
    REQUIRE(a.rc("goodbye g") == "HA_GS_OK");
    const std::string gone = b.waitFor({"g: approved FAILURE_LEAVE", {"chg=[1.1]"}});
    CHECK(field(gone, "cur") == "[2.1]");
    CHECK(field(s.next(), "full") == "[2.1]");

    /* A join: the joiner is in it. */
    REQUIRE(d.rc("join g 4") == "HA_GS_OK");
    const std::string join = d.waitFor("g: approved JOIN");
    CHECK(join == b.waitFor("g: approved JOIN"));
    CHECK(field(join, "cur") == "[2.1,4.1]");
    CHECK(field(s.next(), "full") == "[2.1,4.1]");

    /* n-phase and rejected notifications keep the membership the proposal
     * was made against; the approval carries the one after. */
    REQUIRE(d.rc("leave g phases=n") == "HA_GS_OK");
    CHECK(field(b.waitFor("g: nphase LEAVE"), "cur") == "[2.1,4.1]");
    d.waitFor("g: nphase LEAVE");
    REQUIRE(b.rc("vote g reject") == "HA_GS_OK");
    REQUIRE(d.rc("vote g approve") == "HA_GS_OK");
    CHECK(field(b.waitFor("g: rejected LEAVE"), "cur") == "[2.1,4.1]");
    REQUIRE(d.rc("leave g phases=n") == "HA_GS_OK");
    CHECK(field(b.waitFor("g: nphase LEAVE"), "cur") == "[2.1,4.1]");
    d.waitFor("g: nphase LEAVE");
    REQUIRE(b.rc("vote g approve") == "HA_GS_OK");
    REQUIRE(d.rc("vote g approve") == "HA_GS_OK");
    const std::string left = b.waitFor("g: approved LEAVE");
    CHECK(left == d.waitFor("g: approved LEAVE"));
    CHECK(field(left, "cur") == "[2.1]");
    CHECK(field(s.next(), "full") == "[2.1]");
}

TEST_CASE("conformance 3: a token of the wrong kind is HA_GS_BAD_MEMBER_TOKEN in every call")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd);
    REQUIRE(c.rc("join g 1") == "HA_GS_OK");
    c.waitFor("g: approved JOIN");
    REQUIRE(c.rc("subscribe g state") == "HA_GS_OK");
    c.waitFor("g: sub");

    for (const char *call :
         {"unsubscribe p:g", "state s:g x", "msg s:g x", "leave s:g", "goodbye s:g",
          "expel s:g 1.1", "attrs s:g tl=3", "vote s:g approve"}) {
        CAPTURE(call);
        CHECK(c.rc(call) == "HA_GS_BAD_MEMBER_TOKEN");
    }
    /* Both tokens still work for their own kind of call. */
    REQUIRE(c.rc("state p:g y") == "HA_GS_OK");
    c.waitFor("g: approved STATE_VALUE_CHANGE");
    CHECK(subSummary(c.waitFor("g: sub")) == "g: sub type=STATE state=\"y\"");
    CHECK(c.rc("unsubscribe s:g") == "HA_GS_OK");
}

TEST_CASE("conformance 4: a cast-out runs the source-reflection phases; providers vote, "
          "cannot reject")
{
    PrivateGsd gsd;
    ClientProcess src("src", gsd), t1("t1", gsd), t2("t2", gsd);
    REQUIRE(src.rc("join s 1") == "HA_GS_OK");
    src.waitFor("s: approved JOIN");
    joinInOrder({&t1, &t2}, "t", "source=s sphases=n stl=30");

    REQUIRE(src.rc("leave s") == "HA_GS_OK"); /* the source dissolves */
    const std::string asked = t1.waitFor("t: nphase CAST_OUT");
    CHECK(t2.waitFor("t: nphase CAST_OUT") == asked);
    CHECK(field(asked, "phase") == "1/N");
    CHECK(field(asked, "tl") == "30");
    CHECK(field(asked, "chg") == "[1.1,2.1]");
    CHECK(field(asked, "leave") == "[1.1:CAST_OUT:0,2.1:CAST_OUT:0]");

    /* A barrier: CONTINUE runs another phase; REJECT does not reject. */
    REQUIRE(t1.rc("vote t continue") == "HA_GS_OK");
    REQUIRE(t2.rc("vote t approve") == "HA_GS_OK");
    CHECK(field(t1.waitFor("t: nphase CAST_OUT"), "phase") == "2/N");
    t2.waitFor({"t: nphase CAST_OUT", {"phase=2/"}});
    REQUIRE(t1.rc("vote t reject") == "HA_GS_OK");
    REQUIRE(t2.rc("vote t approve") == "HA_GS_OK");
    const std::string out = t1.waitFor("t: approved CAST_OUT");
    CHECK(t2.waitFor("t: approved CAST_OUT") == out);
    CHECK(hasFlag(out, "summary", "EXPLICIT_REJECT"));
    CHECK(hasFlag(out, "summary", "GROUP_DISSOLVED"));
    CHECK(field(out, "cur") == "[]");
    CHECK(t1.rc("state t x") == "HA_GS_BAD_MEMBER_TOKEN");
}

TEST_CASE("conformance 5: time limits above the ceiling are refused, never clamped")
{
    static_assert(HA_GS_TIME_LIMIT_CEILING == 3600);
    PrivateGsd gsd;
    ClientOptions manual;
    manual.autoInit = false;
    ClientProcess p("p", gsd, manual);
    LocalClient c("c", gsd);
    REQUIRE(c.rc("join g 1") == "HA_GS_OK");
    c.waitFor("g: approved JOIN");

    for (const std::string &call :
         {"state g x phases=n tl=" + kOverCeiling, "msg g x phases=n tl=" + kOverCeiling,
          "leave g phases=n tl=" + kOverCeiling, "expel g 1.1 phases=n tl=" + kOverCeiling,
          "attrs g ptl=" + kOverCeiling, std::string("state g x tl=2147483647")}) {
        CAPTURE(call);
        CHECK(c.rc(call) == "HA_GS_BAD_PARAMETER");
    }
    for (const std::string &call :
         {"attrs g tl=" + kOverCeiling, "attrs g stl=" + kOverCeiling,
          "join h 1 tl=" + kOverCeiling, "join h 1 stl=" + kOverCeiling}) {
        CAPTURE(call);
        CHECK(c.rc(call) == "HA_GS_BAD_GROUP_ATTRIBUTES");
    }
    /* The ceiling itself is asked for and shown as asked; 0 means it. */
    const std::string ceiling = std::to_string(HA_GS_TIME_LIMIT_CEILING);
    for (const std::string &tl : {ceiling, std::string("0")}) {
        REQUIRE(c.rc("state g y phases=n tl=" + tl) == "HA_GS_OK");
        CHECK(field(c.waitFor("g: nphase STATE_VALUE_CHANGE"), "tl") == ceiling);
        REQUIRE(c.rc("vote g approve") == "HA_GS_OK");
        c.waitFor("g: approved STATE_VALUE_CHANGE");
    }

    /* Responsiveness intervals and limits share the ceiling. */
    CHECK(p.rc("init resp=ping interval=" + kOverCeiling + " limit=1") == "HA_GS_BAD_PARAMETER");
    CHECK(p.rc("init resp=ping interval=1 limit=" + kOverCeiling) == "HA_GS_BAD_PARAMETER");
    CHECK(p.rc("init resp=ping interval=" + ceiling + " limit=" + ceiling) == "HA_GS_OK");
}

TEST_CASE("conformance 6: after an attribute change, a joiner with the old attributes joins")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);
    REQUIRE(a.rc("autovote g approve") == "HA_GS_OK");
    REQUIRE(b.rc("autovote g approve") == "HA_GS_OK");
    REQUIRE(a.rc("join g 1 tl=5") == "HA_GS_OK");
    a.waitFor("g: approved JOIN");
    REQUIRE(a.rc("attrs g phases=n tl=30 default=reject") == "HA_GS_OK");
    a.waitFor("g: approved GROUP_ATTRIBUTE_CHANGE");

    /* b was built with the attributes a started with. Immutable ones must
     * match... */
    CHECK(b.rc("join g 2 tl=5 merge=1") == "HA_GS_BAD_GROUP_ATTRIBUTES");
    /* ...mutable ones need not, and the group keeps its current ones: the
     * join runs n-phase with the group's 30 s, not one-phase with 5 s. */
    REQUIRE(b.rc("join g 2 tl=5") == "HA_GS_OK");
    const std::string asked = b.waitFor("g: nphase JOIN");
    CHECK(field(asked, "tl") == "30");
    CHECK(a.waitFor("g: nphase JOIN") == asked);
    CHECK(field(b.waitFor("g: approved JOIN"), "cur") == "[1.1,2.1]");
}

TEST_CASE("conformance 7: the session is checked before the arguments, in every call")
{
    ha_gs_quit();
    {
        ScopedEnv env("HA_GS_SOCKET", "ipc:///nonexistent/gsd.sock");
        INFO("before ha_gs_init");
        badArgumentsEverywhere(HA_GS_NO_INIT);
    }

    PrivateGsd gsd;
    ScopedEnv env("HA_GS_SOCKET", gsd.endpoint());
    Quitter quitter;
    ha_gs_descriptor_t fd = -1;
    REQUIRE_GS_OK(
        ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr, nullptr));
    {
        INFO("a live session: the arguments decide");
        badArgumentsEverywhere(HA_GS_BAD_PARAMETER);
    }

    gsd.kill(SIGKILL);
    REQUIRE(gsd.waitExit());
    const int64_t deadline = monotonicNs() + int64_t{kWaitMs} * 1000000;
    ha_gs_rc_t rc = HA_GS_OK;
    while ((rc = ha_gs_dispatch(HA_GS_NON_BLOCKING)) == HA_GS_OK && monotonicNs() < deadline)
        usleep(10000);
    REQUIRE_GS_RC(HA_GS_NOT_OK, rc);
    {
        INFO("a dead session");
        badArgumentsEverywhere(HA_GS_NOT_OK);
    }

    ha_gs_quit();
    INFO("after ha_gs_quit");
    badArgumentsEverywhere(HA_GS_NO_INIT);
}

TEST_CASE("conformance 8: ha_gs_get_ffdc_id links and reports that there is no id")
{
    ha_gs_quit();
    fc_eid_t fid;
    static_assert(sizeof fid == FC_EID_LEN + 1);
    std::memset(fid, 'x', sizeof fid);
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_get_ffdc_id(fid));
    CHECK(fid[0] == '\0');

    PrivateGsd gsd;
    ScopedEnv env("HA_GS_SOCKET", gsd.endpoint());
    Quitter quitter;
    ha_gs_descriptor_t fd = -1;
    REQUIRE_GS_OK(
        ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr, nullptr));
    std::memset(fid, 'x', sizeof fid);
    CHECK_GS_RC(HA_GS_NOT_OK, ha_gs_get_ffdc_id(fid)); /* "no id" */
    CHECK(fid[0] == '\0');
    CHECK_GS_RC(HA_GS_BAD_PARAMETER, ha_gs_get_ffdc_id(nullptr));
    /* Not an error of the session: other calls still work. */
    ha_gs_node_number_t node = 0;
    CHECK_GS_OK(ha_gs_get_node_number(&node));

    /* After gsd died, still no id. */
    gsd.kill(SIGKILL);
    REQUIRE(gsd.waitExit());
    std::memset(fid, 'x', sizeof fid);
    CHECK_GS_RC(HA_GS_NOT_OK, ha_gs_get_ffdc_id(fid));
    CHECK(fid[0] == '\0');
}

TEST_CASE("conformance 9: ha_gs_change_attributes writes nothing into its const request")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd);
    const Reply joined = c.call("join g 1");
    REQUIRE(joined.rc == "HA_GS_OK");
    c.waitFor("g: approved JOIN");

    /* The whole request, the back-level list included, on a read-only
     * page: any write to it kills the test with SIGSEGV. */
    struct Request {
        ha_gs_proposal_info_t info;
        ha_gs_group_attributes_t attributes;
        ha_gs_membership_t backlevel;
        ha_gs_provider_t sentinel;
        char name[8];
    };
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    static_assert(sizeof(Request) < 4096);
    void *memory = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(memory != MAP_FAILED);
    auto *request = new (memory) Request{};
    std::strcpy(request->name, "g");
    request->attributes = defaultAttributes(request->name);
    request->attributes.gs_time_limit = 30;
    request->sentinel = ha_gs_provider_t{-7, -7};
    request->backlevel = ha_gs_membership_t{99, &request->sentinel};
    request->info.gs_attribute_change_request.gs_num_phases = HA_GS_1_PHASE;
    request->info.gs_attribute_change_request.gs_group_attributes = &request->attributes;
    request->info.gs_attribute_change_request.gs_backlevel_providers = &request->backlevel;
    REQUIRE(mprotect(memory, page, PROT_READ) == 0);

    CHECK_GS_OK(ha_gs_change_attributes(joined.token(), &request->info));
    c.waitFor("g: approved GROUP_ATTRIBUTE_CHANGE");
    CHECK(request->backlevel.gs_count == 99);
    CHECK(request->backlevel.gs_providers == &request->sentinel);
    munmap(memory, page);
}
