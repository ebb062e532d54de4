/* SPDX-License-Identifier: MIT */
/*
 * The ordering seam: every engine input gsd produces locally is submitted
 * to an Order, and the broker runs the engines on what the order delivers,
 * in the order's sequence. A domain of one node (LocalOrder) delivers what
 * is submitted, in submission order; a domain of several nodes delivers
 * every node's inputs to every node in one agreed sequence, so that every
 * replica of the engines computes the same actions. See
 * docs/architecture.md, "The ordering seam".
 */
#pragma once

#include "engine/cmm_engine.hpp"
#include "engine/engine.hpp"
#include "gsd/domain_host.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <variant>
#include <vector>

namespace gs {

/* A CMM request of a client that changes the cluster (cmm.h: remove,
 * release, setqualif, seizequalif, eligible/ineligible, config reload).
 * Every replica applies `change`; the client's node answers it. */
struct CmmRequest {
    ClientId client = 0;
    RequestId requestId = 0;
    cmm::Event change;
};
/* A CMM input of gsd itself, not of a client: a node up or down, or a
 * reload of the node table (SIGHUP) carrying the table its node read, so
 * that every replica applies the same table. */
struct CmmNodeInput {
    cmm::Event event;
};

/* An engine input: the GSAPI engine's events (hello, request or vote,
 * client gone or unresponsive, timer fired, deactivate finished, node
 * gone) and the CMM engine's (client requests that change the cluster;
 * nodes up and down, table reloads). */
using Input = std::variant<Event, CmmRequest, CmmNodeInput>;

/* What an order spanning several nodes knows of the domain's membership,
 * for operators (gsctl nodes). */
struct MembershipView {
    bool quorate = false;          /* votequorum's word on this node's membership */
    std::vector<uint32_t> members; /* nodes whose gsd is in the domain's CPG group */
    std::vector<uint32_t> synced;  /* those that hold the domain's state */
};

class Order {
  public:
    using Delivery = std::function<void(const Input &)>;

    virtual ~Order() = default;

    /* Set once by the broker before the first submit: called for each
     * delivered input, on the broker's thread. A delivery may submit more
     * inputs; they are delivered after it returns. */
    void onDelivery(Delivery delivery) { delivery_ = std::move(delivery); }

    /* Hands an input produced on this node to the order. */
    virtual void submit(Input input) = 0;

    /* Whether this node's clock decides time limits: when one of its
     * (shadow) timers expires it submits TimerFired. In a domain exactly
     * one node keeps time; the others' timers only mirror it. */
    virtual bool keepsTime() const = 0;

    /* Called once by the broker before its first submit, with the broker
     * as the holder of the replicas. The order tells it when this node
     * holds the domain's state and when it stops holding it; until
     * host.synced() the broker admits no GSAPI client. */
    virtual void attach(DomainHost &host) = 0;

    /* A descriptor the broker polls, readable when inputs from elsewhere
     * wait to be delivered (then the broker calls deliverArrived); -1 for
     * an order that delivers only during submit. */
    virtual int fd() const { return -1; }
    /* Delivers what arrived; also called when timeoutMs() has passed
     * without the descriptor becoming readable. */
    virtual void deliverArrived() {}
    /* Milliseconds until the order wants deliverArrived() called even if
     * nothing arrives (a retry, a periodic check); -1: never. */
    virtual int timeoutMs() const { return -1; }
    /* Sends what was submitted since the last flush, together (the broker
     * calls it after each batch of client messages, after timers and after
     * deliverArrived). An order that delivers from submit has nothing to
     * send. */
    virtual void flush() {}
    /* The domain's membership; nullopt for a domain of one node. */
    virtual std::optional<MembershipView> membership() const { return std::nullopt; }
    /* Inputs submitted at least `waitedAtLeast` ago that the order could
     * not hand on to the other nodes (and, an order may add, those queued
     * when its link went away): removed and returned in submission order.
     * No node will ever apply them; the broker answers their clients
     * itself (GSAPI HA_GS_NO_MEMORY, a hello HA_GS_CONNECT_FAILED, CMM
     * CMM_ENOCLUSTER) and submits again what is no client's request (a
     * death, a timer, a script's end). An order that never keeps anything
     * waiting returns nothing. */
    virtual std::vector<Input> withdrawUnsent(std::chrono::milliseconds waitedAtLeast)
    {
        (void)waitedAtLeast;
        return {};
    }

  protected:
    void deliver(const Input &input) { delivery_(input); }

  private:
    Delivery delivery_;
};

/* The order of a domain of one node: a FIFO, delivered in submission order
 * from within submit. An input submitted during a delivery waits until the
 * delivery in progress has returned. */
class LocalOrder final : public Order {
  public:
    /* A domain of one node holds its state from the start. */
    void attach(DomainHost &host) override { host.synced(); }
    void submit(Input input) override;
    bool keepsTime() const override { return true; }

  private:
    std::deque<Input> queue_;
    bool delivering_ = false;
};

} // namespace gs
