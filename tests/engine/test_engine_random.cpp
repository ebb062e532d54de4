/* SPDX-License-Identifier: MIT */
/*
 * Seeded randomized test of the engine: thousands of random event sequences
 * (joins, leaves, goodbyes, expels, proposals, votes, subscriptions, deaths,
 * timeouts). After every step the engine's own invariants must hold, and an
 * independent model of what each client was told must agree with the rules:
 *   - exactly one reply per request;
 *   - notifications go only to tokens the client holds; none after `final`;
 *   - no subscription notification has both delta flags;
 *   - subscribers see changes only in a batch that approved a protocol;
 *   - a subscriber's full membership equals the group's at that moment;
 *   - every provider of a group sees the same approved sequence;
 *   - with the timers fired, every protocol ends;
 *   - with no protocol running, the memory counted is the state values'.
 */
#include "sim.hpp"

#include <doctest/doctest.h>

#include <map>
#include <random>
#include <set>

using namespace gs;
using namespace gs::test;

namespace {

struct ClientModel {
    std::set<Token> tokens;             /* held by the client, per replies and finals */
    std::map<Token, std::string> group; /* token -> group */
    std::map<Token, bool> provider;
};

class RandomRun {
  public:
    explicit RandomRun(uint32_t seed) : rng_(seed)
    {
        EngineConfig cfg;
        cfg.limits.maxProvidersPerGroup = 6;
        cfg.limits.maxGroupsPerClient = 5;
        cfg.limits.maxStateMemory = 4096;
        sim_ = std::make_unique<Sim>(cfg);
        for (const char *g : {"alpha", "beta", "gamma"}) {
            /* Each group name gets fixed attributes so that joins mostly match. */
            auto a = attrs(
                g, pick({HA_GS_1_PHASE, HA_GS_N_PHASE}),
                pick({HA_GS_NO_BATCHING, HA_GS_BATCH_JOINS, HA_GS_BATCH_LEAVES, HA_GS_BATCH_BOTH}),
                pick({0, 1, 3}));
            a.defaultVote = pick({HA_GS_NULL_VOTE, HA_GS_VOTE_APPROVE, HA_GS_VOTE_REJECT});
            /* Half the runs make gamma a target of alpha: reflections and
             * cast-outs interleave with everything else. */
            if (std::string(g) == "gamma" && roll(2) == 0)
                a.sourceGroupName = "alpha";
            groupAttrs_[g] = a;
        }
    }

    void run(int steps)
    {
        for (int i = 0; i < steps; ++i)
            randomStep();
        /* Drain: with no new requests, firing timers must end every protocol. */
        for (int guard = 0; sim_->fireTimer(); ++guard) {
            check();
            REQUIRE(guard < 10000);
        }
        for (const auto &name : sim_->engine.groupNames())
            CHECK_FALSE(sim_->engine.group(name)->protocolRunning);
    }

