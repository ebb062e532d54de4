/* SPDX-License-Identifier: MIT */
/* The broker's side of the order (gsd/order.hpp): inputs submitted, and on
 * delivery the engines run and their actions carried out for the clients
 * of this node. */
#include "gsd/broker_impl.hpp"

#include "ha_gs.h"

#include <fmt/format.h>

namespace gs {

using broker::Clock;
using broker::Session;

void Broker::Impl::submit(Input input)
{
    /* A node that does not hold the domain's state has nothing to say to
     * the domain: its GSAPI clients are gone (unsynced) or not admitted,
     * its CMM changes are answered locally, and what its clients' deaths
     * would tell the others they learn from its departure (NodeGone). */
    if (!domainSynced)
        return;
    order->submit(std::move(input));
    if (!delivering && !holdOutput)
        flushOutboxes();
}

void Broker::Impl::onDelivered(const Input &input)
{
    delivering = true;
    const struct Done {
        bool &flag;
        ~Done() { flag = false; }
    } done{delivering};
    if (const auto *event = std::get_if<Event>(&input)) {
        if (const auto *hello = std::get_if<ClientHello>(event))
            noteClientSerial(hello->client);
        if (const auto *gone = std::get_if<NodeGone>(event))
            observeNode(gone->node, false);
        actions.clear();
        observations.clear();
        engine.process(*event, actions, observations);
        /* The operators' side first (log, counters, events): once the
         * clients are answered, gsd has nothing left of this input to do. */
        if (const auto *request = std::get_if<ClientRequest>(event))
            noteLocalName(*request);
        else if (const auto *gone = std::get_if<ClientGone>(event))
            observeClientGone(gone->client);
        for (const Observation &observation : observations)
            observe(observation);
        carryOut(*event);
    } else if (const auto *request = std::get_if<CmmRequest>(&input)) {
        if (isLocal(request->client))
            cmmPending.erase({request->client, request->requestId});
        /* Checked at delivery: the cluster may have changed since the
         * request was submitted. */
        const auto caller = static_cast<cmm_nodeid_t>(clientNode(request->client));
        carryOut(*request, cmmEngine.configured(caller) ? cmmEngine.process(request->change)
                                                        : cmm::Outcome{CMM_ENOCLUSTER, {}});
    } else if (const auto *own = std::get_if<CmmNodeInput>(&input)) {
        /* A node up is the GSAPI engine's too (HostMembership: its gsd is in
         * the domain, even while CMM keeps it out), at this
         * same point of every replica's order; its departure reaches it as
         * the NodeGone delivered just before the CMM NodeDown. A joiner
         * gets the nodes up to the cut in the donor's snapshot, taken
         * after the cut's NodeUp (domain_sync.cpp). */
        const auto *up = std::get_if<cmm::NodeUp>(&own->event);
        const auto *back = std::get_if<cmm::NodeBack>(&own->event);
        if (up || back) {
            actions.clear();
            observations.clear();
            const auto node = static_cast<int16_t>(up ? up->node : back->node);
            const Event joined{NodeJoined{node}};
            engine.process(joined, actions, observations);
            observeNode(node, true);
            carryOut(joined);
        }
        carryOut(*own, cmmEngine.process(own->event));
    }
}

void Broker::Impl::carryOut(const Event &event)
{
    for (const Action &action : actions)
        std::visit([&](const auto &a) { execute(a); }, action);
    if (const auto *fired = std::get_if<TimerFired>(&event))
        /* Decided: this node's shadow of the timer has nothing left to do. */
        execute(CancelTimer{fired->timer});
    else if (const auto *hello = std::get_if<ClientHello>(&event); hello && isLocal(hello->client))
        deliver(hello->client, {wire::encode(wire::ServerMessage{wire::Welcome{
                                   HA_GS_OK, config.nodeNumber, config.domain, hello->client}})});
}

void Broker::Impl::execute(const Reply &reply)
{
    observeReply(reply);
    /* Every replica computes the reply; the client's node sends it. */
    if (!isLocal(reply.client))
        return;
    wire::encode(wire::ServerMessage{wire::ReplyMsg{reply.requestId, reply.rc, reply.token}},
                 scratch);
    Session *session = sessions.find(reply.client);
    if (session && session->batches)
        enqueue(*session, scratch);
    else
        deliver(reply.client, {scratch});
}

void Broker::Impl::execute(const Notify &notify)
{
    if (!notify.body)
        return;
    const std::string body = wire::encodeNoteBody(*notify.body);
    /* One copy of the body for every recipient that takes it as a frame of
     * its own: ZeroMQ shares the buffer of a copied message (reference
     * counted) instead of copying it. */
    std::optional<zmq::message_t> shared;
    for (const Recipient &recipient : notify.recipients) {
        /* The recipients of other nodes are their nodes' to serve. */
        if (!isLocal(recipient.client))
            continue;
        Session *session = sessions.find(recipient.client);
        if (!session)
            continue;
        wire::encode(wire::ServerMessage{wire::NoteHeader{recipient.token, recipient.final}},
                     scratch);
        if (!session->batches) {
            deliver(recipient.client, {scratch, body});
            continue;
        }
        enqueue(*session, scratch);
        enqueueBody(*session, body, shared);
    }
}

void Broker::Impl::execute(const StartTimer &start)
{
    if (const auto old = engineTimers.find(start.timer); old != engineTimers.end())
        timers.cancel(old->second.handle);
    overdueTimers.erase(start.timer);
    const auto due = Clock::now() + std::chrono::seconds(std::max(start.seconds, 0));
    engineTimers[start.timer] =
        ShadowTimer{timers.start(due, broker::EngineTimerDue{start.timer}), due};
}

void Broker::Impl::execute(const CancelTimer &cancel)
{
    overdueTimers.erase(cancel.timer);
    if (const auto it = engineTimers.find(cancel.timer); it != engineTimers.end()) {
        timers.cancel(it->second.handle);
        engineTimers.erase(it);
    }
}

void Broker::Impl::onTimer(const broker::EngineTimerDue &due)
{
    engineTimers.erase(due.timer);
    /* Every node mirrors the engine's timers; one clock decides, the
     * others' expiry is the keeper's TimerFired delivered to them. A
     * shadow that expires elsewhere is kept: if the keeper goes before its
     * TimerFired is delivered, this node may be the next keeper, and then
     * fires it (becameTimekeeper). */
    if (order->keepsTime())
        submit(Event{TimerFired{due.timer}});
    else
        overdueTimers.insert(due.timer);
}

void Broker::Impl::onWithdrawn(const Input &input)
{
    const auto note = [&](ClientId client, const char *what) {
        const Session *session = sessions.find(client);
        refuse(broker::Refusal::Withdrawn, spdlog::level::warn,
               fmt::format("{} of {} could not be ordered within {} ms (the domain is "
                           "re-forming?): answered at once",
                           what, session ? peerName(*session) : fmt::format("client {}", client),
                           config.orderWait.count()));
    };
    if (const auto *change = std::get_if<CmmRequest>(&input)) {
        /* Not if answered already (this node left the domain meanwhile). */
        if (cmmPending.erase({change->client, change->requestId}) == 0)
            return;
        note(change->client, "a CMM change");
        /* Sun's answer while there is no master (a failover window). */
        deliver(change->client, {wire::encode(wire::ServerMessage{
                                    wire::CmmReply{change->requestId, CMM_ENOCLUSTER, 0, 0, {}}})});
    } else if (const auto *event = std::get_if<Event>(&input)) {
        if (const auto *hello = std::get_if<ClientHello>(event)) {
            if (!sessions.find(hello->client))
                return;
            note(hello->client, "the hello");
            /* As a hello refused at admission: its Welcome says so, and the
             * session the engines never learnt of ends. */
            deliver(hello->client,
                    {wire::encode(wire::ServerMessage{wire::Welcome{
                        HA_GS_CONNECT_FAILED, config.nodeNumber, config.domain, 0}})});
            endSession(hello->client, "session ended: its hello could not be ordered in time",
                       false, false);
        } else if (const auto *request = std::get_if<ClientRequest>(event)) {
            if (!sessions.find(request->client))
                return;
            note(request->client,
                 std::holds_alternative<VoteRequest>(request->request) ? "a vote" : "a request");
            /* "Retry later", as for a request over the rate limit. A vote
             * may be cast again while its phase runs. */
            execute(Reply{request->client, request->requestId, HA_GS_NO_MEMORY, 0});
        } else {
            /* What this node found out (a client gone or unresponsive, a
             * timer, a script's end) must reach the domain: it waits again.
             * (Not while unsynced: the domain has this node's departure.) */
            submit(Input{*event});
        }
    } else {
        /* A node's CMM input (a reload): likewise. */
        submit(Input{input});
    }
    if (!delivering && !holdOutput)
        flushOutboxes();
}

} // namespace gs
