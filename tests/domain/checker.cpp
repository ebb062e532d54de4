/* SPDX-License-Identifier: MIT */
#include "checker.hpp"

#include "ha_gs.h"

#include <algorithm>
#include <sstream>

namespace gs::domain {

namespace {

std::string hex(uint64_t value)
{
    std::ostringstream s;
    s << "0x" << std::hex << value;
    return s.str();
}

std::string idText(const ProviderId &id)
{
    return "(" + std::to_string(id.instance) + "," + std::to_string(id.node) + ")";
}

} // namespace

std::string Violation::text() const
{
    std::ostringstream s;
    s << "domain simulation: seed " << seed << ", step " << step << ", node " << node
      << ": invariant \"" << invariant << "\" violated: " << message;
    return s.str();
}

void Checker::fail(uint64_t step, int node, std::string invariant, std::string message)
{
    if (!violation_)
        violation_ = Violation{seed_, step, node, std::move(invariant), std::move(message)};
}

bool Checker::isGone(ClientId client) const
{
    if (goneClients_.count(client))
        return true;
    auto lost = nodeGoneAt_.find(clientNode(client));
    if (lost == nodeGoneAt_.end())
        return false;
    auto hello = helloAt_.find(client);
    return hello == helloAt_.end() || hello->second < lost->second;
}

void Checker::markFailed(const Replica &reference, const std::string &why,
                         bool (*match)(const MemberView &, uint64_t), uint64_t key)
{
    for (const auto &name : reference.gsapi().groupNames()) {
        const auto group = reference.gsapi().group(name);
        for (const auto &m : group->members)
            if (match(m, key))
                failing_.try_emplace({name, m.id}, Failed{m.client, why});
    }
}

void Checker::before(uint64_t step, const EngineEvent &event, const Replica &reference)
{
    const auto *e = std::get_if<gs::Event>(&event);
    if (!e)
        return;
    if (const auto *hello = std::get_if<ClientHello>(e)) {
        /* A dead client's providers stay members until their failure
         * leaves run: a new client with its id could act on its tokens. */
        if (helloAt_.count(hello->client))
            fail(step, clientNode(hello->client), "client ids never reused",
                 clientName(hello->client) + " connected again (first at step " +
                     std::to_string(helloAt_[hello->client]) + ")");
        goneClients_.erase(hello->client);
        helloAt_[hello->client] = step;
    } else if (const auto *gone = std::get_if<ClientGone>(e)) {
        markFailed(
            reference, "its client " + clientName(gone->client) + " died",
            [](const MemberView &m, uint64_t client) { return m.client == client; }, gone->client);
        goneClients_.insert(gone->client);
    } else if (const auto *node = std::get_if<NodeGone>(e)) {
        /* The providers the lost node had, as the domain saw them. */
        markFailed(
            reference, "its node " + std::to_string(node->node) + " left",
            [](const MemberView &m, uint64_t n) {
                return clientNode(m.client) == static_cast<int16_t>(n);
            },
            static_cast<uint64_t>(node->node));
        nodeGoneAt_[node->node] = step;
    } else if (const auto *request = std::get_if<ClientRequest>(e)) {
        if (const auto *bye = std::get_if<GoodbyeRequest>(&request->request)) {
            const ClientId client = request->client;
            const Token token = bye->token;
            for (const auto &name : reference.gsapi().groupNames()) {
                const auto group = reference.gsapi().group(name);
                for (const auto &m : group->members)
                    if (m.token == token && m.client == client)
                        failing_.try_emplace({name, m.id}, Failed{client, "it said goodbye"});
            }
        }
    }
}

void Checker::joinedFailed(uint64_t step, const Replica &reference)
{
    /* A join that was running when its client died, said goodbye or lost
     * its node is approved all the same; the failure leave follows. */
    for (const auto &name : reference.gsapi().groupNames()) {
        const auto group = reference.gsapi().group(name);
        for (const auto &m : group->members) {
            if (m.id.node != clientNode(m.client))
                fail(step, clientNode(m.client), "provider ids name their client's node",
                     "provider " + idText(m.id) + " of " + clientName(m.client) + " in group " +
                         name);
            if (isGone(m.client))
                failing_.try_emplace({name, m.id},
                                     Failed{m.client, "its client was gone when it joined"});
            else if (saidGoodbye_.count({m.client, m.token}))
                failing_.try_emplace({name, m.id},
                                     Failed{m.client, "it said goodbye while joining"});
        }
    }
}

void Checker::checkActions(uint64_t step, const std::vector<Action> &actions,
                           const Replica &reference)
{
    for (const auto &action : actions) {
        if (const auto *reply = std::get_if<Reply>(&action)) {
            if (isGone(reply->client))
                fail(step, clientNode(reply->client), "no action for a gone client",
                     "reply to " + clientName(reply->client));
            continue;
        }
        const auto *notify = std::get_if<Notify>(&action);
        if (!notify)
            continue;
        for (const auto &to : notify->recipients)
            if (isGone(to.client))
                fail(step, clientNode(to.client), "no action for a gone client",
                     "notification to " + clientName(to.client) + " token " +
                         std::to_string(to.token));
        const auto *approved = std::get_if<ApprovedNote>(&*notify->body);
        if (approved && approved->protocol == HA_GS_JOIN)
            joinedFailed(step, reference);
        if (!approved || notify->recipients.empty())
            continue;
        const std::string group = tokenGroup_[notify->recipients.front().token];
        const uint64_t ordinal = ++approvedCount_[group];
        for (const auto &to : notify->recipients) {
            auto [last, first] = lastApproved_.try_emplace(to.token, ordinal);
            if (!first && last->second + 1 != ordinal)
                fail(step, clientNode(to.client), "gap-free approved stream",
                     "provider " + clientName(to.client) + " token " + std::to_string(to.token) +
                         " of group " + group + " told approved change " + std::to_string(ordinal) +
                         " after change " + std::to_string(last->second));
            last->second = ordinal;
            ++approvedChecked_;
            if (to.final)
                lastApproved_.erase(to.token);
        }
        if (approved->protocol != HA_GS_FAILURE_LEAVE)
            continue;
        for (const auto &id : approved->proposal.changingProviders) {
            auto it = failing_.find({group, id});
            if (it == failing_.end()) {
                fail(step, 0, "failure leaves exactly for the failed",
                     "failure leave of provider " + idText(id) + " in group " + group +
                         ", whose client is alive and did not say goodbye");
                continue;
            }
            ++failureLeavesChecked_;
            failing_.erase(it);
        }
    }
}

StepRecord Checker::after(uint64_t step, const EngineEvent &event,
                          const std::vector<ReplicaResult> &results,
                          std::optional<StateDigest> staleFingerprint, bool fullDigest)
{
    const ReplicaResult &ref = results.front();
    StepRecord record;
    const bool gsapi = std::holds_alternative<gs::Event>(event);
    record.actions = gsapi ? hashActions(ref.applied->actions) : hashOutcome(ref.applied->outcome);
    record.fingerprint = ref.replica->gsapiFingerprint();
    record.cmm = ref.replica->cmmDigest();
    if (fullDigest)
        record.gsapi = ref.replica->gsapiDigest();

    /* The engine knows exactly the clients whose hello was delivered and
     * whose death or node loss was not. */
    size_t live = 0;
    for (const auto &[client, at] : helloAt_)
        live += isGone(client) ? 0 : 1;
    for (const auto &r : results) {
        if (auto broken = r.replica->checkInvariants(); !broken.empty())
            fail(step, r.node, "engine invariants", broken + " (after " + describe(event) + ")");
        if (const size_t known = r.replica->gsapi().clientCount(); known != live)
            fail(step, r.node, "engine clients are the live clients",
                 "the GSAPI engine knows " + std::to_string(known) + " clients, " +
                     std::to_string(live) + " are live (after " + describe(event) + ")");
        compareDigests(step, r.node, ref.node, *r.replica, record, "after " + describe(event),
                       "equal digests");
        const bool same = gsapi ? sameActions(r.applied->actions, ref.applied->actions)
                                : r.applied->outcome == ref.applied->outcome;
        if (!same)
            fail(step, r.node, "same actions",
                 "for " + describe(event) + " it computed " +
                     (gsapi ? describe(r.applied->actions) : "another CMM outcome") + ", node " +
                     std::to_string(ref.node) + " computed " +
                     (gsapi ? describe(ref.applied->actions) : "its own"));
    }
    if (violation_)
        return record;

    if (staleFingerprint) {
        ++staleTimersChecked_;
        if (!ref.applied->actions.empty() || record.fingerprint != *staleFingerprint)
            fail(step, ref.node, "stale timer harmless",
                 describe(event) + " again gave " + describe(ref.applied->actions));
    }
    if (const auto *e = std::get_if<gs::Event>(&event)) {
        if (const auto *request = std::get_if<ClientRequest>(e)) {
            std::string group;
            if (const auto *j = std::get_if<JoinRequest>(&request->request))
                group = j->attributes.groupName;
            if (const auto *s = std::get_if<SubscribeRequest>(&request->request))
                group = s->group;
            for (const auto &action : ref.applied->actions)
                if (const auto *reply = std::get_if<Reply>(&action))
                    if (reply->client == request->client &&
                        reply->requestId == request->requestId) {
                        if (reply->token != 0)
                            tokenGroup_[reply->token] = group;
                        const auto *bye = std::get_if<GoodbyeRequest>(&request->request);
                        if (bye && reply->rc == HA_GS_OK)
                            saidGoodbye_.insert({request->client, bye->token});
                    }
        }
    }
    checkActions(step, ref.applied->actions, *ref.replica);
    /* A failed provider whose failure leave nobody was told (its group had
     * no other live provider) is gone all the same. */
    std::erase_if(failing_, [&](const auto &entry) {
        const auto group = ref.replica->gsapi().group(entry.first.first);
        return !group ||
               std::none_of(group->members.begin(), group->members.end(), [&](const MemberView &m) {
                   return m.id == entry.first.second && m.client == entry.second.client;
               });
    });
    return record;
}

void Checker::compareDigests(uint64_t step, int node, int against, const Replica &replica,
                             const StepRecord &expected, const std::string &when,
                             const char *invariant)
{
    auto differ = [&](const char *what, StateDigest have, StateDigest want) {
        fail(step, node, invariant,
             std::string(what) + " " + hex(have) + " differs from " +
                 (against == 0 ? std::string("the synced replicas'")
                               : "node " + std::to_string(against) + "'s") +
                 " " + hex(want) + " " + when);
    };
    if (replica.gsapiFingerprint() != expected.fingerprint)
        differ("GSAPI fingerprint", replica.gsapiFingerprint(), expected.fingerprint);
    else if (replica.cmmDigest() != expected.cmm)
        differ("CMM digest", replica.cmmDigest(), expected.cmm);
    else if (expected.gsapi && replica.gsapiDigest() != *expected.gsapi)
        differ("GSAPI digest", replica.gsapiDigest(), *expected.gsapi);
}

void Checker::loaded(int16_t node, int16_t donor, uint64_t cut, const Replica &replica,
                     const StepRecord &atCut)
{
    compareDigests(cut, node, donor, replica, atCut, "in the state loaded at the cut",
                   "joiner matches donor");
}

void Checker::replayed(int16_t node, uint64_t step, const EngineEvent &event,
                       const Replica &replica, const Applied &applied, const StepRecord &expected)
{
    if (auto broken = replica.checkInvariants(); !broken.empty())
        fail(step, node, "engine invariants", broken + " (replaying the buffer)");
    const bool gsapi = std::holds_alternative<gs::Event>(event);
    const uint64_t actions = gsapi ? hashActions(applied.actions) : hashOutcome(applied.outcome);
    if (actions != expected.actions)
        fail(step, node, "joiner matches donor",
             "replaying the buffered " + describe(event) + " gave " +
                 (gsapi ? describe(applied.actions) : "another CMM outcome") +
                 ", not what the synced replicas computed");
    else
        compareDigests(step, node, 0, replica, expected,
                       "after replaying the buffered " + describe(event), "joiner matches donor");
}

void Checker::compareAll(uint64_t step, const std::vector<ReplicaResult> &replicas,
                         const std::string &when, const char *invariant)
{
    const Replica &ref = *replicas.front().replica;
    StepRecord record{0, ref.gsapiFingerprint(), ref.cmmDigest(), ref.gsapiDigest()};
    for (const auto &r : replicas)
        compareDigests(step, r.node, replicas.front().node, *r.replica, record, when, invariant);
}

void Checker::atRest(uint64_t step, const Replica &reference)
{
    for (const auto &[key, failed] : failing_) {
        const auto g = reference.gsapi().group(key.first);
        if (!g)
            continue;
        for (const auto &m : g->members)
            if (m.id == key.second && m.client == failed.client)
                fail(step, clientNode(failed.client), "failure leaves exactly for the failed",
                     "provider " + idText(key.second) + " of group " + key.first + " (" +
                         failed.why + ") is still a member at rest");
    }
    failing_.clear();
}

} // namespace gs::domain
