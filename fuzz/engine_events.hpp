/* SPDX-License-Identifier: MIT */
/*
 * Engine events read from bytes: one opcode byte, then its arguments (see
 * next()). Shared by fuzz_engine.cpp, which reads the fuzzer's input, and
 * by the engine's property tests, which read seeded random bytes. Four
 * clients, three group names (and the reserved HostMembership), tokens 0..11 and the values around
 * every limit keep the sequences among real tokens and near every edge.
 */
#pragma once

#include "fuzz/check.hpp"

#include "engine/engine.hpp"
#include "ha_gs.h"

#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace gs::fuzz {

/* Whether two actions are equal, notification bodies compared by value. */
inline bool sameAction(const Action &a, const Action &b)
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

class EngineEvents {
  public:
    /* With `engine`, three requests in four come from a provider of it
     * with its own token (random bytes alone rarely hit a real one; the
     * fuzzer finds them by coverage). */
    explicit EngineEvents(ByteReader &in, const Engine *engine = nullptr) : in_(in), engine_(engine)
    {
    }

    /* The next event. `timers` are the timers the engine has running: a
     * TimerFired names one of them mostly, else a stale or unknown id. */
    Event next(const std::set<TimerId> &timers)
    {
        switch (in_.below(8)) {
        case 0:
            return ClientHello{client(), in_.below(2) == 0}; /* with a deactivate script? */
        case 1:
            switch (in_.below(5)) {
            case 0:
                return NodeGone{clientNode(client())}; /* every client of that node */
            case 1:
                return NodeJoined{clientNode(client())}; /* into HostMembership */
            default:
                return ClientGone{client()};
            }
        case 2:
            if (in_.below(2) == 0)
                return ClientUnresponsive{client()};
            else {
                /* A deactivate script ends: a running one, or a stale id. */
                static const uint32_t outcomes[] = {HA_GS_DEACTIVATE_SUCCESSFUL,
                                                    HA_GS_DEACTIVATE_UNSUCCESSFUL,
                                                    HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED, 0};
                return DeactivateFinished{in_.below(8), outcomes[in_.below(4)]};
            }
        case 3:
            if (!timers.empty() && in_.below(8) != 0) {
                auto it = timers.begin();
                std::advance(it, in_.below(static_cast<unsigned>(timers.size())));
                return TimerFired{*it};
            }
            return TimerFired{in_.below(20)}; /* stale or unknown */
        default: {
            ClientId c = client();
            bool voter = false;
            if (engine_ && in_.below(4) != 0)
                if (const auto member = someMember(voter)) {
                    c = member->client;
                    forcedToken_ = member->token;
                }
            const RequestId id = nextRequest_++;
            Request r = voter && in_.below(2) == 0 ? Request{vote()} : request();
            forcedToken_.reset();
            return ClientRequest{c, id, std::move(r)};
        }
        }
    }

    /* The clients events name: four of them, on three nodes, two with the
     * same serial on different nodes (ids are domain-wide). */
    static constexpr unsigned kClients = 4;
    static ClientId clientNumber(unsigned n)
    {
        static const int16_t nodes[kClients] = {3, 3, 1, 2};
        static const uint64_t serials[kClients] = {1, 2, 1, 1};
        return makeClientId(nodes[n], serials[n]);
    }

  private:
    ClientId client() { return clientNumber(in_.below(kClients)); }
    Token token() { return forcedToken_ ? *forcedToken_ : static_cast<Token>(in_.below(12)); }

    /* A provider of the engine, mostly one of a group whose protocol runs
     * (`voter` then says so). */
    std::optional<MemberView> someMember(bool &voter)
    {
        std::vector<MemberView> all, running;
        for (const auto &name : engine_->groupNames()) {
            const auto view = engine_->group(name);
            all.insert(all.end(), view->members.begin(), view->members.end());
            if (view->protocolRunning)
                running.insert(running.end(), view->members.begin(), view->members.end());
        }
        voter = !running.empty() && in_.below(3) != 0;
        const auto &from = voter ? running : all;
        if (from.empty())
            return std::nullopt;
        return from[in_.below(static_cast<unsigned>(from.size()))];
    }

    VoteRequest vote()
    {
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
        static const char *names[] = {"a", "b", "c", "a", "b", "", "bad name", "HostMembership"};
        return names[in_.below(8)];
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
        case 7:
            return vote();
        case 8:
            return SubscribeRequest{in_.byte() & 0x3fu, group()};
        default:
            return UnsubscribeRequest{token()};
        }
    }

    ByteReader &in_;
    const Engine *engine_ = nullptr;
    std::optional<Token> forcedToken_; /* the token of the request being made */
    uint64_t riders_ = 0;
    RequestId nextRequest_ = 1;
};

} // namespace gs::fuzz
