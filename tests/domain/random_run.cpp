/* SPDX-License-Identifier: MIT */
#include "random_run.hpp"

#include "ha_gs.h"

#include <algorithm>

namespace gs::domain {

namespace {

const char *const kGroups[] = {"alpha", "beta", "gamma"};

class RandomRun {
  public:
    explicit RandomRun(const RunOptions &options)
        : options_(options), rng_(options.seed), domain_(makeDomain())
    {
        for (const char *name : kGroups) {
            /* Fixed attributes per group, so that joins mostly match. */
            GroupAttributes a;
            a.groupName = name;
            a.sizeofAttributes = sizeof(ha_gs_group_attributes_t);
            a.numPhases = pick<int>({HA_GS_1_PHASE, HA_GS_N_PHASE, HA_GS_N_PHASE});
            a.batchControl =
                pick({HA_GS_NO_BATCHING, HA_GS_BATCH_JOINS, HA_GS_BATCH_LEAVES, HA_GS_BATCH_BOTH});
            a.timeLimit = pick({0, 1, 3});
            a.defaultVote = pick({HA_GS_NULL_VOTE, HA_GS_VOTE_APPROVE, HA_GS_VOTE_REJECT});
            if (std::string(name) == "gamma" && roll(2) == 0) {
                a.sourceGroupName = "alpha";
                a.sourceReflectionNumPhases = pick<int>({0, HA_GS_1_PHASE, HA_GS_N_PHASE});
                a.sourceReflectionTimeLimit = pick({0, 1, 2});
            }
            attributes_[name] = a;
        }
    }

    RunResult run()
    {
        for (int round = 0; round < options_.steps && !failed(); ++round)
            scheduleRound();
        drain();
        RunResult result;
        result.violation = domain_.violation();
        result.digest = domain_.runDigest();
        result.steps = domain_.steps();
        result.nodes = nodes_;
        result.viewChanges = viewChanges_;
        result.transfers = domain_.transfers();
        result.failureLeaves = domain_.checker().failureLeavesChecked();
        result.staleTimers = domain_.checker().staleTimersChecked();
        result.approved = domain_.checker().approvedChecked();
        return result;
    }

  private:
    Domain makeDomain()
    {
        nodes_ = 3 + roll(3);
        DomainOptions o;
        o.settings.nodes = nodes_;
        o.settings.limits.maxProvidersPerGroup = 6;
        o.settings.limits.maxGroupsPerClient = 5;
        o.settings.limits.maxStateMemory = 4096;
        o.twoTimekeepers = options_.twoTimekeepers;
        o.skip = options_.skip;
        o.trace = options_.trace;
        o.restartReusesClientIds = options_.restartReusesClientIds;
        o.fullDigestEvery = options_.fullDigestEvery;
        return Domain(o, options_.seed);
    }

