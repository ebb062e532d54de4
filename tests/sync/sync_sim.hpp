/* SPDX-License-Identifier: MIT */
/*
 * Several DomainSync instances over a simulated agreed order: one FIFO of
 * multicast messages delivered to every member of the sender's side (a
 * partition has two sides), configuration changes with totem rings and
 * quorum notifications as CPG and libquorum give them. Deterministic.
 *
 * Each node's host (FakeHost) keeps as its replicated state the list of
 * the inputs delivered to it, described as text: equal lists are equal
 * replicas, and the digest is a hash of the list.
 */
#pragma once

#include "gsd/domain_sync.hpp"

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace gs::test {

std::string describeInput(const Input &input);

struct FakeHost final : DomainHost {
    std::vector<std::string> state;   /* the replica: what was delivered, in order */
    std::vector<std::string> history; /* every delivery ever, across resets */
    bool isSynced = false;
    int syncedCalls = 0;
    int restores = 0;
    int timekeeperCalls = 0;
    int deliveriesWhileUnsynced = 0; /* replayed before synced() */
    std::vector<Unsync> unsyncs;
    /* Corrupts the next delivery's record (a replica that diverges). */
    bool corruptNext = false;
    /* restoreState throws this. */
    std::optional<StateRefused::Why> refuseRestore;
    /* replayed throws a Settings refusal (a setting that still differs once
     * the inputs after the cut are replayed); what it saw replayed. */
    bool refuseReplayed = false;
    std::vector<std::string> stateWhenReplayed;
    /* The options that are the domain's, part of the digest (an empty
     * replica of other settings has another digest). */
    std::string settings;

    void delivered(const Input &input);

    std::string snapshotState() const override;
    void restoreState(std::string_view blob) override;
    /* What entered() was told, each call's nodes. */
    std::vector<std::vector<uint32_t>> enteredCalls;
    void entered(const std::vector<uint32_t> &nodes) override { enteredCalls.push_back(nodes); }
    void replayed() override
    {
        stateWhenReplayed = state;
        if (refuseReplayed)
            throw StateRefused(StateRefused::Why::Settings, "cmm node 4: the domain has no such "
                                                            "node");
    }
    StateDigest stateDigest() const override { return digestOf(settings + snapshotState()); }
    void synced() override
    {
        isSynced = true;
        ++syncedCalls;
    }
    void unsynced(Unsync why) override
    {
        isSynced = false;
        state.clear();
        unsyncs.push_back(why);
    }
    void becameTimekeeper() override { ++timekeeperCalls; }
};

struct SimNode {
    SyncMember me;
    FakeHost host;
    std::unique_ptr<DomainSync> sync;
    bool joined = false;
    int side = 0;
    /* Speaks another inter-node format version (messages to and from the
     * others carry another version number). */
    bool foreign = false;
    std::string refused;
};

class Sim {
  public:
    /* `configured` nodes count in the quorum (expected votes). */
    explicit Sim(int configured, uint64_t digestIntervalMs = 0);

    SimNode &node(int id);
    /* Creates the gsd of node `id` (not yet in the group). */
    SimNode &add(int id, uint32_t pid = 0);

    /* These gsds join the group together (one configuration change). */
    void join(const std::vector<int> &ids);
    /* The gsd of `id` leaves: its process died (nodeDown false) or its node
     * went down (true). Its undelivered messages are lost. */
    void leave(int id, bool nodeDown);
    /* The nodes `ids` are cut off from the others (each side sees the
     * other leave with NODEDOWN); heal() joins them again. */
    void partition(const std::vector<int> &ids);
    void heal();

    /* Delivers the next message; false when there is none. */
    bool step();
    /* Delivers until nothing is left (bounded). */
    void run();
    /* Delivers until the next message to deliver is of `kind` (a
     * cluster::Message index); false if the wire empties first. */
    bool runUntilNext(size_t kind);
    size_t pending() const { return wire_.size(); }
    /* Takes the next `n` messages out of the order; releaseFirst() puts
     * them back before everything else: a slow sender's messages arriving
     * later than the others'. */
    void hold(size_t n);
    void releaseFirst();

    void submit(int id, const Input &input);
    void tick(uint64_t nowMs);

    /* Quorum notifications come after the totem change (default) or before
     * the configuration change. */
    bool quorumBeforeChange = false;
    /* The rings of these sides get no quorum notification: Corosync formed
     * the next ring before votequorum told this one's. */
    std::set<int> quorumUntoldSides;
    /* Every side is quorate (a misconfigured quorum): two sides go on. */
    bool everySideQuorate = false;

  private:
    struct Wire {
        int sender;
        int side;
        std::string bytes;
    };
    std::vector<SyncMember> membersOf(int side) const;
    void change(int side, const std::vector<SyncLeft> &left);
    bool quorate(int side) const;

    int configured_;
    uint64_t digestIntervalMs_;
    uint64_t ring_ = 0;
    std::map<int, std::unique_ptr<SimNode>> nodes_;
    std::deque<Wire> wire_;
    std::deque<Wire> held_;
};

} // namespace gs::test
