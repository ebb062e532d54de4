/* SPDX-License-Identifier: MIT */
/*
 * What an order that spans several nodes (gsd/cpg_order.hpp) needs from the
 * gsd that holds a replica of the domain's state: the replicated state as
 * one blob to send to a joiner or to compare, and the two transitions of a
 * node, "holds the domain's state" and "no longer holds it", which open and
 * close the GSAPI clients' door (contract.md §6.4, §6.6).
 *
 * The broker implements it (gsd/broker_domain.cpp). A domain of one node
 * (LocalOrder) is synced from the start and never loses it.
 */
#pragma once

#include "common/state_digest.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gs {

/* Why a node stopped holding the domain's state. */
enum class Unsync {
    QuorumLost,   /* its membership is not quorate (votequorum) */
    CorosyncLost, /* the local Corosync went away */
    Diverged,     /* its digest differed from the domain's: it re-syncs */
    Merged,       /* two synced sides met and its side gave way: it re-syncs */
};

/* The state a donor sends cannot be taken: damaged, of a format version
 * this gsd cannot read, or with domain settings (contract.md §6.9) that
 * differ from this gsd's. what() names the difference. */
struct StateRefused : std::runtime_error {
    enum class Why { Damaged, Version, Settings };
    StateRefused(Why kind, const std::string &what) : std::runtime_error(what), why(kind) {}
    Why why;
};

class DomainHost {
  public:
    virtual ~DomainHost() = default;

    /* The replicated state at this point of the delivered stream: both
     * engines and the domain's own counters (e.g. the next client serial of
     * every node), one versioned, checksummed blob. */
    virtual std::string snapshotState() const = 0;
    /* Replaces the replicated state with a donor's. Throws StateRefused and
     * changes nothing when the blob cannot be taken. */
    virtual void restoreState(std::string_view blob) = 0;
    /* After restoreState, before the replay: `nodes` (ascending) are the
     * joiners whose NodeUp the cut delivered at the synced nodes, in the
     * state already; the host tells its local clients what the others'
     * were told of them. */
    virtual void entered(const std::vector<uint32_t> &nodes) { (void)nodes; }
    /* The inputs that followed the cut have been replayed after
     * restoreState (synced() comes next). Throws StateRefused (Settings)
     * when this gsd's settings differ from the domain's as they now are:
     * a setting the replay changed (cmm_config_reload) is checked here. */
    virtual void replayed() {}
    /* A digest of the replicated state: equal on replicas in equal states
     * at the same point of the stream (divergence checks). */
    virtual StateDigest stateDigest() const = 0;

    /* This node holds the domain's state (it loaded a snapshot and replayed
     * what followed the cut, or it is one of the nodes that started the
     * domain with an empty state): GSAPI clients may be admitted. */
    virtual void synced() = 0;
    /* This node no longer holds the domain's state: its GSAPI sessions end
     * (calls fail, subscribers are told gsd died) and new ones are refused
     * until synced() again; CMM clients stay and are told. The replicas
     * are reset to an empty state; the other nodes have or will have
     * processed this node's departure (NodeGone) at a point of their
     * stream. */
    virtual void unsynced(Unsync why) = 0;
    /* This node became the domain's timekeeper (keepsTime() turned true):
     * the engine timers whose shadows expired while another node kept time
     * fire now. */
    virtual void becameTimekeeper() = 0;
};

} // namespace gs
