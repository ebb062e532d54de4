/* SPDX-License-Identifier: MIT */
/* What waits for Corosync (gsd/multicast_queue.hpp). */
#include "gsd/multicast_queue.hpp"

#include <doctest/doctest.h>

using namespace gs;
using Clock = MulticastQueue::Clock;

namespace {

std::string inputs(std::initializer_list<ClientId> clients)
{
    cluster::Inputs batch;
    for (ClientId c : clients)
        batch.inputs.push_back(Event{ClientGone{c}});
    return cluster::encode(batch);
}

ClientId clientOf(const Input &input)
{
    return std::get<ClientGone>(std::get<Event>(input)).client;
}

} // namespace

TEST_CASE("inputs that waited too long are withdrawn in order; the rest keeps its order")
{
    MulticastQueue queue;
    const Clock::time_point t0{};
    const std::string state = cluster::encode(cluster::State{1, 2, 3, 0, false, true, 1});
    queue.push(inputs({1, 2}), t0);
    queue.push(state, t0);
    queue.push(inputs({3}), t0 + std::chrono::milliseconds(10));
    queue.push(inputs({4}), t0 + std::chrono::milliseconds(50));
    const size_t lastBytes = inputs({4}).size();

    const std::vector<Input> withdrawn = queue.withdrawInputs(t0 + std::chrono::milliseconds(10));
    REQUIRE(withdrawn.size() == 3);
    CHECK(clientOf(withdrawn[0]) == 1);
    CHECK(clientOf(withdrawn[1]) == 2);
    CHECK(clientOf(withdrawn[2]) == 3);
    /* The STATE is never withdrawn; the young input stays behind it. */
    REQUIRE_FALSE(queue.empty());
    CHECK(queue.front() == state);
    CHECK(queue.inputBytes() == lastBytes);
    queue.pop();
    CHECK(queue.front() == inputs({4}));
    queue.pop();
    CHECK(queue.empty());
    CHECK(queue.inputBytes() == 0);
    CHECK(queue.withdrawInputs(Clock::time_point::max()).empty());
}
