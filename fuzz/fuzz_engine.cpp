/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the protocol engine (engine/engine.hpp) under event
 * sequences read from the input (one opcode byte, then its arguments; see
 * step()). Four clients, three group names, tokens 0..11 and small limits
 * keep the fuzzer among real tokens and near every limit.
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
 *    (determinism);
 *  - with no protocol running, the memory counted against the budget is
 *    the state values alone (what protocols held was given back).
 * At the end, firing the outstanding timers ends every protocol.
 */
#include "check.hpp"

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

namespace {

bool sameAction(const Action &a, const Action &b)
{
    if (a.index() != b.index())
        return false;
    if (const auto *na = std::get_if<Notify>(&a)) {
        const auto &nb = std::get<Notify>(b);
        return na->recipients == nb.recipients && na->body && nb.body && *na->body == *nb.body;
    }
    return std::visit(
        [&](const auto &x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, Notify>)
                return false;
            else
                return x == std::get<T>(b);
        },
        a);
}

class Run {
  public:
    explicit Run(ByteReader &in) : in_(in), a_(config()), b_(config()) {}

    void go()
    {
        for (int steps = 0; steps < 400 && !in_.empty(); ++steps)
            step();
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
        c.nodeNumber = 3;
        c.limits.maxGroupsPerClient = 3;
        c.limits.maxProvidersPerGroup = 4;
        c.limits.maxStateMemory = 64;
        return c;
    }

    ClientId client() { return 1 + in_.below(4); }
    Token token() { return static_cast<Token>(in_.below(12)); }
    int phases()
    {
        static const int values[] = {HA_GS_1_PHASE, HA_GS_N_PHASE, 0, 3, -1};
        return values[in_.below(5)];
    }
    int timeLimit()
    {
        static const int values[] = {
            0, 1, 2, HA_GS_TIME_LIMIT_CEILING, -1, HA_GS_TIME_LIMIT_CEILING + 1};
        return values[in_.below(6)];
    }
    int voteValue()
    {
        static const int values[] = {HA_GS_VOTE_APPROVE, HA_GS_VOTE_CONTINUE, HA_GS_VOTE_REJECT,
                                     HA_GS_NULL_VOTE, 77};
        return values[in_.below(5)];
    }
    std::string group()
    {
        static const char *names[] = {"a", "b", "c", "a", "b", "", "bad name"};
        return names[in_.below(7)];
    }
    std::optional<Bytes> maybeBytes()
    {
        if (in_.below(2) == 0)
            return std::nullopt;
        return in_.bytes(40);
    }

    GroupAttributes attributes()
    {
        GroupAttributes a;
        a.sizeofAttributes = static_cast<int>(sizeof(ha_gs_group_attributes_t));
        a.groupName = group();
        const uint8_t bits = in_.byte();
        a.numPhases = bits & 1 ? HA_GS_N_PHASE : HA_GS_1_PHASE;
        a.batchControl = (bits >> 1) & 3;
        static const int votes[] = {HA_GS_NULL_VOTE, HA_GS_VOTE_APPROVE, HA_GS_VOTE_REJECT,
                                    HA_GS_VOTE_APPROVE};
        a.defaultVote = votes[(bits >> 3) & 3];
        a.timeLimit = (bits >> 5) & 3;
        if (bits & 0x80) {
            a.sourceGroupName = group();
            a.sourceReflectionNumPhases = phases();
            a.sourceReflectionTimeLimit = timeLimit();
        }
        if (in_.below(16) == 0)
            a.version = 2; /* invalid */
        return a;
    }

    std::vector<ProviderId> providers()
    {
        std::vector<ProviderId> list;
        for (unsigned n = in_.below(4); n > 0; --n)
            list.push_back({static_cast<int16_t>(in_.below(5)),
                            static_cast<int16_t>(in_.below(8) == 0 ? 1 : 3)});
        return list;
    }

    Request request()
    {
        switch (in_.below(10)) {
        case 0: {
            JoinRequest r;
            r.attributes = attributes();
            r.instance = static_cast<int32_t>(in_.below(5)) - (in_.below(32) == 0 ? 1 : 0);
            return r;
        }
        case 1:
            return LeaveRequest{token(), phases(), timeLimit(), in_.byte()};
        case 2:
            return GoodbyeRequest{token()};
        case 3: {
            ExpelRequest r{token(), phases(), timeLimit(), providers(), in_.below(3), {}};
            r.deactivateFlag = in_.bytes(8);
            return r;
        }
        case 4:
            return StateChangeRequest{token(), phases(), timeLimit(), in_.bytes(40)};
        case 5: /* "m...": never taken for a vote's message ("rider...") */
            return MessageRequest{token(), phases(), timeLimit(), "m" + in_.bytes(40)};
        case 6: {
            AttributeChangeRequest r{token(), phases(), timeLimit(), attributes()};
            return r;
        }
        case 7: {
            VoteRequest r;
            r.token = token();
            r.vote = voteValue();
            r.defaultVote = voteValue();
            r.proposedState = maybeBytes();
            /* Unique, so that its notifications can be counted. */
            if (maybeBytes())
                r.message = "rider" + std::to_string(++riders_);
            return r;
        }
        case 8:
            return SubscribeRequest{in_.byte() & 0x3fu, group()};
        default:
            return UnsubscribeRequest{token()};
        }
    }

    void step()
    {
        switch (in_.below(8)) {
        case 0:
            feed(ClientHello{client(), in_.below(2) == 0}); /* with a deactivate script? */
            break;
        case 1:
            feed(ClientGone{client()});
            break;
        case 2:
            if (in_.below(2) == 0) {
                feed(ClientUnresponsive{client()});
            } else {
                /* A deactivate script ends: a running one, or a stale id. */
                static const uint32_t outcomes[] = {HA_GS_DEACTIVATE_SUCCESSFUL,
                                                    HA_GS_DEACTIVATE_UNSUCCESSFUL,
                                                    HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED, 0};
                feed(DeactivateFinished{in_.below(8), outcomes[in_.below(4)]});
            }
            break;
        case 3:
            if (!timers_.empty() && in_.below(8) != 0) {
                auto it = timers_.begin();
                std::advance(it, in_.below(static_cast<unsigned>(timers_.size())));
                feed(TimerFired{*it});
            } else {
                feed(TimerFired{in_.below(20)}); /* stale or unknown */
            }
            break;
        default:
            feed(ClientRequest{client(), nextRequest_++, request()});
            break;
        }
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
    Engine a_;
    Engine b_;
    std::set<ClientId> live_;
    std::set<Token> finished_;
    std::set<TimerId> timers_;
    std::map<Token, std::string> subscribed_; /* subscriber token -> group */
    /* provider token -> membership its last approved notification gave */
    std::map<Token, std::vector<ProviderId>> seenMembers_;
    std::map<Bytes, int> riderBodies_; /* vote message -> notifications with it */
    uint64_t riders_ = 0;
    RequestId nextRequest_ = 1;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ByteReader in(data, size);
    Run run(in);
    run.go();
    return 0;
}
