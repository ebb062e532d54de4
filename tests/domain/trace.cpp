/* SPDX-License-Identifier: MIT */
#include "trace.hpp"

#include "common/overloaded.hpp"
#include "common/wire.hpp"

#include <sstream>

namespace gs::domain {

namespace {

constexpr const char *kRequestNames[] = {"join",      "leave",      "goodbye",   "expel",
                                         "state",     "message",    "attribute", "vote",
                                         "subscribe", "unsubscribe"};
constexpr const char *kCmmEventNames[] = {
    "NodeUp",         "NodeDown",     "RemoveSelf",     "MastershipRelease",
    "SetQualif",      "SeizeQualif",  "ConfigReload",   "ClusterStale",
    "ClusterInvalid", "ClusterValid", "NodeEligibility"};

void hashAction(Hasher &h, const Action &action)
{
    h.add(static_cast<uint64_t>(action.index()));
    std::visit(Overloaded{
                   [&](const Reply &r) {
                       h.add(r.client);
                       h.add(r.requestId);
                       h.add(static_cast<uint64_t>(r.rc));
                       h.add(static_cast<uint64_t>(r.token));
                   },
                   [&](const Notify &n) {
                       for (const auto &to : n.recipients)
                           h.add(hashNote(to, *n.body));
                   },
                   [&](const StartTimer &t) {
                       h.add(t.timer);
                       h.add(static_cast<uint64_t>(t.seconds));
                   },
                   [&](const CancelTimer &t) { h.add(t.timer); },
                   [&](const RunDeactivate &r) {
                       h.add(r.run);
                       h.add(r.client);
                       h.add(r.group);
                       h.add(static_cast<uint64_t>(r.provider.instance));
                       h.add(static_cast<uint64_t>(r.provider.node));
                       h.add(r.flag);
                       h.add(static_cast<uint64_t>(r.seconds));
                   },
                   [&](const StopDeactivate &s) { h.add(s.run); },
               },
               action);
}

void describeIds(std::ostream &s, const std::vector<ProviderId> &ids)
{
    s << "[";
    for (const auto &id : ids)
        s << " (" << id.instance << "," << id.node << ")";
    s << " ]";
}

void describeNote(std::ostream &s, const NoteBody &body)
{
    constexpr const char *kinds[] = {"n-phase",      "approved",     "rejected",
                                     "announcement", "subscription", "delayed error"};
    s << kinds[body.index()];
    const Proposal *p = nullptr;
    int protocol = 0;
    if (const auto *n = std::get_if<NPhaseNote>(&body))
        p = &n->proposal, protocol = n->protocol;
    if (const auto *a = std::get_if<ApprovedNote>(&body))
        p = &a->proposal, protocol = a->protocol;
    if (const auto *r = std::get_if<RejectedNote>(&body))
        p = &r->proposal, protocol = r->protocol;
    if (p) {
        s << " protocol " << protocol << " phase " << p->phaseNumber << " changing ";
        describeIds(s, p->changingProviders);
    }
}

} // namespace

std::string clientName(ClientId client)
{
    return "n" + std::to_string(clientNode(client)) + ".c" + std::to_string(clientSerial(client));
}

uint64_t hashNote(const Recipient &to, const NoteBody &body)
{
    Hasher h;
    h.add(to.client);
    h.add(static_cast<uint64_t>(to.token));
    h.add(static_cast<uint64_t>(to.final));
    h.add(wire::encodeNoteBody(body));
    return h.value();
}

uint64_t hashActions(const std::vector<Action> &actions)
{
    Hasher h;
    h.add(static_cast<uint64_t>(actions.size()));
    for (const auto &action : actions)
        hashAction(h, action);
    return h.value();
}

uint64_t hashOutcome(const cmm::Outcome &outcome)
{
    Hasher h;
    h.add(static_cast<uint64_t>(outcome.rc));
    for (const auto &n : outcome.notifications) {
        h.add(static_cast<uint64_t>(n.change));
        h.add(static_cast<uint64_t>(n.node));
    }
    return h.value();
}

bool sameActions(const std::vector<Action> &a, const std::vector<Action> &b)
{
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].index() != b[i].index())
            return false;
        if (const auto *na = std::get_if<Notify>(&a[i])) {
            const auto &nb = std::get<Notify>(b[i]);
            if (na->recipients != nb.recipients || !(*na->body == *nb.body))
                return false;
            continue;
        }
        Hasher ha, hb;
        hashAction(ha, a[i]);
        hashAction(hb, b[i]);
        if (ha.value() != hb.value())
            return false;
    }
    return true;
}

std::string describe(const EngineEvent &event)
{
    std::ostringstream s;
    std::visit(Overloaded{
                   [&](const gs::Event &e) {
                       std::visit(
                           Overloaded{
                               [&](const ClientHello &x) { s << "hello " << clientName(x.client); },
                               [&](const ClientRequest &x) {
                                   s << kRequestNames[x.request.index()] << " request "
                                     << x.requestId << " of " << clientName(x.client);
                               },
                               [&](const ClientGone &x) { s << "gone " << clientName(x.client); },
                               [&](const ClientUnresponsive &x) {
                                   s << "unresponsive " << clientName(x.client);
                               },
                               [&](const TimerFired &x) { s << "timer " << x.timer << " fired"; },
                               [&](const DeactivateFinished &x) {
                                   s << "deactivate run " << x.run << " finished";
                               },
                               [&](const NodeGone &x) { s << "node " << x.node << " gone"; },
                               [&](const NodeJoined &x) { s << "node " << x.node << " joined"; },
                           },
                           e);
                   },
                   [&](const cmm::Event &e) {
                       s << "CMM " << kCmmEventNames[e.index()];
                       if (const auto *up = std::get_if<cmm::NodeUp>(&e))
                           s << " " << up->node;
                       if (const auto *down = std::get_if<cmm::NodeDown>(&e))
                           s << " " << down->node;
                   },
               },
               event);
    return s.str();
}

std::string describe(const std::vector<Action> &actions)
{
    std::ostringstream s;
    s << actions.size() << " actions";
    for (const auto &action : actions) {
        s << "; ";
        std::visit(Overloaded{
                       [&](const Reply &r) {
                           s << "reply " << clientName(r.client) << " rc " << r.rc << " token "
                             << r.token;
                       },
                       [&](const Notify &n) {
                           describeNote(s, *n.body);
                           s << " to";
                           for (const auto &to : n.recipients)
                               s << " " << clientName(to.client) << "/t" << to.token
                                 << (to.final ? "(final)" : "");
                       },
                       [&](const StartTimer &t) { s << "start timer " << t.timer; },
                       [&](const CancelTimer &t) { s << "cancel timer " << t.timer; },
                       [&](const RunDeactivate &r) { s << "run deactivate " << r.run; },
                       [&](const StopDeactivate &r) { s << "stop deactivate " << r.run; },
                   },
                   action);
    }
    return s.str();
}

} // namespace gs::domain