    template <class T>
    T pick(std::initializer_list<T> values)
    {
        return *(values.begin() + roll(static_cast<int>(values.size())));
    }
    int roll(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
    template <class C>
    auto &any(C &container)
    {
        auto it = std::begin(container);
        std::advance(it, roll(static_cast<int>(std::size(container))));
        return *it;
    }
    bool failed() const { return domain_.violation().has_value(); }

    void scheduleRound()
    {
        domain_.advanceClock(static_cast<uint64_t>(roll(400)));
        const int what = roll(100);
        if (what < 3)
            changeMembership();
        else if (what < 8)
            cmmRequest();
        else if (what < 12)
            finishScript();
        else
            clientActivity();
        for (int deliveries = roll(4); deliveries > 0 && !failed(); --deliveries)
            deliverOne();
        domain_.keepTime();
    }

    void deliverOne()
    {
        auto senders = domain_.senders();
        if (!senders.empty())
            domain_.deliverFrom(any(senders));
    }

    /* ---- membership ---- */

    void changeMembership()
    {
        const auto &view = domain_.view();
        const auto synced = domain_.synced();
        std::vector<NodeId> crashed, cut;
        for (const auto &[id, n] : domain_.nodes())
            if (n.state == NodeState::Out)
                (n.crashed ? crashed : cut).push_back(id);
        switch (roll(4)) {
        case 0: { /* a node is lost */
            const NodeId victim = any(view);
            const bool keepsState = synced.size() > 1 ||
                                    std::find(synced.begin(), synced.end(), victim) == synced.end();
            if (domain_.quorate(view.size() - 1) && keepsState) {
                domain_.crash(victim);
                ++viewChanges_;
            }
            break;
        }
        case 1: /* a lost node's gsd starts again */
            if (!crashed.empty()) {
                domain_.join({any(crashed)});
                ++viewChanges_;
            }
            break;
        case 2: { /* a partition: a random minority is cut off */
            std::vector<NodeId> side, rest;
            for (NodeId id : view)
                (roll(3) == 0 ? side : rest).push_back(id);
            bool restSynced = false;
            for (NodeId id : rest)
                restSynced = restSynced || domain_.nodes().at(id).state == NodeState::Synced;
            if (!side.empty() && domain_.quorate(rest.size()) && restSynced) {
                domain_.partition(side);
                ++viewChanges_;
            }
            break;
        }
        default: /* the partition heals: the cut-off nodes merge back */
            if (!cut.empty()) {
                domain_.join(cut);
                ++viewChanges_;
            }
            break;
        }
    }

    /* ---- CMM ---- */

    void cmmRequest()
    {
        const auto synced = domain_.synced();
        const NodeId node = any(synced);
        const auto caller = static_cast<cmm_nodeid_t>(node);
        const auto target = static_cast<cmm_nodeid_t>(1 + roll(nodes_));
        cmm::Event e;
        switch (roll(6)) {
        case 0:
            e = cmm::MastershipRelease{caller};
            break;
        case 1:
            e = cmm::SetQualif{caller, target,
                               pick<int>({CMM_QUALIFIED_MEMBER, CMM_DISQUALIFIED_MEMBER})};
            break;
        case 2:
            e = cmm::SeizeQualif{caller};
            break;
        case 3:
            e = cmm::NodeEligibility{caller, roll(3) != 0};
            break;
        case 4:
            if (roll(4) == 0) {
                e = cmm::RemoveSelf{caller};
                break;
            }
            [[fallthrough]];
        default:
            e = cmm::SetQualif{caller, caller, CMM_QUALIFIED_MEMBER};
            break;
        }
        domain_.submit(node, e);
    }

    /* ---- deactivate scripts ---- */

    void finishScript()
    {
        std::vector<std::pair<NodeId, DeactivateId>> running;
        for (const auto &[id, n] : domain_.nodes())
            for (const auto &[run, script] : n.scripts)
                running.push_back({id, run});
        if (running.empty())
            return clientActivity();
        const auto [node, run] = any(running);
        domain_.node(node).scripts.erase(run);
        domain_.submit(node, gs::Event{DeactivateFinished{
                                 run, pick<uint32_t>({HA_GS_DEACTIVATE_SUCCESSFUL,
                                                      HA_GS_DEACTIVATE_UNSUCCESSFUL})}});
    }

    /* ---- clients ---- */

    Bytes someBytes()
    {
        return std::string(static_cast<size_t>(roll(4)), static_cast<char>('a' + roll(3)));
    }

    Token someToken(const LocalClient &c)
    {
        if (c.groupOf.empty() || roll(12) == 0)
            return static_cast<Token>(roll(40));
        return any(c.groupOf).first;
    }

    void clientActivity()
    {
        const auto synced = domain_.synced();
        const NodeId nodeId = any(synced);
        Node &node = domain_.node(nodeId);
        if (node.clients.empty() || (node.clients.size() < 6 && roll(10) == 0)) {
            domain_.connect(nodeId, roll(2) == 0);
            return;
        }
        const LocalClient c = any(node.clients).second; /* a copy: requests edit it */
        if (!c.toVote.empty() && roll(4) != 0) {
            const Token token = any(c.toVote).first;
            VoteRequest v;
            v.token = token;
            v.vote = pick({HA_GS_VOTE_APPROVE, HA_GS_VOTE_APPROVE, HA_GS_VOTE_APPROVE,
                           HA_GS_VOTE_CONTINUE, HA_GS_VOTE_REJECT});
            v.defaultVote =
                pick({HA_GS_NULL_VOTE, HA_GS_NULL_VOTE, HA_GS_VOTE_APPROVE, HA_GS_VOTE_REJECT});
            if (roll(4) == 0)
                v.proposedState = someBytes();
            if (roll(4) == 0)
                v.message = someBytes();
            domain_.node(nodeId).clients.at(c.id).toVote.erase(token);
            domain_.request(c.id, v);
            return;
        }
        const Token t = someToken(c);
        switch (roll(18)) {
        case 0:
        case 1:
        case 2: {
            JoinRequest j;
            j.attributes = attributes_[any(kGroups)];
            j.instance = roll(6);
            domain_.request(c.id, j);
            break;
        }
        case 3:
            domain_.request(c.id,
                            LeaveRequest{t, pick({HA_GS_1_PHASE, HA_GS_N_PHASE}), pick({0, 1}), 3});
            break;
        case 4:
            domain_.request(c.id, GoodbyeRequest{t});
            break;
        case 5: {
            ExpelRequest e;
            e.token = t;
            e.numPhases = pick({HA_GS_1_PHASE, HA_GS_N_PHASE});
            auto known = c.lastProviders.find(t);
            if (known != c.lastProviders.end() && !known->second.empty() && roll(4) != 0)
                e.expelList = {any(known->second)};
            else
                e.expelList = {ProviderId{static_cast<int16_t>(roll(6)),
                                          static_cast<int16_t>(1 + roll(nodes_))}};
            e.deactivatePhase = static_cast<uint32_t>(roll(3));
            e.timeLimit = pick({0, 1, 2});
            e.deactivateFlag = "f";
            domain_.request(c.id, e);
            break;
        }
        case 6:
        case 7: {
            StateChangeRequest r;
            r.token = t;
            r.numPhases = pick<int>({HA_GS_1_PHASE, HA_GS_N_PHASE, HA_GS_N_PHASE});
            r.timeLimit = pick({0, 1, 2});
            r.newState = someBytes();
            domain_.request(c.id, r);
            break;
        }
        case 8: {
            MessageRequest r;
            r.token = t;
            r.numPhases = pick({HA_GS_1_PHASE, HA_GS_N_PHASE});
            r.message = someBytes();
            domain_.request(c.id, r);
            break;
        }
        case 9: {
            AttributeChangeRequest r;
            r.token = t;
            r.numPhases = pick({HA_GS_1_PHASE, HA_GS_N_PHASE});
            auto group = c.groupOf.find(t);
            r.attributes = attributes_[group == c.groupOf.end() ? "alpha" : group->second];
            r.attributes.clientVersion = roll(3);
            domain_.request(c.id, r);
            break;
        }
        case 10:
        case 11: {
            SubscribeRequest r;
            r.group = any(kGroups);
            r.control = static_cast<uint32_t>(1 + roll(15));
            domain_.request(c.id, r);
            break;
        }
        case 12:
            domain_.request(c.id, UnsubscribeRequest{t});
            break;
        case 13:
            /* Death or ha_gs_quit: the same input. */
            domain_.clientGone(c.id);
            break;
        case 14:
            domain_.submit(nodeId, gs::Event{ClientUnresponsive{c.id}});
            break;
        default:
            break; /* the client is quiet this round */
        }
    }

    /* ---- the end: let every protocol finish ---- */

    void drain()
    {
        for (int guard = 0; guard < 100000 && !failed(); ++guard) {
            while (!domain_.senders().empty() && !failed())
                deliverOne();
            domain_.keepTime();
            if (!domain_.senders().empty())
                continue;
            if (atRest())
                break;
            const auto due = domain_.nextDue();
            if (!due) {
                domain_.checker().fail(domain_.steps(), 0, "protocols end",
                                       "a protocol runs with no timer and no input left");
                return;
            }
            domain_.advanceClock(*due > domain_.now() ? *due - domain_.now() : 0);
            domain_.keepTime();
        }
        if (!failed())
            domain_.compareDigests("at the end of the run");
        if (!failed())
            domain_.checker().atRest(domain_.steps(), *domain_.reference()->replica);
    }

    bool atRest() const
    {
        for (NodeId id : domain_.view())
            if (domain_.nodes().at(id).state != NodeState::Synced)
                return false;
        const Engine &engine = domain_.reference()->replica->gsapi();
        for (const auto &name : engine.groupNames())
            if (engine.group(name)->protocolRunning)
                return false;
        return true;
    }

    RunOptions options_;
    std::mt19937_64 rng_;
    int nodes_ = 3;
    Domain domain_;
    std::map<std::string, GroupAttributes> attributes_;
    uint64_t viewChanges_ = 0;
};

} // namespace

RunResult runRandom(const RunOptions &options)
{
    return RandomRun(options).run();
}

} // namespace gs::domain
