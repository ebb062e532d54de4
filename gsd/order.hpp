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

class Order {
  public:
    using Delivery = std::function<void(const Input &)>;

    virtual ~Order() = default;

    /* Set once by the broker before the first submit: called for each
     * delivered input, on the broker's thread. A delivery may submit more
     * inputs; they are delivered after it returns. */
    void onDelivery(Delivery delivery) { delivery_ = std::move(delivery); }

    /* ---- Inputs that cannot be ordered in time ---- */
    /* How long a client's input may wait in this node's queue, never
     * handed on to the other nodes, before the order gives it back: GSAPI
     * (a hello or a request) and CMM (a change). The broker chooses them
     * from the client libraries' timeouts and the domain's failure
     * detection (gsd/timeout_budget.hpp), so that a client gets an answer
     * while the domain re-forms instead of taking gsd for dead. */
    struct WaitBounds {
        std::chrono::milliseconds gsapi{5000};
        std::chrono::milliseconds cmm{3000};
    };
    using Withdrawal = std::function<void(const Input &)>;
    /* Set once by the broker, with onDelivery: called, on the broker's
     * thread, for each input the order withdrew. */
    void onWithdrawn(WaitBounds bounds, Withdrawal withdrawal)
    {
        bounds_ = bounds;
        withdrawn_ = std::move(withdrawal);
    }

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

  protected:
    void deliver(const Input &input) { delivery_(input); }

    /* How long `input` may wait before it is handed on; nullopt: it waits
     * however long it takes (what a node found out — a client gone or
     * unresponsive, a timer, a script's end, a node's CMM input — must
     * reach the domain, and a vote is not withdrawn either: the protocol's
     * time limit already bounds its wait). */
    std::optional<std::chrono::milliseconds> waitBound(const Input &input) const
    {
        if (std::holds_alternative<CmmRequest>(input))
            return bounds_.cmm;
        const auto *event = std::get_if<Event>(&input);
        if (!event)
            return std::nullopt;
        if (std::holds_alternative<ClientHello>(*event))
            return bounds_.gsapi;
        if (const auto *request = std::get_if<ClientRequest>(event))
            if (!std::holds_alternative<VoteRequest>(request->request))
                return bounds_.gsapi;
        return std::nullopt;
    }
    /* Gives back an input that waited longer than its waitBound and was
     * never handed on (only those: an input another node may deliver is
     * never withdrawn). The broker answers its client at once: GSAPI
     * HA_GS_NO_MEMORY ("retry later"), a hello HA_GS_CONNECT_FAILED, CMM
     * CMM_ENOCLUSTER (Sun's answer during a failover window). */
    void withdraw(const Input &input)
    {
        if (withdrawn_)
            withdrawn_(input);
    }

  private:
    Delivery delivery_;
    WaitBounds bounds_;
    Withdrawal withdrawn_;
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
