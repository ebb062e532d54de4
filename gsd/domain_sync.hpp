/* SPDX-License-Identifier: MIT */
/*
 * The sync protocol of a domain over an agreed order, as pure logic: no
 * I/O, no clock. The adapter (gsd/cpg_order.cpp) feeds it what Corosync
 * delivers, in delivery order (configuration changes, totem rings,
 * messages) and what it learns outside the order (quorum notifications,
 * the time); it answers with messages to multicast, inputs delivered to
 * the broker, and the host's transitions (synced, unsynced, timekeeper).
 * Tests drive several instances over a simulated order
 * (tests/sync/test_domain_sync.cpp).
 *
 * The protocol (docs/architecture.md, "The domain's order"):
 *  - On every configuration change, and whenever it becomes quorate while
 *    unsynced, a node multicasts STATE (synced or not, quorate or not).
 *  - Decision: at the first delivery after which every member has a STATE
 *    since the latest change, all saying quorate. None synced: every member
 *    becomes synced there with an empty state, and NodeUp is delivered for
 *    each in ascending node order (cold start). Only members with the same
 *    empty replica (the same domain settings, as their STATEs say) start
 *    together: those of the largest such set; the others join them by a
 *    transfer, which checks the settings.
 *    Else the lowest synced node is the donor for the unsynced members,
 *    the joiners.
 *  - The donor multicasts SNAP_BEGIN; its delivery is the cut: synced
 *    replicas deliver NodeUp for each joiner, the donor snapshots and
 *    multicasts SNAP_CHUNKs and SNAP_END. A joiner buffers the inputs
 *    delivered after the cut, restores the snapshot at SNAP_END, replays
 *    the buffer and is synced; every node marks the joiners synced there.
 *    Synced nodes never wait. A configuration change voids a plan; the
 *    messages of a voided plan (another tag) are ignored.
 *  - A member that leaves while synced, or says in a STATE that it is no
 *    longer synced, becomes NodeGone then CMM NodeDown at that point of
 *    every synced node's stream.
 *  - Quorum gate: a change where a member left because its node went down
 *    holds the stream until the quorum of the new ring is known; a
 *    minority unsyncs (QuorumLost) without applying anything of it.
 *  - The gate judges a change by what votequorum said of its own ring. A
 *    side that sees members leave with their node and come back (same
 *    pids) before a ring without them was installed cannot know it was the
 *    quorate side: it does not apply the change. If every one of them came
 *    back and nothing else changed, the ring is set aside (with what only
 *    this side saw in it) and the node is uncertain until the STATEs of
 *    the change where they are back: an uncertain side gives way to a
 *    certain one whose view differs, and is right if there is none. Else it
 *    unsyncs (QuorumLost).
 *  - Two synced sides meeting (each went on without the other, which the
 *    gate prevents under a sound quorum setup; `two_node` without a quorum
 *    device allows it): every synced member's STATE carries a digest of
 *    its view of the synced members; where synced members disagree, the
 *    side with more of them goes on, ties to the side with the lowest node
 *    id (dlm_controld's rule), and the other side unsyncs (Merged) and
 *    re-syncs from it as joiners.
 *  - Divergence: the timekeeper (lowest synced node) multicasts
 *    DIGEST_PROBE every interval; each synced node reports its digest at
 *    the probe's point; once all reports are in, a node whose digest
 *    differs from the one most nodes have (a tie: the timekeeper's)
 *    unsyncs (Diverged) and re-syncs as a joiner.
 */
#pragma once

#include "gsd/cluster_message.hpp"
#include "gsd/domain_host.hpp"
#include "gsd/order.hpp"

#include <compare>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace gs {

/* A gsd process of the CPG group. */
struct SyncMember {
    uint32_t node = 0;
    uint32_t pid = 0;
    auto operator<=>(const SyncMember &) const = default;
};

/* A member that left, and why (cpg_reason_t). */
struct SyncLeft {
    SyncMember member;
    bool nodeDown = false; /* CPG_REASON_NODEDOWN: the totem ring changed */
};

class DomainSync {
  public:
    struct Outputs {
        /* Multicast these bytes (an encoded cluster::Message) in agreed
         * order, after everything multicast before. */
        std::function<void(std::string bytes)> multicast;
        /* Deliver an input to the broker's replicas. */
        std::function<void(const Input &input)> deliver;
        /* This gsd cannot be part of the domain (another format version,
         * settings that differ, its node id taken): gsd must exit non-zero
         * with this message. */
        std::function<void(const std::string &why)> refuse;
    };

    DomainSync(SyncMember self, DomainHost &host, Outputs outputs, uint64_t digestIntervalMs);

    /* ---- Local ---- */

    /* An input produced on this node: batched for multicast when synced,
     * dropped otherwise (an unsynced node admits no GSAPI client, and
     * answers CMM changes itself). */
    void submit(const Input &input);
    /* Multicasts the batch built since the last flush. */
    void flush();
    /* The time, in milliseconds of a monotonic clock: the timekeeper's
     * divergence probes. */
    void tick(uint64_t nowMs);
    /* Milliseconds from nowMs until tick wants calling; -1: never. */
    int timeoutMs(uint64_t nowMs) const;
    /* The connection to Corosync is gone: unsynced(CorosyncLost), and
     * everything known of the group is forgotten; the adapter reconnects
     * and the next configuration change starts over. */
    void corosyncLost();

    bool synced() const { return synced_; }
    /* The membership as this node last processed it (gsctl nodes). */
    MembershipView membership() const;
    bool keepsTime() const;

    /* ---- In the order's sequence ---- */

