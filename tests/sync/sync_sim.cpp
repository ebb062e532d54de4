/* SPDX-License-Identifier: MIT */
#include "sync_sim.hpp"

#include "common/overloaded.hpp"

#include <fmt/format.h>

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <stdexcept>

namespace gs::test {

std::string describeInput(const Input &input)
{
    return std::visit(
        Overloaded{
            [](const Event &event) {
                return std::visit(
                    Overloaded{
                        [](const ClientHello &e) { return fmt::format("Hello {}", e.client); },
                        [](const ClientGone &e) { return fmt::format("Gone {}", e.client); },
                        [](const TimerFired &e) { return fmt::format("Timer {}", e.timer); },
                        [](const NodeGone &e) { return fmt::format("NodeGone {}", e.node); },
                        [](const auto &) { return std::string("event"); },
                    },
                    event);
            },
            [](const CmmNodeInput &node) {
                return std::visit(
                    Overloaded{
                        [](const cmm::NodeUp &e) { return fmt::format("NodeUp {}", e.node); },
                        [](const cmm::NodeBack &e) { return fmt::format("NodeBack {}", e.node); },
                        [](const cmm::NodeDown &e) { return fmt::format("NodeDown {}", e.node); },
                        [](const auto &) { return std::string("cmm"); },
                    },
                    node.event);
            },
            [](const CmmRequest &r) { return fmt::format("CmmRequest {}", r.requestId); },
        },
        input);
}

void FakeHost::delivered(const Input &input)
{
    std::string text = describeInput(input);
    if (corruptNext) {
        corruptNext = false;
        text += " (corrupted)";
    }
    if (!isSynced)
        ++deliveriesWhileUnsynced;
    state.push_back(text);
    history.push_back(text);
}

std::string FakeHost::snapshotState() const
{
    std::string blob = "fake-state\n";
    for (const std::string &line : state)
        blob += line + "\n";
    return blob;
}

void FakeHost::restoreState(std::string_view blob)
{
    if (refuseRestore)
        throw StateRefused(*refuseRestore, "the domain's --max-groups-per-client is 8, this "
                                           "gsd's 4096");
    if (blob.substr(0, 11) != "fake-state\n")
        throw StateRefused(StateRefused::Why::Damaged, "not a fake state");
    state.clear();
    size_t at = 11;
    while (at < blob.size()) {
        const size_t end = blob.find('\n', at);
        state.emplace_back(blob.substr(at, end - at));
        at = end + 1;
    }
    ++restores;
}

Sim::Sim(int configured, uint64_t digestIntervalMs)
    : configured_(configured), digestIntervalMs_(digestIntervalMs)
{
    /* The protocol logs every transition; GS_SIM_LOG=1 shows them. */
    static const bool quiet = [] {
        const char *env = std::getenv("GS_SIM_LOG");
        if (env == nullptr || std::string(env) != "1")
            spdlog::set_level(spdlog::level::off);
        return true;
    }();
    (void)quiet;
}

SimNode &Sim::node(int id)
{
    return *nodes_.at(id);
}

SimNode &Sim::add(int id, uint32_t pid)
{
    /* Distinct keys: a second gsd of a node id gets key id + 100 * k. */
    int key = id;
    while (nodes_.count(key))
        key += 100;
    auto owned = std::make_unique<SimNode>();
    SimNode &n = *owned;
    n.me = {static_cast<uint32_t>(id), pid != 0 ? pid : static_cast<uint32_t>(1000 + id)};
    DomainSync::Outputs out;
    out.multicast = [this, &n, key](std::string bytes) {
        if (n.joined)
            wire_.push_back({key, n.side, std::move(bytes)});
    };
    out.deliver = [&n](const Input &input) { n.host.delivered(input); };
    out.refuse = [&n](const std::string &why) { n.refused = why; };
    n.sync = std::make_unique<DomainSync>(n.me, n.host, std::move(out), digestIntervalMs_);
    nodes_[key] = std::move(owned);
    return n;
}

std::vector<SyncMember> Sim::membersOf(int side) const
{
    std::vector<SyncMember> out;
    for (const auto &[key, n] : nodes_)
        if (n->joined && n->side == side)
            out.push_back(n->me);
    return out;
}

bool Sim::quorate(int side) const
{
    return everySideQuorate || 2 * static_cast<int>(membersOf(side).size()) > configured_;
}

void Sim::change(int side, const std::vector<SyncLeft> &left)
{
    ++ring_;
    const std::vector<SyncMember> members = membersOf(side);
    const bool told = !quorumUntoldSides.count(side);
    for (auto &[key, n] : nodes_) {
        if (!n->joined || n->side != side)
            continue;
        if (quorumBeforeChange && told)
            n->sync->onQuorum(ring_, quorate(side));
        n->sync->onConfchg(members, left);
        n->sync->onTotemRing(ring_);
        if (!quorumBeforeChange && told)
            n->sync->onQuorum(ring_, quorate(side));
    }
}

void Sim::join(const std::vector<int> &ids)
{
    for (int id : ids)
        node(id).joined = true;
    change(node(ids.front()).side, {});
}

void Sim::leave(int id, bool nodeDown)
{
    SimNode &n = node(id);
    n.joined = false;
    std::erase_if(wire_, [id](const Wire &w) { return w.sender == id; });
    change(n.side, {SyncLeft{n.me, nodeDown}});
}

void Sim::partition(const std::vector<int> &ids)
{
    std::vector<SyncLeft> leftA, leftB;
    for (auto &[key, n] : nodes_) {
        if (!n->joined)
            continue;
        const bool cut = std::find(ids.begin(), ids.end(), key) != ids.end();
        (cut ? leftA : leftB).push_back(SyncLeft{n->me, true});
        if (cut)
            n->side = 1;
    }
    change(0, leftA);
    change(1, leftB);
}

void Sim::heal()
{
    for (auto &[key, n] : nodes_)
        n->side = 0;
    change(0, {});
}

bool Sim::step()
{
    if (wire_.empty())
        return false;
    Wire w = std::move(wire_.front());
    wire_.pop_front();
    const SimNode &sender = *nodes_.at(w.sender);
    for (auto &[key, n] : nodes_) {
        if (!n->joined || n->side != w.side)
            continue;
        std::string bytes = w.bytes;
        if (n->foreign != sender.foreign)
            bytes[4] = 2; /* the format version's low byte */
        n->sync->onMessage(sender.me, bytes);
    }
    return true;
}

void Sim::run()
{
    for (int i = 0; i < 100000 && step(); ++i) {
    }
    if (!wire_.empty())
        throw std::runtime_error("the simulated order does not settle");
}

bool Sim::runUntilNext(size_t kind)
{
    while (!wire_.empty()) {
        if (cluster::decode(wire_.front().bytes).index() == kind)
            return true;
        step();
    }
    return false;
}

void Sim::hold(size_t n)
{
    for (size_t i = 0; i < n && !wire_.empty(); ++i) {
        held_.push_back(std::move(wire_.front()));
        wire_.pop_front();
    }
}

void Sim::releaseFirst()
{
    wire_.insert(wire_.begin(), std::make_move_iterator(held_.begin()),
                 std::make_move_iterator(held_.end()));
    held_.clear();
}

void Sim::submit(int id, const Input &input)
{
    node(id).sync->submit(input);
    node(id).sync->flush();
}

void Sim::tick(uint64_t nowMs)
{
    for (auto &[key, n] : nodes_)
        if (n->joined)
            n->sync->tick(nowMs);
}

} // namespace gs::test