  private:
    template <class T>
    T pick(std::initializer_list<T> values)
    {
        std::uniform_int_distribution<size_t> d(0, values.size() - 1);
        return *(values.begin() + d(rng_));
    }
    int roll(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

    ClientId liveClient()
    {
        if (live_.empty() || roll(12) == 0) {
            ClientId c = nextClient_++;
            sim_->hello(c);
            live_.push_back(c);
            check();
            return c;
        }
        return live_[static_cast<size_t>(roll(static_cast<int>(live_.size())))];
    }

    /* A token of the client, sometimes a wrong or foreign one. */
    Token someToken(ClientId c)
    {
        auto &m = models_[c];
        if (m.tokens.empty() || roll(10) == 0)
            return roll(3) == 0 ? 0 : static_cast<Token>(1 + roll(200));
        auto it = m.tokens.begin();
        std::advance(it, roll(static_cast<int>(m.tokens.size())));
        return *it;
    }

    std::string someGroup() { return pick<std::string>({"alpha", "beta", "gamma"}); }

    Bytes someBytes()
    {
        return std::string(static_cast<size_t>(roll(4)), static_cast<char>('a' + roll(3)));
    }

    void randomStep()
    {
        ClientId c = liveClient();
        Token t = someToken(c);
        int n = roll(16);
        switch (n) {
        case 0:
        case 1: {
            std::string g = someGroup();
            JoinRequest j;
            j.attributes = groupAttrs_[g];
            if (roll(15) == 0)
                j.attributes.timeLimit = 99; /* mismatch */
            j.instance = roll(8);
            send(c, j);
            break;
        }
        case 2:
            send(c, LeaveRequest{t, pick({HA_GS_1_PHASE, HA_GS_N_PHASE}), pick({0, 1}), 3});
            break;
        case 3:
            send(c, GoodbyeRequest{t});
            break;
        case 4: {
            ExpelRequest e;
            e.token = t;
            e.numPhases = pick({HA_GS_1_PHASE, HA_GS_N_PHASE});
            e.expelList = ids({roll(8)});
            send(c, e);
            break;
        }
        case 5:
        case 6: {
            StateChangeRequest r;
            r.token = t;
            r.numPhases = pick({HA_GS_1_PHASE, HA_GS_N_PHASE, HA_GS_N_PHASE});
            r.timeLimit = pick({0, 1, 2});
            r.newState = someBytes();
            send(c, r);
            break;
        }
        case 7: {
            MessageRequest r;
            r.token = t;
            r.numPhases = pick({HA_GS_1_PHASE, HA_GS_N_PHASE});
            r.message = someBytes();
            send(c, r);
            break;
        }
        case 8: {
            AttributeChangeRequest r;
            r.token = t;
            r.numPhases = pick({HA_GS_1_PHASE, HA_GS_N_PHASE});
            auto it = models_[c].group.find(t);
            r.attributes = groupAttrs_[it == models_[c].group.end() ? "alpha" : it->second];
            r.attributes.clientVersion = roll(3);
            send(c, r);
            break;
        }
        case 9:
        case 10:
        case 11: {
            VoteRequest v = vote(
                t,
                pick({HA_GS_VOTE_APPROVE, HA_GS_VOTE_APPROVE, HA_GS_VOTE_CONTINUE,
                      HA_GS_VOTE_REJECT}),
                pick({HA_GS_NULL_VOTE, HA_GS_NULL_VOTE, HA_GS_VOTE_APPROVE, HA_GS_VOTE_REJECT}));
            if (roll(4) == 0)
                v.proposedState = someBytes();
            if (roll(4) == 0)
                v.message = someBytes();
            send(c, v);
            break;
        }
        case 12: {
            SubscribeRequest r;
            r.group = someGroup();
            r.control = static_cast<uint32_t>(1 + roll(15));
            send(c, r);
            break;
        }
        case 13:
            send(c, UnsubscribeRequest{t});
            break;
        case 14:
            if (roll(3) == 0) {
                sim_->gone(c);
                models_.erase(c);
                std::erase(live_, c);
                gone_.insert(c);
                check();
            } else if (roll(2) == 0) {
                sim_->step(ClientUnresponsive{c});
                check();
            }
            break;
        default:
            if (sim_->fireTimer())
                check();
            break;
        }
    }

    void send(ClientId c, const Request &r)
    {
        requestTrail_ += " [c" + std::to_string(c) + " req" + std::to_string(r.index()) + "]";
        bool subscribe = std::holds_alternative<SubscribeRequest>(r);
        std::string joinGroup;
        if (const auto *j = std::get_if<JoinRequest>(&r))
            joinGroup = j->attributes.groupName;
        Reply reply = sim_->request(c, r);
        auto &m = models_[c];
        if (reply.rc == HA_GS_OK && reply.token != 0) {
            CHECK(m.tokens.count(reply.token) == 0);
            m.tokens.insert(reply.token);
            m.group[reply.token] = subscribe ? std::get<SubscribeRequest>(r).group : joinGroup;
            m.provider[reply.token] = !subscribe;
        }
        if (reply.rc == HA_GS_OK) {
            if (const auto *g = std::get_if<GoodbyeRequest>(&r))
                forget(c, g->token);
            if (const auto *u = std::get_if<UnsubscribeRequest>(&r))
                forget(c, u->token);
        }
        check(subscribe ? reply.token : 0);
    }

    void forget(ClientId c, Token t)
    {
        auto &m = models_[c];
        m.tokens.erase(t);
        m.group.erase(t);
        m.provider.erase(t);
    }

    /* What proposals hold is given back when they end: with no protocol
     * running anywhere, the counted memory is the state values alone. */
    void checkMemory()
    {
        uint64_t states = 0;
        bool running = false;
        for (const auto &name : sim_->engine.groupNames()) {
            const auto g = sim_->engine.group(name);
            states += g->state.size();
            running = running || g->protocolRunning;
        }
        if (!running)
            REQUIRE(sim_->engine.stateMemory() == states);
    }

    /* Checks the last step's actions against the client models. */
    void check(Token newSubscription = 0)
    {
        checkMemory();
        bool approvedSeen = false;
        std::map<std::string, std::vector<ProviderId>> lastFull; /* group -> last list told */
        for (const auto &action : sim_->last) {
            const auto *n = std::get_if<Notify>(&action);
            if (!n)
                continue;
            uint64_t approvedIndex = 0;
            if (std::holds_alternative<ApprovedNote>(*n->body)) {
                approvedSeen = true;
                /* No recipient means no live provider whose sequence it affects. */
                if (!n->recipients.empty()) {
                    const auto &first = n->recipients.front();
                    approvedIndex = ++approvedCount_[models_[first.client].group[first.token]];
                }
            }
            for (const auto &r : n->recipients) {
                REQUIRE_MESSAGE(gone_.count(r.client) == 0, "notification to a gone client");
                auto &m = models_[r.client];
                REQUIRE_MESSAGE(m.tokens.count(r.token) == 1,
                                "notification to token "
                                    << r.token << " the client does not hold; body index "
                                    << n->body->index() << " client " << r.client << " final "
                                    << r.final << " requests so far " << requestTrail_);
                if (const auto *s = std::get_if<SubscriptionNote>(&*n->body)) {
                    CHECK_FALSE(m.provider[r.token]);
                    const uint32_t both =
                        HA_GS_SUBSCRIPTION_DELTA_JOIN | HA_GS_SUBSCRIPTION_DELTA_LEAVE;
                    CHECK((s->type & both) != both);
                    bool change = (s->type & (HA_GS_SUBSCRIPTION_STATE | both |
                                              HA_GS_SUBSCRIPTION_MEMBERSHIP)) != 0;
                    if (change && r.token != newSubscription)
                        CHECK_MESSAGE(approvedSeen, "subscriber told of a change nobody approved");
                    if (s->fullMembership)
                        lastFull[m.group[r.token]] = *s->fullMembership;
                } else if (std::holds_alternative<ApprovedNote>(*n->body) ||
                           std::holds_alternative<RejectedNote>(*n->body)) {
                    CHECK(m.provider[r.token]);
                    if (approvedIndex != 0) {
                        /* A provider sees every approved protocol of its group
                         * from its own join on, with no gap. */
                        auto [it, fresh] = lastApproved_.try_emplace(r.token, approvedIndex);
                        if (!fresh) {
                            CHECK(it->second + 1 == approvedIndex);
                            it->second = approvedIndex;
                        }
                    }
                }
                if (r.final)
                    forget(r.client, r.token);
            }
        }
        /* The last full membership told in a step is the group's membership
         * after it (empty when the group dissolved). */
        for (const auto &[group, told] : lastFull) {
            std::vector<ProviderId> now;
            if (auto view = sim_->engine.group(group))
                for (const auto &mv : view->members)
                    now.push_back(mv.id);
            CHECK(told == now);
        }
    }

    std::string requestTrail_; /* client and request kind of each request, for failure messages */
    std::mt19937 rng_;
    std::unique_ptr<Sim> sim_;
    std::map<std::string, GroupAttributes> groupAttrs_;
    std::vector<ClientId> live_;
    std::set<ClientId> gone_;
    std::map<ClientId, ClientModel> models_;
    std::map<std::string, uint64_t> approvedCount_; /* approved protocols per group */
    std::map<Token, uint64_t> lastApproved_;        /* provider token -> last index seen */
    ClientId nextClient_ = 1;
};

#ifdef HA_GS_SANITIZED_BUILD
constexpr uint32_t kShortRuns = 500;
constexpr uint32_t kLongRuns = 5;
#else
constexpr uint32_t kShortRuns = 2000;
constexpr uint32_t kLongRuns = 20;
#endif

} // namespace

TEST_CASE("random event sequences keep every invariant")
{
    const uint32_t base = 20261121;
    for (uint32_t seed = base; seed < base + kShortRuns; ++seed) {
        CAPTURE(seed);
        RandomRun run(seed);
        run.run(150);
    }
}

TEST_CASE("long random sequences keep every invariant")
{
    for (uint32_t seed = 1; seed <= kLongRuns; ++seed) {
        CAPTURE(seed);
        RandomRun run(seed);
        run.run(5000);
    }
}
