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
 *  - a second engine fed the same events produced the same actions
 *    (determinism);
 *  - with no protocol running, the memory counted against the budget is
 *    the state values alone (what protocols held was given back).
 * At the end, firing the outstanding timers ends every protocol.
 */
#include "check.hpp"

#include "engine/engine.hpp"
#include "ha_gs.h"

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
        static const int values[] = {0, 1, 2, 5, -1, 1000000};
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
        case 5:
            return MessageRequest{token(), phases(), timeLimit(), in_.bytes(40)};
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
            r.message = maybeBytes();
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
            feed(ClientHello{client()});
            break;
        case 1:
            feed(ClientGone{client()});
            break;
        case 2:
            feed(ClientUnresponsive{client()});
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

    ByteReader &in_;
    Engine a_;
    Engine b_;
    std::set<ClientId> live_;
    std::set<Token> finished_;
    std::set<TimerId> timers_;
    std::map<Token, std::string> subscribed_; /* subscriber token -> group */
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
