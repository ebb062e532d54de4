/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the protocol engine (engine/engine.hpp) under event
 * sequences read from the input (engine_events.hpp: one opcode byte, then
 * its arguments). Small limits keep the fuzzer near every limit.
 *
 * After every event:
 *  - Engine::checkInvariants() holds;
 *  - a request got exactly one reply, addressed to it;
 *  - notifications go only to live clients, never to a token after a
 *    notification marked final, never with an empty body;
 *  - timers are started with 1..HA_GS_TIME_LIMIT_CEILING seconds;
 *  - the last full membership a step tells a subscriber is the group's
 *    membership after the step (empty once the group dissolved);
 *  - a provider's approved notification carries the membership after the
 *    change (the one its previous approved notification gave, with the
 *    joiners appended or the leavers removed); its n-phase and rejected
 *    notifications carry the one before (the last one it was given);
 *  - a message attached to a vote is in at most one notification;
 *  - no cast-out is rejected;
 *  - a second engine fed the same events produced the same actions
 *    (determinism), and every 8 steps it is replaced by a copy of the
 *    first restored from its snapshot (same bytes, same digest);
 *  - with no protocol running, the memory counted against the budget is
 *    the state values alone (what protocols held was given back).
 * At the end, firing the outstanding timers ends every protocol.
 */
#include "check.hpp"
#include "engine_events.hpp"

#include "engine/engine.hpp"
#include "ha_gs.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

using namespace gs;
using gs::fuzz::ByteReader;
using gs::fuzz::check;
using gs::fuzz::sameAction;

namespace {

class Run {
  public:
    explicit Run(ByteReader &in) : in_(in), events_(in), a_(config()), b_(config()) {}

    void go()
    {
        for (int steps = 0; steps < 400 && !in_.empty(); ++steps) {
            feed(events_.next(timers_));
            if (steps % 8 == 7)
                roundTrip();
        }
        /* Liveness: with no new requests, the timers end every protocol. */
        for (int guard = 0; !timers_.empty(); ++guard) {
            check(guard < 10000, "timers never end");
            feed(TimerFired{*timers_.begin()});
        }
        for (const std::string &name : a_.groupNames())
            check(!a_.group(name)->protocolRunning,
                  "protocol still running with no timer: " + name);
    }

  private:
    static EngineConfig config()
    {
        EngineConfig c;
        c.limits.maxGroupsPerClient = 3;
        c.limits.maxProvidersPerGroup = 4;
        c.limits.maxStateMemory = 64;
        return c;
    }

    /* The state moves: a snapshot restored into a fresh engine has the same
     * digest and bytes, and b_ goes on from a restored copy of a_'s state,
     * so that the determinism check of every later step compares a_ with
     * an engine built from a snapshot. */
    void roundTrip()
    {
        const std::string bytes = a_.snapshot();
        Engine fresh;
        fresh.restore(bytes);
        check(fresh.snapshot() == bytes, "restore(snapshot) gives other bytes");
        check(fresh.digest() == a_.digest(), "restore(snapshot) gives another digest");
        check(b_.digest() == a_.digest(), "two engines, same events, different digests");
        b_.restore(bytes);
    }

    void checkMemory()
    {
        uint64_t states = 0;
        bool running = false;
        for (const std::string &name : a_.groupNames()) {
            const auto g = a_.group(name);
            states += g->state.size();
            running = running || g->protocolRunning;
        }
        check(running || a_.stateMemory() == states,
              "memory held by ended protocols was not given back");
    }