    void onConfchg(std::vector<SyncMember> members, std::vector<SyncLeft> left);
    void onTotemRing(uint64_t ringSeq);
    void onMessage(SyncMember sender, std::string_view bytes);

    /* ---- Outside the order ---- */

    void onQuorum(uint64_t ringSeq, bool quorate);

  private:
    struct Confchg {
        std::vector<SyncMember> members;
        std::vector<SyncLeft> left;
    };
    struct Totem {
        uint64_t ringSeq = 0;
    };
    struct Delivered {
        SyncMember sender;
        std::string bytes;
    };
    using StreamEvent = std::variant<Confchg, Totem, Delivered>;

    /* A state transfer decided at one point of the stream. */
    struct Plan {
        uint64_t tag = 0;
        SyncMember donor;
        std::vector<SyncMember> joiners; /* ascending */
        bool begun = false;              /* SNAP_BEGIN delivered: the cut passed */
        /* On a joiner: what arrived since the cut. */
        std::vector<std::string> chunks;
        std::vector<Input> buffered;
    };

    void drain();
    /* false: the event must wait (the quorum gate). */
    bool process(StreamEvent &event);
    void processConfchg(const Confchg &change);
    /* The members that left with their node came back before Corosync
     * installed a ring without them (up to the totem change of decidingRing). */
    static std::set<SyncMember> goneWithNode(const Confchg &change);
    bool cameBack(const Confchg &change, uint64_t decidingRing) const;
    bool setAside(const Confchg &change, uint64_t decidingRing);
    void processMessage(const SyncMember &sender, const cluster::Message &message);
    void onState(const SyncMember &sender, const cluster::State &state);
    void onInputs(const SyncMember &sender, const cluster::Inputs &inputs);
    void onSnapBegin(const SyncMember &sender, const cluster::SnapBegin &begin);
    void onSnapChunk(const SyncMember &sender, const cluster::SnapChunk &chunk);
    void onSnapEnd(const SyncMember &sender, const cluster::SnapEnd &end);
    void onDigestProbe(const SyncMember &sender, const cluster::DigestProbe &probe);
    void onDigestReport(const SyncMember &sender, const cluster::DigestReport &report);
    /* Once every awaited report is in: a node whose digest is not the
     * domain's (most reports') re-syncs. */
    void judgeProbe();
    void onForeignFormat(const SyncMember &sender, uint16_t version);

    void maybeDecide();
    /* Of the members that may start a domain cold (one per node id), those
     * that start it: every member computes the same. */
    std::vector<SyncMember> coldStarters(const std::vector<SyncMember> &candidates) const;
    /* Where synced members disagree on who is synced: one side goes on. */
    void resolveSides();
    uint64_t syncedView() const;
    void voidPlan(const char *why);
    void memberGone(const SyncMember &member);
    void deliverToHost(const Input &input);
    void becomeSynced();
    void unsync(Unsync why);
    void sendState();
    void checkTimekeeper();
    bool isMember(const SyncMember &member) const;
    /* Whether the joiner is a gsd that synced before (cmm::NodeBack) rather
     * than a new one (cmm::NodeUp). */
    bool comesBack(const SyncMember &joiner) const;
    bool isJoiner(const SyncMember &member) const;
    std::optional<SyncMember> lowestSynced() const;
    void refuse(const std::string &why);

    SyncMember self_;
    DomainHost &host_;
    Outputs out_;
    uint64_t digestIntervalMs_;

    bool synced_ = false;
    bool wasTimekeeper_ = false;
    bool refused_ = false;
    /* A ring was set aside (setAside) and the STATEs of the change after
     * it have not decided yet whether another side went on. */
    bool uncertain_ = false;
    uint64_t stateSeq_ = 0;
    /* How many times this node became synced or was sent a state. */
    uint32_t syncs_ = 0;
    /* States from donors this gsd could not load, in a row; at
     * kMostDamagedLoads it gives up (refuse). */
    static constexpr int kMostDamagedLoads = 3;
    int damagedLoads_ = 0;

    /* The quorum as libquorum last said. */
    bool quorate_ = false;
    uint64_t quorumRing_ = 0;
    bool quorumKnown_ = false;
    std::map<uint64_t, bool> quorumOf_; /* ring -> quorate, the latest 64 rings */

    /* The stream, held while the quorum gate is closed. */
    std::deque<StreamEvent> stream_;

    /* What the stream says, the same on every node that saw it. */
    std::vector<SyncMember> members_;             /* ascending */
    std::map<SyncMember, cluster::State> states_; /* since the latest change */
    std::set<SyncMember> syncedSet_;
    /* Members the domain counts as up (NodeUp delivered): the synced ones
     * and the joiners of a cut whose plan was then voided. A member that
     * leaves from here gets NodeGone and NodeDown. */
    std::set<SyncMember> upSet_;
    /* Each synced member's count of syncs, as the stream made it: its
     * "not synced" of an older count is stale (sent before it synced). */
    std::map<SyncMember, uint32_t> knownSyncs_;
    std::optional<Plan> plan_;
    struct Probe {
        SyncMember prober;
        uint64_t seq = 0;
        std::optional<StateDigest> mine;
        std::set<SyncMember> awaited; /* synced members yet to report */
        std::map<SyncMember, StateDigest> reports;
    };
    std::optional<Probe> probe_;

    /* Local inputs waiting for flush(): encoded, counted. */
    std::string batch_;
    uint32_t batchCount_ = 0;

    /* The timekeeper's probes. */
    uint64_t nextProbeMs_ = 0;
    bool probeClockStarted_ = false;
    uint64_t probeSeq_ = 0;
};

} // namespace gs
