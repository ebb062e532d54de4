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
 *   - an approved notification's current providers are the membership
 *     after the change (the one before, as that provider last saw it, with
 *     the change applied); n-phase and rejected ones carry the one before;
 *   - a message attached to a vote appears in at most one notification;
 *   - a cast-out runs the target's source-reflection phases and is never
 *     rejected;
 *   - deactivate scripts run only for live clients that registered one,
 *     and an expel's outcome carries a deactivate bit exactly when scripts
 *     ran for it;
 *   - with the timers fired, every protocol ends;
 *   - with no protocol running, the memory counted is the state values'.
 */
#include "sim.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>

using namespace gs;
using namespace gs::test;

namespace {

/* Vote messages seen in exactly one notification, over all runs: proves
 * the at-most-once check is not vacuous. */
uint64_t ridersDeliveredOnce = 0;
/* Deactivate scripts started, and expel outcomes that carried their bits,
 * over all runs: the runs must reach that code. */
uint64_t scriptsStarted = 0;
uint64_t outcomesWithScripts = 0;

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
            if (std::string(g) == "gamma" && roll(2) == 0) {
                a.sourceGroupName = "alpha";
                a.sourceReflectionNumPhases = pick<int>({0, HA_GS_1_PHASE, HA_GS_N_PHASE});
                a.sourceReflectionTimeLimit = pick({0, 1, 2});
            }
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
        for (const auto &[message, bodies] : riderBodies_) {
            CHECK_MESSAGE(bodies <= 1,
                          "vote message " << message << " in " << bodies << " notifications");
            ridersDeliveredOnce += bodies == 1;
        }
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
            const bool script = roll(2) == 0;
            sim_->hello(c, script);
            if (script)
                withScript_.insert(c);
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
        int n = roll(17);
        switch (n) {
        case 0:
        case 1: {
            std::string g = someGroup();
            JoinRequest j;
            j.attributes = groupAttrs_[g];
            if (roll(15) == 0)
                j.attributes.timeLimit = 99; /* mutable: the group keeps its own */
            if (roll(15) == 0)
                j.attributes.mergeControl = HA_GS_DISSOLVE_ON_MERGE; /* immutable: refused */
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
            e.deactivatePhase = static_cast<uint32_t>(roll(3));
            e.timeLimit = pick({0, 1, 2});
            e.deactivateFlag = "f";
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
            /* Unlike any provider message (someBytes), so that each can be
             * traced to the notifications carrying it. */
            if (roll(4) == 0)
                v.message = "rider" + std::to_string(++riders_);
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
        case 15:
            /* A running deactivate script ends (else: a timer fires). */
            if (!sim_->runningScripts().empty() && roll(3) != 0) {
                auto it = sim_->runningScripts().begin();
                std::advance(it, roll(static_cast<int>(sim_->runningScripts().size())));
                sim_->finishScript(it->first,
                                   pick({HA_GS_DEACTIVATE_SUCCESSFUL, HA_GS_DEACTIVATE_UNSUCCESSFUL,
                                         HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED}));
                check();
                break;
            }
            [[fallthrough]];
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
        seenMembers_.erase(t);
    }

    static bool removes(int protocol)
    {
        return protocol == HA_GS_LEAVE || protocol == HA_GS_FAILURE_LEAVE ||
               protocol == HA_GS_EXPEL || protocol == HA_GS_CAST_OUT;
    }

    /* The proposal of a protocol notification, or null. */
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

    /* Item 2 of the conformance audit: what a provider is told of the
     * membership, against what it was told last. */
    void checkMembership(Token token, const NoteBody &body)
    {
        int protocol = 0;
        const Proposal *p = proposalOf(body, protocol);
        const auto seen = seenMembers_.find(token);
        if (!std::holds_alternative<ApprovedNote>(body)) {
            /* The membership the proposal was made against: the last one
             * in force (a joiner, not a member yet, has none to compare). */
            if (seen != seenMembers_.end())
                CHECK(p->currentProviders == seen->second);
            return;
        }
        if (seen == seenMembers_.end()) {
            /* Its own join: the joiners are the last members now. */
            REQUIRE(protocol == HA_GS_JOIN);
            REQUIRE(p->currentProviders.size() >= p->changingProviders.size());
            CHECK(std::equal(p->changingProviders.rbegin(), p->changingProviders.rend(),
                             p->currentProviders.rbegin()));
        } else {
            std::vector<ProviderId> expected = seen->second;
            if (protocol == HA_GS_JOIN)
                expected.insert(expected.end(), p->changingProviders.begin(),
                                p->changingProviders.end());
            else if (removes(protocol))
                std::erase_if(expected, [&](const ProviderId &id) {
                    return std::find(p->changingProviders.begin(), p->changingProviders.end(),
                                     id) != p->changingProviders.end();
                });
            CHECK_MESSAGE(p->currentProviders == expected,
                          "approved notification without the membership after the change");
        }
        seenMembers_[token] = p->currentProviders;
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
            if (const auto *run = std::get_if<RunDeactivate>(&action)) {
                CHECK(gone_.count(run->client) == 0);
                CHECK(withScript_.count(run->client) == 1);
                scriptsRan_.insert(run->group);
                ++scriptsStarted;
                continue;
            }
            const auto *n = std::get_if<Notify>(&action);
            if (!n)
                continue;
            int protocol = 0;
            if (const Proposal *p = proposalOf(*n->body, protocol)) {
                if (p->message && p->message->starts_with("rider"))
                    ++riderBodies_[*p->message];
                if (protocol == HA_GS_CAST_OUT) {
                    CHECK_FALSE(std::holds_alternative<RejectedNote>(*n->body));
                    const int phases = groupAttrs_["gamma"].sourceReflectionNumPhases;
                    CHECK(p->numPhases ==
                          (phases == HA_GS_N_PHASE ? HA_GS_N_PHASE : HA_GS_1_PHASE));
                }
            }
            const uint32_t deactivateBits = HA_GS_DEACTIVATE_SUCCESSFUL |
                                            HA_GS_DEACTIVATE_UNSUCCESSFUL |
                                            HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED;
            const ApprovedNote *approved = std::get_if<ApprovedNote>(&*n->body);
            const RejectedNote *rejected = std::get_if<RejectedNote>(&*n->body);
            if (approved || rejected) {
                const uint32_t summary = approved ? approved->summary : rejected->summary;
                const int outcomeOf = approved ? approved->protocol : rejected->protocol;
                if (outcomeOf != HA_GS_EXPEL) {
                    CHECK((summary & deactivateBits) == 0);
                } else if (!n->recipients.empty()) {
                    const auto &first = n->recipients.front();
                    const std::string group = models_[first.client].group[first.token];
                    const bool ran = scriptsRan_.erase(group) == 1;
                    CHECK(((summary & deactivateBits) != 0) == ran);
                    outcomesWithScripts += ran ? 1 : 0;
                }
            }
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
                    checkMembership(r.token, *n->body);
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
                if (std::holds_alternative<NPhaseNote>(*n->body))
                    checkMembership(r.token, *n->body);
                if (r.final)
                    forget(r.client, r.token);
            }
        }
        /* An expel whose outcome nobody alive was told ends all the same. */
        std::erase_if(scriptsRan_, [&](const std::string &group) {
            const auto view = sim_->engine.group(group);
            return !view || view->runningProtocol != HA_GS_EXPEL;
        });
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
    std::set<ClientId> withScript_;    /* clients that registered a deactivate script */
    std::set<std::string> scriptsRan_; /* groups whose running expel started scripts */
    std::map<ClientId, ClientModel> models_;
    std::map<std::string, uint64_t> approvedCount_; /* approved protocols per group */
    std::map<Token, uint64_t> lastApproved_;        /* provider token -> last index seen */
    /* provider token -> membership in force as its last approved
     * notification told it */
    std::map<Token, std::vector<ProviderId>> seenMembers_;
    std::map<Bytes, int> riderBodies_; /* vote message -> notifications carrying it */
    uint64_t riders_ = 0;
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
    CHECK(ridersDeliveredOnce > 0);
    MESSAGE(scriptsStarted << " deactivate scripts started, " << outcomesWithScripts
                           << " expel outcomes told with their bits");
    CHECK(scriptsStarted > 0);
    CHECK(outcomesWithScripts > 0);
}

TEST_CASE("long random sequences keep every invariant")
{
    for (uint32_t seed = 1; seed <= kLongRuns; ++seed) {
        CAPTURE(seed);
        RandomRun run(seed);
        run.run(5000);
    }
}