    void feed(const Event &event)
    {
        std::vector<Action> outA, outB;
        a_.process(event, outA);
        b_.process(event, outB);
        const std::string broken = a_.checkInvariants();
        check(broken.empty(), "engine invariant: " + broken);
        check(outA.size() == outB.size(), "two engines, same events, different action counts");
        for (size_t i = 0; i < outA.size(); ++i)
            check(sameAction(outA[i], outB[i]), "two engines, same events, different actions");
        checkMemory();

        if (const auto *hello = std::get_if<ClientHello>(&event))
            live_.insert(hello->client);
        if (const auto *gone = std::get_if<ClientGone>(&event))
            live_.erase(gone->client);

        int replies = 0;
        std::map<std::string, std::vector<ProviderId>> lastFull; /* group -> last list told */
        for (const Action &action : outA) {
            if (const auto *reply = std::get_if<Reply>(&action)) {
                const auto *req = std::get_if<ClientRequest>(&event);
                check(req && reply->client == req->client && reply->requestId == req->requestId,
                      "reply to something that is not this request");
                ++replies;
                if (reply->rc == HA_GS_OK && reply->token != 0) {
                    if (const auto *sub = std::get_if<SubscribeRequest>(&req->request))
                        subscribed_[reply->token] = sub->group;
                }
            } else if (const auto *notify = std::get_if<Notify>(&action)) {
                check(notify->body != nullptr, "notification without a body");
                const auto *note = std::get_if<SubscriptionNote>(notify->body.get());
                checkProtocolNote(*notify);
                for (const Recipient &r : notify->recipients) {
                    check(live_.count(r.client) == 1, "notification to a client that is not live");
                    if (note && note->fullMembership) {
                        const auto group = subscribed_.find(r.token);
                        check(group != subscribed_.end(), "membership told to a non-subscriber");
                        lastFull[group->second] = *note->fullMembership;
                    }
                    check(finished_.count(r.token) == 0, "notification after a final one");
                    if (r.final)
                        finished_.insert(r.token);
                }
            } else if (const auto *start = std::get_if<StartTimer>(&action)) {
                check(start->seconds >= 1 && start->seconds <= HA_GS_TIME_LIMIT_CEILING,
                      "timer out of range");
                check(timers_.insert(start->timer).second, "timer started twice");
            } else if (const auto *cancel = std::get_if<CancelTimer>(&action)) {
                timers_.erase(cancel->timer);
            }
        }
        for (const auto &[group, told] : lastFull) {
            std::vector<ProviderId> now;
            if (const auto view = a_.group(group))
                for (const MemberView &m : view->members)
                    now.push_back(m.id);
            check(told == now, "subscriber told a membership that is not the group's: " + group);
        }
        if (std::holds_alternative<ClientRequest>(event))
            check(replies == 1, "a request must get exactly one reply");
        else
            check(replies == 0, "a reply without a request");
        if (const auto *fired = std::get_if<TimerFired>(&event))
            timers_.erase(fired->timer);
    }

    static const Proposal *proposalOf(const NoteBody &body, int &protocol)
    {
        if (const auto *n = std::get_if<NPhaseNote>(&body))
            return protocol = n->protocol, &n->proposal;
        if (const auto *a = std::get_if<ApprovedNote>(&body))
            return protocol = a->protocol, &a->proposal;
        if (const auto *r = std::get_if<RejectedNote>(&body))
            return protocol = r->protocol, &r->proposal;
        return nullptr;
    }

    /* Riders, cast-outs, and the membership each provider is told. */
    void checkProtocolNote(const Notify &notify)
    {
        int protocol = 0;
        const Proposal *p = proposalOf(*notify.body, protocol);
        if (!p)
            return;
        const bool approved = std::holds_alternative<ApprovedNote>(*notify.body);
        if (p->message && p->message->starts_with("rider"))
            check(++riderBodies_[*p->message] == 1, "a vote's message in two notifications");
        check(protocol != HA_GS_CAST_OUT || !std::holds_alternative<RejectedNote>(*notify.body),
              "a cast-out was rejected");
        const auto &chg = p->changingProviders;
        const auto changing = [&](const ProviderId &id) {
            return std::find(chg.begin(), chg.end(), id) != chg.end();
        };
        for (const Recipient &r : notify.recipients) {
            auto seen = seenMembers_.find(r.token);
            if (!approved) {
                check(seen == seenMembers_.end() || seen->second == p->currentProviders,
                      "n-phase or rejected notification without the membership before");
                continue;
            }
            if (seen == seenMembers_.end()) {
                /* The provider's own join: the joiners end the list. */
                check(protocol == HA_GS_JOIN && p->currentProviders.size() >= chg.size() &&
                          std::equal(chg.rbegin(), chg.rend(), p->currentProviders.rbegin()),
                      "a provider's first approved notification is not its join");
            } else {
                std::vector<ProviderId> expected = seen->second;
                if (protocol == HA_GS_JOIN)
                    expected.insert(expected.end(), chg.begin(), chg.end());
                else if (protocol == HA_GS_LEAVE || protocol == HA_GS_FAILURE_LEAVE ||
                         protocol == HA_GS_EXPEL || protocol == HA_GS_CAST_OUT)
                    std::erase_if(expected, changing);
                check(p->currentProviders == expected,
                      "approved notification without the membership after the change");
            }
            if (r.final)
                seenMembers_.erase(r.token);
            else
                seenMembers_[r.token] = p->currentProviders;
        }
    }

    ByteReader &in_;
    gs::fuzz::EngineEvents events_;
    Engine a_;
    Engine b_;
    std::set<ClientId> live_;
    std::set<Token> finished_;
    std::set<TimerId> timers_;
    std::map<Token, std::string> subscribed_; /* subscriber token -> group */
    /* provider token -> membership its last approved notification gave */
    std::map<Token, std::vector<ProviderId>> seenMembers_;
    std::map<Bytes, int> riderBodies_; /* vote message -> notifications with it */
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ByteReader in(data, size);
    Run run(in);
    run.go();
    return 0;
}
