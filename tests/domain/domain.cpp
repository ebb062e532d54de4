/* SPDX-License-Identifier: MIT */
#include "domain.hpp"

#include "ha_gs.h"

#include <algorithm>
#include <iostream>
#include <stdexcept>

namespace gs::domain {

Domain::Domain(DomainOptions options, uint64_t seed) : options_(std::move(options)), checker_(seed)
{
    /* Cold start: every configured node is in the first view with an empty
     * replica, so all are synced at once; the view tells the CMM engines
     * that each node is up. */
    for (int id = 1; id <= options_.settings.nodes; ++id) {
        Node &n = nodes_[static_cast<NodeId>(id)];
        n.id = static_cast<NodeId>(id);
        n.state = NodeState::Synced;
        n.replica = std::make_unique<Replica>(options_.settings);
    }
    std::vector<NodeId> all;
    for (const auto &[id, n] : nodes_)
        all.push_back(id);
    view_ = all;
    ++epoch_;
    for (NodeId id : all)
        step(cmm::Event{cmm::NodeUp{static_cast<cmm_nodeid_t>(id)}}, std::nullopt);
}

std::vector<NodeId> Domain::synced() const
{
    std::vector<NodeId> out;
    for (NodeId id : view_)
        if (nodes_.at(id).state == NodeState::Synced)
            out.push_back(id);
    return out;
}

const Node *Domain::reference() const
{
    for (NodeId id : view_)
        if (nodes_.at(id).state == NodeState::Synced)
            return &nodes_.at(id);
    return nullptr;
}

std::vector<NodeId> Domain::senders() const
{
    std::vector<NodeId> out;
    for (NodeId id : view_)
        if (!nodes_.at(id).outbox.empty())
            out.push_back(id);
    return out;
}

/* ---- membership ------------------------------------------------------ */

void Domain::leave(Node &node, bool crashed)
{
    node.state = NodeState::Out;
    node.crashed = crashed;
    node.replica.reset();
    node.transfer.reset();
    node.shadowTimers.clear();
    node.firedByMe.clear();
    /* Its clients' sessions end (HA_GS_SUBSCRIPTION_GS_HAS_DIED); what it
     * had not yet multicast is lost. */
    node.clients.clear();
    node.outbox.clear();
    node.scripts.clear();
    /* A restarted gsd must not hand out an id its previous run gave: the
     * domain may still hold that client's providers. */
    if (crashed && options_.restartReusesClientIds)
        node.nextSerial = 1;
}

void Domain::crash(NodeId id)
{
    std::vector<NodeId> members;
    for (NodeId m : view_)
        if (m != id)
            members.push_back(m);
    leave(nodes_.at(id), true);
    changeView(members, {id}, {});
}

void Domain::partition(const std::vector<NodeId> &side)
{
    std::vector<NodeId> members;
    for (NodeId m : view_)
        if (std::find(side.begin(), side.end(), m) == side.end())
            members.push_back(m);
    if (!quorate(members.size()))
        throw std::logic_error("partition: the side that goes on has no quorum");
    /* The minority loses quorum: it drops its replica and ends its
     * clients' sessions, then waits to be merged back. */
    for (NodeId id : side)
        leave(nodes_.at(id), false);
    changeView(members, side, {});
}

void Domain::join(const std::vector<NodeId> &nodes)
{
    std::vector<NodeId> members = view_;
    for (NodeId id : nodes) {
        if (nodes_.at(id).state != NodeState::Out)
            throw std::logic_error("join: node " + std::to_string(id) + " is not out");
        members.push_back(id);
    }
    std::sort(members.begin(), members.end());
    changeView(members, {}, nodes);
}

void Domain::changeView(const std::vector<NodeId> &members, const std::vector<NodeId> &left,
                        const std::vector<NodeId> &joined)
{
    view_ = members;
    ++epoch_;
    if (synced().empty())
        throw std::logic_error("a view without a synced node loses the domain's state");
    /* The view is one point of the stream: every synced replica fails the
     * clients of each node that left, then the CMM engines learn who is
     * down and who is up. */
    viewStep_ = true;
    std::vector<NodeId> gone = left;
    std::sort(gone.begin(), gone.end());
    for (NodeId id : gone) {
        step(gs::Event{NodeGone{id}}, std::nullopt);
        step(cmm::Event{cmm::NodeDown{static_cast<cmm_nodeid_t>(id)}}, std::nullopt);
    }
    std::vector<NodeId> up = joined;
    std::sort(up.begin(), up.end());
    for (NodeId id : up) {
        nodes_.at(id).state = NodeState::Joining;
        step(cmm::Event{cmm::NodeUp{static_cast<cmm_nodeid_t>(id)}}, std::nullopt);
    }
    viewStep_ = false;
    /* A transfer under way belongs to the old view: start over. */
    bool joiners = false;
    for (NodeId id : view_) {
        Node &n = nodes_.at(id);
        if (n.state == NodeState::Joining) {
            n.transfer.reset();
            joiners = true;
        }
    }
    if (joiners)
        submit(reference()->id, SnapBegin{epoch_});
}

/* ---- inputs ---------------------------------------------------------- */

void Domain::submit(NodeId from, Payload payload)
{
    nodes_.at(from).outbox.push_back(std::move(payload));
}

ClientId Domain::connect(NodeId id, bool script)
{
    Node &n = nodes_.at(id);
    if (n.state != NodeState::Synced)
        throw std::logic_error("connect: node " + std::to_string(id) + " is not synced");
    const ClientId client = makeClientId(id, n.nextSerial++);
    LocalClient &c = n.clients[client];
    c.id = client;
    c.script = script;
    submit(id, gs::Event{ClientHello{client, script}});
    return client;
}

void Domain::request(ClientId client, Request r)
{
    Node &n = nodes_.at(clientNode(client));
    LocalClient &c = n.clients.at(client);
    const RequestId id = c.nextRequest++;
    c.outstanding[id] = r;
    submit(n.id, gs::Event{ClientRequest{client, id, std::move(r)}});
}

void Domain::clientGone(ClientId client)
{
    Node &n = nodes_.at(clientNode(client));
    n.clients.erase(client);
    /* Behind every request it sent: the outbox is FIFO. */
    submit(n.id, gs::Event{ClientGone{client}});
}

/* ---- the order ------------------------------------------------------- */

bool Domain::deliverFrom(NodeId from)
{
    Node &n = nodes_.at(from);
    if (n.outbox.empty())
        return false;
    Payload payload = std::move(n.outbox.front());
    n.outbox.pop_front();
    deliver(from, payload);
    return true;
}

void Domain::deliver(NodeId from, const Payload &payload)
{
    run_.add(static_cast<uint64_t>(from));
    if (const auto *e = std::get_if<gs::Event>(&payload))
        step(*e, from);
    else if (const auto *c = std::get_if<cmm::Event>(&payload))
        step(*c, from);
    else if (const auto *begin = std::get_if<SnapBegin>(&payload))
        beginTransfer(from, begin->epoch);
    else
        finishTransfer(std::get<SnapEnd>(payload).epoch);
}

void Domain::beginTransfer(NodeId donor, uint64_t epoch)
{
    if (epoch != epoch_)
        return; /* sent in an older view: the donor of this one starts over */
    /* The delivery of SnapBegin is the cut: the donor's state here is
     * what every joiner loads, and each buffers what comes after. */
    const Node &d = nodes_.at(donor);
    Snapshot snapshot = d.replica->snapshot();
    for (NodeId id : view_) {
        Node &n = nodes_.at(id);
        if (n.state != NodeState::Joining)
            continue;
        n.transfer = Node::Transfer{epoch, steps_, donor, snapshot, d.shadowTimers, {}};
    }
    run_.add(steps_);
    /* The chunks follow; SnapEnd closes them. */
    submit(donor, SnapEnd{epoch});
}

void Domain::finishTransfer(uint64_t epoch)
{
    if (epoch != epoch_)
        return;
    for (NodeId id : view_) {
        Node &n = nodes_.at(id);
        if (n.state != NodeState::Joining || !n.transfer || n.transfer->epoch != epoch)
            continue;
        Node::Transfer t = std::move(*n.transfer);
        n.transfer.reset();
        n.replica = std::make_unique<Replica>(options_.settings, t.snapshot);
        /* The donor's digest at the cut is that of the snapshot's bytes. */
        StepRecord atCut = log_.at(t.cutStep - 1);
        atCut.gsapi = digestOf(t.snapshot.gsapi);
        checker_.loaded(n.id, t.donor, t.cutStep, *n.replica, atCut);
        n.shadowTimers = std::move(t.shadowTimers);
        n.firedByMe.clear();
        for (const auto &b : t.buffer) {
            const Applied applied = n.replica->apply(b.event);
            trackTimers(n.shadowTimers, b.event, applied.actions, b.time);
            checker_.replayed(n.id, b.step, b.event, *n.replica, applied, log_.at(b.step - 1));
        }
        /* Synced: from here on it applies the stream itself and its
         * clients may connect. */
        n.state = NodeState::Synced;
        /* The donor is synced in this epoch: compare with it, not with the
         * joiner itself when the joiner has the lowest id. */
        const Node &donor = nodes_.at(t.donor);
        checker_.compareAll(
            steps_, {{donor.id, donor.replica.get(), nullptr}, {n.id, n.replica.get(), nullptr}},
            "when synced", "joiner matches donor");
        ++transfers_;
        run_.add(static_cast<uint64_t>(n.id));
    }
}

bool Domain::skipHere(const Node &node, const EngineEvent &event)
{
    const auto &fault = options_.skip;
    if (!fault || skipped_ || fault->node != node.id || steps_ < fault->fromStep)
        return false;
    const auto *e = std::get_if<gs::Event>(&event);
    if (!e || !std::holds_alternative<ClientRequest>(*e))
        return false;
    skipped_ = true;
    return true;
}

void Domain::step(const EngineEvent &event, std::optional<NodeId> from)
{
    const uint64_t index = ++steps_;
    const Node *ref = reference();
    checker_.before(index, event, *ref->replica);
    std::optional<StateDigest> staleFingerprint;
    if (const auto *e = std::get_if<gs::Event>(&event))
        if (const auto *fired = std::get_if<TimerFired>(e))
            if (!ref->shadowTimers.count(fired->timer))
                staleFingerprint = ref->replica->gsapiFingerprint();

    std::map<NodeId, Applied> applied;
    std::vector<ReplicaResult> results;
    for (NodeId id : view_) {
        Node &n = nodes_.at(id);
        if (n.state == NodeState::Joining) {
            if (n.transfer)
                n.transfer->buffer.push_back({index, event, now_});
            continue;
        }
        if (n.state != NodeState::Synced)
            continue;
        Applied &a = applied[id];
        if (!skipHere(n, event))
            a = n.replica->apply(event);
        carryOut(n, event, a);
        results.push_back({id, n.replica.get(), &a});
    }
    const bool full =
        viewStep_ || options_.fullDigestEvery <= 1 || index % options_.fullDigestEvery == 0;
    const StepRecord record = checker_.after(index, event, results, staleFingerprint, full);
    if (options_.trace)
        std::cerr << "step " << index << " t=" << now_ << "ms from node "
                  << (from ? std::to_string(*from) : std::string("view")) << ": " << describe(event)
                  << " -> " << describe(results.front().applied->actions) << "\n";
    log_.push_back(record);
    run_.add(from ? static_cast<uint64_t>(*from) : 0);
    run_.add(record.actions);
    run_.add(record.fingerprint);
    run_.add(record.gsapi.value_or(0));
    run_.add(record.cmm);
}

void Domain::compareDigests(const std::string &when)
{
    std::vector<ReplicaResult> replicas;
    for (NodeId id : synced())
        replicas.push_back({id, nodes_.at(id).replica.get(), nullptr});
    checker_.compareAll(steps_, replicas, when, "equal digests");
}

/* ---- what a node does with the actions ------------------------------- */

void Domain::trackTimers(std::map<TimerId, uint64_t> &timers, const EngineEvent &event,
                         const std::vector<Action> &actions, uint64_t time)
{
    if (const auto *e = std::get_if<gs::Event>(&event))
        if (const auto *fired = std::get_if<TimerFired>(e))
            timers.erase(fired->timer);
    for (const auto &action : actions) {
        if (const auto *start = std::get_if<StartTimer>(&action))
            timers[start->timer] = time + static_cast<uint64_t>(start->seconds) * 1000;
        else if (const auto *cancel = std::get_if<CancelTimer>(&action))
            timers.erase(cancel->timer);
    }
}

void Domain::carryOut(Node &node, const EngineEvent &event, const Applied &applied)
{
    trackTimers(node.shadowTimers, event, applied.actions, now_);
    deliverLocally(node, applied.actions);
}

void Domain::deliverLocally(Node &node, const std::vector<Action> &actions)
{
    for (const auto &action : actions) {
        if (const auto *reply = std::get_if<Reply>(&action)) {
            auto c = node.clients.find(reply->client);
            if (c == node.clients.end())
                continue; /* not local, or dead: nobody to send it to */
            LocalClient &client = c->second;
            Hasher h;
            h.add(reply->requestId);
            h.add(static_cast<uint64_t>(reply->rc));
            h.add(static_cast<uint64_t>(reply->token));
            client.received.push_back(h.value());
            auto request = client.outstanding.find(reply->requestId);
            if (request == client.outstanding.end())
                continue;
            if (reply->rc == HA_GS_OK) {
                if (const auto *j = std::get_if<JoinRequest>(&request->second)) {
                    client.groupOf[reply->token] = j->attributes.groupName;
                    client.provider.insert(reply->token);
                } else if (const auto *s = std::get_if<SubscribeRequest>(&request->second)) {
                    client.groupOf[reply->token] = s->group;
                } else if (const auto *g = std::get_if<GoodbyeRequest>(&request->second)) {
                    client.groupOf.erase(g->token);
                } else if (const auto *u = std::get_if<UnsubscribeRequest>(&request->second)) {
                    client.groupOf.erase(u->token);
                }
            }
            client.outstanding.erase(request);
        } else if (const auto *notify = std::get_if<Notify>(&action)) {
            for (const auto &to : notify->recipients) {
                auto c = node.clients.find(to.client);
                if (c == node.clients.end())
                    continue;
                LocalClient &client = c->second;
                client.received.push_back(hashNote(to, *notify->body));
                if (const auto *phase = std::get_if<NPhaseNote>(&*notify->body)) {
                    client.toVote[to.token] = phase->proposal.phaseNumber;
                    client.lastProviders[to.token] = phase->proposal.currentProviders;
                } else if (const auto *ok = std::get_if<ApprovedNote>(&*notify->body)) {
                    client.toVote.erase(to.token);
                    client.lastProviders[to.token] = ok->proposal.currentProviders;
                } else if (std::holds_alternative<RejectedNote>(*notify->body)) {
                    client.toVote.erase(to.token);
                }
                if (to.final) {
                    client.groupOf.erase(to.token);
                    client.provider.erase(to.token);
                    client.toVote.erase(to.token);
                    client.lastProviders.erase(to.token);
                }
            }
        } else if (const auto *run = std::get_if<RunDeactivate>(&action)) {
            /* A script runs on its client's node. */
            if (node.clients.count(run->client))
                node.scripts[run->run] = *run;
        } else if (const auto *stop = std::get_if<StopDeactivate>(&action)) {
            node.scripts.erase(stop->run);
        }
    }
}

/* ---- time ------------------------------------------------------------ */

void Domain::keepTime()
{
    const auto keepers = synced();
    const size_t count = options_.twoTimekeepers ? 2 : 1;
    for (size_t i = 0; i < keepers.size() && i < count; ++i) {
        Node &n = nodes_.at(keepers[i]);
        for (const auto &[timer, due] : n.shadowTimers)
            if (due <= now_ && n.firedByMe.insert(timer).second)
                submit(n.id, gs::Event{TimerFired{timer}});
    }
}

std::optional<uint64_t> Domain::nextDue() const
{
    const Node *keeper = reference();
    std::optional<uint64_t> due;
    for (const auto &[timer, at] : keeper->shadowTimers)
        if (!due || at < *due)
            due = at;
    return due;
}

} // namespace gs::domain
