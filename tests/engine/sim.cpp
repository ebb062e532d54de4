/* SPDX-License-Identifier: MIT */
#include "sim.hpp"

#include <doctest/doctest.h>

namespace gs::test {

std::vector<Action> Sim::step(const Event &event)
{
    last.clear();
    engine.process(event, last, seen);
    for (const auto &action : last) {
        if (const auto *n = std::get_if<Notify>(&action)) {
            for (const auto &r : n->recipients)
                inbox[r.client].push_back({r.token, r.final, *n->body});
        } else if (const auto *s = std::get_if<StartTimer>(&action)) {
            CHECK(timers.count(s->timer) == 0);
            timers[s->timer] = s->seconds;
        } else if (const auto *c = std::get_if<CancelTimer>(&action)) {
            CHECK(timers.erase(c->timer) == 1);
        } else if (const auto *r = std::get_if<RunDeactivate>(&action)) {
            CHECK(scripts.count(r->run) == 0);
            scripts[r->run] = *r;
        } else if (const auto *k = std::get_if<StopDeactivate>(&action)) {
            CHECK(scripts.erase(k->run) == 1);
        }
    }
    const std::string broken = engine.checkInvariants();
    REQUIRE_MESSAGE(broken.empty(), broken);
    return last;
}

Reply Sim::request(ClientId client, Request request)
{
    RequestId id = nextRequest_++;
    step(ClientRequest{client, id, std::move(request)});
    Reply found;
    int replies = 0;
    for (const auto &a : last)
        if (const auto *r = std::get_if<Reply>(&a); r && r->requestId == id) {
            found = *r;
            ++replies;
        }
    REQUIRE(replies == 1);
    return found;
}

bool Sim::fireTimer()
{
    if (timers.empty())
        return false;
    TimerId t = timers.begin()->first;
    timers.erase(timers.begin());
    step(TimerFired{t});
    return true;
}

bool Sim::finishScript(DeactivateId run, uint32_t outcome)
{
    if (scripts.erase(run) == 0)
        return false;
    step(DeactivateFinished{run, outcome});
    return true;
}

std::vector<Delivered> Sim::take(ClientId client)
{
    auto out = std::move(inbox[client]);
    inbox[client].clear();
    return out;
}

std::vector<Delivered> Sim::peek(ClientId client) const
{
    auto it = inbox.find(client);
    return it == inbox.end() ? std::vector<Delivered>{} : it->second;
}

GroupAttributes attrs(const std::string &group, int numPhases, int batch, int timeLimit)
{
    GroupAttributes a;
    a.version = 1;
    a.sizeofAttributes = sizeof(ha_gs_group_attributes_t);
    a.groupName = group;
    a.numPhases = numPhases;
    a.batchControl = batch;
    a.timeLimit = timeLimit;
    return a;
}

JoinRequest join(const std::string &group, int instance, int numPhases, int batch, int timeLimit)
{
    JoinRequest j;
    j.attributes = attrs(group, numPhases, batch, timeLimit);
    j.instance = instance;
    return j;
}

VoteRequest vote(Token token, int value, int defaultVote)
{
    VoteRequest v;
    v.token = token;
    v.vote = value;
    v.defaultVote = defaultVote;
    return v;
}

std::vector<ProviderId> ids(std::initializer_list<int> instances, int node)
{
    std::vector<ProviderId> out;
    for (int i : instances)
        out.push_back({static_cast<int16_t>(i), static_cast<int16_t>(node)});
    return out;
}

} // namespace gs::test
