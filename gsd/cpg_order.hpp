/* SPDX-License-Identifier: MIT */
/*
 * The order of a domain of several nodes (contract.md §6): every input a
 * node submits is multicast in Corosync CPG's agreed order to the process
 * group `ha_gs.<domain>`, and every gsd of the group applies the delivered
 * stream, its own inputs included, in that one order. See docs/cluster.md
 * and docs/architecture.md, "The domain".
 *
 * It also runs the domain's membership: node departures become NodeGone
 * (and CMM NodeDown) at the same point of every node's stream; a gsd that
 * joins gets the state at a cut from a donor and replays what followed;
 * only a quorate membership (votequorum) goes on; replicas are compared by
 * digest. The sync logic is gsd/domain_sync.hpp (no I/O); this class is
 * its adapter to libcpg, libvotequorum and libcmap.
 */
#pragma once

#include "gsd/order.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gs {

struct CpgOrderConfig {
    /* The CPG group is "ha_gs." + domain. */
    std::string domain = "local";
    /* How often the timekeeper asks every synced node for its digest
     * (divergence check); zero: never. */
    std::chrono::milliseconds digestInterval{60000};
};

class CpgOrder final : public Order {
  public:
    /* Connects to the local Corosync (CPG, votequorum) and learns this
     * node's id; joins the group at attach(). Throws BrokerError with a
     * message saying what is missing when Corosync cannot be reached or
     * the node id does not fit gs_node_number (1..32767). */
    explicit CpgOrder(CpgOrderConfig config);
    ~CpgOrder() override;

    /* Corosync's node id of this node: the gsd's node number. */
    int16_t nodeId() const;

    void attach(DomainHost &host) override;
    void submit(Input input) override;
    /* This node is synced and the lowest synced node of the membership. */
    bool keepsTime() const override;
    std::optional<MembershipView> membership() const override;
    int fd() const override;
    void deliverArrived() override;
    int timeoutMs() const override;
    void flush() override;

    /* Inputs submitted at least `waitedAtLeast` ago that Corosync has not
     * taken yet (it kept saying CS_ERR_TRY_AGAIN), and whatever was queued
     * when the connection to Corosync was lost, whatever its age: removed
     * from the queue and returned in submission order. No node applies
     * them, ever; the broker answers their clients itself. Inputs already
     * handed to Corosync are never withdrawn. */
    std::vector<Input> withdrawUnsent(std::chrono::milliseconds waitedAtLeast) override;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace gs
