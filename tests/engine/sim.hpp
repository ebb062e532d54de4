/* SPDX-License-Identifier: MIT */
/* A small driver around the engine for unit tests: clients, requests,
 * per-client inboxes of notifications, and the timers the engine asked for. */
#pragma once

#include "engine/engine.hpp"
#include "ha_gs.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace gs::test {

struct Delivered {
    Token token = 0;
    bool final = false;
    NoteBody body;
};

class Sim {
  public:
    explicit Sim(EngineConfig config = {}) : engine(config) {}

    /* Feeds an event, records its actions, checks the engine's invariants. */
    std::vector<Action> step(const Event &event);

    void hello(ClientId client, bool deactivateScript = false)
    {
        step(ClientHello{client, deactivateScript});
    }
    void gone(ClientId client) { step(ClientGone{client}); }
    Reply request(ClientId client, Request request);
    int rc(ClientId client, Request request) { return request_rc(client, std::move(request)); }

    /* Fires the oldest active timer; false when none is active. */
    bool fireTimer();
    size_t activeTimers() const { return timers.size(); }

    /* Deactivate scripts the engine asked for and still waits for. */
    const std::map<DeactivateId, RunDeactivate> &runningScripts() const { return scripts; }
    /* Reports the end of a running script; false when none is running. */
    bool finishScript(DeactivateId run, uint32_t outcome);

    /* Notifications delivered to a client since the last take(). */
    std::vector<Delivered> take(ClientId client);
    std::vector<Delivered> peek(ClientId client) const;

    Engine engine;
    std::vector<Action> last;
    /* Every observation of every step, in order. */
    std::vector<Observation> seen;

  private:
    int request_rc(ClientId client, Request request)
    {
        return this->request(client, std::move(request)).rc;
    }
    RequestId nextRequest_ = 1;
    std::map<TimerId, int> timers;
    std::map<DeactivateId, RunDeactivate> scripts;
    std::map<ClientId, std::vector<Delivered>> inbox;
};

/* Request builders with defaults that tests override. */
GroupAttributes attrs(const std::string &group, int numPhases = HA_GS_1_PHASE, int batch = 0,
                      int timeLimit = 0);
JoinRequest join(const std::string &group, int instance, int numPhases = HA_GS_1_PHASE,
                 int batch = 0, int timeLimit = 0);
VoteRequest vote(Token token, int value, int defaultVote = HA_GS_NULL_VOTE);

template <class T>
const T *as(const Delivered &d)
{
    return std::get_if<T>(&d.body);
}

/* The node of the small client ids (1, 2, ...) the unit tests use: 0. A
 * provider's node is its client's (clientNode). */
constexpr int16_t kTestNode = clientNode(1);

std::vector<ProviderId> ids(std::initializer_list<int> instances, int node = kTestNode);

} // namespace gs::test
