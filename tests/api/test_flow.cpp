/* SPDX-License-Identifier: MIT */
/*
 * The basic flow of an application, written directly against ha_gs.h (no
 * agent): init, poll + non-blocking dispatch, an n-phase join and state
 * change voted from inside the callback, a subscription to the same group,
 * leave, dissolve, quit. Built against libha_gs and against libha_gs_r.
 */
#include "harness.hpp"

#include <cstring>
#include <poll.h>
#include <string>
#include <vector>

using namespace api;

namespace {

std::vector<std::string> events; /* provider callbacks */
std::vector<std::string> news;   /* subscriber callbacks */
ha_gs_rc_t lastVoteRc = HA_GS_OK;

void onNPhase(const ha_gs_n_phase_notification_t *n)
{
    events.push_back(format(n));
    lastVoteRc =
        ha_gs_vote(n->gs_provider_token, HA_GS_VOTE_APPROVE, nullptr, nullptr, HA_GS_NULL_VOTE);
}
void onApproved(const ha_gs_approved_notification_t *n)
{
    events.push_back(format(n));
}
void onRejected(const ha_gs_rejected_notification_t *n)
{
    events.push_back(format(n));
}
void onSubscription(const ha_gs_subscription_notification_t *n)
{
    news.push_back("flow: " + format(n));
}

struct Quitter {
    ~Quitter() { ha_gs_quit(); }
};

/* Polls the descriptor and dispatches until there are that many events. */
bool pumpUntil(int fd, size_t providerEvents, size_t subscriberEvents)
{
    const int64_t deadline = monotonicNs() + int64_t{kWaitMs} * 1000000;
    while ((events.size() < providerEvents || news.size() < subscriberEvents) &&
           monotonicNs() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 100) == 1) {
            if (ha_gs_dispatch(HA_GS_NON_BLOCKING) != HA_GS_OK)
                return false;
        }
    }
    return events.size() >= providerEvents && news.size() >= subscriberEvents;
}

std::string describeEvents()
{
    std::string out;
    for (const auto &e : events)
        out += "  " + e + "\n";
    for (const auto &e : news)
        out += "  " + e + "\n";
    return out;
}

} // namespace

TEST_CASE("flow: one process as provider and subscriber, driven by poll and dispatch")
{
    PrivateGsd gsd;
    ScopedEnv env("HA_GS_SOCKET", gsd.endpoint());
    Quitter quitter;
    events.clear();
    news.clear();

    ha_gs_descriptor_t fd = -1;
    REQUIRE_GS_OK(
        ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr, nullptr));

    ha_gs_group_attributes_t attrs = defaultAttributes("flow");
    attrs.gs_num_phases = HA_GS_N_PHASE;
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    info.gs_join_request.gs_group_attributes = &attrs;
    info.gs_join_request.gs_provider_instance = 5;
    info.gs_join_request.gs_n_phase_protocol_callback = onNPhase;
    info.gs_join_request.gs_protocol_approved_callback = onApproved;
    info.gs_join_request.gs_protocol_rejected_callback = onRejected;
    ha_gs_token_t provider = 0;
    REQUIRE_GS_OK(ha_gs_join(&provider, &info));
    INFO("events:\n" << describeEvents());
    REQUIRE(pumpUntil(fd, 2, 0));
    CHECK(events[0].rfind("nphase JOIN", 0) == 0);
    CHECK(field(events[0], "chg") == "[5.1]");
    CHECK(events[1].rfind("approved JOIN", 0) == 0);
    CHECK_GS_OK(lastVoteRc);

    std::memset(&info, 0, sizeof info);
    info.gs_subscribe_request.gs_subscription_control =
        HA_GS_SUBSCRIBE_ALL_MEMBERSHIP | HA_GS_SUBSCRIBE_STATE;
    info.gs_subscribe_request.gs_subscription_group = "flow";
    info.gs_subscribe_request.gs_subscription_callback = onSubscription;
    ha_gs_token_t subscriber = 0;
    REQUIRE_GS_OK(ha_gs_subscribe(&subscriber, &info));
    CHECK(subscriber != provider);
    REQUIRE(pumpUntil(fd, 2, 1));
    CHECK(subSummary(news[0]) == "flow: sub type=STATE|MEMBERSHIP state=\"\" full=[5.1]");

    char value[] = "s1";
    ha_gs_state_value_t sv{2, value};
    std::memset(&info, 0, sizeof info);
    info.gs_state_change_request.gs_num_phases = HA_GS_N_PHASE;
    info.gs_state_change_request.gs_new_state = &sv;
    REQUIRE_GS_OK(ha_gs_change_state_value(provider, &info));
    REQUIRE(pumpUntil(fd, 4, 2));
    CHECK(events[2].rfind("nphase STATE_VALUE_CHANGE", 0) == 0);
    CHECK(events[3].rfind("approved STATE_VALUE_CHANGE", 0) == 0);
    CHECK(field(events[3], "prop") == "\"s1\"");
    CHECK(subSummary(news[1]) == "flow: sub type=STATE state=\"s1\"");
    CHECK_GS_OK(lastVoteRc);

    std::memset(&info, 0, sizeof info);
    info.gs_leave_request.gs_num_phases = HA_GS_1_PHASE;
    REQUIRE_GS_OK(ha_gs_leave(provider, &info));
    REQUIRE(pumpUntil(fd, 5, 4));
    CHECK(events[4].rfind("approved LEAVE", 0) == 0);
    CHECK(subSummary(news[2]) == "flow: sub type=DELTA_LEAVE|MEMBERSHIP full=[] chg=[5.1]");
    CHECK(field(news[3], "type") == "DISSOLVED");
    CHECK_GS_RC(HA_GS_BAD_MEMBER_TOKEN, ha_gs_unsubscribe(subscriber));
    std::memset(&info, 0, sizeof info);
    info.gs_state_change_request.gs_num_phases = HA_GS_1_PHASE;
    info.gs_state_change_request.gs_new_state = &sv;
    CHECK_GS_RC(HA_GS_BAD_MEMBER_TOKEN, ha_gs_change_state_value(provider, &info));

    ha_gs_quit();
    CHECK_GS_RC(HA_GS_NO_INIT, ha_gs_dispatch(HA_GS_NON_BLOCKING));
}

TEST_CASE("flow: the same flow through the agent in a child process")
{
    PrivateGsd gsd;
    ClientProcess c("c", gsd);
    REQUIRE(c.rc("autovote flow approve") == "HA_GS_OK");
    REQUIRE(c.rc("join flow 5 phases=n") == "HA_GS_OK");
    c.waitFor("flow: approved JOIN");
    REQUIRE(c.rc("subscribe flow all,state") == "HA_GS_OK");
    c.waitFor("flow: sub");
    REQUIRE(c.rc("state flow s1 phases=n") == "HA_GS_OK");
    c.waitFor({"flow: approved STATE_VALUE_CHANGE", {"prop=\"s1\""}});
    CHECK(subSummary(c.waitFor("flow: sub")) == "flow: sub type=STATE state=\"s1\"");
    REQUIRE(c.rc("leave flow") == "HA_GS_OK");
    c.waitFor("flow: approved LEAVE");
    c.waitFor("flow: sub type=DISSOLVED");
    CHECK(c.rc("quit") == "HA_GS_OK");
}
